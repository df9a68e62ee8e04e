/* reactor: the event loop every ptyhub thread runs.
 *
 * One API, two backends (io_uring via liburing, and epoll), chosen at creation. The
 * core offers four things and nothing else:
 *   - fd readiness watchers (read/write), edge-triggered: a callback must consume
 *     until EAGAIN, or call reactor_io_again() to be called once more next turn
 *     (that is how read quanta stay fair without losing readiness);
 *   - timers, in a heap; the kernel is only ever armed for the nearest deadline;
 *   - tasks: caller-owned callbacks scheduled to run at the end of the current turn
 *     (used to flush subscribers once per tick and to free objects a turn later);
 *   - posts: the only thread-safe entry point, callbacks queued from any thread and
 *     run on the reactor before it next waits, with one coalesced eventfd wake.
 *
 * A reactor is used by one thread at a time (the one calling reactor_run); only
 * reactor_post(), reactor_stop() and reactor_stats_get() may be called from others.
 * Callbacks return 0 or a negative errno; a negative return is logged and counted and
 * the reactor keeps running.
 */
#ifndef PTYHUB_REACTOR_H
#define PTYHUB_REACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct reactor reactor;
typedef struct reactor_io reactor_io;

enum reactor_backend_kind { REACTOR_AUTO, REACTOR_URING, REACTOR_EPOLL };

/* Event bits for watchers. REACTOR_ERR is always reported, never requested. */
enum {
    REACTOR_READ = 1u << 0,
    REACTOR_WRITE = 1u << 1,
    REACTOR_ERR = 1u << 2, /* POLLERR/POLLHUP: the next read or write tells what happened */
    /* With READ: the peer shut down its writing side (POLLRDHUP). A reader that stops at a
     * short read must read on to see the end of file when this is set: no later edge
     * will come for it. Reported, never requested. */
    REACTOR_RDHUP = 1u << 3,
};

typedef struct reactor_config {
    enum reactor_backend_kind backend; /* REACTOR_AUTO: io_uring if the probe passes */
    unsigned sq_entries;               /* io_uring submission queue size (0: 256) */
    unsigned cq_entries;               /* completion queue size (0: 4x sq_entries) */
    bool bulk_last; /* readiness of bulk watchers waits for the turn's other work */
} reactor_config;

/* Counters kept per reactor. Read them from any thread with reactor_stats_get(). */
typedef struct reactor_stats {
    uint64_t turns;           /* loop iterations */
    uint64_t wakes;           /* kernel waits allowed to block (timeout != 0) */
    uint64_t completions;     /* kernel events handled (CQEs or epoll events) */
    uint64_t io_events;       /* watcher callbacks invoked */
    uint64_t posts;           /* callbacks posted to this reactor */
    uint64_t post_wakes;      /* eventfd writes made by posters (coalesced) */
    uint64_t rearms;          /* multishot polls re-armed after the kernel ended them */
    uint64_t cq_overflows;    /* times the CQ overflowed or submit said -EBUSY */
    uint64_t sq_full;         /* times the SQ was full and was submitted early */
    uint64_t timers_fired;    /* timer callbacks run */
    uint64_t tasks_run;       /* end-of-turn tasks run */
    uint64_t callback_errors; /* callbacks that returned a negative errno */
    uint64_t bulk_deferred;   /* bulk readiness events run after the turn's other work */
    uint64_t bulk_peeks;      /* completions found between bulk callbacks (io_uring) */
} reactor_stats;

typedef int (*reactor_io_cb)(reactor_io *io, unsigned events, void *arg);
typedef int (*reactor_post_cb)(void *arg);

/* A timer lives in caller storage; initialise once, then start/stop freely. */
typedef struct reactor_timer reactor_timer;
typedef int (*reactor_timer_cb)(reactor_timer *t, void *arg);
struct reactor_timer {
    uint64_t deadline_ns; /* CLOCK_MONOTONIC */
    size_t heap_index;    /* SIZE_MAX when not armed */
    uint64_t seq;         /* tie-breaker: equal deadlines fire in start order */
    reactor_timer_cb cb;
    void *arg;
};

/* A task lives in caller storage; scheduling it twice before it runs runs it once. */
typedef struct reactor_task reactor_task;
typedef int (*reactor_task_cb)(reactor_task *t, void *arg);
struct reactor_task {
    reactor_task *next;
    bool queued;
    reactor_task_cb cb;
    void *arg;
};

/* Creates a reactor. On REACTOR_AUTO it probes io_uring and falls back to epoll,
 * logging which backend it chose and why. Returns 0 or a negative errno. */
