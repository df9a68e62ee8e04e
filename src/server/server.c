/* server: the daemon's top level. Workers (one reactor thread each; worker 0 runs on
 * the main thread), the session table they share, the Unix socket listener, signals,
 * and the orderly shutdown.
 *
 * Threading: a session and every connection attached to it live on one worker, so the
 * data path takes no locks. The table (ids, names, owners) is the only shared state and
 * is guarded by one mutex; listings read per-session atomics under it. Connections are
 * spread round-robin at accept; a session is created on the worker of the connection
 * that asked for it; a connection that then addresses a session on another worker is
 * handed over to that worker once (conn.c). */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "server/conn.h"
#include "server/http.h"
#include "server/hub.h"

struct worker {
    struct server *srv;
    unsigned idx;
    reactor *r;
    pthread_t thread;
    struct list_node *conns, *https; /* every connection living here, for teardown */
    _Atomic uint64_t bytes_in, bytes_out;
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
    _Atomic unsigned nconns;
    _Atomic bool shutting_down;
    _Atomic unsigned next_worker;

    int listen_fd;
    reactor_io *listen_io;
    int http_fd;
    reactor_io *http_io;
    char http_addr[300]; /* the bound address, for READY and logs ("-" when none) */
    reactor_timer accept_backoff;
    int sig_fd;
    reactor_io *sig_io;
    reactor_timer deadline;
    bool socket_bound;
    bool stopping;                    /* worker 0 only */
    char *ready_pipe, *notify_socket; /* taken out of environ: sessions must not see them */
    int exit_status;
};

reactor *worker_reactor(struct worker *w)
{
    return w->r;
}

struct server *worker_server(struct worker *w)
{
    return w->srv;
}

const struct config *hub_config(struct server *srv)
{
    return &srv->cfg;
}

void hub_count_bytes(struct worker *w, uint64_t in, uint64_t out)
{
    atomic_fetch_add_explicit(&w->bytes_in, in, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->bytes_out, out, memory_order_relaxed);
}

/* ---- the session table ------------------------------------------------------------- */

