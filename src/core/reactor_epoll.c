/* reactor_epoll: the epoll backend. Edge-triggered registrations, so the semantics match
 * the io_uring backend's multishot polls: a watcher hears about each new readiness edge
 * and consumes until EAGAIN (or asks to be called again). Pausing a watcher keeps the
 * registration with an empty mask; re-enabling it makes epoll re-check the fd, which
 * reports data that arrived while paused. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "core/reactor_backend.h"
#include "core/xalloc.h"

#define EPOLL_BATCH 256

struct epoll_backend {
    int epfd;
    struct epoll_event events[EPOLL_BATCH];
    uint64_t peek_ns; /* when ep_peek (or, as 0, the wait) last looked */
};

/* ep_peek looks at most this often (see URING_PEEK_INTERVAL_NS). */
#define EPOLL_PEEK_INTERVAL_NS (50u * 1000)

/* Creates the epoll instance. */
static int ep_init(reactor *r, const reactor_config *cfg)
{
    (void)cfg;
    struct epoll_backend *b = xcalloc(1, sizeof *b);
    b->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (b->epfd < 0) {
        int rc = -errno;
        free(b);
        return rc;
    }
    reactor_set_backend_data(r, b);
    return 0;
}

/* Closes the epoll instance. */
static void ep_deinit(reactor *r)
{
    struct epoll_backend *b = reactor_backend_data(r);
    if (!b)
        return;
    close(b->epfd);
    free(b);
    reactor_set_backend_data(r, NULL);
}

/* Nothing is tied to a thread with epoll. */
static int ep_thread_start(reactor *r)
{
    (void)r;
    return 0;
}

/* Translates requested events into an edge-triggered epoll mask. */
static uint32_t ep_mask(unsigned want)
{
    uint32_t m = EPOLLET;
    if (want & REACTOR_READ)
        m |= EPOLLIN | EPOLLRDHUP;
    if (want & REACTOR_WRITE)
        m |= EPOLLOUT;
    return m;
}

/* Adds or modifies the registration to match io->want. */
static int ep_io_update(reactor *r, reactor_io *io)
{
    struct epoll_backend *b = reactor_backend_data(r);
    struct epoll_event ev = {.events = ep_mask(io->want), .data.ptr = io};
    int op = io->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(b->epfd, op, io->fd, &ev) < 0)
        return -errno;
    io->registered = true;
    return 0;
}

/* Removes the registration; epoll holds no reference afterwards. */
static void ep_io_detach(reactor *r, reactor_io *io)
{
    struct epoll_backend *b = reactor_backend_data(r);
    if (io->registered)
        epoll_ctl(b->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->registered = false;
}

/* Waits and dispatches one batch. Watchers freed by earlier callbacks in the batch are
 * still allocated (freeing waits for the end of the turn) and are skipped as closing. */
/* Hands n events of b->events to the core. */
static void ep_dispatch(reactor *r, struct epoll_backend *b, int n)
{
    for (int i = 0; i < n; i++) {
        uint32_t e = b->events[i].events;
        unsigned ev = 0;
        if (e & (EPOLLIN | EPOLLRDHUP))
            ev |= REACTOR_READ;
        if (e & EPOLLRDHUP)
            ev |= REACTOR_RDHUP;
        if (e & EPOLLOUT)
            ev |= REACTOR_WRITE;
        if (e & (EPOLLERR | EPOLLHUP))
            ev |= REACTOR_ERR;
        reactor_dispatch(r, b->events[i].data.ptr, ev);
    }
}

static int ep_wait(reactor *r, int64_t timeout_ns)
{
    struct epoll_backend *b = reactor_backend_data(r);
    int ms = -1;
    if (timeout_ns >= 0) {
        int64_t v = (timeout_ns + 999999) / 1000000;
        ms = v > INT_MAX ? INT_MAX : (int)v;
    }
    int n = epoll_wait(b->epfd, b->events, EPOLL_BATCH, ms);
    if (ms != 0)
        reactor_stat_add(r, RSTAT_WAKES, 1);
    if (n < 0)
        return -errno;
    reactor_stat_add(r, RSTAT_COMPLETIONS, (uint64_t)n);
    ep_dispatch(r, b, n);
    b->peek_ns = 0;
    return 0;
}

/* Between bulk callbacks: a non-blocking epoll_wait, at most every EPOLL_PEEK_INTERVAL_NS
 * (a system call each time, unlike io_uring's look at shared memory). Edge-triggered,
 * so what it reports is new. */
static unsigned ep_peek(reactor *r)
{
    struct epoll_backend *b = reactor_backend_data(r);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    if (b->peek_ns == 0)
        b->peek_ns = now; /* the wait itself just looked */
    if (now - b->peek_ns < EPOLL_PEEK_INTERVAL_NS)
        return 0;
    b->peek_ns = now;
    int n = epoll_wait(b->epfd, b->events, EPOLL_BATCH, 0);
    if (n <= 0)
        return 0;
    reactor_stat_add(r, RSTAT_COMPLETIONS, (uint64_t)n);
    ep_dispatch(r, b, n);
    return (unsigned)n;
}

const struct reactor_backend_ops reactor_epoll_ops = {
    .name = "epoll",
    .init = ep_init,
    .deinit = ep_deinit,
    .thread_start = ep_thread_start,
    .io_update = ep_io_update,
    .io_detach = ep_io_detach,
    .wait = ep_wait,
    .peek = ep_peek,
};
