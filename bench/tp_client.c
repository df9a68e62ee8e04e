/* tp_client: the fast lossless client of bench/throughput.py.
 *
 * Connects to the daemon's Unix socket, sends HELLO and CREATE, then ATTACH (interactive,
 * from offset 0) once CREATED names the session, and reads the socket with large read(2)s
 * until EXIT. It parses only frame headers: OUTPUT payload bytes are counted (and, with
 * --pattern, compared with a repeating pattern) where they lie in the read buffer, never
 * copied. Every OUTPUT must start where the previous one ended and EXIT's end must equal
 * the bytes received; a GAP, an ERROR or a mismatch is a failure (exit status 1).
 *
 * With --stall-after N --stall-ms MS it stops reading for MS milliseconds once N payload
 * bytes have arrived, announcing the stall on stdout so the caller can sample the daemon
 * meanwhile. Results go to stdout as one `key=value ...` line; events as `event=...` lines.
 * Run with no arguments (as `make bench` does) it says what it is for and exits 0.
 *
 * usage: tp_client --socket PATH [--stall-after BYTES --stall-ms MS] [--pattern STR]
 *                  [--expect BYTES] -- CMD [ARGS...] */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto/wire.h"

#define TP_BUF (4u * 1024 * 1024)      /* one read(2) takes at most this much */
#define TP_SMALL_BODY_MAX (64u * 1024) /* non-OUTPUT bodies we are willing to buffer */

struct tp {
    int fd;
    /* options */
    const char *socket;
    uint64_t stall_after;
    unsigned stall_ms;
    const uint8_t *pattern;
    size_t pattern_len;
    long long expect;
    char **argv;
    /* progress */
    bool created, attached, exited, stalled;
    uint32_t sid;
    uint64_t next_off; /* offset the next OUTPUT must start at */
    uint64_t payload;  /* OUTPUT payload bytes received */
    uint64_t skip;     /* payload bytes of the current OUTPUT still to come */
    uint64_t frames, reads, bad_pattern_at;
    bool bad_pattern;
    uint64_t exit_end;
    int exit_code, exit_signal;
    double t0, t_exit;
};

/* Monotonic time in seconds. */
static double tp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* This process's user+system CPU seconds. */
static double tp_cpu_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Prints a failure and exits 1. */
static void tp_die(const char *what)
{
    fprintf(stderr, "tp_client: %s\n", what);
    exit(1);
}

/* Writes all of buf (the socket is blocking). */
static void tp_write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            tp_die("write to the daemon failed");
        p += w;
        n -= (size_t)w;
    }
}

/* Encodes m with its length prefix and sends it. */
static void tp_send(struct tp *t, const struct wire_msg *m)
{
    static uint8_t out[64 * 1024];
    size_t n = wire_encode(m, out, sizeof out, true);
    if (n == 0 || n > sizeof out)
        tp_die("cannot encode a request");
    tp_write_all(t->fd, out, n);
}

/* Sends HELLO and CREATE (pipelined, as the protocol allows). */
static void tp_start(struct tp *t)
{
    struct wire_msg m = {.type = WIRE_HELLO};
    m.hello = (struct wire_hello){.version = WIRE_VERSION, .flags = 0};
    tp_send(t, &m);
    static uint8_t argvbuf[16 * 1024];
    size_t argc = 0;
    while (t->argv[argc])
        argc++;
    size_t alen = wire_block_pack((const char *const *)t->argv, argc, argvbuf, sizeof argvbuf);
    if (alen > sizeof argvbuf)
        tp_die("command too long");
    m = (struct wire_msg){.type = WIRE_CREATE};
    m.create.req = 1;
    m.create.argv = (struct wire_block){argvbuf, alen, (uint16_t)argc};
    tp_send(t, &m);
}

/* Counts (and checks against the pattern) n payload bytes at p. */
static void tp_payload(struct tp *t, const uint8_t *p, size_t n)
{
    if (t->pattern_len && !t->bad_pattern) {
        uint64_t off = t->next_off - t->skip; /* offset of p[0] */
        size_t k = (size_t)(off % t->pattern_len);
        for (size_t i = 0; i < n; i++) {
            if (p[i] != t->pattern[k]) {
                t->bad_pattern = true;
                t->bad_pattern_at = off + i;
                break;
            }
            if (++k == t->pattern_len)
                k = 0;
        }
    }
    t->payload += n;
    t->skip -= n;
}