/* Index of id in the sorted table, or -1. Caller holds mu. */
static ssize_t table_index(struct server *srv, uint32_t id)
{
    size_t lo = 0, hi = srv->nentries;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (srv->entries[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < srv->nentries && srv->entries[lo].id == id ? (ssize_t)lo : -1;
}

/* True for a valid session name: 1..64 of [A-Za-z0-9._-], not all digits (those are ids). */
static bool name_valid(const char *p, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    bool digits = true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
        digits &= c >= '0' && c <= '9';
    }
    return !digits;
}

/* Builds a NULL-terminated vector from a wire block (strings point into the block). */
static const char **block_vector(const struct wire_block *b)
{
    const char **v = xcalloc((size_t)b->count + 1, sizeof *v);
    size_t pos = 0, i = 0;
    const char *str;
    while ((str = wire_block_next(b, &pos)) && i < b->count)
        v[i++] = str;
    v[i] = NULL;
    return v;
}

static void session_exited_cb(struct session *s, void *arg);

/* Spawns a session on w, registering it in the table. */
int hub_spawn(struct worker *w, const char *name, const char *const *argv, const char *cwd,
              const char *const *env, uint16_t cols, uint16_t rows, struct session **out,
              uint16_t *code, char *err, size_t errlen)
{
    struct server *srv = w->srv;
    if (name && *name && !name_valid(name, strlen(name))) {
        *code = WIRE_ERR_BAD_ARGUMENT;
        snprintf(err, errlen,
                 "invalid session name '%s': use 1-64 letters, digits, '.', '_' or '-', "
                 "not only digits",
                 name);
        return -EINVAL;
    }
    pthread_mutex_lock(&srv->mu);
    size_t live = srv->nentries;
    if (live >= srv->cfg.max_sessions) {
        pthread_mutex_unlock(&srv->mu);
        *code = WIRE_ERR_LIMIT;
        snprintf(err, errlen, "session limit reached (%u); remove exited sessions with 'ptyhub rm'",
                 srv->cfg.max_sessions);
        return -ENOSPC;
    }
    if (name && *name) {
        for (size_t i = 0; i < srv->nentries; i++) {
            if (strcmp(srv->entries[i].name, name) == 0) {
                pthread_mutex_unlock(&srv->mu);
                *code = WIRE_ERR_BAD_ARGUMENT;
                snprintf(err, errlen, "a session named '%s' already exists", name);
                return -EEXIST;
            }
        }
    }
    if (srv->nentries == srv->capentries) {
        srv->capentries = srv->capentries ? srv->capentries * 2 : 64;
        srv->entries = xrealloc(srv->entries, srv->capentries * sizeof *srv->entries);
    }
    uint32_t id = srv->next_id++;
    srv->entries[srv->nentries++] =
        (struct entry){.id = id, .name = xstrdup(name ? name : ""), .owner = w};
    atomic_fetch_add(&srv->running, 1);
    pthread_mutex_unlock(&srv->mu);

    struct session_opts o = {
        .id = id,
        .name = name,
        .argv = argv,
        .cwd = cwd,
        .env_extra = env,
        .cols = cols,
        .rows = rows,
        .scrollback = srv->cfg.scrollback,
        .kill_grace_ms = srv->cfg.kill_grace_ms,
    };
    struct session *s = NULL;
    int rc = session_new(w->r, &o, session_exited_cb, w, &s, err, errlen);
    pthread_mutex_lock(&srv->mu);
    ssize_t i = table_index(srv, id);
    if (rc < 0) {
        free(srv->entries[i].name);
        memmove(&srv->entries[i], &srv->entries[i + 1],
                (srv->nentries - (size_t)i - 1) * sizeof *srv->entries);
        srv->nentries--;
        atomic_fetch_sub(&srv->running, 1);
    } else {
        srv->entries[i].s = s;
    }
    pthread_mutex_unlock(&srv->mu);
    if (rc < 0) {
        *code = WIRE_ERR_SPAWN_FAILED;
        return rc;
    }
    log_info("session %u started: %s", id, session_command(s));
    *out = s;
    return 0;
}

/* Creates a session from a CREATE request. */
int hub_create(struct worker *w, const struct wire_create *c, struct session **out, uint16_t *code,
               char *err, size_t errlen)
{
    char name[65] = "", cwd[4096] = "";
    if (c->name.len && !name_valid((const char *)c->name.p, c->name.len)) {
        *code = WIRE_ERR_BAD_ARGUMENT;
        snprintf(err, errlen,
                 "invalid session name: use 1-64 letters, digits, '.', '_' or '-', "
                 "not only digits");
        return -EINVAL;
    }
    memcpy(name, c->name.p, c->name.len);
    if (c->cwd.len >= sizeof cwd) {
        *code = WIRE_ERR_BAD_ARGUMENT;
        snprintf(err, errlen, "working directory path too long");
        return -EINVAL;
    }
    if (c->cwd.len)
        memcpy(cwd, c->cwd.p, c->cwd.len);
    const char **argv = block_vector(&c->argv);
    const char **env = block_vector(&c->env);
    int rc = hub_spawn(w, name, argv, c->cwd.len ? cwd : NULL, env, c->cols, c->rows, out, code,
                       err, errlen);
    free(argv);
    free(env);
    return rc;
}

/* Looks a session up by id. */
int hub_find(struct server *srv, uint32_t id, struct session **s, struct worker **owner)
{
    pthread_mutex_lock(&srv->mu);
    ssize_t i = table_index(srv, id);
    int rc = -ENOENT;
    if (i >= 0 && srv->entries[i].s) {
        *s = srv->entries[i].s;
        *owner = srv->entries[i].owner;
        rc = 0;
    }
    pthread_mutex_unlock(&srv->mu);
    return rc;
}

/* Drops a session from the table and frees it (on its owner's thread). */
void hub_remove(struct worker *w, struct session *s)
{
    struct server *srv = w->srv;
    pthread_mutex_lock(&srv->mu);
    ssize_t i = table_index(srv, session_id(s));
    if (i >= 0) {
        if (srv->entries[i].exited)
            srv->nexited--;
        else
            atomic_fetch_sub(&srv->running, 1);
        free(srv->entries[i].name);
        memmove(&srv->entries[i], &srv->entries[i + 1],
                (srv->nentries - (size_t)i - 1) * sizeof *srv->entries);
        srv->nentries--;
    }
    pthread_mutex_unlock(&srv->mu);
    log_debug("session %u removed", session_id(s));
    session_free(s);
}

/* Marks a session for removal when it exits. */
void hub_remove_when_exited(struct worker *w, struct session *s)
{
    struct server *srv = w->srv;
    pthread_mutex_lock(&srv->mu);
    ssize_t i = table_index(srv, session_id(s));
    if (i >= 0)
        srv->entries[i].remove_on_exit = true;
    pthread_mutex_unlock(&srv->mu);
}

/* Lists every session under the lock. */
void hub_list(struct server *srv, void (*cb)(void *ctx, const struct hub_row *row), void *ctx)
{
    pthread_mutex_lock(&srv->mu);
    for (size_t i = 0; i < srv->nentries; i++) {
        struct entry *e = &srv->entries[i];
        if (!e->s)
            continue;
        struct hub_row row = {.name = e->name, .command = session_command(e->s)};
        session_summary(e->s, &row.sum);
        cb(ctx, &row);
    }
    pthread_mutex_unlock(&srv->mu);
}

struct evict {
    struct server *srv;
    uint32_t id;
};

/* Removes an exited session that fell off the --keep-exited list (on its owner). */
static int evict_post(void *arg)
{
    struct evict *ev = arg;
    struct session *s;
    struct worker *owner;
    if (hub_find(ev->srv, ev->id, &s, &owner) == 0 && session_exited(s))
        hub_remove(owner, s);
    free(ev);
    return 0;
}

/* Checks whether shutdown can finish: every session has exited. Runs on worker 0. */
static int shutdown_check_post(void *arg)
{
    struct server *srv = arg;
    if (atomic_load(&srv->running) != 0 || srv->stopping)
        return 0;
    srv->stopping = true;
    log_info("all sessions ended; exiting");
    for (unsigned i = 0; i < srv->nworkers; i++)
        reactor_stop(srv->workers[i].r);
    return 0;
}

/* A session's exit was reported: update the table, keep at most --keep-exited exited
 * sessions, and let a pending shutdown finish. Runs on the session's owner. */
static void session_exited_cb(struct session *s, void *arg)
{
    struct worker *w = arg;
    struct server *srv = w->srv;
    int code, sig;
    session_exit_status(s, &code, &sig);
    if (sig)
        log_info("session %u exited on signal %d", session_id(s), sig);
    else
        log_info("session %u exited with code %d", session_id(s), code);
    struct evict *ev = NULL;
    pthread_mutex_lock(&srv->mu);
    ssize_t i = table_index(srv, session_id(s));
    if (i >= 0 && !srv->entries[i].exited) {
        srv->entries[i].exited = true;
        srv->entries[i].exit_seq = srv->exit_seq++;
        srv->nexited++;
        atomic_fetch_sub(&srv->running, 1);
    }
    if (i >= 0 && srv->entries[i].remove_on_exit) {
        /* Removed a turn later: we are inside the session's own exit report. */
        ev = xmalloc(sizeof *ev);
        *ev = (struct evict){srv, session_id(s)};
        reactor_post(w->r, evict_post, ev);
        ev = NULL;
    } else if (srv->nexited > srv->cfg.keep_exited) {
        struct entry *oldest = NULL;
        for (size_t j = 0; j < srv->nentries; j++) {
            struct entry *e = &srv->entries[j];
            if (e->exited && e->s && (!oldest || e->exit_seq < oldest->exit_seq))
                oldest = e;
        }
        if (oldest) {
            ev = xmalloc(sizeof *ev);
            *ev = (struct evict){srv, oldest->id};
            reactor_post(oldest->owner->r, evict_post, ev);
        }
    }
    pthread_mutex_unlock(&srv->mu);
    if (atomic_load(&srv->shutting_down))
        reactor_post(srv->workers[0].r, shutdown_check_post, srv);
}

/* ---- connections ------------------------------------------------------------------- */

bool hub_conn_admit(struct server *srv)
{
    unsigned n = atomic_fetch_add(&srv->nconns, 1);
    if (n >= srv->cfg.max_clients) {
        atomic_fetch_sub(&srv->nconns, 1);
        return false;
    }
    return true;
}

void hub_conn_release(struct server *srv)
{
    atomic_fetch_sub(&srv->nconns, 1);
}

/* Keeps the worker's connection list for teardown. */
void hub_conn_track(struct worker *w, struct conn *c, bool add)
{
    if (add)
        list_push(&w->conns, conn_track_node(c));
    else
        list_remove(&w->conns, conn_track_node(c));
}

/* Keeps the worker's HTTP connection list for teardown. */
void hub_http_track(struct worker *w, struct http_conn *hc, bool add)
{
    if (add)
        list_push(&w->https, http_track_node(hc));
    else
        list_remove(&w->https, http_track_node(hc));
}

struct metrics_acc {
    unsigned running, exited, attached;
    uint64_t bytes_out, pauses;
};

/* Sums the per-session numbers for /metrics. */
static void metrics_row(void *ctx, const struct hub_row *row)
{
    struct metrics_acc *m = ctx;
    if (row->sum.exited)
        m->exited++;
    else
        m->running++;
    m->attached += row->sum.clients;
    m->bytes_out += row->sum.bytes_out;
    m->pauses += row->sum.pauses;
}

/* Writes the Prometheus text exposition. */
void hub_metrics(struct server *srv, char **text, size_t *len)
{
    struct metrics_acc m = {0};
    hub_list(srv, metrics_row, &m);
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    fprintf(f,
            "# HELP ptyhub_sessions Sessions by state.\n# TYPE ptyhub_sessions gauge\n"
            "ptyhub_sessions{state=\"running\"} %u\nptyhub_sessions{state=\"exited\"} %u\n"
            "# HELP ptyhub_connections Client connections (Unix socket, stdio, HTTP, "
            "WebSocket).\n# TYPE ptyhub_connections gauge\nptyhub_connections %u\n"
            "# HELP ptyhub_attached_clients Subscriptions to sessions.\n"
            "# TYPE ptyhub_attached_clients gauge\nptyhub_attached_clients %u\n"
            "# HELP ptyhub_session_output_bytes Output bytes of the listed sessions.\n"
            "# TYPE ptyhub_session_output_bytes gauge\nptyhub_session_output_bytes %llu\n"
            "# HELP ptyhub_backpressure_pauses Times a listed session's reading was suspended "
            "for a lossless client.\n# TYPE ptyhub_backpressure_pauses gauge\n"
            "ptyhub_backpressure_pauses %llu\n",
            m.running, m.exited, atomic_load(&srv->nconns), m.attached,
            (unsigned long long)m.bytes_out, (unsigned long long)m.pauses);
    static const struct {
        const char *name, *help;
        size_t off;
    } counters[] = {
#define C(f, h) {#f, h, offsetof(reactor_stats, f)}
        C(turns, "Reactor loop iterations."),
        C(wakes, "Returns from a blocking wait in the kernel."),
        C(completions, "Kernel events handled (CQEs or epoll events)."),
        C(io_events, "Watcher callbacks invoked."),
        C(posts, "Callbacks posted across threads."),
        C(post_wakes, "Eventfd writes made by posters."),
        C(rearms, "Multishot polls re-armed after the kernel ended them."),
        C(cq_overflows, "Completion queue overflows handled."),
        C(sq_full, "Times the submission queue was full."),
        C(timers_fired, "Timer callbacks run."),
        C(tasks_run, "End-of-turn tasks run."),
        C(callback_errors, "Callbacks that failed."),
#undef C
    };
    for (size_t k = 0; k < sizeof counters / sizeof counters[0]; k++) {
        fprintf(f, "# HELP ptyhub_reactor_%s_total %s\n# TYPE ptyhub_reactor_%s_total counter\n",
                counters[k].name, counters[k].help, counters[k].name);
        for (unsigned i = 0; i < srv->nworkers; i++) {
            reactor_stats st;
            reactor_stats_get(srv->workers[i].r, &st);
            fprintf(f, "ptyhub_reactor_%s_total{reactor=\"%u\",backend=\"%s\"} %llu\n",
                    counters[k].name, i, reactor_backend_name(srv->workers[i].r),
                    (unsigned long long)*(uint64_t *)((char *)&st + counters[k].off));
        }
    }
    fprintf(f, "# HELP ptyhub_bytes_received_total Bytes read from clients.\n"
               "# TYPE ptyhub_bytes_received_total counter\n");
    for (unsigned i = 0; i < srv->nworkers; i++)
        fprintf(f, "ptyhub_bytes_received_total{reactor=\"%u\"} %llu\n", i,
                (unsigned long long)atomic_load(&srv->workers[i].bytes_in));
    fprintf(f, "# HELP ptyhub_bytes_sent_total Bytes written to clients.\n"
               "# TYPE ptyhub_bytes_sent_total counter\n");
    for (unsigned i = 0; i < srv->nworkers; i++)
        fprintf(f, "ptyhub_bytes_sent_total{reactor=\"%u\"} %llu\n", i,
                (unsigned long long)atomic_load(&srv->workers[i].bytes_out));
    fclose(f);
    *text = buf;
    *len = n;
}

struct accepted {
    struct worker *w;
    int fd;
    bool http;
};

/* Starts an accepted connection on its worker. */
static int accepted_post(void *arg)
{
    struct accepted *a = arg;
    int rc = atomic_load(&a->w->srv->shutting_down) ? -ECANCELED
             : a->http                              ? http_start(a->w, a->fd)
                                                    : conn_start(a->w, a->fd, a->fd, 0);
    if (rc < 0) {
        close(a->fd);
        hub_conn_release(a->w->srv);
    }
    free(a);
    return 0;
}

/* Resumes accepting after an EMFILE back-off. */
static int accept_backoff_cb(reactor_timer *t, void *arg)
{
    (void)t;
    struct server *srv = arg;
    if (srv->listen_io)
        reactor_io_set(srv->listen_io, REACTOR_READ);
    if (srv->http_io)
        reactor_io_set(srv->http_io, REACTOR_READ);
    return 0;
}

/* Refuses an HTTP client over --max-clients with a 503 it can read. */
static void http_shed(int fd)
{
    static const char body[] = "{\"error\":{\"code\":\"limit\",\"message\":\"too many clients "
                               "(--max-clients); try again later\"}}\n";
    char busy[512];
    int n = snprintf(busy, sizeof busy,
                     "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     sizeof body - 1, body);
    ssize_t w = write(fd, busy, (size_t)n);
    (void)w;
    close(fd);
}

/* Accepts every pending connection on a listener and hands each to a worker, round
 * robin. Unix peers must have our uid; over --max-clients a client is told why and
 * closed (shed); on EMFILE and friends the listener backs off on a timer. */
static int accept_all(struct server *srv, reactor_io *io, int lfd, bool http)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_warn("accept: %s; pausing the listener for 100 ms", strerror(errno));
                reactor_io_set(io, 0);
                reactor_timer_start(srv->workers[0].r, &srv->accept_backoff, 100 * 1000000ull);
            }
            return 0;
        }
        if (!http) {
            struct ucred cred = {.uid = (uid_t)-1};
            socklen_t len = sizeof cred;
            if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != getuid()) {
                log_warn("refusing a connection from uid %d", (int)cred.uid);
                close(fd);
                continue;
            }
        }
        if (!hub_conn_admit(srv)) {
            if (http)
                http_shed(fd);
            else
                conn_shed(fd, "too many clients (--max-clients); try again later");
            continue;
        }
        if (http) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        unsigned idx = atomic_fetch_add(&srv->next_worker, 1) % srv->nworkers;
        struct accepted *a = xmalloc(sizeof *a);
        *a = (struct accepted){&srv->workers[idx], fd, http};
        if (idx == 0)
            accepted_post(a);
        else
            reactor_post(srv->workers[idx].r, accepted_post, a);
    }
}

