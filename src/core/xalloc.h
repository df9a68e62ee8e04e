/* xalloc: the one place where running out of memory aborts the process.
 * Every other failure in ptyhub is handled; allocation failure is not recoverable
 * in a daemon that must not lose state half-way through an update. */
#ifndef PTYHUB_XALLOC_H
#define PTYHUB_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
