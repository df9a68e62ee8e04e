/* reactor: the backend-independent half of the event loop — the turn structure, timers
 * (a binary min-heap), end-of-turn tasks, the again list that keeps read quanta fair,
 * deferred freeing of watchers, and the cross-thread post queue with its coalesced
 * eventfd wake.
 *
 * One turn: drain posts, run tasks, wait in the kernel (not at all when work is
 * already pending, until the nearest timer otherwise), dispatch what arrived, run the
 * again list, fire due timers, run tasks (the end-of-tick flush), free closed watchers
 * the kernel no longer references. */
#include "core/reactor.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/reactor_backend.h"
#include "core/xalloc.h"

struct post_item {
    reactor_post_cb cb;
    void *arg;
};

struct post_queue {
    struct post_item *items;
    size_t len, cap;
};

struct reactor {
    const struct reactor_backend_ops *ops;
    void *backend;
    const char *reason;
    bool started;
    bool bulk_last;  /* reactor_config.bulk_last */
    uint64_t called; /* watcher callbacks run (not deferred), for reactor_run_again */
    bool in_again;   /* running the again list: bulk watchers are called now */
    uint64_t now_ns;

    reactor_timer **heap;
    size_t nheap, capheap;
    uint64_t timer_seq;

    reactor_task *task_head, *task_tail;
    reactor_task *defer_head, *defer_tail;
    reactor_io *again_head, *again_tail;
    reactor_io *closing_head;
    reactor_io *all_ios;

    pthread_mutex_t post_mu;
    struct post_queue posts, draining;
    _Atomic bool wake_pending;
    int efd;
    reactor_io *efd_io;
    _Atomic bool stop;

    struct {
        _Atomic uint64_t turns, wakes, completions, io_events, posts, post_wakes, rearms,
            cq_overflows, sq_full, timers_fired, tasks_run, callback_errors, bulk_deferred,
            bulk_peeks;
    } st;
};

/* Bumps a counter that only the reactor thread writes (no locked instruction needed). */
#define STAT_ADD(r, f, n)                                                                          \
    atomic_store_explicit(&(r)->st.f,                                                              \
                          atomic_load_explicit(&(r)->st.f, memory_order_relaxed) + (n),            \
                          memory_order_relaxed)

/* Reads CLOCK_MONOTONIC in nanoseconds. */
static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Parses a backend name. */
int reactor_backend_parse(const char *s, enum reactor_backend_kind *out)
{
    if (strcmp(s, "auto") == 0)
        *out = REACTOR_AUTO;
    else if (strcmp(s, "uring") == 0 || strcmp(s, "io_uring") == 0)
        *out = REACTOR_URING;
    else if (strcmp(s, "epoll") == 0)
        *out = REACTOR_EPOLL;
    else
        return -EINVAL;
    return 0;
}

/* Reads the eventfd so the next post makes a fresh edge. */
static int reactor_efd_cb(reactor_io *io, unsigned events, void *arg)
{
    (void)io;
    (void)events;
    reactor *r = arg;
    uint64_t v;
    while (read(r->efd, &v, sizeof v) > 0)
        ;
    return 0;
}

