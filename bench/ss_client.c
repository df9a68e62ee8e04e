/* ss_client: the raw-protocol client behind bench/sessions.py (spawn rate, thousands of
 * idle sessions, keystroke latency under a flood). It speaks the session protocol with
 * the CLI's client module (cli/client.h) so the client is not the bottleneck; Python only
 * orchestrates. Each subcommand prints one or more lines of `key=value` words.
 *
 *   ss_client spawn SOCK N WINDOW CONNS       create-and-exit rate of sessions running `true`
 *   ss_client create SOCK N WINDOW CONNS -- CMD...   N live sessions, pipelined (ids, pids)
 *   ss_client echo SOCK TIMEOUT_MS SID...     a line through each session running cat
 *   ss_client count SOCK                      running/exited sessions listed
 *   ss_client run N -- CMD...                 run CMD N times in a row ("{}" -> i)
 *   ss_client fair SOCK KEYS FLOODERS GAP_US [other] [-- FLOOD_CMD...]
 *                                             keystroke echo latency, idle and under flood
 *
 * Run alone (as `make bench` does with every build/bench/ binary) it does nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/client.h"
#include "proto/wire.h"

extern char **environ;

/* Monotonic time in seconds. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Prints a failure line and exits 1. */
static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("error: ", stdout);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    exit(1);
}

/* Connects and completes the handshake, or dies. */
static client *connect_or_die(const char *sock)
{
    client *c = client_new();
    if (client_connect(c, sock) < 0)
        die("connect %s: %s", sock, client_strerror(c));
    return c;
}

/* Queues m or dies. */
static void queue_or_die(client *c, const struct wire_msg *m)
{
    if (client_queue(c, m) < 0)
        die("queue: %s", client_strerror(c));
}

/* Writes what the socket takes, or dies. */
static void flush_or_die(client *c)
{
    if (client_flush_some(c) < 0)
        die("write: %s", client_strerror(c));
}

/* Waits up to timeout_ms for any of the clients to be readable (or writable when they
 * have queued bytes), reads what is there. Returns poll's count. */
static int pump(client **cs, int n, int timeout_ms)
{
    struct pollfd p[64];
    for (int i = 0; i < n; i++)
        p[i] = (struct pollfd){client_fd(cs[i]),
                               (short)(POLLIN | (client_queued(cs[i]) ? POLLOUT : 0)), 0};
    int rc = poll(p, (nfds_t)n, timeout_ms);
    if (rc < 0 && errno != EINTR)
        die("poll: %s", strerror(errno));
    for (int i = 0; i < n && rc > 0; i++) {
        if (p[i].revents & (POLLIN | POLLHUP | POLLERR))
            if (client_read_some(cs[i]) < 0)
                die("read: %s", client_strerror(cs[i]));
        if (p[i].revents & POLLOUT)
            flush_or_die(cs[i]);
    }
    return rc;
}

/* Builds a CREATE for argv with an empty env; blocks live in caller storage. */
static struct wire_msg create_msg(uint32_t req, const char *const *argv, size_t argc, uint8_t *blk,
                                  size_t cap)
{
    size_t n = wire_block_pack(argv, argc, blk, cap);
    if (n > cap)
        die("argv too long");
    struct wire_msg m = {.type = WIRE_CREATE};
    m.create = (struct wire_create){.req = req};
    m.create.argv = (struct wire_block){blk, n, (uint16_t)argc};
    return m;
}

/* ---- spawn and create ------------------------------------------------------------------ */

/* Request ids carry their kind in the top bits. */
#define REQ_CREATE (1u << 30)
#define REQ_ATTACH (2u << 30)
#define REQ_REMOVE (3u << 30)
#define REQ_KIND(r) ((r) & (3u << 30))

struct pipe_state {
    long target, started, created, exited, removed, bad_exit;
    const char *const *argv;
    size_t argc;
    bool lifecycle; /* spawn: attach, wait for EXIT, remove; create: just CREATE */
    uint32_t *sids;
    int32_t *pids;
};

/* Tops up one connection's window with CREATEs. */
static void pipe_top_up(struct pipe_state *st, client *c, long *inflight, long window)
{
    uint8_t blk[4096];
    while (*inflight < window && st->started < st->target) {
        struct wire_msg m =
            create_msg(REQ_CREATE | (uint32_t)st->started, st->argv, st->argc, blk, sizeof blk);
        queue_or_die(c, &m);
        st->started++;
        (*inflight)++;
    }
    flush_or_die(c);
}

