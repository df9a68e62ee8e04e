/* Reactor tests, each run under io_uring and under epoll: readiness on pipes, socketpairs
 * and PTY masters, pause/resume, the again list, timers in deadline order and cancelled
 * from their own callback, a million cross-thread posts with coalesced wakes, an idle
 * reactor that does not wake, watchers freed with requests in flight, failing callbacks,
 * and CQ overflow with a tiny ring. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "core/reactor.h"
#include "harness.h"

/* Creates a reactor for the backend under test; the backend must really be that one. */
static reactor *make_reactor(enum reactor_backend_kind backend, unsigned sq, unsigned cq)
{
    reactor_config cfg = {.backend = backend, .sq_entries = sq, .cq_entries = cq};
    reactor *r = NULL;
    int rc = reactor_new(&r, &cfg);
    CHECK_MSG(rc == 0, "reactor_new(%d): %s", (int)backend, strerror(-rc));
    CHECK_STR_EQ(reactor_backend_name(r), backend == REACTOR_URING ? "uring" : "epoll");
    return r;
}

struct seen {
    int calls;
    unsigned events;
    int fd;
    char buf[256];
    size_t len;
};

/* Records events and reads whatever is there until EAGAIN. */
static int record_cb(reactor_io *io, unsigned events, void *arg)
{
    struct seen *s = arg;
    s->calls++;
    s->events |= events;
    if (events & (REACTOR_READ | REACTOR_ERR)) {
        for (;;) {
            ssize_t n = read(reactor_io_fd(io), s->buf + s->len, sizeof s->buf - 1 - s->len);
            if (n <= 0)
                break;
            s->len += (size_t)n;
        }
    }
    return 0;
}

/* Runs turns until pred says done or 2000 turns pass (each bounded to 100 ms). */
#define RUN_UNTIL(r, cond)                                                                         \
    do {                                                                                           \
        for (int turn_ = 0; !(cond) && turn_ < 2000; turn_++)                                      \
            CHECK_EQ(reactor_run_once((r), 100), 0);                                               \
        CHECK(cond);                                                                               \
    } while (0)

TEST_BACKENDS(reactor_pipe_readiness)
{
    reactor *r = make_reactor(backend, 0, 0);
    int p[2];
    CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    struct seen rd = {0}, wr = {0};
    reactor_io *rio, *wio;
    CHECK_EQ(reactor_io_new(r, p[0], REACTOR_READ, record_cb, &rd, &rio), 0);
    CHECK_EQ(reactor_io_new(r, p[1], REACTOR_WRITE, record_cb, &wr, &wio), 0);
    RUN_UNTIL(r, wr.calls > 0);
    CHECK(wr.events & REACTOR_WRITE);
    CHECK_EQ(rd.calls, 0);
    CHECK_EQ(write(p[1], "ping", 4), 4);
    RUN_UNTIL(r, rd.len == 4);
    CHECK_MEM_EQ(rd.buf, "ping", 4);
    /* A second write is a second edge: it must be reported too. */
    CHECK_EQ(write(p[1], "pong", 4), 4);
    RUN_UNTIL(r, rd.len == 8);
    /* Closing the writer reports end of file to the reader. */
    reactor_io_free(wio);
    close(p[1]);
    int before = rd.calls;
    RUN_UNTIL(r, rd.calls > before);
    reactor_io_free(rio);
    close(p[0]);
    reactor_free(r);
}

TEST_BACKENDS(reactor_socketpair_pause_resume)
{
    reactor *r = make_reactor(backend, 0, 0);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    struct seen s = {0};
    reactor_io *io;
    CHECK_EQ(reactor_io_new(r, sv[0], REACTOR_READ, record_cb, &s, &io), 0);
    CHECK_EQ(write(sv[1], "a", 1), 1);
    RUN_UNTIL(r, s.len == 1);
    /* Paused: data that arrives is not reported... */
    CHECK_EQ(reactor_io_set(io, 0), 0);
    CHECK_EQ(write(sv[1], "b", 1), 1);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(reactor_run_once(r, 20), 0);
    CHECK_EQ(s.len, 1);
    /* ...until the watcher is resumed, and then it is, though no new edge came. */
    CHECK_EQ(reactor_io_set(io, REACTOR_READ), 0);
    RUN_UNTIL(r, s.len == 2);
    CHECK_MEM_EQ(s.buf, "ab", 2);
    /* Peer shutdown is reported. */
    close(sv[1]);
    int before = s.calls;
    RUN_UNTIL(r, s.calls > before);
    reactor_io_free(io);
    close(sv[0]);
    reactor_free(r);
}

