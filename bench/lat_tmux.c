/* lat_tmux: keystroke echo latency, idle and under output floods, against tmux in control
 * mode (issue 8), for bench/latency.py. The same measurement as lat_client (same probe,
 * floods, phases and output line), with tmux's server in the place of ptyhub's daemon.
 *
 * A private tmux server (`-S` socket in a fresh 0700 directory, `-f /dev/null`) is
 * started by the first control client: `tmux -C new-session -x 80 -y 24 cat`. We speak
 * control mode over two pipes per client (tmux -C works on pipes; -CC is for a tty: it
 * turns the tty's echo off and uses it both ways). Since tmux 3.2 the client hands its stdin and
 * stdout to the server (MSG_IDENTIFY_STDIN/STDOUT), so the server reads our commands and writes
 * `%output` straight into our pipes: the `tmux -C` client process is not a relay (its CPU
 * is printed as tmux_clients_cpu_s to show that).
 *
 * - Probe: the pane running `cat` on a cooked tty. A keystroke is `send-keys -t %P -l X`
 *   written to the control client's stdin; the sample is the time until the tty's echo of
 *   X arrives in a `%output %P` line (octal escapes decoded). Every 32 keystrokes a newline
 *   (`send-keys -H 0a`, untimed) ends the line and the echoed line plus cat's copy of it
 *   are checked, as lat_client does.
 * - Floods: N panes running `sh -c 'stty raw -echo; exec yes'`, read as fast as the loop
 *   can; their decoded %output bytes are counted, and every byte is checked to continue
 *   the `y\n` pattern (a lost chunk of odd length shows up as a mismatch).
 * - Arrangement (--clients): `one` (default) is how tmux control mode is meant to be
 *   driven (iTerm2 does this): one control client attached to one session, the floods are
 *   `new-window`s of that session, so all output shares one pipe. `per-session` gives every
 *   flood its own session (`new-session -d` from the probe's client) and its own client
 *   (`tmux -C attach`), one pipe each like ptyhub's one WebSocket per session — but then
 *   tmux's flow control does not hold the floods back (below), and Debian's tmux 3.3a
 *   server segfaults within seconds with 8 such clients on flooding sessions (a plain
 *   shell loop of `tmux -C attach > /dev/null` does it too): kept for newer tmux only.
 *
 * Flow control (tmux 3.3, control.c / server-client.c): pause-after is NOT set, so tmux
 * never pauses a pane or drops output (%pause / %extended-output do not occur; we fail if
 * they do) — the lossless mode, like ptyhub's interactive attach. In that mode a pane stops
 * being read while every attached client is a control client with >= 512 bytes
 * (CONTROL_BUFFER_LOW) unwritten; a client that falls 300 s behind is disconnected. With
 * `--clients one` that is real backpressure: a slow reader blocks `yes` in write(). With
 * `per-session` the other sessions' clients never see the pane, which counts as "able to
 * consume" (control_pane_offset returns off = 0), so tmux reads every pane as fast as it
 * can and queues what we have not read yet without bound.
 *
 * `set -g status off` makes the pane the whole 80x24 window (checked). At the end
 * `kill-server`; we reap our clients and wait for the server's pid to go (SIGKILL after
 * 5 s), then remove the socket directory. If we die without that (SIGKILL), a watchdog
 * child does it: tmux would not clean up by itself, because a control client whose stdout
 * reader is gone never finishes its output, and the server (even after kill-server) waits
 * for it forever. Only processes we started (the clients, the server they started, the
 * watchdog) are ever signalled, by pid.
 *
 * One line per phase on stdout, as lat_client's (target=tmux); daemon_cpu_s is the tmux
 * server's utime+stime (its pid from `display -p '#{pid}'`). Run with no arguments (as
 * `make bench` does for every helper) it says what it is for and exits 0.
 *
 * usage: lat_tmux [--floods N] [--keys K] [--gap-us G] [--warmup-ms W]
 *                 [--clients one|per-session] [--dir D] [--target NAME] */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define LT_READ (128u * 1024) /* one read of a control pipe takes at most this much */
#define LT_HEAD 1024          /* a non-%output line longer than this is skipped */
#define LT_MAX_FLOODS 256
#define LT_MAX_KEYS 1000000
#define LT_MAX_PANE_ID 65536
#define LT_REPLIES 1024 /* commands in flight per client */
#define LT_ECHO_TIMEOUT 5.0
#define LT_SETUP_TIMEOUT 20.0
#define LT_LINE 32
#define FLOOD_CMD "stty raw -echo; exec yes"

