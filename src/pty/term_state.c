/* term_state: the lazily fed terminal model of a session. See term_state.h for the
 * invariant (the unfed lag holds no ESC) and what a resync keeps. */
#include "pty/term_state.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/xalloc.h"

struct answer {
    uint8_t q;    /* enum vt_query */
    uint8_t left; /* client replies still to absorb */
    uint64_t at_ms;
};

struct term_state {
    struct vt *vt;  /* NULL while hibernating */
    uint8_t *sleep; /* the snapshot while hibernating */
    size_t sleep_len;
    unsigned sleep_modes; /* what the hibernating model would report */
    char *sleep_title, *sleep_cwd;
    uint16_t cols, rows;
    enum term_feed feed;
    uint64_t fed;        /* output offset the model has consumed */
    uint64_t lag_bells;  /* BELs the scanner saw in the unfed lag */
    uint64_t bells_base; /* BELs the current vt does not count (hibernation, resync) */
    uint64_t resyncs, lost;
    uint64_t meta_seq;
    uint8_t skim; /* the scanner inside the lag: 0 ground, 1 after ESC, 2 in CSI */
    term_reply_cb cb;
    void *arg;
    unsigned answerers;
    struct answer ans[TERM_ANSWERS_MAX];
    unsigned nans;
};

/* Monotonic milliseconds. */
static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

enum term_feed term_feed_from_env(void)
{
    const char *v = getenv("PTYHUB_TERM_FEED");
    if (v && strcmp(v, "inline") == 0)
        return TERM_FEED_INLINE;
    if (v && strcmp(v, "text") == 0)
        return TERM_FEED_LAZY;
    return TERM_FEED_SKIM;
}

/* A query parsed by the model (inline, in stream order): answer it with the state now and
 * remember the answer for the reply filter. */
static void ts_query(void *arg, enum vt_query q, int param, bool st)
{
    struct term_state *ts = arg;
    uint8_t reply[128];
    size_t n = vt_reply(ts->vt, q, param, st, reply, sizeof reply);
    if (n == 0 || n > sizeof reply)
        return;
    if (ts->answerers) {
        if (ts->nans == TERM_ANSWERS_MAX) {
            memmove(ts->ans, ts->ans + 1, (TERM_ANSWERS_MAX - 1) * sizeof ts->ans[0]);
            ts->nans--;
        }
        unsigned left = ts->answerers > 255 ? 255 : ts->answerers;
        ts->ans[ts->nans++] = (struct answer){(uint8_t)q, (uint8_t)left, now_ms()};
    }
    ts->cb(ts->arg, reply, n);
}

/* A fresh vt wired to the query callback. */
static struct vt *ts_vt_new(struct term_state *ts)
{
    struct vt *vt = vt_new(ts->cols, ts->rows);
    vt_set_query_cb(vt, ts_query, ts);
    return vt;
}

struct term_state *term_state_new(uint16_t cols, uint16_t rows, enum term_feed feed,
                                  term_reply_cb cb, void *arg)
{
    struct term_state *ts = xcalloc(1, sizeof *ts);
    ts->cols = cols ? cols : 80;
    ts->rows = rows ? rows : 24;
    ts->feed = feed;
    ts->cb = cb;
    ts->arg = arg;
    ts->vt = ts_vt_new(ts);
    return ts;
}

/* Drops the hibernation snapshot and its cached strings. */
static void ts_sleep_free(struct term_state *ts)
{
    free(ts->sleep);
    free(ts->sleep_title);
    free(ts->sleep_cwd);
    ts->sleep = NULL;
    ts->sleep_title = ts->sleep_cwd = NULL;
    ts->sleep_len = 0;
}

void term_state_free(struct term_state *ts)
{
    if (!ts)
        return;
    vt_free(ts->vt);
    ts_sleep_free(ts);
    free(ts);
}

/* Rebuilds the model from its snapshot after hibernation. The snapshot holds no query and
 * no BEL, so nothing is answered or counted twice. */
static void ts_wake(struct term_state *ts)
{
    if (ts->vt)
        return;
    ts->vt = vt_new(ts->cols, ts->rows);
    vt_feed(ts->vt, ts->sleep, ts->sleep_len);
    vt_set_query_cb(ts->vt, ts_query, ts);
    ts_sleep_free(ts);
}

/* Feeds bytes to the model, tracking title changes. */
static void ts_feed(struct term_state *ts, const uint8_t *p, size_t n)
{
    uint64_t seq = vt_meta_seq(ts->vt);
    vt_feed(ts->vt, p, n);
    if (vt_meta_seq(ts->vt) != seq)
        ts->meta_seq++;
}

