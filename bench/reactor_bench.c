/* reactor_bench: the reactor core under io_uring against the same core under epoll,
 * measured in one run so that the ratios hold on a shared machine.
 *
 *   posts       N producer threads (1, then 3) call reactor_post() with a callback that
 *               only counts, as fast as they can, to one reactor on its own thread:
 *               posts per second until the reactor has run the last one, and eventfd
 *               writes per post (post_wakes / posts from the reactor's counters).
 *   socketpair  a reactor thread watches one end of an AF_UNIX stream socketpair and
 *               echoes each byte when readable; the main thread, a plain blocking loop,
 *               times write(1 byte) + read(1 byte): p50/p99 round trip, round trips/s.
 *   pty         the same across a PTY pair: the reactor echoes on the master, the peer
 *               uses the slave in raw mode (cfmakeraw), as a program in a session would.
 *   many fds    the socketpair ping-pong with 1000 pairs registered, a random one used
 *               for each round trip: the backends with many idle watchers.
 * Each ping-pong runs twice: reactor and peer pinned to one CPU, then to two CPUs.
 *
 * Both backends run side by side (two reactors, each on its own thread) and the work is
 * cut into blocks run in the order uring, epoll, epoll, uring, uring, ... so that drift
 * on a shared machine (other jobs, frequency changes) lands on both alike; a rate is the
 * median of its blocks' rates, latencies are percentiles over all round trips. Under each
 * ping-pong the reactors' counters are shown per round trip, with the echo callbacks
 * that found nothing to read (readiness reported after the data was already consumed).
 * Ratios are uring/epoll. A slow result never fails the run; lost posts, a failed
 * syscall, a failed echo, or no progress at all for 30 s (a lost wake-up) does. Usage:
 *   reactor_bench [posts [round_trips]]   (per backend; defaults 2000000 and 20000)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/reactor.h"

#define POST_BLOCKS 16        /* the posts of each backend, cut into this many blocks */
#define ROUND_TRIP_BLOCK 1000 /* round trips per block */
#define WARMUP_ROUND_TRIPS 2000
#define MANY_FDS 1000
#define STALL_SECONDS 30

enum { URING, EPOLL, NBACKENDS };
static const enum reactor_backend_kind backend_kinds[NBACKENDS] = {REACTOR_URING, REACTOR_EPOLL};

/* Progress made by whatever stage runs now; the watchdog fails the run when it stalls. */
static _Atomic uint64_t progress;
static _Atomic(const char *) stage = "start-up";
static _Atomic(reactor *) watched[NBACKENDS];

/* Prints why the run failed and exits non-zero. */
static void die(const char *what, int err)
{
    fprintf(stderr, "reactor_bench: %s: %s\n", what, strerror(err));
    exit(1);
}

/* Reads CLOCK_MONOTONIC in nanoseconds. */
static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The backend that runs block i: uring, epoll, epoll, uring, uring, epoll, ... */
static int block_backend(int i)
{
    return ((i + 1) / 2) % 2 == 0 ? URING : EPOLL;
}

/* Fails the run when nothing has moved for STALL_SECONDS: that is a hang (a reactor that
 * sleeps with work queued), not a slow machine, which still makes progress. */
static void *watchdog_main(void *arg)
{
    (void)arg;
    uint64_t last = atomic_load(&progress);
    int still = 0;
    for (;;) {
        struct timespec one = {.tv_sec = 1};
        nanosleep(&one, NULL);
        uint64_t p = atomic_load(&progress);
        still = p == last ? still + 1 : 0;
        last = p;
        if (still < STALL_SECONDS)
            continue;
        fprintf(stderr, "reactor_bench: no progress for %d s in %s (a lost wake-up?)\n",
                STALL_SECONDS, atomic_load(&stage));
        for (int b = 0; b < NBACKENDS; b++) {
            reactor *r = atomic_load(&watched[b]);
            if (!r)
                continue;
            reactor_stats st;
            reactor_stats_get(r, &st);
            fprintf(stderr,
                    "  %s: turns %llu wakes %llu completions %llu io_events %llu posts %llu "
                    "post_wakes %llu rearms %llu\n",
                    reactor_backend_name(r), (unsigned long long)st.turns,
                    (unsigned long long)st.wakes, (unsigned long long)st.completions,
                    (unsigned long long)st.io_events, (unsigned long long)st.posts,
                    (unsigned long long)st.post_wakes, (unsigned long long)st.rearms);
        }
        _exit(1);
    }
    return NULL;
}

