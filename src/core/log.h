/* log: leveled diagnostics to stderr (never stdout: `ptyhub stdio` owns stdout).
 *
 * Logging never blocks the calling thread. log_msg formats a line and appends it to a
 * bounded in-memory queue (64 KiB, guarded by a mutex, so any thread may log), then
 * tries a non-blocking write of the queue. If stderr is not being read, the queue fills
 * and further lines are dropped and counted; once the queue has room again, one line
 * "ptyhub[pid] warn: N log lines dropped (stderr was not being read)" is queued before
 * any later line. Lines leave the queue whole and in order: a partial write keeps the
 * unwritten tail at the head of the queue, and no other line is written before it.
 *
 * log_init_output, called once at start-up before any thread, gives the logger a
 * private non-blocking open file description for a pipe or terminal on fd 2 (reopened
 * through /proc/self/fd/2), so O_NONBLOCK never leaks to the parent sharing fd 2; a
 * socket is written with send(MSG_DONTWAIT). Without it (unit tests, CLI commands), or
 * if the reopen fails, each write is preceded by poll(POLLOUT, 0) and is at most
 * PIPE_BUF bytes, which a pipe with room accepts without blocking.
 *
 * Bytes still queued are written by the next log_msg or log_flush call; a long-running
 * program should call log_flush while log_pending(), e.g. when log_output_fd() becomes
 * writable or from a timer. log_msg preserves errno. */
#ifndef PTYHUB_LOG_H
#define PTYHUB_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "debug|info|warn|error|off"; returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
/* Formats and queues one line, then tries a non-blocking flush; never blocks. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Chooses how fd 2 is written without blocking; call once before starting threads.
 * Returns 0 (also when the reopen fails and poll-checked writes to fd 2 are used), or
 * -errno from fstat(2): with fd 2 closed (-EBADF) log lines are counted as dropped. */
int log_init_output(void);
/* Writes as much of the queue as the output accepts right now; never blocks. */
void log_flush(void);
/* True while bytes are queued (or a drop notice is owed) and not yet written. */
bool log_pending(void);
/* Lines dropped because the queue was full or the output failed, since start. */
uint64_t log_dropped_total(void);
/* Lines accepted into the queue by log_msg, since start (drop notices not counted). */
uint64_t log_lines_total(void);
/* The fd the logger writes to (-1 if fd 2 was closed at log_init_output); watch it
 * for POLLOUT and call log_flush. */
int log_output_fd(void);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Registers fn(arg), called (from any thread, outside the logger's lock, so it may post
 * to a reactor) after a log_msg that left lines queued because stderr was full: the
 * daemon then flushes from a timer until they are out. Set once, before threads. */
void log_set_pending_hook(void (*fn)(void *arg), void *arg);

#endif
