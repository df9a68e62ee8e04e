/* relay: calls between a connection and sessions on other reactors, and the output of a
 * remote attachment through a lock-free single-producer/single-consumer buffer (see
 * relay.h for the design, docs/architecture.md for why). */
#include "server/relay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/list.h"
#include "core/log.h"
#include "core/xalloc.h"

/* Bytes the producer copies per step (one ring peek). */
#define RELAY_STEP (64u * 1024)

/* ---- the SPSC byte buffer ---------------------------------------------------------- */

void relay_buf_init(struct relay_buf *b, size_t cap)
{
    size_t c = 1;
    while (c < cap)
        c <<= 1;
    b->data = NULL; /* taken by the first put: an idle attachment costs nothing */
    b->cap = c;
    atomic_init(&b->head, 0);
    atomic_init(&b->tail, 0);
}

void relay_buf_deinit(struct relay_buf *b)
{
    free(b->data);
    b->data = NULL;
}

size_t relay_buf_room(const struct relay_buf *b)
{
    uint64_t head = atomic_load_explicit(&b->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&b->tail, memory_order_acquire);
    return b->cap - (size_t)(head - tail);
}

/* Copies n bytes from src into the circle at position pos (wrapping). */
static void relay_buf_copy_in(struct relay_buf *b, uint64_t pos, const uint8_t *src, size_t n)
{
    size_t at = (size_t)(pos & (b->cap - 1)), first = b->cap - at;
    if (first > n)
        first = n;
    memcpy(b->data + at, src, first);
    memcpy(b->data, src + first, n - first);
}

size_t relay_buf_put(struct relay_buf *b, const struct iovec *iov, int iovcnt, size_t max)
{
    size_t room = relay_buf_room(b);
    if (max > room)
        max = room;
    uint64_t head = atomic_load_explicit(&b->head, memory_order_relaxed);
    if (!b->data && max)
        b->data = xmalloc(b->cap); /* published to the consumer with head, below */
    size_t done = 0;
    for (int i = 0; i < iovcnt && done < max; i++) {
        size_t n = iov[i].iov_len;
        if (n > max - done)
            n = max - done;
        relay_buf_copy_in(b, head + done, iov[i].iov_base, n);
        done += n;
    }
    /* Release: the bytes are visible to the consumer before their position is. */
    atomic_store_explicit(&b->head, head + done, memory_order_release);
    return done;
}

size_t relay_buf_peek(const struct relay_buf *b, size_t max, struct iovec iov[2], int *iovcnt)
{
    uint64_t head = atomic_load_explicit(&b->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&b->tail, memory_order_relaxed);
    size_t n = (size_t)(head - tail);
    if (n > max)
        n = max;
    *iovcnt = 0;
    if (n == 0)
        return 0;
    size_t at = (size_t)(tail & (b->cap - 1)), first = b->cap - at;
    if (first > n)
        first = n;
    iov[0] = (struct iovec){b->data + at, first};
    *iovcnt = 1;
    if (n > first) {
        iov[1] = (struct iovec){b->data, n - first};
        *iovcnt = 2;
    }
    return n;
}

void relay_buf_consume(struct relay_buf *b, size_t n)
{
    uint64_t tail = atomic_load_explicit(&b->tail, memory_order_relaxed);
    /* seq_cst (not just release): the consumer then reads the producer's "stalled" flag,
     * and one of the two must see the other's store (relay_consumed). */
    atomic_store_explicit(&b->tail, tail + n, memory_order_seq_cst);
}

size_t relay_buf_used(const struct relay_buf *b)
{
    uint64_t head = atomic_load_explicit(&b->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&b->tail, memory_order_acquire);
    return (size_t)(head - tail);
}

/* ---- the registry: what teardown must release -------------------------------------- */

/* One post in flight: a call or a reply. Linked in the registry until it runs, so a
 * daemon that stops with posts queued can still run them (in stopping mode) and free. */
struct relay_item {
    struct list_node node;
    struct relay_port *p;
    relay_fn fn;
    void *arg;
};

