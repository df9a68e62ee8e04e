/* screen: screen rendering and waits (see screen.h). */
#include "server/screen.h"

#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/reactor.h"
#include "core/xalloc.h"
#include "pty/session.h"
#include "term/vt.h"

/* A screen's text is kept for the other waits of the same change only up to this size. */
#define SCREEN_TEXT_CACHE_MAX (1u << 20)

struct screen_wait {
    struct session_watch watch;
    reactor *r;
    regex_t re;
    bool text, idle, finished;
    uint64_t after;
    uint64_t idle_ms;
    uint64_t arrival_ms;  /* unix ms */
    uint64_t last_offset; /* the session's end when last seen (in case it goes first) */
    reactor_timer timeout_timer, idle_timer;
    screen_wait_cb cb;
    void *arg;
};

uint8_t *screen_render(const struct vt *vt, bool ansi, size_t *len)
{
    size_t n = ansi ? vt_snapshot(vt, NULL, 0) : vt_text(vt, NULL, 0);
    uint8_t *buf = xmalloc(n + 1);
    if (ansi)
        vt_snapshot(vt, buf, n + 1);
    else
        vt_text(vt, (char *)buf, n + 1);
    *len = n;
    return buf;
}

const char *screen_wait_reason_name(enum screen_wait_reason why)
{
    switch (why) {
    case SCREEN_WAIT_TEXT:
        return "text";
    case SCREEN_WAIT_IDLE:
        return "idle";
    case SCREEN_WAIT_TIMEOUT:
        return "timeout";
    default:
        return "exited";
    }
}

/* Unix time in ms (the clock session_last_output_ms uses). */
static uint64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- one rendering of a screen as text, shared by all the waits of one change --------- */

/* Every watcher of a session is called in the same task, one after the other, with the
 * screen unchanged in between: the first renders it, the others reuse the text. The key
 * (session, offset, size, the reactor's turn time) names one screen state. */
struct text_cache {
    const struct session *s;
    uint64_t offset, turn_ns;
    uint16_t cols, rows;
    char *buf;
    size_t cap, len;
};

static pthread_key_t text_cache_key;
static pthread_once_t text_cache_once = PTHREAD_ONCE_INIT;

/* Frees a thread's cache when the thread (a reactor) ends. */
static void text_cache_free(void *p)
{
    struct text_cache *c = p;
    free(c->buf);
    free(c);
}

/* Creates the key of the per-thread caches, once. */
static void text_cache_init(void)
{
    pthread_key_create(&text_cache_key, text_cache_free);
}

/* This thread's cache (one per reactor thread). */
static struct text_cache *text_cache_get(void)
{
    pthread_once(&text_cache_once, text_cache_init);
    struct text_cache *c = pthread_getspecific(text_cache_key);
    if (!c) {
        c = xcalloc(1, sizeof *c);
        pthread_setspecific(text_cache_key, c);
    }
    return c;
}

/* The screen's text, NUL-terminated; valid until the next call on this thread. */
static const char *screen_text(struct session *s, reactor *r, const struct vt *vt, uint64_t offset)
{
    struct text_cache *tc = text_cache_get();
    uint16_t cols, rows;
    vt_size(vt, &cols, &rows);
    uint64_t turn = reactor_now_ns(r);
    if (tc->buf && tc->s == s && tc->offset == offset && tc->turn_ns == turn && tc->cols == cols &&
        tc->rows == rows)
        return tc->buf;
    size_t n = vt_text(vt, NULL, 0);
    if (n + 1 > tc->cap || (tc->cap > SCREEN_TEXT_CACHE_MAX && n + 1 <= 4096)) {
        free(tc->buf);
        tc->cap = n + 1 > 4096 ? n + 1 : 4096;
        tc->buf = xmalloc(tc->cap);
    }
    vt_text(vt, tc->buf, tc->cap);
    tc->len = n;
    tc->s = s;
    tc->offset = offset;
    tc->turn_ns = turn;
    tc->cols = cols;
    tc->rows = rows;
    return tc->buf;
}

/* True when the wait's regex matches the screen now (only screens beyond `after`);
 * *offset is the screen's offset. */
static bool wait_text_matches(struct screen_wait *w, struct session *s, uint64_t *offset)
{
    uint64_t off = 0;
    const struct vt *vt = session_terminal(s, &off);
    *offset = off;
    if (!vt || off <= w->after)
        return false;
    return regexec(&w->re, screen_text(s, w->r, vt, off), 0, NULL, 0) == 0;
}

/* ---- a wait's life --------------------------------------------------------------------- */

/* Ends the wait: detaches it from everything, then tells its owner (last: the owner may
 * free it). */
static void wait_finish(struct screen_wait *w, enum screen_wait_reason why, uint64_t offset)
{
    if (w->finished)
        return;
    w->finished = true;
    session_unwatch(&w->watch);
    reactor_timer_stop(w->r, &w->timeout_timer);
    reactor_timer_stop(w->r, &w->idle_timer);
    w->cb(w, w->arg, why, offset);
}