struct loop {
    reactor *r;
    pthread_t th;
    int rc;
};

/* Creates a reactor on backend b; an unusable io_uring is reported as a skip. */
static void loop_new(struct loop *l, int b)
{
    reactor_config cfg = {.backend = backend_kinds[b]};
    int rc = reactor_new(&l->r, &cfg);
    if (rc < 0 && b == URING) {
        printf("SKIP: io_uring is not usable here (%s); nothing to compare\n", strerror(-rc));
        exit(0);
    }
    if (rc < 0)
        die("reactor_new(epoll)", -rc);
    l->rc = 0;
    atomic_store(&watched[b], l->r);
}

/* Runs the reactor until stopped. */
static void *loop_main(void *arg)
{
    struct loop *l = arg;
    l->rc = reactor_run(l->r);
    return NULL;
}

/* Starts reactor_run on a thread of its own, pinned to cpu unless that is -1. */
static void loop_start(struct loop *l, int cpu)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        pthread_attr_setaffinity_np(&attr, sizeof set, &set);
    }
    int rc = pthread_create(&l->th, &attr, loop_main, l);
    pthread_attr_destroy(&attr);
    if (rc)
        die("pthread_create", rc);
}

/* Stops the reactor thread, joins it and frees the reactor with its watchers. */
static void loop_free(struct loop *l, int b)
{
    reactor_stop(l->r);
    pthread_join(l->th, NULL);
    if (l->rc < 0)
        die("reactor_run", -l->rc);
    atomic_store(&watched[b], NULL);
    reactor_free(l->r);
    l->r = NULL;
}

/* Sorts latencies. */
static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts rates. */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of n rates (sorts them in place). A block that other jobs on the machine
 * slowed down moves a mean a lot and a median hardly at all. */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- posts ------------------------------------------------------------------------- */

struct post_block {
    reactor *r;
    uint64_t per_producer;
    uint64_t target;
    _Atomic bool go;
    _Atomic int failed; /* a reactor_post error, as a positive errno */
    uint64_t done;      /* reactor thread only */
    uint64_t end_ns;    /* reactor thread only, read after `finished` */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool finished;
};

struct post_result {
    uint64_t posts, post_wakes, turns;
    double block_rate[POST_BLOCKS]; /* posts/s of each block */
    int nblocks;
};

/* The posted callback: counts, and reports when the last one has run. */
static int post_count(void *arg)
{
    struct post_block *pb = arg;
    pb->done++;
    if ((pb->done & 1023) == 0)
        atomic_fetch_add_explicit(&progress, 1, memory_order_relaxed);
    if (pb->done == pb->target) {
        pb->end_ns = now_ns();
        pthread_mutex_lock(&pb->mu);
        pb->finished = true;
        pthread_cond_signal(&pb->cv);
        pthread_mutex_unlock(&pb->mu);
    }
    return 0;
}

/* One producer: waits for the start, then posts per_producer callbacks back to back. */
static void *producer_main(void *arg)
{
    struct post_block *pb = arg;
    while (!atomic_load_explicit(&pb->go, memory_order_acquire))
        ;
    for (uint64_t i = 0; i < pb->per_producer; i++) {
        int rc = reactor_post(pb->r, post_count, pb);
        if (rc < 0) {
            atomic_store(&pb->failed, -rc);
            break;
        }
    }
    return NULL;
}

/* Posts `count` callbacks from `producers` threads to the running reactor r and adds the
 * time and counters to *res. Fails the run if any post is lost. */