/* Creates a reactor with the configured (or probed) backend. */
int reactor_new(reactor **out, const reactor_config *cfg)
{
    reactor_config defaults = {0};
    if (!cfg)
        cfg = &defaults;
    reactor *r = xcalloc(1, sizeof *r);
    pthread_mutex_init(&r->post_mu, NULL);
    r->now_ns = monotonic_ns();
    r->efd = -1;
    r->bulk_last = cfg->bulk_last;

    const char *why = NULL;
    int rc = 0;
    switch (cfg->backend) {
    case REACTOR_EPOLL:
        r->ops = &reactor_epoll_ops;
        r->reason = "epoll requested";
        break;
    case REACTOR_URING:
        rc = reactor_uring_probe(&why);
        if (rc < 0) {
            log_error("io_uring requested but unusable: %s", why);
            goto fail;
        }
        r->ops = &reactor_uring_ops;
        r->reason = "io_uring requested";
        break;
    case REACTOR_AUTO:
        if (reactor_uring_probe(&why) == 0) {
            r->ops = &reactor_uring_ops;
            r->reason = "io_uring probe passed";
        } else {
            r->ops = &reactor_epoll_ops;
            r->reason = why;
        }
        break;
    }
    rc = r->ops->init(r, cfg);
    if (rc < 0)
        goto fail;
    r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->efd < 0) {
        rc = -errno;
        r->ops->deinit(r);
        goto fail;
    }
    rc = reactor_io_new(r, r->efd, REACTOR_READ, reactor_efd_cb, r, &r->efd_io);
    if (rc < 0) {
        close(r->efd);
        r->ops->deinit(r);
        goto fail;
    }
    *out = r;
    return 0;
fail:
    pthread_mutex_destroy(&r->post_mu);
    free(r);
    return rc;
}

/* Frees a stopped reactor and whatever it still holds. */
void reactor_free(reactor *r)
{
    if (!r)
        return;
    r->ops->deinit(r);
    /* With the kernel state gone nothing references the watchers any more. */
    for (reactor_io *io = r->all_ios, *next; io; io = next) {
        next = io->all_next;
        free(io);
    }
    close(r->efd);
    free(r->heap);
    free(r->posts.items);
    free(r->draining.items);
    pthread_mutex_destroy(&r->post_mu);
    free(r);
}

/* The backend's name. */
const char *reactor_backend_name(const reactor *r)
{
    return r->ops->name;
}

/* Why this backend was chosen. */
const char *reactor_backend_reason(const reactor *r)
{
    return r->reason;
}

/* The cached monotonic clock. */
uint64_t reactor_turn_number(const reactor *r)
{
    return atomic_load_explicit(&r->st.turns, memory_order_relaxed);
}

uint64_t reactor_now_ns(const reactor *r)
{
    return r->now_ns;
}

void *reactor_backend_data(reactor *r)
{
    return r->backend;
}

void reactor_set_backend_data(reactor *r, void *data)
{
    r->backend = data;
}

/* Adds to a backend-maintained counter. */
void reactor_stat_add(reactor *r, enum reactor_stat which, uint64_t n)
{
    switch (which) {
    case RSTAT_WAKES:
        STAT_ADD(r, wakes, n);
        break;
    case RSTAT_COMPLETIONS:
        STAT_ADD(r, completions, n);
        break;
    case RSTAT_REARMS:
        STAT_ADD(r, rearms, n);
        break;
    case RSTAT_CQ_OVERFLOWS:
        STAT_ADD(r, cq_overflows, n);
        break;
    case RSTAT_SQ_FULL:
        STAT_ADD(r, sq_full, n);
        break;
    }
}

/* Copies the counters out with relaxed loads. */
void reactor_stats_get(const reactor *r, reactor_stats *out)
{
    reactor *m = (reactor *)r;
#define LD(f) out->f = atomic_load_explicit(&m->st.f, memory_order_relaxed)
    LD(turns);
    LD(wakes);
    LD(completions);
    LD(io_events);
    LD(posts);
    LD(post_wakes);
    LD(rearms);
    LD(cq_overflows);
    LD(sq_full);
    LD(timers_fired);
    LD(tasks_run);
    LD(callback_errors);
    LD(bulk_deferred);
    LD(bulk_peeks);
#undef LD
}

/* Logs and counts a failed callback; the reactor carries on. */
static void reactor_callback_failed(reactor *r, const char *what, int rc)
{
    STAT_ADD(r, callback_errors, 1);
    log_warn("%s callback failed: %s", what, strerror(-rc));
}

/* ---- watchers ---------------------------------------------------------------------- */

