/* link: the one connection lifecycle every client shares — Unix socket and stdio
 * clients of the session protocol, HTTP clients, and the WebSocket clients they turn
 * into. accept → read → process → flush → close → free, the same for all:
 *
 *   - read: bytes go into `in` (bounded by in_max); the layer's process() takes whole
 *     messages from its front. Reading pauses while more than out_high bytes of replies
 *     wait for the client (it is not reading what it asked for), but the fd stays
 *     watched, so a hang-up is noticed at once whatever the connection waits for.
 *   - process runs from readiness or from a task (link_wake), never inline from another
 *     object's callback: a session that wakes a connection schedules it.
 *   - flush: once per turn at most (link_want_flush schedules it), by the layer (which
 *     may add zero-copy output) or by writing `out`.
 *   - close: the layer's on_close detaches everything; the watchers go; the memory is
 *     freed by a deferred task at the very end of the turn (reactor_defer), after every
 *     task or timer of this turn that may still name it.
 *   - hand-over: a link with nothing tied to its worker can move to another worker
 *     (published at the end of the turn, adopted there with a post), where its layer's
 *     process() runs again from the same bytes.
 *
 * Layers: conn.c (session protocol, over length-prefixed frames or WebSocket), http.c
 * (HTTP/1.1). An HTTP link that upgrades to WebSocket keeps its object, fds and budget:
 * only the layer changes (link_set_layer). */
#ifndef PTYHUB_LINK_H
#define PTYHUB_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "core/bytebuf.h"
#include "core/list.h"
#include "core/reactor.h"

struct worker;
struct link;

struct link_ops {
    const char *name; /* for logs: "unix", "stdio", "http", "websocket" */
    /* Handles what is buffered in l->in (taking it with link_consume). Called after
     * reads, after a hand-over, and from link_wake's task. */
    void (*process)(struct link *l);
    /* Writes queued output; NULL: link_flush_out. Must end with link_update. */
    void (*flush)(struct link *l);
    /* True when the layer has output besides `out` (for the write watch). */
    bool (*wants_write)(struct link *l);
    /* The peer will send no more (end of file): NULL closes once `out` is flushed. */
    void (*on_eof)(struct link *l);
    /* The link is closing: detach from sessions, cancel waits. Nothing is freed yet. */
    void (*on_close)(struct link *l);
    /* Frees the layer's state (the deferred free). */
    void (*on_free)(struct link *l);
};

struct link {
    struct worker *w;
    reactor *r;
    int rfd, wfd;          /* the same fd for sockets; stdin/stdout for stdio */
    reactor_io *rio, *wio; /* wio is NULL when rfd == wfd */
    int cls;               /* budget class (enum hub_class), -1: not counted (stdio) */
    const struct link_ops *ops;
    void *layer;

    uint8_t *in; /* bytes read, not yet consumed */
    size_t inlen, incap;
    size_t in_max;      /* in never grows beyond this */
    struct bytebuf out; /* queued output the link owns */
    size_t out_high;    /* reading pauses while out holds more */
    size_t read_quantum;

    bool closing;
    bool moving;
    bool eof;          /* read returned end of file (or a reset) */
    bool peer_hup;     /* the peer hung up (it may still read after a half close) */
    bool read_skipped; /* data was left in the kernel: read again when there is room */
    bool hold_read;    /* the layer does not want input now (still watched for hang-up) */
    bool teardown;     /* closed by link_free_all: the daemon is exiting */
    bool process_held; /* the layer left whole requests in `in` while output piled up */
    uint64_t last_flush_ns;
    uint64_t coalesce_ns; /* minimum interval between flushes (0: every turn) */
    reactor_timer coalesce_timer;
    reactor_task flush_task, process_task, free_task, move_task;
    struct list_node track; /* in its worker's list, for teardown */
};

/* Creates a link on w (the calling thread) for rfd/wfd (taken over: closed at free)
 * with the given layer; counted in budget class cls (-1: none). NULL on failure (the
 * caller still owns the fds and the budget slot). */
struct link *link_new(struct worker *w, int rfd, int wfd, int cls, const struct link_ops *ops,
                      void *layer);
/* Changes the layer (HTTP → WebSocket). The caller has freed or handed over the old
 * layer's state. Processing continues with the new layer from the same buffer. */
void link_set_layer(struct link *l, const struct link_ops *ops, void *layer);
/* Closes: on_close now, the rest at the end of the turn. Idempotent. */
void link_close(struct link *l, const char *why);
/* Schedules process() from a task: the way another object wakes this link. */
void link_wake(struct link *l);
/* Schedules a flush at the end of this turn (or after coalesce_ns since the last). */
void link_want_flush(struct link *l);
/* Drops n bytes from the front of in. */
void link_consume(struct link *l, size_t n);
/* Writes out (non-blocking) until done or the fd is full; closes on a write error. */
void link_flush_out(struct link *l);
/* Gathered write on wfd: bytes written, 0 when the fd is full, or -1 after closing the
 * link on an error. */
ssize_t link_writev(struct link *l, const struct iovec *iov, int iovcnt);
/* Recomputes what the fds are watched for and resumes reads left in the kernel. */
void link_update(struct link *l);
/* Moves the link to worker `to`: its watchers go now, it is published to `to` at the end
 * of this turn, and process() runs there. -EBUSY while closing. */
int link_move(struct link *l, struct worker *to);
/* Frees every link of a stopped worker (teardown). */
void link_free_all(struct list_node **head);

#endif