struct relay_port {
    _Atomic unsigned refs;
    reactor *cr;
    void *owner;      /* owner's thread only */
    unsigned pending; /* owner's thread only */
    pthread_mutex_t mu;
    uint32_t *latched;
    size_t nlatched, caplatched;
    struct list_node node;
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct list_node *registry_items, *registry_ports;
static _Atomic bool registry_stopping;

bool relay_stopping(void)
{
    return atomic_load_explicit(&registry_stopping, memory_order_relaxed);
}

static void relay_port_unref(struct relay_port *p)
{
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_lock(&registry_mu);
    list_remove(&registry_ports, &p->node);
    pthread_mutex_unlock(&registry_mu);
    pthread_mutex_destroy(&p->mu);
    free(p->latched);
    free(p);
}

/* Runs a posted call or reply and lets go of what it referenced. */
static void relay_item_run(struct relay_item *it)
{
    it->fn(it->p, it->arg);
    relay_port_unref(it->p);
    free(it);
}

/* The post callback: unlinks the item, then runs it. */
static int relay_item_post(void *arg)
{
    struct relay_item *it = arg;
    pthread_mutex_lock(&registry_mu);
    list_remove(&registry_items, &it->node);
    pthread_mutex_unlock(&registry_mu);
    relay_item_run(it);
    return 0;
}

/* Posts fn(p, arg) to r, holding a reference on p until it ran. */
static void relay_post(struct relay_port *p, reactor *r, relay_fn fn, void *arg)
{
    struct relay_item *it = xcalloc(1, sizeof *it);
    it->p = p;
    it->fn = fn;
    it->arg = arg;
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    pthread_mutex_lock(&registry_mu);
    list_push(&registry_items, &it->node);
    pthread_mutex_unlock(&registry_mu);
    if (reactor_post(r, relay_item_post, it) < 0) {
        /* Cannot happen short of memory exhaustion (xalloc aborts first); never lose it. */
        log_error("relay: cannot post to another reactor");
    }
}

/* ---- ports ------------------------------------------------------------------------- */

struct relay_port *relay_port_new(reactor *cr, void *owner)
{
    struct relay_port *p = xcalloc(1, sizeof *p);
    atomic_init(&p->refs, 1);
    p->cr = cr;
    p->owner = owner;
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_lock(&registry_mu);
    list_push(&registry_ports, &p->node);
    pthread_mutex_unlock(&registry_mu);
    return p;
}

void relay_port_close(struct relay_port *p)
{
    if (!p)
        return;
    p->owner = NULL;
    relay_port_unref(p);
}

void *relay_port_owner(const struct relay_port *p)
{
    return relay_stopping() ? NULL : p->owner;
}

void relay_port_call(struct relay_port *p, reactor *r, relay_fn fn, void *arg)
{
    relay_post(p, r, fn, arg);
}

void relay_port_reply(struct relay_port *p, relay_fn fn, void *arg)
{
    relay_post(p, p->cr, fn, arg);
}

unsigned relay_port_pending(const struct relay_port *p)
{
    return p->pending;
}

void relay_port_pending_add(struct relay_port *p, int delta)
{
    p->pending = (unsigned)((int)p->pending + delta);
}

bool relay_port_latched(struct relay_port *p, uint32_t sid)
{
    pthread_mutex_lock(&p->mu);
    bool on = false;
    for (size_t i = 0; i < p->nlatched && !on; i++)
        on = p->latched[i] == sid;
    pthread_mutex_unlock(&p->mu);
    return on;
}

void relay_port_latch(struct relay_port *p, uint32_t sid, bool on)
{
    pthread_mutex_lock(&p->mu);
    size_t i = 0;
    while (i < p->nlatched && p->latched[i] != sid)
        i++;
    if (on && i == p->nlatched) {
        if (p->nlatched == p->caplatched) {
            p->caplatched = p->caplatched ? p->caplatched * 2 : 4;
            p->latched = xrealloc(p->latched, p->caplatched * sizeof *p->latched);
        }
        p->latched[p->nlatched++] = sid;
    } else if (!on && i < p->nlatched) {
        p->latched[i] = p->latched[--p->nlatched];
    }
    pthread_mutex_unlock(&p->mu);
}

void relay_port_hold(struct relay_port *p)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

void relay_port_release(struct relay_port *p)
{
    relay_port_unref(p);
}

static struct relay_tracked *registry_tracked;

void relay_track(struct relay_tracked *t)
{
    pthread_mutex_lock(&registry_mu);
    t->prev = NULL;
    t->next = registry_tracked;
    if (registry_tracked)
        registry_tracked->prev = t;
    registry_tracked = t;
    pthread_mutex_unlock(&registry_mu);
}

void relay_untrack(struct relay_tracked *t)
{
    pthread_mutex_lock(&registry_mu);
    if (t->prev)
        t->prev->next = t->next;
    else if (registry_tracked == t)
        registry_tracked = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
    pthread_mutex_unlock(&registry_mu);
}

/* ---- relays ------------------------------------------------------------------------ */

static struct list_node *registry_relays;

/* Relays are listed for teardown through this node, kept beside the object. */
struct relay_box {
    struct relay rl;
    struct list_node node;
};

static void relay_ref(struct relay *rl)
{
    atomic_fetch_add_explicit(&rl->refs, 1, memory_order_relaxed);
}

static void relay_unref(struct relay *rl)
{
    if (atomic_fetch_sub_explicit(&rl->refs, 1, memory_order_acq_rel) != 1)
        return;
    struct relay_box *box = (struct relay_box *)rl;
    pthread_mutex_lock(&registry_mu);
    list_remove(&registry_relays, &box->node);
    pthread_mutex_unlock(&registry_mu);
    relay_buf_deinit(&rl->buf);
    relay_port_unref(rl->port);
    free(box);
}

/* On the connection's reactor: the wake posted by the producer. */
static void relay_wake_fn(struct relay_port *p, void *arg)
{
    (void)p;
    struct relay *rl = arg;
    /* Cleared before the consumer next reads: a later publish posts again. */
    atomic_store(&rl->c_wake_posted, false);
    if (!relay_stopping() && rl->c_owner)
        rl->ops->wake(rl);
    relay_unref(rl);
}

/* Producer: tells the consumer, one post at a time. */
static void relay_wake_conn(struct relay *rl)
{
    if (atomic_exchange(&rl->c_wake_posted, true))
        return;
    relay_ref(rl);
    relay_port_reply(rl->port, relay_wake_fn, rl);
}

/* On the session's reactor: the subscriber lets go of the session (and its reference). */
static void relay_detach_sub(struct relay *rl)
{
    if (!rl->sub.s)
        return;
    session_detach(&rl->sub);
    relay_unref(rl);
}

/* Producer: moves what the session has for this subscriber into the buffer, publishes a
 * gap or the exit behind the bytes, and stops when the buffer is full or an event waits
 * (the consumer pulls again: relay_pull). Runs on the session's reactor. */
static void relay_pump(struct relay *rl)
{
    struct session *s = rl->sub.s;
    if (!s)
        return;
    relay_ref(rl); /* relay_detach_sub below may drop the subscriber's reference */
    bool woke = false;
    for (;;) {
        if (atomic_load_explicit(&rl->ev, memory_order_acquire) != RELAY_EV_NONE) {
            /* Dekker: flag first, then look again; the consumer clears the event, then
             * reads the flag, so one of us sees the other. */
            atomic_store(&rl->s_stalled, true);
            if (atomic_load(&rl->ev) != RELAY_EV_NONE)
                break;
            continue;
        }
        uint64_t start = session_start(s), end = session_end(s), cur = rl->sub.cursor;
        if (cur < start) {
            /* A viewer fell out of the ring while the buffer was full: one GAP. */
            rl->ev_from = cur;
            rl->ev_to = start;
            atomic_store_explicit(&rl->ev, RELAY_EV_GAP, memory_order_release);
            sub_consumed(&rl->sub, start);
            rl->sub.cursor = start;
            woke = true;
            continue;
        }
        if (cur == end) {
            if (session_exited(s) && !rl->sub.exit_sent) {
                session_exit_status(s, &rl->ev_code, &rl->ev_sig);
                rl->ev_from = rl->ev_to = end;
                atomic_store_explicit(&rl->ev, RELAY_EV_EXIT, memory_order_release);
                rl->sub.exit_sent = true;
                woke = true;
            }
            /* A removed session lives on only while subscribers drain it: everything is
             * in the buffer now, so let go (the session may be freed at the turn's end). */
            if (rl->sub.exit_sent && session_removed(s))
                relay_detach_sub(rl);
            break;
        }
        if (relay_buf_room(&rl->buf) == 0) {
            atomic_store(&rl->s_stalled, true);
            if (relay_buf_room(&rl->buf) == 0)
                break;
            continue;
        }
        struct iovec iov[2];
        int cnt = 0;
        uint64_t want = end - cur;
        ssize_t n = session_peek(s, cur, want > RELAY_STEP ? RELAY_STEP : (size_t)want, iov, &cnt);
        if (n <= 0)
            break;
        size_t put = relay_buf_put(&rl->buf, iov, cnt, (size_t)n);
        sub_consumed(&rl->sub, cur + put);
        woke = true;
    }
    if (woke)
        relay_wake_conn(rl);
    relay_unref(rl);
}

/* On the session's reactor: the consumer made room or took the event. */
static void relay_pump_fn(struct relay_port *p, void *arg)
{
    (void)p;
    struct relay *rl = arg;
    if (!relay_stopping())
        relay_pump(rl);
    relay_unref(rl);
}

/* Consumer: if the producer stopped for room or the event, have it go on. */
static void relay_pull(struct relay *rl)
{
    if (!atomic_exchange(&rl->s_stalled, false))
        return;
    relay_ref(rl);
    relay_port_call(rl->port, rl->sr, relay_pump_fn, rl);
}

/* The session notifies the subscriber: new output, a gap or the exit. */
static void relay_sub_notify(struct sub *sub)
{
    relay_pump(sub->owner);
}

/* Teardown: the session is freed with the subscriber attached. */
static void relay_sub_gone(struct sub *sub, struct session *s)
{
    (void)s;
    struct relay *rl = sub->owner;
    relay_unref(rl); /* session_free detached it already */
}

struct relay_resize {
    struct relay *rl;
    uint16_t cols, rows;
};

/* On the connection's reactor: the session's new size. */
static void relay_resized_fn(struct relay_port *p, void *arg)
{
    (void)p;
    struct relay_resize *rz = arg;
    if (!relay_stopping() && rz->rl->c_owner && rz->rl->ops->resized)
        rz->rl->ops->resized(rz->rl, rz->cols, rz->rows);
    relay_unref(rz->rl);
    free(rz);
}

/* The session's size changed (inside session_resize: only queue). */
static void relay_sub_resized(struct sub *sub, uint16_t cols, uint16_t rows)
{
    struct relay *rl = sub->owner;
    struct relay_resize *rz = xmalloc(sizeof *rz);
    *rz = (struct relay_resize){rl, cols, rows};
    relay_ref(rl);
    relay_port_reply(rl->port, relay_resized_fn, rz);
}

static const struct sub_ops relay_sub_ops = {
    .notify = relay_sub_notify, .gone = relay_sub_gone, .resized = relay_sub_resized};

struct relay *relay_new(struct relay_port *p, reactor *sr, uint32_t sid,
                        const struct relay_ops *ops, void *c_owner)
{
    struct relay_box *box = xcalloc(1, sizeof *box);
    struct relay *rl = &box->rl;
    atomic_init(&rl->refs, 1);
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    rl->port = p;
    rl->ops = ops;
    rl->sid = sid;
    rl->sr = sr;
    rl->c_owner = c_owner;
    relay_buf_init(&rl->buf, RELAY_WINDOW);
    pthread_mutex_lock(&registry_mu);
    list_push(&registry_relays, &box->node);
    pthread_mutex_unlock(&registry_mu);
    return rl;
}

void relay_attach(struct relay *rl, struct session *s, const struct sub *tmpl, uint64_t from)
{
    if (rl->s_closed || rl->sub.s)
        return;
    rl->sub.lossless = tmpl->lossless;
    rl->sub.interactive = tmpl->interactive;
    rl->sub.hold = tmpl->hold;
    rl->sub.limit = tmpl->limit;
    rl->sub.ops = &relay_sub_ops;
    rl->sub.owner = rl;
    relay_ref(rl); /* the attached subscriber's */
    session_attach(s, &rl->sub, from);
}

/* On the session's reactor: the connection let go. */
static void relay_close_fn(struct relay_port *p, void *arg)
{
    (void)p;
    struct relay *rl = arg;
    rl->s_closed = true;
    if (!relay_stopping())
        relay_detach_sub(rl);
    relay_unref(rl);
}

void relay_close(struct relay *rl)
{
    rl->c_owner = NULL;
    /* The post's reference is the caller's, handed over. */
    relay_port_call(rl->port, rl->sr, relay_close_fn, rl);
}

size_t relay_peek(struct relay *rl, size_t max, struct iovec iov[2], int *iovcnt)
{
    return relay_buf_peek(&rl->buf, max, iov, iovcnt);
}

void relay_consumed(struct relay *rl, size_t n)
{
    if (n == 0)
        return;
    relay_buf_consume(&rl->buf, n);
    rl->c_offset += n;
    /* Hysteresis: a producer stopped for room is pulled once half the window is free,
     * not for every frame sent (one post per half window, not per 64 KiB). The consumer
     * goes on taking what is buffered, so that point always comes. */
    if (relay_buf_room(&rl->buf) >= rl->buf.cap / 2)
        relay_pull(rl);
}

enum relay_event relay_event(struct relay *rl)
{
    unsigned ev = atomic_load_explicit(&rl->ev, memory_order_acquire);
    if (ev == RELAY_EV_NONE || relay_buf_used(&rl->buf))
        return RELAY_EV_NONE;
    return (enum relay_event)ev;
}

void relay_event_done(struct relay *rl)
{
    if (atomic_load_explicit(&rl->ev, memory_order_relaxed) == RELAY_EV_GAP)
        rl->c_offset = rl->ev_to;
    atomic_store(&rl->ev, RELAY_EV_NONE);
    relay_pull(rl);
}

bool relay_has_data(struct relay *rl)
{
    return relay_buf_used(&rl->buf) || relay_event(rl) != RELAY_EV_NONE;
}

/* On the session's reactor: the acknowledged offset holds the program back. */
static void relay_ack_fn(struct relay_port *p, void *arg)
{
    (void)p;
    struct relay *rl = arg;
    atomic_store(&rl->ack_posted, false);
    if (!relay_stopping() && rl->sub.s)
        sub_hold(&rl->sub, atomic_load(&rl->acked));
    relay_unref(rl);
}

void relay_ack(struct relay *rl, uint64_t offset)
{
    if (offset <= atomic_load_explicit(&rl->acked, memory_order_relaxed))
        return;
    atomic_store(&rl->acked, offset);
    if (atomic_exchange(&rl->ack_posted, true))
        return;
    relay_ref(rl);
    relay_port_call(rl->port, rl->sr, relay_ack_fn, rl);
}

/* ---- teardown ---------------------------------------------------------------------- */

void relay_free_all(void)
{
    atomic_store(&registry_stopping, true);
    /* Posts that never ran: run them in stopping mode (they free their arguments and drop
     * their references). They may post more; loop until none is left. */
    for (;;) {
        pthread_mutex_lock(&registry_mu);
        struct list_node *n = registry_items;
        if (n)
            list_remove(&registry_items, n);
        pthread_mutex_unlock(&registry_mu);
        if (!n)
            break;
        relay_item_run(list_entry(n, struct relay_item, node));
    }
    while (registry_tracked) {
        struct relay_tracked *t = registry_tracked;
        relay_untrack(t);
        t->release(t);
    }
    /* What is left was referenced by objects that are gone (a subscriber whose session was
     * freed already dropped its own): free it. */
    while (registry_relays) {
        struct relay_box *box = list_entry(registry_relays, struct relay_box, node);
        list_remove(&registry_relays, &box->node);
        relay_buf_deinit(&box->rl.buf);
        free(box);
    }
    while (registry_ports) {
        struct relay_port *p = list_entry(registry_ports, struct relay_port, node);
        list_remove(&registry_ports, &p->node);
        pthread_mutex_destroy(&p->mu);
        free(p->latched);
        free(p);
    }
    atomic_store(&registry_stopping, false);
}