/* What the reply to a command we sent is for. */
enum reply { R_NONE, R_INFO, R_NEWWIN, R_NEWSESS };

/* One `tmux -C` client: its pid, our ends of its stdin and stdout, the line parser. */
struct ctl {
    unsigned idx;
    pid_t pid;
    int wfd, rfd;
    bool eof;
    bool asked; /* the display command has been sent */
    /* parser: a line head being collected, or the data of a %output line being decoded */
    bool in_data, skip_line;
    char head[LT_HEAD];
    size_t hlen;
    int pane; /* the pane index of the %output line being decoded */
    int esc;  /* octal digits of an escape seen so far, -1 when not in one */
    unsigned escv;
    /* command replies: %begin ... %end|%error blocks with flags bit 0 set are ours */
    bool in_block, block_ours;
    char body[LT_HEAD]; /* the first body line of the block */
    struct {
        enum reply kind;
        unsigned arg;
    } q[LT_REPLIES];
    unsigned qh, qt;
};

/* A pane we measure: index 0 the probe, 1..N the floods. */
struct pane {
    int id; /* tmux's pane id (%ID), -1 until known */
    uint64_t bytes;
    bool nl_next; /* flood: the next byte must be '\n' (else 'y') */
    bool delivering;
};

enum phase { PH_SETUP, PH_IDLE, PH_FLOOD_START, PH_WARM, PH_FLOOD, PH_END, PH_DONE };
enum pstate { PS_GAP, PS_KEY, PS_LINE };

static struct {
    /* options */
    unsigned nfloods;
    int keys, gap_us, warmup_ms;
    bool per_session;
    const char *target;
    char dir[256], sock[300];
    bool own_dir;
    /* state */
    int ep, tfd;
    struct ctl *c; /* c[0] the probe's client; per-session: c[k] flood k's */
    unsigned nctl;
    struct pane *p;
    int16_t pane_of[LT_MAX_PANE_ID]; /* tmux pane id -> index in p, -1 unknown */
    pid_t server_pid;
    enum phase phase;
    enum pstate ps;
    unsigned nattached, nfirst;
    int key_i;
    char key_ch;
    char line[LT_LINE + 1];
    int ll;
    double t_key, t_progress;
    char pend[65536];
    size_t plen;
    double *lat;
    int nlat;
    double ph_t0, ph_cpu0, ph_self0, ph_cli0;
    uint64_t ph_b0;
    uint8_t *buf;
} T;

static volatile sig_atomic_t interrupted;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* utime+stime of pid in seconds, or -1 when unknown. */
static double proc_cpu(pid_t pid)
{
    if (pid <= 0)
        return -1;
    char path[64], st[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, st, sizeof st - 1);
    close(fd);
    if (n <= 0)
        return -1;
    st[n] = '\0';
    char *p = strrchr(st, ')');
    if (!p)
        return -1;
    unsigned long long ut = 0, stt = 0;
    int f = 2;
    for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
        f++;
        if (f == 14)
            ut = strtoull(tok, NULL, 10);
        else if (f == 15) {
            stt = strtoull(tok, NULL, 10);
            break;
        }
    }
    return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU of all our tmux -C client processes. */
static double clients_cpu(void)
{
    double s = 0;
    for (unsigned i = 0; i < T.nctl; i++) {
        double c = proc_cpu(T.c[i].pid);
        if (c > 0)
            s += c;
    }
    return s;
}

/* Runs argv (a tmux command), its output to /dev/null, and waits for it; returns its exit
 * status or -1. */
