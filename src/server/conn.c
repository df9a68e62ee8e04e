/* conn: a session-protocol client over a byte stream (Unix socket or stdio).
 *
 * Input: bytes are read into rbuf and processed frame by frame. Processing stops (the
 * frame stays at the head of rbuf) when an INPUT does not fit in the session's input
 * queue — the socket is then not read until the queue drains — or when the connection
 * must move to the reactor that owns the session it addressed (hand-over).
 *
 * Output: replies are queued in `out` (a bytebuf of owned bytes). Session output is
 * never copied on the way out: at the end of a turn, one writev sends `out`, then for
 * each subscription an OUTPUT header followed by the ring segments. Only when the socket
 * takes part of a frame is the rest of that one frame copied to `out`, so a
 * subscription's cursor can advance and the memory held per stalled client stays
 * bounded by one frame. */
#include "server/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/bytebuf.h"
#include "core/list.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "proto/paste.h"
#include "proto/wire.h"
#include "proto/ws_frame.h"
#include "pty/session.h"
#include "server/events.h"
#include "server/framing.h"
#include "server/hub.h"
#include "server/link.h"
#include "server/relay.h"
#include "server/screen.h"
#include "term/vt.h"

#define CONN_RBUF_INITIAL (64u * 1024)
#define CONN_RBUF_MAX (WS_FRAME_HEADER_MAX + WIRE_MAX_BODY)
#define CONN_HDR_MAX (WS_FRAME_HEADER_MAX + WIRE_OUTPUT_HDR) /* framing + OUTPUT header */
#define CONN_FRAME_MAX (256u * 1024)                         /* output bytes per OUTPUT frame */
#define CONN_WBUF_HIGH (256u * 1024) /* stop reading requests above this much reply */
#define CONN_MAX_ACKS 4096           /* WRITEs waiting for their OK, per connection */
#define CONN_MAX_WAITS 4096          /* WAITs waiting for their WAITED, per connection */
#define CONN_READ_QUANTUM (256u * 1024)
#define CONN_MAX_FRAMES 32
/* Unacknowledged bytes for ACK-paced clients. */
#define CONN_ACK_WINDOW (2u * 1024 * 1024)
/* For ACK-paced clients that render (HELLO flag HOLD: the page), the window is smaller
 * (--render-hold, default 256 KiB), and an interactive attachment also holds its program
 * back by the acknowledged offset with it: the program runs at most this far ahead of
 * what xterm.js rendered (tens of ms at its 5-35 MB/s), so Ctrl-C during a flood stops
 * the screen quickly. */

struct csub {
    struct sub sub; /* a local session's subscriber (for a remote one: only its settings) */
    struct conn *c;
    uint32_t sid;
    uint64_t acked;
    bool drained; /* its removed session delivered everything: dropped after the flush */
    /* A session on another reactor: its output comes through a relay (relay.h), which
     * starts once ATTACHED came back from there (active). */
    struct relay *rl;
    struct worker *sw;  /* the session's worker */
    uint64_t attach_id; /* matches the ATTACHED that comes back */
    bool active;
    struct csub *next;
};

/* A WRITE waiting for its bytes to reach the PTY. */
struct write_ack {
    struct session_waiter w;
    struct conn *c;
    struct session *s; /* alive while the wait is: it is woken before the session goes */
    uint32_t req, sid;
    size_t len;
    struct write_ack *next;
};

/* A WAIT waiting for its WAITED. */
struct conn_wait {
    struct screen_wait *w;
    struct conn *c;
    uint32_t req, sid;
    struct conn_wait *prev, *next;
};

/* The session-protocol layer's state on a link (link.h owns fds, buffers, lifecycle). */
struct conn {
    struct link *l;
    unsigned flags;
    reactor_timer hello_timer; /* a client that never says HELLO is dropped */
    bool hello;
    bool ack_paced;
    bool hold;         /* a rendering client: lossless attachments hold by its ACKs */
    uint64_t window;   /* unacknowledged OUTPUT bytes at most, for an ACK-paced client */
    struct framing fr; /* length prefixes or WebSocket messages */
    uint16_t version;  /* negotiated protocol version */
    struct csub *subs;
    unsigned nsubs;
    struct write_ack *acks; /* WRITEs waiting for their OK */
    unsigned nacks;
    struct conn_wait *waits; /* WAITs waiting for their WAITED */
    unsigned nwaits;
    uint32_t *latched; /* sessions whose WRITEs are refused until one with RESUME */
    size_t nlatched, caplatched;
    uint32_t *owned; /* stdio: sessions this client created, ended with it */
    size_t nowned, capowned;
    /* Sessions on other reactors (relay.h): the port their replies come back through,
     * made when first needed; the request being dispatched, forwarded as it came. */
    struct relay_port *port;
    const uint8_t *cur_body;
    size_t cur_len;
    uint64_t attach_seq;
    struct event_sub *evs; /* EVENTS subscription (version 3), or NULL */
};

/* What a request handler did: the framing's steps (handled, again later, close). */
enum { STEP_NEXT = FRAMING_NEXT, STEP_STOP = FRAMING_STOP, STEP_CLOSE = FRAMING_CLOSE };

static void csub_remove(struct conn *c, struct csub *cs);
static size_t remote_prepare(struct conn *c, struct csub *cs);
static bool remote_wants_write(struct conn *c, struct csub *cs);
static int conn_remote(struct conn *c, struct worker *to, uint32_t req, uint32_t sid);
static const struct link_ops conn_ops_stream, conn_ops_ws;

/* ---- output ------------------------------------------------------------------------ */

/* Writes the framing in front of a body of n bytes (framing.c) and returns its size. */
static size_t conn_frame_header(const struct conn *c, uint8_t *out, size_t n)
{
    return framing_header(&c->fr, out, n);
}

/* Schedules a flush (the link coalesces: once per turn, or per --coalesce-ms). */
static void conn_want_flush(struct conn *c)
{
    link_want_flush(c->l);
}

/* Queues one encoded message with its framing. */
static void conn_send(struct conn *c, const struct wire_msg *m)
{
    size_t n = wire_encode(m, NULL, 0, false);
    if (n == 0) {
        log_error("cannot encode a %s message", wire_type_name(m->type));
        return;
    }
    uint8_t *p = bytebuf_reserve(&c->l->out, WS_FRAME_HEADER_MAX + n);
    size_t h = conn_frame_header(c, p, n);
    wire_encode(m, p + h, n, false);
    c->l->out.len += h + n;
    conn_want_flush(c);
}

/* Queues an ERROR. */
static void conn_error(struct conn *c, uint32_t req, uint32_t sid, uint16_t code, const char *fmt,
                       ...) __attribute__((format(printf, 5, 6)));
static void conn_error(struct conn *c, uint32_t req, uint32_t sid, uint16_t code, const char *fmt,
                       ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct wire_msg m = {.type = WIRE_ERROR};
    m.error = (struct wire_error){.req = req, .sid = sid, .code = code};
    m.error.message = (struct wire_bytes){
        (const uint8_t *)msg, n < 0 ? 0 : ((size_t)n >= sizeof msg ? sizeof msg - 1 : (size_t)n)};
    conn_send(c, &m);
}

/* Queues an OK. */
static void conn_ok(struct conn *c, uint32_t req)
{
    struct wire_msg m = {.type = WIRE_OK};
    m.ok.req = req;
    conn_send(c, &m);
}

struct frame {
    struct csub *cs;
    uint64_t offset;
    size_t n;    /* payload bytes */
    size_t hlen; /* header bytes */
    uint8_t hdr[CONN_HDR_MAX];
    int iov_first, iov_count;
};

/* Queues what a subscription needs besides output bytes (a gap, the exit) and returns
 * how many output bytes it may send now. */
static size_t csub_prepare(struct conn *c, struct csub *cs)
{
    struct session *s = cs->sub.s;
    uint64_t start = session_start(s), end = session_end(s);
    if (cs->sub.cursor < start) {
        /* A viewer fell out of the ring. Being behind is a state, not a queue entry: one
         * GAP [cursor, start) is queued only once the client has taken everything sent
         * before, then it goes on from the oldest retained byte. However long it stalls,
         * at most one GAP is waiting. */
        if (c->l->out.len)
            return 0; /* the client has not taken what it was sent: no GAP piles up */
        struct wire_msg m = {.type = WIRE_GAP};
        m.gap = (struct wire_gap){cs->sid, cs->sub.cursor, start};
        conn_send(c, &m);
        cs->acked += start - cs->sub.cursor;
        sub_consumed(&cs->sub, start);
        cs->sub.cursor = start;
    }
    if (cs->sub.cursor == end) {
        if (session_exited(s) && !cs->sub.exit_sent) {
            int code, sig;
            session_exit_status(s, &code, &sig);
            struct wire_msg m = {.type = WIRE_EXIT};
            m.exit = (struct wire_exit){cs->sid, end, code, sig};
            conn_send(c, &m);
            cs->sub.exit_sent = true;
        }
        /* A removed session lives on only for subscribers still draining it: this one
         * has everything now, so let go (the session is freed after its last one). */
        if (cs->sub.exit_sent && session_removed(s)) {
            session_detach(&cs->sub);
            cs->drained = true;
        }
        return 0;
    }
    uint64_t avail = end - cs->sub.cursor;
    if (c->ack_paced) {
        uint64_t unacked = cs->sub.cursor - cs->acked;
        if (unacked >= c->window)
            return 0;
        if (avail > c->window - unacked)
            avail = c->window - unacked;
    }
    return avail > CONN_FRAME_MAX ? CONN_FRAME_MAX : (size_t)avail;
}

/* Moves queued lifecycle events into `out` while the client takes its replies: a client
 * that does not read leaves them in its bounded queue (and later gets DROPPED), so they
 * never pile up here. */
static void conn_pull_events(struct conn *c)
{
    while (c->evs && c->l->out.len < CONN_WBUF_HIGH) {
        struct event_msg *m = event_sub_next(c->evs);
        if (!m)
            break;
        uint8_t *p = bytebuf_reserve(&c->l->out, WS_FRAME_HEADER_MAX + m->len);
        size_t h = conn_frame_header(c, p, m->len);
        memcpy(p + h, m->body, m->len);
        c->l->out.len += h + m->len;
        event_msg_unref(m);
    }
}

/* Writes replies and output until done or the fd is full. One writev per round: `out`,
 * then OUTPUT header + ring segments for each subscription with data. */
