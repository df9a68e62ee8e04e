/* test_term_state: the lazily fed terminal model (src/pty/term_state.c) seen from outside.
 *
 * Output goes through a real ring as a session's would. What a user of the screen would
 * notice: a flood's model caught up equals one fed directly; modes and title are exact
 * while it lags; queries are answered in stream order with the true cursor; a flood that
 * outran the ring resyncs to the right last lines and says so; a hibernated model comes back
 * with the same snapshot; the reply filter drops attached terminals' replies exactly as
 * documented and nothing else. */
#include <time.h>

#include "harness.h"
#include "pty/ring.h"
#include "pty/term_state.h"
#include "term/vt.h"

/* Replies the model sent (as the session's input). */
static uint8_t replies[4096];
static size_t nreplies;

static void on_reply(void *arg, const uint8_t *p, size_t n)
{
    (void)arg;
    CHECK(nreplies + n <= sizeof replies);
    memcpy(replies + nreplies, p, n);
    nreplies += n;
}

/* Appends s to the ring and tells the model, as session_read does. */
static bool out(struct term_state *ts, struct ring *r, const char *s, bool bulk)
{
    size_t n = strlen(s);
    ring_append(r, s, n);
    return term_state_output(ts, r, (const uint8_t *)s, n, bulk);
}

/* The snapshot of vt in a heap buffer. */
static uint8_t *snap(const struct vt *vt, size_t *n)
{
    *n = vt_snapshot(vt, NULL, 0);
    uint8_t *b = malloc(*n + 1);
    CHECK_EQ(vt_snapshot(vt, b, *n + 1), *n);
    return b;
}

/* The screen text in a static buffer. */
static const char *text(const struct vt *vt)
{
    static char buf[1 << 16];
    CHECK(vt_text(vt, buf, sizeof buf) < sizeof buf);
    return buf;
}

TEST(term_state_flood_waits_and_catches_up_exactly)
{
    struct term_state *ts = term_state_new(20, 5, TERM_FEED_SKIM, on_reply, NULL);
    struct vt *ref = vt_new(20, 5);
    struct ring r;
    ring_init(&r, 1 << 16);
    CHECK(out(ts, &r, "\x1b[?2004h\x1b]2;build\x07", true)); /* a mode: fed at once */
    vt_feed(ref, (const uint8_t *)"\x1b[?2004h\x1b]2;build\x07", 19);
    char line[64];
    for (int i = 0; i < 200; i++) {
        snprintf(line, sizeof line, "\x1b[3%dmline %d\x1b[0m\r\n", i % 8, i);
        CHECK(!out(ts, &r, line, true)); /* only draws: waits */
        vt_feed(ref, (const uint8_t *)line, strlen(line));
    }
    CHECK(term_state_offset(ts) < ring_end(&r));
    /* Modes and title are exact without catching up. */
    CHECK_EQ(term_state_modes(ts), vt_modes(ref));
    CHECK_STR_EQ(term_state_title(ts), "build");
    size_t na, nb;
    uint8_t *a = snap(term_state_sync(ts, &r), &na), *b = snap(ref, &nb);
    CHECK_U64_EQ(term_state_offset(ts), ring_end(&r));
    CHECK_EQ(na, nb);
    CHECK_MEM_EQ(a, b, na);
    uint64_t resyncs, lost;
    term_state_losses(ts, &resyncs, &lost);
    CHECK_U64_EQ(resyncs, 0);
    free(a);
    free(b);
    ring_deinit(&r);
    vt_free(ref);
    term_state_free(ts);
}

TEST(term_state_query_in_a_flood_sees_the_true_cursor)
{
    struct term_state *ts = term_state_new(80, 24, TERM_FEED_SKIM, on_reply, NULL);
    struct ring r;
    ring_init(&r, 1 << 16);
    nreplies = 0;
    for (int i = 0; i < 50; i++)
        out(ts, &r, "yyyy\n", true); /* raw-mode text: waits, the column creeps */
    CHECK_EQ(nreplies, 0);
    out(ts, &r, "ab\x1b[6n", true); /* the query makes the model catch up first */
    replies[nreplies] = 0;
    /* 50 LF-only lines of 4: the cursor crept to column 80 and stays there (pending wrap
     * is cleared by LF, so each "yyyy" wraps): row 24, and "ab" after the last wrap. */
    struct vt *ref = vt_new(80, 24);
    for (int i = 0; i < 50; i++)
        vt_feed(ref, (const uint8_t *)"yyyy\n", 5);
    vt_feed(ref, (const uint8_t *)"ab", 2);
    uint16_t x, y;
    vt_cursor(ref, &x, &y, NULL);
    char want[32];
    snprintf(want, sizeof want, "\x1b[%u;%uR", y + 1u, x + 1u);
    CHECK_STR_EQ((const char *)replies, want);
    vt_free(ref);
    ring_deinit(&r);
    term_state_free(ts);
}