static int run_wait(char *const *argv)
{
    pid_t pid;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e)
        return -1;
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Waits up to `secs` for pid (not our child) to be gone; SIGKILLs it after that. */
static bool pid_gone(pid_t pid, double secs)
{
    double t0 = now_s();
    while (kill(pid, 0) == 0 || errno != ESRCH) {
        if (now_s() - t0 > secs) {
            kill(pid, SIGKILL);
            return false;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return true;
}

/* Removes the socket (tmux leaves it behind) and the directory when we made it. */
static void remove_dir(void)
{
    if (T.sock[0])
        unlink(T.sock);
    if (T.own_dir && T.dir[0])
        rmdir(T.dir);
}

/* Ends the server (kill-server, then SIGKILL to its pid after 2 s if it is stuck) and
 * removes the socket directory. */
static void server_end(pid_t server)
{
    if (T.sock[0]) {
        char *argv[] = {"tmux", "-S", T.sock, "kill-server", NULL};
        run_wait(argv);
    }
    if (server > 0)
        pid_gone(server, 2.0);
    remove_dir();
}

/* The watchdog: a child that learns the server's pid through a pipe and, when the pipe
 * ends without the all-clear (pid 0), ends the server. Started before any tmux client, so
 * it holds none of their pipes. */
static struct {
    pid_t pid;
    int fd;
} W = {-1, -1};

static void watchdog_start(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return; /* no watchdog: the normal paths still clean up */
    W.pid = fork();
    if (W.pid < 0) {
        close(p[0]);
        close(p[1]);
        return;
    }
    if (W.pid == 0) {
        close(p[1]);
        signal(SIGINT, SIG_IGN); /* a Ctrl-C for the group is ours to handle, not its */
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        pid_t server = -1, v;
        while (read(p[0], &v, sizeof v) == (ssize_t)sizeof v)
            server = v;
        if (server != 0)
            server_end(server);
        _exit(0);
    }
    close(p[0]);
    W.fd = p[1];
}

/* Tells the watchdog the server's pid, or 0: all clean, nothing to do. */
static void watchdog_tell(pid_t server)
{
    if (W.fd >= 0 && write(W.fd, &server, sizeof server) != (ssize_t)sizeof server)
        fprintf(stderr, "lat_tmux: cannot reach the watchdog: %s\n", strerror(errno));
}

/* All clean: the watchdog goes without doing anything. */
static void watchdog_end(void)
{
    if (W.fd < 0)
        return;
    watchdog_tell(0);
    close(W.fd);
    W.fd = -1;
    while (waitpid(W.pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("lat_tmux: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    /* leave nothing behind: our clients, then the server (and with it every pane) */
    for (unsigned i = 0; T.c && i < T.nctl; i++)
        if (T.c[i].pid > 0) {
            kill(T.c[i].pid, SIGKILL);
            waitpid(T.c[i].pid, NULL, 0);
        }
    server_end(T.server_pid);
    watchdog_end();
    exit(1);
}

/* ---- control clients ------------------------------------------------------------------ */

/* Starts `tmux -S SOCK -f /dev/null -C ARGS...` with pipes for stdin and stdout. */
static void ctl_start(struct ctl *c, const char *const *args)
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
        die("pipe2: %s", strerror(errno));
    const char *argv[32] = {"tmux", "-S", T.sock, "-f", "/dev/null", "-C"};
    size_t n = 6;
    for (size_t i = 0; args[i]; i++) {
        if (n + 1 >= sizeof argv / sizeof *argv)
            die("too many arguments for tmux");
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    int e = posix_spawnp(&c->pid, "tmux", &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e)
        die("cannot start tmux: %s (is Debian's tmux installed? make bench installs it)",
            strerror(e));
    close(in[0]);
    close(out[1]);
    c->wfd = in[1];
    c->rfd = out[0];
    c->esc = -1;
    fcntl(c->rfd, F_SETFL, fcntl(c->rfd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(T.ep, EPOLL_CTL_ADD, c->rfd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
}

/* Sends one command line (no newline) and records what its reply is for. */
static void ctl_cmd(struct ctl *c, enum reply kind, unsigned arg, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void ctl_cmd(struct ctl *c, enum reply kind, unsigned arg, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line - 1)
        die("command too long");
    line[n++] = '\n';
    if (c->qt - c->qh == LT_REPLIES)
        die("client %u: %d commands without a reply", c->idx, LT_REPLIES);
    c->q[c->qt % LT_REPLIES].kind = kind;
    c->q[c->qt % LT_REPLIES].arg = arg;
    c->qt++;
    const char *p = line;
    while (n > 0) {
        /* the pipe is blocking and tmux reads commands at once: this does not stall */
        ssize_t w = write(c->wfd, p, (size_t)n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("client %u: write to tmux: %s", c->idx, w < 0 ? strerror(errno) : "closed");
        p += w;
        n -= (int)w;
    }
}

/* ---- the probe (as lat_client) ------------------------------------------------------- */

static void arm_timer(long us)
{
    struct itimerspec it = {.it_value = {us / 1000000, (us % 1000000) * 1000}};
    if (us <= 0)
        it.it_value.tv_nsec = 1; /* 0 would disarm */
    if (timerfd_settime(T.tfd, 0, &it, NULL) < 0)
        die("timerfd_settime: %s", strerror(errno));
}

static uint64_t flood_bytes(void)
{
    uint64_t b = 0;
    for (unsigned i = 1; i <= T.nfloods; i++)
        b += T.p[i].bytes;
    return b;
}

static void phase_begin(void)
{
    T.nlat = 0;
    T.key_i = 0;
    T.ll = 0;
    T.ph_t0 = now_s();
    T.ph_cpu0 = proc_cpu(T.server_pid);
    T.ph_cli0 = clients_cpu();
    T.ph_self0 = self_cpu();
    T.ph_b0 = flood_bytes();
    T.ps = PS_GAP;
    arm_timer(0);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void phase_end(const char *name)
{
    double t1 = now_s();
    double cpu1 = proc_cpu(T.server_pid);
    double cli1 = clients_cpu();
    double self1 = self_cpu();
    uint64_t b = flood_bytes() - T.ph_b0;
    qsort(T.lat, (size_t)T.nlat, sizeof *T.lat, cmp_double);
    double sum = 0;
    for (int i = 0; i < T.nlat; i++)
        sum += T.lat[i];
    int i99 = (int)(T.nlat * 0.99);
    if (i99 >= T.nlat)
        i99 = T.nlat - 1;
    double secs = t1 - T.ph_t0;
    double dcpu = T.ph_cpu0 >= 0 && cpu1 >= 0 ? cpu1 - T.ph_cpu0 : -1;
    printf("lat target=%s phase=%s n=%d p50_us=%.1f p99_us=%.1f max_us=%.1f mean_us=%.1f "
           "flood_mbps=%.1f flood_bytes=%llu seconds=%.3f daemon_cpu_s=%.3f client_cpu_s=%.3f "
           "daemon_pid=%d tmux_clients_cpu_s=%.3f clients=%s\n",
           T.target, name, T.nlat, T.lat[T.nlat / 2], T.lat[i99], T.lat[T.nlat - 1], sum / T.nlat,
           (double)b / secs / 1e6, (unsigned long long)b, secs, dcpu, self1 - T.ph_self0,
           (int)T.server_pid, cli1 - T.ph_cli0, T.per_session ? "per-session" : "one");
    fflush(stdout);
}

static void probe_send(const char *keys_cmd)
{
    ctl_cmd(&T.c[0], R_NONE, 0, "send-keys -t %%%d %s", T.p[0].id, keys_cmd);
}

static void flood_start(void);
static void end_start(void);

/* Called when the gap timer fires: types the next key of the phase, or ends the phase. */
static void probe_tick(void)
{
    if (T.key_i == T.keys) {
        if (T.phase == PH_IDLE) {
            phase_end("idle");
            flood_start();
        } else {
            phase_end("flood");
            end_start();
        }
        return;
    }
    T.key_ch = (char)('a' + T.key_i % 26);
    T.ps = PS_KEY;
    char cmd[8] = {'-', 'l', ' ', T.key_ch, '\0'};
    T.t_key = now_s();
    probe_send(cmd);
}

/* Consumes what the probe has echoed so far. */
static void probe_check(void)
{
    while (T.plen) {
        if (T.ps == PS_KEY) {
            double t1 = now_s();
            if (T.pend[0] != T.key_ch)
                die("echo mismatch: typed '%c', got 0x%02x", T.key_ch, (unsigned char)T.pend[0]);
            memmove(T.pend, T.pend + 1, --T.plen);
            T.lat[T.nlat++] = (t1 - T.t_key) * 1e6;
            T.line[T.ll++] = T.key_ch;
            T.key_i++;
            if (T.ll == LT_LINE || T.key_i == T.keys) {
                T.ps = PS_LINE;
                T.t_key = t1;
                probe_send("-H 0a");
                continue;
            }
            T.ps = PS_GAP;
            arm_timer(T.gap_us);
        } else if (T.ps == PS_LINE) {
            size_t want = (size_t)T.ll + 4;
            if (T.plen < want)
                return;
            char exp[LT_LINE + 4];
            memcpy(exp, "\r\n", 2);
            memcpy(exp + 2, T.line, (size_t)T.ll);
            memcpy(exp + 2 + T.ll, "\r\n", 2);
            if (memcmp(T.pend, exp, want) != 0)
                die("the probe did not echo the line and cat's copy of it as expected");
            memmove(T.pend, T.pend + want, T.plen - want);
            T.plen -= want;
            T.ll = 0;
            T.ps = PS_GAP;
            arm_timer(T.gap_us);
        } else {
            die("the probe produced %zu unexpected bytes (0x%02x...)", T.plen,
                (unsigned char)T.pend[0]);
        }
    }
}

static void all_attached_check(void)
{
    if (T.phase == PH_FLOOD_START && T.nattached == T.nfloods && T.nfirst == T.nfloods) {
        T.phase = PH_WARM;
        arm_timer((long)T.warmup_ms * 1000);
    }
}

/* ---- control mode parsing ------------------------------------------------------------ */

/* Registers tmux pane `id` as our pane index k. */
static void pane_set(unsigned k, long id)
{
    if (id < 0 || id >= LT_MAX_PANE_ID || T.pane_of[id] != -1 || T.p[k].id != -1)
        die("unexpected pane id %%%ld for pane %u", id, k);
    T.p[k].id = (int)id;
    T.pane_of[id] = (int16_t)k;
}

/* The reply (first body line) to a command of ours has arrived. */
static void on_reply(struct ctl *c, enum reply kind, unsigned arg, const char *body)
{
    switch (kind) {
    case R_NONE:
        return;
    case R_INFO: { /* display -p '#{pid} #{pane_id} #{pane_width}x#{pane_height}' */
        long pid, id;
        unsigned w, h;
        if (sscanf(body, "%ld %%%ld %ux%u", &pid, &id, &w, &h) != 4 || pid <= 0)
            die("client %u: unexpected display reply '%s'", c->idx, body);
        if (w != 80 || h != 24)
            die("client %u: pane is %ux%u, not 80x24", c->idx, w, h);
        if (T.p[arg].id != id)
            pane_set(arg, id); /* (a flood's pane may be known from its first output) */
        if (c->idx == 0) {
            T.server_pid = (pid_t)pid;
            watchdog_tell(T.server_pid);
            arm_timer(100000); /* give cat a moment to start before the first keystroke */
        } else {
            if ((pid_t)pid != T.server_pid)
                die("client %u talks to server %ld, not %d", c->idx, pid, (int)T.server_pid);
            T.nattached++;
            all_attached_check();
        }
        return;
    }
    case R_NEWSESS: { /* new-session -d: attach flood arg's own client to it */
        char name[32];
        snprintf(name, sizeof name, "=flood%u", arg);
        const char *args[] = {"attach-session", "-t", name, NULL};
        ctl_start(&T.c[arg], args);
        return;
    }
    case R_NEWWIN: { /* new-window -P -F '#{pane_id}' */
        long id;
        if (sscanf(body, "%%%ld", &id) != 1)
            die("unexpected new-window reply '%s'", body);
        pane_set(arg, id);
        T.nattached++;
        all_attached_check();
        return;
    }
    }
}

/* One complete line that is not %output. */
static void on_line(struct ctl *c, char *l)
{
    unsigned long t, num, flags;
    if (strncmp(l, "%begin ", 7) == 0 && !c->in_block) {
        if (sscanf(l + 7, "%lu %lu %lu", &t, &num, &flags) != 3)
            die("client %u: bad line '%s'", c->idx, l);
        c->in_block = true;
        c->block_ours = flags & 1; /* 0: the command-line command that started the client */
        c->body[0] = '\0';
        return;
    }
    bool end = strncmp(l, "%end ", 5) == 0, err = strncmp(l, "%error ", 7) == 0;
    if (c->in_block && (end || err)) {
        c->in_block = false;
        if (err)
            die("client %u: tmux: %s", c->idx, c->body);
        if (!c->block_ours)
            return;
        if (c->qh == c->qt)
            die("client %u: a reply to no command", c->idx);
        unsigned q = c->qh++ % LT_REPLIES;
        on_reply(c, c->q[q].kind, c->q[q].arg, c->body);
        return;
    }
    if (c->in_block) {
        if (!c->body[0])
            snprintf(c->body, sizeof c->body, "%s", l);
        return;
    }
    if (strncmp(l, "%pause", 6) == 0 || strncmp(l, "%extended-output", 16) == 0)
        die("client %u: '%.40s': tmux paused a pane (pause-after is not set)", c->idx, l);
    if (strncmp(l, "%session-changed ", 17) == 0 && !c->asked) {
        /* Only now: a command read from stdin before the client's own new-session ran
         * would see no session of its own and answer for another one. */
        c->asked = true;
        ctl_cmd(c, R_INFO, c->idx, "display -p '#{pid} #{pane_id} #{pane_width}x#{pane_height}'");
        return;
    }
    if (strncmp(l, "%exit", 5) == 0 && T.phase != PH_END)
        die("client %u: tmux ended the client: %s", c->idx, l);
    /* other notifications (%window-add, %session-changed, %layout-change...) */
}

/* The decoded byte b of pane k's output. */
static inline void pane_byte(unsigned k, uint8_t b)
{
    if (k == 0) {
        if (T.phase == PH_SETUP || T.phase == PH_END || T.phase == PH_DONE)
            return; /* cat is quiet then, and nothing is measured */
        if (T.plen == sizeof T.pend)
            die("too much unexpected output from the probe");
        T.pend[T.plen++] = (char)b;
        return;
    }
    struct pane *p = &T.p[k];
    if (b != (p->nl_next ? '\n' : 'y') && T.phase != PH_END)
        die("flood %u: byte 0x%02x after %llu bytes breaks the y\\n pattern (lost output?)", k, b,
            (unsigned long long)p->bytes);
    p->nl_next = !p->nl_next;
    p->bytes++;
}

/* The head of a line so far is "%output %ID ": the data follows. */
static void output_begin(struct ctl *c)
{
    c->head[c->hlen] = '\0';
    long id = strtol(c->head + 9, NULL, 10);
    /* per-session: a flood client sees only its own pane, and its output may come before
     * the display reply that names it */
    if (c->idx > 0 && T.p[c->idx].id == -1)
        pane_set(c->idx, id);
    if (id < 0 || id >= LT_MAX_PANE_ID || T.pane_of[id] < 0)
        die("client %u: output of unknown pane %%%ld", c->idx, id);
    c->pane = T.pane_of[id];
    c->in_data = true;
    c->esc = -1;
    struct pane *p = &T.p[c->pane];
    if (c->pane > 0 && !p->delivering) {
        p->delivering = true;
        T.nfirst++;
        all_attached_check();
    }
}

/* Parses what client c wrote: lines, and %output data decoded as it streams. */
static void ctl_parse(struct ctl *c, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t x = b[i];
        if (c->in_data) {
            if (x == '\n') {
                if (c->esc != -1)
                    die("client %u: %%output line ends inside an escape", c->idx);
                c->in_data = false;
                c->hlen = 0;
                if (c->pane == 0)
                    probe_check();
            } else if (c->esc >= 0) {
                if (x < '0' || x > '7')
                    die("client %u: bad octal escape in %%output", c->idx);
                c->escv = c->escv * 8 + (unsigned)(x - '0');
                if (++c->esc == 3) {
                    pane_byte((unsigned)c->pane, (uint8_t)c->escv);
                    c->esc = -1;
                }
            } else if (x == '\\') {
                c->esc = 0;
                c->escv = 0;
            } else {
                pane_byte((unsigned)c->pane, x);
            }
            continue;
        }
        if (x == '\n') {
            if (!c->skip_line) {
                c->head[c->hlen] = '\0';
                on_line(c, c->head);
            }
            c->skip_line = false;
            c->hlen = 0;
            continue;
        }
        if (c->skip_line)
            continue;
        if (c->hlen == sizeof c->head - 1) {
            c->skip_line = true; /* a long notification we do not need */
            continue;
        }
        c->head[c->hlen++] = (char)x;
        if (x == ' ' && c->hlen > 10 && memcmp(c->head, "%output %", 9) == 0 &&
            memchr(c->head + 9, ' ', c->hlen - 10) == NULL)
            output_begin(c);
    }
}

/* One read of client c's stdout. Returns false when nothing was there. */
static bool ctl_read(struct ctl *c)
{
    if (c->eof)
        return false;
    ssize_t n = read(c->rfd, T.buf, LT_READ);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return false;
    if (n < 0)
        die("client %u: read: %s", c->idx, strerror(errno));
    if (n == 0) {
        if (T.phase != PH_END)
            die("client %u: tmux closed the control stream", c->idx);
        c->eof = true;
        epoll_ctl(T.ep, EPOLL_CTL_DEL, c->rfd, NULL);
        close(c->rfd);
        c->rfd = -1;
        return false;
    }
    ctl_parse(c, T.buf, (size_t)n);
    return true;
}

/* ---- phases -------------------------------------------------------------------------- */

/* Starts the floods: new windows of the probe's session, or sessions with own clients. */
static void flood_start(void)
{
    T.phase = PH_FLOOD_START;
    T.t_progress = now_s();
    for (unsigned k = 1; k <= T.nfloods; k++) {
        if (!T.per_session) {
            ctl_cmd(&T.c[0], R_NEWWIN, k, "new-window -d -P -F '#{pane_id}' sh -c '" FLOOD_CMD "'");
            continue;
        }
        /* the session is made by the probe's client and then attached to: a client that
         * may start a server itself (new-session) could race another one into existence */
        ctl_cmd(&T.c[0], R_NEWSESS, k,
                "new-session -d -s flood%u -x 80 -y 24 sh -c '" FLOOD_CMD "'", k);
    }
}

/* Ends the server; the clients see %exit and end. */
static void end_start(void)
{
    T.phase = PH_END;
    T.t_progress = now_s();
    ctl_cmd(&T.c[0], R_NONE, 0, "kill-server");
}

/* After every client's stream ended: reap them, wait for the server to go. */
static void end_finish(void)
{
    for (unsigned i = 0; i < T.nctl; i++) {
        struct ctl *c = &T.c[i];
        if (c->pid <= 0)
            continue;
        close(c->wfd);
        int st;
        while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
            ;
        c->pid = 0;
    }
    if (!pid_gone(T.server_pid, 5.0))
        fprintf(stderr, "lat_tmux: the tmux server outlived kill-server by 5 s; killed\n");
    remove_dir();
    watchdog_end();
    T.phase = PH_DONE;
}

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static bool args(int argc, char **argv)
{
    T.nfloods = 8;
    T.keys = 2000;
    T.gap_us = 500;
    T.warmup_ms = 500;
    T.target = "tmux";
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            return false;
        const char *a = argv[i], *v = argv[++i];
        char *end;
        long n = strtol(v, &end, 10);
        bool num = *v && !*end;
        if (strcmp(a, "--target") == 0)
            T.target = v;
        else if (strcmp(a, "--clients") == 0 && strcmp(v, "one") == 0)
            T.per_session = false;
        else if (strcmp(a, "--clients") == 0 && strcmp(v, "per-session") == 0)
            T.per_session = true;
        else if (strcmp(a, "--dir") == 0 && strlen(v) < sizeof T.dir)
            snprintf(T.dir, sizeof T.dir, "%s", v);
        else if (strcmp(a, "--floods") == 0 && num && n >= 1 && n <= LT_MAX_FLOODS)
            T.nfloods = (unsigned)n;
        else if (strcmp(a, "--keys") == 0 && num && n >= 1 && n <= LT_MAX_KEYS)
            T.keys = (int)n;
        else if (strcmp(a, "--gap-us") == 0 && num && n >= 0 && n <= 10000000)
            T.gap_us = (int)n;
        else if (strcmp(a, "--warmup-ms") == 0 && num && n >= 0 && n <= 60000)
            T.warmup_ms = (int)n;
        else
            return false;
    }
    return true;
}

#define USAGE                                                                                      \
    "lat_tmux [--floods N] [--keys K] [--gap-us G] [--warmup-ms W] "                               \
    "[--clients one|per-session] [--dir D] [--target NAME]"

int main(int argc, char **argv)
{
    if (argc < 2) {
        printf("lat_tmux: helper of bench/latency.py (usage: " USAGE "); nothing to do\n");
        return 0;
    }
    if (!args(argc, argv)) {
        fprintf(stderr, "usage: " USAGE "\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    unsetenv("TMUX"); /* a benchmark run from inside tmux must not look nested */
    if (!T.dir[0]) {
        snprintf(T.dir, sizeof T.dir, "%s/ptyhub-lat-tmux.XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(T.dir))
            die("mkdtemp %s: %s", T.dir, strerror(errno));
        T.own_dir = true;
    }
    snprintf(T.sock, sizeof T.sock, "%s/sock", T.dir);
    T.nctl = T.per_session ? T.nfloods + 1 : 1;
    T.c = calloc(T.nctl, sizeof *T.c);
    T.p = calloc(T.nfloods + 1, sizeof *T.p);
    T.lat = calloc((size_t)T.keys, sizeof *T.lat);
    T.buf = malloc(LT_READ);
    if (!T.c || !T.p || !T.lat || !T.buf)
        die("out of memory");
    memset(T.pane_of, 0xff, sizeof T.pane_of);
    for (unsigned k = 0; k <= T.nfloods; k++)
        T.p[k].id = -1;
    for (unsigned i = 0; i < T.nctl; i++) {
        T.c[i].idx = i;
        T.c[i].rfd = T.c[i].wfd = -1;
    }
    T.ep = epoll_create1(EPOLL_CLOEXEC);
    T.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (T.ep < 0 || T.tfd < 0)
        die("epoll/timerfd: %s", strerror(errno));
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(T.ep, EPOLL_CTL_ADD, T.tfd, &tev) < 0)
        die("epoll_ctl: %s", strerror(errno));
    T.server_pid = -1;
    T.phase = PH_SETUP;
    T.t_progress = now_s();

    /* The probe's client starts the server; the options follow new-session in the same
     * command line, before anything is read from the pane. */
    struct ctl *probe = &T.c[0];
    const char *args0[] = {"new-session", "-s", "probe", "-x", "80",     "-y",  "24",
                           "cat",         ";",  "set",   "-g", "status", "off", NULL};
    watchdog_start();
    ctl_start(probe, args0);

    struct epoll_event evs[LT_MAX_FLOODS + 3];
    while (T.phase != PH_DONE) {
        int n = epoll_wait(T.ep, evs, (int)(T.nctl + 1), 200);
        if (interrupted)
            die("interrupted");
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("epoll_wait: %s", strerror(errno));
        double t = now_s();
        if ((T.ps == PS_KEY || T.ps == PS_LINE) && (T.phase == PH_IDLE || T.phase == PH_FLOOD) &&
            t - T.t_key > LT_ECHO_TIMEOUT)
            die("no echo within %.0f s (keystroke %d of phase %s)", LT_ECHO_TIMEOUT, T.key_i,
                T.phase == PH_IDLE ? "idle" : "flood");
        if ((T.phase == PH_SETUP || T.phase == PH_FLOOD_START || T.phase == PH_END) &&
            t - T.t_progress > LT_SETUP_TIMEOUT)
            die("stuck in %s for %.0f s (%u floods attached, %u delivering)",
                T.phase == PH_SETUP ? "setup"
                : T.phase == PH_END ? "shutdown"
                                    : "flood start",
                LT_SETUP_TIMEOUT, T.nattached, T.nfirst);
        /* the probe's client first, then the timer, then the floods' clients */
        bool timer = false;
        for (int k = 0; k < n; k++) {
            if (evs[k].data.ptr == probe)
                ctl_read(probe);
            else if (evs[k].data.ptr == NULL)
                timer = true;
        }
        uint64_t exp;
        if (timer && read(T.tfd, &exp, sizeof exp) == (ssize_t)sizeof exp) {
            switch (T.phase) {
            case PH_SETUP:
                T.phase = PH_IDLE;
                phase_begin();
                break;
            case PH_WARM:
                T.phase = PH_FLOOD;
                phase_begin();
                break;
            case PH_IDLE:
            case PH_FLOOD:
                if (T.ps == PS_GAP)
                    probe_tick();
                break;
            default:
                break;
            }
        }
        for (int k = 0; k < n && T.phase != PH_DONE; k++) {
            struct ctl *c = evs[k].data.ptr;
            if (c == NULL || c == probe)
                continue;
            ctl_read(c);
            /* a keystroke's echo must not wait behind the other floods' reads */
            if (T.ps == PS_KEY || T.ps == PS_LINE)
                while (ctl_read(probe))
                    ;
        }
        if (T.phase == PH_END) {
            bool all = true;
            for (unsigned i = 0; i < T.nctl; i++)
                all = all && (T.c[i].eof || T.c[i].pid <= 0);
            if (all)
                end_finish();
        }
    }
    close(T.tfd);
    close(T.ep);
    free(T.buf);
    free(T.lat);
    free(T.p);
    free(T.c);
    return 0;
}