/* The Unix socket listener is readable. */
static int listener_cb(reactor_io *io, unsigned events, void *arg)
{
    (void)events;
    struct server *srv = arg;
    return accept_all(srv, io, srv->listen_fd, false);
}

/* The HTTP listener is readable. */
static int http_listener_cb(reactor_io *io, unsigned events, void *arg)
{
    (void)events;
    struct server *srv = arg;
    return accept_all(srv, io, srv->http_fd, true);
}

/* Binds the HTTP listener on --listen HOST:PORT (IPv4 or IPv6) and records the address
 * actually bound (port 0 picks a free one). */
static int http_listener_open(struct server *srv)
{
    char host[256], port[16];
    if (config_split_hostport(srv->cfg.listen, host, sizeof host, port, sizeof port) < 0)
        return -EINVAL;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        log_error("--listen %s: %s", srv->cfg.listen, gai_strerror(gai));
        return -EINVAL;
    }
    int rc = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
            rc = -errno;
            close(fd);
            continue;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        getsockname(fd, (struct sockaddr *)&ss, &sl);
        char h[INET6_ADDRSTRLEN + 2], p[16];
        getnameinfo((struct sockaddr *)&ss, sl, h, sizeof h, p, sizeof p,
                    NI_NUMERICHOST | NI_NUMERICSERV);
        snprintf(srv->http_addr, sizeof srv->http_addr,
                 ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h, p);
        srv->http_fd = fd;
        rc = 0;
        break;
    }
    freeaddrinfo(res);
    if (rc < 0)
        log_error("cannot listen on %s: %s", srv->cfg.listen, strerror(-rc));
    return rc;
}

