/* server: the daemon. It owns the reactors (one thread each), the table of sessions
 * shared by all of them, the Unix socket listener, the optional stdio client, and the
 * orderly shutdown (SIGTERM/SIGINT or stdio EOF: stop accepting, end every session with
 * SIGHUP then SIGKILL, exit 0 with no child left behind). */
#ifndef PTYHUB_SERVER_H
#define PTYHUB_SERVER_H

#include "server/config.h"

typedef struct server server;

/* Creates the reactors and binds the listener. Logs and returns -errno on failure. */
int server_new(server **out, const struct config *cfg);
/* Serves the protocol on in_fd/out_fd (stdio mode); their EOF/EPIPE ends the daemon. */
int server_add_stdio(server *s, int in_fd, int out_fd);
/* Runs until shutdown. Returns 0 after a clean shutdown. */
int server_run(server *s);
/* Frees everything (after server_run returned). */
void server_free(server *s);

#endif