/* Handles every complete message buffered on c. Returns -1 on a daemon ERROR. */
static int pipe_handle(struct pipe_state *st, client *c, long *inflight)
{
    struct wire_msg m;
    int rc;
    while ((rc = client_next(c, &m)) == 1) {
        switch (m.type) {
        case WIRE_CREATED:
            if (m.created.pid <= 0)
                die("CREATED with pid %d", m.created.pid);
            st->pids[st->created] = m.created.pid;
            st->sids[st->created++] = m.created.sid;
            if (st->lifecycle) {
                struct wire_msg a = {.type = WIRE_ATTACH};
                a.attach = (struct wire_attach){.req = REQ_ATTACH | m.created.sid,
                                                .sid = m.created.sid,
                                                .mode = WIRE_MODE_READ_ONLY,
                                                .from_kind = WIRE_FROM_LIVE};
                queue_or_die(c, &a);
            } else {
                (*inflight)--;
            }
            break;
        case WIRE_EXIT: {
            if (m.exit.code != 0 || m.exit.signal != 0)
                st->bad_exit++;
            st->exited++;
            (*inflight)--;
            struct wire_msg r = {.type = WIRE_REMOVE};
            r.remove = (struct wire_remove){REQ_REMOVE | m.exit.sid, m.exit.sid};
            queue_or_die(c, &r);
            break;
        }
        case WIRE_OK:
            if (REQ_KIND(m.ok.req) == REQ_REMOVE)
                st->removed++;
            break;
        case WIRE_ERROR:
            printf("daemon_error req_kind=%u code=%s msg=\"%.*s\"\n", m.error.req >> 30,
                   wire_err_name(m.error.code), (int)m.error.message.len,
                   (const char *)m.error.message.p);
            return -1;
        default:
            break; /* ATTACHED, OUTPUT: nothing to do */
        }
    }
    if (rc < 0)
        die("%s", client_strerror(c));
    return 0;
}

/* Runs the pipeline over `conns` connections with `window` requests in flight on each. */
static int pipe_run(struct pipe_state *st, const char *sock, int conns, long window, double *secs)
{
    client *cs[64];
    long inflight[64] = {0};
    for (int i = 0; i < conns; i++)
        cs[i] = connect_or_die(sock);
    double t0 = now_s();
    for (int i = 0; i < conns; i++)
        pipe_top_up(st, cs[i], &inflight[i], window);
    int failed = 0;
    for (;;) {
        bool done = st->lifecycle ? st->removed == st->target : st->created == st->target;
        if (done || failed)
            break;
        if (pump(cs, conns, 10000) == 0)
            die("no progress for 10 s (started %ld created %ld exited %ld removed %ld)",
                st->started, st->created, st->exited, st->removed);
        for (int i = 0; i < conns; i++) {
            if (pipe_handle(st, cs[i], &inflight[i]) < 0)
                failed = 1;
            if (!failed)
                pipe_top_up(st, cs[i], &inflight[i], window);
            else
                flush_or_die(cs[i]);
        }
    }
    *secs = now_s() - t0;
    for (int i = 0; i < conns; i++)
        client_free(cs[i]);
    return failed ? -1 : 0;
}

/* spawn SOCK N WINDOW CONNS: CREATE `true`, ATTACH read-only at the live edge, count the
 * EXIT (code 0), REMOVE. The clock runs from the first CREATE to the last REMOVE's OK. */
static int cmd_spawn(int argc, char **argv)
{
    if (argc != 4)
        die("usage: spawn SOCK N WINDOW CONNS");
    static const char *const targv[] = {"true"};
    struct pipe_state st = {.target = atol(argv[1]), .argv = targv, .argc = 1, .lifecycle = true};
    st.sids = calloc((size_t)st.target, sizeof *st.sids);
    st.pids = calloc((size_t)st.target, sizeof *st.pids);
    double secs;
    int rc = pipe_run(&st, argv[0], atoi(argv[3]), atol(argv[2]), &secs);
    printf("spawn n=%ld exited=%ld bad_exit=%ld removed=%ld secs=%.6f rate=%.1f\n", st.created,
           st.exited, st.bad_exit, st.removed, secs, (double)st.removed / secs);
    free(st.sids);
    free(st.pids);
    return rc < 0 || st.bad_exit ? 1 : 0;
}

