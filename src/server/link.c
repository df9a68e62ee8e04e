/* link: the connection lifecycle shared by every kind of client (see link.h). */
#include "server/link.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "server/hub.h"

#define LINK_IN_INITIAL 8192u

static int link_io_cb(reactor_io *io, unsigned events, void *arg);

/* Writes what is queued: the layer's flush, or the owned output queue. */
static void link_flush(struct link *l)
{
    l->last_flush_ns = reactor_now_ns(l->r);
    if (l->ops->flush)
        l->ops->flush(l);
    else
        link_flush_out(l);
}

/* The end-of-turn flush. */
static int link_flush_task(reactor_task *t, void *arg)
{
    (void)t;
    struct link *l = arg;
    if (!l->closing && !l->moving)
        link_flush(l);
    return 0;
}

/* The layer's request loop, run from a task (link_wake). */
static int link_process_task(reactor_task *t, void *arg)
{
    (void)t;
    struct link *l = arg;
    if (l->closing || l->moving)
        return 0;
    l->ops->process(l);
    if (!l->closing && !l->moving)
        link_update(l);
    return 0;
}

/* The coalescing interval is over: flush now. */
static int link_coalesce_cb(reactor_timer *t, void *arg)
{
    (void)t;
    struct link *l = arg;
    if (!l->closing && !l->moving)
        reactor_task_schedule(l->r, &l->flush_task);
    return 0;
}

/* Releases a closed link's memory, fds and budget slot: the last step, deferred to the
 * very end of the turn it closed in. */
static int link_free_task(reactor_task *t, void *arg)
{
    (void)t;
    struct link *l = arg;
    hub_link_track(l->w, &l->track, false);
    if (l->ops->on_free)
        l->ops->on_free(l);
    if (l->rfd > 2)
        close(l->rfd);
    if (l->wfd != l->rfd && l->wfd > 2)
        close(l->wfd);
    if (l->cls >= 0)
        hub_conn_release(worker_server(l->w), (enum hub_class)l->cls);
    free(l->in);
    bytebuf_free(&l->out);
    free(l);
    return 0;
}

/* Hands a moving link to its new worker (posted at the end of the turn it moved in). */
static int link_adopt_post(void *arg)
{
    struct link *l = arg;
    l->r = worker_reactor(l->w);
    l->moving = false;
    hub_link_track(l->w, &l->track, true);
    int rc = reactor_io_new(l->r, l->rfd, REACTOR_READ, link_io_cb, l, &l->rio);
    if (rc == 0 && l->rfd != l->wfd)
        rc = reactor_io_new(l->r, l->wfd, 0, link_io_cb, l, &l->wio);
    if (rc < 0) {
        reactor_io_free(l->rio);
        l->rio = NULL;
        link_close(l, "cannot watch the connection after hand-over");
        return rc;
    }
    l->ops->process(l);
    if (!l->closing && !l->moving) {
        link_want_flush(l);
        link_update(l);
    }
    return 0;
}

/* Publishes a moving link to the other thread, now that nothing up this thread's stack
 * still uses it. */
static int link_move_task(reactor_task *t, void *arg)
{
    (void)t;
    struct link *l = arg;
    return reactor_post(worker_reactor(l->w), link_adopt_post, l);
}

/* Creates a link and starts watching its fds. */
struct link *link_new(struct worker *w, int rfd, int wfd, int cls, const struct link_ops *ops,
                      void *layer)
{
    struct link *l = xcalloc(1, sizeof *l);
    l->w = w;
    l->r = worker_reactor(w);
    l->rfd = rfd;
    l->wfd = wfd;
    l->cls = cls;
    l->ops = ops;
    l->layer = layer;
    l->in_max = 64 * 1024;
    l->out_high = 256 * 1024;
    l->read_quantum = 256 * 1024;
    reactor_task_init(&l->flush_task, link_flush_task, l);
    reactor_task_init(&l->process_task, link_process_task, l);
    reactor_task_init(&l->free_task, link_free_task, l);
    reactor_task_init(&l->move_task, link_move_task, l);
    reactor_timer_init(&l->coalesce_timer, link_coalesce_cb, l);
    int rc = reactor_io_new(l->r, rfd, REACTOR_READ, link_io_cb, l, &l->rio);
    if (rc == 0 && rfd != wfd)
        rc = reactor_io_new(l->r, wfd, 0, link_io_cb, l, &l->wio);
    if (rc < 0) {
        log_error("cannot watch a new connection: %s", strerror(-rc));
        reactor_io_free(l->rio);
        free(l);
        return NULL;
    }
    hub_link_track(w, &l->track, true);
    return l;
}

