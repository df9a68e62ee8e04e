/* framing: length-prefixed and WebSocket framing of session-protocol messages. */
#include "server/framing.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytebuf.h"
#include "core/xalloc.h"
#include "proto/utf8.h"
#include "server/link.h"

/* Writes the framing in front of a body of n bytes — a u32 length on byte streams, a
 * WebSocket binary frame header (unmasked, server to client) — and returns its size. */
size_t framing_header(const struct framing *f, uint8_t *out, size_t n)
{
    if (f->ws)
        return (size_t)ws_frame_header_encode(out, true, WS_OP_BINARY, n, NULL);
    out[0] = (uint8_t)n;
    out[1] = (uint8_t)(n >> 8);
    out[2] = (uint8_t)(n >> 16);
    out[3] = (uint8_t)(n >> 24);
    return WIRE_LEN_PREFIX;
}

/* Queues an ERROR (req 0, sid 0) about the framing itself. */
static void stream_error(struct framing *f, struct link *l, uint16_t code, const char *msg)
{
    struct wire_msg m = {.type = WIRE_ERROR};
    m.error = (struct wire_error){.code = code, .message = {(const uint8_t *)msg, strlen(msg)}};
    size_t n = wire_encode(&m, NULL, 0, false);
    uint8_t *p = bytebuf_reserve(&l->out, FRAMING_HEADER_MAX + n);
    size_t h = framing_header(f, p, n);
    wire_encode(&m, p + h, n, false);
    l->out.len += h + n;
    link_want_flush(l);
}

/* Handles complete length-prefixed frames at the head of rbuf. Returns bytes consumed. */
static size_t stream_process(struct framing *f, struct link *l, framing_dispatch_cb dispatch,
                             void *ctx)
{
    size_t pos = 0;
    while (!l->closing && !l->moving && l->out.len < l->out_high) {
        const uint8_t *body;
        size_t blen;
        ssize_t n = wire_frame_split(l->in + pos, l->inlen - pos, WIRE_MAX_BODY, &body, &blen);
        if (n == 0)
            break;
        if (n < 0) {
            uint16_t code = wire_err_from_errno((int)n);
            if (n == -EMSGSIZE)
                stream_error(f, l, code, "frame larger than the 1048576-byte limit");
            else
                stream_error(f, l, code, "empty frame (length 0)");
            framing_fail(f, l, "bad frame");
            break;
        }
        enum framing_step step = dispatch(ctx, body, blen);
        if (step == FRAMING_CLOSE) {
            framing_fail(f, l, "protocol error");
            break;
        }
        if (step == FRAMING_STOP)
            break;
        pos += (size_t)n;
    }
    return pos;
}

/* Queues a WebSocket control frame (server frames are unmasked). */
static void ws_send_control(struct link *l, int op, const uint8_t *p, size_t n)
{
    uint8_t *q = bytebuf_reserve(&l->out, WS_FRAME_HEADER_MAX + n);
    int h = ws_frame_header_encode(q, true, op, n, NULL);
    if (h < 0)
        return;
    if (n)
        memcpy(q + h, p, n);
    l->out.len += (size_t)h + n;
    link_want_flush(l);
}

/* Sends a close frame with code and reason (RFC 6455 §5.5.1), then closes. */
static void ws_close_with(struct link *l, uint16_t code, const char *reason)
{
    uint8_t payload[WS_CONTROL_PAYLOAD_MAX];
    int n = ws_close_payload_encode(payload, code, reason, strlen(reason));
    ws_send_control(l, WS_OP_CLOSE, payload, n > 0 ? (size_t)n : 0);
    link_close(l, reason);
}

void framing_fail(struct framing *f, struct link *l, const char *why)
{
    if (f->ws)
        ws_close_with(l, WS_CLOSE_POLICY_VIOLATION, why);
    else
        link_close(l, why);
}

/* Answers a close frame from the client with the same code, then closes. */
static void ws_on_close(struct link *l, const uint8_t *p, size_t n)
{
    uint16_t code;
    const char *reason;
    size_t rlen;
    int rc = ws_close_payload_parse(p, n, &code, &reason, &rlen);
    if (rc == WS_ERR_CLOSE_UTF8)
        ws_close_with(l, WS_CLOSE_INVALID_PAYLOAD, "close reason is not UTF-8");
    else if (rc < 0)
        ws_close_with(l, WS_CLOSE_PROTOCOL_ERROR, ws_frame_strerror(rc));
    else
        ws_close_with(l, code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL : code, "");
}