static void conn_flush(struct conn *c)
{
    int round;
    for (round = 0; round < 64 && !c->l->closing && !c->l->moving; round++) {
        conn_pull_events(c);
        struct iovec iov[1 + CONN_MAX_FRAMES * 3];
        struct frame frames[CONN_MAX_FRAMES];
        int nframes = 0, niov = 1;
        for (struct csub *cs = c->subs; cs && nframes < CONN_MAX_FRAMES; cs = cs->next) {
            struct frame *f = &frames[nframes];
            int cnt = 0;
            ssize_t n;
            uint64_t offset;
            if (cs->rl) {
                /* A session on another reactor: from its relay's buffer. */
                size_t max = remote_prepare(c, cs);
                if (!max)
                    continue;
                offset = cs->rl->c_offset;
                n = (ssize_t)relay_peek(cs->rl, max, &iov[niov + 1], &cnt);
            } else {
                if (!cs->sub.s)
                    continue;
                size_t max = csub_prepare(c, cs);
                if (!max)
                    continue;
                offset = cs->sub.cursor;
                n = session_peek(cs->sub.s, offset, max, &iov[niov + 1], &cnt);
            }
            if (n <= 0)
                continue;
            f->cs = cs;
            f->offset = offset;
            f->n = (size_t)n;
            size_t h = conn_frame_header(c, f->hdr, WIRE_OUTPUT_HDR + f->n);
            f->hlen = h + wire_output_header(f->hdr + h, false, cs->sid, f->offset, f->n);
            iov[niov] = (struct iovec){f->hdr, f->hlen};
            f->iov_first = niov;
            f->iov_count = 1 + cnt;
            niov += 1 + cnt;
            nframes++;
        }
        iov[0] = (struct iovec){c->l->out.data + c->l->out.head, c->l->out.len};
        if (c->l->out.len == 0 && nframes == 0)
            break;
        ssize_t w = link_writev(c->l, iov, niov);
        if (w < 0)
            return; /* closed */
        if (w == 0)
            break; /* the fd is full: a write edge brings us back */
        size_t left = (size_t)w, total = (size_t)w;
        size_t from_out = left < c->l->out.len ? left : c->l->out.len;
        bytebuf_consume(&c->l->out, from_out);
        left -= from_out;
        bool short_write = false;
        for (int i = 0; i < nframes; i++) {
            struct frame *f = &frames[i];
            size_t size = f->hlen + f->n;
            if (left == 0) {
                short_write = true;
                break;
            }
            if (left < size) {
                /* The fd took part of this frame: keep the rest ourselves. */
                size_t skip = left;
                uint8_t *p = bytebuf_reserve(&c->l->out, size - skip);
                for (int k = 0; k < f->iov_count; k++) {
                    struct iovec *v = &iov[f->iov_first + k];
                    if (skip >= v->iov_len) {
                        skip -= v->iov_len;
                        continue;
                    }
                    memcpy(p, (uint8_t *)v->iov_base + skip, v->iov_len - skip);
                    p += v->iov_len - skip;
                    c->l->out.len += v->iov_len - skip;
                    skip = 0;
                }
                left = 0;
                short_write = true;
            } else {
                left -= size;
            }
            if (f->cs->rl)
                relay_consumed(f->cs->rl, f->n);
            else
                sub_consumed(&f->cs->sub, f->offset + f->n);
        }
        (void)total;
        if (short_write || c->l->out.len)
            break;
    }
    if (round == 64)
        conn_want_flush(c); /* more to send but the fd is not full: go on next turn */
    for (struct csub *cs = c->subs, *next; cs; cs = next) {
        next = cs->next;
        if (cs->drained)
            csub_remove(c, cs);
    }
    link_update(c->l);
}

/* A session has output, a gap or an exit for this subscription. */
static void csub_notify(struct sub *sub)
{
    struct csub *cs = sub->owner;
    conn_want_flush(cs->c);
}

/* Forgets a subscription (a remote one lets go of its relay). */
static void csub_remove(struct conn *c, struct csub *cs)
{
    if (cs->rl)
        relay_close(cs->rl);
    for (struct csub **pp = &c->subs; *pp; pp = &(*pp)->next) {
        if (*pp == cs) {
            *pp = cs->next;
            break;
        }
    }
    c->nsubs--;
    free(cs);
}

/* The session is being freed at teardown: forget the subscription (a removal at run
 * time never calls this: the session waits for its subscribers to drain). */
static void csub_gone(struct sub *sub, struct session *s)
{
    (void)s;
    struct csub *cs = sub->owner;
    csub_remove(cs->c, cs);
}

/* The session's size changed: version 2 clients are told (RESIZED), so every attached
 * client learns another's resize without polling LIST. */
static void csub_resized(struct sub *sub, uint16_t cols, uint16_t rows)
{
    struct csub *cs = sub->owner;
    if (cs->c->version < 2)
        return;
    struct wire_msg m = {.type = WIRE_RESIZED};
    m.resized = (struct wire_resized){cs->sid, cols, rows};
    conn_send(cs->c, &m);
}

static const struct sub_ops csub_ops = {
    .notify = csub_notify, .gone = csub_gone, .resized = csub_resized};

/* Finds this connection's subscription to sid. */
static struct csub *conn_find_sub(struct conn *c, uint32_t sid)
{
    for (struct csub *cs = c->subs; cs; cs = cs->next)
        if (cs->sid == sid)
            return cs;
    return NULL;
}

/* Moves the connection to worker `to`; the head frame is processed again there. Only
 * while nothing ties it to this worker (subscriptions, WRITE acks and WAITs are pinned). */
static int conn_move(struct conn *c, struct worker *to)
{
    /* An EVENTS subscription wakes this reactor by post: it pins the connection too. */
    if (c->nsubs || c->nacks || c->nwaits || c->evs || (c->port && relay_port_pending(c->port)))
        return -EBUSY;
    int rc = link_move(c->l, to);
    if (rc == 0 && c->port) {
        /* Nothing is in flight: the next port is made on the new reactor. */
        relay_port_close(c->port);
        c->port = NULL;
    }
    return rc;
}

/* Resolves sid to a session on this reactor. When it lives on another, the connection
 * moves there if nothing ties it here, else the request being handled is forwarded to
 * that reactor (conn_remote). Returns the session, or NULL with *step set (an error was
 * queued, the request was forwarded, or the connection is moving). */
static struct session *conn_local_session(struct conn *c, uint32_t req, uint32_t sid, int *step)
{
    /* An attached session is at hand: a keystroke does not take the table's lock. */
    struct csub *cs = conn_find_sub(c, sid);
    if (cs && cs->sub.s && !session_removed(cs->sub.s))
        return cs->sub.s;
    if (cs && cs->rl) {
        *step = conn_remote(c, cs->sw, req, sid);
        return NULL;
    }
    struct session *s;
    struct worker *owner;
    if (hub_find(worker_server(c->l->w), sid, &s, &owner) < 0) {
        conn_error(c, req, sid, WIRE_ERR_NO_SUCH_SESSION, "no session %u (see: ptyhub ls)", sid);
        *step = STEP_NEXT;
        return NULL;
    }
    if (owner == c->l->w)
        return s;
    if (conn_move(c, owner) < 0) {
        *step = conn_remote(c, owner, req, sid);
        return NULL;
    }
    *step = STEP_STOP;
    return NULL;
}

/* ---- requests ---------------------------------------------------------------------- */

/* The capabilities a connection of this version is told of. */
static uint16_t conn_welcome_flags(const struct conn *c)
{
    uint16_t f = 0;
    if (c->version >= 2)
        f |= WIRE_WELCOME_F_WRITE | WIRE_WELCOME_F_RESIZED;
    if (c->version >= 3)
        f |= WIRE_WELCOME_F_OPEN | WIRE_WELCOME_F_EVENTS | WIRE_WELCOME_F_PASTE;
    if (c->version >= 3 && hub_config(worker_server(c->l->w))->terminal_state)
        f |= WIRE_WELCOME_F_TERMINAL;
    return f;
}

/* HELLO: the client names the highest version it speaks; the answer is the highest
 * version both speak (docs/protocol.md), so newer clients can fall back. */
static int on_hello(struct conn *c, const struct wire_hello *h)
{
    if (h->version < WIRE_VERSION_MIN) {
        conn_error(c, 0, 0, WIRE_ERR_VERSION,
                   "protocol version %u is not supported; this server speaks versions %u to %u",
                   h->version, WIRE_VERSION_MIN, WIRE_VERSION);
        return STEP_CLOSE;
    }
    c->hello = true;
    reactor_timer_stop(c->l->r, &c->hello_timer);
    c->version = h->version < WIRE_VERSION ? h->version : WIRE_VERSION;
    c->ack_paced = h->flags & WIRE_HELLO_F_ACK;
    size_t render_hold = hub_config(worker_server(c->l->w))->render_hold;
    c->hold = c->ack_paced && (h->flags & WIRE_HELLO_F_HOLD) && c->version >= 2 && render_hold;
    c->window = c->hold ? render_hold : CONN_ACK_WINDOW;
    struct wire_msg m = {.type = WIRE_WELCOME};
    m.welcome = (struct wire_welcome){
        .version = c->version, .flags = conn_welcome_flags(c), .server_pid = (uint32_t)getpid()};
    m.welcome.server_version = (struct wire_bytes){(const uint8_t *)"ptyhub " PTYHUB_VERSION,
                                                   strlen("ptyhub " PTYHUB_VERSION)};
    conn_send(c, &m);
    return STEP_NEXT;
}

/* Spawns a session placed on this reactor (by hub_place) for CREATE or OPEN and answers
 * CREATED. Returns it, or NULL after queueing the ERROR. */
static struct session *conn_spawn(struct conn *c, const struct wire_create *cr, bool hold)
{
    struct session *s;
    uint16_t code = 0;
    char err[512];
    int rc = hub_open(c->l->w, cr, hold, &s, &code, err, sizeof err);
    hub_place_done(c->l->w);
    if (rc < 0) {
        conn_error(c, cr->req, 0, code, "%s", err);
        return NULL;
    }
    if (c->flags & CONN_STDIO) {
        if (c->nowned == c->capowned) {
            c->capowned = c->capowned ? c->capowned * 2 : 16;
            c->owned = xrealloc(c->owned, c->capowned * sizeof *c->owned);
        }
        c->owned[c->nowned++] = session_id(s);
    }
    struct session_summary sum;
    session_summary(s, &sum);
    struct wire_msg m = {.type = WIRE_CREATED};
    m.created = (struct wire_created){cr->req, session_id(s), (int32_t)sum.pid};
    conn_send(c, &m);
    return s;
}

/* CREATE: spawn where --placement says (this reactor, or the least loaded). */
static int on_create(struct conn *c, const struct wire_create *cr)
{
    struct worker *to = hub_place(c->l->w);
    if (to != c->l->w)
        return conn_remote(c, to, cr->req, 0);
    conn_spawn(c, cr, false);
    return STEP_NEXT;
}

/* ATTACH: subscribe from an offset, the tail, the live edge, or (version 3) a snapshot of
 * the screen followed by the output from the offset it represents. */
/* ---- attach, shared by local and forwarded attachments -------------------------------- */

/* Where an ATTACH starts: the retained range [start, end) and the first offset to send
 * (for a snapshot, the end: the snapshot is taken in attach_replies once the size is
 * settled). Returns 0, or an error code with its message in err. */