/* The screen changed (or the session exited): match the text, notice the end. */
static void wait_changed(struct session_watch *sw)
{
    struct screen_wait *w = (struct screen_wait *)sw;
    struct session *s = sw->s;
    if (!s || w->finished)
        return;
    w->last_offset = session_end(s);
    uint64_t off;
    if (w->text && wait_text_matches(w, s, &off)) {
        wait_finish(w, SCREEN_WAIT_TEXT, off);
        return;
    }
    if (session_exited(s))
        wait_finish(w, SCREEN_WAIT_EXITED, session_end(s));
}

/* The timeout ran out. */
static int wait_timeout_cb(reactor_timer *t, void *arg)
{
    (void)t;
    struct screen_wait *w = arg;
    wait_finish(w, SCREEN_WAIT_TIMEOUT, w->watch.s ? session_end(w->watch.s) : w->last_offset);
    return 0;
}

/* Arms the idle timer for the quiet period counted from max(last output, arrival). Returns
 * false when that period is already over. */
static bool wait_arm_idle(struct screen_wait *w, struct session *s)
{
    uint64_t base = session_last_output_ms(s);
    if (base < w->arrival_ms)
        base = w->arrival_ms;
    uint64_t now = unix_ms(), due = base + w->idle_ms;
    if (now >= due)
        return false;
    reactor_timer_start(w->r, &w->idle_timer, (due - now) * 1000000);
    return true;
}

/* The quiet period may be over: unless output came meanwhile (then wait again). Output
 * does not touch the timer; it is looked at only here, so a flood costs one check per
 * idle period. */
static int wait_idle_cb(reactor_timer *t, void *arg)
{
    (void)t;
    struct screen_wait *w = arg;
    struct session *s = w->watch.s;
    if (!s) {
        wait_finish(w, SCREEN_WAIT_EXITED, w->last_offset);
        return 0;
    }
    if (!wait_arm_idle(w, s))
        wait_finish(w, SCREEN_WAIT_IDLE, session_end(s));
    return 0;
}

int screen_wait_start(struct session *s, const struct screen_wait_params *p, screen_wait_cb cb,
                      void *arg, struct screen_wait **out, enum screen_wait_reason *why,
                      uint64_t *offset, char *err, size_t errlen)
{
    if (p->text && !session_has_terminal(s)) {
        snprintf(err, errlen, "terminal state is off (start the daemon with --terminal-state on)");
        return -ENOTSUP;
    }
    struct screen_wait *w = xcalloc(1, sizeof *w);
    w->r = session_reactor(s);
    w->text = p->text;
    w->idle = p->idle;
    w->after = p->after;
    w->idle_ms = p->idle_ms;
    w->arrival_ms = unix_ms();
    w->last_offset = session_end(s);
    w->cb = cb;
    w->arg = arg;
    if (p->text) {
        char *re = xmalloc(p->regex_len + 1);
        memcpy(re, p->regex, p->regex_len);
        re[p->regex_len] = '\0';
        int rc = regcomp(&w->re, re, REG_EXTENDED | REG_NEWLINE | REG_NOSUB);
        free(re);
        if (rc != 0) {
            char msg[256];
            regerror(rc, &w->re, msg, sizeof msg);
            snprintf(err, errlen, "bad regex: %s", msg);
            free(w);
            return -EINVAL;
        }
    }
    reactor_timer_init(&w->timeout_timer, wait_timeout_cb, w);
    reactor_timer_init(&w->idle_timer, wait_idle_cb, w);
    /* Satisfied already? Text on the screen now (when it is beyond `after`), or the end. */
    uint64_t off;
    if (p->text && wait_text_matches(w, s, &off)) {
        *why = SCREEN_WAIT_TEXT;
        *offset = off;
    } else if (session_exited(s)) {
        *why = SCREEN_WAIT_EXITED;
        *offset = session_end(s);
    } else if (p->idle && !wait_arm_idle(w, s)) {
        *why = SCREEN_WAIT_IDLE;
        *offset = session_end(s);
    } else {
        if (p->timeout_ms)
            reactor_timer_start(w->r, &w->timeout_timer, (uint64_t)p->timeout_ms * 1000000);
        w->watch.changed = wait_changed;
        session_watch(s, &w->watch);
        *out = w;
        return 0;
    }
    w->finished = true;
    screen_wait_free(w);
    return 1;
}

void screen_wait_free(struct screen_wait *w)
{
    if (!w)
        return;
    session_unwatch(&w->watch);
    reactor_timer_stop(w->r, &w->timeout_timer);
    reactor_timer_stop(w->r, &w->idle_timer);
    if (w->text)
        regfree(&w->re);
    free(w);
}
