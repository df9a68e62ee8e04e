/* xalloc: allocation wrappers that abort with a message on out-of-memory. */
#include "core/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints why and aborts; never returns. */
static void xalloc_die(size_t n)
{
    fprintf(stderr, "ptyhub: out of memory allocating %zu bytes\n", n);
    abort();
}

/* malloc that never returns NULL (a zero size still yields a unique pointer). */
void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        xalloc_die(n);
    return p;
}

/* calloc that never returns NULL. */
void *xcalloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (!p)
        xalloc_die(count * n);
    return p;
}

/* realloc that never returns NULL. */
void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        xalloc_die(n);
    return q;
}

/* strdup that never returns NULL. */
char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

/* strndup that never returns NULL. */
char *xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}