TEST(term_state_inline_and_calm_sessions_are_fed_at_once)
{
    struct term_state *ts = term_state_new(80, 24, TERM_FEED_INLINE, on_reply, NULL);
    struct ring r;
    ring_init(&r, 4096);
    CHECK(out(ts, &r, "hello", true));
    CHECK_U64_EQ(term_state_offset(ts), 5);
    term_state_free(ts);
    ts = term_state_new(80, 24, TERM_FEED_SKIM, on_reply, NULL);
    CHECK(out(ts, &r, "calm", false)); /* not bulk: fed */
    CHECK(!out(ts, &r, "flood", true));
    CHECK(out(ts, &r, "calm again", false)); /* catches up the lag too */
    CHECK_U64_EQ(term_state_offset(ts), ring_end(&r));
    ring_deinit(&r);
    term_state_free(ts);
}

TEST(term_state_flood_that_outran_the_ring_resyncs)
{
    struct term_state *ts = term_state_new(20, 4, TERM_FEED_SKIM, on_reply, NULL);
    struct ring r;
    ring_init(&r, 4096);
    out(ts, &r, "\x1b[?1h", false);
    char line[64];
    unsigned bells = 0;
    for (int i = 0; i < 2000; i++) {
        snprintf(line, sizeof line, "row %d%s\r\n", i, i % 100 == 0 ? "\a" : "");
        bells += i % 100 == 0;
        out(ts, &r, line, true);
    }
    CHECK(term_state_offset(ts) < ring_start(&r)); /* bytes it never saw are gone */
    const struct vt *vt = term_state_sync(ts, &r);
    CHECK_STR_EQ(text(vt), "row 1997\nrow 1998\nrow 1999\n");
    CHECK_EQ(vt_modes(vt) & VT_MODE_CURSOR_KEYS, VT_MODE_CURSOR_KEYS);
    CHECK_U64_EQ(term_state_bells(ts), bells);
    uint64_t resyncs, lost;
    term_state_losses(ts, &resyncs, &lost);
    CHECK_U64_EQ(resyncs, 1);
    CHECK(lost > 0);
    ring_deinit(&r);
    term_state_free(ts);
}

TEST(term_state_hibernates_and_wakes_identical)
{
    struct term_state *ts = term_state_new(80, 24, TERM_FEED_SKIM, on_reply, NULL);
    struct ring r;
    ring_init(&r, 1 << 16);
    char line[128];
    out(ts, &r, "\x1b]2;vim\x07\x1b[?1049h\x1b[?2004h\a", false);
    for (int y = 1; y <= 24; y++) {
        snprintf(line, sizeof line, "\x1b[%d;1H\x1b[3%d;4%dm%-78d\x1b[0m", y, y % 8, (y + 1) % 8,
                 y * 1234567);
        out(ts, &r, line, false);
    }
    size_t na, nb;
    uint8_t *a = snap(term_state_sync(ts, &r), &na);
    size_t awake = term_state_memory(ts);
    unsigned modes = term_state_modes(ts);
    CHECK(term_state_hibernate(ts));
    CHECK(term_state_sleeping(ts));
    CHECK(term_state_memory(ts) < awake / 2);
    CHECK_EQ(term_state_modes(ts), modes);
    CHECK_STR_EQ(term_state_title(ts), "vim");
    CHECK_U64_EQ(term_state_bells(ts), 1);
    uint8_t *b = snap(term_state_sync(ts, &r), &nb);
    CHECK(!term_state_sleeping(ts));
    CHECK_EQ(na, nb);
    CHECK_MEM_EQ(a, b, na);
    CHECK_U64_EQ(term_state_bells(ts), 1);
    free(a);
    free(b);
    /* Even a blank screen sleeps smaller (its row table goes); a half-parsed sequence
     * cannot sleep. */
    struct term_state *blank = term_state_new(80, 24, TERM_FEED_SKIM, on_reply, NULL);
    size_t blank_awake = term_state_memory(blank);
    CHECK(term_state_hibernate(blank));
    CHECK(term_state_memory(blank) < blank_awake);
    term_state_free(blank);
    out(ts, &r, "\x1b[3", false);
    CHECK(!term_state_hibernate(ts));
    ring_deinit(&r);
    term_state_free(ts);
}

static uint64_t t0; /* answers are stamped with the monotonic clock: read it after */

