/* lat_client: keystroke echo latency, idle and under output floods (issue 8), for
 * bench/latency.py.
 *
 * One epoll loop. Mode `ws` talks to a daemon's GET /ws (raw TCP, RFC 6455 opening
 * handshake with Sec-WebSocket-Accept checked, HELLO flags 0, so no ACK pacing): it opens
 * N+1 WebSocket connections. Connection 0 CREATEs the probe session, plain `cat` on a
 * cooked tty, and ATTACHes to it interactively from the live edge. Each of the other N
 * connections CREATEs one flood session, `sh -c 'stty raw -echo; exec yes'`, and ATTACHes
 * to it interactively from the live edge (lossless: a slow reader holds the producer
 * back), then reads it as fast as it can, counting OUTPUT payload bytes in place.
 *
 * Mode `raw` is the same arrangement without a daemon: the client opens the PTYs itself
 * (posix_openpt + TIOCGPTPEER, the child in its own session with the slave as its
 * controlling tty, as bench/tp_rawpty.c does), reads the floods' masters and types into
 * the probe's master: the machine's floor.
 *
 * Phases: `idle` (no flood yet) and `flood` (after the N floods are attached, each has
 * delivered output, and a warm-up has passed). In each, K keystrokes: one printable byte,
 * timed from sending it (INPUT) to receiving the OUTPUT that holds the tty's echo of it;
 * the next one G microseconds after the echo arrived. Every 32 keystrokes a newline ends
 * the line (untimed) and the client waits for its echo and cat's copy of the line, so the
 * cooked line never fills up. Every byte the probe echoes is checked.
 *
 * One line per phase on stdout:
 *   lat target=NAME phase=idle|flood n=K p50_us= p99_us= max_us= mean_us= flood_mbps=
 *       flood_bytes= seconds= daemon_cpu_s= client_cpu_s=
 * flood_mbps is the bytes all flood connections received during the phase over the phase's
 * time (MB = 10^6 bytes). daemon_cpu_s is the daemon's utime+stime (/proc/PID/stat, the pid
 * from WELCOME, printed as daemon_pid) over the phase, -1 in raw mode.
 *
 * Every OUTPUT must continue where the previous one of its session ended (no GAP on these
 * interactive attachments); an ERROR, a bad frame, a closed connection, an echo that does
 * not match or does not come within 5 s is a failure: exit status 1. At the end every
 * session is killed (SIGNAL 0, waiting for its EXIT; raw: SIGKILL to the process group and
 * waitpid) and every descriptor closed. Run with no arguments (as `make bench` does for
 * every helper) it says what it is for and exits 0.
 *
 * usage: lat_client ws HOST:PORT [--floods N] [--keys K] [--gap-us G] [--warmup-ms W]
 *                                 [--target NAME]
 *        lat_client raw [the same options] */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "proto/wire.h"
#include "proto/ws_frame.h"
#include "proto/ws_handshake.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

#define LC_READ (128u * 1024)          /* one read of a flood takes at most this much */
#define LC_SMALL_BODY_MAX (64u * 1024) /* non-flood bodies we are willing to buffer */
#define LC_CARRY_MAX (WS_FRAME_HEADER_MAX + LC_SMALL_BODY_MAX)
#define LC_MAX_FLOODS 256
#define LC_MAX_KEYS 1000000
#define LC_ECHO_TIMEOUT 5.0   /* seconds for one echo (or line) to come back */
#define LC_SETUP_TIMEOUT 20.0 /* seconds for connecting, creating, attaching, ending */
#define LC_LINE 32            /* keystrokes per line */
#define LC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define FLOOD_CMD "stty raw -echo; exec yes"

enum role { ROLE_PROBE, ROLE_FLOOD };

struct conn {
    int fd;
    unsigned idx;
    enum role role;
    uint32_t sid;
    pid_t pid; /* raw mode: the child */
    bool created, attached, exited, ok_kill, delivering;
    uint64_t next;  /* offset the next OUTPUT must start at */
    uint64_t skip;  /* flood: payload bytes of the current OUTPUT still to come */
    uint64_t bytes; /* OUTPUT payload bytes received (flood) */
    uint8_t carry[LC_CARRY_MAX];
    size_t clen;
};

