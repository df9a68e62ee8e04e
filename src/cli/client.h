/* client: one connection from a CLI command to the daemon's Unix socket.
 *
 * It connects, says HELLO and checks the WELCOME, then moves framed session-protocol
 * messages (wire.h) in both directions. The socket is non-blocking underneath so that
 * an event loop (attach) can poll it next to stdin; the blocking calls below poll for
 * it. Received messages are decoded in place: the slices of a message returned by
 * client_next() or client_recv() stay valid until the next call that reads. Every
 * failing call returns a negative errno and leaves a one-line, user-facing reason in
 * client_strerror().
 */
#ifndef PTYHUB_CLI_CLIENT_H
#define PTYHUB_CLI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/wire.h"

typedef struct client client;

/* What a LIST walk calls for each session; a non-zero return stops the walk and is
 * returned by client_list(). The entry's slices are valid only during the call. */
typedef int (*client_list_cb)(void *arg, const struct wire_list_entry *e);

/* Returns a new, unconnected client. */
client *client_new(void);

/* Closes the connection and frees c. Accepts NULL. */
void client_free(client *c);

/* Checks that the directory of a socket path is safe to trust: a real directory (not a
 * symbolic link), owned by this user and closed to group and others. Returns 0, or
 * -ENOENT when it does not exist, or another -errno with a one-line reason (what is
 * wrong and what to do) in err. */
int client_check_socket_dir(const char *socket_path, char *err, size_t errcap);

/* Connects to the daemon's socket at path and completes the handshake. Refuses, before
 * sending anything, a socket whose directory fails client_check_socket_dir() or whose
 * server runs as another user (SO_PEERCRED). Says HELLO with protocol version 3 and
 * falls back to version 1 once for an older daemon. */
int client_connect(client *c, const char *path);

/* The protocol version the daemon agreed to in its WELCOME. */
unsigned client_version(const client *c);

/* True when the daemon takes WRITE messages (WELCOME flag WIRE_WELCOME_F_WRITE). */
bool client_can_write(const client *c);

/* True when the daemon keeps terminal state: SCREEN, WAIT and ATTACH from a snapshot work
 * (version 3, WELCOME flag WIRE_WELCOME_F_TERMINAL). */
bool client_has_terminal(const client *c);

/* Encodes a WRITE{req, sid, data} (at most SEND_WINDOW_CHUNK bytes) and appends it to
 * the send queue. */
int client_queue_write(client *c, uint32_t req, uint32_t sid, uint8_t flags, const void *data,
                       size_t len);

/* The one-line reason of the last failure (no "ptyhub: " prefix). */
const char *client_strerror(const client *c);

/* The ERROR code of the last request the daemon refused, or 0. */
uint16_t client_error_code(const client *c);

/* The connected socket, for poll(). */
int client_fd(const client *c);

/* Returns a fresh request id (never 0). */
uint32_t client_req(client *c);

/* Encodes m and appends it to the send queue. */
int client_queue(client *c, const struct wire_msg *m);

/* Bytes queued but not yet written to the socket. */
size_t client_queued(const client *c);

/* Writes as much of the send queue as the socket takes now. Returns 0 or -errno. */
int client_flush_some(client *c);

/* Reads what the socket has now into the receive buffer. Returns 0 (end of stream is
 * remembered and reported by client_next() once the buffer is drained) or -errno. */
int client_read_some(client *c);

/* Decodes the next buffered message into *m. Returns 1, 0 when more bytes are needed,
 * or -errno (-ECONNRESET once the daemon has closed and nothing complete is left). */
int client_next(client *c, struct wire_msg *m);

/* Queues m and blocks until the whole queue has been written. */
int client_send(client *c, const struct wire_msg *m);

/* Blocks until a message arrives, writing queued bytes meanwhile. */
int client_recv(client *c, struct wire_msg *m);

/* Sends a request (its req already set) and blocks until the reply with the same req:
 * `want` or ERROR. Other messages are skipped. An ERROR returns -EREMOTEIO with the
 * daemon's message in client_strerror(). */
int client_call(client *c, const struct wire_msg *m, uint8_t want, struct wire_msg *reply);

/* Lists every session, calling cb for each, across as many LIST_REPLY as it takes. */
int client_list(client *c, client_list_cb cb, void *arg);

/* Resolves a session argument: only digits is an id, anything else a name looked up
 * with LIST. Returns 0 and the id, -ENOENT (no such name) or another -errno. */
int client_resolve(client *c, const char *arg, uint32_t *sid);

#endif
