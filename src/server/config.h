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

/* Where new sessions live: on the least-loaded reactor (balance, the default), or on the
 * reactor of the connection that created them (creator). */
enum config_placement { PLACEMENT_BALANCE, PLACEMENT_CREATOR };

struct config {
    enum reactor_backend_kind io;
    unsigned threads;       /* reactor threads (0: one per core) */
    size_t scrollback;      /* bytes retained per session */
    unsigned kill_grace_ms; /* SIGHUP → SIGKILL delay */
    unsigned max_sessions;
    unsigned max_clients;      /* connections per class (Unix socket; HTTP and WebSocket) */
    size_t input_queue;        /* bytes of input queued per session at most */
    int sched;                 /* enum session_sched: what happens to bulk sessions */
    unsigned latency_slice_us; /* scheduler slice of reactor threads and interactive programs */
    size_t render_hold;        /* window of rendering clients (the page); 0: the 2 MiB ACK window */
    bool bulk_read_one;     /* with sched interactive: one read per bulk readiness (--bulk-read) */
    bool bulk_last;         /* bulk readiness after the turn's other work (--dispatch) */
    unsigned bulk_flush_us; /* longest wait of a bulk session's output for its clients */
    bool terminal_state;    /* a headless terminal per session (answers queries) */
    int placement;          /* enum config_placement: which reactor a new session lives on */
    unsigned keep_exited;   /* exited sessions kept listed */
    char socket_path[108];  /* Unix socket ("" until resolved) */
    enum log_level log_level;
    char *const *argv; /* first session's command (NULL: the user's shell) */
    bool no_session;   /* start without a first session */
    /* HTTP and WebSocket */
    char listen[256];     /* HOST:PORT ("" = none); serve defaults to 127.0.0.1:7681 */
    char *token;          /* bearer token ("" or NULL: none) */
    bool no_auth;         /* explicitly serve a non-loopback address without a token */
    char **allow_origins; /* extra allowed Origin values (NULL-terminated) */
    size_t nallow_origins;
    unsigned coalesce_ms;         /* minimum interval between WebSocket output flushes */
    unsigned max_session_clients; /* clients attached to one session at most */
    unsigned header_timeout_ms;   /* a request head must arrive within this (408) */
    int ready_fd;                 /* -1: none; else write "READY ..." there */
};

/* Fills in the defaults. */
void config_defaults(struct config *c);
/* Parses "123", "64K", "1M", "1G" into bytes. Returns 0 or -EINVAL/-ERANGE. */
int config_parse_size(const char *s, size_t *out);
/* Parses an unsigned decimal within [min, max]. Returns 0 or -EINVAL/-ERANGE. */
int config_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out);
/* Splits "HOST:PORT" or "[V6]:PORT" into host and port. Returns 0 or -EINVAL. */
int config_split_hostport(const char *s, char *host, size_t hostcap, char *port, size_t portcap);
/* True when host names a loopback address (127.0.0.0/8, ::1, localhost). */
bool config_host_is_loopback(const char *host);
/* Resolves the default socket path: $PTYHUB_SOCKET, else $XDG_RUNTIME_DIR/ptyhub/sock,
 * else /tmp/ptyhub-$UID/sock. Returns 0 or -ENAMETOOLONG. */
int config_default_socket(char *out, size_t cap);

#endif