static uint16_t attach_plan(struct session *s, const struct wire_attach *a, uint64_t *start,
                            uint64_t *end, uint64_t *from, char *err, size_t errlen)
{
    if (a->from_kind == WIRE_FROM_SNAPSHOT && !session_has_terminal(s)) {
        snprintf(err, errlen,
                 "session %u keeps no terminal state (--terminal-state off): attach from an "
                 "offset instead",
                 a->sid);
        return WIRE_ERR_UNAVAILABLE;
    }
    *start = session_start(s);
    *end = session_end(s);
    switch (a->from_kind) {
    case WIRE_FROM_TAIL:
        *from = a->from >= *end ? 0 : *end - a->from;
        if (*from < *start)
            *from = *start;
        break;
    case WIRE_FROM_LIVE:
    case WIRE_FROM_SNAPSHOT:
        *from = *end;
        break;
    default:
        *from = a->from;
        if (*from > *end) {
            snprintf(err, errlen, "offset %llu is beyond the end of output (%llu)",
                     (unsigned long long)*from, (unsigned long long)*end);
            return WIRE_ERR_BAD_ARGUMENT;
        }
        break;
    }
    return 0;
}

/* Sends one message of an attach's replies (conn_send or reply_msg). */
typedef void (*attach_emit_fn)(void *ctx, const struct wire_msg *m);

/* The replies of an accepted ATTACH, on the session's reactor: an interactive attach's
 * size, then ATTACHED, the SNAPSHOT (taken in the same step as the attachment, so the
 * subscription starts exactly at the offset the screen represents) and a GAP for what
 * is no longer retained. Returns the offset the subscription starts at. */
static uint64_t attach_replies(struct session *s, const struct wire_attach *a, uint64_t start,
                               uint64_t end, uint64_t from, attach_emit_fn emit, void *ctx)
{
    if (a->mode == WIRE_MODE_INTERACTIVE && a->cols && a->rows && !session_exited(s))
        session_resize(s, a->cols, a->rows);
    uint16_t cols, rows;
    session_size(s, &cols, &rows);
    uint8_t *snap = NULL;
    size_t snap_len = 0;
    if (a->from_kind == WIRE_FROM_SNAPSHOT) {
        const struct vt *vt = session_terminal(s, &from);
        snap = screen_render(vt, true, &snap_len);
        end = from;
    }
    struct wire_msg m = {.type = WIRE_ATTACHED};
    m.attached = (struct wire_attached){a->req,
                                        a->sid,
                                        start,
                                        end,
                                        cols,
                                        rows,
                                        session_exited(s) ? WIRE_STATE_EXITED : WIRE_STATE_RUNNING};
    emit(ctx, &m);
    if (snap) {
        struct wire_msg sm = {.type = WIRE_SNAPSHOT};
        sm.snapshot = (struct wire_snapshot){a->sid, from, {snap, snap_len}};
        if (snap_len > WIRE_MAX_BODY - WIRE_SNAPSHOT_HDR) {
            /* A giant screen's snapshot does not fit one message: the client gets an
             * empty one (a blank screen) and the output from here on. */
            log_warn("session %u: a %zu-byte snapshot does not fit a message", a->sid, snap_len);
            sm.snapshot.data.len = 0;
        }
        emit(ctx, &sm);
        free(snap);
    }
    if (from < start) {
        struct wire_msg g = {.type = WIRE_GAP};
        g.gap = (struct wire_gap){a->sid, from, start};
        emit(ctx, &g);
        from = start;
    }
    return from;
}

/* conn_send as an attach_replies emitter. */
static void conn_emit(void *ctx, const struct wire_msg *m)
{
    conn_send(ctx, m);
}

static int on_attach(struct conn *c, const struct wire_attach *a)
{
    if (a->from_kind == WIRE_FROM_SNAPSHOT && c->version < 3) {
        conn_error(c, a->req, a->sid, WIRE_ERR_BAD_ARGUMENT,
                   "attaching from a snapshot (from_kind 3) needs protocol version 3");
        return STEP_NEXT;
    }
    int step;
    struct session *s = conn_local_session(c, a->req, a->sid, &step);
    if (!s)
        return step;
    uint64_t start, end, from;
    char err[160];
    uint16_t code = attach_plan(s, a, &start, &end, &from, err, sizeof err);
    if (code) {
        conn_error(c, a->req, a->sid, code, "%s", err);
        return STEP_NEXT;
    }
    struct csub *cs = conn_find_sub(c, a->sid);
    unsigned limit = hub_config(worker_server(c->l->w))->max_session_clients;
    struct session_summary sum;
    session_summary(s, &sum);
    if (!cs && sum.clients >= limit) {
        conn_error(c, a->req, a->sid, WIRE_ERR_LIMIT,
                   "session %u already has %u clients (--max-session-clients)", a->sid, limit);
        return STEP_NEXT;
    }
    if (cs) {
        session_detach(&cs->sub);
    } else {
        cs = xcalloc(1, sizeof *cs);
        cs->c = c;
        cs->sid = a->sid;
        cs->next = c->subs;
        c->subs = cs;
        c->nsubs++;
    }
    bool interactive = a->mode == WIRE_MODE_INTERACTIVE;
    cs->sub.ops = &csub_ops;
    cs->sub.owner = cs;
    cs->sub.interactive = interactive;
    cs->sub.lossless = interactive || (c->flags & CONN_STDIO);
    from = attach_replies(s, a, start, end, from, conn_emit, c);
    cs->acked = from;
    bool held = c->hold && cs->sub.lossless;
    cs->sub.hold = from;
    cs->sub.limit = held ? c->window : 0;
    session_attach(s, &cs->sub, from);
    return STEP_NEXT;
}

/* OPEN: CREATE, then (ATTACH) this connection attached from offset 0, or (HOLD) the
 * output held until someone attaches. The session is spawned held in both cases: its
 * PTY is not read until the first attach, so the attach from 0 loses nothing whatever
 * the output rate and the scrollback, however long it takes to get there. Placed on this
 * reactor, the attach is the very next step (the subscription exists before the PTY is
 * first read); placed on another, the OPEN is forwarded and its CREATED reply, back
 * here, sends the ATTACH there (conn_open_attach). */
static int on_open(struct conn *c, const struct wire_open *op)
{
    struct worker *to = hub_place(c->l->w);
    if (to != c->l->w)
        return conn_remote(c, to, op->create.req, 0);
    bool attach = op->flags & WIRE_OPEN_F_ATTACH;
    bool hold = attach || (op->flags & WIRE_OPEN_F_HOLD);
    struct session *s = conn_spawn(c, &op->create, hold);
    if (!s || !attach)
        return STEP_NEXT;
    struct wire_attach a = {.req = op->create.req,
                            .sid = session_id(s),
                            .mode = op->mode,
                            .from_kind = WIRE_FROM_OFFSET,
                            .from = 0};
    return on_attach(c, &a);
}

/* EVENTS: subscribe this connection to lifecycle events (mask 0: unsubscribe). */
static void conn_events_wake(void *ctx)
{
    conn_want_flush(ctx);
}

static int on_events(struct conn *c, const struct wire_events *ev)
{
    if (ev->mask == 0) {
        events_unsubscribe(c->evs);
        c->evs = NULL;
    } else if (c->evs) {
        event_sub_set_mask(c->evs, ev->mask);
    } else {
        c->evs = events_subscribe(hub_events(worker_server(c->l->w)), c->l->r, ev->mask,
                                  conn_events_wake, c);
    }
    conn_ok(c, ev->req);
    return STEP_NEXT;
}

/* DETACH: drop a subscription. */
static int on_detach(struct conn *c, const struct wire_detach *d)
{
    struct csub *cs = conn_find_sub(c, d->sid);
    if (!cs) {
        conn_error(c, d->req, d->sid, WIRE_ERR_NOT_ATTACHED, "not attached to session %u", d->sid);
        return STEP_NEXT;
    }
    if (cs->rl) {
        /* The OK comes back from the session's reactor, after its ATTACHED. */
        struct worker *sw = cs->sw;
        csub_remove(c, cs);
        return conn_remote(c, sw, d->req, d->sid);
    }
    session_detach(&cs->sub);
    csub_remove(c, cs);
    conn_ok(c, d->req);
    return STEP_NEXT;
}

/* Queues input for a session, all or nothing. Returns true when queued; otherwise an
 * ERROR naming req and sid has been queued. The connection never waits for a session's
 * input queue: a full one is the sender's error to handle, so one stuck program cannot
 * hold up this connection's other sessions or its control requests. */
static bool conn_queue_input(struct conn *c, uint32_t req, uint32_t sid, const char *what,
                             const struct wire_bytes *data, struct session **sp, int *step,
                             bool *full)
{
    *sp = NULL;
    *full = false;
    struct session *s = conn_local_session(c, req, sid, step);
    if (!s)
        return false;
    struct csub *cs = conn_find_sub(c, sid);
    if (cs && !cs->sub.interactive) {
        conn_error(c, req, sid, WIRE_ERR_READ_ONLY, "attached to session %u read-only", sid);
        return false;
    }
    int rc = session_write_input(s, data->p, data->len);
    if (rc == -EPIPE) {
        conn_error(c, req, sid, WIRE_ERR_EXITED, "session %u has exited", sid);
        return false;
    }
    if (rc == -EAGAIN) {
        *full = true;
        size_t cap = session_input_capacity(s), room = session_input_room(s);
        conn_error(c, req, sid, WIRE_ERR_LIMIT,
                   "session %u's input queue is full (%zu bytes waiting for the program to "
                   "read them): none of this %s's %zu bytes were queued; retry once it drains",
                   sid, cap - room, what, data->len);
        return false;
    }
    *sp = s;
    return true;
}

/* INPUT: queue keystrokes, all or nothing. */
static int on_input(struct conn *c, const struct wire_input *in)
{
    int step = STEP_NEXT;
    struct session *s;
    bool full;
    conn_queue_input(c, 0, in->sid, "INPUT", &in->data, &s, &step, &full);
    return step;
}

/* A WRITE's bytes reached the PTY (or the session ended first): answer it. */
static void write_ack_ready(struct session_waiter *w)
{
    struct write_ack *a = (struct write_ack *)((char *)w - offsetof(struct write_ack, w));
    struct conn *c = a->c;
    for (struct write_ack **pp = &c->acks; *pp; pp = &(*pp)->next) {
        if (*pp == a) {
            *pp = a->next;
            break;
        }
    }
    c->nacks--;
    if (session_input_written(a->s) >= a->w.amount)
        conn_ok(c, a->req);
    else
        conn_error(c, a->req, a->sid, WIRE_ERR_EXITED,
                   "session %u ended before all %zu bytes of this WRITE reached it", a->sid,
                   a->len);
    free(a);
}