/* Feeds retained bytes [from, to) of ring r. */
static void ts_feed_ring(struct term_state *ts, const struct ring *r, uint64_t from, uint64_t to)
{
    while (from < to) {
        struct iovec iov[2];
        int cnt = 0;
        ssize_t k = ring_peek(r, from, (size_t)(to - from), iov, &cnt);
        if (k <= 0)
            break;
        for (int i = 0; i < cnt; i++)
            ts_feed(ts, iov[i].iov_base, iov[i].iov_len);
        from += (uint64_t)k;
    }
}

/* BELs in retained bytes [from, to) of ring r. */
static uint64_t ring_count_bel(const struct ring *r, uint64_t from, uint64_t to)
{
    uint64_t bells = 0;
    while (from < to) {
        struct iovec iov[2];
        int cnt = 0;
        ssize_t k = ring_peek(r, from, (size_t)(to - from), iov, &cnt);
        if (k <= 0)
            break;
        for (int i = 0; i < cnt; i++) {
            const uint8_t *p = iov[i].iov_base, *e = p + iov[i].iov_len;
            while ((p = memchr(p, 0x07, (size_t)(e - p))) != NULL) {
                bells++;
                p++;
            }
        }
        from += (uint64_t)k;
    }
    return bells;
}

/* Where a resync starts in retained [from, to): just after the first line feed, or at the
 * first ESC if that comes first (both leave nothing half parsed); with neither, at the first
 * whole character. */
static uint64_t ring_after_lf(const struct ring *r, uint64_t from, uint64_t to)
{
    uint64_t o = from;
    while (o < to) {
        struct iovec iov[2];
        int cnt = 0;
        ssize_t k = ring_peek(r, o, (size_t)(to - o), iov, &cnt);
        if (k <= 0)
            break;
        uint64_t base = o;
        for (int i = 0; i < cnt; i++) {
            const uint8_t *p = iov[i].iov_base;
            for (size_t j = 0; j < iov[i].iov_len; j++) {
                if (p[j] == '\n')
                    return base + j + 1;
                if (p[j] == 0x1b)
                    return base + j; /* a sequence starts here: as clean a start */
            }
            base += iov[i].iov_len;
        }
        o += (uint64_t)k;
    }
    /* No line feed: skip UTF-8 continuation bytes so the first character is whole. */
    for (o = from; o < to && o < from + 4; o++) {
        struct iovec iov[2];
        int cnt = 0;
        if (ring_peek(r, o, 1, iov, &cnt) != 1)
            break;
        if ((*(const uint8_t *)iov[0].iov_base & 0xc0) != 0x80)
            break;
    }
    return o;
}

/* Brings the model from ts->fed to ring_end(r): exactly when the unfed bytes are retained
 * and few enough, else by a resync from the tail (see term_state.h). */
static void ts_catch_up(struct term_state *ts, const struct ring *r)
{
    uint64_t end = ring_end(r);
    if (ts->fed >= end)
        return;
    ts_wake(ts);
    uint64_t from = ts->fed;
    if (from < ring_start(r) || end - from > TERM_CATCHUP_MAX) {
        uint64_t keep = TERM_RESYNC_BYTES;
        if ((uint64_t)ts->cols * ts->rows * 4 > keep)
            keep = (uint64_t)ts->cols * ts->rows * 4;
        if (keep > TERM_CATCHUP_MAX)
            keep = TERM_CATCHUP_MAX;
        uint64_t tail = end - ring_start(r) < keep ? ring_start(r) : end - keep;
        uint64_t at = ring_after_lf(r, tail, end);
        /* The lag's BELs were counted by the scanner; the kept part is counted again by
         * the model, so only the part it skips stays in the base. */
        ts->bells_base += ts->lag_bells - ring_count_bel(r, at, end);
        ts->lag_bells = 0;
        ts->resyncs++;
        ts->lost += at - from;
        log_debug("terminal model resync: %llu bytes not fed", (unsigned long long)(at - from));
        ts_feed(ts, (const uint8_t *)"\r", 1);
        from = at;
    }
    ts_feed_ring(ts, r, from, end);
    ts->fed = end;
    ts->lag_bells = 0;
    ts->skim = 0;
}

/* Scans a chunk of a flood: true when the model may leave it for later, that is when its
 * only escape sequences draw — SGR, cursor motion, erase — and change no mode, title,
 * region or charset, and ask nothing. The scan state carries across chunks. */
static bool ts_skim(struct term_state *ts, const uint8_t *p, size_t n)
{
    const uint8_t *e = p + n;
    uint8_t st = ts->skim;
    while (p < e) {
        if (st == 0) {
            const uint8_t *q = memchr(p, 0x1b, (size_t)(e - p));
            if (!q)
                break;
            p = q + 1;
            st = 1;
            continue;
        }
        uint8_t b = *p++;
        if (st == 1) {
            if (b != '[')
                return false;
            st = 2;
        } else if ((b >= '0' && b <= '9') || b == ';') {
            continue;
        } else if (b && strchr("mHfKJABCDGdX", b)) {
            st = 0;
        } else {
            return false;
        }
    }
    ts->skim = st;
    return true;
}

