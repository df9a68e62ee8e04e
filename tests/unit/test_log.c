/* test_log: logging never blocks, drops are counted and announced, lines arrive whole.
 *
 * Each case points fd 2 at a pipe (or socket) it controls. A flood into a pipe nobody
 * reads must return (a blocking write would trip the case's alarm), count its drops, and
 * once the pipe is drained announce them in one warning line. With a reader that keeps
 * up, every line arrives complete and in order, also from several threads at once.
 * log_init_output must not set O_NONBLOCK on the description fd 2 shares with the parent;
 * a socket on fd 2 is flooded the same way, and a closed fd 2 is never written once its
 * number is reused.
 * While fd 2 is redirected the cases collect results first and CHECK only after fd 2 is
 * restored, so a failure message cannot itself block on the full pipe. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "harness.h"

#define NOTICE_TEXT "log lines dropped (stderr was not being read)"

/* A growable byte buffer for what the test read back. */
struct sink {
    char *p;
    size_t len, cap;
};

/* Appends n bytes to s. */
static void sink_put(struct sink *s, const char *p, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        s->cap = (s->len + n + 1) * 2;
        s->p = realloc(s->p, s->cap);
        if (!s->p)
            abort();
    }
    memcpy(s->p + s->len, p, n);
    s->len += n;
    s->p[s->len] = '\0';
}

/* Reads everything now available from the non-blocking fd into s. */
static void drain(int fd, struct sink *s)
{
    char buf[16384];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0)
            sink_put(s, buf, (size_t)n);
        else if (n < 0 && errno == EINTR)
            continue;
        else
            return;
    }
}

/* Points fd 2 at fd (which is then closed) and returns a copy of the old fd 2. */
static int redirect_stderr(int fd)
{
    int saved = dup(STDERR_FILENO);
    CHECK(saved >= 0);
    CHECK(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
    close(fd);
    return saved;
}

/* Puts the saved fd 2 back. */
static void restore_stderr(int saved)
{
    dup2(saved, STDERR_FILENO);
    close(saved);
}

/* Makes a pipe whose read end is non-blocking; the write end stays blocking. */
static void make_pipe(int p[2])
{
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    CHECK(fcntl(p[0], F_SETFL, O_NONBLOCK) == 0);
}

/* Checks that text is whole lines "HH:MM:SS.mmm ptyhub[pid] level: ..." and sums the
 * counts of drop notices and the number of lines containing tag. */
static void check_lines(const struct sink *s, const char *tag, uint64_t *noticed, uint64_t *tagged)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, " ptyhub[%d] ", (int)getpid());
    *noticed = 0;
    *tagged = 0;
    CHECK(s->len == 0 || s->p[s->len - 1] == '\n');
    for (char *line = s->p; line && line < s->p + s->len;) {
        char *nl = memchr(line, '\n', (size_t)(s->p + s->len - line));
        CHECK(nl != NULL);
        *nl = '\0';
        CHECK_MSG(strlen(line) > 12 && line[2] == ':' && line[8] == '.', "bad line: %s", line);
        CHECK_MSG(strncmp(line + 12, prefix, strlen(prefix)) == 0, "bad prefix: %s", line);
        const char *body = line + 12 + strlen(prefix);
        if (strstr(body, NOTICE_TEXT)) {
            unsigned long long n = 0;
            CHECK_MSG(sscanf(body, "warn: %llu " NOTICE_TEXT, &n) == 1, "bad notice: %s", line);
            *noticed += n;
        } else if (strstr(body, tag)) {
            ++*tagged;
        }
        *nl = '\n';
        line = nl + 1;
    }
}

/* Floods a pipe nobody reads, then drains it and checks drops were counted and told. */
static void flood_unread_pipe(bool init)
{
    enum { N = 20000 };
    int p[2];
    make_pipe(p);
    int saved = redirect_stderr(p[1]);
    int init_rc = init ? log_init_output() : 0;
    int out_fd = log_output_fd();
    bool errno_kept = true;
    for (int i = 0; i < N; i++) {
        errno = EDOM;
        log_info("flood line %d", i);
        errno_kept = errno_kept && errno == EDOM;
    }
    uint64_t dropped = log_dropped_total(), accepted = log_lines_total();
    bool pending_when_full = log_pending();
    struct sink got = {0};
    do {
        drain(p[0], &got);
        log_flush();
    } while (log_pending());
    drain(p[0], &got);
    uint64_t dropped_after = log_dropped_total();
    restore_stderr(saved);

    CHECK_EQ(init_rc, 0);
    CHECK(init ? out_fd != STDERR_FILENO : out_fd == STDERR_FILENO);
    CHECK(errno_kept);
    CHECK(pending_when_full);
    CHECK(dropped > 0);
    CHECK_U64_EQ(dropped + accepted, N);
    CHECK_U64_EQ(dropped_after, dropped);
    CHECK(got.p != NULL);
    CHECK_MSG(strstr(got.p, NOTICE_TEXT) != NULL, "no drop notice in %zu bytes", got.len);
    uint64_t noticed, tagged;
    check_lines(&got, "flood line", &noticed, &tagged);
    CHECK_U64_EQ(noticed, dropped);
    CHECK_U64_EQ(tagged, accepted);
    free(got.p);
}