/* The index of sid among the latched sessions, or -1. */
static ssize_t latch_find(const struct conn *c, uint32_t sid)
{
    for (size_t i = 0; i < c->nlatched; i++)
        if (c->latched[i] == sid)
            return (ssize_t)i;
    return -1;
}

/* Latches (refuses the following WRITEs to) a session, or unlatches it. */
static void latch_set(struct conn *c, uint32_t sid, bool on)
{
    ssize_t i = latch_find(c, sid);
    if (on && i < 0) {
        if (c->nlatched == c->caplatched) {
            c->caplatched = c->caplatched ? c->caplatched * 2 : 4;
            c->latched = xrealloc(c->latched, c->caplatched * sizeof *c->latched);
        }
        c->latched[c->nlatched++] = sid;
    } else if (!on && i >= 0) {
        c->latched[i] = c->latched[--c->nlatched];
    }
}

/* WRITE: acknowledged input; OK once every byte was written to the PTY. Once one is
 * refused (queue full), later WRITEs of this connection to that session are refused as
 * well until the client resends with WIRE_WRITE_F_RESUME: a WRITE sent after a refused
 * one can never overtake it, so input is never reordered. */
static bool conn_write_admit(struct conn *c, uint32_t req, uint32_t sid, bool resume,
                             const char *what, size_t len);
static int conn_write_unit(struct conn *c, uint32_t req, uint32_t sid, const char *what,
                           const struct wire_bytes *data);

static int on_write(struct conn *c, const struct wire_write *wr)
{
    if (!conn_write_admit(c, wr->req, wr->sid, wr->flags & WIRE_WRITE_F_RESUME, "WRITE",
                          wr->data.len))
        return STEP_NEXT;
    return conn_write_unit(c, wr->req, wr->sid, "WRITE", &wr->data);
}

/* PASTE: the text as the program should receive a paste (paste.h: line endings, the
 * bracket when it enabled ?2004, ENTER), then exactly a WRITE of those bytes. A session
 * on another reactor gets the PASTE forwarded (remote_paste does the same there). */
static int on_paste(struct conn *c, const struct wire_paste *p)
{
    if (!conn_write_admit(c, p->req, p->sid, p->flags & WIRE_PASTE_F_RESUME, "PASTE", p->data.len))
        return STEP_NEXT;
    int step = STEP_NEXT;
    struct session *s = conn_local_session(c, p->req, p->sid, &step);
    if (!s)
        return step;
    bool bracketed = session_modes(s) & VT_MODE_BRACKETED_PASTE;
    uint8_t *buf = xmalloc(PASTE_OUT_MAX(p->data.len));
    size_t n = paste_encode(p->data.p, p->data.len, bracketed, p->flags & WIRE_PASTE_F_ENTER, buf);
    struct wire_bytes data = {buf, n};
    step = conn_write_unit(c, p->req, p->sid, "PASTE", &data);
    free(buf);
    return step;
}

/* The checks before an acknowledged write (WRITE, PASTE): the RESUME latch (after a
 * refusal, only a RESUME goes through) and the per-connection cap on pending OKs.
 * Returns false after queueing the ERROR. */
static bool conn_write_admit(struct conn *c, uint32_t req, uint32_t sid, bool resume,
                             const char *what, size_t len)
{
    if (latch_find(c, sid) >= 0) {
        if (!resume) {
            conn_error(c, req, sid, WIRE_ERR_LIMIT,
                       "an earlier WRITE to session %u was refused: none of this %s's %zu "
                       "bytes were queued; resend from the refused one, with the RESUME flag",
                       sid, what, len);
            return false;
        }
        latch_set(c, sid, false);
    }
    if (c->nacks >= CONN_MAX_ACKS) {
        conn_error(c, req, sid, WIRE_ERR_LIMIT,
                   "%u WRITEs are already waiting for their OK on this connection; wait for "
                   "some before sending more",
                   c->nacks);
        return false;
    }
    return true;
}

/* Queues data as one unit and arranges its OK for when every byte reached the PTY; a
 * refusal (queue full) latches the session for this connection. */
static int conn_write_unit(struct conn *c, uint32_t req, uint32_t sid, const char *what,
                           const struct wire_bytes *data)
{
    int step = STEP_NEXT;
    struct session *s;
    bool full = false;
    if (!conn_queue_input(c, req, sid, what, data, &s, &step, &full)) {
        if (full)
            latch_set(c, sid, true);
        return step;
    }
    struct write_ack *a = xcalloc(1, sizeof *a);
    a->c = c;
    a->s = s;
    a->req = req;
    a->sid = sid;
    a->len = data->len;
    a->w.ready = write_ack_ready;
    a->w.kind = SESSION_WAIT_WRITTEN;
    a->w.amount = session_input_queued(s);
    a->next = c->acks;
    c->acks = a;
    c->nacks++;
    session_wait_input(s, &a->w);
    return STEP_NEXT;
}

/* RESIZE: the most recent size wins. */
static int on_resize(struct conn *c, const struct wire_resize *rz)
{
    int step;
    struct session *s = conn_local_session(c, 0, rz->sid, &step);
    if (!s)
        return step;
    struct csub *cs = conn_find_sub(c, rz->sid);
    if (!cs || !cs->sub.s) {
        conn_error(c, 0, rz->sid, WIRE_ERR_NOT_ATTACHED,
                   "RESIZE needs an interactive attachment to session %u: ATTACH first", rz->sid);
        return STEP_NEXT;
    }
    if (!cs->sub.interactive) {
        conn_error(c, 0, rz->sid, WIRE_ERR_READ_ONLY, "attached to session %u read-only", rz->sid);
        return STEP_NEXT;
    }
    if (session_exited(s)) {
        conn_error(c, 0, rz->sid, WIRE_ERR_EXITED, "session %u has exited", rz->sid);
        return STEP_NEXT;
    }
    int rc = session_resize(s, rz->cols, rz->rows);
    if (rc < 0)
        conn_error(c, 0, rz->sid, WIRE_ERR_BAD_ARGUMENT, "cannot resize session %u: %s", rz->sid,
                   strerror(-rc));
    return STEP_NEXT;
}

/* SIGNAL: a signal to the process group, or 0 for kill (HUP, then KILL). */
static int on_signal(struct conn *c, const struct wire_signal *sg)
{
    int step;
    struct session *s = conn_local_session(c, sg->req, sg->sid, &step);
    if (!s)
        return step;
    /* An exited session may still have processes in its group (a grandchild ignoring
     * SIGHUP): a signal reaches them; only when none is left is it `exited`. */
    int rc = sg->signo == 0 ? session_kill(s) : session_signal(s, sg->signo);
    if (rc == -ESRCH && session_exited(s)) {
        conn_error(c, sg->req, sg->sid, WIRE_ERR_EXITED, "session %u has already exited", sg->sid);
        return STEP_NEXT;
    }
    if (rc < 0 && rc != -ESRCH) {
        conn_error(c, sg->req, sg->sid, WIRE_ERR_BAD_ARGUMENT, "cannot signal session %u: %s",
                   sg->sid, strerror(-rc));
        return STEP_NEXT;
    }
    conn_ok(c, sg->req);
    return STEP_NEXT;
}

/* Builds the SCREEN_REPLY to sc from s's screen into *m; *data (freed by the caller)
 * holds its bytes. Returns 0, or the ERROR code to answer with (message in err). Runs on
 * the session's reactor (for a local or a forwarded request alike). */
static uint16_t screen_reply_build(struct session *s, const struct wire_screen *sc,
                                   struct wire_msg *m, uint8_t **data, char *err, size_t errlen)
{
    *data = NULL;
    uint64_t offset;
    const struct vt *vt = session_terminal(s, &offset);
    if (!vt) {
        snprintf(err, errlen,
                 "session %u keeps no terminal state (start the daemon with --terminal-state on)",
                 sc->sid);
        return WIRE_ERR_UNAVAILABLE;
    }
    size_t len;
    uint8_t *buf = screen_render(vt, sc->flags & WIRE_SCREEN_F_ANSI, &len);
    const char *title = vt_title(vt);
    size_t tlen = strlen(title);
    if (len > WIRE_MAX_BODY - WIRE_SCREEN_REPLY_FIXED - 2 - tlen) {
        snprintf(err, errlen, "session %u's screen takes %zu bytes, more than one message carries",
                 sc->sid, len);
        free(buf);
        return WIRE_ERR_LIMIT;
    }
    *m = (struct wire_msg){.type = WIRE_SCREEN_REPLY};
    struct wire_screen_reply *r = &m->screen_reply;
    bool visible;
    r->req = sc->req;
    r->sid = sc->sid;
    r->offset = offset;
    vt_size(vt, &r->cols, &r->rows);
    vt_cursor(vt, &r->cursor_col, &r->cursor_row, &visible);
    r->modes = vt_modes(vt);
    r->flags = (uint8_t)((visible ? WIRE_SCREEN_F_CURSOR_VISIBLE : 0) |
                         (r->modes & VT_MODE_ALTSCREEN ? WIRE_SCREEN_F_ALTSCREEN : 0));
    r->title = (struct wire_bytes){(const uint8_t *)title, tlen};
    r->data = (struct wire_bytes){buf, len};
    *data = buf;
    return 0;
}

/* SCREEN: the screen now, as text or as the snapshot byte sequence. */
static int on_screen(struct conn *c, const struct wire_screen *sc)
{
    int step;
    struct session *s = conn_local_session(c, sc->req, sc->sid, &step);
    if (!s)
        return step;
    struct wire_msg m;
    uint8_t *data;
    char err[256];
    uint16_t code = screen_reply_build(s, sc, &m, &data, err, sizeof err);
    if (code)
        conn_error(c, sc->req, sc->sid, code, "%s", err);
    else
        conn_send(c, &m);
    free(data);
    return STEP_NEXT;
}

/* Forgets a WAIT (its screen wait is freed). */
static void conn_wait_remove(struct conn *c, struct conn_wait *cw)
{
    if (cw->prev)
        cw->prev->next = cw->next;
    else
        c->waits = cw->next;
    if (cw->next)
        cw->next->prev = cw->prev;
    c->nwaits--;
    screen_wait_free(cw->w);
    free(cw);
}

/* Queues a WAITED. */
static void conn_waited(struct conn *c, uint32_t req, uint32_t sid, enum screen_wait_reason why,
                        uint64_t offset)
{
    struct wire_msg m = {.type = WIRE_WAITED};
    m.waited = (struct wire_waited){req, sid, (uint8_t)why, offset};
    conn_send(c, &m);
}

/* A WAIT ended (from the session's watcher task or a timer): answer it. Queuing the
 * reply and a flush is all this does; no request is processed from here. */
static void conn_wait_done(struct screen_wait *w, void *arg, enum screen_wait_reason why,
                           uint64_t offset)
{
    (void)w;
    struct conn_wait *cw = arg;
    struct conn *c = cw->c;
    conn_waited(c, cw->req, cw->sid, why, offset);
    conn_wait_remove(c, cw);
}