TEST_BACKENDS(reactor_pty_master_readiness)
{
    reactor *r = make_reactor(backend, 0, 0);
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    CHECK(m >= 0);
    CHECK(grantpt(m) == 0 && unlockpt(m) == 0);
    int sl = open(ptsname(m), O_RDWR | O_NOCTTY | O_CLOEXEC);
    CHECK(sl >= 0);
    struct termios t;
    CHECK(tcgetattr(sl, &t) == 0);
    cfmakeraw(&t);
    CHECK(tcsetattr(sl, TCSANOW, &t) == 0);
    struct seen s = {0};
    reactor_io *io;
    CHECK_EQ(reactor_io_new(r, m, REACTOR_READ, record_cb, &s, &io), 0);
    CHECK_EQ(write(sl, "hello", 5), 5);
    RUN_UNTIL(r, s.len == 5);
    CHECK_MEM_EQ(s.buf, "hello", 5);
    /* Closing the slave: the master reports hang-up (reads then fail with EIO). */
    close(sl);
    RUN_UNTIL(r, s.events & REACTOR_ERR);
    char c;
    CHECK(read(m, &c, 1) < 0 && errno == EIO);
    reactor_io_free(io);
    close(m);
    reactor_free(r);
}

struct again_state {
    int calls;
    int again_left;
};

/* Asks to be called again a few times without reading anything. */
static int again_cb(reactor_io *io, unsigned events, void *arg)
{
    (void)events;
    struct again_state *a = arg;
    a->calls++;
    if (a->again_left-- > 0)
        reactor_io_again(io, REACTOR_READ);
    return 0;
}

TEST_BACKENDS(reactor_again_runs_next_turn)
{
    reactor *r = make_reactor(backend, 0, 0);
    int p[2];
    CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    struct again_state a = {0, 3};
    reactor_io *io;
    CHECK_EQ(reactor_io_new(r, p[0], REACTOR_READ, again_cb, &a, &io), 0);
    CHECK_EQ(write(p[1], "x", 1), 1);
    RUN_UNTIL(r, a.calls == 4);
    /* No new edge and no more again: no more calls, even though data is unread. */
    for (int i = 0; i < 5; i++)
        CHECK_EQ(reactor_run_once(r, 10), 0);
    CHECK_EQ(a.calls, 4);
    reactor_io_free(io);
    close(p[0]);
    close(p[1]);
    reactor_free(r);
}

struct timer_log {
    int order[16];
    int n;
    reactor *r;
    reactor_timer *victim;
};

struct tagged_timer {
    reactor_timer t;
    int tag;
    struct timer_log *log;
};

/* Appends the timer's tag to the log. */
static int log_timer_cb(reactor_timer *t, void *arg)
{
    struct tagged_timer *tt = arg;
    (void)t;
    tt->log->order[tt->log->n++] = tt->tag;
    return 0;
}

TEST_BACKENDS(reactor_timers_fire_in_deadline_order)
{
    reactor *r = make_reactor(backend, 0, 0);
    struct timer_log log = {.r = r};
    static const int delays_ms[] = {50, 10, 30, 20, 40, 30};
    struct tagged_timer tt[6];
    for (int i = 0; i < 6; i++) {
        tt[i].tag = i;
        tt[i].log = &log;
        reactor_timer_init(&tt[i].t, log_timer_cb, &tt[i]);
    }
    /* Start them so that equal deadlines (2 and 5) keep start order. */
    for (int i = 0; i < 6; i++)
        reactor_timer_start(r, &tt[i].t, (uint64_t)delays_ms[i] * 1000000);
    /* Stop and restart one: the restart counts, not the first start. */
    reactor_timer_stop(r, &tt[4].t);
    CHECK(!reactor_timer_active(&tt[4].t));
    reactor_timer_start(r, &tt[4].t, 60 * 1000000);
    RUN_UNTIL(r, log.n == 6);
    static const int want[] = {1, 3, 2, 5, 0, 4};
    for (int i = 0; i < 6; i++)
        CHECK_EQ(log.order[i], want[i]);
    reactor_free(r);
}

