/* log: leveled diagnostics to stderr through a bounded queue that is written without
 * ever blocking, so a parent that stops reading our stderr cannot stall a reactor
 * thread. Lines are formatted outside the lock, queued whole under it, and leave the
 * queue in order; a line that does not fit is dropped and counted, and a single warning
 * with the count is queued before the next line once there is room again. */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_QUEUE_CAP (64 * 1024)
#define LOG_LINE_MAX 1024

/* How the output fd is written without blocking. */
enum log_out_mode {
    LOG_OUT_POLL,     /* fd 2 as inherited: poll(POLLOUT, 0), then at most PIPE_BUF bytes */
    LOG_OUT_NONBLOCK, /* a private O_NONBLOCK description of fd 2's pipe or terminal */
    LOG_OUT_SEND,     /* fd 2 is a socket: send(MSG_DONTWAIT | MSG_NOSIGNAL) */
    LOG_OUT_PLAIN,    /* fd 2 is a regular file (or similar): plain write(2) */
};

static _Atomic int log_level = LOG_INFO;

static const char *const log_names[] = {"debug", "info", "warn", "error", "off"};

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
/* Everything below up to the counters is guarded by log_mu. */
static char log_queue[LOG_QUEUE_CAP];
static size_t log_q_off;  /* first queued byte */
static size_t log_q_len;  /* queued bytes, starting at log_q_off */
static uint64_t log_owed; /* lines dropped since the last drop notice was queued */
static int log_out_fd = STDERR_FILENO;
static enum log_out_mode log_out_mode = LOG_OUT_POLL;
static bool log_out_inited;

static _Atomic uint64_t log_dropped;
static _Atomic uint64_t log_accepted;

