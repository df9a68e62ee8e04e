/* framing: how session-protocol messages travel on a link — a u32 length prefix on byte
 * streams (Unix socket, stdio), one binary WebSocket message each on an upgraded HTTP
 * connection (RFC 6455: masking, fragments, ping/pong, the close handshake, text and
 * oversize refused). It finds whole message bodies in the link's input and hands each
 * to the request layer; it writes the framing in front of outgoing bodies. It knows
 * nothing of what the bodies mean. */
#ifndef PTYHUB_FRAMING_H
#define PTYHUB_FRAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/wire.h"
#include "proto/ws_frame.h"

struct link;

/* Most framing bytes in front of one body. */
#define FRAMING_HEADER_MAX WS_FRAME_HEADER_MAX

/* What the request layer did with a body. */
enum framing_step {
    FRAMING_NEXT,  /* handled: go on with the next */
    FRAMING_STOP,  /* handle it again later (the connection is moving): keep it */
    FRAMING_CLOSE, /* a protocol error was queued: close (WebSocket: with 1008) */
};

typedef enum framing_step (*framing_dispatch_cb)(void *ctx, const uint8_t *body, size_t len);

struct framing {
    bool ws;            /* WebSocket messages instead of length prefixes */
    bool fragmented;    /* inside a fragmented WebSocket message */
    bool head_unmasked; /* the frame at the head of the input was unmasked already */
    bool msg_ready;     /* msg holds a complete message not yet handled */
    uint8_t *msg;       /* a fragmented WebSocket message being assembled (<= 1 MiB) */
    size_t msg_len, msg_cap;
};

/* Hands every complete body at the front of l->in to dispatch, in order, until one
 * asks to stop, the link closes or moves, or the input ends mid-frame. Malformed
 * framing is answered (ERROR on streams, a close frame on WebSocket) and closes the
 * link. Consumes what was handled from l->in. */
void framing_process(struct framing *f, struct link *l, framing_dispatch_cb dispatch, void *ctx);
/* Writes the framing for a body of n bytes into out (FRAMING_HEADER_MAX bytes); returns
 * its size. */
size_t framing_header(const struct framing *f, uint8_t *out, size_t n);
/* Closes after a protocol error: WebSocket sends a close frame (1008) after what is
 * queued; on a byte stream the queued ERROR says it all. */
void framing_fail(struct framing *f, struct link *l, const char *why);
/* Frees the message assembly buffer. */
void framing_deinit(struct framing *f);

#endif