static void post_block_run(reactor *r, int producers, uint64_t count, struct post_result *res)
{
    struct post_block pb = {.r = r, .per_producer = count / (uint64_t)producers};
    pb.target = pb.per_producer * (uint64_t)producers;
    pthread_mutex_init(&pb.mu, NULL);
    pthread_cond_init(&pb.cv, NULL);
    pthread_t th[3];
    for (int i = 0; i < producers; i++) {
        int rc = pthread_create(&th[i], NULL, producer_main, &pb);
        if (rc)
            die("pthread_create", rc);
    }
    reactor_stats s0, s1, s2;
    reactor_stats_get(r, &s0);
    uint64_t start = now_ns();
    atomic_store_explicit(&pb.go, true, memory_order_release);
    for (int i = 0; i < producers; i++)
        pthread_join(th[i], NULL);
    if (atomic_load(&pb.failed))
        die("reactor_post", atomic_load(&pb.failed));
    /* Every post is counted now (a poster counts after queueing). */
    reactor_stats_get(r, &s1);
    /* The reactor must run the last callback by itself, with no reactor_stop to wake it:
     * a lost wake-up shows up here, as a stall the watchdog reports. */
    pthread_mutex_lock(&pb.mu);
    while (!pb.finished)
        pthread_cond_wait(&pb.cv, &pb.mu);
    pthread_mutex_unlock(&pb.mu);
    reactor_stats_get(r, &s2);
    if (s1.posts - s0.posts != pb.target) {
        fprintf(stderr, "reactor_bench: %s counted %llu posts, %llu were made\n",
                reactor_backend_name(r), (unsigned long long)(s1.posts - s0.posts),
                (unsigned long long)pb.target);
        exit(1);
    }
    res->block_rate[res->nblocks++] = (double)pb.target * 1e9 / (double)(pb.end_ns - start);
    res->posts += pb.target;
    res->post_wakes += s1.post_wakes - s0.post_wakes;
    res->turns += s2.turns - s0.turns;
    pthread_cond_destroy(&pb.cv);
    pthread_mutex_destroy(&pb.mu);
}

/* Runs `total` posts per backend from `producers` threads, in interleaved blocks. */
static void bench_posts(int producers, uint64_t total, struct post_result res[NBACKENDS])
{
    struct loop l[NBACKENDS];
    for (int b = 0; b < NBACKENDS; b++) {
        loop_new(&l[b], b);
        loop_start(&l[b], -1);
        res[b] = (struct post_result){0};
    }
    for (int i = 0; i < POST_BLOCKS * NBACKENDS; i++) {
        int b = block_backend(i);
        post_block_run(l[b].r, producers, total / POST_BLOCKS, &res[b]);
    }
    for (int b = 0; b < NBACKENDS; b++)
        loop_free(&l[b], b);
}

/* ---- ping-pong --------------------------------------------------------------------- */

struct echo {
    int fd;
    _Atomic int failed;     /* positive errno from the reactor side */
    _Atomic uint64_t empty; /* callbacks whose first read found nothing */
};

/* Echoes whatever is readable until EAGAIN; 1-byte messages always fit the send side. */
static int echo_cb(reactor_io *io, unsigned events, void *arg)
{
    (void)io;
    (void)events;
    struct echo *e = arg;
    char buf[64];
    for (bool first = true;; first = false) {
        ssize_t n = read(e->fd, buf, sizeof buf);
        if (n > 0) {
            ssize_t w = write(e->fd, buf, (size_t)n);
            if (w != n) {
                int err = w < 0 ? errno : EAGAIN;
                atomic_store(&e->failed, err);
                return -err;
            }
            continue;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN) {
            if (first)
                atomic_fetch_add_explicit(&e->empty, 1, memory_order_relaxed);
            return 0;
        }
        atomic_store(&e->failed, errno);
        return -errno;
    }
}

/* One backend's side of a ping-pong: its reactor, the pairs it echoes on, the results. */
struct pp_side {
    struct loop loop;
    int *rfd, *pfd; /* reactor ends (non-blocking) and peer ends (blocking) */
    struct echo *echoes;
    uint64_t *lat;
    size_t nlat;
    double *block_rate; /* round trips/s of each block */
    int nblocks;
    reactor_stats s0, s1;
    uint64_t empty0; /* empty callbacks during the warm-up */
};