bool term_state_output(struct term_state *ts, const struct ring *r, const uint8_t *p, size_t n,
                       bool bulk)
{
    if (n == 0)
        return false;
    uint64_t end = ring_end(r);
    bool lagging = ts->fed != end - n;
    /* A lag begins only with the model at a character boundary in the ground state, so it
     * can take the lagging bytes later, or skip them in a resync, with nothing half parsed
     * (a sleeping model is always there). */
    bool can_lag = lagging || !ts->vt || vt_ground(ts->vt);
    bool wait = can_lag && bulk && ts->feed != TERM_FEED_INLINE &&
                (ts->feed == TERM_FEED_SKIM ? ts_skim(ts, p, n) : !memchr(p, 0x1b, n));
    if (lagging || wait) {
        for (const uint8_t *q = p, *e = p + n; (q = memchr(q, 0x07, (size_t)(e - q))); q++)
            ts->lag_bells++;
    }
    if (wait)
        return false; /* a flood that only draws: it waits */
    if (!lagging && ts->vt) {
        ts_feed(ts, p, n); /* the common case: straight from the read buffer */
        ts->fed = end;
        ts->skim = 0;
        return true;
    }
    ts_catch_up(ts, r);
    return true;
}

struct vt *term_state_sync(struct term_state *ts, const struct ring *r)
{
    ts_catch_up(ts, r);
    ts_wake(ts);
    return ts->vt;
}

void term_state_resize(struct term_state *ts, const struct ring *r, uint16_t cols, uint16_t rows)
{
    term_state_sync(ts, r);
    if (vt_resize(ts->vt, cols, rows) == 0) {
        ts->cols = cols;
        ts->rows = rows;
    }
}

unsigned term_state_modes(const struct term_state *ts)
{
    return ts->vt ? vt_modes(ts->vt) : ts->sleep_modes;
}

uint64_t term_state_bells(const struct term_state *ts)
{
    return ts->bells_base + ts->lag_bells + (ts->vt ? vt_bells(ts->vt) : 0);
}

const char *term_state_title(const struct term_state *ts)
{
    if (ts->vt)
        return vt_title(ts->vt);
    return ts->sleep_title ? ts->sleep_title : "";
}

const char *term_state_cwd(const struct term_state *ts)
{
    if (ts->vt)
        return vt_cwd(ts->vt);
    return ts->sleep_cwd ? ts->sleep_cwd : "";
}

uint64_t term_state_meta_seq(const struct term_state *ts)
{
    return ts->meta_seq;
}

uint64_t term_state_offset(const struct term_state *ts)
{
    return ts->fed;
}

void term_state_losses(const struct term_state *ts, uint64_t *resyncs, uint64_t *lost)
{
    *resyncs = ts->resyncs;
    *lost = ts->lost;
}

bool term_state_hibernate(struct term_state *ts)
{
    if (!ts->vt || !vt_ground(ts->vt))
        return false;
    size_t n = vt_snapshot(ts->vt, NULL, 0);
    if (n + 64 >= vt_memory(ts->vt))
        return false; /* a blank or tiny screen is cheaper kept as it is */
    uint8_t *snap = xmalloc(n ? n : 1);
    vt_snapshot(ts->vt, snap, n);
    ts->sleep = snap;
    ts->sleep_len = n;
    ts->sleep_modes = vt_modes(ts->vt);
    if (*vt_title(ts->vt))
        ts->sleep_title = xstrdup(vt_title(ts->vt));
    if (*vt_cwd(ts->vt))
        ts->sleep_cwd = xstrdup(vt_cwd(ts->vt));
    ts->bells_base += vt_bells(ts->vt);
    vt_free(ts->vt);
    ts->vt = NULL;
    return true;
}

bool term_state_sleeping(const struct term_state *ts)
{
    return ts->vt == NULL;
}

size_t term_state_memory(const struct term_state *ts)
{
    size_t n = sizeof *ts + ts->sleep_len;
    if (ts->vt)
        n += vt_memory(ts->vt);
    if (ts->sleep_title)
        n += strlen(ts->sleep_title) + 1;
    if (ts->sleep_cwd)
        n += strlen(ts->sleep_cwd) + 1;
    return n;
}

void term_state_set_answerers(struct term_state *ts, unsigned n)
{
    ts->answerers = n;
}

/* ---- the reply filter ------------------------------------------------------------- */

