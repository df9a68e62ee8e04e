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
#include "pty/sched.h"
#include "pty/session.h"
#include "server/conn.h"
#include "server/http.h"
#include "server/hub.h"
#include "server/link.h"
#include "server/relay.h"
#include "server/server_impl.h"

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
    listeners_close(srv);
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

/* How often queued log lines are retried while stderr is not taking them. */
#define SERVER_LOG_FLUSH_NS (100ull * 1000 * 1000)

/* Writes queued log lines without blocking; re-armed only while some are waiting, so an
 * idle daemon does not wake for it. */
static int log_timer_cb(reactor_timer *t, void *arg)
{
    struct server *srv = arg;
    log_flush();
    if (log_pending())
        reactor_timer_start(srv->workers[0].r, t, SERVER_LOG_FLUSH_NS);
    return 0;
}

/* Starts the flush timer on worker 0 (posted: the log line may come from any thread). */
static int log_pending_post(void *arg)
{
    struct server *srv = arg;
    atomic_store(&srv->log_hook_posted, false);
    if (log_pending() && !reactor_timer_active(&srv->log_timer))
        reactor_timer_start(srv->workers[0].r, &srv->log_timer, SERVER_LOG_FLUSH_NS);
    return 0;
}

/* Lines are waiting for stderr: have worker 0 retry them (one post at a time). */
static void log_pending_hook(void *arg)
{
    struct server *srv = arg;
    if (!atomic_exchange(&srv->log_hook_posted, true))
        reactor_post(srv->workers[0].r, log_pending_post, srv);
}

/* Runs one worker's reactor on its own thread. */
/* A reactor thread waits on the kernel most of the time and must run at once when a
 * keystroke arrives: it asks for a short scheduler slice (--latency-slice). */
static void worker_set_slice(struct worker *w)
{
    if (w->srv->cfg.sched == SCHED_INTERACTIVE && w->srv->cfg.latency_slice_us)
        (void)sched_set_slice(0, (uint64_t)w->srv->cfg.latency_slice_us * 1000);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    worker_set_slice(w);
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
    srv->events = events_new();
    /* One reactor per core but one: the sessions' programs and the kernel's tty flush
     * work (the kworker between every PTY write and read) need a core too. On the
     * 2-core bench machine one reactor beat two under 8 floods in keystroke p99,
     * throughput and CPU per byte (docs/benchmarks.md, "Interactive latency"). */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    srv->nworkers = cfg->threads ? cfg->threads : (unsigned)(cores > 2 ? cores - 1 : 1);
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

    reactor_config rc_cfg = {.backend = cfg->io, .bulk_last = cfg->bulk_last};
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
    reactor_timer_init(&srv->deadline, deadline_cb, srv);
    reactor_timer_init(&srv->log_timer, log_timer_cb, srv);

    srv->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    int rc = srv->sig_fd < 0 ? -errno
                             : reactor_io_new(srv->workers[0].r, srv->sig_fd, REACTOR_READ,
                                              signal_cb, srv, &srv->sig_io);
    if (rc == 0)
        rc = listeners_open(srv);
    if (rc == 0)
        rc = runtime_token_publish(srv);
    if (rc == 0)
        log_set_pending_hook(log_pending_hook, srv);
    if (rc < 0) {
        server_free(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

/* Adds the stdio client. */
/* A descriptor for one end of the stdio client that can be non-blocking without
 * touching the parent's open file description (O_NONBLOCK lives there, so setting it on
 * fd 0 or 1 would leak into the parent's shell after we exit). Pipes and terminals are
 * reopened through /proc for a private description; anything else (a socket) is dup'ed
 * and its original flags are restored at exit. */
static int stdio_private_fd(struct server *srv, int fd, int accmode)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode))) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        int nfd = open(path, accmode | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (nfd >= 0)
            return nfd;
    }
    int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (nfd < 0)
        return -errno;
    /* A dup shares the description and so its flags: make it non-blocking (a blocking
     * socket would park the reactor thread in read or write), and remember the original
     * flags to put back at exit. */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(nfd, F_SETFL, fl | O_NONBLOCK) < 0)) {
        int e = errno;
        close(nfd);
        return -e;
    }
    if (!(fl & O_NONBLOCK) && srv->nrestore < 2) {
        srv->restore_fd[srv->nrestore] = fd;
        srv->restore_fl[srv->nrestore++] = fl;
    }
    return nfd;
}

int server_add_stdio(server *srv, int in_fd, int out_fd)
{
    int rfd = stdio_private_fd(srv, in_fd, O_RDONLY);
    if (rfd < 0)
        return rfd;
    int wfd = stdio_private_fd(srv, out_fd, O_WRONLY);
    if (wfd < 0) {
        close(rfd);
        return wfd;
    }
    /* The stdio client is the daemon's reason to exist: no budget can refuse it. */
    int rc = conn_start(&srv->workers[0], rfd, wfd, CONN_STDIO);
    if (rc < 0) {
        close(rfd);
        close(wfd);
    }
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
    worker_set_slice(&srv->workers[0]);
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
            link_free_all(&srv->workers[i].links);
            /* Removed sessions whose last subscriber just left free themselves in a
             * deferred task: run those now, the reactor no longer turns. */
            reactor_run_pending(srv->workers[i].r);
        }
    }
    hub_table_free(srv);
    /* Calls and relay output still queued for reactors that stopped: release them. */
    relay_free_all();
    if (srv->workers[0].r) {
        reactor_io_free(srv->sig_io);
        reactor_timer_stop(srv->workers[0].r, &srv->log_timer);
        listeners_close(srv);
    }
    runtime_token_unpublish(srv);
    free(srv->token);
    log_set_pending_hook(NULL, NULL);
    log_flush();
    for (unsigned i = 0; i < srv->nrestore; i++)
        fcntl(srv->restore_fd[i], F_SETFL, srv->restore_fl[i]);
    if (srv->sig_fd >= 0)
        close(srv->sig_fd);
    for (unsigned i = 0; i < srv->nworkers; i++)
        reactor_free(srv->workers[i].r);
    free(srv->workers);
    pthread_mutex_destroy(&srv->mu);
    events_free(srv->events);
    free(srv->ready_pipe);
    free(srv->notify_socket);
    free(srv);
}