struct pp_result {
    double p50_us, p99_us, rt_per_s;
    double wakes_per_rt, completions_per_rt, io_events_per_rt, empty_per_rt;
    uint64_t rearms;
};

/* One blocking round trip of a byte on fd; returns its duration in nanoseconds. */
static uint64_t round_trip(int fd)
{
    char c = 'x';
    uint64_t t0 = now_ns();
    ssize_t w;
    do
        w = write(fd, &c, 1);
    while (w < 0 && errno == EINTR);
    if (w != 1)
        die("peer write", w < 0 ? errno : EIO);
    ssize_t n;
    do
        n = read(fd, &c, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1)
        die("peer read", n < 0 ? errno : EIO);
    uint64_t t1 = now_ns();
    atomic_fetch_add_explicit(&progress, 1, memory_order_relaxed);
    return t1 - t0;
}

/* A small xorshift generator: picks the pair for each many-fd round trip. */
static uint32_t xorshift32(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* Where the ping-pong threads run. Left to the scheduler, a reactor thread and the peer
 * sometimes share a CPU (a round trip is two context switches) and sometimes do not (two
 * cross-CPU wake-ups, dear in a VM), and the choice sticks for the whole run: unpinned,
 * the ratio would compare placements, not backends. So both are measured, pinned. */
struct placement {
    const char *name;
    int reactor_cpu, peer_cpu;
};

/* Pins the calling thread to cpu. */
static void pin_self(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (rc)
        die("pthread_setaffinity_np", rc);
}

/* Ping-pongs over npairs pairs per backend (made by make_pair), both backends side by
 * side in interleaved blocks of ROUND_TRIP_BLOCK round trips, threads placed as pl says. */
static void bench_pingpong(void (*make_pair)(int *rfd, int *pfd), int npairs, int rounds,
                           const struct placement *pl, struct pp_result out[NBACKENDS])
{
    struct pp_side side[NBACKENDS];
    uint32_t seed = 0x9e3779b9u;
    cpu_set_t saved;
    if (sched_getaffinity(0, sizeof saved, &saved) < 0)
        die("sched_getaffinity", errno);
    pin_self(pl->peer_cpu);
    for (int b = 0; b < NBACKENDS; b++) {
        struct pp_side *s = &side[b];
        memset(s, 0, sizeof *s);
        s->rfd = calloc((size_t)npairs, sizeof *s->rfd);
        s->pfd = calloc((size_t)npairs, sizeof *s->pfd);
        s->echoes = calloc((size_t)npairs, sizeof *s->echoes);
        s->lat = calloc((size_t)rounds, sizeof *s->lat);
        s->block_rate = calloc((size_t)rounds / ROUND_TRIP_BLOCK + 1, sizeof *s->block_rate);
        if (!s->rfd || !s->pfd || !s->echoes || !s->lat || !s->block_rate)
            die("calloc", ENOMEM);
        loop_new(&s->loop, b);
        /* Registered before the reactor thread starts (one thread at a time uses a
         * reactor); with io_uring, watchers beyond the SQ wait on the backlog. */
        for (int i = 0; i < npairs; i++) {
            make_pair(&s->rfd[i], &s->pfd[i]);
            s->echoes[i].fd = s->rfd[i];
            reactor_io *io;
            int rc =
                reactor_io_new(s->loop.r, s->rfd[i], REACTOR_READ, echo_cb, &s->echoes[i], &io);
            if (rc < 0)
                die("reactor_io_new", -rc);
        }
        loop_start(&s->loop, pl->reactor_cpu);
        for (int i = 0; npairs > 1 && i < npairs; i++)
            round_trip(s->pfd[i]);
        for (int i = 0; i < WARMUP_ROUND_TRIPS; i++)
            round_trip(s->pfd[xorshift32(&seed) % (uint32_t)npairs]);
        reactor_stats_get(s->loop.r, &s->s0);
    }
    /* Every warm-up byte has come back; a stale wake-up may still be on its way, so this
     * count (like the counters above) can be off by one. */
    for (int b = 0; b < NBACKENDS; b++)
        for (int i = 0; i < npairs; i++)
            side[b].empty0 += side[b].echoes[i].empty;

    int nblocks = (rounds + ROUND_TRIP_BLOCK - 1) / ROUND_TRIP_BLOCK;
    for (int i = 0; i < nblocks * NBACKENDS; i++) {
        struct pp_side *s = &side[block_backend(i)];
        size_t n = (size_t)rounds - s->nlat;
        if (n > ROUND_TRIP_BLOCK)
            n = ROUND_TRIP_BLOCK;
        uint64_t start = now_ns();
        for (size_t k = 0; k < n; k++)
            s->lat[s->nlat++] = round_trip(s->pfd[xorshift32(&seed) % (uint32_t)npairs]);
        s->block_rate[s->nblocks++] = (double)n * 1e9 / (double)(now_ns() - start);
    }

    for (int b = 0; b < NBACKENDS; b++) {
        struct pp_side *s = &side[b];
        reactor_stats_get(s->loop.r, &s->s1);
        loop_free(&s->loop, b);
        uint64_t empty = 0;
        for (int i = 0; i < npairs; i++) {
            if (atomic_load(&s->echoes[i].failed))
                die("reactor echo", atomic_load(&s->echoes[i].failed));
            empty += s->echoes[i].empty;
            close(s->rfd[i]);
            close(s->pfd[i]);
        }
        qsort(s->lat, s->nlat, sizeof *s->lat, cmp_u64);
        out[b] = (struct pp_result){
            .p50_us = (double)s->lat[s->nlat / 2] / 1e3,
            .p99_us = (double)s->lat[s->nlat * 99 / 100] / 1e3,
            .rt_per_s = median(s->block_rate, s->nblocks),
            .wakes_per_rt = (double)(s->s1.wakes - s->s0.wakes) / (double)s->nlat,
            .completions_per_rt = (double)(s->s1.completions - s->s0.completions) / (double)s->nlat,
            .io_events_per_rt = (double)(s->s1.io_events - s->s0.io_events) / (double)s->nlat,
            .empty_per_rt = (double)(empty - s->empty0) / (double)s->nlat,
            .rearms = s->s1.rearms - s->s0.rearms,
        };
        free(s->rfd);
        free(s->pfd);
        free(s->echoes);
        free(s->lat);
        free(s->block_rate);
    }
    if (sched_setaffinity(0, sizeof saved, &saved) < 0)
        die("sched_setaffinity", errno);
}

/* Makes fd non-blocking. */
static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        die("fcntl(O_NONBLOCK)", errno);
}