/* Registers a watcher on fd. */
int reactor_io_new(reactor *r, int fd, unsigned events, reactor_io_cb cb, void *arg,
                   reactor_io **out)
{
    reactor_io *io = xcalloc(1, sizeof *io);
    io->r = r;
    io->fd = fd;
    io->cb = cb;
    io->arg = arg;
    io->want = events & (REACTOR_READ | REACTOR_WRITE);
    int rc = r->ops->io_update(r, io);
    if (rc < 0) {
        free(io);
        return rc;
    }
    io->all_next = r->all_ios;
    if (r->all_ios)
        r->all_ios->all_prev = io;
    r->all_ios = io;
    *out = io;
    return 0;
}

/* Changes the requested events. */
int reactor_io_set(reactor_io *io, unsigned events)
{
    events &= REACTOR_READ | REACTOR_WRITE;
    if (io->closing)
        return -EBADF;
    if (events == io->want)
        return 0;
    io->want = events;
    return io->r->ops->io_update(io->r, io);
}

unsigned reactor_io_events(const reactor_io *io)
{
    return io->want;
}

int reactor_io_fd(const reactor_io *io)
{
    return io->fd;
}

/* Queues the watcher to be called again next turn. */
void reactor_io_again(reactor_io *io, unsigned events)
{
    if (io->closing)
        return;
    io->again_events |= events;
    if (io->on_again)
        return;
    io->on_again = true;
    io->again_next = NULL;
    reactor *r = io->r;
    if (r->again_tail)
        r->again_tail->again_next = io;
    else
        r->again_head = io;
    r->again_tail = io;
}

/* Stops a watcher; memory is released once the kernel is done with it. */
void reactor_io_free(reactor_io *io)
{
    if (!io || io->closing)
        return;
    reactor *r = io->r;
    io->closing = true;
    io->want = 0;
    r->ops->io_detach(r, io);
    io->closing_next = r->closing_head;
    r->closing_head = io;
}

void reactor_io_set_bulk(reactor_io *io, bool bulk)
{
    io->bulk = bulk;
}

/* Delivers a readiness event to a live watcher, filtered by what it wants now. A bulk
 * watcher on a bulk_last reactor is queued on the again list instead, which the turn
 * runs after the other watchers and one pass of their tasks (reactor_turn). */
void reactor_dispatch(reactor *r, reactor_io *io, unsigned events)
{
    if (io->closing || !io->want)
        return;
    events &= io->want | REACTOR_ERR | ((io->want & REACTOR_READ) ? REACTOR_RDHUP : 0);
    if (!events)
        return;
    if (io->bulk && r->bulk_last && !r->in_again) {
        STAT_ADD(r, bulk_deferred, 1);
        reactor_io_again(io, events);
        return;
    }
    STAT_ADD(r, io_events, 1);
    r->called++;
    int rc = io->cb(io, events, io->arg);
    if (rc < 0)
        reactor_callback_failed(r, "io", rc);
}

static void reactor_run_tasks(reactor *r);

/* Runs tasks in up to 4 passes (tasks that tasks queue: a session's notify queues its
 * clients' flushes). */
static void reactor_run_task_passes(reactor *r)
{
    for (int pass = 0; pass < 4 && r->task_head; pass++)
        reactor_run_tasks(r);
}

/* Runs the watchers that asked to be called again, in FIFO order (round-robin). On a
 * bulk_last reactor whose backend can look at its completions for free (io_uring), it
 * looks after each bulk watcher: a keystroke or an echo that arrived meanwhile is called
 * back at once, with its tasks, instead of after the rest of the bulk work. */
static void reactor_run_again(reactor *r)
{
    reactor_io *io = r->again_head;
    r->again_head = r->again_tail = NULL;
    while (io) {
        reactor_io *next = io->again_next;
        unsigned ev = io->again_events;
        bool bulk = io->bulk;
        io->on_again = false;
        io->again_events = 0;
        r->in_again = true;
        reactor_dispatch(r, io, ev);
        r->in_again = false;
        if (bulk && r->bulk_last && r->ops->peek) {
            uint64_t before = r->called;
            r->ops->peek(r); /* bulk completions join the again list for next turn */
            if (r->called != before) {
                STAT_ADD(r, bulk_peeks, 1);
                reactor_run_task_passes(r);
            }
        }
        io = next;
    }
}

