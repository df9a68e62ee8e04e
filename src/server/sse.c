/* sse: lifecycle events as Server-Sent Events (see sse.h; the format is WHATWG HTML
 * §9.2 "Server-sent events"). Events are pulled from the subscriber's bounded queue only
 * while less than SSE_OUT_HIGH bytes wait for the client, so a client that does not read
 * costs at most that plus its queue, and is told what it lost with a `dropped` event. */
#include "server/sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/bytebuf.h"
#include "core/xalloc.h"
#include "proto/wire.h"
#include "server/events.h"
#include "server/hub.h"
#include "server/link.h"

#define SSE_OUT_HIGH (64u * 1024)
#define SSE_HEARTBEAT_NS (15ull * 1000 * 1000 * 1000)

struct sse {
    struct link *l;
    struct event_sub *evs;
    reactor_timer heartbeat;
};

static const char *const kind_names[] = {
    [WIRE_EV_CREATED] = "created", [WIRE_EV_EXITED] = "exited", [WIRE_EV_REMOVED] = "removed",
    [WIRE_EV_RESIZED] = "resized", [WIRE_EV_TITLE] = "title",   [WIRE_EV_DROPPED] = "dropped",
};

/* Adds a byte string (not NUL-terminated) to a JSON object. */
static void json_add_bytes(cJSON *o, const char *key, struct wire_bytes b)
{
    char *s = xmalloc(b.len + 1);
    memcpy(s, b.p, b.len);
    s[b.len] = '\0';
    cJSON_AddStringToObject(o, key, s);
    free(s);
}

/* The JSON `data` of one event (the same names as the REST API's session objects). */
static cJSON *event_json(const struct wire_event *e)
{
    cJSON *o = cJSON_CreateObject();
    if (e->kind != WIRE_EV_DROPPED)
        cJSON_AddNumberToObject(o, "id", e->sid);
    cJSON_AddNumberToObject(o, "time_ms", (double)e->time_ms);
    switch (e->kind) {
    case WIRE_EV_CREATED:
        cJSON_AddNumberToObject(o, "pid", e->pid);
        cJSON_AddNumberToObject(o, "cols", e->cols);
        cJSON_AddNumberToObject(o, "rows", e->rows);
        json_add_bytes(o, "name", e->name);
        json_add_bytes(o, "command", e->command);
        break;
    case WIRE_EV_EXITED:
        if (e->signal)
            cJSON_AddNullToObject(o, "exit_code");
        else
            cJSON_AddNumberToObject(o, "exit_code", e->code);
        if (e->signal)
            cJSON_AddNumberToObject(o, "exit_signal", e->signal);
        else
            cJSON_AddNullToObject(o, "exit_signal");
        cJSON_AddNumberToObject(o, "end", (double)e->end);
        break;
    case WIRE_EV_RESIZED:
        cJSON_AddNumberToObject(o, "cols", e->cols);
        cJSON_AddNumberToObject(o, "rows", e->rows);
        break;
    case WIRE_EV_TITLE:
        json_add_bytes(o, "title", e->title);
        break;
    case WIRE_EV_DROPPED:
        cJSON_AddNumberToObject(o, "count", e->count);
        break;
    default:
        break;
    }
    return o;
}

/* Appends one record: `event: KIND\ndata: JSON\n\n`. */
static void sse_append(struct sse *x, const struct event_msg *m)
{
    struct wire_msg w;
    if (wire_decode(m->body, m->len, &w) < 0 ||
        w.event.kind >= sizeof kind_names / sizeof *kind_names || !kind_names[w.event.kind])
        return;
    cJSON *o = event_json(&w.event);
    char *data = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!data)
        return;
    const char *kind = kind_names[w.event.kind];
    size_t n = strlen(kind) + strlen(data) + 32;
    char *p = (char *)bytebuf_reserve(&x->l->out, n);
    int k = snprintf(p, n, "event: %s\ndata: %s\n\n", kind, data);
    if (k > 0 && (size_t)k < n)
        x->l->out.len += (size_t)k;
    free(data);
}

/* Moves queued events into `out` while the client keeps up, then writes. */
static void sse_flush(struct link *l)
{
    struct sse *x = l->layer;
    while (l->out.len < SSE_OUT_HIGH) {
        struct event_msg *m = event_sub_next(x->evs);
        if (!m)
            break;
        sse_append(x, m);
        event_msg_unref(m);
    }
    link_flush_out(l);
    /* More queued than `out` may hold: the write edge (or the next event) brings us back. */
}

/* A comment line keeps idle intermediaries and clients from timing the stream out. */
static int sse_heartbeat_cb(reactor_timer *t, void *arg)
{
    struct sse *x = arg;
    if (x->l->out.len < SSE_OUT_HIGH) {
        static const char beat[] = ": keep-alive\n\n";
        memcpy(bytebuf_reserve(&x->l->out, sizeof beat - 1), beat, sizeof beat - 1);
        x->l->out.len += sizeof beat - 1;
        link_want_flush(x->l);
    }
    reactor_timer_start(x->l->r, t, SSE_HEARTBEAT_NS);
    return 0;
}

/* Events arrived (a post on this reactor): flush. */
static void sse_wake(void *ctx)
{
    struct sse *x = ctx;
    link_want_flush(x->l);
}

/* The client sends nothing meaningful on an event stream: what it sends is dropped. */
static void sse_process(struct link *l)
{
    link_consume(l, l->inlen);
}

/* True while events wait in the queue (a write edge should bring the flush back). */
static bool sse_wants_write(struct link *l)
{
    return l->out.len > 0;
}

/* The client closed its side: the stream is over. */
static void sse_on_eof(struct link *l)
{
    link_close(l, "the event stream's client went away");
}

static void sse_on_close(struct link *l)
{
    struct sse *x = l->layer;
    events_unsubscribe(x->evs);
    x->evs = NULL;
    reactor_timer_stop(l->r, &x->heartbeat);
}

static void sse_on_free(struct link *l)
{
    free(l->layer);
}

static const struct link_ops sse_ops = {
    .name = "sse",
    .process = sse_process,
    .flush = sse_flush,
    .wants_write = sse_wants_write,
    .on_eof = sse_on_eof,
    .on_close = sse_on_close,
    .on_free = sse_on_free,
};

void sse_adopt(struct link *l, uint32_t mask)
{
    struct sse *x = xcalloc(1, sizeof *x);
    x->l = l;
    link_set_layer(l, &sse_ops, x);
    l->in_max = 4096;
    l->out_high = SSE_OUT_HIGH;
    l->hold_read = false;
    x->evs = events_subscribe(hub_events(worker_server(l->w)), l->r, mask, sse_wake, x);
    reactor_timer_init(&x->heartbeat, sse_heartbeat_cb, x);
    reactor_timer_start(l->r, &x->heartbeat, SSE_HEARTBEAT_NS);
    link_want_flush(l);
}