TEST(log_unread_pipe_drops_and_counts)
{
    flood_unread_pipe(false);
}

TEST(log_unread_pipe_drops_and_counts_after_init)
{
    flood_unread_pipe(true);
}

/* Logs lines of varying length while reading after each; checks they arrive whole. */
static void read_keeps_up(bool init)
{
    enum { N = 5000 };
    static char pad[600];
    int p[2];
    make_pipe(p);
    int saved = redirect_stderr(p[1]);
    if (init)
        log_init_output();
    struct sink got = {0};
    for (int i = 0; i < N; i++) {
        int padlen = (i * 37) % 500;
        memset(pad, 'a' + i % 26, (size_t)padlen);
        pad[padlen] = '\0';
        log_info("seq %d len %d %s", i, padlen, pad);
        drain(p[0], &got);
    }
    while (log_pending()) {
        log_flush();
        drain(p[0], &got);
    }
    uint64_t dropped = log_dropped_total();
    restore_stderr(saved);

    CHECK_U64_EQ(dropped, 0);
    CHECK_U64_EQ(log_lines_total(), N);
    uint64_t noticed, tagged;
    check_lines(&got, " seq ", &noticed, &tagged);
    CHECK_U64_EQ(noticed, 0);
    CHECK_U64_EQ(tagged, N);
    char *line = got.p;
    for (int i = 0; i < N; i++) {
        /* memmem within the line: ASan's strstr measures the whole buffer each time. */
        char *nl = memchr(line, '\n', (size_t)(got.p + got.len - line));
        CHECK(nl != NULL);
        char *body = memmem(line, (size_t)(nl - line), "info: seq ", 10);
        CHECK(body != NULL);
        int seq = -1, len = -1, off = 0;
        CHECK(sscanf(body, "info: seq %d len %d%n", &seq, &len, &off) == 2);
        CHECK(body[off++] == ' ');
        CHECK_EQ(seq, i);
        CHECK_EQ(len, (i * 37) % 500);
        for (int k = 0; k < len; k++)
            CHECK_MSG(body[off + k] == 'a' + i % 26, "line %d damaged at byte %d", i, k);
        CHECK(body[off + len] == '\n');
        line = body + off + len + 1;
    }
    CHECK(line == got.p + got.len);
    free(got.p);
}

TEST(log_lines_whole_in_order)
{
    read_keeps_up(false);
}

TEST(log_lines_whole_in_order_after_init)
{
    read_keeps_up(true);
}

enum { THREADS = 4, PER_THREAD = 3000 };

/* A writer thread: logs PER_THREAD numbered lines tagged with its index. */
static void *writer_main(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < PER_THREAD; i++)
        log_info("thread %d line %d %.*s", t, i, (i * 13) % 300,
                 "................................................................"
                 "................................................................"
                 "................................................................"
                 "................................................................"
                 "................................................................");
    return NULL;
}

struct reader {
    int fd;
    struct sink got;
};

/* The reader thread: blocking reads into a sink until end of file. */
static void *reader_main(void *arg)
{
    struct reader *r = arg;
    char buf[8192];
    for (;;) {
        ssize_t n = read(r->fd, buf, sizeof buf);
        if (n > 0)
            sink_put(&r->got, buf, (size_t)n);
        else if (n < 0 && errno == EINTR)
            continue;
        else
            return NULL;
    }
}

