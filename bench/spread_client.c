/* spread_client: the one-connection broker of bench/spread.py.
 *
 * Starts `ptyhub stdio` as its child (pipes on its stdin/stdout, so one connection is all
 * there is, as for a program embedding ptyhub), creates N sessions running CMD, attaches
 * to each (interactive, from offset 0) as its CREATED arrives, and reads the pipe with
 * large read(2)s until every session's EXIT. Only frame headers are parsed; payload is
 * counted where it lies. Every OUTPUT must start where that session's previous one ended
 * and each EXIT's end must equal the bytes received; a GAP, an ERROR or a mismatch fails
 * (exit status 1). Just before closing the daemon's stdin it reads the daemon's CPU time
 * from /proc. Prints one `key=value ...` line. Run with no arguments (as `make bench`
 * does) it says what it is for and exits 0.
 *
 * usage: spread_client --ptyhub BIN --sessions N [--serve-arg ARG]... -- CMD [ARGS...] */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/wire.h"

#define SC_BUF (4u * 1024 * 1024)
#define SC_MAX_SESSIONS 64
#define SC_MAX_ARGS 32

struct sc_sess {
    uint32_t sid;
    uint64_t next_off;
    bool exited;
};

struct sc {
    int rfd, wfd;
    pid_t pid;
    unsigned n, created, exited;
    struct sc_sess s[SC_MAX_SESSIONS];
    struct sc_sess *cur; /* the session whose payload is being skipped */
    uint64_t skip, payload, frames;
};

static void sc_die(const char *what)
{
    fprintf(stderr, "spread_client: %s\n", what);
    exit(1);
}