/* Handles one non-OUTPUT body. */
static void tp_message(struct tp *t, const uint8_t *body, size_t len)
{
    struct wire_msg m;
    int rc = wire_decode(body, len, &m);
    if (rc == -ENOTSUP)
        return; /* clients ignore server messages they do not know */
    if (rc < 0)
        tp_die("malformed message from the daemon");
    char msg[600];
    switch (m.type) {
    case WIRE_WELCOME:
    case WIRE_OK:
        break;
    case WIRE_CREATED: {
        t->created = true;
        t->sid = m.created.sid;
        printf("event=created sid=%u pid=%d\n", m.created.sid, m.created.pid);
        fflush(stdout);
        struct wire_msg a = {.type = WIRE_ATTACH};
        a.attach = (struct wire_attach){.req = 2,
                                        .sid = t->sid,
                                        .mode = WIRE_MODE_INTERACTIVE,
                                        .from_kind = WIRE_FROM_OFFSET,
                                        .from = 0};
        tp_send(t, &a);
        break;
    }
    case WIRE_ATTACHED:
        if (m.attached.start != 0)
            tp_die("ATTACHED: offset 0 is no longer retained");
        t->attached = true;
        break;
    case WIRE_EXIT:
        if (m.exit.sid != t->sid)
            break;
        t->t_exit = tp_now();
        t->exited = true;
        t->exit_end = m.exit.end;
        t->exit_code = m.exit.code;
        t->exit_signal = m.exit.signal;
        break;
    case WIRE_GAP:
        snprintf(msg, sizeof msg, "GAP [%llu, %llu) sent to a lossless client",
                 (unsigned long long)m.gap.from, (unsigned long long)m.gap.to);
        tp_die(msg);
        break;
    case WIRE_ERROR:
        snprintf(msg, sizeof msg, "ERROR %s from the daemon: %.*s", wire_err_name(m.error.code),
                 (int)m.error.message.len, (const char *)m.error.message.p);
        tp_die(msg);
        break;
    default:
        break;
    }
}

/* Consumes what it can of buf[0..len): payload in place, headers and small messages
 * whole. Returns the bytes consumed; the rest is an incomplete header or message. */
static size_t tp_parse(struct tp *t, const uint8_t *buf, size_t len)
{
    size_t pos = 0;
    while (pos < len && !t->exited) {
        if (t->skip) {
            size_t k = len - pos < t->skip ? len - pos : (size_t)t->skip;
            tp_payload(t, buf + pos, k);
            pos += k;
            continue;
        }
        if (len - pos < WIRE_LEN_PREFIX + 1)
            break;
        const uint8_t *h = buf + pos;
        uint32_t blen =
            (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
        if (blen == 0 || blen > WIRE_MAX_BODY)
            tp_die("bad frame length from the daemon");
        if (h[4] == WIRE_OUTPUT) {
            if (blen < WIRE_OUTPUT_HDR)
                tp_die("short OUTPUT");
            if (len - pos < WIRE_LEN_PREFIX + WIRE_OUTPUT_HDR)
                break;
            uint32_t sid =
                (uint32_t)h[5] | (uint32_t)h[6] << 8 | (uint32_t)h[7] << 16 | (uint32_t)h[8] << 24;
            uint64_t off = 0;
            for (int i = 7; i >= 0; i--)
                off = off << 8 | h[9 + i];
            if (sid != t->sid)
                tp_die("OUTPUT for a session we did not attach to");
            if (off != t->next_off) {
                char msg[128];
                snprintf(msg, sizeof msg, "OUTPUT at offset %llu, expected %llu",
                         (unsigned long long)off, (unsigned long long)t->next_off);
                tp_die(msg);
            }
            t->skip = blen - WIRE_OUTPUT_HDR;
            t->next_off += t->skip;
            t->frames++;
            pos += WIRE_LEN_PREFIX + WIRE_OUTPUT_HDR;
            continue;
        }
        if (blen > TP_SMALL_BODY_MAX)
            tp_die("unexpectedly large message from the daemon");
        if (len - pos < WIRE_LEN_PREFIX + blen)
            break;
        tp_message(t, h + WIRE_LEN_PREFIX, blen);
        pos += WIRE_LEN_PREFIX + blen;
    }
    return pos;
}

/* Parses the command line into t. Returns false when there is nothing to run. */
static bool tp_args(struct tp *t, int argc, char **argv)
{
    t->expect = -1;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (i + 1 >= argc)
            return false;
        const char *v = argv[++i];
        if (strcmp(a, "--socket") == 0)
            t->socket = v;
        else if (strcmp(a, "--stall-after") == 0)
            t->stall_after = strtoull(v, NULL, 0);
        else if (strcmp(a, "--stall-ms") == 0)
            t->stall_ms = (unsigned)strtoul(v, NULL, 0);
        else if (strcmp(a, "--pattern") == 0)
            t->pattern = (const uint8_t *)v, t->pattern_len = strlen(v);
        else if (strcmp(a, "--expect") == 0)
            t->expect = strtoll(v, NULL, 0);
        else
            return false;
    }
    if (!t->socket || i >= argc)
        return false;
    t->argv = argv + i;
    return true;
}

