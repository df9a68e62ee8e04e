/* hub: what the connection layer may ask of the daemon — the shared session table
 * (thread-safe), session creation on the calling reactor, placement and hand-over of
 * connections between reactors, limits, and shutdown. Internal to src/server. */
#ifndef PTYHUB_HUB_H
#define PTYHUB_HUB_H

#include <stdbool.h>
#include <stdint.h>

#include "core/list.h"
#include "core/reactor.h"
#include "proto/wire.h"
#include "pty/session.h"
#include "server/config.h"

struct server;
struct worker; /* one reactor thread and what lives on it */
struct conn;

reactor *worker_reactor(struct worker *w);
struct server *worker_server(struct worker *w);
const struct config *hub_config(struct server *srv);

/* Chooses the worker a new session should live on (--placement) and reserves a place
 * there; the caller runs the creation on that worker, then calls hub_place_done. */
struct worker *hub_place(struct worker *creator);
void hub_place_done(struct worker *w);
/* Creates a session on w from a CREATE request. On failure returns -errno and sets
 * *code (a wire_err) and a message in err. */
int hub_create(struct worker *w, const struct wire_create *c, struct session **out, uint16_t *code,
               char *err, size_t errlen);
/* As hub_create, for OPEN: with `hold`, the new session reads no output until its
 * first attach (session_opts.hold_output). */
int hub_open(struct worker *w, const struct wire_create *c, bool hold, struct session **out,
             uint16_t *code, char *err, size_t errlen);
/* Spawns a session on w (argv/env NULL-terminated; name/cwd may be NULL). */
int hub_spawn(struct worker *w, const char *name, const char *const *argv, const char *cwd,
              const char *const *env, uint16_t cols, uint16_t rows, struct session **out,
              uint16_t *code, char *err, size_t errlen);
/* Finds a session by id: its owner worker, and the session pointer (only to be used on
 * the owner's thread). Returns 0 or -ENOENT. */
int hub_find(struct server *srv, uint32_t id, struct session **s, struct worker **owner);
/* Removes an exited session from the table and frees it. Must run on its owner. */
void hub_remove(struct worker *w, struct session *s);

/* Marks a running session for removal once it has exited. Must run on its owner. */
void hub_remove_when_exited(struct worker *w, struct session *s);

/* One row of a listing. */
struct hub_row {
    struct session_summary sum;
    const char *name;
    const char *command;
};
/* Longest command shown in a listing (longer ones are cut). */
#define HUB_COMMAND_MAX 1024
/* Calls cb for each session in id order, with a copy of its row (no lock held). */
void hub_list(struct server *srv, void (*cb)(void *ctx, const struct hub_row *row), void *ctx);

/* Connection classes, each with its own --max-clients budget. */
enum hub_class { HUB_UNIX, HUB_HTTP, HUB_CLASSES };
/* Pre-authentication HTTP connections at most; beyond, the oldest is evicted. */
#define HUB_PREAUTH_MAX 128
/* Connection accounting: admit returns false at the class's --max-clients cap. */
bool hub_conn_admit(struct server *srv, enum hub_class cls);
void hub_conn_release(struct server *srv, enum hub_class cls);
/* A new HTTP connection has not shown the token yet: counted in the pre-auth pool.
 * Returns true when the pool is over its size (the caller evicts its oldest). */
bool hub_preauth_add(struct server *srv);
/* It showed the token, or it went away before that. */
void hub_preauth_remove(struct server *srv);
/* Counts a pre-auth connection evicted to make room. */
void hub_preauth_evicted(struct server *srv);
/* The worker-side half of hub_http_authed (http.c calls this on its first token). */
void hub_http_authed(struct worker *w);
/* Keeps the worker's list of links (every client connection living there), for
 * teardown and for evicting pre-auth HTTP connections; newest first. */
void hub_link_track(struct worker *w, struct list_node *node, bool add);
struct list_node *hub_link_list(struct worker *w);
/* The lifecycle events fan-out (events.h): EVENTS subscribers and SSE streams. */
struct events *hub_events(struct server *srv);
/* Publishes a TITLE event: the hook the terminal-state code reaches through
 * session_opts.on_title (any reactor thread). */
void hub_event_title(struct server *srv, uint32_t sid, const char *title);
/* Prometheus text for /metrics (malloc'd). */
void hub_metrics(struct server *srv, char **text, size_t *len);
/* Starts an orderly shutdown (from any reactor thread). */
void hub_shutdown(struct server *srv, const char *why);
/* Total bytes moved, for the counters. */
void hub_count_bytes(struct worker *w, uint64_t in, uint64_t out);

#endif
