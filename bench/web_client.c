/* web_client: the WebSocket client of bench/web.py, for one viewer or many.
 *
 * Opens N WebSocket connections to the daemon's GET /ws (raw TCP, the RFC 6455 opening
 * handshake, Sec-WebSocket-Accept checked), sends HELLO on each (flags 0: no ACK pacing,
 * so the server streams as fast as the sockets take it) and CREATE on the first. Once
 * CREATED names the session, every connection ATTACHes to it from offset 0 (interactive
 * or read-only, --mode). When all are attached it opens the gate (--gate FIFO: writes a
 * line to the FIFO the session's command waits on), so no viewer misses the start.
 *
 * One epoll loop reads all sockets into one large buffer and parses only frame headers:
 * OUTPUT payload bytes are counted where they lie, never copied or inspected, so the
 * client stays cheap next to the daemon. Every OUTPUT must start where the previous
 * OUTPUT or GAP ended, and at EXIT each viewer's bytes plus the bytes its GAPs skipped
 * must equal EXIT's end; an interactive viewer must see no GAP. Any mismatch, an ERROR
 * or a closed connection is a failure (exit status 1).
 *
 * Results go to stdout as one `key=value ...` line: the bytes delivered to all viewers,
 * the least and most one viewer got, GAPs, the time from the first OUTPUT byte to the
 * last EXIT, and this process's CPU time. Run with no arguments (as `make bench` does
 * for every helper) it says what it is for and exits 0.
 *
 * usage: web_client --addr HOST:PORT [--viewers N] [--mode rw|ro] [--gate FIFO]
 *                   [--expect BYTES] -- CMD [ARGS...] */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto/wire.h"
#include "proto/ws_frame.h"
#include "proto/ws_handshake.h"

#define WC_BUF (4u * 1024 * 1024)      /* one recv(2) takes at most this much */
#define WC_SMALL_BODY_MAX (64u * 1024) /* non-OUTPUT bodies we are willing to buffer */
#define WC_CARRY_MAX (WS_FRAME_HEADER_MAX + WC_SMALL_BODY_MAX)
#define WC_MAX_VIEWERS 1000
#define WC_IDLE_MS 30000 /* no byte on any socket for this long: the daemon is stuck */
/* The RFC 6455 §1.3 sample key; any valid key will do for a benchmark. */
#define WC_KEY "dGhlIHNhbXBsZSBub25jZQ=="

struct viewer {
    int fd;
    unsigned idx;
    bool attached, exited;
    uint64_t next;  /* offset the next OUTPUT or GAP must start at */
    uint64_t skip;  /* payload bytes of the current OUTPUT still to come */
    uint64_t bytes; /* OUTPUT payload bytes received */
    uint64_t frames, reads, gaps, gap_bytes, end;
    uint8_t carry[WC_CARRY_MAX]; /* an incomplete header or small message */
    size_t clen;
};

struct wc {
    /* options */
    const char *host;
    int port;
    unsigned nviewers;
    uint8_t mode;
    const char *gate;
    long long expect;
    char **argv;
    /* state */
    struct viewer *v;
    uint32_t sid;
    unsigned nattached, nexited;
    double t_first, t_gate, t_last;
};

static struct wc wc;

/* Monotonic time in seconds. */
static double wc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* This process's user+system CPU seconds. */
static double wc_cpu_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Prints a failure and exits 1. */
static void wc_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void wc_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("web_client: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* Writes all of p (the sockets stay blocking for writes; reads use MSG_DONTWAIT). */
static void wc_write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            wc_die("write to the daemon failed: %s", w < 0 ? strerror(errno) : "closed");
        p += w;
        n -= (size_t)w;
    }
}

/* Sends one masked WebSocket frame (clients must mask, RFC 6455 §5.3). */
static void wc_send_frame(struct viewer *v, int op, const uint8_t *p, size_t n)
{
    static uint8_t out[WS_FRAME_HEADER_MAX + 64 * 1024];
    if (n > sizeof out - WS_FRAME_HEADER_MAX)
        wc_die("message too long to send");
    uint32_t r = (uint32_t)rand();
    uint8_t key[4] = {(uint8_t)r, (uint8_t)(r >> 8), (uint8_t)(r >> 16), (uint8_t)(r >> 24)};
    int h = ws_frame_header_encode(out, true, op, n, key);
    if (h < 0)
        wc_die("cannot encode a frame header");
    memcpy(out + h, p, n);
    ws_unmask(out + h, n, key, 0); /* masking is the same XOR */
    wc_write_all(v->fd, out, (size_t)h + n);
}

