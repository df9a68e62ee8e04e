/* reactor_uring: the io_uring backend.
 *
 * Each watcher is one multishot poll (IORING_POLL_ADD_MULTI) whose user_data is the
 * watcher's address; changing its events is a poll update that keeps it multishot, and
 * pausing it is a poll remove. Control requests (update, remove) carry the address with
 * bit 0 set so their completions are told apart. Every request that names a watcher is
 * counted in io->inflight, and the core frees a closed watcher only when that count is
 * back to zero: closing an fd does not cancel its requests, the completions still come.
 *
 * A multishot poll ends whenever the kernel decides (a completion without
 * IORING_CQE_F_MORE); it is re-armed right away if the watcher still wants events.
 * Set-up follows the field notes: SINGLE_ISSUER|DEFER_TASKRUN when the kernel has them
 * (the ring starts disabled and is enabled by the thread that runs it, which is then its
 * only submitter), a CQ four times the SQ, the ring fd registered, a full SQ submitted
 * early, and CQ overflow drained and counted. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "core/log.h"
#include "core/reactor_backend.h"
#include "core/xalloc.h"

#define URING_CONTROL 1ull /* user_data bit: a poll update/remove, not the poll itself */

struct uring_backend {
    struct io_uring ring;
    bool disabled;       /* created with R_DISABLED: enable on the running thread */
    reactor_io *backlog; /* watchers that found the SQ full */
    uint64_t peek_ns;    /* when ur_peek last entered the kernel */
};

/* ur_peek enters the kernel (io_uring_get_events) at most this often: under 8 floods
 * every bulk callback finds completions pending, and entering after each one cost
 * about 20 % more CPU per byte; every 50 us kept the keystroke p99 and most of that. */
#define URING_PEEK_INTERVAL_NS (50u * 1000)

/* Probes whether io_uring is usable for this reactor: set-up, the opcodes we use, the
 * extended wait argument, and a multishot poll that really stays armed. */
int reactor_uring_probe(const char **why)
{
    struct io_uring ring;
    int rc = io_uring_queue_init(8, &ring, 0);
    if (rc < 0) {
        *why = rc == -EPERM    ? "io_uring set-up not permitted (io_uring_disabled or seccomp)"
               : rc == -ENOSYS ? "io_uring not in this kernel"
                               : "io_uring set-up failed";
        return rc;
    }
    rc = 0;
    struct io_uring_probe *p = io_uring_get_probe_ring(&ring);
    if (!p || !io_uring_opcode_supported(p, IORING_OP_POLL_ADD) ||
        !io_uring_opcode_supported(p, IORING_OP_POLL_REMOVE)) {
        *why = "io_uring lacks POLL_ADD/POLL_REMOVE";
        rc = -ENOTSUP;
    } else if (!(ring.features & IORING_FEAT_EXT_ARG) || !(ring.features & IORING_FEAT_NODROP)) {
        *why = "io_uring lacks EXT_ARG/NODROP (kernel older than 5.11)";
        rc = -ENOTSUP;
    }
    if (p)
        io_uring_free_probe(p);
    int fds[2] = {-1, -1};
    if (rc == 0 && pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        *why = "pipe2 failed during io_uring probe";
        rc = -errno;
    }
    if (rc == 0) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
        io_uring_prep_poll_multishot(sqe, fds[0], POLLIN);
        sqe->user_data = 42;
        io_uring_submit(&ring);
        ssize_t w = write(fds[1], "x", 1);
        (void)w;
        struct io_uring_cqe *cqe;
        struct __kernel_timespec ts = {.tv_sec = 1};
        rc = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
        if (rc < 0 || cqe->user_data != 42 || !(cqe->res & POLLIN) ||
            !(cqe->flags & IORING_CQE_F_MORE)) {
            *why = "io_uring multishot poll unsupported (kernel older than 5.13)";
            rc = rc < 0 ? rc : -ENOTSUP;
        }
    }
    if (fds[0] >= 0) {
        close(fds[0]);
        close(fds[1]);
    }
    io_uring_queue_exit(&ring);
    return rc;
}

/* Sets up the ring, dropping flags the kernel refuses. */
static int ur_init(reactor *r, const reactor_config *cfg)
{
    struct uring_backend *b = xcalloc(1, sizeof *b);
    unsigned sq = cfg->sq_entries ? cfg->sq_entries : 256;
    unsigned cq = cfg->cq_entries ? cfg->cq_entries : 4 * sq;
    /* TASKRUN_FLAG: the kernel sets IORING_SQ_TASKRUN while completions wait for this
     * thread to run them (with DEFER_TASKRUN that is only io_uring_enter), so ur_peek
     * can tell without a system call whether entering would find anything. */
    static const unsigned tries[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
            IORING_SETUP_R_DISABLED,
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
        IORING_SETUP_R_DISABLED,
        0,
    };
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = tries[i] | IORING_SETUP_CQSIZE;
        p.cq_entries = cq;
        rc = io_uring_queue_init_params(sq, &b->ring, &p);
        if (rc == 0) {
            b->disabled = tries[i] & IORING_SETUP_R_DISABLED;
            if (i > 0)
                log_debug("io_uring: set-up without SINGLE_ISSUER|DEFER_TASKRUN");
            break;
        }
        if (rc != -EINVAL)
            break;
    }
    if (rc < 0) {
        free(b);
        return rc;
    }
    reactor_set_backend_data(r, b);
    return 0;
}