/* Cancels itself (a no-op: it already fired) and a timer due at the same moment, then
 * re-arms itself once. */
static int cancelling_cb(reactor_timer *t, void *arg)
{
    struct tagged_timer *tt = arg;
    struct timer_log *log = tt->log;
    log->order[log->n++] = tt->tag;
    reactor_timer_stop(log->r, t);
    CHECK(!reactor_timer_active(t));
    reactor_timer_stop(log->r, log->victim);
    if (log->n == 1)
        reactor_timer_start(log->r, t, 5 * 1000000);
    return 0;
}

TEST_BACKENDS(reactor_timer_cancelled_in_own_callback)
{
    reactor *r = make_reactor(backend, 0, 0);
    struct timer_log log = {.r = r};
    struct tagged_timer a = {.tag = 1, .log = &log}, b = {.tag = 2, .log = &log};
    reactor_timer_init(&a.t, cancelling_cb, &a);
    reactor_timer_init(&b.t, log_timer_cb, &b);
    log.victim = &b.t;
    reactor_timer_start(r, &a.t, 10 * 1000000);
    reactor_timer_start(r, &b.t, 10 * 1000000);
    RUN_UNTIL(r, log.n == 2);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(reactor_run_once(r, 10), 0);
    /* a fired, cancelled b, re-armed itself and fired again; b never fired. */
    CHECK_EQ(log.n, 2);
    CHECK_EQ(log.order[0], 1);
    CHECK_EQ(log.order[1], 1);
    reactor_free(r);
}

#define POSTERS 4
#define POSTS_EACH 250000

struct post_test {
    reactor *r;
    uint64_t count; /* touched only on the reactor thread */
};

/* Counts on the reactor thread. */
static int count_post(void *arg)
{
    struct post_test *pt = arg;
    pt->count++;
    return 0;
}

/* Posts POSTS_EACH callbacks as fast as it can. */
static void *poster_main(void *arg)
{
    struct post_test *pt = arg;
    for (int i = 0; i < POSTS_EACH; i++)
        CHECK_EQ(reactor_post(pt->r, count_post, pt), 0);
    return NULL;
}

/* Runs the reactor until stopped. */
static void *reactor_main(void *arg)
{
    CHECK_EQ(reactor_run(arg), 0);
    return NULL;
}

TEST_BACKENDS_TIMEOUT(reactor_million_posts_from_four_threads, 240)
{
    reactor *r = make_reactor(backend, 0, 0);
    struct post_test pt = {.r = r};
    pthread_t rt, th[POSTERS];
    CHECK(pthread_create(&rt, NULL, reactor_main, r) == 0);
    for (int i = 0; i < POSTERS; i++)
        CHECK(pthread_create(&th[i], NULL, poster_main, &pt) == 0);
    for (int i = 0; i < POSTERS; i++)
        pthread_join(th[i], NULL);
    reactor_stop(r);
    pthread_join(rt, NULL);
    /* reactor_run drained everything posted before the stop. */
    CHECK_U64_EQ(pt.count, (uint64_t)POSTERS * POSTS_EACH);
    reactor_stats st;
    reactor_stats_get(r, &st);
    CHECK_U64_EQ(st.posts, (uint64_t)POSTERS * POSTS_EACH + 1);
    CHECK_MSG(st.post_wakes * 10 < st.posts, "%llu eventfd writes for %llu posts",
              (unsigned long long)st.post_wakes, (unsigned long long)st.posts);
    reactor_free(r);
}

