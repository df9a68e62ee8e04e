/* events: the lifecycle events of every session (created, exited, removed, resized,
 * title), fanned out to subscribers that live on any reactor — protocol connections
 * (EVENTS) and Server-Sent Events streams (GET /api/events).
 *
 * A publisher (any reactor thread) encodes the EVENT body once and, under one mutex held
 * for a few pointer copies, appends a reference to it to each interested subscriber's
 * bounded queue (EVENTS_QUEUE_MAX). A subscriber whose queue was idle is woken on its own
 * reactor by a post (at most one in flight), and pulls events when it flushes. Nothing
 * blocks: a subscriber that does not read loses events beyond its queue and is told so
 * with one DROPPED event (count), after which it should re-sync with LIST. */
#ifndef PTYHUB_EVENTS_H
#define PTYHUB_EVENTS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/reactor.h"
#include "proto/wire.h"

#define EVENTS_QUEUE_MAX 1024 /* events queued per subscriber at most */

struct events;
struct event_sub;

/* One encoded EVENT body (no framing), shared by every queue it sits in. */
struct event_msg {
    _Atomic unsigned refs;
    uint8_t kind;
    size_t len;
    uint8_t body[];
};

/* Creates / frees the fan-out (one per server; free after every subscriber left). */
struct events *events_new(void);
void events_free(struct events *ev);

/* Unix time in milliseconds, for event timestamps. */
uint64_t events_now_ms(void);

/* Publishes e (any thread): queued for every subscriber whose mask has bit e->kind. */
void events_publish(struct events *ev, const struct wire_event *e);

/* Subscribes on reactor r (the caller's thread) to the kinds in mask. wake(ctx) runs on
 * r's thread, from a post, when events arrive for an idle queue; it may only schedule
 * work (a flush). Never NULL. */
struct event_sub *events_subscribe(struct events *ev, reactor *r, uint32_t mask,
                                   void (*wake)(void *ctx), void *ctx);
/* Changes the kinds a subscriber receives (its thread). */
void event_sub_set_mask(struct event_sub *s, uint32_t mask);
/* Unsubscribes (its thread): wake is never called again; queued events are released.
 * Accepts NULL. */
void events_unsubscribe(struct event_sub *s);
/* Takes the next event (the caller unrefs it), or NULL when the queue is empty. After
 * drops, a DROPPED event (sid 0, count) comes once the queued events were taken. */
struct event_msg *event_sub_next(struct event_sub *s);
/* Events dropped for this subscriber so far (for tests and metrics). */
uint64_t event_sub_dropped_total(struct event_sub *s);
/* Releases a reference. Accepts NULL. */
void event_msg_unref(struct event_msg *m);

#endif
