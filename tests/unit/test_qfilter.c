/* test_qfilter: the CLI attach's terminal-query filter: which sequences go, that the rest
 * passes byte for byte, and that the result is the same however the stream is cut. */
#include "harness.h"

#include "cli/qfilter.h"

/* Filters all of in in one call, then flushes; returns the length written to out. */
static size_t filter_whole(const char *in, size_t n, uint8_t *out)
{
    struct qfilter f;
    qfilter_init(&f);
    size_t o = qfilter_feed(&f, (const uint8_t *)in, n, out);
    return o + qfilter_flush(&f, out + o);
}

/* The same, one byte per call. */
static size_t filter_bytewise(const char *in, size_t n, uint8_t *out)
{
    struct qfilter f;
    qfilter_init(&f);
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        o += qfilter_feed(&f, (const uint8_t *)in + i, 1, out + o);
    return o + qfilter_flush(&f, out + o);
}

/* Checks in → want, whole, byte by byte and at every split point. */
static void expect(const char *in, size_t n, const char *want, size_t wn)
{
    uint8_t out[512];
    size_t o = filter_whole(in, n, out);
    CHECK_MSG(o == wn && memcmp(out, want, wn) == 0, "whole: %zu bytes out, want %zu", o, wn);
    o = filter_bytewise(in, n, out);
    CHECK_MSG(o == wn && memcmp(out, want, wn) == 0, "byte by byte: %zu bytes, want %zu", o, wn);
    for (size_t cut = 0; cut <= n; cut++) {
        struct qfilter f;
        qfilter_init(&f);
        o = qfilter_feed(&f, (const uint8_t *)in, cut, out);
        o += qfilter_feed(&f, (const uint8_t *)in + cut, n - cut, out + o);
        o += qfilter_flush(&f, out + o);
        CHECK_MSG(o == wn && memcmp(out, want, wn) == 0, "split at %zu", cut);
    }
}

#define EXPECT(in, want) expect(in, sizeof(in) - 1, want, sizeof(want) - 1)

TEST(qfilter_removes_every_query_kind)
{
    EXPECT("a\x1b[6nb", "a\x18"
                        "b");                           /* CPR */
    EXPECT("\x1b[?6n", "\x18");                         /* DECXCPR */
    EXPECT("\x1b[5n", "\x18");                          /* DSR */
    EXPECT("\x1b[c\x1b[0c", "\x18\x18");                /* DA1 */
    EXPECT("\x1b[>c\x1b[>0c", "\x18\x18");              /* DA2 */
    EXPECT("\x1b[>q\x1b[>0q", "\x18\x18");              /* XTVERSION */
    EXPECT("\x1b[?2004$p\x1b[4$p", "\x18\x18");         /* DECRQM, DEC and ANSI */
    EXPECT("\x1b]10;?\x07\x1b]11;?\x1b\\", "\x18\x18"); /* OSC 10/11, BEL and ST */
    EXPECT("\x1b]10;?;?\x07", "\x18");                  /* both colours at once */
}

TEST(qfilter_keeps_everything_else)
{
    EXPECT("plain text\r\n", "plain text\r\n");
    EXPECT("\x1b[2J\x1b[1;1H\x1b[31mred\x1b[0m", "\x1b[2J\x1b[1;1H\x1b[31mred\x1b[0m");
    EXPECT("\x1b[6 q", "\x1b[6 q");               /* DECSCUSR, not XTVERSION */
    EXPECT("\x1b[1n\x1b[16n", "\x1b[1n\x1b[16n"); /* other DSR numbers */
    EXPECT("\x1b[1c", "\x1b[1c");
    EXPECT("\x1b[?1049h\x1b[?25l", "\x1b[?1049h\x1b[?25l");
    EXPECT("\x1b]0;title\x07", "\x1b]0;title\x07");
    EXPECT("\x1b]11;rgb:0000/0000/0000\x07", "\x1b]11;rgb:0000/0000/0000\x07"); /* a set */
    EXPECT("\x1b]1;?\x07", "\x1b]1;?\x07");
    EXPECT("\x1b(B\x1b"
           "7\x1b"
           "8",
           "\x1b(B\x1b"
           "7\x1b"
           "8");
    EXPECT("\xc3\xa9\x1b", "\xc3\xa9\x1b"); /* a lone ESC at the end comes out at the flush */
}

TEST(qfilter_controls_and_aborts_inside_sequences)
{
    /* A terminal runs CR inside a CSI and still sees CSI 6 n: so does the filter. */
    EXPECT("\x1b[6\rn", "\r\x18");
    /* ESC aborts a CSI: the first part passes, the query inside goes. */
    EXPECT("\x1b[6\x1b[6nn", "\x1b[6\x18n");
    /* CAN aborts: nothing is a query. */
    EXPECT("\x1b[6\x18n", "\x1b[6\x18n");
    /* An OSC that turns out not to be a query passes whole. */
    EXPECT("\x1b]10;?x\x07", "\x1b]10;?x\x07");
    EXPECT("\x1b]10;\x1b[6n", "\x1b]10;\x18");
}

TEST(qfilter_long_sequences_pass)
{
    char in[200], want[200];
    size_t n = 0;
    in[n++] = 0x1b;
    in[n++] = '[';
    for (int i = 0; i < 60; i++)
        in[n++] = i % 2 ? ';' : '1';
    in[n++] = 'm';
    memcpy(want, in, n);
    expect(in, n, want, n);
}
