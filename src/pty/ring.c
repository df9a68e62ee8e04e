/* ring: a session's scrollback, addressed by 64-bit output offsets.
 *
 * Two layouts, told apart by alloc: while alloc < capacity nothing has been dropped yet
 * and the data is linear, offset o at buf[o - start]; once alloc == capacity, offset o is
 * at buf[o & (capacity - 1)] and the oldest bytes are overwritten. The one switch between
 * them happens in the growth that reaches capacity, which moves the data to its wrapped
 * positions (a no-op when start is a multiple of capacity, as it is from offset 0).
 */
#include "pty/ring.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

#define RING_MIN_CAPACITY ((size_t)4096)
#define RING_FIRST_ALLOC ((size_t)1024)
/* Keeps every length ring_peek returns within ssize_t. */
#define RING_MAX_CAPACITY ((SIZE_MAX >> 2) + 1)

/* Prepares an empty ring with capacity rounded up to a power of two >= 4 KiB. */
void ring_init(struct ring *r, size_t capacity)
{
    size_t cap = RING_MIN_CAPACITY;
    while (cap < capacity && cap < RING_MAX_CAPACITY)
        cap <<= 1;
    *r = (struct ring){.capacity = cap};
}

/* Frees the buffer and leaves the ring zeroed. */
void ring_deinit(struct ring *r)
{
    free(r->buf);
    *r = (struct ring){0};
}

/* Number of bytes retained. */
static size_t ring_len(const struct ring *r)
{
    return (size_t)(r->end - r->start);
}

/* True once the buffer has reached capacity and offsets map modulo capacity. */
static bool ring_full_size(const struct ring *r)
{
    return r->alloc == r->capacity;
}

/* Moves len linear bytes from buf[0] to their wrapped positions, start & (capacity - 1). */
static void ring_settle(struct ring *r, size_t len)
{
    size_t cap = r->capacity, s = (size_t)(r->start & (cap - 1));
    if (s == 0 || len == 0)
        return;
    if (s + len <= cap) {
        memmove(r->buf + s, r->buf, len);
        return;
    }
    /* The data came from an allocation of at most cap / 2, so len <= cap / 2 < s: the
     * head's destination [s, cap) does not overlap the source [0, len). */
    size_t head = cap - s;
    memcpy(r->buf + s, r->buf, head);
    memmove(r->buf, r->buf + head, len - head);
}

/* Grows the allocation by doubling until `want` bytes fit after the data, or to capacity. */
static void ring_grow(struct ring *r, size_t want)
{
    size_t len = ring_len(r);
    size_t n = r->alloc ? r->alloc * 2 : RING_FIRST_ALLOC;
    while (n < r->capacity && n - len < want)
        n *= 2;
    if (n > r->capacity)
        n = r->capacity;
    r->buf = xrealloc(r->buf, n);
    r->alloc = n;
    if (ring_full_size(r))
        ring_settle(r, len);
}

/* Returns a contiguous writable span at the end of the data; see ring.h. */
size_t ring_write_span(struct ring *r, size_t want, uint8_t **out)
{
    if (want == 0)
        want = 1;
    if (!ring_full_size(r)) {
        size_t len = ring_len(r);
        if (r->alloc - len < want)
            ring_grow(r, want);
        if (!ring_full_size(r)) {
            *out = r->buf + len;
            return r->alloc - len;
        }
    }
    size_t pos = (size_t)(r->end & (r->capacity - 1));
    *out = r->buf + pos;
    return r->capacity - pos;
}

/* Commits n bytes written into the span, dropping the oldest beyond capacity. */
void ring_commit(struct ring *r, size_t n)
{
    if (n == 0)
        return;
    assert(ring_full_size(r) ? (size_t)(r->end & (r->capacity - 1)) + n <= r->capacity
                             : ring_len(r) + n <= r->alloc);
    r->end += n;
    if (r->end - r->start > r->capacity)
        r->start = r->end - r->capacity;
}

/* Copies n bytes in at the end; of more than capacity, only the last capacity are kept. */
void ring_append(struct ring *r, const void *p, size_t n)
{
    const uint8_t *src = p;
    uint8_t *dst;
    if (n > r->capacity) {
        /* Skip what would be overwritten anyway; the loop below rewrites every position
         * before anything can look at them. */
        ring_write_span(r, r->capacity, &dst); /* grows to full size */
        size_t skip = n - r->capacity;
        r->end += skip;
        if (r->end - r->start > r->capacity)
            r->start = r->end - r->capacity;
        src += skip;
        n = r->capacity;
    }
    while (n > 0) {
        size_t span = ring_write_span(r, n, &dst);
        size_t k = span < n ? span : n;
        memcpy(dst, src, k);
        ring_commit(r, k);
        src += k;
        n -= k;
    }
}

/* Describes retained bytes from offset `from` in up to two iovecs; see ring.h. */
ssize_t ring_peek(const struct ring *r, uint64_t from, size_t max, struct iovec iov[2], int *iovcnt)
{
    *iovcnt = 0;
    if (from < r->start || from > r->end)
        return -ERANGE;
    uint64_t avail = r->end - from;
    size_t n = avail < max ? (size_t)avail : max;
    if (n == 0)
        return 0;
    size_t pos = ring_full_size(r) ? (size_t)(from & (r->capacity - 1)) : (size_t)(from - r->start);
    /* Growing: pos + n <= alloc, one piece. Full: split where the buffer ends. */
    size_t first = r->alloc - pos < n ? r->alloc - pos : n;
    iov[0].iov_base = r->buf + pos;
    iov[0].iov_len = first;
    *iovcnt = 1;
    if (first < n) {
        iov[1].iov_base = r->buf;
        iov[1].iov_len = n - first;
        *iovcnt = 2;
    }
    return (ssize_t)n;
}