/* A WAIT's conditions as screen.c takes them. */
static struct screen_wait_params wait_params(const struct wire_wait *wt)
{
    return (struct screen_wait_params){
        .text = wt->flags & WIRE_WAIT_F_TEXT,
        .idle = wt->flags & WIRE_WAIT_F_IDLE,
        .regex = (const char *)wt->regex.p,
        .regex_len = wt->regex.len,
        .after = wt->after,
        .idle_ms = wt->idle_ms,
        .timeout_ms = wt->timeout_ms,
    };
}

/* WAIT: answered by WAITED when the text appears, the session is quiet, the timeout
 * passes or the session exits. Waits cost nothing while the session is silent. */
static int on_wait(struct conn *c, const struct wire_wait *wt)
{
    if (c->nwaits >= CONN_MAX_WAITS) {
        conn_error(c, wt->req, wt->sid, WIRE_ERR_LIMIT,
                   "%u WAITs are already pending on this connection; wait for some before "
                   "sending more",
                   c->nwaits);
        return STEP_NEXT;
    }
    int step;
    struct session *s = conn_local_session(c, wt->req, wt->sid, &step);
    if (!s)
        return step;
    struct screen_wait_params p = wait_params(wt);
    struct conn_wait *cw = xcalloc(1, sizeof *cw);
    cw->c = c;
    cw->req = wt->req;
    cw->sid = wt->sid;
    enum screen_wait_reason why;
    uint64_t offset;
    char err[300];
    int rc = screen_wait_start(s, &p, conn_wait_done, cw, &cw->w, &why, &offset, err, sizeof err);
    if (rc != 0) {
        free(cw);
        if (rc == 1)
            conn_waited(c, wt->req, wt->sid, why, offset);
        else
            conn_error(c, wt->req, wt->sid,
                       rc == -ENOTSUP ? WIRE_ERR_UNAVAILABLE : WIRE_ERR_BAD_ARGUMENT, "%s", err);
        return STEP_NEXT;
    }
    cw->next = c->waits;
    if (c->waits)
        c->waits->prev = cw;
    c->waits = cw;
    c->nwaits++;
    return STEP_NEXT;
}

struct list_ctx {
    struct conn *c;
    uint32_t req;
    struct wire_list_writer w;
    uint8_t *p; /* where the reply being built starts in out */
    bool open;
};

/* Starts a LIST_REPLY body at the end of out, leaving room for the framing in front
 * (its size depends on the body's, which is known only at the end). */
static void list_begin(struct list_ctx *lc)
{
    struct conn *c = lc->c;
    size_t cap = 64 * 1024;
    lc->p = bytebuf_reserve(&c->l->out, CONN_HDR_MAX + cap);
    wire_list_begin_ext(&lc->w, lc->p + CONN_HDR_MAX, cap, false, lc->req, c->version >= 3);
    lc->open = true;
}

/* Ends the reply being built: framing header, then the body moved up against it. */
static void list_finish(struct list_ctx *lc, bool more)
{
    size_t n = wire_list_finish(&lc->w, more);
    uint8_t hdr[CONN_HDR_MAX];
    size_t h = conn_frame_header(lc->c, hdr, n);
    memmove(lc->p + h, lc->p + CONN_HDR_MAX, n);
    memcpy(lc->p, hdr, h);
    lc->c->l->out.len += h + n;
    lc->open = false;
}

/* Adds one session to the listing, starting another reply when this one is full. */
static void list_row(void *ctx, const struct hub_row *row)
{
    struct list_ctx *lc = ctx;
    struct wire_list_entry e = {
        .sid = row->sum.id,
        .pid = row->sum.pid,
        .state = row->sum.exited ? WIRE_STATE_EXITED : WIRE_STATE_RUNNING,
        .level = (uint8_t)row->sum.level,
        .clients = (uint16_t)(row->sum.clients > 0xffff ? 0xffff : row->sum.clients),
        .exit_code = row->sum.exit_code,
        .exit_signal = row->sum.exit_signal,
        .cols = row->sum.cols,
        .rows = row->sum.rows,
        .bytes_out = row->sum.bytes_out,
        .created_ms = row->sum.created_ms,
        .name = {(const uint8_t *)row->name, strlen(row->name)},
        .command = {(const uint8_t *)row->command, strlen(row->command)},
        .cls = row->sum.cls == SESSION_BULK ? 1 : 0,
        .bells = (uint32_t)(row->sum.bells > UINT32_MAX ? UINT32_MAX : row->sum.bells),
        .last_output_ms = row->sum.last_output_ms,
        .title = {(const uint8_t *)row->sum.title, strlen(row->sum.title)},
        .cwd = {(const uint8_t *)row->sum.cwd, strlen(row->sum.cwd)},
    };
    if (e.command.len > 4096)
        e.command.len = 4096;
    if (!wire_list_add(&lc->w, &e)) {
        list_finish(lc, true);
        list_begin(lc);
        wire_list_add(&lc->w, &e);
    }
}

/* LIST: every session, in as many replies as needed. */
static int on_list(struct conn *c, const struct wire_list *l)
{
    struct list_ctx lc = {.c = c, .req = l->req};
    list_begin(&lc);
    hub_list(worker_server(c->l->w), list_row, &lc);
    list_finish(&lc, false);
    conn_want_flush(c);
    return STEP_NEXT;
}

/* ACK: the client has consumed output up to an offset (browser pacing). */
static int on_ack(struct conn *c, const struct wire_ack *a)
{
    struct csub *cs = conn_find_sub(c, a->sid);
    if (!cs) {
        conn_error(c, 0, a->sid, WIRE_ERR_NOT_ATTACHED, "not attached to session %u", a->sid);
        return STEP_NEXT;
    }
    /* Never backwards; beyond what was sent means everything sent (docs/protocol.md). */
    uint64_t sent = cs->rl ? cs->rl->c_offset : cs->sub.cursor;
    uint64_t off = a->offset < sent ? a->offset : sent;
    if (off > cs->acked) {
        cs->acked = off;
        if (cs->rl)
            relay_ack(cs->rl, off);
        else
            sub_hold(&cs->sub, off);
    }
    conn_want_flush(c);
    return STEP_NEXT;
}

/* REMOVE: forget an exited session. */
static int on_remove(struct conn *c, const struct wire_remove *rm)
{
    int step;
    struct session *s = conn_local_session(c, rm->req, rm->sid, &step);
    if (!s)
        return step;
    if (!session_exited(s)) {
        conn_error(c, rm->req, rm->sid, WIRE_ERR_BAD_ARGUMENT,
                   "session %u is still running; end it first with: ptyhub kill %u", rm->sid,
                   rm->sid);
        return STEP_NEXT;
    }
    hub_remove(c->l->w, s);
    conn_ok(c, rm->req);
    return STEP_NEXT;
}

/* Decodes and handles one frame body. */
static int conn_dispatch(struct conn *c, const uint8_t *body, size_t len)
{
    struct wire_msg m;
    if (len == 0) {
        conn_error(c, 0, 0, WIRE_ERR_BAD_FRAME, "empty message");
        return STEP_CLOSE;
    }
    if (c->hello && wire_type_version(body[0]) >= 3 && c->version < 3) {
        /* Version 3 messages do not exist on older connections (as before they did): a
         * version 1/2 connection sees the protocol it asked for, whatever the body. */
        conn_error(c, 0, 0, WIRE_ERR_UNKNOWN_TYPE, "unknown message type 0x%02x", body[0]);
        return STEP_NEXT;
    }
    int rc = wire_decode(body, len, &m);
    c->cur_body = body;
    c->cur_len = len;
    if (rc == -EBADMSG) {
        conn_error(c, 0, 0, WIRE_ERR_BAD_FRAME, "malformed %s message", wire_type_name(body[0]));
        return STEP_CLOSE;
    }
    if (!c->hello && !(rc == 0 && m.type == WIRE_HELLO)) {
        conn_error(c, 0, 0, WIRE_ERR_NOT_HELLO, "the first message must be HELLO");
        return STEP_CLOSE;
    }
    if (rc == -ENOTSUP) {
        conn_error(c, 0, 0, WIRE_ERR_UNKNOWN_TYPE, "unknown message type 0x%02x", body[0]);
        return STEP_NEXT;
    }
    if (rc == -EINVAL) {
        conn_error(c, wire_msg_req(&m), 0, WIRE_ERR_BAD_ARGUMENT, "invalid argument in %s",
                   wire_type_name(m.type));
        return STEP_NEXT;
    }
    if (rc < 0) {
        conn_error(c, 0, 0, WIRE_ERR_INTERNAL, "cannot decode: %s", strerror(-rc));
        return STEP_CLOSE;
    }
    switch (m.type) {
    case WIRE_HELLO:
        if (c->hello) {
            conn_error(c, 0, 0, WIRE_ERR_BAD_ARGUMENT, "HELLO was already sent");
            return STEP_NEXT;
        }
        return on_hello(c, &m.hello);
    case WIRE_CREATE:
        return on_create(c, &m.create);
    case WIRE_ATTACH:
        return on_attach(c, &m.attach);
    case WIRE_DETACH:
        return on_detach(c, &m.detach);
    case WIRE_INPUT:
        return on_input(c, &m.input);
    case WIRE_WRITE:
        return on_write(c, &m.write);
    case WIRE_OPEN:
        return on_open(c, &m.open);
    case WIRE_EVENTS:
        return on_events(c, &m.events);
    case WIRE_PASTE:
        return on_paste(c, &m.paste);
    case WIRE_RESIZE:
        return on_resize(c, &m.resize);
    case WIRE_SIGNAL:
        return on_signal(c, &m.signal);
    case WIRE_LIST:
        return on_list(c, &m.list);
    case WIRE_ACK:
        return on_ack(c, &m.ack);
    case WIRE_REMOVE:
        return on_remove(c, &m.remove);
    case WIRE_SCREEN:
        return on_screen(c, &m.screen);
    case WIRE_WAIT:
        return on_wait(c, &m.wait);
    default:
        conn_error(c, 0, 0, WIRE_ERR_UNKNOWN_TYPE, "%s is a server message",
                   wire_type_name(m.type));
        return STEP_NEXT;
    }
}

/* Hands one message body to its request handler (the framing's callback). */
static enum framing_step conn_dispatch_cb(void *ctx, const uint8_t *body, size_t len)
{
    return (enum framing_step)conn_dispatch(ctx, body, len);
}

/* Handles what is buffered, until moved, closed or out of complete messages. */
static void conn_process(struct conn *c)
{
    framing_process(&c->fr, c->l, conn_dispatch_cb, c);
}

/* ---- the layer on its link ---------------------------------------------------------- */

/* Runs the request loop (after reads, hand-overs and wake-ups). */
static void conn_layer_process(struct link *l)
{
    conn_process(l->layer);
}

/* The flush: replies, then session output straight from the rings. */
static void conn_layer_flush(struct link *l)
{
    conn_flush(l->layer);
}

