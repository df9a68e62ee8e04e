/* test_events: the lifecycle-event fan-out (src/server/events.c) across threads: every
 * event reaches a subscriber that reads, in publication order per publisher; one that
 * never reads gets its bounded queue, then one DROPPED with the exact count; nothing
 * leaks after unsubscribing with wakes in flight. Run under TSan as well (run_all.sh). */
#include <pthread.h>

#include "harness.h"
#include "proto/wire.h"
#include "server/events.h"

#define PUBLISHERS 4
#define EACH 5000

struct subscriber {
    reactor *r;
    struct event_sub *s;
    bool reads; /* drains on every wake */
    uint64_t got, dropped, wakes;
    uint32_t last[PUBLISHERS + 1]; /* last cols seen per publisher (sid) */
    bool in_order;
};

/* Takes everything queued, checking per-publisher order. Subscriber thread only. */
static void drain(struct subscriber *x)
{
    struct event_msg *m;
    while ((m = event_sub_next(x->s)) != NULL) {
        struct wire_msg w;
        CHECK_EQ(wire_decode(m->body, m->len, &w), 0);
        if (w.event.kind == WIRE_EV_DROPPED) {
            x->dropped += w.event.count;
        } else {
            CHECK(w.event.kind == WIRE_EV_RESIZED && w.event.sid >= 1 && w.event.sid <= PUBLISHERS);
            if (w.event.cols <= x->last[w.event.sid])
                x->in_order = false; /* increasing; gaps are the dropped ones */
            x->last[w.event.sid] = w.event.cols;
            x->got++;
        }
        event_msg_unref(m);
    }
}

static void on_wake(void *ctx)
{
    struct subscriber *x = ctx;
    x->wakes++;
    if (x->reads)
        drain(x);
}

struct pub {
    struct events *ev;
    uint32_t sid;
};

/* Publishes EACH resizes of its own session, cols counting up from 1. */
static void *publisher_main(void *arg)
{
    struct pub *p = arg;
    for (uint32_t i = 1; i <= EACH; i++) {
        struct wire_event e = {
            .kind = WIRE_EV_RESIZED, .sid = p->sid, .cols = (uint16_t)i, .rows = 1};
        events_publish(p->ev, &e);
    }
    return NULL;
}

static void *reactor_main(void *arg)
{
    CHECK_EQ(reactor_run(arg), 0);
    return NULL;
}

/* Runs last on a subscriber's reactor (posts are FIFO, so after every wake posted so
 * far): take what is left, leave, stop. */
static int finish_post(void *arg)
{
    struct subscriber *x = arg;
    drain(x);
    events_unsubscribe(x->s);
    x->s = NULL;
    reactor_stop(x->r);
    return 0;
}

/* Subscribes from the subscriber's own thread, as connections do. */
struct sub_req {
    struct events *ev;
    struct subscriber *x;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
};

static int subscribe_post(void *arg)
{
    struct sub_req *q = arg;
    q->x->s = events_subscribe(q->ev, q->x->r, 1u << WIRE_EV_RESIZED, on_wake, q->x);
    pthread_mutex_lock(&q->mu);
    q->done = true;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

static void subscribe_on(struct events *ev, struct subscriber *x)
{
    struct sub_req q = {.ev = ev, .x = x};
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.cv, NULL);
    CHECK_EQ(reactor_post(x->r, subscribe_post, &q), 0);
    pthread_mutex_lock(&q.mu);
    while (!q.done)
        pthread_cond_wait(&q.cv, &q.mu);
    pthread_mutex_unlock(&q.mu);
    pthread_cond_destroy(&q.cv);
    pthread_mutex_destroy(&q.mu);
}

