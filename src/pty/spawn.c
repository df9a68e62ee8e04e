/* spawn: start a program on a fresh PTY, and reap it through a pidfd.
 *
 * The parent opens the PTY pair, sets its size, builds the child's envp and the list of
 * paths to try for argv[0], blocks every signal, and clones a child that shares its memory
 * (CLONE_VM|CLONE_VFORK) on a private mmap'd stack; the parent sleeps until the child has
 * exec'd or exited. The child only makes raw system calls (no allocation, no locks, no
 * sanitizer interceptors): reset signal dispositions, unblock, setsid, TIOCSCTTY, dup the
 * slave to 0-2, chdir, mark fds >= 3 close-on-exec, exec. If any step fails it writes the
 * stage and errno into the shared struct and exits 127; the parent reaps that child at
 * once and returns the error. This is the shape of glibc's posix_spawn (see
 * sysdeps/unix/sysv/linux/spawni.c), which cannot do setsid + TIOCSCTTY for us on glibc
 * 2.36.
 */
#include "pty/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "core/xalloc.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* The kernel's sigset size (8 bytes on most architectures), for raw rt_sig* calls. */
#define KSIGSET_BYTES ((_NSIG - 1) / 8)

/* Stack for the child between clone and exec; it makes a few system calls and walks
 * /proc/self/fd with a 1 KiB buffer, so this is generous. A guard page sits below it. */
#define SPAWN_STACK_SIZE (64 * 1024)

/* Code that runs in the child shares the parent's memory but not its stack; it must not
 * be instrumented (ASan would poison shadow for a stack it does not know, UBSan handlers
 * may lock or allocate) and must not call intercepted libc functions. */
#define SPAWN_CHILD __attribute__((no_sanitize("address", "undefined"), noinline))

extern char **environ;

bool spawn_force_fd_walk = false;

enum spawn_stage {
    STAGE_NONE = 0,
    STAGE_SETSID,
    STAGE_CTTY,
    STAGE_DUP,
    STAGE_CHDIR,
    STAGE_FDS,
    STAGE_EXEC,
};

/* Everything the child reads (prepared by the parent) and writes back on failure. */
struct spawn_child {
    int slave;
    const char *cwd;
    char *const *argv;
    char *const *envp;
    char *const *paths; /* NULL-terminated candidates for argv[0], tried in order */
    char **sh_argv;     /* for ENOEXEC; the child fills slot 1 (see spawn_sh_argv) */
    bool fd_walk;
    volatile int stage; /* written by the child just before it exits 127 */
    volatile int err;
};

/* The layout of one record returned by getdents64(2). */
struct spawn_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* A zeroed kernel struct sigaction is SIG_DFL, no flags, empty mask on every
 * architecture (SIG_DFL is 0); 64 bytes covers the largest layout. */
static const unsigned long spawn_dfl_action[8];
static const unsigned long spawn_empty_mask[4];

/* Child: records the failed stage and errno for the parent, then exits 127. */
SPAWN_CHILD __attribute__((noreturn)) static void spawn_child_fail(struct spawn_child *c, int stage,
                                                                   int err)
{
    c->err = err;
    c->stage = stage;
    for (;;)
        syscall(SYS_exit_group, 127);
}