/* True while a subscription has bytes the socket did not take (needs a write edge). */
static bool conn_wants_write(struct link *l)
{
    struct conn *c = l->layer;
    for (struct csub *cs = c->subs; cs; cs = cs->next)
        if (cs->rl ? remote_wants_write(c, cs)
                   : cs->sub.s && cs->sub.cursor < session_end(cs->sub.s) &&
                         (!c->ack_paced || cs->sub.cursor - cs->acked < c->window))
            return true;
    return false;
}

/* End of input: what was buffered has been handled; the connection ends. */
static void conn_on_eof(struct link *l)
{
    link_close(l, "end of input");
}

/* Kills the sessions a stdio client created. */
static void conn_kill_owned(struct conn *c)
{
    for (size_t i = 0; i < c->nowned; i++) {
        struct session *s;
        struct worker *owner;
        if (hub_find(worker_server(c->l->w), c->owned[i], &s, &owner) == 0 && owner == c->l->w)
            session_kill(s);
    }
}

/* Closing: detach from every session, forget WRITE acks. A stdio client's end is the
 * daemon's end. */
static void conn_on_close(struct link *l)
{
    struct conn *c = l->layer;
    while (c->subs) {
        struct csub *cs = c->subs;
        session_detach(&cs->sub);
        csub_remove(c, cs);
    }
    events_unsubscribe(c->evs);
    c->evs = NULL;
    while (c->acks) {
        struct write_ack *a = c->acks;
        c->acks = a->next;
        session_waiter_cancel(&a->w);
        free(a);
    }
    c->nacks = 0;
    while (c->waits)
        conn_wait_remove(c, c->waits);
    /* Replies still on their way find no owner; the port goes with its last one. */
    relay_port_close(c->port);
    c->port = NULL;
    reactor_timer_stop(l->r, &c->hello_timer);
    if ((c->flags & CONN_STDIO) && !l->teardown) {
        conn_kill_owned(c);
        hub_shutdown(worker_server(l->w), "the stdio client closed");
    }
}

/* Frees the layer's state. */
static void conn_on_free(struct link *l)
{
    struct conn *c = l->layer;
    framing_deinit(&c->fr);
    free(c->latched);
    free(c->owned);
    free(c);
}

static const struct link_ops conn_ops_stream = {
    .name = "protocol",
    .process = conn_layer_process,
    .flush = conn_layer_flush,
    .wants_write = conn_wants_write,
    .on_eof = conn_on_eof,
    .on_close = conn_on_close,
    .on_free = conn_on_free,
};

static const struct link_ops conn_ops_ws = {
    .name = "websocket",
    .process = conn_layer_process,
    .flush = conn_layer_flush,
    .wants_write = conn_wants_write,
    .on_eof = conn_on_eof,
    .on_close = conn_on_close,
    .on_free = conn_on_free,
};

/* No HELLO within --header-timeout: the client is not speaking the protocol. */
static int conn_hello_timeout_cb(reactor_timer *t, void *arg)
{
    (void)t;
    struct conn *c = arg;
    conn_error(c, 0, 0, WIRE_ERR_NOT_HELLO, "no HELLO within %u ms",
               hub_config(worker_server(c->l->w))->header_timeout_ms);
    link_close(c->l, "no HELLO in time");
    return 0;
}

/* Starts the HELLO deadline (not for the stdio client: its parent may take its time). */
static void conn_start_hello_timer(struct conn *c)
{
    reactor_timer_init(&c->hello_timer, conn_hello_timeout_cb, c);
    if (!(c->flags & CONN_STDIO))
        reactor_timer_start(c->l->r, &c->hello_timer,
                            (uint64_t)hub_config(worker_server(c->l->w))->header_timeout_ms *
                                1000000);
}

/* Sizes a link for the session protocol: a whole largest frame may be buffered; reading
 * pauses above CONN_WBUF_HIGH of queued replies. */
static void conn_size_link(struct link *l)
{
    l->in_max = CONN_RBUF_MAX;
    l->out_high = CONN_WBUF_HIGH;
    l->read_quantum = CONN_READ_QUANTUM;
}

/* Starts a byte-stream connection (Unix socket, or the stdio client). */
int conn_start(struct worker *w, int rfd, int wfd, unsigned flags)
{
    struct conn *c = xcalloc(1, sizeof *c);
    c->flags = flags;
    c->l = link_new(w, rfd, wfd, flags & CONN_STDIO ? -1 : HUB_UNIX, &conn_ops_stream, c);
    if (!c->l) {
        free(c);
        return -ENOMEM;
    }
    conn_size_link(c->l);
    conn_start_hello_timer(c);
    return 0;
}

/* Turns an upgraded HTTP link into a WebSocket connection (same link, new layer). */
void conn_adopt_ws(struct link *l, unsigned coalesce_ms)
{
    struct conn *c = xcalloc(1, sizeof *c);
    c->l = l;
    c->fr.ws = true;
    link_set_layer(l, &conn_ops_ws, c);
    conn_size_link(l);
    conn_start_hello_timer(c);
    l->hold_read = false;
    l->coalesce_ns = (uint64_t)coalesce_ms * 1000000;
    /* Frames that came with the upgrade are handled from a task, and the 101 goes out. */
    link_wake(l);
    link_want_flush(l);
}

/* Sends ERROR limit without blocking and closes. */
void conn_shed(int fd, const char *why)
{
    uint8_t buf[512];
    struct wire_msg m = {.type = WIRE_ERROR};
    m.error =
        (struct wire_error){.code = WIRE_ERR_LIMIT, .message = {(const uint8_t *)why, strlen(why)}};
    size_t n = wire_encode(&m, buf, sizeof buf, true);
    if (n && n <= sizeof buf) {
        ssize_t w = write(fd, buf, n);
        (void)w;
    }
    close(fd);
}

/* ---- sessions on other reactors ---------------------------------------------------- */
/* A request naming a session that lives on another reactor is forwarded there as the
 * client sent it (conn_remote), run there by remote_exec with the session at hand, and
 * answered through the connection's port (relay.h): the reply's messages are framed and
 * queued here by remote_reply_fn. Requests to one reactor run in the order they came, so
 * a session sees a connection's requests in order, and its replies come back in order.
 * Output of a remote attachment comes through a relay (remote_prepare, conn_flush). */

/* A request on its way to the session's reactor. */
struct remote_req {
    struct worker *w;    /* the session's: where it runs */
    struct relay *rl;    /* ATTACH: the relay to attach there */
    uint64_t attach_id;  /* ATTACH: echoed in the reply */
    bool stdio;          /* the connection's settings an ATTACH needs: */
    uint64_t hold_limit; /* the render hold window (0: none) */
    size_t len;
    uint8_t body[]; /* the request as the client sent it (decoded again there) */
};

enum remote_kind {
    RK_PLAIN,
    RK_ATTACHED,
    RK_ATTACH_FAILED,
    RK_WRITE_DONE,
    RK_OPENED,
    RK_WAIT_DONE
};

/* Its answer on the way back: messages (each a u32 length, then the body). */
struct remote_reply {
    enum remote_kind kind;
    uint64_t attach_id; /* ATTACH */
    uint64_t from;      /* ATTACHED: the offset output starts at */
    struct bytebuf msgs;
    /* RK_OPENED (OPEN with ATTACH): the held session to attach to, from offset 0. */
    struct worker *open_w;
    uint32_t open_req, open_sid;
    uint8_t open_mode;
};

static int conn_remote(struct conn *c, struct worker *to, uint32_t req, uint32_t sid);

/* On the connection's reactor: a forwarded OPEN with ATTACH made its session (held: no
 * output is read until an attach); attach to it from 0 now, with the OPEN's req, so the
 * ATTACHED follows the CREATED just queued and no byte is lost. */
static void conn_open_attach(struct conn *c, const struct remote_reply *r)
{
    struct wire_msg m = {.type = WIRE_ATTACH};
    m.attach = (struct wire_attach){.req = r->open_req,
                                    .sid = r->open_sid,
                                    .mode = r->open_mode,
                                    .from_kind = WIRE_FROM_OFFSET,
                                    .from = 0};
    uint8_t body[64];
    size_t n = wire_encode(&m, body, sizeof body, false);
    const uint8_t *saved_body = c->cur_body;
    size_t saved_len = c->cur_len;
    c->cur_body = body;
    c->cur_len = n;
    conn_remote(c, r->open_w, r->open_req, r->open_sid);
    c->cur_body = saved_body;
    c->cur_len = saved_len;
}

/* Adds a message to a reply (encoded on the session's reactor, framed on ours). */
static void reply_msg(struct remote_reply *r, const struct wire_msg *m)
{
    size_t n = wire_encode(m, NULL, 0, false);
    if (n == 0)
        return;
    uint8_t *p = bytebuf_reserve(&r->msgs, 4 + n);
    uint32_t n32 = (uint32_t)n;
    memcpy(p, &n32, 4);
    wire_encode(m, p + 4, n, false);
    r->msgs.len += 4 + n;
}