TEST_BACKENDS(reactor_idle_does_not_wake)
{
    reactor *r = make_reactor(backend, 0, 0);
    pthread_t rt;
    CHECK(pthread_create(&rt, NULL, reactor_main, r) == 0);
    struct timespec one = {.tv_sec = 1};
    nanosleep(&one, NULL);
    reactor_stats st;
    reactor_stats_get(r, &st);
    CHECK_MSG(st.wakes <= 1, "idle reactor woke %llu times in 1 s", (unsigned long long)st.wakes);
    reactor_stop(r);
    pthread_join(rt, NULL);
    reactor_free(r);
}

struct closer {
    reactor_io *ios[32];
    int fds[32];
    int calls_after_free;
    bool freed[32];
    int n;
};

struct closer_ref {
    struct closer *c;
    int i;
};

/* The first watcher to fire frees every watcher and closes every fd, including ones
 * whose events are in the same batch. */
static int closer_cb(reactor_io *io, unsigned events, void *arg)
{
    (void)io;
    (void)events;
    struct closer_ref *ref = arg;
    struct closer *c = ref->c;
    if (c->freed[ref->i]) {
        c->calls_after_free++;
        return 0;
    }
    for (int i = 0; i < c->n; i++) {
        reactor_io_free(c->ios[i]);
        close(c->fds[i]);
        c->freed[i] = true;
    }
    return 0;
}