/* Asks q (fed as output) with n answering clients attached. */
static struct term_state *asked(struct ring *r, const char *q, unsigned n)
{
    struct term_state *ts = term_state_new(80, 24, TERM_FEED_SKIM, on_reply, NULL);
    term_state_set_answerers(ts, n);
    nreplies = 0;
    out(ts, r, q, false);
    CHECK(nreplies > 0); /* the daemon answered */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    t0 = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    return ts;
}

/* Filters s at time now; returns the kept part in a static buffer. */
static const char *filt(struct term_state *ts, uint64_t now, const char *s)
{
    static char buf[256];
    size_t start, k = term_state_filter(ts, now, (const uint8_t *)s, strlen(s), &start);
    memcpy(buf, s + start, k);
    buf[k] = 0;
    return buf;
}

TEST(term_state_filter_drops_terminal_replies_once_per_client)
{
    struct ring r;
    ring_init(&r, 4096);
    struct term_state *ts = asked(&r, "\x1b[6n", 2);
    CHECK_STR_EQ(filt(ts, t0, "\x1b[12;40R"), "");        /* first terminal's reply */
    CHECK_STR_EQ(filt(ts, t0, "\x1b[3;4Rls\r"), "ls\r");  /* second: a clean prefix */
    CHECK_STR_EQ(filt(ts, t0, "\x1b[3;4R"), "\x1b[3;4R"); /* a third is the user's */
    term_state_free(ts);

    ts = asked(&r, "\x1b[c", 1);
    CHECK_STR_EQ(filt(ts, t0, "x\x1b[?62;22cy"), "x\x1b[?62;22cy"); /* not prefix or suffix */
    CHECK_STR_EQ(filt(ts, t0, "\x1b[>0;1c"), "\x1b[>0;1c");         /* DA2: not asked */
    CHECK_STR_EQ(filt(ts, t0, "abc\x1b[?1;2c"), "abc");             /* a clean suffix */
    term_state_free(ts);

    ts = asked(&r, "\x1b]11;?\x1b\\", 1);
    CHECK_STR_EQ(filt(ts, t0 + TERM_FILTER_MS + 1, "\x1b]11;rgb:1/2/3\x1b\\"),
                 "\x1b]11;rgb:1/2/3\x1b\\"); /* too late: kept */
    term_state_free(ts);

    ts = asked(&r, "\x1b]10;?\x07\x1b[>q\x1b[?2004$p\x1b[5n", 1);
    CHECK_STR_EQ(filt(ts, t0, "\x1b]10;rgb:ffff/ffff/ffff\x07"), "");
    CHECK_STR_EQ(filt(ts, t0, "\x1bP>|xterm(390)\x1b\\"), "");
    CHECK_STR_EQ(filt(ts, t0, "\x1b[?2004;2$y"), "");
    CHECK_STR_EQ(filt(ts, t0, "\x1b[0n"), "");
    term_state_free(ts);

    ts = asked(&r, "\x1b[6n", 0); /* no client attached: nothing to filter */
    CHECK_STR_EQ(filt(ts, t0, "\x1b[1;1R"), "\x1b[1;1R");
    term_state_free(ts);
    ring_deinit(&r);
}

TEST(term_state_reply_grammar)
{
    static const struct {
        const char *in;
        size_t len;
        enum vt_query q;
    } cases[] = {
        {"\x1b[1;2R", 6, VT_Q_CPR},
        {"\x1b[?1;2R", 7, VT_Q_CPR},
        {"\x1b[?62;22cX", 9, VT_Q_DA1},
        {"\x1b[>0;10;1c", 10, VT_Q_DA2},
        {"\x1b[0n", 4, VT_Q_DSR},
        {"\x1b[?25;1$y", 9, VT_Q_DECRQM},
        {"\x1b]11;rgb:0/0/0\x07", 15, VT_Q_OSC_BG},
        {"\x1bP>|ptyhub(0.1.0)\x1b\\", 19, VT_Q_XTVERSION},
        {"\x1b[1R", 0, 0},           /* one number is not a CPR */
        {"\x1b[1;2", 0, 0},          /* incomplete */
        {"\x1b]11;?\x07", 0, 0},     /* a query, not a reply */
        {"\x1b]11;rgb:0/0/0", 0, 0}, /* unterminated */
        {"\x1b[A", 0, 0},            /* a cursor key */
        {"\x1bP>|x\x07", 0, 0},      /* XTVERSION ends with ST only */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum vt_query q = 0;
        size_t m = term_reply_match((const uint8_t *)cases[i].in, strlen(cases[i].in), &q);
        CHECK_MSG(m == cases[i].len, "case %zu: matched %zu, want %zu", i, m, cases[i].len);
        if (m)
            CHECK_EQ(q, cases[i].q);
    }
}
