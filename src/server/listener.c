/* listener: the Unix socket and the HTTP listener — binding, accepting (peer uid check
 * on the Unix socket), the per-class connection budgets, shedding over them, and the
 * back-off when the process is out of file descriptors. Accepted connections are spread
 * over the workers round robin. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "server/conn.h"
#include "server/http.h"
#include "server/server_impl.h"

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
        hub_conn_release(a->w->srv, a->http ? HUB_HTTP : HUB_UNIX);
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

/* Refuses an HTTP client over --max-clients with a 503 it can read (best effort: the
 * socket is new and empty, so a short response fits its buffer). */
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

/* Logs a failed accept at most once a second, saying how many went unlogged. */
static void accept_warn(struct server *srv, int err, const char *what)
{
    uint64_t now = reactor_now_ns(srv->workers[0].r);
    if (srv->accept_warned_ns && now - srv->accept_warned_ns < 1000000000ull) {
        srv->accept_unlogged++;
        return;
    }
    if (srv->accept_unlogged)
        log_warn("accept: %s; %s (%u more failures in the last second)", strerror(err), what,
                 srv->accept_unlogged);
    else
        log_warn("accept: %s; %s", strerror(err), what);
    srv->accept_warned_ns = now;
    srv->accept_unlogged = 0;
}

/* Connections accepted per turn. The rest wait for the next turn, after the closes this
 * batch caused have been freed: a new HTTP connection evicts the oldest unauthenticated
 * one when the pre-auth pool is full, but the evicted one gives its --max-clients slot
 * back only when freed at the end of the turn. Accepting a whole backlog of 600 idle
 * connections in one turn (one reactor) filled the budget and shed the owner's own
 * request behind them. */
#define ACCEPT_BATCH 64

/* Accepts pending connections (ACCEPT_BATCH a turn) on a listener and hands each to a
 * worker, round robin. Unix peers must have our uid; over a class's --max-clients a
 * client is told why and closed (shed). Readiness is edge-triggered, so the loop drains
 * until EAGAIN or asks to be called again next turn:
 * errors that concern one connection (it was reset, a firewall said no) skip it; any
 * other error (out of fds or memory, or one not expected) pauses the listener on a
 * timer, whose re-arm reports the clients still waiting. */
static int accept_all(struct server *srv, reactor_io *io, int lfd, bool http)
{
    /* Counted per turn, both listeners together: one turn may report the listener
     * readable several times (a multishot poll posts one completion per new client). */
    uint64_t turn = reactor_turn_number(srv->workers[0].r);
    if (srv->accept_turn != turn) {
        srv->accept_turn = turn;
        srv->accept_taken = 0;
    }
    for (unsigned skipped = 0;; srv->accept_taken++) {
        if (srv->accept_taken >= ACCEPT_BATCH) {
            reactor_io_again(io, REACTOR_READ);
            return 0;
        }
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            if (err == EAGAIN)
                return 0;
            if ((err == EINTR || err == ECONNABORTED || err == EPROTO || err == EPERM ||
                 err == ENETDOWN || err == ENOPROTOOPT || err == EHOSTDOWN || err == ENONET ||
                 err == EHOSTUNREACH || err == EOPNOTSUPP || err == ENETUNREACH) &&
                ++skipped < 1024)
                continue;
            accept_warn(srv, err, "pausing the listener for 100 ms");
            reactor_io_set(io, 0);
            reactor_timer_start(srv->workers[0].r, &srv->accept_backoff, 100 * 1000000ull);
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
        if (!hub_conn_admit(srv, http ? HUB_HTTP : HUB_UNIX)) {
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
    int prc = runtime_dir_prepare(srv->cfg.socket_path);
    if (prc < 0)
        return prc;
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
void listeners_close(struct server *srv)
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

/* Binds both listeners and starts accepting on worker 0. */
int listeners_open(struct server *srv)
{
    const struct config *cfg = &srv->cfg;
    reactor_timer_init(&srv->accept_backoff, accept_backoff_cb, srv);
    int rc = 0;
    if (cfg->socket_path[0]) {
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
                     cfg->no_auth && !(cfg->token && *cfg->token) ? " (no token: --no-auth)"
                                                                  : " (token required)");
    }
    return rc;
}