/* Makes the socket's directory private (0700, ours) and binds the socket (0600). A
 * stale socket is replaced; a live one means another daemon is running. */
static int listener_open(struct server *srv)
{
    char dir[sizeof srv->cfg.socket_path];
    strcpy(dir, srv->cfg.socket_path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
            log_error("cannot create %s: %s", dir, strerror(errno));
            return -errno;
        }
        struct stat st;
        if (stat(dir, &st) == 0 && st.st_uid != getuid()) {
            log_error("%s belongs to uid %d, not to us; choose another --socket", dir,
                      (int)st.st_uid);
            return -EPERM;
        }
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, srv->cfg.socket_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        log_error("another ptyhub is already serving %s", sa.sun_path);
        close(fd);
        return -EADDRINUSE;
    }
    unlink(sa.sun_path);
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc < 0 || chmod(sa.sun_path, 0600) < 0 || listen(fd, 512) < 0) {
        rc = -errno;
        log_error("cannot listen on %s: %s", sa.sun_path, strerror(-rc));
        close(fd);
        return rc;
    }
    srv->listen_fd = fd;
    srv->socket_bound = true;
    return 0;
}

/* Stops accepting and removes the socket file. */
static void listener_close(struct server *srv)
{
    if (srv->listen_io) {
        reactor_io_free(srv->listen_io);
        srv->listen_io = NULL;
    }
    if (srv->listen_fd >= 0) {
        close(srv->listen_fd);
        srv->listen_fd = -1;
    }
    if (srv->socket_bound) {
        unlink(srv->cfg.socket_path);
        srv->socket_bound = false;
    }
    if (srv->http_io) {
        reactor_io_free(srv->http_io);
        srv->http_io = NULL;
    }
    if (srv->http_fd >= 0) {
        close(srv->http_fd);
        srv->http_fd = -1;
    }
    reactor_timer_stop(srv->workers[0].r, &srv->accept_backoff);
}