/* Child: marks every fd >= 3 close-on-exec by walking /proc/self/fd; 0 or an errno. */
SPAWN_CHILD static int spawn_child_walk_fds(void)
{
    int dir =
        (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return errno;
    char buf[1024] __attribute__((aligned(8)));
    for (;;) {
        long n = syscall(SYS_getdents64, dir, buf, sizeof buf);
        if (n < 0) {
            int e = errno;
            syscall(SYS_close, dir);
            return e;
        }
        if (n == 0)
            break;
        for (long off = 0; off < n;) {
            struct spawn_dirent64 *d = (struct spawn_dirent64 *)(void *)(buf + off);
            off += d->d_reclen;
            long fd = 0;
            const char *p = d->d_name;
            if (*p < '0' || *p > '9')
                continue; /* "." and ".." */
            for (; *p >= '0' && *p <= '9'; p++)
                fd = fd * 10 + (*p - '0');
            if (fd < 3 || fd == dir)
                continue;
            if (syscall(SYS_fcntl, (int)fd, F_SETFD, FD_CLOEXEC) < 0 && errno != EBADF) {
                int e = errno;
                syscall(SYS_close, dir);
                return e;
            }
        }
    }
    syscall(SYS_close, dir);
    return 0;
}

/* Child: sets up the process on the PTY and execs; never returns. */
SPAWN_CHILD static int spawn_child_main(void *arg)
{
    struct spawn_child *c = arg;

    /* Every signal is blocked (the parent did that before clone), so no handler of the
     * parent's can run on this shared memory while dispositions are reset. */
    for (int sig = 1; sig < _NSIG; sig++)
        syscall(SYS_rt_sigaction, sig, spawn_dfl_action, NULL, KSIGSET_BYTES);

    if (syscall(SYS_setsid) < 0)
        spawn_child_fail(c, STAGE_SETSID, errno);
    if (syscall(SYS_ioctl, c->slave, TIOCSCTTY, 0) < 0)
        spawn_child_fail(c, STAGE_CTTY, errno);

    /* dup3 onto itself would fail, and dup2 onto itself would keep O_CLOEXEC: move a
     * slave that landed on 0-2 (a daemon started with closed stdio) out of the way. */
    int slave = c->slave;
    if (slave < 3) {
        slave = (int)syscall(SYS_fcntl, slave, F_DUPFD_CLOEXEC, 3);
        if (slave < 0)
            spawn_child_fail(c, STAGE_DUP, errno);
    }
    for (int fd = 0; fd < 3; fd++)
        if (syscall(SYS_dup3, slave, fd, 0) < 0)
            spawn_child_fail(c, STAGE_DUP, errno);

    if (c->cwd && syscall(SYS_chdir, c->cwd) < 0)
        spawn_child_fail(c, STAGE_CHDIR, errno);

    /* close_range(2) appeared in 5.9, CLOSE_RANGE_CLOEXEC in 5.11; seccomp filters may
     * also reject it (ENOSYS or EPERM). Any failure falls back to the walk, whose own
     * failure is reported: an fd is never leaked silently. */
    if (c->fd_walk || syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        int e = spawn_child_walk_fds();
        if (e)
            spawn_child_fail(c, STAGE_FDS, e);
    }

    syscall(SYS_rt_sigprocmask, SIG_SETMASK, spawn_empty_mask, NULL, KSIGSET_BYTES);

    /* execvp(3)'s rules: a file without a #! line that the kernel will not run (ENOEXEC)
     * is run as a script by /bin/sh; keep looking past "not here"; remember EACCES. */
    int err = ENOENT;
    bool eacces = false;
    for (char *const *p = c->paths; *p; p++) {
        syscall(SYS_execve, *p, c->argv, c->envp);
        err = errno;
        if (err == ENOEXEC) {
            c->sh_argv[1] = *p; /* the parent's memory, prepared for this; not an allocation */
            syscall(SYS_execve, c->sh_argv[0], c->sh_argv, c->envp);
            err = errno;
        }
        if (err == EACCES)
            eacces = true;
        else if (err != ENOENT && err != ENOTDIR && err != ESTALE && err != ENODEV &&
                 err != ETIMEDOUT)
            spawn_child_fail(c, STAGE_EXEC, err);
    }
    spawn_child_fail(c, STAGE_EXEC, eacces ? EACCES : err);
}

/* The most env_extra entries, and bytes (each string with its NUL), one spawn accepts. */
#define SPAWN_ENV_MAX_ENTRIES 65535
#define SPAWN_ENV_MAX_BYTES ((size_t)4 << 20)

/* Writes a formatted reason into err (if any) and returns rc. */
__attribute__((format(printf, 4, 5))) static int spawn_error(char *err, size_t errlen, int rc,
                                                             const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* One "K=V" added to the child's environment, and when: later ones win. */
struct spawn_env_ent {
    const char *kv;
    size_t klen; /* bytes before the '=' */
    size_t seq;
};

/* The child's environment, built in O(n log n) with no input-dependent worst case (a hash
 * keyed by client-chosen names could be flooded): entries are appended, then sorted by key
 * and collapsed so each key keeps the place of its first entry and the value of its last. */
struct spawn_env {
    struct spawn_env_ent *ents; /* in order added; after spawn_env_finish, one per key, sorted */
    size_t nents, max;
    const char **v; /* after spawn_env_finish: the NULL-terminated envp */
};

/* Length of the key in "K=V" (the whole string if there is no '='). */
static size_t spawn_env_keylen(const char *kv)
{
    const char *eq = strchr(kv, '=');
    return eq ? (size_t)(eq - kv) : strlen(kv);
}

/* Sizes an empty environment for at most max entries. */
static void spawn_env_init(struct spawn_env *e, size_t max)
{
    e->ents = xcalloc(max ? max : 1, sizeof *e->ents);
    e->nents = 0;
    e->max = max;
    e->v = xcalloc(max + 1, sizeof *e->v);
}

/* Frees what spawn_env_init allocated (the strings are borrowed); accepts a zeroed env. */
static void spawn_env_deinit(struct spawn_env *e)
{
    free(e->ents);
    free(e->v);
    memset(e, 0, sizeof *e);
}

/* Appends kv ("K=V"); a later entry with the same key replaces it in spawn_env_finish. */
static void spawn_env_put(struct spawn_env *e, const char *kv)
{
    if (e->nents == e->max)
        abort(); /* spawn_build_env sizes it for every entry it adds */
    e->ents[e->nents] = (struct spawn_env_ent){kv, spawn_env_keylen(kv), e->nents};
    e->nents++;
}

/* Orders two keys given with their lengths: bytewise, then shorter first. */
static int spawn_env_keycmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

/* qsort comparator: by key, then in the order added. */
static int spawn_env_entcmp(const void *pa, const void *pb)
{
    const struct spawn_env_ent *a = pa, *b = pb;
    int c = spawn_env_keycmp(a->kv, a->klen, b->kv, b->klen);
    if (c)
        return c;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Resolves duplicates and fills e->v: each key once, at its first entry's place, with its
 * last entry's value. */
static void spawn_env_finish(struct spawn_env *e)
{
    qsort(e->ents, e->nents, sizeof *e->ents, spawn_env_entcmp);
    size_t nkeys = 0;
    for (size_t i = 0; i < e->nents;) {
        size_t j = i + 1;
        while (j < e->nents && spawn_env_keycmp(e->ents[i].kv, e->ents[i].klen, e->ents[j].kv,
                                                e->ents[j].klen) == 0)
            j++;
        /* ents[i] is the first of this key, ents[j - 1] the last. */
        e->v[e->ents[i].seq] = e->ents[j - 1].kv;
        e->ents[nkeys++] = (struct spawn_env_ent){e->ents[j - 1].kv, e->ents[i].klen, 0};
        i = j;
    }
    e->nents = nkeys;
    size_t n = 0;
    for (size_t i = 0; i < e->max; i++)
        if (e->v[i])
            e->v[n++] = e->v[i];
    e->v[n] = NULL;
}

/* Returns the value of key in a finished environment, or NULL; O(log n). */
static const char *spawn_env_get(const struct spawn_env *e, const char *key)
{
    size_t klen = strlen(key), lo = 0, hi = e->nents;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = spawn_env_keycmp(e->ents[mid].kv, e->ents[mid].klen, key, klen);
        if (c == 0)
            return e->ents[mid].kv + klen + 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Builds the NULL-terminated list of paths to exec for prog, searching path like
 * execvp(3) when prog has no '/' (an empty element means the child's cwd). */
static char **spawn_paths(const char *prog, const char *path)
{
    if (strchr(prog, '/') || !*prog) {
        char **v = xcalloc(2, sizeof *v);
        v[0] = xstrdup(prog);
        return v;
    }
    if (!path)
        path = "/bin:/usr/bin"; /* confstr(_CS_PATH), as execvp uses */
    size_t n = 1;
    for (const char *p = path; *p; p++)
        n += *p == ':';
    char **v = xcalloc(n + 1, sizeof *v);
    size_t plen = strlen(prog), i = 0;
    for (const char *p = path;; p++) {
        const char *end = strchr(p, ':');
        size_t dlen = end ? (size_t)(end - p) : strlen(p);
        if (dlen == 0) {
            v[i++] = xstrdup(prog);
        } else {
            char *s = xmalloc(dlen + 1 + plen + 1);
            memcpy(s, p, dlen);
            s[dlen] = '/';
            memcpy(s + dlen + 1, prog, plen + 1);
            v[i++] = s;
        }
        if (!end)
            break;
        p = end;
    }
    return v;
}

/* Frees a list from spawn_paths. */
static void spawn_paths_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* Opens a PTY pair: master non-blocking with the given size, both O_CLOEXEC. */
static int spawn_open_pty(uint16_t cols, uint16_t rows, int *master_out, int *slave_out, char *err,
                          size_t errlen)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        return spawn_error(err, errlen, -errno, "cannot open a new pty (/dev/ptmx): %s",
                           strerror(errno));
    int rc;
    if (grantpt(master) < 0 || unlockpt(master) < 0) {
        rc = -errno;
        spawn_error(err, errlen, rc, "cannot unlock the new pty: %s", strerror(-rc));
        goto fail;
    }
    /* TIOCGPTPEER (Linux 4.13) opens the slave through the master, immune to a /dev/pts
     * that is a different devpts instance or has been tampered with. */
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0 && (errno == EINVAL || errno == ENOTTY)) {
        char name[128];
        int e = ptsname_r(master, name, sizeof name);
        if (e) {
            errno = e;
        } else {
            slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        }
    }
    if (slave < 0) {
        rc = -errno;
        spawn_error(err, errlen, rc, "cannot open the new pty's terminal: %s", strerror(-rc));
        goto fail;
    }
    struct winsize ws = {.ws_row = rows ? rows : 24, .ws_col = cols ? cols : 80};
    int flags;
    if (ioctl(master, TIOCSWINSZ, &ws) < 0 || (flags = fcntl(master, F_GETFL)) < 0 ||
        fcntl(master, F_SETFL, flags | O_NONBLOCK) < 0) {
        rc = -errno;
        spawn_error(err, errlen, rc, "cannot set up the new pty: %s", strerror(-rc));
        close(slave);
        goto fail;
    }
    *master_out = master;
    *slave_out = slave;
    return 0;
fail:
    close(master);
    return rc;
}

/* Builds the child's environment: environ, TERM, the overrides, PTYHUB_SESSION. The
 * strings are borrowed, except *owned, which the caller frees; env starts zeroed and the
 * caller deinitializes it, even on failure. */
static int spawn_build_env(const struct spawn_opts *o, struct spawn_env *env, char **owned,
                           char *err, size_t errlen)
{
    static const char session_key[] = "PTYHUB_SESSION";
    size_t n_environ = 0, n_extra = 0, bytes = 0;
    for (char **p = environ; p && *p; p++)
        n_environ++;
    /* Bound the caller's input before any work proportional to it. */
    for (const char *const *p = o->env_extra; p && *p; p++) {
        if (++n_extra > SPAWN_ENV_MAX_ENTRIES || (bytes += strlen(*p) + 1) > SPAWN_ENV_MAX_BYTES)
            return spawn_error(err, errlen, -E2BIG,
                               "too many environment entries (at most %d, %zu MiB)",
                               SPAWN_ENV_MAX_ENTRIES, SPAWN_ENV_MAX_BYTES >> 20);
    }
    spawn_env_init(env, n_environ + 1 + n_extra + 1);

    for (char **p = environ; p && *p; p++) {
        if (!strchr(*p, '='))
            continue;
        if (spawn_env_keylen(*p) == sizeof session_key - 1 &&
            memcmp(*p, session_key, sizeof session_key - 1) == 0)
            continue; /* the daemon's own session, if it runs inside one */
        spawn_env_put(env, *p);
    }
    spawn_env_put(env, "TERM=xterm-256color");
    for (const char *const *p = o->env_extra; p && *p; p++) {
        const char *eq = strchr(*p, '=');
        if (!eq || eq == *p)
            return spawn_error(err, errlen, -EINVAL,
                               "bad environment entry '%s': expected NAME=VALUE", *p);
        spawn_env_put(env, *p);
    }
    if (o->session_id) {
        size_t n = sizeof session_key + strlen(o->session_id) + 1;
        *owned = xmalloc(n);
        snprintf(*owned, n, "%s=%s", session_key, o->session_id);
        spawn_env_put(env, *owned);
    }
    spawn_env_finish(env);
    return 0;
}

/* Builds the argv execvp(3) gives /bin/sh for a file the kernel cannot run (ENOEXEC):
 * {"/bin/sh", <the candidate path>, argv[1], ..., NULL}. Slot 1 is left NULL; the child
 * stores each candidate there before it execs, so it needs no allocation. */
static char **spawn_sh_argv(const char *const *argv)
{
    size_t argc = 0;
    while (argv[argc])
        argc++;
    char **v = xcalloc(argc + 2, sizeof *v);
    v[0] = (char *)"/bin/sh";
    for (size_t i = 1; i < argc; i++)
        v[i + 1] = (char *)argv[i];
    return v;
}

/* Explains a failure the child reported. */
static int spawn_child_error(const struct spawn_child *c, const char *prog, const char *cwd,
                             char *err, size_t errlen)
{
    int e = c->err ? c->err : EIO;
    const char *why = strerror(e);
    switch (c->stage) {
    case STAGE_SETSID:
        return spawn_error(err, errlen, -e, "cannot start a new session for '%s': %s", prog, why);
    case STAGE_CTTY:
        return spawn_error(err, errlen, -e,
                           "cannot make the pty the controlling terminal of '%s': %s", prog, why);
    case STAGE_DUP:
        return spawn_error(err, errlen, -e, "cannot connect '%s' to the pty: %s", prog, why);
    case STAGE_CHDIR:
        return spawn_error(err, errlen, -e, "cannot chdir to '%s': %s", cwd, why);
    case STAGE_FDS:
        return spawn_error(err, errlen, -e,
                           "cannot close inherited file descriptors before running '%s' "
                           "(close_range and /proc/self/fd both failed): %s",
                           prog, why);
    default:
        return spawn_error(err, errlen, -e, "cannot execute '%s': %s", prog, why);
    }
}

/* Waits for our own child that has already exited or is about to. */
static void spawn_wait_child(pid_t pid)
{
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* Clones the child on a private stack with all signals blocked; returns its pid or
 * a negative errno. On return the child has exec'd or exited. */
static pid_t spawn_clone(struct spawn_child *c)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t guard = page > 0 ? (size_t)page : 4096;
    size_t size = guard + SPAWN_STACK_SIZE;
    char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    if (stack == MAP_FAILED)
        return -errno;
    if (mprotect(stack, guard, PROT_NONE) < 0) {
        int e = errno;
        munmap(stack, size);
        return -e;
    }

    /* Block everything, including glibc's internal signals (hence the raw call), so
     * nothing runs a parent handler in the child before it resets dispositions. */
    sigset_t all, old;
    memset(&all, 0xff, sizeof all);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, KSIGSET_BYTES);
    pid_t pid = clone(spawn_child_main, stack + size, CLONE_VM | CLONE_VFORK | SIGCHLD, c);
    int e = errno;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, KSIGSET_BYTES);

    /* CLONE_VFORK: the child has left this stack (exec replaced its memory, or it
     * exited), so it can go now. */
    munmap(stack, size);
    return pid < 0 ? -e : pid;
}

/* Starts o->argv on a fresh PTY; see spawn.h. */
int spawn_pty(const struct spawn_opts *o, struct spawn_result *out, char *err, size_t errlen)
{
    out->master = out->pidfd = -1;
    out->pid = -1;
    if (err && errlen)
        err[0] = '\0';
    if (!o || !o->argv || !o->argv[0])
        return spawn_error(err, errlen, -EINVAL, "no program to run");
    const char *prog = o->argv[0];

    struct spawn_env env = {0};
    char *owned = NULL, **paths = NULL, **sh_argv = NULL;
    int master = -1, slave = -1;
    int rc = spawn_build_env(o, &env, &owned, err, errlen);
    if (rc < 0)
        goto done;
    paths = spawn_paths(prog, spawn_env_get(&env, "PATH"));
    sh_argv = spawn_sh_argv(o->argv);
    rc = spawn_open_pty(o->cols, o->rows, &master, &slave, err, errlen);
    if (rc < 0)
        goto done;

    struct spawn_child c = {
        .slave = slave,
        .cwd = o->cwd,
        .argv = (char *const *)o->argv,
        .envp = (char *const *)env.v,
        .paths = paths,
        .sh_argv = sh_argv,
        .fd_walk = spawn_force_fd_walk,
    };
    pid_t pid = spawn_clone(&c);
    if (pid < 0) {
        rc = spawn_error(err, errlen, pid, "cannot start '%s': %s", prog, strerror(-pid));
        goto done;
    }
    if (c.stage != STAGE_NONE) {
        spawn_wait_child(pid);
        rc = spawn_child_error(&c, prog, o->cwd, err, errlen);
        goto done;
    }

    /* The child is ours and not yet reaped, so its pid cannot have been reused. */
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
        rc = -errno;
        spawn_error(err, errlen, rc, "cannot watch '%s' (pidfd_open needs Linux 5.3): %s", prog,
                    strerror(-rc));
        kill(pid, SIGKILL);
        spawn_wait_child(pid);
        goto done;
    }
    out->master = master;
    out->pid = pid;
    out->pidfd = pidfd;
    master = -1;
    rc = 0;

done:
    if (slave >= 0)
        close(slave);
    if (master >= 0)
        close(master);
    spawn_paths_free(paths);
    free(sh_argv);
    spawn_env_deinit(&env);
    free(owned);
    return rc;
}

/* Reaps the child behind pidfd if it has exited; see spawn.h. */
int spawn_reap(int pidfd, int *code, int *sig)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG) < 0)
        return -errno;
    if (si.si_pid == 0)
        return -EAGAIN;
    int c = -1, s = 0;
    if (si.si_code == CLD_EXITED)
        c = si.si_status;
    else
        s = si.si_status;
    if (code)
        *code = c;
    if (sig)
        *sig = s;
    return 0;
}

/* Sets the window size of the PTY behind master; see spawn.h. */
int spawn_set_size(int master, uint16_t cols, uint16_t rows)
{
    if (cols == 0 || rows == 0)
        return -EINVAL;
    struct winsize ws = {.ws_row = rows, .ws_col = cols};
    if (ioctl(master, TIOCSWINSZ, &ws) < 0)
        return -errno;
    return 0;
}