/* Tears the ring down; the kernel cancels whatever is still in flight. */
static void ur_deinit(reactor *r)
{
    struct uring_backend *b = reactor_backend_data(r);
    if (!b)
        return;
    io_uring_queue_exit(&b->ring);
    free(b);
    reactor_set_backend_data(r, NULL);
}

/* liburing 2.3 declares io_uring_enable_rings but does not export it: call the register
 * opcode directly. The ring fd is used as is (not yet registered). */
static int ur_enable_rings(struct io_uring *ring)
{
    long rc = syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
    return rc < 0 ? -errno : 0;
}

/* Enables the ring on the running thread (making it the single issuer) and registers
 * the ring fd for cheaper io_uring_enter calls; a failed registration is harmless. */
static int ur_thread_start(reactor *r)
{
    struct uring_backend *b = reactor_backend_data(r);
    if (b->disabled) {
        int rc = ur_enable_rings(&b->ring);
        if (rc < 0)
            return rc;
        b->disabled = false;
    }
    (void)io_uring_register_ring_fd(&b->ring);
    return 0;
}

/* Returns a free SQE, submitting early when the queue is full; NULL when none can be had
 * (the ring is not enabled yet, or the kernel keeps refusing). */
static struct io_uring_sqe *ur_sqe(reactor *r)
{
    struct uring_backend *b = reactor_backend_data(r);
    struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
    for (int tries = 0; !sqe && !b->disabled && tries < 4; tries++) {
        reactor_stat_add(r, RSTAT_SQ_FULL, 1);
        int rc = io_uring_submit(&b->ring);
        if (rc == -EBUSY) {
            reactor_stat_add(r, RSTAT_CQ_OVERFLOWS, 1);
            io_uring_get_events(&b->ring);
        }
        sqe = io_uring_get_sqe(&b->ring);
    }
    if (!sqe)
        reactor_stat_add(r, RSTAT_SQ_FULL, 1);
    return sqe;
}

/* Translates requested events to a poll mask. */
static unsigned ur_mask(unsigned want)
{
    unsigned m = 0;
    if (want & REACTOR_READ)
        m |= POLLIN | POLLRDHUP;
    if (want & REACTOR_WRITE)
        m |= POLLOUT;
    return m;
}

/* Parks a watcher until SQEs are available again; the backlog counts as in flight so a
 * closed watcher is not freed while parked. */
static void ur_backlog(struct uring_backend *b, reactor_io *io)
{
    if (io->on_backlog)
        return;
    io->on_backlog = true;
    io->inflight++;
    io->backlog_next = b->backlog;
    b->backlog = io;
}

/* Makes the kernel's poll match what the watcher wants now: arm a multishot poll, update
 * its mask (staying multishot), or remove it (paused or closing). Idempotent. When the
 * poll has already ended in the kernel, an update or remove fails with -ENOENT and the
 * poll's final completion re-arms with the latest wish. */
static void ur_sync(reactor *r, reactor_io *io)
{
    struct uring_backend *b = reactor_backend_data(r);
    unsigned target = io->closing ? 0 : io->want;
    if (!io->poll_live ? !target : io->armed == target)
        return;
    struct io_uring_sqe *sqe = ur_sqe(r);
    if (!sqe) {
        ur_backlog(b, io);
        return;
    }
    uint64_t ud = (uint64_t)(uintptr_t)io;
    if (!io->poll_live) {
        io_uring_prep_poll_multishot(sqe, io->fd, ur_mask(target));
        io_uring_sqe_set_data64(sqe, ud);
        io->poll_live = true;
    } else {
        if (target)
            io_uring_prep_poll_update(sqe, ud, ud, ur_mask(target),
                                      IORING_POLL_UPDATE_EVENTS | IORING_POLL_UPDATE_USER_DATA |
                                          IORING_POLL_ADD_MULTI);
        else
            io_uring_prep_poll_remove(sqe, ud);
        io_uring_sqe_set_data64(sqe, ud | URING_CONTROL);
    }
    io->armed = target;
    io->inflight++;
}

/* Retries watchers that could not get an SQE earlier. */
static void ur_flush_backlog(reactor *r, struct uring_backend *b)
{
    reactor_io *io = b->backlog;
    b->backlog = NULL;
    while (io) {
        reactor_io *next = io->backlog_next;
        io->on_backlog = false;
        io->inflight--;
        ur_sync(r, io);
        io = next;
    }
}

/* Applies a changed io->want. */
static int ur_io_update(reactor *r, reactor_io *io)
{
    ur_sync(r, io);
    return 0;
}

/* Cancels the watcher's poll and submits at once, while the caller's fd is still open,
 * so no queued request can meet a reused fd number. */