/* Digits and semicolons from p[i]; returns the index after them. */
static size_t skip_params(const uint8_t *p, size_t n, size_t i)
{
    while (i < n && ((p[i] >= '0' && p[i] <= '9') || p[i] == ';'))
        i++;
    return i;
}

/* A CSI reply: ESC [ then the replies of CPR, DA1, DA2, DSR and DECRPM. */
static size_t match_csi(const uint8_t *p, size_t n, enum vt_query *q)
{
    size_t i = 2;
    uint8_t lead = i < n && (p[i] == '?' || p[i] == '>') ? p[i++] : 0;
    size_t ps = i;
    i = skip_params(p, n, i);
    if (i >= n)
        return 0;
    size_t semis = 0;
    for (size_t k = ps; k < i; k++)
        semis += p[k] == ';';
    bool digits = i > ps && p[ps] != ';';
    if (p[i] == 'R' && lead != '>' && semis == 1 && digits && p[i - 1] != ';') {
        *q = VT_Q_CPR;
        return i + 1;
    }
    if (p[i] == 'c' && lead == '?' && digits) {
        *q = VT_Q_DA1;
        return i + 1;
    }
    if (p[i] == 'c' && lead == '>' && digits) {
        *q = VT_Q_DA2;
        return i + 1;
    }
    if (p[i] == 'n' && !lead && i == ps + 1 && p[ps] == '0') {
        *q = VT_Q_DSR;
        return i + 1;
    }
    if (p[i] == '$' && lead == '?' && semis == 1 && digits && i + 1 < n && p[i + 1] == 'y') {
        *q = VT_Q_DECRQM;
        return i + 2;
    }
    return 0;
}

/* A string's end: BEL (when allowed) or ESC \; returns the index after it, or 0. */
static size_t string_end(const uint8_t *p, size_t n, size_t i, bool bel)
{
    for (; i < n; i++) {
        if (p[i] == 0x07 && bel)
            return i + 1;
        if (p[i] == 0x1b)
            return i + 1 < n && p[i + 1] == '\\' ? i + 2 : 0;
        if (p[i] < 0x20)
            return 0;
    }
    return 0;
}

size_t term_reply_match(const uint8_t *p, size_t n, enum vt_query *q)
{
    if (n < 3 || p[0] != 0x1b)
        return 0;
    if (p[1] == '[')
        return match_csi(p, n, q);
    if (p[1] == ']' && n >= 6 && p[2] == '1' && (p[3] == '0' || p[3] == '1') && p[4] == ';' &&
        p[5] != '?') {
        *q = p[3] == '0' ? VT_Q_OSC_FG : VT_Q_OSC_BG;
        return string_end(p, n, 5, true);
    }
    if (p[1] == 'P' && n >= 4 && p[2] == '>' && p[3] == '|') {
        *q = VT_Q_XTVERSION;
        return string_end(p, n, 4, false);
    }
    return 0;
}

/* Takes one pending answer of kind q (absorbing one client reply); false when none. */
static bool take_answer(struct term_state *ts, enum vt_query q, uint64_t now)
{
    for (unsigned i = 0; i < ts->nans; i++) {
        struct answer *a = &ts->ans[i];
        if (a->q != (uint8_t)q || (now > a->at_ms && now - a->at_ms > TERM_FILTER_MS))
            continue;
        if (--a->left == 0) {
            memmove(a, a + 1, (ts->nans - i - 1) * sizeof *a);
            ts->nans--;
        }
        return true;
    }
    return false;
}

size_t term_state_filter(struct term_state *ts, uint64_t now, const uint8_t *p, size_t n,
                         size_t *start)
{
    *start = 0;
    /* Forget expired answers (the terminals did not answer: they cooperate). */
    unsigned k = 0;
    for (unsigned i = 0; i < ts->nans; i++)
        if (now <= ts->ans[i].at_ms || now - ts->ans[i].at_ms <= TERM_FILTER_MS)
            ts->ans[k++] = ts->ans[i];
    ts->nans = k;
    if (ts->nans == 0 || n < 3 || !memchr(p, 0x1b, n))
        return n;
    size_t a = 0, b = n;
    enum vt_query q;
    size_t m = term_reply_match(p, n, &q);
    if (m && take_answer(ts, q, now))
        a = m;
    if (a < b && ts->nans) {
        /* A reply at the end: the last ESC that starts one reaching exactly to the end. */
        size_t lo = b - a > 512 ? b - 512 : a;
        for (size_t i = b; i-- > lo;) {
            if (p[i] == 0x1b && term_reply_match(p + i, b - i, &q) == b - i) {
                if (take_answer(ts, q, now))
                    b = i;
                break;
            }
        }
    }
    *start = a;
    return b - a;
}