static double sc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sc_send(struct sc *c, const struct wire_msg *m)
{
    static uint8_t out[64 * 1024];
    size_t n = wire_encode(m, out, sizeof out, true);
    if (n == 0 || n > sizeof out)
        sc_die("cannot encode a request");
    for (size_t done = 0; done < n;) {
        ssize_t w = write(c->wfd, out + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            sc_die("cannot write to the daemon");
        done += (size_t)w;
    }
}

/* The session with this id, or NULL. */
static struct sc_sess *sc_find(struct sc *c, uint32_t sid)
{
    for (unsigned i = 0; i < c->created; i++)
        if (c->s[i].sid == sid)
            return &c->s[i];
    return NULL;
}

static void sc_message(struct sc *c, const uint8_t *body, size_t len)
{
    struct wire_msg m;
    int rc = wire_decode(body, len, &m);
    if (rc == -ENOTSUP)
        return;
    if (rc < 0)
        sc_die("malformed message from the daemon");
    char msg[600];
    switch (m.type) {
    case WIRE_CREATED: {
        if (c->created == c->n)
            sc_die("too many CREATED");
        c->s[c->created++] = (struct sc_sess){.sid = m.created.sid};
        struct wire_msg a = {.type = WIRE_ATTACH};
        a.attach = (struct wire_attach){.req = 1000 + m.created.sid,
                                        .sid = m.created.sid,
                                        .mode = WIRE_MODE_INTERACTIVE,
                                        .from_kind = WIRE_FROM_OFFSET,
                                        .from = 0};
        sc_send(c, &a);
        break;
    }
    case WIRE_ATTACHED:
        if (m.attached.start != 0)
            sc_die("ATTACHED: offset 0 is no longer retained");
        break;
    case WIRE_EXIT: {
        struct sc_sess *s = sc_find(c, m.exit.sid);
        if (!s || s->exited)
            sc_die("EXIT for an unknown session");
        if (m.exit.end != s->next_off)
            sc_die("EXIT's end differs from the bytes received");
        s->exited = true;
        c->exited++;
        break;
    }
    case WIRE_GAP:
        sc_die("GAP sent to a lossless client");
        break;
    case WIRE_ERROR:
        snprintf(msg, sizeof msg, "ERROR %s from the daemon: %.*s", wire_err_name(m.error.code),
                 (int)m.error.message.len, (const char *)m.error.message.p);
        sc_die(msg);
        break;
    default:
        break;
    }
}

/* Consumes what it can of buf[0..len); returns the bytes consumed. */
static size_t sc_parse(struct sc *c, const uint8_t *buf, size_t len)
{
    size_t pos = 0;
    while (pos < len) {
        if (c->skip) {
            size_t k = len - pos < c->skip ? len - pos : (size_t)c->skip;
            c->payload += k;
            c->skip -= k;
            pos += k;
            continue;
        }
        if (len - pos < WIRE_LEN_PREFIX + 1)
            break;
        const uint8_t *h = buf + pos;
        uint32_t blen =
            (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
        if (blen == 0 || blen > WIRE_MAX_BODY)
            sc_die("bad frame length from the daemon");
        if (h[4] == WIRE_OUTPUT) {
            if (len - pos < WIRE_LEN_PREFIX + WIRE_OUTPUT_HDR)
                break;
            uint32_t sid =
                (uint32_t)h[5] | (uint32_t)h[6] << 8 | (uint32_t)h[7] << 16 | (uint32_t)h[8] << 24;
            uint64_t off = 0;
            for (int i = 7; i >= 0; i--)
                off = off << 8 | h[9 + i];
            struct sc_sess *s = sc_find(c, sid);
            if (!s)
                sc_die("OUTPUT for a session we did not attach to");
            if (off != s->next_off)
                sc_die("OUTPUT does not start where the previous one ended");
            c->skip = blen - WIRE_OUTPUT_HDR;
            s->next_off += c->skip;
            c->frames++;
            pos += WIRE_LEN_PREFIX + WIRE_OUTPUT_HDR;
            continue;
        }
        if (len - pos < WIRE_LEN_PREFIX + blen)
            break;
        sc_message(c, h + WIRE_LEN_PREFIX, blen);
        pos += WIRE_LEN_PREFIX + blen;
    }
    return pos;
}

/* utime + stime of pid in seconds. */
static double sc_cpu(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

int main(int argc, char **argv)
{
    const char *bin = NULL;
    const char *serve[SC_MAX_ARGS];
    unsigned nserve = 0, n = 0;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (i + 1 >= argc)
            sc_die("option without a value");
        if (strcmp(argv[i], "--ptyhub") == 0)
            bin = argv[++i];
        else if (strcmp(argv[i], "--sessions") == 0)
            n = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--serve-arg") == 0 && nserve < SC_MAX_ARGS - 4)
            serve[nserve++] = argv[++i];
        else
            sc_die("unknown option");
    }
    if (!bin || i >= argc) {
        printf("spread_client: one `ptyhub stdio` connection driving N flooding sessions; "
               "run by bench/spread.py\n");
        return 0;
    }
    if (n == 0 || n > SC_MAX_SESSIONS)
        sc_die("--sessions: 1 to 64");
    int in[2], out[2];
    if (pipe(in) < 0 || pipe(out) < 0)
        sc_die("pipe");
    struct sc c = {.n = n};
    c.pid = fork();
    if (c.pid < 0)
        sc_die("fork");
    if (c.pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        const char *av[SC_MAX_ARGS + 2];
        unsigned k = 0;
        av[k++] = bin;
        av[k++] = "stdio";
        for (unsigned j = 0; j < nserve; j++)
            av[k++] = serve[j];
        av[k] = NULL;
        execv(bin, (char *const *)av);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    c.wfd = in[1];
    c.rfd = out[0];
    signal(SIGPIPE, SIG_IGN);

    struct wire_msg m = {.type = WIRE_HELLO};
    m.hello = (struct wire_hello){.version = WIRE_VERSION};
    sc_send(&c, &m);
    static uint8_t argvbuf[16 * 1024];
    size_t cargc = (size_t)(argc - i);
    size_t alen = wire_block_pack((const char *const *)(argv + i), cargc, argvbuf, sizeof argvbuf);
    if (alen > sizeof argvbuf)
        sc_die("command too long");
    double cpu0 = -1, t0 = 0;
    for (unsigned k = 0; k < n; k++) {
        m = (struct wire_msg){.type = WIRE_CREATE};
        m.create.req = k + 1;
        m.create.argv = (struct wire_block){argvbuf, alen, (uint16_t)cargc};
        sc_send(&c, &m);
    }
    uint8_t *buf = malloc(SC_BUF);
    size_t have = 0;
    while (c.exited < n) {
        ssize_t r = read(c.rfd, buf + have, SC_BUF - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            sc_die("the daemon closed the connection");
        if (cpu0 < 0) {
            cpu0 = sc_cpu(c.pid); /* from the first reply: start-up not counted */
            t0 = sc_now();
        }
        have += (size_t)r;
        size_t used = sc_parse(&c, buf, have);
        memmove(buf, buf + used, have - used);
        have -= used;
    }
    double t1 = sc_now(), cpu1 = sc_cpu(c.pid);
    close(c.wfd);
    int status;
    waitpid(c.pid, &status, 0);
    printf("bytes=%llu seconds=%.4f daemon_cpu=%.3f frames=%llu sessions=%u status=%d\n",
           (unsigned long long)c.payload, t1 - t0, cpu1 - cpu0, (unsigned long long)c.frames, n,
           WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    free(buf);
    return 0;
}