/* ---- shutdown ---------------------------------------------------------------------- */

/* Ends every session owned by this worker (SIGHUP now, SIGKILL after the grace). */
static int kill_all_post(void *arg)
{
    struct worker *w = arg;
    struct server *srv = w->srv;
    pthread_mutex_lock(&srv->mu);
    size_t n = 0;
    struct session **list = xcalloc(srv->nentries + 1, sizeof *list);
    for (size_t i = 0; i < srv->nentries; i++)
        if (srv->entries[i].owner == w && srv->entries[i].s && !srv->entries[i].exited)
            list[n++] = srv->entries[i].s;
    pthread_mutex_unlock(&srv->mu);
    for (size_t i = 0; i < n; i++)
        session_kill(list[i]);
    free(list);
    reactor_post(srv->workers[0].r, shutdown_check_post, srv);
    return 0;
}

/* Gives up waiting for sessions: stop the reactors; server_free reaps with SIGKILL. */
static int deadline_cb(reactor_timer *t, void *arg)
{
    (void)t;
    struct server *srv = arg;
    log_warn("sessions still running after the grace period; forcing exit");
    for (unsigned i = 0; i < srv->nworkers; i++)
        reactor_stop(srv->workers[i].r);
    return 0;
}

/* Runs the shutdown on worker 0. */
static int shutdown_post(void *arg)
{
    struct server *srv = arg;
    listener_close(srv);
    reactor_timer_start(srv->workers[0].r, &srv->deadline,
                        ((uint64_t)srv->cfg.kill_grace_ms + 3000) * 1000000);
    for (unsigned i = 0; i < srv->nworkers; i++)
        reactor_post(srv->workers[i].r, kill_all_post, &srv->workers[i]);
    return 0;
}

