/* test_utf8: the incremental UTF-8 validator against Markus Kuhn's stress cases, a
 * slow reference decoder (exhaustively for short inputs), and every split point. */
#include "harness.h"

#include "proto/utf8.h"

/* A slow, obviously-correct validator: decodes each sequence and checks the code point.
 * A truncated final sequence is UTF8_INCOMPLETE if some continuation could still make it
 * valid, else UTF8_REJECT (the DFA rejects as early as that). */
static int ref_validate(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc0 && c <= 0xdf) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf7) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return UTF8_REJECT;
        }
        size_t k = 1;
        for (; k < len && i + k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return UTF8_REJECT;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        /* Fill the missing continuations with their smallest and largest values. */
        uint32_t lo = cp, hi = cp;
        for (size_t m = k; m < len; m++) {
            lo = lo << 6;
            hi = hi << 6 | 0x3f;
        }
        uint32_t a = lo > min ? lo : min, b = hi < 0x10ffff ? hi : 0x10ffff;
        if (a > b || (a >= 0xd800 && b <= 0xdfff))
            return UTF8_REJECT;
        if (k < len)
            return UTF8_INCOMPLETE; /* only possible at the end of the input */
        i += len;
    }
    return UTF8_ACCEPT;
}

struct utf8_case {
    const char *name;
    const char *bytes;
    size_t len;
    int want;
};

#define U(name, lit, want)                                                                         \
    {                                                                                              \
        name, lit, sizeof lit - 1, want                                                            \
    }