TEST_BACKENDS(reactor_free_with_requests_in_flight)
{
    reactor *r = make_reactor(backend, 0, 0);
    struct closer c = {.n = 32};
    struct closer_ref refs[32];
    int writers[32];
    for (int i = 0; i < c.n; i++) {
        int sv[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
        c.fds[i] = sv[0];
        writers[i] = sv[1];
        refs[i] = (struct closer_ref){&c, i};
        CHECK_EQ(reactor_io_new(r, sv[0], REACTOR_READ, closer_cb, &refs[i], &c.ios[i]), 0);
    }
    /* Make all of them ready at once so their events land in one batch. */
    for (int i = 0; i < c.n; i++)
        CHECK_EQ(write(writers[i], "x", 1), 1);
    RUN_UNTIL(r, c.freed[0]);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(reactor_run_once(r, 10), 0);
    CHECK_EQ(c.calls_after_free, 0);
    /* A watcher freed before its first request was ever submitted. */
    int p[2];
    signal(SIGPIPE, SIG_IGN);
    CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    reactor_io *io;
    struct seen s = {0};
    CHECK_EQ(reactor_io_new(r, p[0], REACTOR_READ, record_cb, &s, &io), 0);
    reactor_io_free(io);
    close(p[0]);
    ssize_t w = write(p[1], "y", 1); /* EPIPE, or accepted while the kernel still holds it */
    (void)w;
    for (int i = 0; i < 5; i++)
        CHECK_EQ(reactor_run_once(r, 10), 0);
    CHECK_EQ(s.calls, 0);
    close(p[1]);
    for (int i = 0; i < c.n; i++)
        close(writers[i]);
    /* ASan reports any use after free above; reactor_free releases the rest. */
    reactor_free(r);
}

/* Fails every time. */
static int failing_cb(reactor_io *io, unsigned events, void *arg)
{
    (void)events;
    int *calls = arg;
    (*calls)++;
    char buf[16];
    while (read(reactor_io_fd(io), buf, sizeof buf) > 0)
        ;
    return -EPROTO;
}

TEST_BACKENDS(reactor_failing_callback_is_counted)
{
    reactor *r = make_reactor(backend, 0, 0);
    int p[2];
    CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    int calls = 0;
    reactor_io *io;
    CHECK_EQ(reactor_io_new(r, p[0], REACTOR_READ, failing_cb, &calls, &io), 0);
    CHECK_EQ(write(p[1], "a", 1), 1);
    RUN_UNTIL(r, calls == 1);
    CHECK_EQ(write(p[1], "b", 1), 1);
    RUN_UNTIL(r, calls == 2);
    reactor_stats st;
    reactor_stats_get(r, &st);
    CHECK_U64_EQ(st.callback_errors, 2);
    reactor_io_free(io);
    close(p[0]);
    close(p[1]);
    reactor_free(r);
}

TEST_BACKENDS(reactor_many_ready_with_tiny_queues)
{
    /* 4 SQ and 8 CQ entries for 200 watchers: the SQ fills and the CQ overflows. */
    reactor *r = make_reactor(backend, 4, 8);
    enum { N = 200 };
    int fds[N][2];
    struct seen s[N];
    reactor_io *ios[N];
    memset(s, 0, sizeof s);
    for (int i = 0; i < N; i++) {
        CHECK(pipe2(fds[i], O_NONBLOCK | O_CLOEXEC) == 0);
        CHECK_EQ(reactor_io_new(r, fds[i][0], REACTOR_READ, record_cb, &s[i], &ios[i]), 0);
    }
    CHECK_EQ(reactor_run_once(r, 0), 0);
    for (int i = 0; i < N; i++)
        CHECK_EQ(write(fds[i][1], "z", 1), 1);
    int done = 0;
    for (int turn = 0; turn < 1000 && done < N; turn++) {
        CHECK_EQ(reactor_run_once(r, 50), 0);
        done = 0;
        for (int i = 0; i < N; i++)
            done += s[i].len == 1;
    }
    CHECK_EQ(done, N);
    reactor_stats st;
    reactor_stats_get(r, &st);
    if (backend == REACTOR_URING) {
        CHECK(st.sq_full > 0);
        CHECK(st.cq_overflows > 0);
    }
    for (int i = 0; i < N; i++) {
        reactor_io_free(ios[i]);
        close(fds[i][0]);
        close(fds[i][1]);
    }
    reactor_free(r);
}

TEST(reactor_auto_prefers_uring_here)
{
    reactor_config cfg = {.backend = REACTOR_AUTO};
    reactor *r;
    CHECK_EQ(reactor_new(&r, &cfg), 0);
    CHECK_MSG(strcmp(reactor_backend_name(r), "uring") == 0, "auto chose %s: %s",
              reactor_backend_name(r), reactor_backend_reason(r));
    reactor_free(r);
    enum reactor_backend_kind k;
    CHECK_EQ(reactor_backend_parse("bogus", &k), -EINVAL);
    CHECK_EQ(reactor_backend_parse("epoll", &k), 0);
    CHECK_EQ(k, REACTOR_EPOLL);
}

TEST_BACKENDS(reactor_reports_peer_shutdown_with_the_data)
{
    /* Data and the peer's FIN arrive before the reactor looks: one event must say both,
     * since no later edge will come for the end of file. */
    reactor *r = make_reactor(backend, 0, 0);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK_EQ(write(sv[1], "bye", 3), 3);
    CHECK(shutdown(sv[1], SHUT_WR) == 0);
    struct seen s = {0};
    reactor_io *io;
    CHECK_EQ(reactor_io_new(r, sv[0], REACTOR_READ, record_cb, &s, &io), 0);
    RUN_UNTIL(r, s.calls > 0);
    CHECK(s.events & REACTOR_READ);
    CHECK(s.events & REACTOR_RDHUP);
    CHECK_EQ(s.len, 3);
    reactor_io_free(io);
    close(sv[0]);
    close(sv[1]);
    reactor_free(r);
}

/* ---- deferred frees ------------------------------------------------------------------ */

struct deferred_obj {
    reactor *r;
    reactor_task work, free_task;
    char *log; /* what ran, in order */
    size_t len;
    bool freed;
};

static void obj_note(struct deferred_obj *o, char c)
{
    o->log[o->len++] = c;
}

/* A task that, like a flush scheduled by a late callback, still names the object. */
static int obj_work(reactor_task *t, void *arg)
{
    (void)t;
    struct deferred_obj *o = arg;
    obj_note(o, o->freed ? 'X' : 'w');
    return 0;
}

/* Closing the object: its free is deferred, and work is scheduled after that. */
static int obj_close(reactor_task *t, void *arg)
{
    (void)t;
    struct deferred_obj *o = arg;
    obj_note(o, 'c');
    reactor_defer(o->r, &o->free_task);
    reactor_task_schedule(o->r, &o->work); /* a task queued after the close */
    return 0;
}

static int obj_free(reactor_task *t, void *arg)
{
    (void)t;
    struct deferred_obj *o = arg;
    obj_note(o, 'f');
    o->freed = true;
    return 0;
}

/* The class of the WebSocket upgrade crash: an object closed in a task, with another
 * task for it queued later in the same turn. The deferred free runs after every task
 * pass, so the later task still sees a live object. */
TEST_BACKENDS(reactor_defer_runs_after_every_task)
{
    reactor *r = make_reactor(backend, 0, 0);
    char log[16] = {0};
    struct deferred_obj o = {.r = r, .log = log};
    reactor_task closer;
    reactor_task_init(&closer, obj_close, &o);
    reactor_task_init(&o.work, obj_work, &o);
    reactor_task_init(&o.free_task, obj_free, &o);
    reactor_task_schedule(r, &closer);
    CHECK_EQ(reactor_run_once(r, 0), 0);
    CHECK_MSG(strcmp(log, "cwf") == 0, "order of close, late task, free: %s (want cwf)", log);
    /* A cancelled deferral never runs. */
    o.len = 0;
    memset(log, 0, sizeof log);
    o.freed = false;
    reactor_defer(r, &o.free_task);
    reactor_task_cancel(r, &o.free_task);
    CHECK_EQ(reactor_run_once(r, 0), 0);
    CHECK_MSG(strcmp(log, "") == 0, "a cancelled deferral ran: %s", log);
    reactor_free(r);
}

/* ---- bulk watchers last (reactor_config.bulk_last) ------------------------------------ */

struct order_log {
    char seq[16];
    int n;
    reactor *r;
    reactor_task task;
    reactor_io *victim; /* freed by the interactive callback when set */
    int poke_fd;        /* written by order_bulk_poke_cb */
};

static int order_task_cb(reactor_task *t, void *arg)
{
    (void)t;
    struct order_log *o = arg;
    o->seq[o->n++] = 'T';
    return 0;
}

/* Drains the watcher's pipe and logs its letter. */
static void order_drain(reactor_io *io, struct order_log *o, char letter)
{
    char b[16];
    while (read(reactor_io_fd(io), b, sizeof b) > 0)
        ;
    o->seq[o->n++] = letter;
}

/* The interactive watcher: logs 'I', drains, queues the task (its "flush"). */
static int order_interactive_cb(reactor_io *io, unsigned events, void *arg)
{
    (void)events;
    struct order_log *o = arg;
    order_drain(io, o, 'I');
    reactor_task_schedule(o->r, &o->task);
    if (o->victim) {
        reactor_io_free(o->victim);
        o->victim = NULL;
    }
    return 0;
}

/* The bulk watcher: logs 'B' and drains. */
static int order_bulk_cb(reactor_io *io, unsigned events, void *arg)
{
    (void)events;
    order_drain(io, arg, 'B');
    return 0;
}

/* Both fds are readable before one turn: with bulk_last the bulk watcher runs after
 * the interactive one and after the task it queued; without, the task runs last. */
static void bulk_order_case(enum reactor_backend_kind backend, bool bulk_last, const char *want,
                            bool free_bulk)
{
    reactor_config cfg = {.backend = backend, .bulk_last = bulk_last};
    reactor *r = NULL;
    CHECK_EQ(reactor_new(&r, &cfg), 0);
    int a[2], b[2];
    CHECK(pipe2(a, O_NONBLOCK | O_CLOEXEC) == 0);
    CHECK(pipe2(b, O_NONBLOCK | O_CLOEXEC) == 0);
    struct order_log o = {.r = r};
    reactor_task_init(&o.task, order_task_cb, &o);
    reactor_io *bulk, *inter;
    /* The bulk watcher is registered first, so arrival order would call it first. */
    CHECK_EQ(reactor_io_new(r, a[0], REACTOR_READ, order_bulk_cb, &o, &bulk), 0);
    reactor_io_set_bulk(bulk, true);
    CHECK_EQ(reactor_io_new(r, b[0], REACTOR_READ, order_interactive_cb, &o, &inter), 0);
    CHECK_EQ(reactor_run_once(r, 0), 0); /* polls armed */
    CHECK_EQ(write(a[1], "x", 1), 1);
    CHECK_EQ(write(b[1], "y", 1), 1);
    if (free_bulk)
        o.victim = bulk;
    for (int i = 0; i < 50 && o.n < (int)strlen(want); i++)
        CHECK_EQ(reactor_run_once(r, 100), 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(reactor_run_once(r, 10), 0);
    o.seq[o.n] = 0;
    CHECK_STR_EQ(o.seq, want);
    reactor_stats st;
    reactor_stats_get(r, &st);
    CHECK_EQ(st.bulk_deferred, bulk_last ? 1u : 0u);
    if (!free_bulk)
        reactor_io_free(bulk);
    reactor_io_free(inter);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    reactor_free(r);
}

TEST_BACKENDS(reactor_bulk_watchers_run_after_interactive_work)
{
    bulk_order_case(backend, true, "ITB", false);
}

TEST_BACKENDS(reactor_arrival_order_without_bulk_last)
{
    /* Arrival order: both watchers in the order the kernel reported them, the task at
     * the end of the turn. */
    bulk_order_case(backend, false, "BIT", false);
}

TEST_BACKENDS(reactor_bulk_watcher_freed_while_deferred_is_never_called)
{
    bulk_order_case(backend, true, "IT", true);
}

/* The bulk watcher makes the interactive one readable (as a flood's read may coincide
 * with a keystroke arriving). */
static int order_bulk_poke_cb(reactor_io *io, unsigned events, void *arg)
{
    struct order_log *o = arg;
    order_bulk_cb(io, events, arg);
    CHECK_EQ(write(o->poke_fd, "k", 1), 1);
    return 0;
}

TEST_BACKENDS(reactor_input_arriving_during_bulk_work_runs_in_that_turn)
{
    /* io_uring looks at its completions after each bulk callback, so the keystroke and
     * the task it queues run in the same turn. */
    reactor_config cfg = {.backend = backend, .bulk_last = true};
    reactor *r = NULL;
    CHECK_EQ(reactor_new(&r, &cfg), 0);
    int a[2], b[2];
    CHECK(pipe2(a, O_NONBLOCK | O_CLOEXEC) == 0);
    CHECK(pipe2(b, O_NONBLOCK | O_CLOEXEC) == 0);
    struct order_log o = {.r = r, .poke_fd = b[1]};
    reactor_task_init(&o.task, order_task_cb, &o);
    reactor_io *bulk, *inter;
    CHECK_EQ(reactor_io_new(r, a[0], REACTOR_READ, order_bulk_poke_cb, &o, &bulk), 0);
    reactor_io_set_bulk(bulk, true);
    CHECK_EQ(reactor_io_new(r, b[0], REACTOR_READ, order_interactive_cb, &o, &inter), 0);
    CHECK_EQ(reactor_run_once(r, 0), 0); /* polls armed */
    CHECK_EQ(write(a[1], "x", 1), 1);
    for (int i = 0; i < 50 && o.n == 0; i++)
        CHECK_EQ(reactor_run_once(r, 100), 0);
    o.seq[o.n] = 0;
    reactor_stats st;
    reactor_stats_get(r, &st);
    if (backend == REACTOR_URING) {
        CHECK_STR_EQ(o.seq, "BIT");
        CHECK_EQ(st.bulk_peeks, 1u);
    } else {
        /* epoll looks only 50 us after its wait (a system call each time): in this
         * turn or the next, but the keystroke still comes before any later bulk work. */
        for (int i = 0; i < 50 && o.n < 3; i++)
            CHECK_EQ(reactor_run_once(r, 100), 0);
        o.seq[o.n] = 0;
        CHECK_STR_EQ(o.seq, "BIT");
    }
    reactor_io_free(bulk);
    reactor_io_free(inter);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    reactor_free(r);
}