enum phase { PH_SETUP, PH_IDLE, PH_FLOOD_START, PH_WARM, PH_FLOOD, PH_END, PH_DONE };
enum pstate { PS_GAP, PS_KEY, PS_LINE };

struct lat {
    double *v;
    int n;
};

static struct {
    /* options */
    bool raw;
    const char *host;
    int port;
    unsigned nfloods;
    int keys, gap_us, warmup_ms;
    const char *target;
    /* state */
    int ep, tfd;
    struct conn *c; /* c[0] probe, c[1..nfloods] floods */
    pid_t daemon_pid;
    enum phase phase;
    enum pstate ps;
    unsigned ncreated, nattached, nfirst, nexited;
    int key_i;
    char key_ch;
    char line[LC_LINE + 1];
    int ll;
    double t_key;      /* when the pending keystroke (or newline) was sent */
    double t_progress; /* deadline base for the current wait */
    char pend[65536];  /* probe output not yet consumed */
    size_t plen;
    struct lat lat;
    /* phase accounting */
    double ph_t0, ph_cpu0, ph_self0;
    uint64_t ph_b0;
    uint8_t *buf;
} L;

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

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("lat_client: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    /* raw mode: do not leave floods running behind us */
    if (L.raw && L.c)
        for (unsigned i = 0; i <= L.nfloods; i++)
            if (L.c[i].pid > 0)
                kill(-L.c[i].pid, SIGKILL);
    exit(1);
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
    /* after ')': field 3 (state) ... utime is field 14, stime 15 */
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

/* ---- WebSocket transport ------------------------------------------------------------- */

static void write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (w <= 0)
            die("write to the daemon failed: %s", w < 0 ? strerror(errno) : "closed");
        p += w;
        n -= (size_t)w;
    }
}

static void send_frame(struct conn *c, int op, const uint8_t *p, size_t n)
{
    static uint8_t out[WS_FRAME_HEADER_MAX + 64 * 1024];
    if (n > sizeof out - WS_FRAME_HEADER_MAX)
        die("message too long to send");
    uint32_t r = (uint32_t)rand();
    uint8_t key[4] = {(uint8_t)r, (uint8_t)(r >> 8), (uint8_t)(r >> 16), (uint8_t)(r >> 24)};
    int h = ws_frame_header_encode(out, true, op, n, key);
    if (h < 0)
        die("cannot encode a frame header");
    memcpy(out + h, p, n);
    ws_unmask(out + h, n, key, 0);
    write_all(c->fd, out, (size_t)h + n);
}

static void send_msg(struct conn *c, const struct wire_msg *m)
{
    static uint8_t body[64 * 1024];
    size_t n = wire_encode(m, body, sizeof body, false);
    if (n == 0 || n > sizeof body)
        die("cannot encode a %s message", wire_type_name(m->type));
    send_frame(c, WS_OP_BINARY, body, n);
}

static const char *http_header(char *head, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (char *line = strstr(head, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            char *val = line + nl + 1;
            while (*val == ' ' || *val == '\t')
                val++;
            char *e = strstr(val, "\r\n");
            if (!e)
                return NULL;
            while (e > val && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            *len = (size_t)(e - val);
            return val;
        }
    }
    return NULL;
}

/* Connects c and completes the opening handshake; bytes after the 101 stay in c->carry. */
static void ws_connect(struct conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)L.port)};
    if (c->fd < 0 || inet_pton(AF_INET, L.host, &sa.sin_addr) != 1)
        die("bad address %s:%d (an IPv4 address is expected)", L.host, L.port);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("connect to %s:%d: %s", L.host, L.port, strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: " LC_KEY "\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     L.host, L.port);
    write_all(c->fd, (const uint8_t *)req, (size_t)n);
    char head[4096];
    size_t have = 0;
    char *eoh = NULL;
    while (!eoh) {
        if (have == sizeof head - 1)
            die("the upgrade response head is too long");
        ssize_t r = recv(c->fd, head + have, sizeof head - 1 - have, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die("the daemon closed the connection during the WebSocket handshake");
        have += (size_t)r;
        head[have] = '\0';
        eoh = strstr(head, "\r\n\r\n");
    }
    size_t hlen = (size_t)(eoh + 4 - head);
    if (strncmp(head, "HTTP/1.1 101", 12) != 0)
        die("upgrade refused: %.*s", (int)(strcspn(head, "\r\n")), head);
    char want[WS_ACCEPT_KEY_LEN + 1];
    size_t alen = 0;
    eoh[2] = '\0';
    const char *acc = http_header(head, "Sec-WebSocket-Accept", &alen);
    if (ws_accept_key(LC_KEY, strlen(LC_KEY), want) < 0 || !acc || alen != WS_ACCEPT_KEY_LEN ||
        memcmp(acc, want, alen) != 0)
        die("wrong or missing Sec-WebSocket-Accept in the 101 response");
    c->clen = have - hlen;
    memcpy(c->carry, head + hlen, c->clen);
    /* reads are non-blocking from here on (the loop drains the probe opportunistically) */
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
}