/* Handles WebSocket frames at the head of rbuf (RFC 6455 §5): unmasks each payload once
 * in place, answers pings, assembles fragments into msg, and dispatches each binary
 * message as one protocol body. Returns bytes consumed. */
static size_t ws_process(struct framing *f, struct link *l, framing_dispatch_cb dispatch, void *ctx)
{
    size_t pos = 0;
    while (!l->closing && !l->moving && l->out.len < l->out_high) {
        if (f->msg_ready) {
            enum framing_step step = dispatch(ctx, f->msg, f->msg_len);
            if (step == FRAMING_CLOSE) {
                framing_fail(f, l, "protocol error");
                break;
            }
            if (step == FRAMING_STOP)
                break;
            f->msg_ready = false;
            f->msg_len = 0;
            continue;
        }
        struct ws_frame_hdr h;
        int hl = ws_frame_parse(l->in + pos, l->inlen - pos, &h);
        if (hl == 0)
            break;
        if (hl < 0) {
            ws_close_with(l, WS_CLOSE_PROTOCOL_ERROR, ws_frame_strerror(hl));
            break;
        }
        if (!h.masked) {
            ws_close_with(l, WS_CLOSE_PROTOCOL_ERROR, "client frames must be masked");
            break;
        }
        if (h.payload_len > WIRE_MAX_BODY) {
            ws_close_with(l, WS_CLOSE_MESSAGE_TOO_BIG, "message larger than 1 MiB");
            break;
        }
        size_t plen = (size_t)h.payload_len, fsize = (size_t)hl + plen;
        if (l->inlen - pos < fsize)
            break;
        uint8_t *payload = l->in + pos + hl;
        if (!f->head_unmasked)
            ws_unmask(payload, plen, h.mask, 0);
        f->head_unmasked = false;
        if (h.opcode & 0x8) {
            pos += fsize;
            if (h.opcode == WS_OP_PING)
                ws_send_control(l, WS_OP_PONG, payload, plen);
            else if (h.opcode == WS_OP_CLOSE)
                ws_on_close(l, payload, plen);
            continue;
        }
        int rc = ws_fragment_step(&f->fragmented, &h);
        if (rc < 0) {
            ws_close_with(l, WS_CLOSE_PROTOCOL_ERROR, ws_frame_strerror(rc));
            break;
        }
        if (h.opcode == WS_OP_TEXT) {
            ws_close_with(
                l, utf8_valid(payload, plen) ? WS_CLOSE_UNSUPPORTED_DATA : WS_CLOSE_INVALID_PAYLOAD,
                "ptyhub speaks binary messages only");
            break;
        }
        if (h.fin && h.opcode == WS_OP_BINARY) {
            enum framing_step step = dispatch(ctx, payload, plen);
            if (step == FRAMING_CLOSE) {
                framing_fail(f, l, "protocol error");
                break;
            }
            if (step == FRAMING_STOP) {
                f->head_unmasked = true; /* re-dispatched later, already unmasked */
                break;
            }
            pos += fsize;
            continue;
        }
        if (f->msg_len + plen > WIRE_MAX_BODY) {
            ws_close_with(l, WS_CLOSE_MESSAGE_TOO_BIG, "message larger than 1 MiB");
            break;
        }
        if (f->msg_len + plen > f->msg_cap) {
            f->msg_cap = f->msg_len + plen < 4096 ? 4096 : (f->msg_len + plen) * 2;
            f->msg = xrealloc(f->msg, f->msg_cap);
        }
        if (plen)
            memcpy(f->msg + f->msg_len, payload, plen);
        f->msg_len += plen;
        f->msg_ready = h.fin;
        pos += fsize;
    }
    return pos;
}

/* Handles what is buffered, until stopped, moved, closed or out of whole messages. */
void framing_process(struct framing *f, struct link *l, framing_dispatch_cb dispatch, void *ctx)
{
    if (l->out.len >= l->out_high) {
        /* A client that does not read its replies gets no more until it does: requests
         * already read wait in `in` (bounded), so memory stays bounded too. */
        l->process_held = true;
        return;
    }
    size_t pos = f->ws ? ws_process(f, l, dispatch, ctx) : stream_process(f, l, dispatch, ctx);
    if (!l->closing)
        link_consume(l, pos);
    if (!l->closing && !l->moving && l->out.len >= l->out_high && l->inlen)
        l->process_held = true;
}

/* Frees the assembly buffer. */
void framing_deinit(struct framing *f)
{
    free(f->msg);
    f->msg = NULL;
    f->msg_len = f->msg_cap = 0;
}