/* A stream socketpair: *rfd non-blocking for the reactor, *pfd blocking for the peer. */
static void make_socketpair(int *rfd, int *pfd)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        die("socketpair", errno);
    set_nonblock(sv[0]);
    *rfd = sv[0];
    *pfd = sv[1];
}

/* A PTY pair: the non-blocking master for the reactor, the slave in raw mode for the peer
 * (TIOCGPTPEER, falling back to ptsname_r + open on kernels without it). */
static void make_pty(int *master, int *slave)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0)
        die("posix_openpt", errno);
    if (grantpt(m) < 0 || unlockpt(m) < 0)
        die("grantpt/unlockpt", errno);
    int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) {
        char name[64];
        if (ptsname_r(m, name, sizeof name) != 0)
            die("ptsname_r", errno);
        s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (s < 0)
            die("open pty slave", errno);
    }
    struct termios t;
    if (tcgetattr(s, &t) < 0)
        die("tcgetattr", errno);
    cfmakeraw(&t);
    if (tcsetattr(s, TCSANOW, &t) < 0)
        die("tcsetattr", errno);
    set_nonblock(m);
    *master = m;
    *slave = s;
}

/* ---- output ------------------------------------------------------------------------ */

/* Formats a rate as 12.3M / 45.6k. */
static const char *fmt_rate(char *buf, size_t len, double v)
{
    if (v >= 1e6)
        snprintf(buf, len, "%.2fM", v / 1e6);
    else if (v >= 1e3)
        snprintf(buf, len, "%.1fk", v / 1e3);
    else
        snprintf(buf, len, "%.0f", v);
    return buf;
}