/* Encodes m as one binary message (a body without length prefix) and sends it. */
static void wc_send(struct viewer *v, const struct wire_msg *m)
{
    static uint8_t body[64 * 1024];
    size_t n = wire_encode(m, body, sizeof body, false);
    if (n == 0 || n > sizeof body)
        wc_die("cannot encode a %s message", wire_type_name(m->type));
    wc_send_frame(v, WS_OP_BINARY, body, n);
}

/* Finds header `name` in an HTTP response head; returns its value (trimmed) or NULL. */
static const char *wc_header(char *head, const char *name, size_t *len)
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

/* Connects viewer v and completes the opening handshake; bytes after the 101 head
 * stay in v->carry. */
static void wc_connect(struct viewer *v)
{
    v->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)wc.port)};
    if (v->fd < 0 || inet_pton(AF_INET, wc.host, &sa.sin_addr) != 1)
        wc_die("bad address %s:%d (an IPv4 address is expected)", wc.host, wc.port);
    if (connect(v->fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        wc_die("connect to %s:%d: %s", wc.host, wc.port, strerror(errno));
    int one = 1;
    setsockopt(v->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: " WC_KEY "\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     wc.host, wc.port);
    wc_write_all(v->fd, (const uint8_t *)req, (size_t)n);
    char head[4096];
    size_t have = 0;
    char *eoh = NULL;
    while (!eoh) {
        if (have == sizeof head - 1)
            wc_die("the upgrade response head is too long");
        ssize_t r = recv(v->fd, head + have, sizeof head - 1 - have, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            wc_die("the daemon closed the connection during the WebSocket handshake");
        have += (size_t)r;
        head[have] = '\0';
        eoh = strstr(head, "\r\n\r\n");
    }
    size_t hlen = (size_t)(eoh + 4 - head);
    if (strncmp(head, "HTTP/1.1 101", 12) != 0)
        wc_die("upgrade refused: %.*s", (int)(strcspn(head, "\r\n")), head);
    char want[WS_ACCEPT_KEY_LEN + 1];
    size_t alen = 0;
    eoh[2] = '\0'; /* keep the last header's CRLF for wc_header */
    const char *acc = wc_header(head, "Sec-WebSocket-Accept", &alen);
    if (ws_accept_key(WC_KEY, strlen(WC_KEY), want) < 0 || !acc || alen != WS_ACCEPT_KEY_LEN ||
        memcmp(acc, want, alen) != 0)
        wc_die("wrong or missing Sec-WebSocket-Accept in the 101 response");
    v->clen = have - hlen;
    memcpy(v->carry, head + hlen, v->clen);
}

/* Opens the gate: writes a line to the FIFO the session's command is waiting on. */
static void wc_open_gate(void)
{
    double deadline = wc_now() + 10;
    int fd;
    /* O_NONBLOCK: ENXIO until the command has opened the FIFO for reading. */
    while ((fd = open(wc.gate, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
        if (errno != ENXIO && errno != EINTR)
            wc_die("cannot open the gate %s: %s", wc.gate, strerror(errno));
        if (wc_now() > deadline)
            wc_die("the session's command never opened the gate %s", wc.gate);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (write(fd, "go\n", 3) != 3)
        wc_die("cannot write to the gate %s: %s", wc.gate, strerror(errno));
    close(fd);
    wc.t_gate = wc_now();
}

/* Sends ATTACH from offset 0 on every connection. */
static void wc_attach_all(void)
{
    for (unsigned i = 0; i < wc.nviewers; i++) {
        struct wire_msg a = {.type = WIRE_ATTACH};
        a.attach = (struct wire_attach){
            .req = 2, .sid = wc.sid, .mode = wc.mode, .from_kind = WIRE_FROM_OFFSET, .from = 0};
        wc_send(&wc.v[i], &a);
    }
}

/* Handles one complete non-OUTPUT body. */
static void wc_message(struct viewer *v, const uint8_t *body, size_t len)
{
    struct wire_msg m;
    int rc = wire_decode(body, len, &m);
    if (rc == -ENOTSUP)
        return; /* clients ignore server messages they do not know */
    if (rc < 0)
        wc_die("viewer %u: malformed message from the daemon", v->idx);
    switch (m.type) {
    case WIRE_CREATED:
        wc.sid = m.created.sid;
        wc_attach_all();
        break;
    case WIRE_ATTACHED:
        if (!v->attached) {
            v->attached = true;
            if (++wc.nattached == wc.nviewers && wc.gate)
                wc_open_gate();
        }
        break;
    case WIRE_GAP:
        if (m.gap.sid != wc.sid || m.gap.from != v->next || m.gap.to < m.gap.from)
            wc_die("viewer %u: GAP [%llu, %llu) where offset %llu was due", v->idx,
                   (unsigned long long)m.gap.from, (unsigned long long)m.gap.to,
                   (unsigned long long)v->next);
        v->gaps++;
        v->gap_bytes += m.gap.to - m.gap.from;
        v->next = m.gap.to;
        break;
    case WIRE_EXIT:
        if (m.exit.sid != wc.sid || v->exited)
            break;
        v->exited = true;
        v->end = m.exit.end;
        wc.t_last = wc_now();
        wc.nexited++;
        break;
    case WIRE_ERROR:
        wc_die("viewer %u: ERROR %s from the daemon: %.*s", v->idx, wire_err_name(m.error.code),
               (int)m.error.message.len, (const char *)m.error.message.p);
    default:
        break;
    }
}

/* Consumes what it can of buf[0..len): OUTPUT payload in place, headers and small
 * messages whole. Returns the bytes consumed; the rest is an incomplete header or
 * message (at most WC_CARRY_MAX bytes). */
static size_t wc_parse(struct viewer *v, uint8_t *buf, size_t len)
{
    size_t pos = 0;
    while (pos < len && !v->exited) {
        if (v->skip) {
            size_t k = len - pos < v->skip ? len - pos : (size_t)v->skip;
            v->bytes += k;
            v->skip -= k;
            pos += k;
            continue;
        }
        struct ws_frame_hdr h;
        int hl = ws_frame_parse(buf + pos, len - pos, &h);
        if (hl == 0)
            break;
        if (hl < 0)
            wc_die("viewer %u: bad WebSocket frame: %s", v->idx, ws_frame_strerror(hl));
        if (h.masked)
            wc_die("viewer %u: the server sent a masked frame (RFC 6455 §5.1)", v->idx);
        const uint8_t *b = buf + pos + hl;
        size_t avail = len - pos - (size_t)hl;
        if (h.opcode == WS_OP_BINARY && h.fin && h.payload_len > 0 && avail == 0)
            break; /* the type byte decides how to read this frame */
        if (h.opcode == WS_OP_BINARY && h.fin && h.payload_len > 0 && b[0] == WIRE_OUTPUT) {
            if (h.payload_len < WIRE_OUTPUT_HDR)
                wc_die("viewer %u: short OUTPUT", v->idx);
            if (avail < WIRE_OUTPUT_HDR)
                break;
            uint32_t sid =
                (uint32_t)b[1] | (uint32_t)b[2] << 8 | (uint32_t)b[3] << 16 | (uint32_t)b[4] << 24;
            uint64_t off = 0;
            for (int i = 7; i >= 0; i--)
                off = off << 8 | b[5 + i];
            if (sid != wc.sid)
                wc_die("viewer %u: OUTPUT for session %u, attached to %u", v->idx, sid, wc.sid);
            if (off != v->next)
                wc_die("viewer %u: OUTPUT at offset %llu, expected %llu", v->idx,
                       (unsigned long long)off, (unsigned long long)v->next);
            v->skip = h.payload_len - WIRE_OUTPUT_HDR;
            v->next += v->skip;
            v->frames++;
            if (wc.t_first == 0 && v->skip)
                wc.t_first = wc_now();
            pos += (size_t)hl + WIRE_OUTPUT_HDR;
            continue;
        }
        if (h.payload_len > WC_SMALL_BODY_MAX)
            wc_die("viewer %u: unexpectedly large message (%llu bytes, opcode %u)", v->idx,
                   (unsigned long long)h.payload_len, h.opcode);
        if (avail < h.payload_len)
            break;
        size_t plen = (size_t)h.payload_len;
        switch (h.opcode) {
        case WS_OP_BINARY:
            if (!h.fin)
                wc_die("viewer %u: the server fragmented a message", v->idx);
            if (plen == 0)
                wc_die("viewer %u: empty message", v->idx);
            wc_message(v, b, plen);
            break;
        case WS_OP_PING:
            wc_send_frame(v, WS_OP_PONG, b, plen);
            break;
        case WS_OP_PONG:
            break;
        case WS_OP_CLOSE: {
            uint16_t code = WS_CLOSE_NO_STATUS;
            const char *reason = "";
            size_t rlen = 0;
            ws_close_payload_parse(b, plen, &code, &reason, &rlen);
            wc_die("viewer %u: the server closed the WebSocket (%u %.*s) before EXIT", v->idx, code,
                   (int)rlen, reason);
        }
        default:
            wc_die("viewer %u: unexpected frame opcode %u", v->idx, h.opcode);
        }
        pos += (size_t)hl + plen;
    }
    return pos;
}

/* Reads what viewer v's socket has (one recv) and parses it. */
static void wc_read(struct viewer *v, uint8_t *buf)
{
    memcpy(buf, v->carry, v->clen);
    ssize_t n;
    do
        n = recv(v->fd, buf + v->clen, WC_BUF - v->clen, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n < 0)
        wc_die("viewer %u: read failed: %s", v->idx, strerror(errno));
    if (n == 0)
        wc_die("viewer %u: the daemon closed the connection before EXIT", v->idx);
    v->reads++;
    size_t have = v->clen + (size_t)n;
    size_t used = wc_parse(v, buf, have);
    if (v->exited)
        used = have; /* nothing follows EXIT for this session */
    if (have - used > WC_CARRY_MAX)
        wc_die("viewer %u: %zu unparsed bytes", v->idx, have - used);
    memcpy(v->carry, buf + used, have - used);
    v->clen = have - used;
}

/* Parses the command line into wc. Returns false when there is nothing to run. */
static bool wc_args(int argc, char **argv)
{
    wc.nviewers = 1;
    wc.mode = WIRE_MODE_INTERACTIVE;
    wc.expect = -1;
    const char *addr = NULL;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (i + 1 >= argc)
            return false;
        const char *val = argv[++i];
        if (strcmp(a, "--addr") == 0)
            addr = val;
        else if (strcmp(a, "--viewers") == 0)
            wc.nviewers = (unsigned)strtoul(val, NULL, 0);
        else if (strcmp(a, "--mode") == 0)
            wc.mode = strcmp(val, "ro") == 0 ? WIRE_MODE_READ_ONLY : WIRE_MODE_INTERACTIVE;
        else if (strcmp(a, "--gate") == 0)
            wc.gate = val;
        else if (strcmp(a, "--expect") == 0)
            wc.expect = strtoll(val, NULL, 0);
        else
            return false;
    }
    if (!addr || i >= argc || wc.nviewers < 1 || wc.nviewers > WC_MAX_VIEWERS)
        return false;
    static char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host)
        return false;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    wc.host = host;
    wc.port = atoi(colon + 1);
    wc.argv = argv + i;
    return true;
}

int main(int argc, char **argv)
{
    if (!wc_args(argc, argv)) {
        printf("web_client: helper of bench/web.py (usage: web_client --addr HOST:PORT "
               "[--viewers N] [--mode rw|ro] [--gate FIFO] [--expect BYTES] -- CMD "
               "[ARGS...]); nothing to do\n");
        return 0;
    }
    srand((unsigned)getpid());
    wc.v = calloc(wc.nviewers, sizeof *wc.v);
    uint8_t *buf = malloc(WC_BUF);
    if (!wc.v || !buf)
        wc_die("out of memory");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        wc_die("epoll_create1: %s", strerror(errno));
    for (unsigned i = 0; i < wc.nviewers; i++) {
        struct viewer *v = &wc.v[i];
        v->idx = i;
        wc_connect(v);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = v};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, v->fd, &ev) < 0)
            wc_die("epoll_ctl: %s", strerror(errno));
        struct wire_msg m = {.type = WIRE_HELLO};
        m.hello = (struct wire_hello){.version = WIRE_VERSION, .flags = 0};
        wc_send(v, &m);
    }
    double cpu0 = wc_cpu_self();
    double t0 = wc_now();
    /* CREATE on the first connection; the ATTACHes follow CREATED (wc_message). */
    static uint8_t argvbuf[16 * 1024];
    size_t ac = 0;
    while (wc.argv[ac])
        ac++;
    size_t alen = wire_block_pack((const char *const *)wc.argv, ac, argvbuf, sizeof argvbuf);
    if (alen > sizeof argvbuf)
        wc_die("command too long");
    struct wire_msg cr = {.type = WIRE_CREATE};
    cr.create.req = 1;
    cr.create.argv = (struct wire_block){argvbuf, alen, (uint16_t)ac};
    wc_send(&wc.v[0], &cr);
    /* Bytes that came with the 101 head are parsed before waiting on the sockets. */
    for (unsigned i = 0; i < wc.nviewers; i++)
        if (wc.v[i].clen) {
            size_t used = wc_parse(&wc.v[i], wc.v[i].carry, wc.v[i].clen);
            memmove(wc.v[i].carry, wc.v[i].carry + used, wc.v[i].clen - used);
            wc.v[i].clen -= used;
        }
    struct epoll_event evs[256];
    while (wc.nexited < wc.nviewers) {
        int n = epoll_wait(ep, evs, 256, WC_IDLE_MS);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            wc_die("epoll_wait: %s", strerror(errno));
        if (n == 0)
            wc_die("nothing arrived for %d s (%u of %u viewers attached, %u exited)",
                   WC_IDLE_MS / 1000, wc.nattached, wc.nviewers, wc.nexited);
        for (int k = 0; k < n; k++) {
            struct viewer *v = evs[k].data.ptr;
            wc_read(v, buf);
            if (v->exited && v->fd >= 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, v->fd, NULL);
                close(v->fd);
                v->fd = -1;
            }
        }
    }
    double cpu1 = wc_cpu_self();
    uint64_t total = 0, minb = UINT64_MAX, maxb = 0, gaps = 0, gap_bytes = 0, frames = 0;
    uint64_t reads = 0, end = wc.v[0].end;
    unsigned nbad = 0;
    for (unsigned i = 0; i < wc.nviewers; i++) {
        struct viewer *v = &wc.v[i];
        total += v->bytes;
        minb = v->bytes < minb ? v->bytes : minb;
        maxb = v->bytes > maxb ? v->bytes : maxb;
        gaps += v->gaps;
        gap_bytes += v->gap_bytes;
        frames += v->frames;
        reads += v->reads;
        bool vok = v->skip == 0 && v->next == v->end && v->bytes + v->gap_bytes == v->end &&
                   v->end == end && (wc.mode == WIRE_MODE_READ_ONLY || v->gaps == 0) &&
                   (wc.expect < 0 || v->end == (uint64_t)wc.expect);
        if (!vok && nbad++ < 3)
            fprintf(stderr,
                    "web_client: viewer %u: %llu bytes + %llu skipped by %llu GAPs, EXIT end "
                    "%llu (viewer 0: %llu), expected %lld\n",
                    i, (unsigned long long)v->bytes, (unsigned long long)v->gap_bytes,
                    (unsigned long long)v->gaps, (unsigned long long)v->end,
                    (unsigned long long)end, wc.expect);
    }
    if (nbad > 3)
        fprintf(stderr, "web_client: ... and %u more viewers like that\n", nbad - 3);
    bool ok = nbad == 0;
    printf("viewers=%u mode=%s bytes=%llu min_bytes=%llu max_bytes=%llu end=%llu gaps=%llu "
           "gap_bytes=%llu frames=%llu reads=%llu seconds=%.6f gate_seconds=%.6f "
           "total_seconds=%.6f self_cpu=%.6f ok=%d\n",
           wc.nviewers, wc.mode == WIRE_MODE_READ_ONLY ? "ro" : "rw", (unsigned long long)total,
           (unsigned long long)minb, (unsigned long long)maxb, (unsigned long long)end,
           (unsigned long long)gaps, (unsigned long long)gap_bytes, (unsigned long long)frames,
           (unsigned long long)reads, wc.t_first ? wc.t_last - wc.t_first : 0.0,
           wc.t_gate ? wc.t_last - wc.t_gate : 0.0, wc.t_last - t0, cpu1 - cpu0, ok);
    free(buf);
    free(wc.v);
    close(ep);
    return ok ? 0 : 1;
}
