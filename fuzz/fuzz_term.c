/* fuzz_term: libFuzzer target for the headless terminal model (src/term/vt.c).
 *
 * Input: 10 header bytes choosing the screen size, a second size, and where in the
 * stream to resize to it (byte 9 = 0xff lets sizes reach VT_DIM_MAX), then the bytes a
 * program writes. After feeding, the snapshot is fed to a fresh vt of the same size:
 * text, cursor, modes and title must be equal, and its own snapshot byte-identical.
 * The same bytes fed in small pieces (1..8 bytes, from byte 9) must give an identical
 * snapshot: the ASCII fast path and the byte-at-a-time parser agree at every split.
 * Screens that reach the cell budget (VT_CELLS_MAX) only have to stay bounded: which
 * cells a full budget keeps depends on allocation slack, so they are not compared.
 * A query callback builds every reply (which must fit its own length report).
 * The lazily fed model (src/pty/term_state.c) gets the same bytes through a ring, in the
 * same pieces, as a flooding session: when nothing left the ring, catching it up must give
 * exactly the snapshot of the model fed directly. And the reply grammar of the input
 * filter (term_reply_match, term_state_filter) runs over the bytes at every offset.
 *
 * Build: make build/fuzz/fuzz_term
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pty/ring.h"
#include "pty/term_state.h"
#include "term/vt.h"

/* Builds the reply to each query, checking the snprintf-style length. */
static void on_query(void *arg, enum vt_query q, int param, bool st)
{
    uint8_t buf[64];
    size_t n = vt_reply(arg, q, param, st, buf, sizeof buf);
    if (n == 0 || n > sizeof buf || vt_reply(arg, q, param, st, NULL, 0) != n)
        abort();
}

/* A size from two header bytes: small usually, up to VT_DIM_MAX when big. */
static uint16_t dim(uint8_t a, uint8_t b, int big)
{
    unsigned v = (unsigned)a | (unsigned)b << 8;
    return (uint16_t)(1 + v % (big ? VT_DIM_MAX : 200));
}

/* The text of vt in a fresh heap buffer. */
static char *text_of(const struct vt *vt, size_t *n)
{
    *n = vt_text(vt, NULL, 0);
    char *t = malloc(*n + 1);
    if (vt_text(vt, t, *n + 1) != *n || t[*n] != 0)
        abort();
    return t;
}

/* The snapshot of vt in a fresh heap buffer. */
static uint8_t *snap_of(const struct vt *vt, size_t *n)
{
    *n = vt_snapshot(vt, NULL, 0);
    uint8_t *s = malloc(*n + 1);
    if (vt_snapshot(vt, s, *n + 1) != *n)
        abort();
    return s;
}

/* The lazily fed model's answers go nowhere. */
static void on_reply(void *arg, const uint8_t *p, size_t n)
{
    (void)arg;
    if (n == 0 || !p)
        abort();
}

/* The reply parser over every offset: a match is a prefix of what it was given; the filter
 * keeps a sub-range of its input. */
static void check_replies(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        enum vt_query q;
        size_t m = term_reply_match(p + i, n - i, &q);
        if (m > n - i)
            abort();
    }
    struct term_state *ts = term_state_new(80, 24, TERM_FEED_SKIM, on_reply, NULL);
    term_state_set_answerers(ts, 2);
    struct ring r;
    ring_init(&r, 4096);
    static const char q[] = "\x1b[6n\x1b[c\x1b[>c\x1b]11;?\x07\x1b[>q\x1b[?2004$p\x1b[5n";
    ring_append(&r, q, sizeof q - 1);
    term_state_output(ts, &r, (const uint8_t *)q, sizeof q - 1, false);
    size_t start, kept = term_state_filter(ts, 1, p, n, &start);
    if (start > n || kept > n - start)
        abort();
    ring_deinit(&r);
    term_state_free(ts);
}

/* Feeds p through a lazily fed model in pieces of step bytes, as a bulk session would, with
 * a resize at cut; its caught-up snapshot must equal want (nothing left the ring). */
