/* session_term_api: a minimal stand-in for the session terminal API of round-spec.md
 * ("Session API"), so the surface (SCREEN, WAIT, snapshot attach, REST, CLI) can be built
 * and tested before the terminal-core branch lands. The vt is still fed inline by
 * session.c; this file adds the watchers (called from an end-of-turn task, rate limited
 * to every 20 ms under a flood, once more at exit), the last output time and a
 * thread-safe copy of title/cwd/bells for listings. Replaced at merge. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/xalloc.h"
#include "pty/session.h"
#include "pty/session_term_stub.h"
#include "term/vt.h"

#define STUB_MIN_INTERVAL_NS (20ull * 1000 * 1000)

struct session_term_stub {
    struct session *s;
    struct session_watch *watchers;
    struct session_watch *cursor; /* the next watcher to call: survives unwatch in changed() */
    reactor_task task;
    reactor_timer timer;
    uint64_t last_call_ns;
    _Atomic uint64_t last_output_ms;
    pthread_mutex_t lock; /* title, cwd, bells: read by listings on other threads */
    char title[256], cwd[256];
    uint64_t bells;
};

/* Unix time in ms. */
static uint64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Calls every watcher once; a watcher may unwatch itself or others meanwhile. */
static int stub_task(reactor_task *t, void *arg)
{
    (void)t;
    struct session_term_stub *ts = arg;
    ts->last_call_ns = reactor_now_ns(session_reactor(ts->s));
    for (struct session_watch *w = ts->watchers; w; w = ts->cursor) {
        ts->cursor = w->next;
        w->changed(w);
    }
    ts->cursor = NULL;
    return 0;
}

/* The rate limit's delay ran out: call the watchers. */
static int stub_timer(reactor_timer *t, void *arg)
{
    (void)t;
    struct session_term_stub *ts = arg;
    reactor_task_schedule(session_reactor(ts->s), &ts->task);
    return 0;
}

struct session_term_stub *session_term_stub_new(struct session *s)
{
    struct session_term_stub *ts = xcalloc(1, sizeof *ts);
    ts->s = s;
    pthread_mutex_init(&ts->lock, NULL);
    reactor_task_init(&ts->task, stub_task, ts);
    reactor_timer_init(&ts->timer, stub_timer, ts);
    return ts;
}

/* Copies what listings show, under the lock. */
static void stub_copy_meta(struct session_term_stub *ts, const struct vt *vt)
{
    pthread_mutex_lock(&ts->lock);
    snprintf(ts->title, sizeof ts->title, "%s", vt_title(vt));
    snprintf(ts->cwd, sizeof ts->cwd, "%s", vt_cwd(vt));
    ts->bells = vt_bells(vt);
    pthread_mutex_unlock(&ts->lock);
}

void session_term_stub_output(struct session *s)
{
    struct session_term_stub *ts = session_ts_(s);
    atomic_store_explicit(&ts->last_output_ms, unix_ms(), memory_order_relaxed);
    struct vt *vt = session_vt_(s);
    if (!vt)
        return;
    stub_copy_meta(ts, vt);
    if (!ts->watchers || reactor_timer_active(&ts->timer))
        return;
    reactor *r = session_reactor(s);
    uint64_t now = reactor_now_ns(r), since = now - ts->last_call_ns;
    if (since >= STUB_MIN_INTERVAL_NS)
        reactor_task_schedule(r, &ts->task);
    else
        reactor_timer_start(r, &ts->timer, STUB_MIN_INTERVAL_NS - since);
}

void session_term_stub_exit(struct session *s)
{
    struct session_term_stub *ts = session_ts_(s);
    reactor_timer_stop(session_reactor(s), &ts->timer);
    if (ts->watchers)
        reactor_task_schedule(session_reactor(s), &ts->task);
}

void session_term_stub_summary(const struct session *s, struct session_summary *out)
{
    struct session_term_stub *ts = session_ts_(s);
    out->last_output_ms = atomic_load_explicit(&ts->last_output_ms, memory_order_relaxed);
    pthread_mutex_lock(&ts->lock);
    memcpy(out->title, ts->title, sizeof out->title);
    memcpy(out->cwd, ts->cwd, sizeof out->cwd);
    out->bells = ts->bells;
    pthread_mutex_unlock(&ts->lock);
}

void session_term_stub_free(struct session *s)
{
    struct session_term_stub *ts = session_ts_(s);
    if (!ts)
        return;
    while (ts->watchers)
        session_unwatch(ts->watchers);
    reactor_timer_stop(session_reactor(s), &ts->timer);
    reactor_task_cancel(session_reactor(s), &ts->task);
    pthread_mutex_destroy(&ts->lock);
    free(ts);
}

/* ---- the API ---------------------------------------------------------------------------- */

bool session_has_terminal(const struct session *s)
{
    return session_vt_(s) != NULL;
}

const struct vt *session_terminal(struct session *s, uint64_t *offset)
{
    struct vt *vt = session_vt_(s);
    if (vt)
        *offset = session_end(s); /* fed inline: always up to date */
    return vt;
}

void session_watch(struct session *s, struct session_watch *w)
{
    struct session_term_stub *ts = session_ts_(s);
    w->s = s;
    w->prev = NULL;
    w->next = ts->watchers;
    if (ts->watchers)
        ts->watchers->prev = w;
    ts->watchers = w;
}

void session_unwatch(struct session_watch *w)
{
    struct session *s = w->s;
    if (!s)
        return;
    struct session_term_stub *ts = session_ts_(s);
    if (ts->cursor == w)
        ts->cursor = w->next;
    if (w->prev)
        w->prev->next = w->next;
    else
        ts->watchers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->s = NULL;
    w->prev = w->next = NULL;
}

uint64_t session_last_output_ms(const struct session *s)
{
    return atomic_load_explicit(&session_ts_(s)->last_output_ms, memory_order_relaxed);
}

unsigned session_modes(struct session *s)
{
    struct vt *vt = session_vt_(s);
    return vt ? vt_modes(vt) : 0;
}
