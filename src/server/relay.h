/* relay: how one connection reaches sessions that live on other reactors.
 *
 * A session's data path runs on its own reactor and takes no lock; a connection runs on
 * one reactor too. When they differ, two objects bridge them:
 *
 *   - a port (one per connection, made when it first needs one) carries calls: a closure
 *     run on the session's reactor (relay_port_call), whose reply is a closure run back
 *     on the connection's reactor (relay_port_reply). Both go through the reactors' post
 *     queues, so calls to one reactor run in the order they were made, and replies come
 *     back in the order they were made there. This is the control path (CREATE, ATTACH,
 *     INPUT, WRITE, RESIZE, SIGNAL, REMOVE ...): other request handlers use it the same
 *     way.
 *   - a relay (one per remote attachment) carries output. Its subscriber (struct sub)
 *     is attached on the session's reactor; when the session notifies it, the relay
 *     copies what the ring has for it into a single-producer/single-consumer byte buffer
 *     (bounded: RELAY_WINDOW) and wakes the connection with one coalesced post. The
 *     connection sends from that buffer with gathered writes (no further copy), then
 *     frees the room; only when the producer had stopped for room does that post back.
 *     A gap (a viewer fell out of the ring) or the exit travels as an event slot behind
 *     the bytes. A full socket stops the connection from taking; the buffer fills; the
 *     subscriber stops consuming; a lossless session pauses — only this connection's.
 *
 * Lifetimes: ports and relays are reference counted. Every post holds a reference; the
 * connection holds one until it closes; an attached subscriber holds one until it is
 * detached (on the session's reactor, where the session may be freed only after that).
 * So a session removed or a connection closed while posts are in flight frees nothing
 * that a post still names. relay_free_all() releases what posts that never ran (a
 * stopped daemon) still held. */
#ifndef PTYHUB_RELAY_H
#define PTYHUB_RELAY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/reactor.h"
#include "pty/session.h"

/* Bytes of output buffered per remote attachment at most (the producer's window). */
#define RELAY_WINDOW (256u * 1024)

/* ---- the single-producer/single-consumer byte buffer -------------------------------- */

/* Bytes [tail, head) of a power-of-two circular buffer. head is written only by the
 * producer, tail only by the consumer; each publishes with a release store and reads the
 * other's with an acquire load, so the bytes are visible before their position is. */
struct relay_buf {
    uint8_t *data;
    size_t cap; /* a power of two */
    _Atomic uint64_t head, tail;
};

/* Prepares a buffer of cap bytes (rounded up to a power of two); the memory is taken by
 * the first put. */
void relay_buf_init(struct relay_buf *b, size_t cap);
void relay_buf_deinit(struct relay_buf *b);
/* Producer: bytes that may be written now. */
size_t relay_buf_room(const struct relay_buf *b);
/* Producer: copies up to max bytes (and at most the room) from iov, then publishes them.
 * Returns the bytes taken. */
size_t relay_buf_put(struct relay_buf *b, const struct iovec *iov, int iovcnt, size_t max);
/* Consumer: describes up to max readable bytes as at most two iovecs. Returns the count. */
size_t relay_buf_peek(const struct relay_buf *b, size_t max, struct iovec iov[2], int *iovcnt);
/* Consumer: frees the first n readable bytes. */
void relay_buf_consume(struct relay_buf *b, size_t n);
/* Either side: bytes buffered (exact on the consumer's side for what it may read). */
size_t relay_buf_used(const struct relay_buf *b);

/* ---- ports: calls to another reactor, replies back ---------------------------------- */

struct relay_port;
typedef void (*relay_fn)(struct relay_port *p, void *arg);

/* Makes a port for an owner (a connection) living on reactor cr (the calling thread). */
struct relay_port *relay_port_new(reactor *cr, void *owner);
/* The owner is going away: replies still in flight see a NULL owner. Drops its reference.
 * Accepts NULL. */
void relay_port_close(struct relay_port *p);
/* The owner, or NULL once closed. Only on the owner's reactor. */
void *relay_port_owner(const struct relay_port *p);
/* Runs fn(p, arg) on reactor r. fn always runs, exactly once: also after the port
 * closed, and at teardown (relay_free_all; relay_stopping() is then true) when the reactor
 * stopped first. It must free arg, and skip the work when stopping. Thread-safe. */
void relay_port_call(struct relay_port *p, reactor *r, relay_fn fn, void *arg);
/* Runs fn(p, arg) on the owner's reactor; relay_port_owner() says whether the owner is
 * still there. Thread-safe. */
void relay_port_reply(struct relay_port *p, relay_fn fn, void *arg);
/* Calls made and not yet replied to: the owner must not move to another reactor while
 * any is in flight (see relay_port_pending_add). Owner's thread only. */