static void check_lazy(const uint8_t *p, size_t n, size_t cut, size_t step, uint16_t cols,
                       uint16_t rows, uint16_t cols2, uint16_t rows2, const uint8_t *want,
                       size_t wn)
{
    struct term_state *ts = term_state_new(cols, rows, TERM_FEED_SKIM, on_reply, NULL);
    struct ring r;
    ring_init(&r, n + 1);
    for (size_t off = 0; off < n;) {
        if (off == cut)
            term_state_resize(ts, &r, cols2, rows2);
        size_t k = n - off < step ? n - off : step;
        if (off < cut && off + k > cut)
            k = cut - off;
        ring_append(&r, p + off, k);
        term_state_output(ts, &r, p + off, k, true);
        off += k;
    }
    if (cut >= n)
        term_state_resize(ts, &r, cols2, rows2);
    struct vt *vt = term_state_sync(ts, &r);
    size_t sn;
    uint8_t *snap = snap_of(vt, &sn);
    if (sn != wn || memcmp(snap, want, sn) != 0)
        abort();
    free(snap);
    ring_deinit(&r);
    term_state_free(ts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 10)
        return 0;
    int big = data[9] == 0xff;
    uint16_t cols = dim(data[0], data[1], big), rows = dim(data[2], data[3], big);
    uint16_t cols2 = dim(data[4], data[5], big), rows2 = dim(data[6], data[7], big);
    const uint8_t *p = data + 10;
    size_t n = size - 10;
    size_t cut = n ? data[8] * n / 256 : 0;

    struct vt *vt = vt_new(cols, rows);
    vt_set_query_cb(vt, on_query, vt);
    vt_feed(vt, p, cut);
    if (vt_resize(vt, cols2, rows2) != 0)
        abort();
    vt_feed(vt, p + cut, n - cut);

    size_t sn, tn;
    uint8_t *snap = snap_of(vt, &sn);
    char *text = text_of(vt, &tn);
    struct vt *b = vt_new(cols2, rows2);
    vt_set_query_cb(b, on_query, b);
    vt_feed(b, snap, sn);
    size_t sn2, tn2;
    uint8_t *snap2 = snap_of(b, &sn2);
    char *text2 = text_of(b, &tn2);
    /* Below a quarter of the budget, slack (at most 2x plus 16 cells a row) cannot reach it. */
    bool exact = vt_memory(vt) < (size_t)VT_CELLS_MAX * 8 / 4;
    if (vt_memory(vt) > (size_t)VT_CELLS_MAX * 8 + (2u << 20) + 65536)
        abort(); /* cells within budget, two screens of row headers, small strings */
    if (!exact)
        goto out;
    if (tn != tn2 || memcmp(text, text2, tn) != 0)
        abort();
    uint16_t xa, ya, xb, yb;
    bool va, vb;
    vt_cursor(vt, &xa, &ya, &va);
    vt_cursor(b, &xb, &yb, &vb);
    if (xa != xb || ya != yb || va != vb || vt_modes(vt) != vt_modes(b) ||
        strcmp(vt_title(vt), vt_title(b)) != 0 || strcmp(vt_cwd(vt), vt_cwd(b)) != 0)
        abort();
    if (sn != sn2 || memcmp(snap, snap2, sn) != 0)
        abort();

    struct vt *c = vt_new(cols, rows);
    size_t step = (size_t)(data[9] % 8) + 1;
    for (size_t off = 0; off < cut; off += step)
        vt_feed(c, p + off, cut - off < step ? cut - off : step);
    vt_resize(c, cols2, rows2);
    for (size_t off = cut; off < n; off += step)
        vt_feed(c, p + off, n - off < step ? n - off : step);
    size_t sn3;
    uint8_t *snap3 = snap_of(c, &sn3);
    if (sn != sn3 || memcmp(snap, snap3, sn) != 0)
        abort();
    free(snap3);
    vt_free(c);
    check_lazy(p, n, cut, step * 97, cols, rows, cols2, rows2, snap, sn);
    check_replies(p, n);
out:
    free(snap);
    free(snap2);
    free(text);
    free(text2);
    vt_free(b);
    vt_free(vt);
    return 0;
}