/* Frees closed watchers that nothing (kernel or again list) references any more. */
static void reactor_sweep_closed(reactor *r)
{
    reactor_io **pp = &r->closing_head;
    while (*pp) {
        reactor_io *io = *pp;
        if (io->inflight == 0 && !io->on_again) {
            *pp = io->closing_next;
            if (io->all_prev)
                io->all_prev->all_next = io->all_next;
            else
                r->all_ios = io->all_next;
            if (io->all_next)
                io->all_next->all_prev = io->all_prev;
            free(io);
        } else {
            pp = &io->closing_next;
        }
    }
}

/* ---- timers ------------------------------------------------------------------------ */

/* Orders timers by deadline, then by start order. */
static bool timer_before(const reactor_timer *a, const reactor_timer *b)
{
    return a->deadline_ns < b->deadline_ns || (a->deadline_ns == b->deadline_ns && a->seq < b->seq);
}

static void heap_set(reactor *r, size_t i, reactor_timer *t)
{
    r->heap[i] = t;
    t->heap_index = i;
}

/* Moves the timer at i up towards the root. */
static void heap_up(reactor *r, size_t i)
{
    reactor_timer *t = r->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_before(t, r->heap[parent]))
            break;
        heap_set(r, i, r->heap[parent]);
        i = parent;
    }
    heap_set(r, i, t);
}

/* Moves the timer at i down towards the leaves. */
static void heap_down(reactor *r, size_t i)
{
    reactor_timer *t = r->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= r->nheap)
            break;
        if (c + 1 < r->nheap && timer_before(r->heap[c + 1], r->heap[c]))
            c++;
        if (!timer_before(r->heap[c], t))
            break;
        heap_set(r, i, r->heap[c]);
        i = c;
    }
    heap_set(r, i, t);
}

void reactor_timer_init(reactor_timer *t, reactor_timer_cb cb, void *arg)
{
    memset(t, 0, sizeof *t);
    t->heap_index = SIZE_MAX;
    t->cb = cb;
    t->arg = arg;
}

bool reactor_timer_active(const reactor_timer *t)
{
    return t->heap_index != SIZE_MAX;
}

/* Disarms a timer. */
void reactor_timer_stop(reactor *r, reactor_timer *t)
{
    if (!reactor_timer_active(t))
        return;
    size_t i = t->heap_index;
    t->heap_index = SIZE_MAX;
    reactor_timer *last = r->heap[--r->nheap];
    if (i == r->nheap)
        return;
    heap_set(r, i, last);
    heap_up(r, i);
    heap_down(r, last->heap_index);
}

/* Arms a timer delay_ns from the reactor's current time. */
void reactor_timer_start(reactor *r, reactor_timer *t, uint64_t delay_ns)
{
    reactor_timer_stop(r, t);
    if (r->nheap == r->capheap) {
        r->capheap = r->capheap ? r->capheap * 2 : 16;
        r->heap = xrealloc(r->heap, r->capheap * sizeof *r->heap);
    }
    r->now_ns = monotonic_ns();
    t->deadline_ns = r->now_ns + delay_ns;
    t->seq = r->timer_seq++;
    r->heap[r->nheap++] = t;
    heap_up(r, r->nheap - 1);
}

/* Fires every timer whose deadline has passed, earliest first. */
static void reactor_fire_timers(reactor *r)
{
    while (r->nheap && r->heap[0]->deadline_ns <= r->now_ns) {
        reactor_timer *t = r->heap[0];
        reactor_timer_stop(r, t);
        STAT_ADD(r, timers_fired, 1);
        int rc = t->cb(t, t->arg);
        if (rc < 0)
            reactor_callback_failed(r, "timer", rc);
    }
}