static void ur_io_detach(reactor *r, reactor_io *io)
{
    struct uring_backend *b = reactor_backend_data(r);
    ur_sync(r, io);
    if (!b->disabled && io_uring_sq_ready(&b->ring))
        io_uring_submit(&b->ring);
}

/* Handles one completion. */
static void ur_complete(reactor *r, struct io_uring_cqe *cqe)
{
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    reactor_io *io = (reactor_io *)(uintptr_t)(ud & ~URING_CONTROL);
    if (ud & URING_CONTROL) {
        io->inflight--;
        if (cqe->res == -EALREADY && io->poll_live) {
            /* The poll was mid-wake-up and kept its old mask: ask again. */
            io->armed = ~0u;
            ur_sync(r, io);
        } else if (cqe->res < 0 && cqe->res != -ENOENT && cqe->res != -EALREADY) {
            log_warn("io_uring poll update on fd %d: %s", io->fd, strerror(-cqe->res));
        }
        return;
    }
    bool more = cqe->flags & IORING_CQE_F_MORE;
    if (!more) {
        io->poll_live = false;
        io->inflight--;
    }
    if (cqe->res > 0) {
        unsigned ev = 0;
        if (cqe->res & (POLLIN | POLLRDHUP))
            ev |= REACTOR_READ;
        if (cqe->res & POLLRDHUP)
            ev |= REACTOR_RDHUP;
        if (cqe->res & POLLOUT)
            ev |= REACTOR_WRITE;
        if (cqe->res & (POLLERR | POLLHUP | POLLNVAL))
            ev |= REACTOR_ERR;
        reactor_dispatch(r, io, ev);
    } else if (cqe->res < 0 && cqe->res != -ECANCELED && !io->closing) {
        log_debug("io_uring poll on fd %d ended: %s", io->fd, strerror(-cqe->res));
        reactor_dispatch(r, io, REACTOR_ERR);
    }
    if (!io->poll_live && !io->closing && io->want) {
        if (cqe->res != -ECANCELED)
            reactor_stat_add(r, RSTAT_REARMS, 1);
        ur_sync(r, io);
    }
}

/* Reaps everything in the CQ. */
static unsigned ur_reap(reactor *r, struct uring_backend *b)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&b->ring, head, cqe)
    {
        ur_complete(r, cqe);
        n++;
    }
    io_uring_cq_advance(&b->ring, n);
    return n;
}

/* Submits pending requests, waits for at least one completion or the timeout, and
 * handles every completion, flushing any CQ overflow backlog. */
static int ur_wait(reactor *r, int64_t timeout_ns)
{
    struct uring_backend *b = reactor_backend_data(r);
    struct io_uring_cqe *cqe = NULL;
    struct __kernel_timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        tsp = &ts;
    }
    ur_flush_backlog(r, b);
    if (b->backlog)
        tsp = &ts, ts.tv_sec = 0, ts.tv_nsec = 0; /* still parked: do not sleep */
    int rc = io_uring_submit_and_wait_timeout(&b->ring, &cqe, 1, tsp, NULL);
    if (timeout_ns != 0)
        reactor_stat_add(r, RSTAT_WAKES, 1);
    if (rc == -EBUSY) {
        reactor_stat_add(r, RSTAT_CQ_OVERFLOWS, 1);
        rc = 0;
    }
    if (rc < 0 && rc != -ETIME && rc != -EINTR)
        return rc;
    unsigned total = ur_reap(r, b);
    while (IO_URING_READ_ONCE(*b->ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW) {
        reactor_stat_add(r, RSTAT_CQ_OVERFLOWS, 1);
        io_uring_get_events(&b->ring);
        unsigned n = ur_reap(r, b);
        total += n;
        if (n == 0)
            break;
    }
    reactor_stat_add(r, RSTAT_COMPLETIONS, total);
    return 0;
}

/* Dispatches completions that arrived since the wait: those already in the CQ, and
 * those the kernel holds for this thread (IORING_SQ_TASKRUN; with DEFER_TASKRUN a poll
 * wake-up becomes a CQE only in io_uring_enter), entering the kernel only then and at
 * most every URING_PEEK_INTERVAL_NS. */
static unsigned ur_peek(reactor *r)
{
    struct uring_backend *b = reactor_backend_data(r);
    if (io_uring_cq_ready(&b->ring) == 0) {
        if (!(IO_URING_READ_ONCE(*b->ring.sq.kflags) & IORING_SQ_TASKRUN))
            return 0;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        if (now - b->peek_ns < URING_PEEK_INTERVAL_NS)
            return 0;
        b->peek_ns = now;
        io_uring_get_events(&b->ring);
        if (io_uring_cq_ready(&b->ring) == 0)
            return 0;
    }
    unsigned n = ur_reap(r, b);
    reactor_stat_add(r, RSTAT_COMPLETIONS, n);
    return n;
}

const struct reactor_backend_ops reactor_uring_ops = {
    .name = "uring",
    .init = ur_init,
    .deinit = ur_deinit,
    .thread_start = ur_thread_start,
    .io_update = ur_io_update,
    .io_detach = ur_io_detach,
    .wait = ur_wait,
    .peek = ur_peek,
};
