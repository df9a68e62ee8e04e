/* conn: one client of the session protocol over a byte stream — a Unix socket
 * connection or the stdin/stdout pair of `ptyhub stdio`. It decodes requests, keeps one
 * subscription per attached session, and writes output as gathered writes straight
 * from the sessions' rings, once per reactor turn. */
#ifndef PTYHUB_CONN_H
#define PTYHUB_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/list.h"

struct worker;
struct conn;

enum {
    CONN_STDIO = 1u << 0, /* stdin/stdout: lossless always; its end ends the daemon */
};

/* Starts serving on rfd (input) and wfd (output; the same fd for a socket) on w's
 * reactor, which must be the calling thread. Takes ownership of the fds on success. */
int conn_start(struct worker *w, int rfd, int wfd, unsigned flags);
struct link;
/* Turns an upgraded HTTP link (its 101 response queued, the bytes after the request in
 * its buffer) into a WebSocket session-protocol connection. Output is flushed at most
 * every coalesce_ms (0: once per turn). */
void conn_adopt_ws(struct link *l, unsigned coalesce_ms);
/* Tells a connection we cannot serve why (ERROR limit, best effort) and closes it. */
void conn_shed(int fd, const char *why);

#endif
