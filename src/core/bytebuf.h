/* bytebuf: a growable byte queue for data waiting to be written — bytes are appended at
 * the end and consumed from the front. Plain value type in caller storage; zeroed is
 * empty. Used for connection output (replies, the rest of a partly written frame). */
#ifndef PTYHUB_BYTEBUF_H
#define PTYHUB_BYTEBUF_H

#include <stddef.h>
#include <stdint.h>

struct bytebuf {
    uint8_t *data;
    size_t head; /* first unconsumed byte */
    size_t len;  /* unconsumed bytes */
    size_t cap;
};

/* Returns room for n more bytes at the end (compacting, then doubling as needed); the
 * caller writes there and adds what it wrote to len. Never fails (xalloc). */
uint8_t *bytebuf_reserve(struct bytebuf *b, size_t n);
/* Drops n bytes from the front. */
void bytebuf_consume(struct bytebuf *b, size_t n);
/* Frees the storage; the buffer is empty again. */
void bytebuf_free(struct bytebuf *b);

#endif