/* ---- tasks ------------------------------------------------------------------------- */

void reactor_task_init(reactor_task *t, reactor_task_cb cb, void *arg)
{
    memset(t, 0, sizeof *t);
    t->cb = cb;
    t->arg = arg;
}

/* Appends t to a task list, unless it is queued already (on either list). */
static void task_append(reactor_task **head, reactor_task **tail, reactor_task *t)
{
    if (t->queued)
        return;
    t->queued = true;
    t->next = NULL;
    if (*tail)
        (*tail)->next = t;
    else
        *head = t;
    *tail = t;
}

/* Queues a task for the end of the turn. */
void reactor_task_schedule(reactor *r, reactor_task *t)
{
    task_append(&r->task_head, &r->task_tail, t);
}

/* Takes t out of one task list; true when it was there. */
static bool task_unlink(reactor_task **head, reactor_task **tail, reactor_task *t)
{
    reactor_task *prev = NULL;
    for (reactor_task *p = *head; p; prev = p, p = p->next) {
        if (p != t)
            continue;
        if (prev)
            prev->next = p->next;
        else
            *head = p->next;
        if (*tail == p)
            *tail = prev;
        return true;
    }
    return false;
}

/* Unqueues a task (normal or deferred). */
void reactor_task_cancel(reactor *r, reactor_task *t)
{
    if (!t->queued)
        return;
    if (!task_unlink(&r->task_head, &r->task_tail, t))
        task_unlink(&r->defer_head, &r->defer_tail, t);
    t->queued = false;
}

/* Queues a task for the end of the turn, after the task passes. */
void reactor_defer(reactor *r, reactor_task *t)
{
    task_append(&r->defer_head, &r->defer_tail, t);
}

/* Runs the tasks of one list as it is now; tasks they queue onto it run in a later pass. */
static void task_run_list(reactor *r, reactor_task **head, reactor_task **tail, const char *what)
{
    reactor_task *t = *head;
    *head = *tail = NULL;
    while (t) {
        reactor_task *next = t->next;
        t->queued = false;
        STAT_ADD(r, tasks_run, 1);
        int rc = t->cb(t, t->arg);
        if (rc < 0)
            reactor_callback_failed(r, what, rc);
        t = next;
    }
}

/* Runs the tasks queued so far; tasks they queue run in the next pass. */
static void reactor_run_tasks(reactor *r)
{
    task_run_list(r, &r->task_head, &r->task_tail, "task");
}

/* Runs the deferred tasks (frees); ones they defer run at the end of the next turn. */
static void reactor_run_deferred(reactor *r)
{
    task_run_list(r, &r->defer_head, &r->defer_tail, "deferred task");
}

/* ---- posts ------------------------------------------------------------------------- */

/* Queues a callback from any thread; only the first poster after a drain wakes. */
int reactor_post(reactor *r, reactor_post_cb cb, void *arg)
{
    pthread_mutex_lock(&r->post_mu);
    struct post_queue *q = &r->posts;
    if (q->len == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 64;
        q->items = xrealloc(q->items, q->cap * sizeof *q->items);
    }
    q->items[q->len++] = (struct post_item){cb, arg};
    pthread_mutex_unlock(&r->post_mu);
    atomic_fetch_add_explicit(&r->st.posts, 1, memory_order_relaxed);
    if (!atomic_exchange(&r->wake_pending, true)) {
        uint64_t one = 1;
        ssize_t w = write(r->efd, &one, sizeof one);
        (void)w; /* EAGAIN means the counter is already non-zero: a wake is pending */
        atomic_fetch_add_explicit(&r->st.post_wakes, 1, memory_order_relaxed);
    }
    return 0;
}

/* Runs every posted callback. The flag is cleared before the queue is taken, so a
 * poster that saw it set knows its item will be in this or a later drain. */