static void reply_error(struct remote_reply *r, uint32_t req, uint32_t sid, uint16_t code,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void reply_error(struct remote_reply *r, uint32_t req, uint32_t sid, uint16_t code,
                        const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct wire_msg m = {.type = WIRE_ERROR};
    m.error = (struct wire_error){.req = req, .sid = sid, .code = code};
    m.error.message = (struct wire_bytes){
        (const uint8_t *)msg, n < 0 ? 0 : ((size_t)n >= sizeof msg ? sizeof msg - 1 : (size_t)n)};
    reply_msg(r, &m);
}

static void reply_ok(struct remote_reply *r, uint32_t req)
{
    struct wire_msg m = {.type = WIRE_OK};
    m.ok.req = req;
    reply_msg(r, &m);
}

/* On the connection's reactor: frames and queues a reply's messages, and applies what
 * it means for the connection (an attachment starts or fails, a WRITE is answered). */
static void remote_reply_fn(struct relay_port *p, void *arg)
{
    struct remote_reply *r = arg;
    struct conn *c = relay_port_owner(p);
    if (c && !c->l->closing) {
        relay_port_pending_add(p, -1);
        struct csub *cs = NULL;
        if (r->kind == RK_ATTACHED || r->kind == RK_ATTACH_FAILED)
            for (cs = c->subs; cs && !(cs->rl && cs->attach_id == r->attach_id); cs = cs->next)
                ;
        if (r->kind == RK_WRITE_DONE)
            c->nacks--;
        if (r->kind == RK_WAIT_DONE)
            c->nwaits--;
        for (size_t at = 0; at + 4 <= r->msgs.len;) {
            uint32_t n;
            memcpy(&n, r->msgs.data + at, 4);
            uint8_t *dst = bytebuf_reserve(&c->l->out, WS_FRAME_HEADER_MAX + n);
            size_t h = conn_frame_header(c, dst, n);
            memcpy(dst + h, r->msgs.data + at + 4, n);
            c->l->out.len += h + n;
            at += 4 + n;
        }
        if (r->kind == RK_OPENED)
            conn_open_attach(c, r);
        if (cs && r->kind == RK_ATTACHED) {
            /* Output starts only now, behind the ATTACHED (and GAP) just queued. */
            cs->active = true;
            cs->rl->c_offset = r->from;
            cs->acked = r->from;
        } else if (cs) {
            csub_remove(c, cs);
        }
        conn_want_flush(c);
    }
    bytebuf_free(&r->msgs);
    free(r);
}

/* Sends a reply back to the connection. */
static void reply_send(struct relay_port *p, struct remote_reply *r)
{
    relay_port_reply(p, remote_reply_fn, r);
}

/* On the session's reactor: the session a forwarded request names, or NULL (an error is
 * in the reply). */
static struct session *remote_session(struct remote_req *q, uint32_t req, uint32_t sid,
                                      struct remote_reply *r)
{
    struct session *s;
    struct worker *owner;
    if (hub_find(worker_server(q->w), sid, &s, &owner) < 0 || owner != q->w) {
        reply_error(r, req, sid, WIRE_ERR_NO_SUCH_SESSION, "no session %u (see: ptyhub ls)", sid);
        return NULL;
    }
    return s;
}

/* ATTACH there: the relay's subscriber is attached, ATTACHED (and a GAP) go back. */
/* reply_msg as an attach_replies emitter. */
static void remote_emit(void *ctx, const struct wire_msg *m)
{
    reply_msg(ctx, m);
}

static void remote_attach(struct remote_req *q, const struct wire_attach *a, struct remote_reply *r)
{
    r->kind = RK_ATTACH_FAILED;
    r->attach_id = q->attach_id;
    struct session *s = remote_session(q, a->req, a->sid, r);
    if (!s)
        return;
    uint64_t start, end, from;
    char err[160];
    uint16_t code = attach_plan(s, a, &start, &end, &from, err, sizeof err);
    if (code) {
        reply_error(r, a->req, a->sid, code, "%s", err);
        return;
    }
    unsigned limit = hub_config(worker_server(q->w))->max_session_clients;
    struct session_summary sum;
    session_summary(s, &sum);
    if (sum.clients >= limit) {
        reply_error(r, a->req, a->sid, WIRE_ERR_LIMIT,
                    "session %u already has %u clients (--max-session-clients)", a->sid, limit);
        return;
    }
    bool interactive = a->mode == WIRE_MODE_INTERACTIVE;
    from = attach_replies(s, a, start, end, from, remote_emit, r);
    struct sub tmpl = {.interactive = interactive};
    tmpl.lossless = interactive || q->stdio;
    tmpl.hold = from;
    tmpl.limit = tmpl.lossless ? q->hold_limit : 0;
    relay_attach(q->rl, s, &tmpl, from);
    r->kind = RK_ATTACHED;
    r->from = from;
}

/* On the session's reactor: a forwarded SCREEN. */
static void remote_screen(struct remote_req *q, const struct wire_screen *sc,
                          struct remote_reply *r)
{
    struct session *s = remote_session(q, sc->req, sc->sid, r);
    if (!s)
        return;
    struct wire_msg m;
    uint8_t *data;
    char err[256];
    uint16_t code = screen_reply_build(s, sc, &m, &data, err, sizeof err);
    if (code)
        reply_error(r, sc->req, sc->sid, code, "%s", err);
    else
        reply_msg(r, &m);
    free(data);
}

/* A WRITE queued there, waiting for its bytes to reach the PTY. */
struct remote_ack {
    struct session_waiter w;
    struct relay_tracked t;
    struct relay_port *p; /* held */
    struct session *s;
    uint32_t req, sid;
    size_t len;
};

/* The WRITE's bytes reached the PTY (or the session ended first): answer it. */
static void remote_ack_ready(struct session_waiter *w)
{
    struct remote_ack *a = (struct remote_ack *)((char *)w - offsetof(struct remote_ack, w));
    struct remote_reply *r = xcalloc(1, sizeof *r);
    r->kind = RK_WRITE_DONE;
    if (session_input_written(a->s) >= a->w.amount)
        reply_ok(r, a->req);
    else
        reply_error(r, a->req, a->sid, WIRE_ERR_EXITED,
                    "session %u ended before all %zu bytes of this WRITE reached it", a->sid,
                    a->len);
    reply_send(a->p, r);
    relay_untrack(&a->t);
    relay_port_release(a->p);
    free(a);
}

/* Teardown: the daemon stopped with the WRITE still waiting. */
static void remote_ack_release(struct relay_tracked *t)
{
    struct remote_ack *a = (struct remote_ack *)((char *)t - offsetof(struct remote_ack, t));
    relay_port_release(a->p);
    free(a);
}

/* INPUT and WRITE there: queued all or nothing; a WRITE is answered once written. The
 * WRITE latch lives in the port, so a WRITE that follows a refused one is refused too
 * even if it was sent before the refusal came back (input is never reordered). */
static bool remote_input(struct relay_port *p, struct remote_req *q, const struct wire_msg *m,
                         struct remote_reply *r)
{
    bool write = m->type == WIRE_WRITE;
    uint32_t req = write ? m->write.req : 0, sid = write ? m->write.sid : m->input.sid;
    const struct wire_bytes *data = write ? &m->write.data : &m->input.data;
    if (write)
        r->kind = RK_WRITE_DONE;
    if (write && relay_port_latched(p, sid)) {
        if (!(m->write.flags & WIRE_WRITE_F_RESUME)) {
            reply_error(r, req, sid, WIRE_ERR_LIMIT,
                        "an earlier WRITE to session %u was refused: none of this WRITE's %zu "
                        "bytes were queued; resend from the refused one, with the RESUME flag",
                        sid, data->len);
            return true;
        }
        relay_port_latch(p, sid, false);
    }
    struct session *s = remote_session(q, req, sid, r);
    if (!s)
        return true;
    int rc = session_write_input(s, data->p, data->len);
    if (rc == -EPIPE) {
        reply_error(r, req, sid, WIRE_ERR_EXITED, "session %u has exited", sid);
        return true;
    }
    if (rc == -EAGAIN) {
        if (write)
            relay_port_latch(p, sid, true);
        size_t cap = session_input_capacity(s), room = session_input_room(s);
        reply_error(r, req, sid, WIRE_ERR_LIMIT,
                    "session %u's input queue is full (%zu bytes waiting for the program to "
                    "read them): none of this %s's %zu bytes were queued; retry once it drains",
                    sid, cap - room, write ? "WRITE" : "INPUT", data->len);
        return true;
    }
    if (!write)
        return true;
    struct remote_ack *a = xcalloc(1, sizeof *a);
    a->p = p;
    relay_port_hold(p);
    a->s = s;
    a->req = req;
    a->sid = sid;
    a->len = data->len;
    a->w.ready = remote_ack_ready;
    a->w.kind = SESSION_WAIT_WRITTEN;
    a->w.amount = session_input_queued(s);
    a->t.release = remote_ack_release;
    relay_track(&a->t);
    session_wait_input(s, &a->w);
    return false; /* answered by remote_ack_ready */
}

/* RESIZE, SIGNAL, REMOVE there (the connection checked what it knows: attached, mode). */
static void remote_control(struct remote_req *q, const struct wire_msg *m, struct remote_reply *r)
{
    uint32_t req = wire_msg_req(m);
    uint32_t sid = m->type == WIRE_RESIZE   ? m->resize.sid
                   : m->type == WIRE_SIGNAL ? m->signal.sid
                                            : m->remove.sid;
    struct session *s = remote_session(q, req, sid, r);
    if (!s)
        return;
    if (m->type == WIRE_RESIZE) {
        if (session_exited(s)) {
            reply_error(r, 0, sid, WIRE_ERR_EXITED, "session %u has exited", sid);
            return;
        }
        int rc = session_resize(s, m->resize.cols, m->resize.rows);
        if (rc < 0)
            reply_error(r, 0, sid, WIRE_ERR_BAD_ARGUMENT, "cannot resize session %u: %s", sid,
                        strerror(-rc));
    } else if (m->type == WIRE_SIGNAL) {
        int rc = m->signal.signo == 0 ? session_kill(s) : session_signal(s, m->signal.signo);
        if (rc == -ESRCH && session_exited(s))
            reply_error(r, req, sid, WIRE_ERR_EXITED, "session %u has already exited", sid);
        else if (rc < 0 && rc != -ESRCH)
            reply_error(r, req, sid, WIRE_ERR_BAD_ARGUMENT, "cannot signal session %u: %s", sid,
                        strerror(-rc));
        else
            reply_ok(r, req);
    } else if (!session_exited(s)) {
        reply_error(r, req, sid, WIRE_ERR_BAD_ARGUMENT,
                    "session %u is still running; end it first with: ptyhub kill %u", sid, sid);
    } else {
        hub_remove(q->w, s);
        reply_ok(r, req);
    }
}

/* CREATE there (placed by hub_place). */
static void remote_create(struct remote_req *q, const struct wire_create *cr,
                          struct remote_reply *r)
{
    struct session *s;
    uint16_t code = 0;
    char err[512];
    int rc = hub_create(q->w, cr, &s, &code, err, sizeof err);
    hub_place_done(q->w);
    if (rc < 0) {
        reply_error(r, cr->req, 0, code, "%s", err);
        return;
    }
    struct session_summary sum;
    session_summary(s, &sum);
    struct wire_msg m = {.type = WIRE_CREATED};
    m.created = (struct wire_created){cr->req, session_id(s), (int32_t)sum.pid};
    reply_msg(r, &m);
}

/* OPEN there: as CREATE, held (see on_open); with ATTACH the reply asks the connection
 * to attach from 0 (conn_open_attach), which reaches this reactor after the creation. */
static void remote_open(struct remote_req *q, const struct wire_open *op, struct remote_reply *r)
{
    bool attach = op->flags & WIRE_OPEN_F_ATTACH;
    struct session *s;
    uint16_t code = 0;
    char err[512];
    int rc = hub_open(q->w, &op->create, attach || (op->flags & WIRE_OPEN_F_HOLD), &s, &code, err,
                      sizeof err);
    hub_place_done(q->w);
    if (rc < 0) {
        reply_error(r, op->create.req, 0, code, "%s", err);
        return;
    }
    struct session_summary sum;
    session_summary(s, &sum);
    struct wire_msg m = {.type = WIRE_CREATED};
    m.created = (struct wire_created){op->create.req, session_id(s), (int32_t)sum.pid};
    reply_msg(r, &m);
    if (attach) {
        r->kind = RK_OPENED;
        r->open_w = q->w;
        r->open_req = op->create.req;
        r->open_sid = session_id(s);
        r->open_mode = op->mode;
    }
}

/* PASTE there: encoded with the program's modes (known on this reactor), then exactly
 * a forwarded WRITE of those bytes (same latch, same OK). */
static bool remote_paste(struct relay_port *p, struct remote_req *q, const struct wire_paste *pa,
                         struct remote_reply *r)
{
    struct session *s = remote_session(q, pa->req, pa->sid, r);
    if (!s) {
        r->kind = RK_WRITE_DONE;
        return true;
    }
    uint8_t *buf = xmalloc(PASTE_OUT_MAX(pa->data.len));
    size_t n = paste_encode(pa->data.p, pa->data.len, session_modes(s) & VT_MODE_BRACKETED_PASTE,
                            pa->flags & WIRE_PASTE_F_ENTER, buf);
    struct wire_msg w = {.type = WIRE_WRITE};
    w.write =
        (struct wire_write){.req = pa->req,
                            .sid = pa->sid,
                            .flags = (pa->flags & WIRE_PASTE_F_RESUME) ? WIRE_WRITE_F_RESUME : 0,
                            .data = {buf, n}};
    bool reply = remote_input(p, q, &w, r);
    free(buf);
    return reply;
}

/* A WAIT there: it lives on the session's reactor (its watcher and timers) and its
 * WAITED goes back through the port when it ends — by match, idle, timeout or the
 * session's exit, so it always ends. A connection that closed meanwhile drops it. */
struct remote_wait {
    struct relay_tracked t;
    struct relay_port *p; /* held */
    struct screen_wait *w;
    uint32_t req, sid;
};

static void remote_waited(uint32_t req, uint32_t sid, enum screen_wait_reason why, uint64_t offset,
                          struct remote_reply *r)
{
    struct wire_msg m = {.type = WIRE_WAITED};
    m.waited = (struct wire_waited){req, sid, (uint8_t)why, offset};
    r->kind = RK_WAIT_DONE;
    reply_msg(r, &m);
}

static void remote_wait_done(struct screen_wait *w, void *arg, enum screen_wait_reason why,
                             uint64_t offset)
{
    struct remote_wait *rw = arg;
    struct remote_reply *r = xcalloc(1, sizeof *r);
    remote_waited(rw->req, rw->sid, why, offset, r);
    reply_send(rw->p, r);
    relay_untrack(&rw->t);
    relay_port_release(rw->p);
    screen_wait_free(w);
    free(rw);
}

/* Teardown: the daemon stopped with the WAIT still pending. */
static void remote_wait_release(struct relay_tracked *t)
{
    struct remote_wait *rw = (struct remote_wait *)((char *)t - offsetof(struct remote_wait, t));
    screen_wait_free(rw->w);
    relay_port_release(rw->p);
    free(rw);
}

static bool remote_wait(struct relay_port *p, struct remote_req *q, const struct wire_wait *wt,
                        struct remote_reply *r)
{
    r->kind = RK_WAIT_DONE;
    struct session *s = remote_session(q, wt->req, wt->sid, r);
    if (!s)
        return true;
    struct screen_wait_params sp = wait_params(wt);
    struct remote_wait *rw = xcalloc(1, sizeof *rw);
    rw->p = p;
    rw->req = wt->req;
    rw->sid = wt->sid;
    enum screen_wait_reason why;
    uint64_t offset;
    char err[300];
    int rc =
        screen_wait_start(s, &sp, remote_wait_done, rw, &rw->w, &why, &offset, err, sizeof err);
    if (rc != 0) {
        free(rw);
        if (rc == 1)
            remote_waited(wt->req, wt->sid, why, offset, r);
        else
            reply_error(r, wt->req, wt->sid,
                        rc == -ENOTSUP ? WIRE_ERR_UNAVAILABLE : WIRE_ERR_BAD_ARGUMENT, "%s", err);
        return true;
    }
    relay_port_hold(p);
    rw->t.release = remote_wait_release;
    relay_track(&rw->t);
    return false; /* answered by remote_wait_done */
}

/* On the session's reactor: runs a forwarded request and sends its reply back. */
static void remote_exec(struct relay_port *p, void *arg)
{
    struct remote_req *q = arg;
    struct remote_reply *r = xcalloc(1, sizeof *r);
    struct wire_msg m;
    bool reply = true;
    if (relay_stopping()) {
        reply = false;
    } else if (wire_decode(q->body, q->len, &m) < 0) {
        reply_error(r, 0, 0, WIRE_ERR_INTERNAL, "cannot decode a forwarded request");
    } else {
        switch (m.type) {
        case WIRE_CREATE:
            remote_create(q, &m.create, r);
            break;
        case WIRE_ATTACH:
            remote_attach(q, &m.attach, r);
            break;
        case WIRE_DETACH:
            reply_ok(r, m.detach.req); /* the relay let go just before (same queue) */
            break;
        case WIRE_INPUT:
        case WIRE_WRITE:
            reply = remote_input(p, q, &m, r);
            break;
        case WIRE_OPEN:
            remote_open(q, &m.open, r);
            break;
        case WIRE_PASTE:
            reply = remote_paste(p, q, &m.paste, r);
            break;
        case WIRE_RESIZE:
        case WIRE_SIGNAL:
        case WIRE_REMOVE:
            remote_control(q, &m, r);
            break;
        case WIRE_SCREEN:
            remote_screen(q, &m.screen, r);
            break;
        case WIRE_WAIT:
            reply = remote_wait(p, q, &m.wait, r);
            break;
        default:
            reply_error(r, wire_msg_req(&m), 0, WIRE_ERR_INTERNAL,
                        "%s cannot be forwarded to another reactor", wire_type_name(m.type));
            break;
        }
    }
    if (reply) {
        reply_send(p, r);
    } else {
        bytebuf_free(&r->msgs);
        free(r);
    }
    free(q);
}

/* On the connection's reactor: a relay has output or an event for its subscription. */
static void conn_relay_wake(struct relay *rl)
{
    struct csub *cs = rl->c_owner;
    conn_want_flush(cs->c);
}

/* On the connection's reactor: a remote session's size changed. */
static void conn_relay_resized(struct relay *rl, uint16_t cols, uint16_t rows)
{
    struct csub *cs = rl->c_owner;
    csub_resized(&cs->sub, cols, rows);
}

static const struct relay_ops conn_relay_ops = {.wake = conn_relay_wake,
                                                .resized = conn_relay_resized};

/* Forwards the request being dispatched to worker `to`, after the checks and state this
 * side owns (the subscription of an ATTACH, read-only and attached checks, WRITE count). */
static int conn_remote(struct conn *c, struct worker *to, uint32_t req, uint32_t sid)
{
    struct wire_msg m;
    if (wire_decode(c->cur_body, c->cur_len, &m) < 0)
        return STEP_NEXT; /* cannot happen: it was decoded to get here */
    struct csub *cs = conn_find_sub(c, sid);
    struct remote_req *q = xcalloc(1, sizeof *q + c->cur_len);
    q->w = to;
    q->len = c->cur_len;
    memcpy(q->body, c->cur_body, c->cur_len);
    if (!c->port)
        c->port = relay_port_new(c->l->r, c);
    switch (m.type) {
    case WIRE_ATTACH: {
        if (cs)
            csub_remove(c, cs); /* a new attachment replaces it (from its new offset) */
        cs = xcalloc(1, sizeof *cs);
        cs->c = c;
        cs->sid = sid;
        cs->sw = to;
        cs->sub.interactive = m.attach.mode == WIRE_MODE_INTERACTIVE;
        cs->sub.owner = cs; /* csub_resized finds it through the settings' sub */
        cs->attach_id = ++c->attach_seq;
        cs->rl = relay_new(c->port, worker_reactor(to), sid, &conn_relay_ops, cs);
        cs->next = c->subs;
        c->subs = cs;
        c->nsubs++;
        q->rl = cs->rl;
        q->attach_id = cs->attach_id;
        q->stdio = c->flags & CONN_STDIO;
        q->hold_limit = c->hold ? c->window : 0;
        break;
    }
    case WIRE_INPUT:
    case WIRE_WRITE:
    case WIRE_PASTE:
        if (cs && !cs->sub.interactive) {
            conn_error(c, req, sid, WIRE_ERR_READ_ONLY, "attached to session %u read-only", sid);
            free(q);
            return STEP_NEXT;
        }
        if (m.type != WIRE_INPUT)
            c->nacks++;
        break;
    case WIRE_WAIT:
        c->nwaits++; /* on_wait checked the limit; RK_WAIT_DONE gives it back */
        break;
    case WIRE_RESIZE:
        if (!cs || !cs->sub.interactive) {
            if (!cs)
                conn_error(c, 0, sid, WIRE_ERR_NOT_ATTACHED,
                           "RESIZE needs an interactive attachment to session %u: ATTACH first",
                           sid);
            else
                conn_error(c, 0, sid, WIRE_ERR_READ_ONLY, "attached to session %u read-only", sid);
            free(q);
            return STEP_NEXT;
        }
        break;
    default:
        break;
    }
    relay_port_pending_add(c->port, 1);
    relay_port_call(c->port, worker_reactor(to), remote_exec, q);
    return STEP_NEXT;
}

/* What a remote subscription may send now: an event once the bytes before it went (a GAP
 * only when the client took what it was sent, as for local ones), else how many bytes
 * (within the ACK window). */
static size_t remote_prepare(struct conn *c, struct csub *cs)
{
    struct relay *rl = cs->rl;
    if (!cs->active)
        return 0;
    switch (relay_event(rl)) {
    case RELAY_EV_GAP: {
        if (c->l->out.len)
            return 0;
        struct wire_msg m = {.type = WIRE_GAP};
        m.gap = (struct wire_gap){cs->sid, rl->ev_from, rl->ev_to};
        conn_send(c, &m);
        cs->acked += rl->ev_to - rl->ev_from;
        relay_event_done(rl);
        return 0;
    }
    case RELAY_EV_EXIT: {
        struct wire_msg m = {.type = WIRE_EXIT};
        m.exit = (struct wire_exit){cs->sid, rl->ev_to, rl->ev_code, rl->ev_sig};
        conn_send(c, &m);
        relay_event_done(rl);
        return 0;
    }
    default:
        break;
    }
    uint64_t avail = relay_buf_used(&rl->buf);
    if (c->ack_paced) {
        uint64_t unacked = rl->c_offset - cs->acked;
        if (unacked >= c->window)
            return 0;
        if (avail > c->window - unacked)
            avail = c->window - unacked;
    }
    return avail > CONN_FRAME_MAX ? CONN_FRAME_MAX : (size_t)avail;
}

/* True when a remote subscription has something to send now (for the write watch). */
static bool remote_wants_write(struct conn *c, struct csub *cs)
{
    if (!cs->active)
        return false;
    if (relay_event(cs->rl) != RELAY_EV_NONE)
        return true;
    return relay_buf_used(&cs->rl->buf) &&
           (!c->ack_paced || cs->rl->c_offset - cs->acked < c->window);
}