int main(int argc, char **argv)
{
    struct tp t = {0};
    if (!tp_args(&t, argc, argv)) {
        printf("tp_client: helper of bench/throughput.py (usage: tp_client --socket PATH "
               "[--stall-after BYTES --stall-ms MS] [--pattern STR] [--expect BYTES] -- CMD "
               "[ARGS...]); nothing to do\n");
        return 0;
    }
    /* Escapes like \r\n in --pattern, so the caller can pass "y\r\n". */
    static uint8_t pat[256];
    if (t.pattern_len) {
        size_t n = 0;
        for (size_t i = 0; i < t.pattern_len && n < sizeof pat; i++) {
            uint8_t c = t.pattern[i];
            if (c == '\\' && i + 1 < t.pattern_len) {
                char e = (char)t.pattern[++i];
                c = e == 'r' ? '\r' : e == 'n' ? '\n' : e == '0' ? '\0' : (uint8_t)e;
            }
            pat[n++] = c;
        }
        t.pattern = pat;
        t.pattern_len = n;
    }
    t.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(t.socket) >= sizeof sa.sun_path)
        tp_die("socket path too long");
    strcpy(sa.sun_path, t.socket);
    if (t.fd < 0 || connect(t.fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        perror("tp_client: connect");
        return 1;
    }
    uint8_t *buf = malloc(TP_BUF);
    if (!buf)
        tp_die("out of memory");
    double cpu0 = tp_cpu_self();
    t.t0 = tp_now();
    tp_start(&t);
    size_t have = 0;
    while (!t.exited) {
        ssize_t n = read(t.fd, buf + have, TP_BUF - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            tp_die("read from the daemon failed");
        if (n == 0)
            tp_die("the daemon closed the connection before EXIT");
        t.reads++;
        have += (size_t)n;
        size_t used = tp_parse(&t, buf, have);
        if (used < have)
            memmove(buf, buf + used, have - used);
        have -= used;
        if (t.stall_ms && !t.stalled && t.payload >= t.stall_after) {
            t.stalled = true;
            printf("event=stall_begin bytes=%llu\n", (unsigned long long)t.payload);
            fflush(stdout);
            struct timespec ts = {t.stall_ms / 1000, (long)(t.stall_ms % 1000) * 1000000};
            while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
            printf("event=stall_end bytes=%llu\n", (unsigned long long)t.payload);
            fflush(stdout);
        }
    }
    double cpu1 = tp_cpu_self();
    bool ok = t.skip == 0 && t.exit_end == t.payload && t.exit_end == t.next_off &&
              !t.bad_pattern && (t.expect < 0 || (uint64_t)t.expect == t.payload);
    printf("bytes=%llu seconds=%.6f frames=%llu reads=%llu self_cpu=%.6f end=%llu code=%d "
           "signal=%d offsets_ok=%d pattern_ok=%d ok=%d\n",
           (unsigned long long)t.payload, t.t_exit - t.t0, (unsigned long long)t.frames,
           (unsigned long long)t.reads, cpu1 - cpu0, (unsigned long long)t.exit_end, t.exit_code,
           t.exit_signal, t.exit_end == t.next_off, !t.bad_pattern, ok);
    if (t.bad_pattern)
        fprintf(stderr, "tp_client: byte at offset %llu differs from the pattern\n",
                (unsigned long long)t.bad_pattern_at);
    if (!ok)
        fprintf(stderr,
                "tp_client: received %llu bytes, EXIT says %llu, expected %lld: bytes lost\n",
                (unsigned long long)t.payload, (unsigned long long)t.exit_end, t.expect);
    close(t.fd);
    free(buf);
    return ok ? 0 : 1;
}
