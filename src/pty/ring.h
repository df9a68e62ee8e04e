/* ring: a session's scrollback, addressed by 64-bit output offsets.
 *
 * Every output byte of a session has an offset: the number of bytes written before it.
 * The ring keeps the last `capacity` of them, [start, end). Memory is taken as output
 * arrives: nothing until the first write, then 1 KiB, doubling (realloc, data kept
 * linear from buf[0]) up to capacity; only then does it wrap, offset o living at
 * buf[o % capacity]. PTY reads go straight into the ring (ring_write_span, read(2),
 * ring_commit), and subscribers are cursors that send from it with ring_peek's iovecs.
 *
 * A transparent value type for embedding in a session; no I/O, no locking. An empty ring
 * (start == end) may be moved to any offset by assigning both fields (a resumed stream,
 * tests near 2^32 and 2^63); offsets are not expected to reach 2^64.
 */
#ifndef PTYHUB_RING_H
#define PTYHUB_RING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct ring {
    uint8_t *buf;
    size_t alloc;    /* bytes allocated at buf: 0, 1 KiB, 2 KiB, ... capacity */
    size_t capacity; /* a power of two >= 4 KiB */
    uint64_t start;  /* oldest retained offset */
    uint64_t end;    /* offset of the next byte to be written */
};

/* Prepares an empty ring; capacity is rounded up to a power of two, at least 4 KiB. */
void ring_init(struct ring *r, size_t capacity);
/* Frees the buffer; the ring may be initialized again. */
void ring_deinit(struct ring *r);

/* Oldest retained offset. */
static inline uint64_t ring_start(const struct ring *r)
{
    return r->start;
}

/* Offset of the next byte to be written. */
static inline uint64_t ring_end(const struct ring *r)
{
    return r->end;
}

/* A contiguous writable span at the end, so read(2) can go straight into the ring; grows the
 * allocation if needed. At least `want` bytes only if possible without wrapping; always > 0.
 * Once the ring is full the span overlays the oldest retained bytes, which are dropped by
 * ring_commit: iovecs from ring_peek must not be in use while the span is being written. */
size_t ring_write_span(struct ring *r, size_t want, uint8_t **out);
/* Commits n bytes written into the span; the oldest bytes are dropped once full. */
void ring_commit(struct ring *r, size_t n);
/* Copies bytes in (convenience for tests and small writes). */
void ring_append(struct ring *r, const void *p, size_t n);
/* Fills up to 2 iovecs with retained bytes from offset `from`, at most max bytes. Returns bytes
 * described (0 when from == end), or -ERANGE when from < start or from > end. */
ssize_t ring_peek(const struct ring *r, uint64_t from, size_t max, struct iovec iov[2],
                  int *iovcnt);

#endif