/* Sets the minimum level that is printed. */
void log_set_level(enum log_level level)
{
    atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

/* Returns the minimum level that is printed. */
enum log_level log_get_level(void)
{
    return (enum log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

/* Parses a level name. */
int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i <= LOG_OFF; i++) {
        if (strcmp(s, log_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* Formats "HH:MM:SS.mmm ptyhub[pid] level: message\n" into line; returns its length. */
static size_t log_format(char *line, size_t cap, enum log_level level, const char *fmt, va_list ap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, cap, "%02d:%02d:%02d.%03ld ptyhub[%d] %s: ", tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, (int)getpid(), log_names[level]);
    if (n < 0)
        n = 0;
    if ((size_t)n > cap - 2)
        n = (int)(cap - 2);
    int m = vsnprintf(line + n, cap - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > cap - 2)
        len = cap - 2;
    line[len++] = '\n';
    return len;
}

/* log_format with variadic arguments. */
static size_t log_formatf(char *line, size_t cap, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static size_t log_formatf(char *line, size_t cap, enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t len = log_format(line, cap, level, fmt, ap);
    va_end(ap);
    return len;
}

/* Appends len bytes to the queue, which the caller has checked has room. */
static void log_append_locked(const char *p, size_t len)
{
    if (log_q_off + log_q_len + len > LOG_QUEUE_CAP) {
        memmove(log_queue, log_queue + log_q_off, log_q_len);
        log_q_off = 0;
    }
    memcpy(log_queue + log_q_off + log_q_len, p, len);
    log_q_len += len;
}

/* Throws away the queue after a hard write error; its lines count as dropped. */
static void log_discard_locked(void)
{
    uint64_t lines = 0;
    for (size_t i = 0; i < log_q_len; i++)
        lines += log_queue[log_q_off + i] == '\n';
    atomic_fetch_add_explicit(&log_dropped, lines, memory_order_relaxed);
    log_q_off = 0;
    log_q_len = 0;
}

/* One non-blocking write attempt of up to n bytes from p; returns bytes or -errno. */
static ssize_t log_write_once(const char *p, size_t n)
{
    ssize_t w;
    switch (log_out_mode) {
    case LOG_OUT_POLL: {
        /* POLLOUT on a pipe means one free page, so a write of at most PIPE_BUF bytes
         * completes without sleeping (pipe(7)); anything larger might wait. */
        struct pollfd pfd = {.fd = log_out_fd, .events = POLLOUT};
        int r = poll(&pfd, 1, 0);
        if (r < 0)
            return -errno;
        if (r == 0)
            return -EAGAIN;
        if (pfd.revents & POLLNVAL)
            return -EBADF;
        if (n > PIPE_BUF)
            n = PIPE_BUF;
        w = write(log_out_fd, p, n);
        break;
    }
    case LOG_OUT_SEND:
        w = send(log_out_fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        break;
    default:
        w = write(log_out_fd, p, n);
        break;
    }
    if (w < 0)
        return -errno;
    return w;
}

/* Writes queued bytes until the queue is empty or the output would block. A partial
 * write leaves the rest of the line at the head of the queue, so it goes out next. */
static void log_write_locked(void)
{
    while (log_q_len > 0) {
        ssize_t w = log_write_once(log_queue + log_q_off, log_q_len);
        if (w == -EINTR)
            continue;
        if (w == -EAGAIN || w == -EWOULDBLOCK)
            return;
        if (w <= 0) {
            log_discard_locked();
            return;
        }
        log_q_off += (size_t)w;
        log_q_len -= (size_t)w;
    }
    log_q_off = 0;
}

/* Queues the "N log lines dropped" warning if lines were dropped and it now fits. */
static void log_notice_locked(void)
{
    if (log_owed == 0)
        return;
    char line[256];
    size_t len = log_formatf(line, sizeof line, LOG_WARN,
                             "%llu log lines dropped (stderr was not being read)",
                             (unsigned long long)log_owed);
    if (log_q_len + len > LOG_QUEUE_CAP)
        return;
    log_append_locked(line, len);
    log_owed = 0;
}

/* Writes what the output accepts, then queues an owed drop notice and writes again. */
static void log_flush_locked(void)
{
    log_write_locked();
    if (log_owed) {
        log_notice_locked();
        log_write_locked();
    }
}

static void (*_Atomic log_hook)(void *);
static void *log_hook_arg;

/* Formats one line "ptyhub[pid] level: message", queues it and tries to write it. */
void log_msg(enum log_level level, const char *fmt, ...)
{
    if ((int)level < atomic_load_explicit(&log_level, memory_order_relaxed))
        return;
    int saved = errno;
    char line[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    size_t len = log_format(line, sizeof line, level, fmt, ap);
    va_end(ap);

    pthread_mutex_lock(&log_mu);
    log_flush_locked(); /* make room, and queue an owed notice ahead of this line */
    if (log_owed == 0 && log_q_len + len <= LOG_QUEUE_CAP) {
        log_append_locked(line, len);
        atomic_fetch_add_explicit(&log_accepted, 1, memory_order_relaxed);
        log_write_locked();
    } else {
        log_owed++;
        atomic_fetch_add_explicit(&log_dropped, 1, memory_order_relaxed);
    }
    bool left = log_q_len > 0 || log_owed > 0;
    pthread_mutex_unlock(&log_mu);
    void (*hook)(void *) = log_hook;
    if (left && hook)
        hook(log_hook_arg);
    errno = saved;
}

/* Sets the function told that lines are left queued (see log.h). */
void log_set_pending_hook(void (*fn)(void *arg), void *arg)
{
    log_hook_arg = arg;
    log_hook = fn;
}

/* Reopens fd 2 through /proc for a private non-blocking description; returns fd or -errno.
 * O_NOCTTY: a session leader without a terminal must not acquire fd 2's as one. */
static int log_reopen_stderr(void)
{
    int fl = fcntl(STDERR_FILENO, F_GETFL);
    if (fl < 0)
        return -errno;
    int flags = O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | (fl & O_APPEND);
    int fd = open("/proc/self/fd/2", flags);
    if (fd < 0)
        return -errno;
    return fd;
}

/* Picks the non-blocking way to write fd 2 from its file type. */
int log_init_output(void)
{
    int saved = errno;
    int rc = 0;
    struct stat st;
    pthread_mutex_lock(&log_mu);
    if (log_out_inited) {
        pthread_mutex_unlock(&log_mu);
        return 0;
    }
    log_out_inited = true;
    if (fstat(STDERR_FILENO, &st) < 0) {
        rc = -errno;
        /* fd 2 closed: a descriptor opened later may take number 2, and log lines must
         * not go into it; -1 makes each write fail with EBADF, counted as dropped. */
        if (rc == -EBADF) {
            log_out_fd = -1;
            log_out_mode = LOG_OUT_PLAIN;
        }
    } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
        int fd = log_reopen_stderr();
        if (fd >= 0) {
            log_out_fd = fd;
            log_out_mode = LOG_OUT_NONBLOCK;
        } /* else: stay in LOG_OUT_POLL on fd 2 */
    } else if (S_ISSOCK(st.st_mode)) {
        log_out_mode = LOG_OUT_SEND;
    } else {
        log_out_mode = LOG_OUT_PLAIN;
    }
    log_flush_locked();
    pthread_mutex_unlock(&log_mu);
    errno = saved;
    return rc;
}

/* Writes as much of the queue as the output accepts now. */
void log_flush(void)
{
    int saved = errno;
    pthread_mutex_lock(&log_mu);
    log_flush_locked();
    pthread_mutex_unlock(&log_mu);
    errno = saved;
}

/* True while queued bytes, or an owed drop notice, have not been written. */
bool log_pending(void)
{
    pthread_mutex_lock(&log_mu);
    bool pending = log_q_len > 0 || log_owed > 0;
    pthread_mutex_unlock(&log_mu);
    return pending;
}

/* Lines dropped since start. */
uint64_t log_dropped_total(void)
{
    return atomic_load_explicit(&log_dropped, memory_order_relaxed);
}

/* Lines accepted by log_msg since start. */
uint64_t log_lines_total(void)
{
    return atomic_load_explicit(&log_accepted, memory_order_relaxed);
}

/* The fd log output goes to. */
int log_output_fd(void)
{
    pthread_mutex_lock(&log_mu);
    int fd = log_out_fd;
    pthread_mutex_unlock(&log_mu);
    return fd;
}
