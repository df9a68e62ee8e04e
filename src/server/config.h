/* config: the daemon's settings, their defaults, and validation of every value at
 * start-up (a bad value names its flag and the process exits with status 2). */
#ifndef PTYHUB_CONFIG_H
#define PTYHUB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"
#include "core/reactor.h"

#define PTYHUB_VERSION "0.1.0"

struct config {
    enum reactor_backend_kind io;
    unsigned threads;         /* reactor threads (0: one per core) */
    size_t scrollback;        /* bytes retained per session */
    unsigned kill_grace_ms;   /* SIGHUP → SIGKILL delay */
    unsigned max_sessions;
    unsigned max_clients;     /* connections in all */
    unsigned keep_exited;     /* exited sessions kept listed */
    char socket_path[108];    /* Unix socket ("" until resolved) */
    enum log_level log_level;
    char *const *argv;        /* first session's command (NULL: the user's shell) */
    bool no_session;          /* start without a first session */
};

/* Fills in the defaults. */
void config_defaults(struct config *c);
/* Parses "123", "64K", "1M", "1G" into bytes. Returns 0 or -EINVAL/-ERANGE. */
int config_parse_size(const char *s, size_t *out);
/* Parses an unsigned decimal within [min, max]. Returns 0 or -EINVAL/-ERANGE. */
int config_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out);
/* Resolves the default socket path: $PTYHUB_SOCKET, else $XDG_RUNTIME_DIR/ptyhub/sock,
 * else /tmp/ptyhub-$UID/sock. Returns 0 or -ENAMETOOLONG. */
int config_default_socket(char *out, size_t cap);

#endif