static void ws_create(struct conn *c, const char *const *argv, size_t argc)
{
    static uint8_t blk[4096];
    size_t alen = wire_block_pack(argv, argc, blk, sizeof blk);
    if (alen > sizeof blk)
        die("command too long");
    struct wire_msg m = {.type = WIRE_CREATE};
    m.create.req = 1;
    m.create.argv = (struct wire_block){blk, alen, (uint16_t)argc};
    send_msg(c, &m);
}

/* ---- the probe ----------------------------------------------------------------------- */

static void arm_timer(long us)
{
    struct itimerspec it = {.it_value = {us / 1000000, (us % 1000000) * 1000}};
    if (us <= 0)
        it.it_value.tv_nsec = 1; /* 0 would disarm */
    if (timerfd_settime(L.tfd, 0, &it, NULL) < 0)
        die("timerfd_settime: %s", strerror(errno));
}

static void probe_send(const char *p, size_t n)
{
    struct conn *c = &L.c[0];
    if (L.raw) {
        while (n) {
            ssize_t w = write(c->fd, p, n);
            if (w < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (w < 0)
                die("write to the probe's PTY: %s", strerror(errno));
            p += w;
            n -= (size_t)w;
        }
        return;
    }
    struct wire_msg m = {.type = WIRE_INPUT};
    m.input = (struct wire_input){c->sid, {(const uint8_t *)p, n}};
    send_msg(c, &m);
}

static void phase_begin(void)
{
    L.lat.n = 0;
    L.key_i = 0;
    L.ll = 0;
    L.ph_t0 = now_s();
    L.ph_cpu0 = proc_cpu(L.daemon_pid);
    L.ph_self0 = self_cpu();
    L.ph_b0 = 0;
    for (unsigned i = 1; i <= L.nfloods; i++)
        L.ph_b0 += L.c[i].bytes;
    L.ps = PS_GAP;
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
    double cpu1 = proc_cpu(L.daemon_pid);
    double self1 = self_cpu();
    uint64_t b1 = 0;
    for (unsigned i = 1; i <= L.nfloods; i++)
        b1 += L.c[i].bytes;
    struct lat *l = &L.lat;
    qsort(l->v, (size_t)l->n, sizeof *l->v, cmp_double);
    double sum = 0;
    for (int i = 0; i < l->n; i++)
        sum += l->v[i];
    int i99 = (int)(l->n * 0.99);
    if (i99 >= l->n)
        i99 = l->n - 1;
    double secs = t1 - L.ph_t0;
    double dcpu = L.ph_cpu0 >= 0 && cpu1 >= 0 ? cpu1 - L.ph_cpu0 : -1;
    printf("lat target=%s phase=%s n=%d p50_us=%.1f p99_us=%.1f max_us=%.1f mean_us=%.1f "
           "flood_mbps=%.1f flood_bytes=%llu seconds=%.3f daemon_cpu_s=%.3f client_cpu_s=%.3f "
           "daemon_pid=%d\n",
           L.target, name, l->n, l->v[l->n / 2], l->v[i99], l->v[l->n - 1], sum / l->n,
           (double)(b1 - L.ph_b0) / secs / 1e6, (unsigned long long)(b1 - L.ph_b0), secs, dcpu,
           self1 - L.ph_self0, (int)L.daemon_pid);
    fflush(stdout);
}

static void flood_start(void);
static void end_start(void);

/* Called when the gap timer fires: types the next key of the phase, or ends the phase. */
static void probe_tick(void)
{
    if (L.key_i == L.keys) {
        if (L.phase == PH_IDLE) {
            phase_end("idle");
            flood_start();
        } else {
            phase_end("flood");
            end_start();
        }
        return;
    }
    L.key_ch = (char)('a' + L.key_i % 26);
    L.ps = PS_KEY;
    L.t_key = now_s();
    probe_send(&L.key_ch, 1);
}

/* Consumes what the probe has echoed so far. */
static void probe_check(void)
{
    while (L.plen) {
        if (L.ps == PS_KEY) {
            double t1 = now_s();
            if (L.pend[0] != L.key_ch)
                die("echo mismatch: typed '%c', got 0x%02x", L.key_ch, (unsigned char)L.pend[0]);
            memmove(L.pend, L.pend + 1, --L.plen);
            L.lat.v[L.lat.n++] = (t1 - L.t_key) * 1e6;
            L.line[L.ll++] = L.key_ch;
            L.key_i++;
            if (L.ll == LC_LINE || L.key_i == L.keys) {
                L.ps = PS_LINE;
                L.t_key = t1;
                probe_send("\n", 1);
                continue;
            }
            L.ps = PS_GAP;
            arm_timer(L.gap_us);
        } else if (L.ps == PS_LINE) {
            size_t want = (size_t)L.ll + 4;
            if (L.plen < want)
                return;
            char exp[LC_LINE + 4];
            memcpy(exp, "\r\n", 2);
            memcpy(exp + 2, L.line, (size_t)L.ll);
            memcpy(exp + 2 + L.ll, "\r\n", 2);
            if (memcmp(L.pend, exp, want) != 0)
                die("the probe did not echo the line and cat's copy of it as expected");
            memmove(L.pend, L.pend + want, L.plen - want);
            L.plen -= want;
            L.ll = 0;
            L.ps = PS_GAP;
            arm_timer(L.gap_us);
        } else {
            die("the probe produced %zu unexpected bytes (0x%02x...)", L.plen,
                (unsigned char)L.pend[0]);
        }
    }
}

static void probe_output(const uint8_t *p, size_t n)
{
    if (L.phase != PH_IDLE && L.phase != PH_FLOOD && L.phase != PH_WARM &&
        L.phase != PH_FLOOD_START)
        return; /* setup and shutdown: cat is quiet, and nothing is measured */
    if (L.plen + n > sizeof L.pend)
        die("too much unexpected output from the probe");
    memcpy(L.pend + L.plen, p, n);
    L.plen += n;
    probe_check();
}

/* ---- messages ------------------------------------------------------------------------ */

static void all_attached_check(void)
{
    if (L.phase == PH_FLOOD_START && L.nattached == L.nfloods && L.nfirst == L.nfloods) {
        L.phase = PH_WARM;
        arm_timer((long)L.warmup_ms * 1000);
    }
}

static void on_message(struct conn *c, const uint8_t *body, size_t len)
{
    struct wire_msg m;
    int rc = wire_decode(body, len, &m);
    if (rc == -ENOTSUP)
        return; /* clients ignore server messages they do not know */
    if (rc < 0)
        die("connection %u: malformed message from the daemon", c->idx);
    switch (m.type) {
    case WIRE_WELCOME:
        if (m.welcome.server_pid > 0)
            L.daemon_pid = (pid_t)m.welcome.server_pid;
        break;
    case WIRE_CREATED: {
        if (c->created || m.created.req != 1)
            die("connection %u: unexpected CREATED", c->idx);
        c->created = true;
        c->sid = m.created.sid;
        L.ncreated++;
        struct wire_msg a = {.type = WIRE_ATTACH};
        a.attach = (struct wire_attach){
            .req = 2, .sid = c->sid, .mode = WIRE_MODE_INTERACTIVE, .from_kind = WIRE_FROM_LIVE};
        send_msg(c, &a);
        break;
    }
    case WIRE_ATTACHED:
        if (c->attached || m.attached.req != 2 || m.attached.sid != c->sid)
            die("connection %u: unexpected ATTACHED", c->idx);
        if (m.attached.state != WIRE_STATE_RUNNING)
            die("connection %u: session %u has already exited", c->idx, c->sid);
        c->attached = true;
        c->next = m.attached.end;
        if (c->role == ROLE_PROBE) {
            /* give cat a moment to start before the first keystroke */
            arm_timer(100000);
        } else {
            L.nattached++;
            all_attached_check();
        }
        break;
    case WIRE_OK:
        if (m.ok.req != 3 || L.phase != PH_END)
            die("connection %u: unexpected OK (req %u)", c->idx, m.ok.req);
        c->ok_kill = true;
        break;
    case WIRE_GAP:
        die("connection %u: GAP [%llu, %llu) on an interactive attachment", c->idx,
            (unsigned long long)m.gap.from, (unsigned long long)m.gap.to);
    case WIRE_EXIT:
        if (m.exit.sid != c->sid || c->exited)
            die("connection %u: unexpected EXIT", c->idx);
        if (m.exit.end != c->next)
            die("connection %u: EXIT at %llu after output up to %llu", c->idx,
                (unsigned long long)m.exit.end, (unsigned long long)c->next);
        if (L.phase != PH_END)
            die("connection %u: session %u exited during the measurement (code %d signal %d)",
                c->idx, c->sid, m.exit.code, m.exit.signal);
        c->exited = true;
        L.nexited++;
        break;
    case WIRE_RESIZED:
        break;
    case WIRE_ERROR:
        die("connection %u: ERROR %s from the daemon: %.*s", c->idx, wire_err_name(m.error.code),
            (int)m.error.message.len, (const char *)m.error.message.p);
    default:
        die("connection %u: unexpected %s", c->idx, wire_type_name(m.type));
    }
}

static void on_output_hdr(struct conn *c, const uint8_t *b)
{
    uint32_t sid =
        (uint32_t)b[1] | (uint32_t)b[2] << 8 | (uint32_t)b[3] << 16 | (uint32_t)b[4] << 24;
    uint64_t off = 0;
    for (int i = 7; i >= 0; i--)
        off = off << 8 | b[5 + i];
    if (!c->attached || sid != c->sid)
        die("connection %u: OUTPUT for session %u (attached to %u)", c->idx, sid, c->sid);
    if (off != c->next)
        die("connection %u: OUTPUT at offset %llu, expected %llu", c->idx, (unsigned long long)off,
            (unsigned long long)c->next);
}

/* Consumes what it can of buf[0..len); returns the bytes consumed. */
static size_t ws_parse(struct conn *c, uint8_t *buf, size_t len)
{
    size_t pos = 0;
    while (pos < len) {
        if (c->skip) {
            size_t k = len - pos < c->skip ? len - pos : (size_t)c->skip;
            c->bytes += k;
            c->skip -= k;
            pos += k;
            continue;
        }
        struct ws_frame_hdr h;
        int hl = ws_frame_parse(buf + pos, len - pos, &h);
        if (hl == 0)
            break;
        if (hl < 0)
            die("connection %u: bad WebSocket frame: %s", c->idx, ws_frame_strerror(hl));
        if (h.masked)
            die("connection %u: the server sent a masked frame", c->idx);
        const uint8_t *b = buf + pos + hl;
        size_t avail = len - pos - (size_t)hl;
        if (h.opcode == WS_OP_BINARY && (!h.fin || h.payload_len == 0))
            die("connection %u: fragmented or empty message", c->idx);
        if (h.opcode == WS_OP_BINARY && avail == 0)
            break;
        if (h.opcode == WS_OP_BINARY && b[0] == WIRE_OUTPUT && c->role == ROLE_FLOOD) {
            if (h.payload_len < WIRE_OUTPUT_HDR)
                die("connection %u: short OUTPUT", c->idx);
            if (avail < WIRE_OUTPUT_HDR)
                break;
            on_output_hdr(c, b);
            c->skip = h.payload_len - WIRE_OUTPUT_HDR;
            c->next += c->skip;
            if (c->skip && c->bytes == 0 && !c->delivering) {
                c->delivering = true;
                L.nfirst++;
                all_attached_check();
            }
            pos += (size_t)hl + WIRE_OUTPUT_HDR;
            continue;
        }
        if (h.payload_len > LC_SMALL_BODY_MAX)
            die("connection %u: unexpectedly large message (%llu bytes, opcode %u)", c->idx,
                (unsigned long long)h.payload_len, h.opcode);
        if (avail < h.payload_len)
            break;
        size_t plen = (size_t)h.payload_len;
        switch (h.opcode) {
        case WS_OP_BINARY:
            if (b[0] == WIRE_OUTPUT) { /* the probe: small, handled whole */
                if (plen < WIRE_OUTPUT_HDR)
                    die("connection %u: short OUTPUT", c->idx);
                on_output_hdr(c, b);
                c->next += plen - WIRE_OUTPUT_HDR;
                pos += (size_t)hl + plen;
                probe_output(b + WIRE_OUTPUT_HDR, plen - WIRE_OUTPUT_HDR);
                continue;
            }
            on_message(c, b, plen);
            break;
        case WS_OP_PING:
            send_frame(c, WS_OP_PONG, b, plen);
            break;
        case WS_OP_PONG:
            break;
        case WS_OP_CLOSE: {
            uint16_t code = WS_CLOSE_NO_STATUS;
            const char *reason = "";
            size_t rlen = 0;
            ws_close_payload_parse(b, plen, &code, &reason, &rlen);
            die("connection %u: the server closed the WebSocket (%u %.*s)", c->idx, code, (int)rlen,
                reason);
        }
        default:
            die("connection %u: unexpected frame opcode %u", c->idx, h.opcode);
        }
        pos += (size_t)hl + plen;
    }
    return pos;
}

/* One read of connection c. Returns false when nothing was there. */
static bool conn_read(struct conn *c)
{
    if (c->fd < 0)
        return false;
    if (L.raw) {
        ssize_t n = read(c->fd, L.buf, c->role == ROLE_PROBE ? 4096 : LC_READ);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            return false;
        if (n < 0 && errno == EIO && L.phase == PH_END)
            return false;
        if (n <= 0)
            die("PTY %u: read: %s", c->idx, n < 0 ? strerror(errno) : "end of file");
        if (c->role == ROLE_PROBE) {
            probe_output(L.buf, (size_t)n);
        } else {
            if (c->bytes == 0 && !c->delivering) {
                c->delivering = true;
                L.nfirst++;
                all_attached_check();
            }
            c->bytes += (uint64_t)n;
        }
        return true;
    }
    memcpy(L.buf, c->carry, c->clen);
    size_t cap = LC_READ + LC_CARRY_MAX - c->clen;
    ssize_t n = recv(c->fd, L.buf + c->clen, cap, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return false;
    if (n < 0)
        die("connection %u: read failed: %s", c->idx, strerror(errno));
    if (n == 0)
        die("connection %u: the daemon closed the connection", c->idx);
    size_t have = c->clen + (size_t)n;
    size_t used = ws_parse(c, L.buf, have);
    if (have - used > LC_CARRY_MAX)
        die("connection %u: %zu unparsed bytes", c->idx, have - used);
    memcpy(c->carry, L.buf + used, have - used);
    c->clen = have - used;
    return true;
}

/* ---- raw PTYs ------------------------------------------------------------------------ */

/* Opens a PTY pair as the daemon does (unlock, TIOCGPTPEER) and runs argv on the slave as
 * its controlling terminal, in a new session. Returns the master (non-blocking). */
static int raw_spawn(const char *const *argv, pid_t *pid)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
        die("posix_openpt: %s", strerror(errno));
    int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0 && (errno == EINVAL || errno == ENOTTY)) {
        char name[128];
        int e = ptsname_r(m, name, sizeof name);
        if (e)
            errno = e;
        else
            s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    }
    if (s < 0)
        die("cannot open the PTY's slave: %s", strerror(errno));
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    ioctl(m, TIOCSWINSZ, &ws);
    *pid = fork();
    if (*pid < 0)
        die("fork: %s", strerror(errno));
    if (*pid == 0) {
        setsid();
        ioctl(s, TIOCSCTTY, 0);
        dup2(s, 0);
        dup2(s, 1);
        dup2(s, 2);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(s);
    fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK);
    return m;
}

