/* events: lifecycle events fanned out to subscribers on any reactor (see events.h).
 *
 * Lifetimes: a subscriber is freed when its last reference goes — the owner's (dropped
 * by events_unsubscribe) and that of a wake post in flight (dropped when the post ran).
 * The post runs on the subscriber's own reactor, the same thread that unsubscribes, so
 * it sees `wake == NULL` once the owner has left and calls nothing. */
#include "server/events.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/xalloc.h"

struct event_sub {
    struct events *ev;
    reactor *r;
    _Atomic unsigned refs;
    /* Guarded by ev->mu: */
    uint32_t mask;
    void (*wake)(void *ctx);
    void *ctx;
    bool wake_posted;
    struct event_msg *q[EVENTS_QUEUE_MAX]; /* ring */
    unsigned head, len;
    uint32_t dropped; /* since the last DROPPED was taken */
    uint64_t dropped_total;
    struct event_sub *prev, *next;
};

struct events {
    pthread_mutex_t mu;
    struct event_sub *subs;
};

struct events *events_new(void)
{
    struct events *ev = xcalloc(1, sizeof *ev);
    pthread_mutex_init(&ev->mu, NULL);
    return ev;
}

void events_free(struct events *ev)
{
    if (!ev)
        return;
    pthread_mutex_destroy(&ev->mu);
    free(ev);
}

uint64_t events_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void event_msg_unref(struct event_msg *m)
{
    if (m && atomic_fetch_sub(&m->refs, 1) == 1)
        free(m);
}

/* Encodes an event body once; NULL when it cannot be encoded. */
static struct event_msg *event_msg_new(const struct wire_event *e)
{
    struct wire_msg m = {.type = WIRE_EVENT, .event = *e};
    size_t n = wire_encode(&m, NULL, 0, false);
    if (n == 0)
        return NULL;
    struct event_msg *msg = xmalloc(sizeof *msg + n);
    atomic_init(&msg->refs, 1);
    msg->kind = e->kind;
    msg->len = n;
    wire_encode(&m, msg->body, n, false);
    return msg;
}

/* Drops a reference to a subscriber; the last one frees it. */
static void event_sub_unref(struct event_sub *s)
{
    if (atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    for (unsigned i = 0; i < s->len; i++)
        event_msg_unref(s->q[(s->head + i) % EVENTS_QUEUE_MAX]);
    free(s);
}

/* Runs on the subscriber's reactor: tells its owner, unless it has left. */
static int event_sub_wake_post(void *arg)
{
    struct event_sub *s = arg;
    pthread_mutex_lock(&s->ev->mu);
    s->wake_posted = false;
    void (*wake)(void *) = s->wake;
    void *ctx = s->ctx;
    pthread_mutex_unlock(&s->ev->mu);
    if (wake)
        wake(ctx);
    event_sub_unref(s);
    return 0;
}

/* Wakes a subscriber's owner on its reactor (one post in flight at most). ev->mu held. */
static void event_sub_kick(struct event_sub *s)
{
    if (s->wake_posted || !s->wake)
        return;
    s->wake_posted = true;
    atomic_fetch_add(&s->refs, 1);
    if (reactor_post(s->r, event_sub_wake_post, s) < 0) {
        s->wake_posted = false;
        atomic_fetch_sub(&s->refs, 1); /* the owner's reference remains */
        log_warn("cannot wake an event subscriber");
    }
}

/* Publishes to every interested subscriber. Once a queue overflowed, its later events
 * are dropped too until the subscriber has taken the DROPPED notice, so what it gets is
 * always "everything in order, then a gap it is told about". */
void events_publish(struct events *ev, const struct wire_event *e)
{
    struct event_msg *msg = event_msg_new(e);
    if (!msg)
        return;
    pthread_mutex_lock(&ev->mu);
    for (struct event_sub *s = ev->subs; s; s = s->next) {
        if (!(s->mask & (1u << (e->kind & 31))))
            continue;
        if (s->dropped || s->len == EVENTS_QUEUE_MAX) {
            s->dropped++;
            s->dropped_total++;
        } else {
            atomic_fetch_add(&msg->refs, 1);
            s->q[(s->head + s->len) % EVENTS_QUEUE_MAX] = msg;
            s->len++;
        }
        event_sub_kick(s);
    }
    pthread_mutex_unlock(&ev->mu);
    event_msg_unref(msg);
}

struct event_sub *events_subscribe(struct events *ev, reactor *r, uint32_t mask,
                                   void (*wake)(void *ctx), void *ctx)
{
    struct event_sub *s = xcalloc(1, sizeof *s);
    s->ev = ev;
    s->r = r;
    atomic_init(&s->refs, 1);
    s->mask = mask;
    s->wake = wake;
    s->ctx = ctx;
    pthread_mutex_lock(&ev->mu);
    s->next = ev->subs;
    if (ev->subs)
        ev->subs->prev = s;
    ev->subs = s;
    pthread_mutex_unlock(&ev->mu);
    return s;
}

void event_sub_set_mask(struct event_sub *s, uint32_t mask)
{
    pthread_mutex_lock(&s->ev->mu);
    s->mask = mask;
    pthread_mutex_unlock(&s->ev->mu);
}

void events_unsubscribe(struct event_sub *s)
{
    if (!s)
        return;
    struct events *ev = s->ev;
    pthread_mutex_lock(&ev->mu);
    if (s->prev)
        s->prev->next = s->next;
    else
        ev->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    s->wake = NULL;
    pthread_mutex_unlock(&ev->mu);
    event_sub_unref(s);
}

struct event_msg *event_sub_next(struct event_sub *s)
{
    struct event_msg *m = NULL;
    uint32_t dropped = 0;
    pthread_mutex_lock(&s->ev->mu);
    if (s->len) {
        m = s->q[s->head];
        s->head = (s->head + 1) % EVENTS_QUEUE_MAX;
        s->len--;
    } else if (s->dropped) {
        dropped = s->dropped;
        s->dropped = 0;
    }
    pthread_mutex_unlock(&s->ev->mu);
    if (dropped) {
        struct wire_event e = {
            .kind = WIRE_EV_DROPPED, .sid = 0, .time_ms = events_now_ms(), .count = dropped};
        m = event_msg_new(&e);
    }
    return m;
}

uint64_t event_sub_dropped_total(struct event_sub *s)
{
    pthread_mutex_lock(&s->ev->mu);
    uint64_t n = s->dropped_total;
    pthread_mutex_unlock(&s->ev->mu);
    return n;
}
