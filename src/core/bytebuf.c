/* bytebuf: a growable byte queue (see bytebuf.h). */
#include "core/bytebuf.h"

#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

/* Makes room for n more bytes at the end. */
uint8_t *bytebuf_reserve(struct bytebuf *b, size_t n)
{
    if (b->head && b->head + b->len + n > b->cap) {
        memmove(b->data, b->data + b->head, b->len);
        b->head = 0;
    }
    if (b->head + b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->head + b->len + n)
            cap *= 2;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    return b->data + b->head + b->len;
}

/* Drops n bytes from the front; an emptied queue starts over at the beginning. */
void bytebuf_consume(struct bytebuf *b, size_t n)
{
    b->head += n;
    b->len -= n;
    if (b->len == 0)
        b->head = 0;
}

/* Frees the storage. */
void bytebuf_free(struct bytebuf *b)
{
    free(b->data);
    *b = (struct bytebuf){0};
}