TEST(log_lines_whole_across_threads)
{
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    int saved = redirect_stderr(p[1]);
    struct reader r = {.fd = p[0]};
    pthread_t rd, wr[THREADS];
    CHECK(pthread_create(&rd, NULL, reader_main, &r) == 0);
    for (int t = 0; t < THREADS; t++)
        CHECK(pthread_create(&wr[t], NULL, writer_main, (void *)(intptr_t)t) == 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(wr[t], NULL);
    /* What an integrator does: wait for the output to be writable, then flush. */
    while (log_pending()) {
        struct pollfd pfd = {.fd = log_output_fd(), .events = POLLOUT};
        poll(&pfd, 1, -1);
        log_flush();
    }
    uint64_t dropped = log_dropped_total(), accepted = log_lines_total();
    restore_stderr(saved); /* closes the last write end: the reader sees end of file */
    pthread_join(rd, NULL);
    close(p[0]);

    CHECK_U64_EQ(dropped + accepted, THREADS * PER_THREAD);
    uint64_t noticed, tagged;
    check_lines(&r.got, "info: thread ", &noticed, &tagged);
    CHECK_U64_EQ(noticed, dropped);
    CHECK_U64_EQ(tagged, accepted);
    int next[THREADS] = {0};
    for (char *line = r.got.p; line < r.got.p + r.got.len;) {
        char *nl = memchr(line, '\n', (size_t)(r.got.p + r.got.len - line));
        CHECK(nl != NULL);
        char *body = memmem(line, (size_t)(nl - line), "info: thread ", 13);
        if (body) {
            int t = -1, i = -1, off = 0;
            CHECK(sscanf(body, "info: thread %d line %d%n", &t, &i, &off) == 2);
            CHECK(body[off++] == ' ');
            CHECK(t >= 0 && t < THREADS);
            CHECK_MSG(i >= next[t], "thread %d: line %d after %d", t, i, next[t] - 1);
            next[t] = i + 1;
            CHECK_EQ(nl - (body + off), (i * 13) % 300);
        }
        line = nl + 1;
    }
    free(r.got.p);
}

TEST(log_init_output_leaves_parent_blocking)
{
    int p[2];
    make_pipe(p);
    int saved = redirect_stderr(p[1]);
    int before = fcntl(STDERR_FILENO, F_GETFL);
    int rc = log_init_output();
    int after = fcntl(STDERR_FILENO, F_GETFL);
    int out = log_output_fd();
    int out_fl = fcntl(out, F_GETFL);
    int out_fd_fl = fcntl(out, F_GETFD);
    log_info("through the private description");
    struct sink got = {0};
    drain(p[0], &got);
    restore_stderr(saved);

    CHECK_EQ(rc, 0);
    CHECK(before >= 0 && !(before & O_NONBLOCK));
    CHECK_MSG(after >= 0 && !(after & O_NONBLOCK), "fd 2 became O_NONBLOCK");
    CHECK(out != STDERR_FILENO);
    CHECK(out_fl >= 0 && (out_fl & O_NONBLOCK));
    CHECK(out_fd_fl >= 0 && (out_fd_fl & FD_CLOEXEC));
    CHECK(got.p && strstr(got.p, "info: through the private description\n"));
    free(got.p);
}

TEST(log_unread_socket_drops_and_counts)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
    int saved = redirect_stderr(sv[1]);
    int rc = log_init_output();
    int out = log_output_fd();
    int fl = fcntl(STDERR_FILENO, F_GETFL);
    for (int i = 0; i < 20000; i++)
        log_info("flood line %d", i);
    uint64_t dropped = log_dropped_total(), accepted = log_lines_total();
    struct sink got = {0};
    do {
        drain(sv[0], &got);
        log_flush();
    } while (log_pending());
    drain(sv[0], &got);
    restore_stderr(saved);

    CHECK_EQ(rc, 0);
    CHECK_EQ(out, STDERR_FILENO);
    CHECK(fl >= 0 && !(fl & O_NONBLOCK));
    CHECK(dropped > 0);
    uint64_t noticed, tagged;
    check_lines(&got, "flood line", &noticed, &tagged);
    CHECK_U64_EQ(noticed, dropped);
    CHECK_U64_EQ(tagged, accepted);
    free(got.p);
}

TEST(log_closed_stderr_counts_and_never_reuses_fd2)
{
    int p[2];
    make_pipe(p);
    int saved = dup(STDERR_FILENO);
    CHECK(saved >= 0);
    close(STDERR_FILENO);
    int rc = log_init_output();
    int out = log_output_fd();
    int reused = dup(p[1]); /* the lowest free number: an unrelated pipe is now fd 2 */
    errno = EDOM;
    log_info("must not reach the new fd 2");
    int err = errno;
    char buf[64];
    ssize_t n = read(p[0], buf, sizeof buf);
    restore_stderr(saved);

    CHECK_EQ(reused, STDERR_FILENO);
    CHECK_EQ(rc, -EBADF);
    CHECK_EQ(out, -1);
    CHECK_EQ(err, EDOM);
    CHECK_EQ(n, -1);
    CHECK_U64_EQ(log_lines_total(), 1);
    CHECK_U64_EQ(log_dropped_total(), 1);
    CHECK(!log_pending());
}
