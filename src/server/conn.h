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
/* Starts a WebSocket connection on an upgraded socket: `in` holds bytes that arrived
 * after the HTTP request, `out` the 101 response still to send. Output is flushed at
 * most every coalesce_ms (0: once per turn). */
int conn_start_ws(struct worker *w, int fd, const uint8_t *in, size_t inlen, const uint8_t *out,
                  size_t outlen, unsigned coalesce_ms);
/* Tells a connection we cannot serve why (ERROR limit, best effort) and closes it. */
void conn_shed(int fd, const char *why);
/* The node that keeps the connection in its worker's list (hub.h: hub_conn_track). */
struct list_node *conn_track_node(struct conn *c);
/* Frees every connection of a stopped worker's list. */
void conn_free_all(struct list_node **head);

#endif
