/* reactor_backend: the seam between the reactor core (reactor.c) and its two kernel
 * backends (reactor_uring.c, reactor_epoll.c). The core never sees io_uring or epoll;
 * a backend never sees timers, tasks or posts. Private to src/core. */
#ifndef PTYHUB_REACTOR_BACKEND_H
#define PTYHUB_REACTOR_BACKEND_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/reactor.h"

/* Per-watcher state. Backend fields are plain members: there are only two backends. */
struct reactor_io {
    reactor *r;
    int fd;
    unsigned want; /* events the user asked for */
    reactor_io_cb cb;
    void *arg;
    bool closing;  /* reactor_io_free was called: never call back again */
    bool on_again; /* queued on the again list */
    bool bulk;     /* called back after the turn's other work (reactor_io_set_bulk) */
    unsigned again_events;
    reactor_io *again_next;
    reactor_io *closing_next;
    reactor_io *all_prev, *all_next; /* every watcher not yet freed, for reactor_free */
    /* io_uring */
    bool poll_live;    /* a multishot poll naming this io is in the kernel */
    unsigned armed;    /* the events that poll was last armed or updated with */
    unsigned inflight; /* requests in the kernel (or the backlog) that name this io */
    bool on_backlog;   /* waiting for a free SQE */
    reactor_io *backlog_next;
    /* epoll */
    bool registered;
};

struct reactor_backend_ops {
    const char *name;
    /* Sets up kernel state; called from reactor_new. */
    int (*init)(reactor *r, const reactor_config *cfg);
    /* Tears down kernel state. */
    void (*deinit)(reactor *r);
    /* Called once, on the thread that runs the reactor, before its first wait. */
    int (*thread_start)(reactor *r);
    /* Makes the kernel watch io->want (0: stop reporting). */
    int (*io_update)(reactor *r, reactor_io *io);
    /* Stops watching for good; io->inflight tells when the memory may go. */
    void (*io_detach)(reactor *r, reactor_io *io);
    /* Waits up to timeout_ns (-1: forever, 0: poll) and dispatches what arrived. */
    int (*wait)(reactor *r, int64_t timeout_ns);
    /* Dispatches completions the kernel has already queued, without a system call;
     * returns how many. NULL where that is not possible (epoll). */
    unsigned (*peek)(reactor *r);
};

extern const struct reactor_backend_ops reactor_uring_ops;
extern const struct reactor_backend_ops reactor_epoll_ops;

/* Called by a backend for each readiness event. */
void reactor_dispatch(reactor *r, reactor_io *io, unsigned events);
/* Per-reactor backend storage (opaque to the core). */
void *reactor_backend_data(reactor *r);
void reactor_set_backend_data(reactor *r, void *data);
/* Counter bump for the backends (single writer: the reactor thread). */
enum reactor_stat {
    RSTAT_WAKES,
    RSTAT_COMPLETIONS,
    RSTAT_REARMS,
    RSTAT_CQ_OVERFLOWS,
    RSTAT_SQ_FULL
};
void reactor_stat_add(reactor *r, enum reactor_stat which, uint64_t n);
/* Probes io_uring: 0 when usable, else -errno with *why set to a static reason. */
int reactor_uring_probe(const char **why);

#endif