/* create SOCK N WINDOW CONNS -- CMD...: N live sessions; prints the time and their ids.
 * Stops at the first refusal and says why (exit status 3). */
static int cmd_create(int argc, char **argv)
{
    if (argc < 6 || strcmp(argv[4], "--") != 0)
        die("usage: create SOCK N WINDOW CONNS -- CMD...");
    struct pipe_state st = {
        .target = atol(argv[1]), .argv = (const char *const *)&argv[5], .argc = (size_t)(argc - 5)};
    st.sids = calloc((size_t)st.target, sizeof *st.sids);
    st.pids = calloc((size_t)st.target, sizeof *st.pids);
    double secs;
    int rc = pipe_run(&st, argv[0], atoi(argv[3]), atol(argv[2]), &secs);
    printf("create n=%ld secs=%.6f\nsids", st.created, secs);
    for (long i = 0; i < st.created; i++)
        printf(" %u", st.sids[i]);
    printf("\npids");
    for (long i = 0; i < st.created; i++)
        printf(" %d", st.pids[i]);
    printf("\n");
    free(st.sids);
    free(st.pids);
    return rc < 0 ? 3 : 0;
}

/* ---- echo and count ---------------------------------------------------------------------- */

/* Attaches to a session running cat, types a line and waits until it has come back twice
 * (the terminal's echo, then cat's copy). Returns the round trip in µs, or -1. */
static double echo_one(const char *sock, uint32_t sid, int timeout_ms)
{
    client *c = connect_or_die(sock);
    struct wire_msg a = {.type = WIRE_ATTACH};
    a.attach = (struct wire_attach){
        .req = 1, .sid = sid, .mode = WIRE_MODE_INTERACTIVE, .from_kind = WIRE_FROM_LIVE};
    queue_or_die(c, &a);
    flush_or_die(c);
    char line[64], want[160];
    int ln = snprintf(line, sizeof line, "ping-%u\n", sid);
    int wn = snprintf(want, sizeof want, "ping-%u\r\nping-%u\r\n", sid, sid);
    char got[4096];
    size_t glen = 0;
    bool attached = false;
    double t0 = 0, deadline = now_s() + timeout_ms / 1000.0;
    while (now_s() < deadline) {
        struct wire_msg m;
        int rc;
        while ((rc = client_next(c, &m)) == 1) {
            if (m.type == WIRE_ERROR) {
                fprintf(stderr, "echo sid %u: %.*s\n", sid, (int)m.error.message.len,
                        (const char *)m.error.message.p);
                client_free(c);
                return -1;
            }
            if (m.type == WIRE_ATTACHED && !attached) {
                attached = true;
                struct wire_msg in = {.type = WIRE_INPUT};
                in.input = (struct wire_input){sid, {(const uint8_t *)line, (size_t)ln}};
                t0 = now_s();
                queue_or_die(c, &in);
                flush_or_die(c);
            }
            if (m.type == WIRE_OUTPUT) {
                size_t n = m.output.data.len;
                if (glen + n > sizeof got)
                    n = sizeof got - glen;
                memcpy(got + glen, m.output.data.p, n);
                glen += n;
                if (glen >= (size_t)wn && memmem(got, glen, want, (size_t)wn)) {
                    double us = (now_s() - t0) * 1e6;
                    client_free(c);
                    return us;
                }
            }
        }
        if (rc < 0)
            break;
        pump(&c, 1, 100);
    }
    client_free(c);
    return -1;
}

/* echo SOCK TIMEOUT_MS SID...: one echo line per session. */
static int cmd_echo(int argc, char **argv)
{
    if (argc < 3)
        die("usage: echo SOCK TIMEOUT_MS SID...");
    int fails = 0;
    for (int i = 2; i < argc; i++) {
        uint32_t sid = (uint32_t)strtoul(argv[i], NULL, 10);
        double us = echo_one(argv[0], sid, atoi(argv[1]));
        if (us < 0) {
            printf("echo_fail sid=%u\n", sid);
            fails++;
        } else {
            printf("echo sid=%u us=%.1f\n", sid, us);
        }
    }
    return fails ? 1 : 0;
}

struct counts {
    long running, exited;
};

