/* server_impl: the daemon's shared state as the files of src/server see it — the
 * workers (one reactor thread each), the session table's entries, the listeners and the
 * shutdown state. Private to src/server: hub.c (the table), listener.c (accepting and
 * connection budgets), runtime.c (the private directory and token), server.c (life
 * cycle and shutdown). */
#ifndef PTYHUB_SERVER_IMPL_H
#define PTYHUB_SERVER_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/list.h"
#include "core/reactor.h"
#include "server/config.h"
#include "server/events.h"
#include "server/hub.h"

struct worker {
    struct server *srv;
    unsigned idx;
    reactor *r;
    pthread_t thread;
    struct list_node *links; /* every client connection living here */
    _Atomic uint64_t bytes_in, bytes_out;
    _Atomic unsigned nsessions; /* running sessions living here (placement, /metrics) */
    _Atomic unsigned placing;   /* creations placed here and not yet spawned */
};

struct entry {
    uint32_t id;
    char *name;        /* "" when unnamed */
    struct session *s; /* NULL while being spawned */
    struct worker *owner;
    bool exited;
    bool remove_on_exit; /* DELETE of a running session */
    uint64_t exit_seq;   /* order of exit, for evicting the oldest exited */
};

struct server {
    struct config cfg;
    unsigned nworkers;
    struct worker *workers;

    pthread_mutex_t mu;    /* guards the table below */
    struct entry *entries; /* sorted by id */
    size_t nentries, capentries;
    uint32_t next_id;
    unsigned nexited;
    uint64_t exit_seq;

    _Atomic unsigned running; /* sessions whose exit has not been reported */
    struct events *events;    /* lifecycle events fan-out (events.c) */
    /* Connection budgets, one per class, so no class can starve another: Unix socket
     * clients, HTTP/WebSocket clients, and among those the ones that have not shown the
     * token yet (a small pool whose oldest member is evicted when it is full). */
    _Atomic unsigned nconns[HUB_CLASSES];
    _Atomic unsigned npreauth;
    _Atomic uint64_t sheds[HUB_CLASSES], preauth_evictions;
    _Atomic bool shutting_down;
    _Atomic unsigned next_worker;

    int listen_fd;
    reactor_io *listen_io;
    int http_fd;
    reactor_io *http_io;
    char http_addr[300]; /* the bound address, for READY and logs ("-" when none) */
    reactor_timer accept_backoff;
    uint64_t accept_warned_ns; /* last "accept failed" warning (rate-limited) */
    uint64_t accept_turn;      /* worker 0's turn that accepted accept_taken */
    unsigned accept_taken;     /* connections accepted in that turn (ACCEPT_BATCH) */
    unsigned accept_unlogged;  /* failures since that warning */
    reactor_timer log_timer;   /* flushes queued log lines while stderr is full */
    _Atomic bool log_hook_posted;
    int restore_fd[2], restore_fl[2]; /* stdio fds whose flags are put back at exit */
    unsigned nrestore;
    char *token;          /* the HTTP token in force (given or generated) */
    bool token_published; /* the token and URL files were written */
    char token_path[sizeof((struct config *)0)->socket_path + 8];
    char url_path[sizeof((struct config *)0)->socket_path + 8];
    int sig_fd;
    reactor_io *sig_io;
    reactor_timer deadline;
    bool socket_bound;
    bool stopping;                    /* worker 0 only */
    char *ready_pipe, *notify_socket; /* taken out of environ: sessions must not see them */
    int exit_status;
};

/* hub.c: frees the table at teardown (sessions killed and reaped). */
void hub_table_free(struct server *srv);
/* hub.c: a session's exit was reported; shutdown may be able to finish (worker 0). */
int shutdown_check_post(void *arg);

/* listener.c: binds the Unix socket and the HTTP port and starts accepting on worker 0. */
int listeners_open(struct server *srv);
/* listener.c: stops accepting and removes the socket file. */
void listeners_close(struct server *srv);

/* runtime.c: checks (or makes) the private directory the socket lives in. */
int runtime_dir_prepare(const char *socket_path);
/* runtime.c: generates the token when none was given (and auth is on), writes the token
 * and URL files (0600) next to the socket, and logs the URL to open. */
int runtime_token_publish(struct server *srv);
/* runtime.c: removes the token and URL files. */
void runtime_token_unpublish(struct server *srv);

#endif