/* Prints one comparison line and returns the ratio uring/epoll. */
static double line(const char *what, const char *u, const char *e, double ur, double er)
{
    double ratio = er > 0 ? ur / er : 0;
    printf("%-40s uring %8s   epoll %8s   uring/epoll %5.2f\n", what, u, e, ratio);
    return ratio;
}

/* A comparison line for rates. */
static double line_rate(const char *what, double u, double e)
{
    char a[32], b[32];
    return line(what, fmt_rate(a, sizeof a, u), fmt_rate(b, sizeof b, e), u, e);
}

/* A comparison line with a fixed number of decimals. */
static double line_num(const char *what, int decimals, double u, double e)
{
    char a[32], b[32];
    snprintf(a, sizeof a, "%.*f", decimals, u);
    snprintf(b, sizeof b, "%.*f", decimals, e);
    return line(what, a, b, u, e);
}

struct pp_ratios {
    double p50, p99, rt;
};

/* Runs one ping-pong on both backends and prints it. */
static struct pp_ratios report_pingpong(const char *name, void (*make_pair)(int *, int *),
                                        int npairs, int rounds, const struct placement *pl)
{
    struct pp_result res[NBACKENDS];
    struct pp_ratios q;
    char what[96];
    atomic_store(&stage, name);
    bench_pingpong(make_pair, npairs, rounds, pl, res);
    snprintf(what, sizeof what, "%s p50 us", name);
    q.p50 = line_num(what, 1, res[URING].p50_us, res[EPOLL].p50_us);
    snprintf(what, sizeof what, "%s p99 us", name);
    q.p99 = line_num(what, 1, res[URING].p99_us, res[EPOLL].p99_us);
    snprintf(what, sizeof what, "%s round trips/s", name);
    q.rt = line_rate(what, res[URING].rt_per_s, res[EPOLL].rt_per_s);
    printf("  per round trip (uring/epoll): blocking waits %.2f/%.2f, completions %.2f/%.2f, "
           "callbacks %.2f/%.2f, of them empty (first read EAGAIN) %.2f/%.2f; uring re-arms "
           "%llu\n",
           res[URING].wakes_per_rt, res[EPOLL].wakes_per_rt, res[URING].completions_per_rt,
           res[EPOLL].completions_per_rt, res[URING].io_events_per_rt, res[EPOLL].io_events_per_rt,
           res[URING].empty_per_rt, res[EPOLL].empty_per_rt, (unsigned long long)res[URING].rearms);
    return q;
}

/* Raises the soft fd limit for `want` pairs per backend; returns how many pairs fit. */
static int fd_budget(int want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 0;
    rlim_t need = (rlim_t)want * 2 * NBACKENDS + 64;
    if (rl.rlim_cur < need && rl.rlim_max >= need) {
        rl.rlim_cur = need;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur >= need)
        return want;
    return rl.rlim_cur > 128 ? (int)((rl.rlim_cur - 64) / (2 * NBACKENDS)) : 0;
}