/* Starts the orderly shutdown, once. */
void hub_shutdown(struct server *srv, const char *why)
{
    if (atomic_exchange(&srv->shutting_down, true))
        return;
    log_info("shutting down: %s", why);
    reactor_post(srv->workers[0].r, shutdown_post, srv);
}

/* SIGTERM/SIGINT/SIGHUP start the shutdown. */
static int signal_cb(reactor_io *io, unsigned events, void *arg)
{
    (void)io;
    (void)events;
    struct server *srv = arg;
    struct signalfd_siginfo si;
    while (read(srv->sig_fd, &si, sizeof si) == (ssize_t)sizeof si)
        hub_shutdown(srv, strsignal((int)si.ssi_signo));
    return 0;
}

/* ---- life cycle -------------------------------------------------------------------- */

/* Runs one worker's reactor on its own thread. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    int rc = reactor_run(w->r);
    if (rc < 0)
        hub_shutdown(w->srv, "a reactor failed");
    return NULL;
}

/* Creates reactors, signal handling and the listener. */
int server_new(server **out, const struct config *cfg)
{
    struct server *srv = xcalloc(1, sizeof *srv);
    srv->cfg = *cfg;
    srv->next_id = 1;
    srv->listen_fd = -1;
    srv->http_fd = -1;
    srv->sig_fd = -1;
    strcpy(srv->http_addr, "-");
    pthread_mutex_init(&srv->mu, NULL);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    srv->nworkers = cfg->threads ? cfg->threads : (unsigned)(cores > 0 ? cores : 1);
    if (getenv("PTYHUB_READY_PIPE"))
        srv->ready_pipe = xstrdup(getenv("PTYHUB_READY_PIPE"));
    if (getenv("NOTIFY_SOCKET"))
        srv->notify_socket = xstrdup(getenv("NOTIFY_SOCKET"));
    unsetenv("PTYHUB_READY_PIPE");
    unsetenv("NOTIFY_SOCKET");
    srv->workers = xcalloc(srv->nworkers, sizeof *srv->workers);

    /* Signals go to the signalfd; every thread created later inherits this mask, and
     * spawned children get an empty mask back (spawn.c). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    reactor_config rc_cfg = {.backend = cfg->io};
    for (unsigned i = 0; i < srv->nworkers; i++) {
        struct worker *w = &srv->workers[i];
        w->srv = srv;
        w->idx = i;
        int rc = reactor_new(&w->r, &rc_cfg);
        if (rc < 0) {
            log_error("cannot create reactor: %s", strerror(-rc));
            server_free(srv);
            return rc;
        }
    }
    log_info("ptyhub %s: %u reactor thread(s), I/O backend %s (%s)", PTYHUB_VERSION, srv->nworkers,
             reactor_backend_name(srv->workers[0].r), reactor_backend_reason(srv->workers[0].r));
    reactor_timer_init(&srv->accept_backoff, accept_backoff_cb, srv);
    reactor_timer_init(&srv->deadline, deadline_cb, srv);

    srv->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    int rc = srv->sig_fd < 0 ? -errno
                             : reactor_io_new(srv->workers[0].r, srv->sig_fd, REACTOR_READ,
                                              signal_cb, srv, &srv->sig_io);
    if (rc == 0 && cfg->socket_path[0]) {
        rc = listener_open(srv);
        if (rc == 0)
            rc = reactor_io_new(srv->workers[0].r, srv->listen_fd, REACTOR_READ, listener_cb, srv,
                                &srv->listen_io);
        if (rc == 0)
            log_info("listening on %s", cfg->socket_path);
    }
    if (rc == 0 && cfg->listen[0]) {
        rc = http_listener_open(srv);
        if (rc == 0)
            rc = reactor_io_new(srv->workers[0].r, srv->http_fd, REACTOR_READ, http_listener_cb,
                                srv, &srv->http_io);
        if (rc == 0)
            log_info("HTTP on http://%s/%s", srv->http_addr,
                     cfg->token && *cfg->token ? " (token required)" : "");
    }
    if (rc < 0) {
        server_free(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

/* Adds the stdio client. */
int server_add_stdio(server *srv, int in_fd, int out_fd)
{
    if (!hub_conn_admit(srv))
        return -ENOSPC;
    int rc = conn_start(&srv->workers[0], in_fd, out_fd, CONN_STDIO);
    if (rc < 0)
        hub_conn_release(srv);
    return rc;
}

/* Starts the first session: the command given after --, or the user's shell. */
static void server_first_session(struct server *srv)
{
    const char *shell_argv[2] = {NULL, NULL};
    const char *const *argv = (const char *const *)srv->cfg.argv;
    if (!argv) {
        if (srv->cfg.no_session)
            return;
        const char *sh = getenv("SHELL");
        if (!sh || !*sh) {
            struct passwd *pw = getpwuid(getuid());
            sh = pw && pw->pw_shell && *pw->pw_shell ? pw->pw_shell : "/bin/sh";
        }
        shell_argv[0] = sh;
        argv = shell_argv;
    }
    struct session *s;
    uint16_t code;
    char err[256];
    if (hub_spawn(&srv->workers[0], "main", argv, NULL, NULL, 0, 0, &s, &code, err, sizeof err) < 0)
        log_error("first session: %s", err);
}

/* Writes the readiness line to --ready-fd or $PTYHUB_READY_PIPE, and READY=1 to
 * $NOTIFY_SOCKET (sd_notify). A signal that cannot be delivered is an error: a parent
 * must not wait forever. */
static int server_notify_ready(struct server *srv)
{
    char line[512];
    int n = snprintf(line, sizeof line, "READY %s %s\n", srv->http_addr,
                     srv->cfg.socket_path[0] ? srv->cfg.socket_path : "-");
    if (srv->cfg.ready_fd >= 0) {
        if (write(srv->cfg.ready_fd, line, (size_t)n) != n) {
            log_error("--ready-fd %d: cannot write the READY line: %s", srv->cfg.ready_fd,
                      strerror(errno));
            return -EIO;
        }
        close(srv->cfg.ready_fd);
    }
    const char *pipe_path = srv->ready_pipe;
    if (pipe_path && *pipe_path) {
        int fd = -1;
        /* A FIFO without a reader yet gives ENXIO: give the parent 5 s to open it. */
        for (int tries = 0; tries < 500; tries++) {
            fd = open(pipe_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_APPEND);
            if (fd >= 0 || errno != ENXIO)
                break;
            usleep(10000);
        }
        if (fd < 0 || write(fd, line, (size_t)n) != n) {
            log_error("PTYHUB_READY_PIPE %s: cannot write the READY line: %s", pipe_path,
                      strerror(errno));
            if (fd >= 0)
                close(fd);
            return -EIO;
        }
        close(fd);
    }
    const char *ns = srv->notify_socket;
    if (ns && *ns) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        size_t len = strlen(ns);
        if (len >= sizeof sa.sun_path) {
            log_error("NOTIFY_SOCKET is too long");
            return -EINVAL;
        }
        memcpy(sa.sun_path, ns, len);
        if (sa.sun_path[0] == '@')
            sa.sun_path[0] = '\0'; /* abstract namespace */
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ssize_t w = fd < 0 ? -1
                           : sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sa,
                                    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
        int err = errno;
        if (fd >= 0)
            close(fd);
        if (w != 7) {
            log_error("sd_notify to %s failed: %s", ns, strerror(err));
            return -EIO;
        }
    }
    return 0;
}