/* Markus Kuhn, "UTF-8 decoder capability and stress test", plus RFC 3629 boundaries. */
static const struct utf8_case utf8_cases[] = {
    U("empty", "", UTF8_ACCEPT),
    U("ascii", "hello, world\n", UTF8_ACCEPT),
    U("kosme", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", UTF8_ACCEPT),
    U("first 1-byte U+0000", "\x00", UTF8_ACCEPT),
    U("first 2-byte U+0080", "\xc2\x80", UTF8_ACCEPT),
    U("first 3-byte U+0800", "\xe0\xa0\x80", UTF8_ACCEPT),
    U("first 4-byte U+10000", "\xf0\x90\x80\x80", UTF8_ACCEPT),
    U("last 1-byte U+007F", "\x7f", UTF8_ACCEPT),
    U("last 2-byte U+07FF", "\xdf\xbf", UTF8_ACCEPT),
    U("last 3-byte U+FFFF", "\xef\xbf\xbf", UTF8_ACCEPT),
    U("U+D7FF", "\xed\x9f\xbf", UTF8_ACCEPT),
    U("U+E000", "\xee\x80\x80", UTF8_ACCEPT),
    U("U+FFFD", "\xef\xbf\xbd", UTF8_ACCEPT),
    U("U+FFFE noncharacter", "\xef\xbf\xbe", UTF8_ACCEPT),
    U("U+10FFFF", "\xf4\x8f\xbf\xbf", UTF8_ACCEPT),
    U("emoji", "\xf0\x9f\x98\x80 ok", UTF8_ACCEPT),
    U("U+110000", "\xf4\x90\x80\x80", UTF8_REJECT),
    U("F5 lead", "\xf5\x80\x80\x80", UTF8_REJECT),
    U("5-byte U+200000", "\xf8\x88\x80\x80\x80", UTF8_REJECT),
    U("6-byte U+4000000", "\xfc\x84\x80\x80\x80\x80", UTF8_REJECT),
    U("FE", "\xfe", UTF8_REJECT),
    U("FF", "\xff", UTF8_REJECT),
    U("lone continuation 80", "\x80", UTF8_REJECT),
    U("lone continuation BF", "a\xbf", UTF8_REJECT),
    U("two continuations", "\x80\xbf", UTF8_REJECT),
    U("lonely start C0 space", "\xc0 ", UTF8_REJECT),
    U("lonely start E0 space", "\xe0 ", UTF8_REJECT),
    U("2-byte lead then ascii", "\xc2\x41", UTF8_REJECT),
    U("3-byte lead then ascii", "\xe1\x80\x41", UTF8_REJECT),
    U("overlong / 2 bytes", "\xc0\xaf", UTF8_REJECT),
    U("overlong / 3 bytes", "\xe0\x80\xaf", UTF8_REJECT),
    U("overlong / 4 bytes", "\xf0\x80\x80\xaf", UTF8_REJECT),
    U("overlong / 5 bytes", "\xf8\x80\x80\x80\xaf", UTF8_REJECT),
    U("overlong / 6 bytes", "\xfc\x80\x80\x80\x80\xaf", UTF8_REJECT),
    U("max overlong 2 bytes", "\xc1\xbf", UTF8_REJECT),
    U("max overlong 3 bytes", "\xe0\x9f\xbf", UTF8_REJECT),
    U("max overlong 4 bytes", "\xf0\x8f\xbf\xbf", UTF8_REJECT),
    U("overlong NUL", "\xc0\x80", UTF8_REJECT),
    U("surrogate D800", "\xed\xa0\x80", UTF8_REJECT),
    U("surrogate DB7F", "\xed\xad\xbf", UTF8_REJECT),
    U("surrogate DB80", "\xed\xae\x80", UTF8_REJECT),
    U("surrogate DBFF", "\xed\xaf\xbf", UTF8_REJECT),
    U("surrogate DC00", "\xed\xb0\x80", UTF8_REJECT),
    U("surrogate DFFF", "\xed\xbf\xbf", UTF8_REJECT),
    U("surrogate pair", "\xed\xa0\x80\xed\xb0\x80", UTF8_REJECT),
    U("invalid after valid",
      "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
      "edited",
      UTF8_REJECT),
    U("truncated 2-byte", "ab\xc2", UTF8_INCOMPLETE),
    U("truncated 3-byte", "\xe0\xa0", UTF8_INCOMPLETE),
    U("truncated 3-byte lead", "\xe1", UTF8_INCOMPLETE),
    U("truncated 4-byte", "\xf0\x90\x80", UTF8_INCOMPLETE),
    U("truncated U+10FFFF", "\xf4\x8f\xbf", UTF8_INCOMPLETE),
    U("truncated overlong is rejected early", "\xe0\x80", UTF8_REJECT),
    U("truncated surrogate is rejected early", "\xed\xa0", UTF8_REJECT),
    U("truncated U+110000 is rejected early", "\xf4\x90", UTF8_REJECT),
    U("ascii run then bad byte at 17", "0123456789abcdefg\xff", UTF8_REJECT),
    U("ascii run then multibyte", "0123456789abcdef\xe2\x82\xac", UTF8_ACCEPT),
};

/* Feeds the input in pieces cut at the given points; returns the final result. */
static int feed_split(const uint8_t *p, size_t n, size_t cut1, size_t cut2, uint32_t *state)
{
    *state = UTF8_STATE_INIT;
    int r = utf8_validate(state, p, cut1);
    r = utf8_validate(state, p + cut1, cut2 - cut1);
    r = utf8_validate(state, p + cut2, n - cut2);
    return r;
}

TEST(utf8_kuhn_stress_cases)
{
    for (size_t c = 0; c < sizeof utf8_cases / sizeof utf8_cases[0]; c++) {
        const struct utf8_case *tc = &utf8_cases[c];
        const uint8_t *p = (const uint8_t *)tc->bytes;
        uint32_t state = UTF8_STATE_INIT;
        int r = utf8_validate(&state, p, tc->len);
        CHECK_MSG(r == tc->want, "%s: got %d want %d", tc->name, r, tc->want);
        CHECK_MSG(ref_validate(p, tc->len) == tc->want, "%s: reference disagrees", tc->name);
        CHECK_MSG(utf8_state_complete(state) == (tc->want == UTF8_ACCEPT), "%s", tc->name);
        CHECK_MSG(utf8_valid(p, tc->len) == (tc->want == UTF8_ACCEPT), "%s", tc->name);
    }
}

TEST(utf8_every_split_point)
{
    for (size_t c = 0; c < sizeof utf8_cases / sizeof utf8_cases[0]; c++) {
        const struct utf8_case *tc = &utf8_cases[c];
        const uint8_t *p = (const uint8_t *)tc->bytes;
        for (size_t a = 0; a <= tc->len; a++) {
            for (size_t b = a; b <= tc->len; b++) {
                uint32_t state;
                int r = feed_split(p, tc->len, a, b, &state);
                CHECK_MSG(r == tc->want, "%s split %zu/%zu: got %d want %d", tc->name, a, b, r,
                          tc->want);
            }
        }
        /* Byte by byte: each prefix's result matches the reference for that prefix. */
        uint32_t state = UTF8_STATE_INIT;
        for (size_t i = 0; i < tc->len; i++) {
            int r = utf8_validate(&state, p + i, 1);
            CHECK_MSG(r == ref_validate(p, i + 1), "%s byte %zu", tc->name, i);
        }
    }
}

TEST(utf8_reject_is_sticky)
{
    uint32_t state = UTF8_STATE_INIT;
    CHECK_EQ(utf8_validate(&state, (const uint8_t *)"\xff", 1), UTF8_REJECT);
    CHECK_EQ(utf8_validate(&state, (const uint8_t *)"plain ascii text", 16), UTF8_REJECT);
    CHECK_EQ(utf8_validate(&state, (const uint8_t *)"", 0), UTF8_REJECT);
    CHECK(!utf8_state_complete(state));
    /* A corrupt state value is never taken for "valid". */
    state = 0xdeadbeef;
    CHECK_EQ(utf8_validate(&state, (const uint8_t *)"a", 1), UTF8_REJECT);
}

/* Encodes a code point the RFC 3629 way (surrogates included, for the test). */
static size_t encode_cp(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xc0 | cp >> 6);
        out[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xe0 | cp >> 12);
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (uint8_t)(0xf0 | cp >> 18);
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

TEST(utf8_every_code_point)
{
    for (uint32_t cp = 0; cp <= 0x13ffff; cp++) {
        uint8_t b[4];
        size_t n = encode_cp(cp, b);
        bool want = !(cp >= 0xd800 && cp <= 0xdfff) && cp <= 0x10ffff;
        CHECK_MSG(utf8_valid(b, n) == want, "U+%04X", (unsigned)cp);
    }
}

TEST_TIMEOUT(utf8_exhaustive_short_inputs_match_reference, 120)
{
    uint8_t b[4];
    for (unsigned x = 0; x < 0x10000; x++) { /* every 1- and 2-byte input */
        b[0] = (uint8_t)(x >> 8), b[1] = (uint8_t)x;
        uint32_t s = UTF8_STATE_INIT;
        CHECK_MSG(utf8_validate(&s, b, 1) == ref_validate(b, 1), "%02x", b[0]);
        s = UTF8_STATE_INIT;
        CHECK_MSG(utf8_validate(&s, b, 2) == ref_validate(b, 2), "%02x %02x", b[0], b[1]);
    }
    for (unsigned x = 0xc00000; x < 0x1000000; x++) { /* every 3-byte input with a lead */
        b[0] = (uint8_t)(x >> 16), b[1] = (uint8_t)(x >> 8), b[2] = (uint8_t)x;
        uint32_t s = UTF8_STATE_INIT;
        CHECK_MSG(utf8_validate(&s, b, 3) == ref_validate(b, 3), "%02x %02x %02x", b[0], b[1],
                  b[2]);
    }
    /* 4-byte inputs with 4-byte leads and continuation-boundary bytes. */
    static const uint8_t edge[] = {0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff};
    for (unsigned lead = 0xf0; lead <= 0xff; lead++)
        for (size_t i = 0; i < sizeof edge; i++)
            for (size_t j = 0; j < sizeof edge; j++)
                for (size_t k = 0; k < sizeof edge; k++) {
                    b[0] = (uint8_t)lead, b[1] = edge[i], b[2] = edge[j], b[3] = edge[k];
                    uint32_t s = UTF8_STATE_INIT;
                    CHECK(utf8_validate(&s, b, 4) == ref_validate(b, 4));
                }
}

TEST(utf8_fast_path_alignment)
{
    /* A multi-byte character or a bad byte at every position of a long ASCII run, so the
     * 8-byte skip is exercised at every alignment and tail length. */
    uint8_t buf[80];
    for (size_t pos = 0; pos + 3 <= sizeof buf; pos++) {
        for (size_t len = pos + 3; len <= sizeof buf; len += 5) {
            memset(buf, 'x', sizeof buf);
            memcpy(buf + pos, "\xe2\x82\xac", 3);
            CHECK(utf8_valid(buf, len));
            buf[pos] = 0xff;
            CHECK(!utf8_valid(buf, len));
            for (size_t cut = 0; cut <= len; cut++) {
                uint32_t s = UTF8_STATE_INIT;
                utf8_validate(&s, buf, cut);
                CHECK_EQ(utf8_validate(&s, buf + cut, len - cut), UTF8_REJECT);
            }
        }
    }
}