unsigned relay_port_pending(const struct relay_port *p);
void relay_port_pending_add(struct relay_port *p, int delta);
/* WRITE latches by session id (see conn.c): shared by the session reactors that run a
 * port's WRITEs, so a small mutex guards them (control path only). */
bool relay_port_latched(struct relay_port *p, uint32_t sid);
void relay_port_latch(struct relay_port *p, uint32_t sid, bool on);

/* Holds a port (a waiter on a session's reactor that will reply later). */
void relay_port_hold(struct relay_port *p);
void relay_port_release(struct relay_port *p);

/* Something a session's reactor keeps on a port's behalf until it replies (a WRITE
 * waiting for the PTY). Tracked so that a daemon stopping with it pending frees it:
 * relay_free_all calls release on whatever is still tracked. */
struct relay_tracked {
    struct relay_tracked *prev, *next;
    void (*release)(struct relay_tracked *t);
};
void relay_track(struct relay_tracked *t);
void relay_untrack(struct relay_tracked *t);

/* ---- relays: a remote attachment's output -------------------------------------------- */

enum relay_event { RELAY_EV_NONE, RELAY_EV_GAP, RELAY_EV_EXIT };

struct relay;
struct relay_ops {
    /* On the connection's reactor: bytes or an event arrived (call relay_peek/event). */
    void (*wake)(struct relay *rl);
    /* On the connection's reactor: the session's size changed. */
    void (*resized)(struct relay *rl, uint16_t cols, uint16_t rows);
};

struct relay {
    _Atomic unsigned refs;
    struct relay_port *port; /* the connection's; referenced */
    const struct relay_ops *ops;
    uint32_t sid;
    reactor *sr; /* the session's reactor */
    struct relay_buf buf;

    /* session → connection: one event behind the bytes (the producer adds no byte while
     * it is set; the consumer takes it only once every byte before it was sent). */
    _Atomic unsigned ev;
    uint64_t ev_from, ev_to; /* GAP [from, to); EXIT: ev_to = end offset */
    int ev_code, ev_sig;
    _Atomic bool c_wake_posted; /* a wake is on its way to the connection */
    _Atomic bool s_stalled;     /* the producer stopped (room or event): consumer pulls */
    _Atomic uint64_t acked;     /* what the client acknowledged (held subscriptions) */
    _Atomic bool ack_posted;

    /* Session's reactor only. */
    struct sub sub;
    bool s_closed; /* the connection let go: attach nothing any more */

    /* Connection's reactor only. */
    void *c_owner;     /* the connection's subscription; NULL once let go */
    uint64_t c_offset; /* session offset of the next byte the consumer takes */
};

/* On the connection's reactor: a relay for session sid living on reactor sr (not
 * attached yet: relay_attach on sr does that). The caller holds one reference, given up
 * by relay_close. */
struct relay *relay_new(struct relay_port *p, reactor *sr, uint32_t sid,
                        const struct relay_ops *ops, void *c_owner);
/* On the session's reactor: attaches the relay's subscriber to s at `from` with the
 * given lossless/interactive/hold settings (sub fields copied from tmpl). No-op after
 * relay_close reached this reactor. */
void relay_attach(struct relay *rl, struct session *s, const struct sub *tmpl, uint64_t from);
/* On the connection's reactor: the connection lets go (detach, close): the subscriber is
 * detached on the session's reactor, and the caller's reference dropped. */
void relay_close(struct relay *rl);
/* Consumer: describes up to max bytes to send (iov[2]); their session offset is
 * rl->c_offset. */
size_t relay_peek(struct relay *rl, size_t max, struct iovec iov[2], int *iovcnt);
/* Consumer: n bytes were sent (or copied aside). */
void relay_consumed(struct relay *rl, size_t n);
/* Consumer: the pending event, once every byte before it was taken (RELAY_EV_NONE
 * otherwise); relay_event_done when it was delivered. */
enum relay_event relay_event(struct relay *rl);
void relay_event_done(struct relay *rl);
/* Consumer: bytes waiting (for the write watch). */
bool relay_has_data(struct relay *rl);
/* Consumer: the client acknowledged up to offset (a held subscription's program may run
 * that far ahead); forwarded to the subscriber, coalesced. */
void relay_ack(struct relay *rl, uint64_t offset);
/* Teardown (the reactors have stopped): runs the posts that never ran (their functions
 * see relay_stopping()), which drops what they referenced, then frees what is left. */
void relay_free_all(void);
/* True during relay_free_all: a call or reply must only free its argument. */
bool relay_stopping(void);

#endif
