/* spawn: start a program on a fresh PTY, and reap it through a pidfd.
 *
 * The child runs in a new session with the PTY's terminal as its controlling tty and as
 * fds 0-2, with default signal dispositions, an empty signal mask and no other fds. It
 * is started with clone(CLONE_VM|CLONE_VFORK) so the cost does not grow with the
 * daemon's memory; everything the child needs (envp, PATH candidates) is built here
 * beforehand, and a failed chdir or exec is reported back as an error, never as a
 * session that exits 127. As with execvp(3), a file without a #! line that the kernel
 * will not run (ENOEXEC) is run by /bin/sh. Nothing here touches the reactor: the caller
 * watches the non-blocking master and the pidfd.
 */
#ifndef PTYHUB_SPAWN_H
#define PTYHUB_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct spawn_opts {
    const char *const *argv;      /* argv[0] is looked up in PATH (of the env given to the child) if
                                     it has no '/' */
    const char *cwd;              /* NULL: inherit */
    const char *const *env_extra; /* NULL-terminated "K=V" overrides added to the daemon's environ
                                     (may be NULL); they may override TERM, not PTYHUB_SESSION; a
                                     later one replaces an earlier one with the same key in place.
                                     At most 65535 entries and 4 MiB (with NULs), else -E2BIG */
    uint16_t cols, rows;          /* initial size (0 → 80x24) */
    const char *session_id;       /* exported as PTYHUB_SESSION (NULL: not exported, and an
                                     inherited PTYHUB_SESSION is removed) */
};

/* master: non-blocking, O_CLOEXEC; pidfd: O_CLOEXEC. The caller owns both. */
struct spawn_result {
    int master;
    pid_t pid;
    int pidfd;
};

/* Test-only: when true, the child skips close_range() and takes the /proc/self/fd walk
 * that is otherwise used only where close_range is missing (kernels before 5.11, or a
 * seccomp filter that rejects it). Read once per spawn_pty call; default false. */
extern bool spawn_force_fd_walk;

/* Returns 0, or a negative errno with a one-line reason in err (e.g. "cannot execute 'nosuch':
 * No such file or directory", "cannot chdir to '/nope': No such file or directory"). On failure
 * nothing is left behind (no fd, no zombie). */
int spawn_pty(const struct spawn_opts *o, struct spawn_result *out, char *err, size_t errlen);

/* Non-blocking reap through the pidfd (waitid(P_PIDFD, ..., WEXITED|WNOHANG)): 0 and the status,
 * -EAGAIN if still running. code = exit status or -1; sig = terminating signal or 0. */
int spawn_reap(int pidfd, int *code, int *sig);

/* Sets the terminal size (TIOCSWINSZ; the kernel sends SIGWINCH to the foreground group).
 * Returns 0, -EINVAL for a zero dimension, or the ioctl's negative errno. */
int spawn_set_size(int master, uint16_t cols, uint16_t rows);

#endif