/* Counts one LIST entry. */
static int count_entry(void *arg, const struct wire_list_entry *e)
{
    struct counts *n = arg;
    if (e->state == WIRE_STATE_RUNNING)
        n->running++;
    else
        n->exited++;
    return 0;
}

/* count SOCK: how many sessions the daemon lists, running and exited. */
static int cmd_count(int argc, char **argv)
{
    if (argc != 1)
        die("usage: count SOCK");
    client *c = connect_or_die(argv[0]);
    struct counts n = {0};
    if (client_list(c, count_entry, &n) < 0)
        die("list: %s", client_strerror(c));
    printf("count running=%ld exited=%ld\n", n.running, n.exited);
    client_free(c);
    return 0;
}

/* ---- run: a command N times in a row, as a user's loop would -------------------------- */

/* run N -- CMD...: posix_spawnp CMD and wait for it, N times; "{}" in an argument becomes
 * the iteration number. Any failing run fails the whole. */
static int cmd_run(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[1], "--") != 0)
        die("usage: run N -- CMD...");
    long n = atol(argv[0]);
    int cargc = argc - 2;
    char **tmpl = &argv[2];
    char **cargv = calloc((size_t)cargc + 1, sizeof *cargv);
    char bufs[16][512];
    if (cargc > 16)
        die("too many arguments");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        for (int k = 0; k < cargc; k++) {
            char *hole = strstr(tmpl[k], "{}");
            if (!hole) {
                cargv[k] = tmpl[k];
                continue;
            }
            snprintf(bufs[k], sizeof bufs[k], "%.*s%ld%s", (int)(hole - tmpl[k]), tmpl[k], i,
                     hole + 2);
            cargv[k] = bufs[k];
        }
        pid_t pid;
        int e = posix_spawnp(&pid, cargv[0], &fa, NULL, cargv, environ);
        if (e)
            die("cannot run %s: %s", cargv[0], strerror(e));
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            die("run %ld of %s failed (status 0x%x)", i, cargv[0], status);
    }
    double secs = now_s() - t0;
    printf("run n=%ld secs=%.6f rate=%.1f\n", n, secs, (double)n / secs);
    posix_spawn_file_actions_destroy(&fa);
    free(cargv);
    return 0;
}

/* ---- fair: keystroke echo latency, idle and under a flood --------------------------- */

/* What the flood reader (a child process) shares with the parent. */
struct flood_shared {
    _Atomic uint64_t bytes;
    _Atomic int stop;
    _Atomic int ready;
    _Atomic long gaps, disorder;
};

/* Reads every flooding session losslessly (interactive attachments) as fast as it can,
 * checking that the offsets of each session tile with no gap. Runs in a child process. */
static int flood_reader(const char *sock, const uint32_t *sids, int n, struct flood_shared *sh)
{
    client *c = connect_or_die(sock);
    uint64_t next[64] = {0};
    bool started[64] = {false};
    for (int i = 0; i < n; i++) {
        struct wire_msg a = {.type = WIRE_ATTACH};
        a.attach = (struct wire_attach){.req = (uint32_t)i + 1,
                                        .sid = sids[i],
                                        .mode = WIRE_MODE_INTERACTIVE,
                                        .from_kind = WIRE_FROM_LIVE};
        queue_or_die(c, &a);
    }
    flush_or_die(c);
    int attached = 0;
    while (!atomic_load(&sh->stop)) {
        struct wire_msg m;
        int rc;
        uint64_t got = 0;
        while ((rc = client_next(c, &m)) == 1) {
            if (m.type == WIRE_ATTACHED) {
                for (int i = 0; i < n; i++)
                    if (sids[i] == m.attached.sid) {
                        next[i] = m.attached.end;
                        started[i] = true;
                    }
                if (++attached == n)
                    atomic_store(&sh->ready, 1);
            } else if (m.type == WIRE_OUTPUT) {
                for (int i = 0; i < n; i++)
                    if (sids[i] == m.output.sid) {
                        if (!started[i] || m.output.offset != next[i])
                            atomic_fetch_add(&sh->disorder, 1);
                        next[i] = m.output.offset + m.output.data.len;
                    }
                got += m.output.data.len;
            } else if (m.type == WIRE_GAP) {
                atomic_fetch_add(&sh->gaps, 1);
            } else if (m.type == WIRE_ERROR) {
                die("flood reader: %.*s", (int)m.error.message.len,
                    (const char *)m.error.message.p);
            }
        }
        if (rc < 0)
            die("flood reader: %s", client_strerror(c));
        atomic_fetch_add(&sh->bytes, got);
        pump(&c, 1, 50);
    }
    client_free(c);
    return 0;
}

