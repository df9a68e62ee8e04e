/* utf8: incremental UTF-8 validation as a byte-class DFA (see utf8.h).
 *
 * Each byte maps to one of 12 classes; the state after a byte is
 * utf8_next[state][class]. The classes split the continuation range 80..BF into the
 * three pieces whose legality depends on the lead byte (RFC 3629 §4):
 *   E0 needs A0..BF next (no overlong 3-byte forms), ED needs 80..9F (no surrogates),
 *   F0 needs 90..BF (no overlong 4-byte forms), F4 needs 80..8F (nothing past U+10FFFF).
 * C0, C1 and F5..FF never occur in UTF-8.
 */
#include "proto/utf8.h"

#include <string.h>

enum {
    S_ACCEPT = UTF8_ACCEPT, /* 0: on a character boundary */
    S_REJECT = UTF8_REJECT, /* 1: invalid, sticky */
    S_CONT1,                /* 2: one more 80..BF */
    S_CONT2,                /* 3: two more 80..BF */
    S_CONT3,                /* 4: three more 80..BF */
    S_E0,                   /* 5: A0..BF, then one more */
    S_ED,                   /* 6: 80..9F, then one more */
    S_F0,                   /* 7: 90..BF, then two more */
    S_F4,                   /* 8: 80..8F, then two more */
    S_COUNT
};

enum {
    C_ASCII, /* 00..7F */
    C_80_8F, /* continuation, low */
    C_90_9F, /* continuation, middle */
    C_A0_BF, /* continuation, high */
    C_BAD,   /* C0, C1, F5..FF */
    C_LEAD2, /* C2..DF */
    C_E0,    /* E0 */
    C_LEAD3, /* E1..EC, EE..EF */
    C_ED,    /* ED */
    C_F0,    /* F0 */
    C_LEAD4, /* F1..F3 */
    C_F4,    /* F4 */
    C_COUNT
};

static const uint8_t utf8_class[256] = {
    [0x00 ... 0x7f] = C_ASCII,
    [0x80 ... 0x8f] = C_80_8F,
    [0x90 ... 0x9f] = C_90_9F,
    [0xa0 ... 0xbf] = C_A0_BF,
    [0xc0 ... 0xc1] = C_BAD,
    [0xc2 ... 0xdf] = C_LEAD2,
    [0xe0] = C_E0,
    [0xe1 ... 0xec] = C_LEAD3,
    [0xed] = C_ED,
    [0xee ... 0xef] = C_LEAD3,
    [0xf0] = C_F0,
    [0xf1 ... 0xf3] = C_LEAD4,
    [0xf4] = C_F4,
    [0xf5 ... 0xff] = C_BAD,
};

/* Transitions. Shorthand: A accept, R reject, C1..C3 that many continuations to go. */
#define A S_ACCEPT
#define R S_REJECT
#define C1 S_CONT1
#define C2 S_CONT2
#define C3 S_CONT3
/* clang-format off */
static const uint8_t utf8_next[S_COUNT][C_COUNT] = {
    /*           ASCII 80-8F 90-9F A0-BF  BAD  LEAD2  E0    LEAD3  ED    F0    LEAD4  F4 */
    [S_ACCEPT] = {A,    R,    R,    R,    R,    C1,   S_E0, C2,    S_ED, S_F0, C3,    S_F4},
    [S_REJECT] = {R,    R,    R,    R,    R,    R,    R,    R,     R,    R,    R,     R},
    [S_CONT1]  = {R,    A,    A,    A,    R,    R,    R,    R,     R,    R,    R,     R},
    [S_CONT2]  = {R,    C1,   C1,   C1,   R,    R,    R,    R,     R,    R,    R,     R},
    [S_CONT3]  = {R,    C2,   C2,   C2,   R,    R,    R,    R,     R,    R,    R,     R},
    [S_E0]     = {R,    R,    R,    C1,   R,    R,    R,    R,     R,    R,    R,     R},
    [S_ED]     = {R,    C1,   C1,   R,    R,    R,    R,    R,     R,    R,    R,     R},
    [S_F0]     = {R,    R,    C2,   C2,   R,    R,    R,    R,     R,    R,    R,     R},
    [S_F4]     = {R,    C2,   R,    R,    R,    R,    R,    R,     R,    R,    R,     R},
};
/* clang-format on */
#undef A
#undef R
#undef C1
#undef C2
#undef C3

/* Maps a DFA state to the public result. */
static int utf8_result_of(uint32_t state)
{
    if (state == S_ACCEPT)
        return UTF8_ACCEPT;
    if (state == S_REJECT || state >= S_COUNT)
        return UTF8_REJECT;
    return UTF8_INCOMPLETE;
}

/* Feeds n bytes to the validator; returns an enum utf8_result and updates *state. */
int utf8_validate(uint32_t *state, const uint8_t *p, size_t n)
{
    uint32_t s = *state;
    if (s >= S_COUNT) /* a corrupt state is never silently accepted */
        s = S_REJECT;
    size_t i = 0;
    while (i < n && s != S_REJECT) {
        if (s == S_ACCEPT) {
            /* Terminal output is mostly ASCII: skip it a word at a time. */
            while (n - i >= 8) {
                uint64_t w;
                memcpy(&w, p + i, sizeof w);
                if (w & UINT64_C(0x8080808080808080))
                    break;
                i += 8;
            }
            if (i == n)
                break;
        }
        s = utf8_next[s][utf8_class[p[i]]];
        i++;
    }
    *state = s;
    return utf8_result_of(s);
}

/* True when the state is on a character boundary with nothing invalid seen. */
bool utf8_state_complete(uint32_t state)
{
    return state == S_ACCEPT;
}

/* One-shot check of a whole buffer. */
bool utf8_valid(const uint8_t *p, size_t n)
{
    uint32_t state = UTF8_STATE_INIT;
    return utf8_validate(&state, p, n) == UTF8_ACCEPT;
}