/* Swaps the layer in place (HTTP to WebSocket). */
void link_set_layer(struct link *l, const struct link_ops *ops, void *layer)
{
    l->ops = ops;
    l->layer = layer;
}

/* Schedules the layer's request loop from a task. */
void link_wake(struct link *l)
{
    if (!l->closing && !l->moving)
        reactor_task_schedule(l->r, &l->process_task);
}

/* Schedules a flush at the end of this turn, or after the coalescing interval. */
void link_want_flush(struct link *l)
{
    if (l->closing || l->moving)
        return;
    if (l->coalesce_ns) {
        uint64_t now = reactor_now_ns(l->r), due = l->last_flush_ns + l->coalesce_ns;
        if (now < due) {
            if (!reactor_timer_active(&l->coalesce_timer))
                reactor_timer_start(l->r, &l->coalesce_timer, due - now);
            return;
        }
    }
    reactor_task_schedule(l->r, &l->flush_task);
}

/* Drops consumed bytes from the front of in. */
void link_consume(struct link *l, size_t n)
{
    if (n == 0)
        return;
    memmove(l->in, l->in + n, l->inlen - n);
    l->inlen -= n;
}

/* One gathered write; errors other than a full fd close the link. */
ssize_t link_writev(struct link *l, const struct iovec *iov, int iovcnt)
{
    for (;;) {
        ssize_t n = writev(l->wfd, iov, iovcnt);
        if (n >= 0) {
            hub_count_bytes(l->w, 0, (uint64_t)n);
            return n;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            return 0;
        link_close(l, strerror(errno));
        return -1;
    }
}

/* Writes the owned output queue. */
void link_flush_out(struct link *l)
{
    while (l->out.len && !l->closing) {
        struct iovec v = {l->out.data + l->out.head, l->out.len};
        ssize_t n = link_writev(l, &v, 1);
        if (n <= 0)
            break;
        bytebuf_consume(&l->out, (size_t)n);
    }
    if (!l->closing && l->eof && !l->out.len && !l->ops->on_eof)
        link_close(l, "end of input");
    if (!l->closing)
        link_update(l);
}

/* Recomputes the watched events; resumes reads that were left in the kernel. */
void link_update(struct link *l)
{
    if (l->closing || l->moving)
        return;
    bool want_write = l->out.len > 0 || (l->ops->wants_write && l->ops->wants_write(l));
    /* Always watched for reading while the peer may send: that is how a hang-up is
     * seen even while input is held. */
    unsigned rd = l->eof ? 0 : REACTOR_READ;
    if (l->wio) {
        reactor_io_set(l->rio, rd);
        reactor_io_set(l->wio, want_write ? REACTOR_WRITE : 0);
    } else if (l->rio) {
        reactor_io_set(l->rio, rd | (want_write ? REACTOR_WRITE : 0));
    }
    if (l->read_skipped && l->rio && !l->eof && !l->hold_read && l->out.len < l->out_high &&
        l->inlen < l->in_max) {
        l->read_skipped = false;
        /* A hang-up seen while input was held is not reported again: pass it on. */
        reactor_io_again(l->rio, REACTOR_READ | (l->peer_hup ? REACTOR_RDHUP : 0));
    }
    if (l->process_held && l->out.len < l->out_high) {
        /* Requests already read wait for the replies to drain: take them up again. */
        l->process_held = false;
        link_wake(l);
    }
}

/* True when the peer of a socket has closed and sent nothing we have not read. */
static bool link_peer_gone(struct link *l)
{
    char probe;
    ssize_t n = recv(l->rfd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0)
        return true;
    return n < 0 && errno != EAGAIN && errno != EINTR && errno != ENOTSOCK;
}

/* The peer will send no more. */
static void link_got_eof(struct link *l)
{
    l->eof = true;
    l->ops->process(l);
    if (l->closing || l->moving)
        return;
    if (l->ops->on_eof)
        l->ops->on_eof(l);
    else if (!l->out.len)
        link_close(l, "end of input");
}

/* Reads until EAGAIN, a quantum, or no room. A short read means the fd was drained and
 * a later arrival raises a new edge, so the read that would only say EAGAIN is skipped
 * — unless the peer hung up (drain), which raises no later edge. While input is held
 * (too much output queued, or the layer waits) the bytes stay in the kernel and only a
 * hang-up is looked at: a full hang-up (POLLHUP: a socket closed both ways, a pipe's
 * writer gone) closes now; a half close of a socket with nothing unread is an EOF. */
static void link_read(struct link *l, unsigned events)
{
    bool drain = events & (REACTOR_RDHUP | REACTOR_ERR);
    size_t budget = l->read_quantum;
    while (budget && !l->closing && !l->moving && !l->eof) {
        if (l->hold_read || l->out.len >= l->out_high || l->inlen >= l->in_max) {
            l->read_skipped = true;
            if (events & REACTOR_ERR) {
                l->peer_hup = true;
                link_close(l, "the peer hung up");
            } else if (drain && link_peer_gone(l)) {
                link_got_eof(l);
            } else if (drain) {
                l->peer_hup = true;
            }
            return;
        }
        if (l->inlen == l->incap) {
            size_t cap = l->incap ? l->incap * 2 : LINK_IN_INITIAL;
            l->incap = cap < l->in_max ? cap : l->in_max;
            l->in = xrealloc(l->in, l->incap);
        }
        size_t space = l->incap - l->inlen;
        ssize_t n = read(l->rfd, l->in + l->inlen, space);
        if (n > 0) {
            l->inlen += (size_t)n;
            budget -= (size_t)n < budget ? (size_t)n : budget;
            hub_count_bytes(l->w, (uint64_t)n, 0);
            l->ops->process(l);
            if ((size_t)n < space && !drain)
                return;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        link_got_eof(l); /* 0, or a reset */
        return;
    }
    /* Called again next turn with the hang-up this call saw, if any: that edge will not
     * be reported again, and without it the rest would be read as if the peer could
     * still send, and its end never seen (the link left open for good). */
    if (budget == 0 && l->rio && !l->closing && !l->moving)
        reactor_io_again(l->rio, REACTOR_READ | (events & (REACTOR_RDHUP | REACTOR_ERR)));
}

/* Readiness on the link's fd(s). */
static int link_io_cb(reactor_io *io, unsigned events, void *arg)
{
    struct link *l = arg;
    if (io == l->rio && (events & (REACTOR_READ | REACTOR_ERR)))
        link_read(l, events);
    if (!l->closing && !l->moving && (events & (REACTOR_WRITE | REACTOR_ERR)) &&
        (io == l->wio || !l->wio))
        link_flush(l);
    if (!l->closing && !l->moving)
        link_update(l);
    return 0;
}

/* Closes: the layer detaches now; the memory goes at the end of the turn. */
void link_close(struct link *l, const char *why)
{
    if (l->closing)
        return;
    l->closing = true;
    log_debug("%s connection closed: %s", l->ops->name, why);
    /* Best effort, never waiting: the queued replies (the ERROR explaining the close). */
    if (l->out.len && !l->moving) {
        ssize_t n = write(l->wfd, l->out.data + l->out.head, l->out.len);
        (void)n;
    }
    if (l->ops->on_close)
        l->ops->on_close(l);
    reactor_io_free(l->rio);
    reactor_io_free(l->wio);
    l->rio = l->wio = NULL;
    reactor_task_cancel(l->r, &l->flush_task);
    reactor_task_cancel(l->r, &l->process_task);
    reactor_task_cancel(l->r, &l->move_task);
    reactor_timer_stop(l->r, &l->coalesce_timer);
    reactor_defer(l->r, &l->free_task);
}

/* Starts a hand-over to another worker. */
int link_move(struct link *l, struct worker *to)
{
    if (l->closing)
        return -EBUSY;
    reactor_io_free(l->rio);
    reactor_io_free(l->wio);
    l->rio = l->wio = NULL;
    reactor_task_cancel(l->r, &l->flush_task);
    reactor_task_cancel(l->r, &l->process_task);
    reactor_timer_stop(l->r, &l->coalesce_timer);
    hub_link_track(l->w, &l->track, false);
    l->moving = true;
    l->w = to;
    reactor_task_schedule(l->r, &l->move_task);
    return 0;
}

/* Frees every link of a stopped worker. */
void link_free_all(struct list_node **head)
{
    while (*head) {
        struct link *l = list_entry(*head, struct link, track);
        l->teardown = true;
        link_close(l, "shutdown");
        reactor_task_cancel(l->r, &l->free_task);
        link_free_task(&l->free_task, l);
    }
}
