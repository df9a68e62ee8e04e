/* send_window: chunking, request ids and acknowledgements of WRITE (see send_window.h). */
#include "cli/send_window.h"

#include <errno.h>
#include <string.h>

/* Starts empty. */
void send_window_init(struct send_window *w)
{
    memset(w, 0, sizeof *w);
}

/* The i-th outstanding chunk, oldest first. */
static struct send_chunk *chunk_at(const struct send_window *w, size_t i)
{
    return (struct send_chunk *)&w->chunks[(w->head + i) % SEND_WINDOW_SLOTS];
}

/* Finds the outstanding chunk with request id req. */
static struct send_chunk *find_req(const struct send_window *w, uint32_t req)
{
    for (size_t i = 0; i < w->count; i++) {
        struct send_chunk *ch = chunk_at(w, i);
        if (ch->req == req && ch->state == SEND_CHUNK_SENT)
            return ch;
    }
    return NULL;
}

/* Cuts a chunk of what is available within the window's limits. */
size_t send_window_cut(struct send_window *w, uint64_t avail, uint32_t req, uint64_t *off)
{
    if (avail <= w->cut || w->count == SEND_WINDOW_SLOTS || w->inflight >= SEND_WINDOW_INFLIGHT)
        return 0;
    uint64_t n = avail - w->cut;
    if (n > SEND_WINDOW_CHUNK)
        n = SEND_WINDOW_CHUNK;
    if (n > SEND_WINDOW_INFLIGHT - w->inflight)
        n = SEND_WINDOW_INFLIGHT - w->inflight;
    struct send_chunk *ch = chunk_at(w, w->count);
    *ch = (struct send_chunk){
        .req = req, .len = (uint32_t)n, .off = w->cut, .state = SEND_CHUNK_SENT};
    w->count++;
    w->cut += n;
    w->inflight += n;
    *off = ch->off;
    return (size_t)n;
}

/* Re-labels the oldest refused chunk for another attempt. */
size_t send_window_resend(struct send_window *w, uint32_t req, uint64_t *off)
{
    for (size_t i = 0; i < w->count; i++) {
        struct send_chunk *ch = chunk_at(w, i);
        if (ch->state == SEND_CHUNK_RETRY) {
            ch->req = req;
            ch->state = SEND_CHUNK_SENT;
            *off = ch->off;
            return ch->len;
        }
    }
    return 0;
}

/* Marks a chunk acknowledged and drops the acknowledged chunks at the front. */
int send_window_ok(struct send_window *w, uint32_t req)
{
    struct send_chunk *ch = find_req(w, req);
    if (!ch)
        return -ENOENT;
    ch->state = SEND_CHUNK_DONE;
    w->inflight -= ch->len;
    while (w->count > 0 && chunk_at(w, 0)->state == SEND_CHUNK_DONE) {
        w->head = (w->head + 1) % SEND_WINDOW_SLOTS;
        w->count--;
    }
    return 0;
}

/* Marks a refused chunk for resending. */
int send_window_limit(struct send_window *w, uint32_t req)
{
    struct send_chunk *ch = find_req(w, req);
    if (!ch)
        return -ENOENT;
    ch->state = SEND_CHUNK_RETRY;
    return 0;
}

/* True for a chunk awaiting its answer. */
bool send_window_owns(const struct send_window *w, uint32_t req)
{
    return find_req(w, req) != NULL;
}

/* The start of the oldest outstanding chunk, or everything cut. */
uint64_t send_window_acked(const struct send_window *w)
{
    return w->count > 0 ? chunk_at(w, 0)->off : w->cut;
}

/* Where the next chunk starts. */
uint64_t send_window_cut_end(const struct send_window *w)
{
    return w->cut;
}

/* Counts chunks in state SENT. */
size_t send_window_waiting(const struct send_window *w)
{
    size_t n = 0;
    for (size_t i = 0; i < w->count; i++)
        n += chunk_at(w, i)->state == SEND_CHUNK_SENT;
    return n;
}

/* True when a refused chunk waits. */
bool send_window_has_retry(const struct send_window *w)
{
    for (size_t i = 0; i < w->count; i++)
        if (chunk_at(w, i)->state == SEND_CHUNK_RETRY)
            return true;
    return false;
}

/* Stores v little-endian. */
static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Lays out prefix, type, req, sid, flags, data. */
size_t send_window_encode_write(uint8_t *buf, size_t cap, uint32_t req, uint32_t sid, uint8_t flags,
                                const void *data, size_t len)
{
    if (len > SEND_WINDOW_CHUNK)
        return 0;
    size_t body = SEND_WINDOW_WRITE_HDR + len;
    size_t total = 4 + body;
    if (total > cap)
        return total;
    put_u32(buf, (uint32_t)body);
    buf[4] = SEND_WINDOW_WIRE_WRITE;
    put_u32(buf + 5, req);
    put_u32(buf + 9, sid);
    buf[13] = flags;
    if (len)
        memcpy(buf + 14, data, len);
    return total;
}