/* Runs worker 0 here and the others on threads until shutdown completes. */
int server_run(server *srv)
{
    server_first_session(srv);
    if (server_notify_ready(srv) < 0)
        return -EIO;
    for (unsigned i = 1; i < srv->nworkers; i++) {
        if (pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]) != 0) {
            log_error("cannot start reactor thread %u", i);
            return -EAGAIN;
        }
    }
    int rc = reactor_run(srv->workers[0].r);
    for (unsigned i = 1; i < srv->nworkers; i++)
        pthread_join(srv->workers[i].thread, NULL);
    return rc;
}

/* Frees everything; sessions still running are killed and reaped. */
void server_free(server *srv)
{
    if (!srv)
        return;
    for (unsigned i = 0; i < srv->nworkers; i++) {
        if (srv->workers[i].r) {
            conn_free_all(&srv->workers[i].conns);
            http_free_all(&srv->workers[i].https);
        }
    }
    for (size_t i = 0; i < srv->nentries; i++) {
        session_free(srv->entries[i].s);
        free(srv->entries[i].name);
    }
    free(srv->entries);
    if (srv->workers[0].r) {
        reactor_io_free(srv->sig_io);
        listener_close(srv);
    }
    if (srv->sig_fd >= 0)
        close(srv->sig_fd);
    for (unsigned i = 0; i < srv->nworkers; i++)
        reactor_free(srv->workers[i].r);
    free(srv->workers);
    pthread_mutex_destroy(&srv->mu);
    free(srv->ready_pipe);
    free(srv->notify_socket);
    free(srv);
}
