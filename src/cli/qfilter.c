/* qfilter: terminal queries out of an output stream (see qfilter.h).
 *
 * States: ground (bytes pass), ESC seen, inside a CSI, inside an OSC that may still be a
 * colour query, and ESC seen inside such an OSC (the start of its ST). Held bytes are the
 * sequence so far; they are dropped when it turns out to be a query and written out
 * unchanged the moment it cannot be one. */
#include "cli/qfilter.h"

#include <stdbool.h>
#include <string.h>

enum { Q_GROUND, Q_ESC, Q_CSI, Q_OSC, Q_OSC_ESC };

void qfilter_init(struct qfilter *f)
{
    f->len = 0;
    f->state = Q_GROUND;
}

/* True when p[0..n) equals the C string s. */
static bool is(const uint8_t *p, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(p, s, n) == 0;
}

/* True when a complete CSI (held: ESC [ params intermediates final) is a query. */
static bool csi_is_query(const uint8_t *h, size_t len)
{
    uint8_t final = h[len - 1];
    const uint8_t *p = h + 2; /* after ESC [ */
    size_t n = len - 3;       /* params and intermediates */
    switch (final) {
    case 'n':
        return is(p, n, "6") || is(p, n, "?6") || is(p, n, "5");
    case 'c':
        return n == 0 || is(p, n, "0") || is(p, n, ">") || is(p, n, ">0") || is(p, n, "=") ||
               is(p, n, "=0");
    case 'q':
        return is(p, n, ">") || is(p, n, ">0");
    case 'p': {
        /* DECRQM: [?] digits $ p */
        if (n < 2 || p[n - 1] != '$')
            return false;
        size_t i = p[0] == '?' ? 1 : 0;
        if (i >= n - 1)
            return false;
        for (; i < n - 1; i++)
            if (p[i] < '0' || p[i] > '9')
                return false;
        return true;
    }
    default:
        return false;
    }
}

/* True while the OSC text so far (after ESC ]) can still become a colour query:
 * "10" or "11", then one or more ";?". */
static bool osc_may_be_query(const uint8_t *t, size_t n)
{
    static const char *const heads[] = {"10;?", "11;?"};
    for (int k = 0; k < 2; k++) {
        const char *h = heads[k];
        size_t hn = strlen(h), m = n < hn ? n : hn;
        if (memcmp(t, h, m) != 0)
            continue;
        for (size_t i = hn; i < n; i++) /* further ";?" pairs (xterm: OSC 10;?;? asks 10 and 11) */
            if (t[i] != ((i - hn) % 2 == 0 ? ';' : '?'))
                return false;
        return true;
    }
    return false;
}

/* True when the OSC text is a whole colour query (ends after a '?'). */
static bool osc_is_query(const uint8_t *t, size_t n)
{
    return n >= 4 && osc_may_be_query(t, n) && t[n - 1] == '?';
}

/* Writes the held bytes to out and returns to the ground state. */
static size_t release(struct qfilter *f, uint8_t *out)
{
    size_t n = f->len;
    memcpy(out, f->held, n);
    f->len = 0;
    f->state = Q_GROUND;
    return n;
}

/* Drops the held bytes (a query) and returns to the ground state. In its place goes one
 * CAN: it does nothing in the ground state, and it aborts whatever sequence the terminal
 * may still have open from bytes that went before (a CSI cut short by the query's ESC,
 * an unterminated OSC), exactly as the query's ESC would have. Returns 1 (bytes out). */
static size_t drop(struct qfilter *f, uint8_t *out)
{
    f->len = 0;
    f->state = Q_GROUND;
    out[0] = 0x18;
    return 1;
}

/* Holds one more byte; false (nothing held) when the sequence is too long to be a query. */
static bool hold(struct qfilter *f, uint8_t c)
{
    if (f->len == QFILTER_HOLD)
        return false;
    f->held[f->len++] = c;
    return true;
}

size_t qfilter_feed(struct qfilter *f, const uint8_t *in, size_t n, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = in[i];
        switch (f->state) {
        case Q_GROUND: {
            /* Copy the run up to the next ESC in one go: the common case. */
            const uint8_t *esc = memchr(in + i, 0x1b, n - i);
            size_t run = esc ? (size_t)(esc - (in + i)) : n - i;
            memcpy(out + o, in + i, run);
            o += run;
            i += run;
            if (!esc)
                return o;
            f->held[0] = 0x1b;
            f->len = 1;
            f->state = Q_ESC;
            break;
        }
        case Q_ESC:
            if (c == '[' || c == ']') {
                f->held[f->len++] = c;
                f->state = c == '[' ? Q_CSI : Q_OSC;
            } else {
                o += release(f, out + o);
                i--; /* this byte starts afresh (it may be another ESC) */
            }
            break;
        case Q_CSI:
            if (c >= 0x20 && c <= 0x3f && hold(f, c))
                break; /* parameters and intermediates */
            if (c >= 0x40 && c <= 0x7e && hold(f, c)) {
                if (csi_is_query(f->held, f->len))
                    o += drop(f, out + o);
                else
                    o += release(f, out + o);
                break;
            }
            if ((c < 0x20 && c != 0x1b && c != 0x18 && c != 0x1a) || c == 0x7f) {
                /* A terminal executes a C0 control met inside a CSI (and ignores DEL)
                 * without leaving it: the same happens when it goes out first. */
                out[o++] = c;
                break;
            }
            /* Not a query: ESC, CAN or SUB abort it, or a byte above 0x7f, or too long.
             * Out as it came (a C1 or UTF-8 byte inside a CSI is not looked into). */
            o += release(f, out + o);
            i--;
            break;
        case Q_OSC:
            if (c == 0x07 || c == 0x1b) {
                if (osc_is_query(f->held + 2, f->len - 2)) {
                    if (c == 0x07) {
                        o += drop(f, out + o);
                    } else {
                        hold(f, c);
                        f->state = Q_OSC_ESC;
                    }
                    break;
                }
            } else if (hold(f, c) && osc_may_be_query(f->held + 2, f->len - 2)) {
                break;
            } else if (f->len == QFILTER_HOLD && osc_may_be_query(f->held + 2, f->len - 2)) {
                /* Full of ";?": let it out, with this byte below. */
            } else {
                o += release(f, out + o);
                break;
            }
            o += release(f, out + o);
            i--;
            break;
        case Q_OSC_ESC:
            if (c == '\\') {
                o += drop(f, out + o); /* OSC query ended by ST */
            } else {
                /* ESC ends the OSC in a terminal anyway; keep the bytes as they came. */
                f->len--; /* the ESC starts afresh */
                o += release(f, out + o);
                i--;
                f->held[0] = 0x1b;
                f->len = 1;
                f->state = Q_ESC;
            }
            break;
        }
    }
    return o;
}

size_t qfilter_flush(struct qfilter *f, uint8_t *out)
{
    return release(f, out);
}
