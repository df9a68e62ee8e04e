/* send_window: the bookkeeping of `ptyhub send` over WRITE messages, as a pure module.
 *
 * The bytes to send form one stream, addressed by offset from 0. The window cuts them
 * into chunks of at most SEND_WINDOW_CHUNK bytes, each sent as a WRITE with its own
 * request id, and keeps at most SEND_WINDOW_INFLIGHT bytes un-acknowledged. The daemon
 * answers OK{req} once a chunk reached the PTY, or ERROR `limit` when the session's
 * input queue cannot take it now: such a chunk is marked for resending under a new
 * request id. acked() is the offset below which every byte was acknowledged, so the
 * caller may drop those bytes. No I/O, no allocation.
 */
#ifndef PTYHUB_CLI_SEND_WINDOW_H
#define PTYHUB_CLI_SEND_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEND_WINDOW_CHUNK (64u * 1024)     /* most data one WRITE carries */
#define SEND_WINDOW_INFLIGHT (256u * 1024) /* most bytes sent and not yet acknowledged */
#define SEND_WINDOW_SLOTS 64               /* most chunks outstanding (small reads) */

/* The WRITE message of protocol version 2, until the codec (proto/wire.h) has it. */
#define SEND_WINDOW_WIRE_WRITE 0x0B
#define SEND_WINDOW_WRITE_HDR 10 /* type, req, sid, flags */

enum send_chunk_state {
    SEND_CHUNK_SENT,  /* written, waiting for OK or ERROR */
    SEND_CHUNK_RETRY, /* refused with `limit`: to be sent again */
    SEND_CHUNK_DONE,  /* acknowledged */
};

struct send_chunk {
    uint32_t req;
    uint32_t len;
    uint64_t off;
    uint8_t state; /* enum send_chunk_state */
};

/* In caller storage; fields are private. Chunks are kept in stream order. */
struct send_window {
    struct send_chunk chunks[SEND_WINDOW_SLOTS];
    size_t head, count; /* ring of outstanding chunks, oldest first */
    uint64_t cut;       /* bytes below this offset have been cut into chunks */
    uint64_t inflight;  /* bytes in chunks not yet acknowledged */
};

/* Starts an empty window at offset 0. */
void send_window_init(struct send_window *w);

/* Cuts the next chunk out of the bytes [cut, avail) for a WRITE with request id req.
 * Returns its length and sets *off, or 0 when there is nothing to cut or the window is
 * full. */
size_t send_window_cut(struct send_window *w, uint64_t avail, uint32_t req, uint64_t *off);

/* Takes the oldest chunk marked for resending and gives it request id req. Returns its
 * length and sets *off, or 0 when no chunk waits to be resent. */
size_t send_window_resend(struct send_window *w, uint32_t req, uint64_t *off);

/* Records the OK for req. Returns 0, or -ENOENT when req is not a chunk waiting for
 * an answer. */
int send_window_ok(struct send_window *w, uint32_t req);

/* Records an ERROR `limit` for req: the chunk will be resent. Returns 0 or -ENOENT. */
int send_window_limit(struct send_window *w, uint32_t req);

/* True when req is a chunk waiting for an answer. */
bool send_window_owns(const struct send_window *w, uint32_t req);

/* Every byte below this offset has been acknowledged. */
uint64_t send_window_acked(const struct send_window *w);

/* Bytes cut into chunks so far (the offset of the next chunk). */
uint64_t send_window_cut_end(const struct send_window *w);

/* Chunks sent and waiting for an answer. */
size_t send_window_waiting(const struct send_window *w);

/* True when some chunk waits to be resent. */
bool send_window_has_retry(const struct send_window *w);

/* WRITE flags: this WRITE resends the one refused first; the daemon refuses a session's
 * later WRITEs from this connection until it sees it (so input is never reordered). */
#define SEND_WINDOW_F_RESUME 0x01
/* Encodes a WRITE{req, sid, flags, data} with its length prefix into buf. Returns the
 * size, writing only when it fits in cap, or 0 when len is over SEND_WINDOW_CHUNK. */
size_t send_window_encode_write(uint8_t *buf, size_t cap, uint32_t req, uint32_t sid, uint8_t flags,
                                const void *data, size_t len);

#endif