int reactor_new(reactor **out, const reactor_config *cfg);
/* Frees a reactor that is not running. Watchers still registered are freed too. */
void reactor_free(reactor *r);
/* "uring" or "epoll". */
const char *reactor_backend_name(const reactor *r);
/* Why auto chose what it chose (a static string), for logs and /metrics. */
const char *reactor_backend_reason(const reactor *r);

/* Runs turns until reactor_stop(). Returns 0 or a negative errno on a fatal failure. */
int reactor_run(reactor *r);
/* Runs one turn, waiting at most timeout_ms for events (-1: no limit). For tests. */
int reactor_run_once(reactor *r, int timeout_ms);
/* Runs the tasks and deferred tasks queued so far, touching no kernel state: for
 * teardown, after reactor_run returned, when closing objects queued their frees. */
void reactor_run_pending(reactor *r);
/* Asks the reactor to return from reactor_run after its current turn. Thread-safe. */
void reactor_stop(reactor *r);
/* How many turns the reactor has begun (the current turn's number, on its thread). */
uint64_t reactor_turn_number(const reactor *r);
/* The reactor's cached CLOCK_MONOTONIC time in nanoseconds, updated each turn. */
uint64_t reactor_now_ns(const reactor *r);
/* Reads the counters. Thread-safe (relaxed loads; each value is exact on its own). */
void reactor_stats_get(const reactor *r, reactor_stats *out);

/* Watches fd (which the caller keeps owning and closes) for the given events.
 * Returns NULL-free: on success *out is set and 0 returned, else a negative errno. */
int reactor_io_new(reactor *r, int fd, unsigned events, reactor_io_cb cb, void *arg,
                   reactor_io **out);
/* Changes the watched events (0 pauses the watcher without freeing it). */
int reactor_io_set(reactor_io *io, unsigned events);
/* The events currently requested. */
unsigned reactor_io_events(const reactor_io *io);
/* The watched fd. */
int reactor_io_fd(const reactor_io *io);
/* Asks for the callback to run again next turn with these events, without waiting for
 * the kernel (the fd still has data but the caller used up its quantum). */
void reactor_io_again(reactor_io *io, unsigned events);
/* Marks a watcher bulk (or not). On a reactor created with bulk_last, a bulk watcher's
 * readiness is not called back where the kernel reports it: it waits until every other
 * watcher of the turn has been called and the tasks they queued have run once, so that
 * a keystroke and its echo never wait behind bulk reads and the writes they cause. */
void reactor_io_set_bulk(reactor_io *io, bool bulk);
/* Stops watching. The callback is never called again; the memory is released only after
 * the kernel has returned every request that names it, so the caller may close the fd
 * right after this call. Accepts NULL. */
void reactor_io_free(reactor_io *io);

/* Prepares a timer; it is not armed. */
void reactor_timer_init(reactor_timer *t, reactor_timer_cb cb, void *arg);
/* Arms (or re-arms) a timer to fire once, delay_ns from now. */
void reactor_timer_start(reactor *r, reactor_timer *t, uint64_t delay_ns);
/* Disarms a timer; a no-op when it is not armed (also from inside its own callback). */
void reactor_timer_stop(reactor *r, reactor_timer *t);
/* True while armed. */
bool reactor_timer_active(const reactor_timer *t);

/* Prepares a task. */
void reactor_task_init(reactor_task *t, reactor_task_cb cb, void *arg);
/* Queues a task to run at the end of this turn; a task queued by a task runs in a later
 * pass of the same end-of-turn phase (up to 4 passes, then next turn). Idempotent while
 * queued. */
void reactor_task_schedule(reactor *r, reactor_task *t);
/* Removes a queued task; a no-op when it is not queued. */
void reactor_task_cancel(reactor *r, reactor_task *t);
/* Queues a task for the very end of the turn, after every end-of-turn pass: the place
 * to free an object that this turn's tasks, timers or callbacks may still name (a
 * closed connection, a removed session). Deferred tasks must not schedule tasks for
 * objects they free; tasks they schedule run next turn. Shares `queued` with
 * reactor_task_schedule: a task is either a normal task or a deferred one. */
void reactor_defer(reactor *r, reactor_task *t);

/* Queues cb(arg) to run on r's thread before r next waits. Thread-safe. Only the first
 * poster after the reactor drained its queue writes the eventfd. Returns 0 or -errno. */
int reactor_post(reactor *r, reactor_post_cb cb, void *arg);

/* Parses "auto|uring|epoll". Returns 0 or -EINVAL. */
int reactor_backend_parse(const char *s, enum reactor_backend_kind *out);

#endif