/* Latency samples in µs and their summary. */
struct lat {
    double *v;
    int n;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Announces a measurement, so the caller can sample the daemon's counters around it. */
static void phase_begin(const char *what, const char *phase)
{
    printf("begin target=%s phase=%s\n", what, phase);
    fflush(stdout);
}

/* Prints one result line: p50, p99, max of the samples. */
static void lat_print(const char *what, const char *phase, struct lat *l, double mbps)
{
    qsort(l->v, (size_t)l->n, sizeof *l->v, cmp_double);
    double sum = 0;
    for (int i = 0; i < l->n; i++)
        sum += l->v[i];
    printf("fair target=%s phase=%s n=%d p50_us=%.1f p99_us=%.1f max_us=%.1f mean_us=%.1f "
           "flood_mbps=%.1f\n",
           what, phase, l->n, l->v[l->n / 2], l->v[(int)(l->n * 0.99)], l->v[l->n - 1], sum / l->n,
           mbps);
    fflush(stdout);
}

/* Sleeps gap_us microseconds. */
static void gap_sleep(int gap_us)
{
    if (gap_us <= 0)
        return;
    struct timespec ts = {0, (long)gap_us * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* A transport for keystrokes: ptyhub (INPUT/OUTPUT frames) or a raw PTY master. */
struct kbd {
    client *c; /* ptyhub, or NULL for the raw PTY */
    uint32_t sid;
    int master;
    char pend[65536]; /* received bytes not yet consumed */
    size_t plen;
};

/* Sends bytes to the terminal. */
static void kbd_send(struct kbd *k, const char *p, size_t n)
{
    if (k->c) {
        struct wire_msg in = {.type = WIRE_INPUT};
        in.input = (struct wire_input){k->sid, {(const uint8_t *)p, n}};
        queue_or_die(k->c, &in);
        flush_or_die(k->c);
        while (client_queued(k->c))
            pump(&k->c, 1, 1000), flush_or_die(k->c);
        return;
    }
    while (n) {
        ssize_t w = write(k->master, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            die("pty write: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

/* Waits until at least `want` bytes have been received (5 s at most). */
static void kbd_wait(struct kbd *k, size_t want)
{
    double deadline = now_s() + 5;
    while (k->plen < want) {
        if (k->c) {
            struct wire_msg m;
            int rc;
            while ((rc = client_next(k->c, &m)) == 1) {
                if (m.type == WIRE_OUTPUT && m.output.sid == k->sid) {
                    size_t n = m.output.data.len;
                    if (k->plen + n > sizeof k->pend)
                        die("too much unexpected output");
                    memcpy(k->pend + k->plen, m.output.data.p, n);
                    k->plen += n;
                } else if (m.type == WIRE_ERROR) {
                    die("keystroke client: %.*s", (int)m.error.message.len,
                        (const char *)m.error.message.p);
                }
            }
            if (rc < 0)
                die("keystroke client: %s", client_strerror(k->c));
            if (k->plen >= want)
                break;
            pump(&k->c, 1, 100);
        } else {
            struct pollfd p = {k->master, POLLIN, 0};
            if (poll(&p, 1, 100) > 0) {
                ssize_t n = read(k->master, k->pend + k->plen, sizeof k->pend - k->plen);
                if (n > 0)
                    k->plen += (size_t)n;
                else if (n < 0 && errno != EINTR && errno != EAGAIN)
                    die("pty read: %s", strerror(errno));
            }
        }
        if (now_s() > deadline)
            die("no echo within 5 s (have %zu of %zu bytes)", k->plen, want);
    }
}

/* Drops the first n received bytes. */
static void kbd_consume(struct kbd *k, size_t n)
{
    memmove(k->pend, k->pend + n, k->plen - n);
    k->plen -= n;
}

/* Types `keys` printable characters one at a time and times each echo; after every 32 it
 * ends the line (untimed) and waits for the echoed newline and cat's copy of the line. */
static void kbd_measure(struct kbd *k, int keys, int gap_us, struct lat *out)
{
    char line[64];
    int ll = 0;
    out->n = 0;
    for (int i = 0; i < keys; i++) {
        char ch = (char)('a' + i % 26);
        double t0 = now_s();
        kbd_send(k, &ch, 1);
        kbd_wait(k, 1);
        double t1 = now_s();
        if (k->pend[0] != ch)
            die("echo mismatch: sent '%c', got 0x%02x", ch, (unsigned char)k->pend[0]);
        kbd_consume(k, 1);
        out->v[out->n++] = (t1 - t0) * 1e6;
        line[ll++] = ch;
        if (ll == 32 || i == keys - 1) {
            char want[80];
            memcpy(want, "\r\n", 2);
            memcpy(want + 2, line, (size_t)ll);
            memcpy(want + 2 + ll, "\r\n", 2);
            kbd_send(k, "\n", 1);
            kbd_wait(k, (size_t)ll + 4);
            if (memcmp(k->pend, want, (size_t)ll + 4) != 0)
                die("cat did not copy the line back");
            kbd_consume(k, (size_t)ll + 4);
            ll = 0;
        }
        gap_sleep(gap_us);
    }
}

/* Starts cat on a fresh PTY of our own (the raw baseline, no daemon in the path). */
static int raw_pty_cat(pid_t *pid)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
        die("posix_openpt: %s", strerror(errno));
    char name[128];
    if (ptsname_r(m, name, sizeof name) != 0)
        die("ptsname_r failed");
    *pid = fork();
    if (*pid < 0)
        die("fork: %s", strerror(errno));
    if (*pid == 0) {
        setsid();
        int s = open(name, O_RDWR);
        if (s < 0)
            _exit(127);
        ioctl(s, TIOCSCTTY, 0);
        dup2(s, 0);
        dup2(s, 1);
        dup2(s, 2);
        if (s > 2)
            close(s);
        execlp("cat", "cat", (char *)NULL);
        _exit(127);
    }
    return m;
}

/* Creates one session on conn c (blocking) and returns its id. */
static uint32_t create_blocking(client *c, uint32_t req, const char *const *argv, size_t argc)
{
    uint8_t blk[256];
    struct wire_msg m = create_msg(req, argv, argc, blk, sizeof blk), reply;
    if (client_call(c, &m, WIRE_CREATED, &reply) < 0)
        die("create %s: %s", argv[0], client_strerror(c));
    return reply.created.sid;
}

/* True when sessions a and b live on the same reactor: a connection attached to one can
 * attach to the other only then (otherwise the daemon answers ERROR limit). The probe
 * connection is kept (and detached again), so probing does not shift the round-robin
 * placement of the connections that follow. */
static bool same_reactor(client *probe, uint32_t a, uint32_t b)
{
    struct wire_msg m = {.type = WIRE_ATTACH}, reply;
    m.attach = (struct wire_attach){
        .req = 1, .sid = a, .mode = WIRE_MODE_READ_ONLY, .from_kind = WIRE_FROM_LIVE};
    if (client_call(probe, &m, WIRE_ATTACHED, &reply) < 0)
        die("probe attach: %s", client_strerror(probe));
    m.attach.req = 2;
    m.attach.sid = b;
    int rc = client_call(probe, &m, WIRE_ATTACHED, &reply);
    if (rc < 0 && client_error_code(probe) != WIRE_ERR_LIMIT)
        die("probe attach: %s", client_strerror(probe));
    struct wire_msg d = {.type = WIRE_DETACH};
    d.detach = (struct wire_detach){3, a};
    if (client_call(probe, &d, WIRE_OK, &reply) < 0)
        die("probe detach: %s", client_strerror(probe));
    if (rc == 0) {
        d.detach = (struct wire_detach){4, b};
        if (client_call(probe, &d, WIRE_OK, &reply) < 0)
            die("probe detach: %s", client_strerror(probe));
    }
    return rc == 0;
}

/* Creates n flooding sessions on the reactor of session `near` (same = true, on the
 * control connection) or on another reactor (a fresh connection per try: connections
 * are spread over the reactors round-robin), and returns their ids in sids. */
static bool create_flooders(const char *sock, client *ctl, client *probe, uint32_t near, bool same,
                            int n, const char *const *fargv, size_t fargc, uint32_t *sids)
{
    for (int tries = 0; tries < 8; tries++) {
        client *c = same ? ctl : connect_or_die(sock);
        uint32_t first = create_blocking(c, 50, fargv, fargc);
        bool ok = same_reactor(probe, near, first) == same;
        if (ok) {
            sids[0] = first;
            for (int i = 1; i < n; i++)
                sids[i] = create_blocking(c, (uint32_t)(50 + i), fargv, fargc);
        } else {
            struct wire_msg s = {.type = WIRE_SIGNAL}, reply;
            s.signal = (struct wire_signal){.req = 99, .sid = first, .signo = 9};
            client_call(c, &s, WIRE_OK, &reply);
        }
        if (c != ctl)
            client_free(c);
        if (ok)
            return true;
        if (same)
            die("a session created on the control connection is on another reactor");
    }
    /* Since sessions on other reactors are reached through relays, an attach no longer
     * tells reactors apart (the probe says "same" every time), and a single-reactor
     * daemon (the default on 2 cores) has no other reactor: the diagnostic is skipped. */
    return false;
}

/* Starts the lossless flood reader in a child process and waits until it is attached. */
static pid_t start_reader(const char *sock, const uint32_t *sids, int n, struct flood_shared *sh)
{
    memset(sh, 0, sizeof *sh);
    fflush(stdout);
    pid_t reader = fork();
    if (reader < 0)
        die("fork: %s", strerror(errno));
    if (reader == 0)
        _exit(flood_reader(sock, sids, n, sh));
    double deadline = now_s() + 10;
    while (!atomic_load(&sh->ready) && now_s() < deadline)
        gap_sleep(1000);
    if (!atomic_load(&sh->ready))
        die("the flood reader did not attach within 10 s");
    gap_sleep(300 * 1000); /* let the flood reach its steady state */
    return reader;
}

/* Stops the reader and the flooding sessions; returns false if the reader saw a loss. */
static bool stop_flood(client *ctl, pid_t reader, struct flood_shared *sh, const uint32_t *sids,
                       int n, const char *phase)
{
    atomic_store(&sh->stop, 1);
    int rstatus;
    waitpid(reader, &rstatus, 0);
    printf("flood_reader phase=%s status=%d gaps=%ld disorder=%ld total_mb=%.1f\n", phase,
           WIFEXITED(rstatus) ? WEXITSTATUS(rstatus) : -1, atomic_load(&sh->gaps),
           atomic_load(&sh->disorder), (double)atomic_load(&sh->bytes) / 1e6);
    for (int i = 0; i < n; i++) {
        struct wire_msg s = {.type = WIRE_SIGNAL}, reply;
        s.signal = (struct wire_signal){.req = (uint32_t)(100 + i), .sid = sids[i], .signo = 9};
        if (client_call(ctl, &s, WIRE_OK, &reply) < 0)
            die("signal: %s", client_strerror(ctl));
    }
    return WIFEXITED(rstatus) && WEXITSTATUS(rstatus) == 0 && atomic_load(&sh->gaps) == 0 &&
           atomic_load(&sh->disorder) == 0;
}

/* Measures one transport while the flood runs; prints the line with the flood's rate. */
static void measure_under_flood(struct kbd *k, const char *what, const char *phase, int keys,
                                int gap_us, struct lat *l, struct flood_shared *sh)
{
    phase_begin(what, phase);
    uint64_t b0 = atomic_load(&sh->bytes);
    double t0 = now_s();
    kbd_measure(k, keys, gap_us, l);
    double mbps = (double)(atomic_load(&sh->bytes) - b0) / (now_s() - t0) / 1e6;
    lat_print(what, phase, l, mbps);
}

/* fair SOCK KEYS FLOODERS GAP_US [other] [-- FLOOD_CMD...]: keystroke echo latency of a
 * session running cat, through ptyhub and on a raw PTY (no daemon), first idle, then
 * while FLOODERS sessions run FLOOD_CMD (default `yes`) on the same reactor as the cat
 * session and one lossless client reads them all. With `other`, one more ptyhub phase
 * puts the flood on another reactor (a diagnostic: CPU contention without sharing). */
static int cmd_fair(int argc, char **argv)
{
    if (argc < 4)
        die("usage: fair SOCK KEYS FLOODERS GAP_US [other] [-- FLOOD_CMD...]");
    const char *sock = argv[0];
    int keys = atoi(argv[1]), nflood = atoi(argv[2]), gap_us = atoi(argv[3]);
    bool other = argc > 4 && strcmp(argv[4], "other") == 0;
    static const char *const yes_argv[] = {"yes"};
    const char *const *fargv = yes_argv;
    size_t fargc = 1;
    for (int i = 4; i < argc; i++)
        if (strcmp(argv[i], "--") == 0 && i + 1 < argc) {
            fargv = (const char *const *)&argv[i + 1];
            fargc = (size_t)(argc - i - 1);
        }
    if (nflood < 1 || nflood > 64)
        die("1 to 64 flooders");
    struct lat l = {calloc((size_t)keys + 64, sizeof(double)), 0};

    /* Sessions created on one connection live on its reactor; the other connections are
     * handed over to that reactor when they attach. */
    client *ctl = connect_or_die(sock);
    static const char *const cat_argv[] = {"cat"};
    uint32_t cat_sid = create_blocking(ctl, 1, cat_argv, 1);
    client *probe = connect_or_die(sock);

    struct kbd *hub = calloc(1, sizeof *hub);
    hub->c = connect_or_die(sock);
    hub->sid = cat_sid;
    struct wire_msg a = {.type = WIRE_ATTACH}, reply;
    a.attach = (struct wire_attach){
        .req = 1, .sid = cat_sid, .mode = WIRE_MODE_INTERACTIVE, .from_kind = WIRE_FROM_LIVE};
    if (client_call(hub->c, &a, WIRE_ATTACHED, &reply) < 0)
        die("attach: %s", client_strerror(hub->c));

    pid_t cat_pid;
    struct kbd *raw = calloc(1, sizeof *raw);
    raw->master = raw_pty_cat(&cat_pid);

    /* Warm up both paths, then measure idle. */
    kbd_measure(hub, 64, gap_us, &l);
    kbd_measure(raw, 64, gap_us, &l);
    phase_begin("ptyhub", "idle");
    kbd_measure(hub, keys, gap_us, &l);
    lat_print("ptyhub", "idle", &l, 0);
    phase_begin("rawpty", "idle");
    kbd_measure(raw, keys, gap_us, &l);
    lat_print("rawpty", "idle", &l, 0);

    struct flood_shared *sh =
        mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    uint32_t fsids[64];
    create_flooders(sock, ctl, probe, cat_sid, true, nflood, fargv, fargc, fsids);
    pid_t reader = start_reader(sock, fsids, nflood, sh);
    measure_under_flood(hub, "ptyhub", "flood", keys, gap_us, &l, sh);
    measure_under_flood(raw, "rawpty", "flood", keys, gap_us, &l, sh);
    bool ok = stop_flood(ctl, reader, sh, fsids, nflood, "flood");

    if (other && !create_flooders(sock, ctl, probe, cat_sid, false, nflood, fargv, fargc, fsids))
        fprintf(stderr, "ss_client: the flood could not be put on another reactor (one reactor, "
                        "or relays hide which): diagnostic skipped\n");
    else if (other) {
        reader = start_reader(sock, fsids, nflood, sh);
        measure_under_flood(hub, "ptyhub", "flood_other_reactor", keys, gap_us, &l, sh);
        ok &= stop_flood(ctl, reader, sh, fsids, nflood, "flood_other_reactor");
    }

    int status;
    kill(cat_pid, SIGKILL);
    waitpid(cat_pid, &status, 0);
    close(raw->master);
    client_free(hub->c);
    client_free(probe);
    client_free(ctl);
    free(hub);
    free(raw);
    free(l.v);
    munmap(sh, sizeof *sh);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        printf("ss_client: a helper of bench/sessions.py; nothing to run alone\n");
        return 0;
    }
    const char *cmd = argv[1];
    argc -= 2;
    argv += 2;
    if (!strcmp(cmd, "spawn"))
        return cmd_spawn(argc, argv);
    if (!strcmp(cmd, "create"))
        return cmd_create(argc, argv);
    if (!strcmp(cmd, "echo"))
        return cmd_echo(argc, argv);
    if (!strcmp(cmd, "count"))
        return cmd_count(argc, argv);
    if (!strcmp(cmd, "run"))
        return cmd_run(argc, argv);
    if (!strcmp(cmd, "fair"))
        return cmd_fair(argc, argv);
    die("unknown subcommand %s", cmd);
}