static const char *const PROBE_ARGV[] = {"cat", NULL};
static const char *const FLOOD_ARGV[] = {"sh", "-c", FLOOD_CMD, NULL};

static void ep_add(struct conn *c)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(L.ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
}

/* Starts the floods. */
static void flood_start(void)
{
    L.phase = PH_FLOOD_START;
    L.t_progress = now_s();
    for (unsigned i = 1; i <= L.nfloods; i++) {
        struct conn *c = &L.c[i];
        if (L.raw) {
            c->fd = raw_spawn(FLOOD_ARGV, &c->pid);
            c->created = c->attached = true;
            L.ncreated++;
            L.nattached++;
            ep_add(c);
        } else {
            ws_create(c, FLOOD_ARGV, 3);
        }
    }
    all_attached_check();
}

/* Ends every session. */
static void end_start(void)
{
    L.phase = PH_END;
    L.t_progress = now_s();
    if (L.raw) {
        for (unsigned i = 0; i <= L.nfloods; i++) {
            struct conn *c = &L.c[i];
            kill(-c->pid, SIGKILL);
            int st;
            while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
                ;
            if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
                die("PTY %u: the child ended on its own (status 0x%x)", i, st);
            c->pid = 0;
            epoll_ctl(L.ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            c->fd = -1;
            c->exited = true;
            L.nexited++;
        }
        L.phase = PH_DONE;
        return;
    }
    for (unsigned i = 0; i <= L.nfloods; i++) {
        struct wire_msg m = {.type = WIRE_SIGNAL};
        m.signal = (struct wire_signal){.req = 3, .sid = L.c[i].sid, .signo = 0};
        send_msg(&L.c[i], &m);
    }
}

static bool args(int argc, char **argv)
{
    if (argc < 2)
        return false;
    int i = 2;
    if (strcmp(argv[1], "raw") == 0) {
        L.raw = true;
        L.target = "raw";
    } else if (strcmp(argv[1], "ws") == 0 && argc >= 3) {
        static char host[256];
        const char *addr = argv[2], *colon = strrchr(addr, ':');
        if (!colon || (size_t)(colon - addr) >= sizeof host)
            return false;
        memcpy(host, addr, (size_t)(colon - addr));
        host[colon - addr] = '\0';
        L.host = host;
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (*end || p < 1 || p > 65535)
            return false;
        L.port = (int)p;
        L.target = "ptyhub";
        i = 3;
    } else {
        return false;
    }
    L.nfloods = 8;
    L.keys = 2000;
    L.gap_us = 500;
    L.warmup_ms = 500;
    for (; i < argc; i++) {
        if (i + 1 >= argc)
            return false;
        const char *a = argv[i], *v = argv[++i];
        char *end;
        long n = strtol(v, &end, 10);
        bool num = *v && !*end;
        if (strcmp(a, "--target") == 0)
            L.target = v;
        else if (strcmp(a, "--floods") == 0 && num && n >= 1 && n <= LC_MAX_FLOODS)
            L.nfloods = (unsigned)n;
        else if (strcmp(a, "--keys") == 0 && num && n >= 1 && n <= LC_MAX_KEYS)
            L.keys = (int)n;
        else if (strcmp(a, "--gap-us") == 0 && num && n >= 0 && n <= 10000000)
            L.gap_us = (int)n;
        else if (strcmp(a, "--warmup-ms") == 0 && num && n >= 0 && n <= 60000)
            L.warmup_ms = (int)n;
        else
            return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        printf("lat_client: helper of bench/latency.py (usage: lat_client ws HOST:PORT | raw "
               "[--floods N] [--keys K] [--gap-us G] [--warmup-ms W] [--target NAME]); "
               "nothing to do\n");
        return 0;
    }
    if (!args(argc, argv)) {
        fprintf(stderr, "usage: lat_client ws HOST:PORT | raw [--floods N] [--keys K] "
                        "[--gap-us G] [--warmup-ms W] [--target NAME]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    srand((unsigned)getpid());
    L.c = calloc(L.nfloods + 1, sizeof *L.c);
    L.lat.v = calloc((size_t)L.keys, sizeof *L.lat.v);
    L.buf = malloc(LC_READ + LC_CARRY_MAX);
    if (!L.c || !L.lat.v || !L.buf)
        die("out of memory");
    L.ep = epoll_create1(EPOLL_CLOEXEC);
    L.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (L.ep < 0 || L.tfd < 0)
        die("epoll/timerfd: %s", strerror(errno));
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(L.ep, EPOLL_CTL_ADD, L.tfd, &tev) < 0)
        die("epoll_ctl: %s", strerror(errno));
    L.daemon_pid = -1;
    L.phase = PH_SETUP;
    L.t_progress = now_s();
    for (unsigned i = 0; i <= L.nfloods; i++) {
        struct conn *c = &L.c[i];
        c->idx = i;
        c->fd = -1;
        c->role = i == 0 ? ROLE_PROBE : ROLE_FLOOD;
        if (L.raw)
            continue;
        ws_connect(c);
        ep_add(c);
        struct wire_msg m = {.type = WIRE_HELLO};
        m.hello = (struct wire_hello){.version = WIRE_VERSION, .flags = 0};
        send_msg(c, &m);
    }
    struct conn *probe = &L.c[0];
    if (L.raw) {
        probe->fd = raw_spawn(PROBE_ARGV, &probe->pid);
        probe->created = probe->attached = true;
        ep_add(probe);
        arm_timer(100000);
    } else {
        ws_create(probe, PROBE_ARGV, 1);
        for (unsigned i = 0; i <= L.nfloods; i++)
            if (L.c[i].clen) { /* bytes that came with the 101 */
                size_t used = ws_parse(&L.c[i], L.c[i].carry, L.c[i].clen);
                memmove(L.c[i].carry, L.c[i].carry + used, L.c[i].clen - used);
                L.c[i].clen -= used;
            }
    }
    struct epoll_event evs[LC_MAX_FLOODS + 2];
    while (L.phase != PH_DONE) {
        int n = epoll_wait(L.ep, evs, (int)(L.nfloods + 2), 200);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("epoll_wait: %s", strerror(errno));
        double t = now_s();
        if ((L.ps == PS_KEY || L.ps == PS_LINE) && (L.phase == PH_IDLE || L.phase == PH_FLOOD) &&
            t - L.t_key > LC_ECHO_TIMEOUT)
            die("no echo within %.0f s (keystroke %d of phase %s)", LC_ECHO_TIMEOUT, L.key_i,
                L.phase == PH_IDLE ? "idle" : "flood");
        if ((L.phase == PH_SETUP || L.phase == PH_FLOOD_START || L.phase == PH_END) &&
            t - L.t_progress > LC_SETUP_TIMEOUT)
            die("stuck in %s for %.0f s (%u created, %u attached, %u delivering, %u exited)",
                L.phase == PH_SETUP ? "setup"
                : L.phase == PH_END ? "shutdown"
                                    : "flood start",
                LC_SETUP_TIMEOUT, L.ncreated, L.nattached, L.nfirst, L.nexited);
        /* the probe first, then the timer, then the floods */
        bool timer = false;
        for (int k = 0; k < n; k++) {
            if (evs[k].data.ptr == probe)
                while (conn_read(probe))
                    ;
            else if (evs[k].data.ptr == NULL)
                timer = true;
        }
        if (timer) {
            uint64_t exp;
            if (read(L.tfd, &exp, sizeof exp) == (ssize_t)sizeof exp) {
                switch (L.phase) {
                case PH_SETUP:
                    if (!probe->attached)
                        die("timer fired before the probe was attached");
                    L.phase = PH_IDLE;
                    phase_begin();
                    break;
                case PH_WARM:
                    L.phase = PH_FLOOD;
                    phase_begin();
                    break;
                case PH_IDLE:
                case PH_FLOOD:
                    if (L.ps == PS_GAP)
                        probe_tick();
                    break;
                default:
                    break;
                }
            }
        }
        for (int k = 0; k < n && L.phase != PH_DONE; k++) {
            struct conn *c = evs[k].data.ptr;
            if (c == NULL || c == probe)
                continue;
            conn_read(c);
            /* a keystroke's echo must not wait behind the other floods' reads */
            if (L.ps == PS_KEY || L.ps == PS_LINE)
                while (conn_read(probe))
                    ;
        }
        if (!L.raw && L.phase == PH_END) {
            bool all = true;
            for (unsigned i = 0; i <= L.nfloods; i++) {
                struct conn *c = &L.c[i];
                if (c->exited && c->ok_kill && c->fd >= 0) {
                    epoll_ctl(L.ep, EPOLL_CTL_DEL, c->fd, NULL);
                    close(c->fd);
                    c->fd = -1;
                }
                all = all && c->fd < 0;
            }
            if (all)
                L.phase = PH_DONE;
        }
    }
    close(L.tfd);
    close(L.ep);
    free(L.buf);
    free(L.lat.v);
    free(L.c);
    return 0;
}