static void reactor_drain_posts(reactor *r)
{
    if (!atomic_load(&r->wake_pending))
        return;
    atomic_store(&r->wake_pending, false);
    pthread_mutex_lock(&r->post_mu);
    struct post_queue q = r->posts;
    r->posts = r->draining;
    r->posts.len = 0;
    pthread_mutex_unlock(&r->post_mu);
    for (size_t i = 0; i < q.len; i++) {
        int rc = q.items[i].cb(q.items[i].arg);
        if (rc < 0)
            reactor_callback_failed(r, "post", rc);
    }
    q.len = 0;
    r->draining = q;
}

/* ---- the loop ---------------------------------------------------------------------- */

/* How long the next wait may block: 0 with work pending, else until the nearest timer
 * (capped by limit_ns when that is >= 0), else forever (-1). */
static int64_t reactor_wait_budget(reactor *r, int64_t limit_ns)
{
    if (r->again_head || r->task_head || r->defer_head || atomic_load(&r->wake_pending) ||
        atomic_load_explicit(&r->stop, memory_order_relaxed))
        return 0;
    int64_t t = -1;
    if (r->nheap) {
        uint64_t d = r->heap[0]->deadline_ns;
        t = d > r->now_ns ? (int64_t)(d - r->now_ns) : 0;
    }
    if (limit_ns >= 0 && (t < 0 || t > limit_ns))
        t = limit_ns;
    return t;
}

/* One turn of the loop. */
static int reactor_turn(reactor *r, int64_t limit_ns)
{
    if (!r->started) {
        int rc = r->ops->thread_start(r);
        if (rc < 0)
            return rc;
        r->started = true;
    }
    STAT_ADD(r, turns, 1);
    r->now_ns = monotonic_ns();
    reactor_drain_posts(r);
    reactor_run_tasks(r);
    int rc = r->ops->wait(r, reactor_wait_budget(r, limit_ns));
    if (rc < 0 && rc != -EINTR)
        return rc;
    r->now_ns = monotonic_ns();
    /* Interactive first: what the other watchers queued (a keystroke written to its
     * PTY, an echo flushed to its client) runs before the bulk watchers and the
     * watchers that used up their quantum last turn. */
    if (r->bulk_last && r->again_head && r->task_head)
        reactor_run_task_passes(r);
    reactor_run_again(r);
    reactor_fire_timers(r);
    /* The end-of-tick flush: tasks that tasks queue (a session's notify queues its
     * clients' flushes) still run this turn, in a few bounded passes. */
    reactor_run_task_passes(r);
    /* Frees last: nothing this turn ran can still be holding what they free. */
    reactor_run_deferred(r);
    reactor_sweep_closed(r);
    return 0;
}

/* Runs until stopped. */
int reactor_run(reactor *r)
{
    int rc = 0;
    while (!atomic_load(&r->stop)) {
        rc = reactor_turn(r, -1);
        if (rc < 0) {
            log_error("reactor (%s) failed: %s", r->ops->name, strerror(-rc));
            break;
        }
    }
    /* Whatever was posted before the stop still runs. */
    reactor_drain_posts(r);
    reactor_run_tasks(r);
    reactor_run_deferred(r);
    atomic_store(&r->stop, false);
    return rc;
}

/* Runs queued tasks and frees without a turn (teardown). */
void reactor_run_pending(reactor *r)
{
    for (int pass = 0; pass < 8 && (r->task_head || r->defer_head); pass++) {
        reactor_run_tasks(r);
        reactor_run_deferred(r);
    }
}

/* Runs a single turn, blocking at most timeout_ms. */
int reactor_run_once(reactor *r, int timeout_ms)
{
    return reactor_turn(r, timeout_ms < 0 ? -1 : (int64_t)timeout_ms * 1000000);
}

/* Noop post used to wake a reactor. */
static int reactor_noop(void *arg)
{
    (void)arg;
    return 0;
}

/* Asks the reactor to return from reactor_run. */
void reactor_stop(reactor *r)
{
    atomic_store(&r->stop, true);
    reactor_post(r, reactor_noop, NULL);
}