int main(int argc, char **argv)
{
    uint64_t total_posts = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
    int rounds = argc > 2 ? atoi(argv[2]) : 20000;
    if (total_posts < 3 * POST_BLOCKS || rounds < 100) {
        fprintf(stderr, "usage: reactor_bench [posts (>= %d) [round_trips (>= 100)]]\n",
                3 * POST_BLOCKS);
        return 2;
    }
    log_set_level(LOG_WARN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    pthread_t wd;
    if (pthread_create(&wd, NULL, watchdog_main, NULL))
        die("pthread_create", EAGAIN);
    pthread_detach(wd);

    struct utsname u;
    uname(&u);
    printf("reactor_bench: %ld cpus, kernel %s; per backend %llu posts and %d round trips "
           "(+%d warm-up), in interleaved blocks; ratios are uring/epoll\n",
           sysconf(_SC_NPROCESSORS_ONLN), u.release, (unsigned long long)total_posts, rounds,
           WARMUP_ROUND_TRIPS);

    /* 1. Cross-thread posts. */
    static const int producer_counts[2] = {1, 3};
    double post_ratio[2];
    for (int i = 0; i < 2; i++) {
        int n = producer_counts[i];
        struct post_result res[NBACKENDS];
        atomic_store(&stage, n == 1 ? "posts, 1 producer" : "posts, 3 producers");
        bench_posts(n, total_posts, res);
        double rate[NBACKENDS], wpp[NBACKENDS], ppt[NBACKENDS];
        for (int b = 0; b < NBACKENDS; b++) {
            rate[b] = median(res[b].block_rate, res[b].nblocks);
            wpp[b] = (double)res[b].post_wakes / (double)res[b].posts;
            ppt[b] = (double)res[b].posts / (double)res[b].turns;
        }
        char what[64];
        snprintf(what, sizeof what, "posts/s, %d producer%s", n, n == 1 ? "" : "s");
        post_ratio[i] = line_rate(what, rate[URING], rate[EPOLL]);
        snprintf(what, sizeof what, "eventfd writes/post, %d", n);
        line_num(what, 4, wpp[URING], wpp[EPOLL]);
        printf("  posts per reactor turn (uring/epoll): %.1f/%.1f\n", ppt[URING], ppt[EPOLL]);
    }

    /* 2. Readiness ping-pong: socketpair, then PTY. 3. Many registered watchers. Each
     * on one CPU, then (when two are allowed) with the peer on another. */
    cpu_set_t allowed;
    int cpus[2] = {-1, -1}, ncpus = 0;
    if (sched_getaffinity(0, sizeof allowed, &allowed) < 0)
        die("sched_getaffinity", errno);
    for (int c = 0; c < CPU_SETSIZE && ncpus < 2; c++)
        if (CPU_ISSET(c, &allowed))
            cpus[ncpus++] = c;
    const struct placement placements[2] = {
        {"same cpu", cpus[0], cpus[0]},
        {"2 cpus", cpus[0], cpus[1]},
    };
    int nplacements = ncpus >= 2 ? 2 : 1;
    if (ncpus < 2)
        printf("SKIP ping-pong across 2 cpus: only one cpu allowed\n");

    int nfds = fd_budget(MANY_FDS);
    char many[32];
    snprintf(many, sizeof many, "%d socketpairs", nfds);
    if (nfds < 2)
        printf("SKIP many fds: RLIMIT_NOFILE too low\n");
    struct {
        const char *name;
        void (*make_pair)(int *, int *);
        int npairs;
    } const transports[3] = {
        {"socketpair", make_socketpair, 1},
        {"pty", make_pty, 1},
        {many, make_socketpair, nfds},
    };
    char names[6][64];
    struct pp_ratios q[6];
    int nq = 0;
    for (int t = 0; t < 3; t++) {
        if (transports[t].npairs < 1 || (t == 2 && nfds < 2))
            continue;
        for (int p = 0; p < nplacements; p++) {
            snprintf(names[nq], sizeof names[nq], "%s, %s", transports[t].name, placements[p].name);
            q[nq] = report_pingpong(names[nq], transports[t].make_pair, transports[t].npairs,
                                    rounds, &placements[p]);
            nq++;
        }
    }

    printf("summary, uring/epoll (rates: above 1 favours uring; latency: below 1 favours "
           "uring):\n");
    printf("  %-26s %.2f with 1 producer, %.2f with 3\n", "posts/s", post_ratio[0], post_ratio[1]);
    for (int i = 0; i < nq; i++)
        printf("  %-26s p50 %.2f  p99 %.2f  round trips/s %.2f\n", names[i], q[i].p50, q[i].p99,
               q[i].rt);
    return 0;
}