TEST_BACKENDS_TIMEOUT(events_fan_out_across_threads, 120)
{
    struct events *ev = events_new();
    struct subscriber live = {.reads = true, .in_order = true},
                      stuck = {.reads = false, .in_order = true};
    reactor_config cfg = {.backend = backend};
    CHECK_EQ(reactor_new(&live.r, &cfg), 0);
    CHECK_EQ(reactor_new(&stuck.r, &cfg), 0);
    pthread_t lt, st, pt[PUBLISHERS];
    CHECK(pthread_create(&lt, NULL, reactor_main, live.r) == 0);
    CHECK(pthread_create(&st, NULL, reactor_main, stuck.r) == 0);
    subscribe_on(ev, &live);
    subscribe_on(ev, &stuck);
    struct pub pubs[PUBLISHERS];
    for (int i = 0; i < PUBLISHERS; i++) {
        pubs[i] = (struct pub){ev, (uint32_t)i + 1};
        CHECK(pthread_create(&pt[i], NULL, publisher_main, &pubs[i]) == 0);
    }
    for (int i = 0; i < PUBLISHERS; i++)
        pthread_join(pt[i], NULL);
    CHECK_EQ(reactor_post(live.r, finish_post, &live), 0);
    CHECK_EQ(reactor_post(stuck.r, finish_post, &stuck), 0);
    pthread_join(lt, NULL);
    pthread_join(st, NULL);

    /* Four threads publishing in a tight loop can outrun even a reader that drains on
     * every wake: whatever it did not take in time is counted, never lost silently. */
    CHECK_U64_EQ(live.got + live.dropped, (uint64_t)PUBLISHERS * EACH);
    CHECK(live.got >= EVENTS_QUEUE_MAX);
    CHECK(live.in_order);
    CHECK_MSG(live.wakes < live.got, "%llu wakes for %llu events: wakes are coalesced",
              (unsigned long long)live.wakes, (unsigned long long)live.got);
    /* The stuck one: its whole queue, in order, then exactly what it lost. */
    CHECK_U64_EQ(stuck.got, EVENTS_QUEUE_MAX);
    CHECK_U64_EQ(stuck.dropped, (uint64_t)PUBLISHERS * EACH - EVENTS_QUEUE_MAX);
    CHECK(stuck.in_order || stuck.got == EVENTS_QUEUE_MAX);
    reactor_free(live.r);
    reactor_free(stuck.r);
    events_free(ev);
}

TEST(events_mask_and_unknown_kinds)
{
    struct events *ev = events_new();
    reactor *r;
    reactor_config cfg = {.backend = REACTOR_AUTO};
    CHECK_EQ(reactor_new(&r, &cfg), 0);
    struct subscriber x = {.r = r};
    x.s = events_subscribe(ev, r, 1u << WIRE_EV_EXITED, on_wake, &x);
    struct wire_event created = {
        .kind = WIRE_EV_CREATED, .sid = 1, .name = {(const uint8_t *)"n", 1}};
    struct wire_event exited = {.kind = WIRE_EV_EXITED, .sid = 1, .code = 3, .end = 9};
    events_publish(ev, &created);
    events_publish(ev, &exited);
    struct event_msg *m = event_sub_next(x.s);
    CHECK(m != NULL);
    struct wire_msg w;
    CHECK_EQ(wire_decode(m->body, m->len, &w), 0);
    CHECK_EQ(w.event.kind, WIRE_EV_EXITED);
    CHECK_EQ(w.event.code, 3);
    CHECK_U64_EQ(w.event.end, 9);
    event_msg_unref(m);
    CHECK(event_sub_next(x.s) == NULL);
    event_sub_set_mask(x.s, 0);
    events_publish(ev, &exited);
    CHECK(event_sub_next(x.s) == NULL);
    /* Unsubscribing with a wake post in flight: the post runs, calls nothing, frees. */
    event_sub_set_mask(x.s, ~0u);
    events_publish(ev, &created);
    events_unsubscribe(x.s);
    uint64_t wakes = x.wakes;
    CHECK_EQ(reactor_run_once(r, 0), 0);
    CHECK_U64_EQ(x.wakes, wakes);
    reactor_free(r);
    events_free(ev);
}
