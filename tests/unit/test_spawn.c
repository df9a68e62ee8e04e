/* test_spawn: spawn_pty, spawn_reap and spawn_set_size against real PTYs and processes.
 *
 * Each case starts real programs (sh, cat, grep, stty, ...) and asserts on what they
 * print through the master or how they exit: output drained to EIO, exit codes and
 * signals, errors for programs that cannot start (with no child and no fd left behind),
 * the child's fds, controlling tty, size, environment, signal state and Ctrl-C. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "pty/spawn.h"

#define OUT_MAX 65536

/* Number of open fds in this process. */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own fd */
}

/* Appends what the master has to buf (CRs dropped); returns false at EIO/EOF. */
static bool read_some(int master, char *buf, size_t *len, int timeout_ms)
{
    struct pollfd pfd = {.fd = master, .events = POLLIN};
    int pr = poll(&pfd, 1, timeout_ms);
    CHECK_MSG(pr > 0, "no output from the pty within %d ms (have: \"%.*s\")", timeout_ms, (int)*len,
              buf);
    char tmp[4096];
    ssize_t n = read(master, tmp, sizeof tmp);
    if (n < 0 && errno == EAGAIN)
        return true;
    if (n < 0) {
        CHECK_EQ(errno, EIO); /* every slave fd is closed and the queue is empty */
        return false;
    }
    if (n == 0)
        return false;
    for (ssize_t i = 0; i < n; i++)
        if (tmp[i] != '\r' && *len < OUT_MAX - 1)
            buf[(*len)++] = tmp[i];
    buf[*len] = '\0';
    return true;
}

/* Reads the master until EIO; returns the output with CRs dropped. */
static char *read_all(int master)
{
    char *buf = calloc(1, OUT_MAX);
    CHECK(buf != NULL);
    size_t len = 0;
    while (read_some(master, buf, &len, 10000))
        ;
    return buf;
}

/* Reads the master until needle appears in the output. */
static void read_until(int master, char *buf, size_t *len, const char *needle)
{
    while (!strstr(buf, needle))
        CHECK_MSG(read_some(master, buf, len, 10000), "EOF before \"%s\" (have \"%s\")", needle,
                  buf);
}

/* Waits for the child behind pidfd to exit and reaps it. */
static void wait_exit(const struct spawn_result *r, int *code, int *sig)
{
    struct pollfd pfd = {.fd = r->pidfd, .events = POLLIN};
    CHECK_EQ(poll(&pfd, 1, 10000), 1);
    CHECK_EQ(spawn_reap(r->pidfd, code, sig), 0);
}

/* Spawns argv with the given options filled in, checking success. */
static void spawn_checked(struct spawn_opts *o, struct spawn_result *r)
{
    char err[256];
    int rc = spawn_pty(o, r, err, sizeof err);
    CHECK_MSG(rc == 0, "spawn_pty: %d %s", rc, err);
    CHECK(r->master >= 0 && r->pidfd >= 0 && r->pid > 0);
}

/* Runs argv to completion; returns its output and exit status. */
static char *run(struct spawn_opts *o, int *code, int *sig)
{
    struct spawn_result r;
    spawn_checked(o, &r);
    char *out = read_all(r.master);
    int c, s;
    wait_exit(&r, &c, &s);
    if (code)
        *code = c;
    if (sig)
        *sig = s;
    close(r.master);
    close(r.pidfd);
    return out;
}

/* True if out contains line as a whole line. */
static bool has_line(const char *out, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = out; (p = strstr(p, line)); p++)
        if ((p == out || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

/* Checks that this process has no child, running or zombie. */
static void check_no_children(void)
{
    errno = 0;
    CHECK_EQ(waitpid(-1, NULL, WNOHANG), -1);
    CHECK_EQ(errno, ECHILD);
}

TEST(spawn_output_then_exit_code)
{
    const char *argv[] = {"sh", "-c", "printf hello; exit 3", NULL};
    struct spawn_opts o = {.argv = argv};
    struct spawn_result r;
    spawn_checked(&o, &r);
    CHECK(fcntl(r.master, F_GETFL) & O_NONBLOCK);
    CHECK(fcntl(r.master, F_GETFD) & FD_CLOEXEC);
    CHECK(fcntl(r.pidfd, F_GETFD) & FD_CLOEXEC);
    char *out = read_all(r.master);
    CHECK_STR_EQ(out, "hello");
    int code = 99, sig = 99;
    wait_exit(&r, &code, &sig);
    CHECK_EQ(code, 3);
    CHECK_EQ(sig, 0);
    CHECK_EQ(spawn_reap(r.pidfd, &code, &sig), -ECHILD); /* reaped exactly once */
    check_no_children();
    free(out);
    close(r.master);
    close(r.pidfd);
}

TEST(spawn_killed_by_sigterm)
{
    const char *argv[] = {"sleep", "100", NULL};
    struct spawn_opts o = {.argv = argv};
    struct spawn_result r;
    spawn_checked(&o, &r);
    int code, sig;
    CHECK_EQ(spawn_reap(r.pidfd, &code, &sig), -EAGAIN);
    CHECK_EQ(kill(r.pid, SIGTERM), 0);
    wait_exit(&r, &code, &sig);
    CHECK_EQ(code, -1);
    CHECK_EQ(sig, SIGTERM);
    check_no_children();
    close(r.master);
    close(r.pidfd);
}

TEST(spawn_missing_program_is_an_error)
{
    int fds = count_fds();
    const char *argv[] = {"ptyhub-no-such-program", NULL};
    struct spawn_opts o = {.argv = argv};
    struct spawn_result r;
    char err[256];
    CHECK_EQ(spawn_pty(&o, &r, err, sizeof err), -ENOENT);
    CHECK_STR_EQ(err, "cannot execute 'ptyhub-no-such-program': No such file or directory");
    CHECK_EQ(r.master, -1);
    CHECK_EQ(r.pidfd, -1);
    check_no_children();
    CHECK_EQ(count_fds(), fds);

    const char *abs_argv[] = {"/nonexistent/ptyhub-prog", NULL};
    o.argv = abs_argv;
    CHECK_EQ(spawn_pty(&o, &r, err, sizeof err), -ENOENT);
    CHECK(strstr(err, "'/nonexistent/ptyhub-prog'") != NULL);
    check_no_children();
    CHECK_EQ(count_fds(), fds);
}

TEST(spawn_not_executable_is_eacces)
{
    char path[] = "/tmp/ptyhub-spawn-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, "#!/bin/sh\n", 10), 10);
    close(fd);
    chmod(path, 0644);
    const char *argv[] = {path, NULL};
    struct spawn_opts o = {.argv = argv};
    struct spawn_result r;
    char err[256];
    int rc = spawn_pty(&o, &r, err, sizeof err);
    unlink(path);
    CHECK_EQ(rc, -EACCES);
    CHECK(strstr(err, "Permission denied") != NULL);
    check_no_children();
}

TEST(spawn_bad_cwd_is_an_error)
{
    int fds = count_fds();
    const char *argv[] = {"true", NULL};
    struct spawn_opts o = {.argv = argv, .cwd = "/nonexistent/ptyhub"};
    struct spawn_result r;
    char err[256];
    CHECK_EQ(spawn_pty(&o, &r, err, sizeof err), -ENOENT);
    CHECK_STR_EQ(err, "cannot chdir to '/nonexistent/ptyhub': No such file or directory");
    check_no_children();
    CHECK_EQ(count_fds(), fds);
}

TEST(spawn_bad_arguments)
{
    struct spawn_result r;
    char err[256];
    const char *empty[] = {NULL};
    struct spawn_opts o = {.argv = empty};
    CHECK_EQ(spawn_pty(&o, &r, err, sizeof err), -EINVAL);
    const char *argv[] = {"true", NULL};
    const char *env[] = {"NO_EQUALS_SIGN", NULL};
    o = (struct spawn_opts){.argv = argv, .env_extra = env};
    CHECK_EQ(spawn_pty(&o, &r, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "NO_EQUALS_SIGN") != NULL);
    CHECK_EQ(spawn_pty(&o, &r, NULL, 0), -EINVAL); /* err is optional */
    check_no_children();
}

TEST(spawn_cwd_is_applied)
{
    const char *argv[] = {"pwd", NULL};
    struct spawn_opts o = {.argv = argv, .cwd = "/tmp"};
    char *out = run(&o, NULL, NULL);
    CHECK_STR_EQ(out, "/tmp\n");
    free(out);
}

/* Opens fds that a careless spawn would leak: plain, high-numbered, and enough of
 * them that the /proc/self/fd walk needs several getdents64 calls. */
static void open_leakable_fds(void)
{
    int fd = open("/dev/null", O_RDONLY); /* deliberately not O_CLOEXEC */
    CHECK(fd >= 3);
    struct rlimit rl;
    CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    int high = rl.rlim_cur > 1000 ? 900 : (int)rl.rlim_cur - 1;
    CHECK_EQ(dup2(fd, high), high);
    for (int i = 0; i < 150; i++)
        CHECK(dup(fd) >= 0);
}

/* Checks that a shell started by spawn_pty holds exactly fds 0, 1 and 2. */
static void check_only_std_fds(void)
{
    open_leakable_fds();
    /* ls runs in a child of sh and lists sh's fds, so its own directory fd is not there;
     * "; true" stops the shell from exec'ing ls in its place. */
    const char *argv[] = {"sh", "-c", "ls -1 /proc/$$/fd; true", NULL};
    struct spawn_opts o = {.argv = argv};
    int code;
    char *out = run(&o, &code, NULL);
    CHECK_STR_EQ(out, "0\n1\n2\n");
    CHECK_EQ(code, 0);
    free(out);
}

TEST(spawn_child_has_only_std_fds)
{
    check_only_std_fds();
}

TEST(spawn_child_has_only_std_fds_via_proc_walk)
{
    spawn_force_fd_walk = true;
    check_only_std_fds();
}

TEST(spawn_works_with_closed_stdio)
{
    /* With 0 and 1 closed the master and slave land there: the child must still end up
     * with the slave on 0-2, not a close-on-exec fd. */
    int saved = dup(1);
    CHECK(saved >= 3);
    close(0);
    close(1);
    const char *argv[] = {"sh", "-c", "printf hi; ls -1 /proc/$$/fd; true", NULL};
    struct spawn_opts o = {.argv = argv};
    struct spawn_result r;
    char err[256];
    int rc = spawn_pty(&o, &r, err, sizeof err);
    dup2(saved, 1);
    CHECK_MSG(rc == 0, "spawn_pty: %s", err);
    CHECK_EQ(r.master, 0);
    char *out = read_all(r.master);
    CHECK_STR_EQ(out, "hi0\n1\n2\n");
    int code, sig;
    wait_exit(&r, &code, &sig);
    CHECK_EQ(code, 0);
    free(out);
}

TEST(spawn_controlling_tty_is_a_pts)
{
    const char *argv[] = {"tty", NULL};
    struct spawn_opts o = {.argv = argv};
    int code;
    char *out = run(&o, &code, NULL);
    CHECK_MSG(strncmp(out, "/dev/pts/", 9) == 0, "tty printed \"%s\"", out);
    CHECK_EQ(code, 0);
    free(out);
}

TEST(spawn_new_session_with_foreground_group)
{
    /* /proc/self/stat: pid (comm) state ppid pgrp session tty_nr tpgid ... */
    const char *argv[] = {"cat", "/proc/self/stat", NULL};
    struct spawn_opts o = {.argv = argv};
    char *out = run(&o, NULL, NULL);
    int pid, ppid, pgrp, session, tty_nr, tpgid;
    char state;
    const char *p = strrchr(out, ')');
    CHECK(p != NULL);
    CHECK_EQ(sscanf(p + 1, " %c %d %d %d %d %d", &state, &ppid, &pgrp, &session, &tty_nr, &tpgid),
             6);
    pid = atoi(out);
    CHECK_EQ(ppid, getpid());
    CHECK_EQ(session, pid);
    CHECK_EQ(pgrp, pid);
    CHECK(tty_nr != 0);
    CHECK_EQ(tpgid, pid);
    free(out);
}

TEST(spawn_initial_size_and_resize)
{
    const char *argv[] = {"stty", "size", NULL};
    struct spawn_opts o = {.argv = argv, .cols = 100, .rows = 30};
    char *out = run(&o, NULL, NULL);
    CHECK_STR_EQ(out, "30 100\n");
    free(out);

    o.cols = o.rows = 0;
    out = run(&o, NULL, NULL);
    CHECK_STR_EQ(out, "24 80\n");
    free(out);

    const char *argv2[] = {"sh", "-c", "echo ready; read x; stty size", NULL};
    o = (struct spawn_opts){.argv = argv2};
    struct spawn_result r;
    spawn_checked(&o, &r);
    char buf[OUT_MAX] = "";
    size_t len = 0;
    read_until(r.master, buf, &len, "ready\n");
    CHECK_EQ(spawn_set_size(r.master, 0, 40), -EINVAL);
    CHECK_EQ(spawn_set_size(r.master, 120, 40), 0);
    CHECK_EQ(write(r.master, "\n", 1), 1);
    while (read_some(r.master, buf, &len, 10000))
        ;
    CHECK_MSG(strstr(buf, "\n40 120\n") != NULL, "output: \"%s\"", buf);
    int code, sig;
    wait_exit(&r, &code, &sig);
    close(r.master);
    close(r.pidfd);
}

TEST(spawn_environment)
{
    setenv("TERM", "dumb", 1);
    setenv("PTYHUB_TEST_OVR", "old", 1);
    setenv("PTYHUB_SESSION", "outer", 1);
    setenv("PTYHUB_TEST_INHERITED", "yes", 1);
    const char *argv[] = {"env", NULL};
    const char *extra[] = {"PTYHUB_TEST_OVR=new", "PTYHUB_TEST_NEW=a=b", NULL};
    struct spawn_opts o = {.argv = argv, .env_extra = extra, .session_id = "s-42"};
    char *out = run(&o, NULL, NULL);
    CHECK(has_line(out, "TERM=xterm-256color"));
    CHECK(!has_line(out, "TERM=dumb"));
    CHECK(has_line(out, "PTYHUB_SESSION=s-42"));
    CHECK(!has_line(out, "PTYHUB_SESSION=outer"));
    CHECK(has_line(out, "PTYHUB_TEST_OVR=new"));
    CHECK(!has_line(out, "PTYHUB_TEST_OVR=old"));
    CHECK(has_line(out, "PTYHUB_TEST_NEW=a=b"));
    CHECK(has_line(out, "PTYHUB_TEST_INHERITED=yes")); /* the daemon's environ */
    free(out);

    /* Without a session id, an inherited PTYHUB_SESSION is not passed on. */
    o.session_id = NULL;
    out = run(&o, NULL, NULL);
    CHECK(strstr(out, "PTYHUB_SESSION=") == NULL);
    free(out);
}

TEST(spawn_path_comes_from_child_env)
{
    const char *argv[] = {"printf", "found", NULL};
    const char *path_ok[] = {"PATH=/nonexistent-ptyhub::/usr/bin:/bin", NULL};
    struct spawn_opts o = {.argv = argv, .env_extra = path_ok, .cwd = "/"};
    char *out = run(&o, NULL, NULL);
    CHECK_STR_EQ(out, "found");
    free(out);

    const char *path_bad[] = {"PATH=/nonexistent-ptyhub", NULL};
    o.env_extra = path_bad;
    struct spawn_result r;
    char err[256];
    CHECK_EQ(spawn_pty(&o, &r, err, sizeof err), -ENOENT);
    CHECK_STR_EQ(err, "cannot execute 'printf': No such file or directory");
    check_no_children();
}

TEST(spawn_ctrl_c_interrupts_foreground)
{
    /* spawn_pty returns after the exec, and the terminal became the controlling tty
     * before it, so ^C needs no other synchronization. (A shell running sleep would:
     * dash -c catches SIGINT and defers it, so a ^C landing between its fork and the
     * sleep's exec is acted on only when sleep ends.) */
    const char *argv[] = {"sleep", "100", NULL};
    struct spawn_opts o = {.argv = argv};
    struct spawn_result r;
    spawn_checked(&o, &r);
    CHECK_EQ(write(r.master, "\x03", 1), 1);
    int code, sig;
    wait_exit(&r, &code, &sig);
    CHECK_EQ(code, -1);
    CHECK_EQ(sig, SIGINT);
    char *out = read_all(r.master);
    CHECK_STR_EQ(out, "^C"); /* the line discipline's echo */
    free(out);
    close(r.master);
    close(r.pidfd);
}

TEST(spawn_ctrl_c_after_typed_line)
{
    /* cat reading the terminal: a typed line comes back (echo, then cat's copy), and
     * ^C ends it by SIGINT with nothing further printed. */
    const char *argv[] = {"cat", NULL};
    struct spawn_opts o = {.argv = argv};
    struct spawn_result r;
    spawn_checked(&o, &r);
    CHECK_EQ(write(r.master, "abc\n", 4), 4);
    char buf[OUT_MAX] = "";
    size_t len = 0;
    read_until(r.master, buf, &len, "abc\nabc\n");
    CHECK_EQ(write(r.master, "\x03", 1), 1);
    int code, sig;
    wait_exit(&r, &code, &sig);
    CHECK_EQ(sig, SIGINT);
    while (read_some(r.master, buf, &len, 10000))
        ;
    CHECK_STR_EQ(buf, "abc\nabc\n^C");
    close(r.master);
    close(r.pidfd);
}

TEST(spawn_signals_default_and_unblocked)
{
    /* A daemon ignores SIGPIPE and may block or catch others; none of it is inherited. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGUSR1, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGCHLD);
    CHECK_EQ(sigprocmask(SIG_BLOCK, &set, NULL), 0);
    const char *argv[] = {"grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status", NULL};
    struct spawn_opts o = {.argv = argv};
    char *out = run(&o, NULL, NULL);
    CHECK_STR_EQ(out, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
    free(out);
}

TEST(spawn_many_leaves_nothing_behind)
{
    int fds = count_fds();
    for (int i = 0; i < 50; i++) {
        const char *argv[] = {"true", NULL};
        struct spawn_opts o = {.argv = argv};
        int code;
        char *out = run(&o, &code, NULL);
        CHECK_EQ(code, 0);
        free(out);
    }
    check_no_children();
    CHECK_EQ(count_fds(), fds);
}

/* One thread's share of spawn_from_threads: spawns and reaps `echo` repeatedly. */
static void *spawn_thread(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < 20; i++) {
        char word[32];
        snprintf(word, sizeof word, "t%ld-%d", id, i);
        const char *argv[] = {"echo", word, NULL};
        struct spawn_opts o = {.argv = argv};
        int code;
        char *out = run(&o, &code, NULL);
        char expect[40];
        snprintf(expect, sizeof expect, "%s\n", word);
        CHECK_STR_EQ(out, expect);
        CHECK_EQ(code, 0);
        free(out);
    }
    return NULL;
}

TEST(spawn_from_threads)
{
    /* Reactor threads spawn concurrently: each spawn has its own stack and shared
     * struct, and the signal mask is per thread. */
    int fds = count_fds();
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, spawn_thread, (void *)i), 0);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(pthread_join(t[i], NULL), 0);
    check_no_children();
    CHECK_EQ(count_fds(), fds);
}

/* A NULL-terminated env_extra of n entries "K<i>=x", the first "K0=first" and the last
 * "K<n-1>=last"; free with free_env. */
static char **make_env(size_t n)
{
    char **env = calloc(n + 1, sizeof *env);
    CHECK(env != NULL);
    for (size_t i = 0; i < n; i++) {
        env[i] = malloc(32);
        CHECK(env[i] != NULL);
        snprintf(env[i], 32, "K%zu=%s", i, i == 0 ? "first" : i == n - 1 ? "last" : "x");
    }
    return env;
}

/* Frees a vector from make_env. */
static void free_env(char **env)
{
    for (char **p = env; *p; p++)
        free(*p);
    free(env);
}

TEST(spawn_many_env_entries)
{
    /* 65,535 distinct keys: the most accepted; the child sees the first and the last. */
    char **env = make_env(65535);
    const char *argv[] = {"sh", "-c", "echo \"$K0 $K65534\"", NULL};
    struct spawn_opts o = {.argv = argv, .env_extra = (const char *const *)env};
    int code;
    char *out = run(&o, &code, NULL);
    CHECK_STR_EQ(out, "first last\n");
    CHECK_EQ(code, 0);
    free(out);
    free_env(env);
}

TEST(spawn_too_many_env_entries_is_e2big)
{
    int fds = count_fds();
    const char *argv[] = {"true", NULL};
    char **env = make_env(65536);
    struct spawn_opts o = {.argv = argv, .env_extra = (const char *const *)env};
    struct spawn_result r;
    char err[256];
    CHECK_EQ(spawn_pty(&o, &r, err, sizeof err), -E2BIG);
    CHECK_STR_EQ(err, "too many environment entries (at most 65535, 4 MiB)");
    CHECK_EQ(r.master, -1);
    CHECK_EQ(r.pidfd, -1);
    free_env(env);

    /* Few entries but more than 4 MiB of them. */
    size_t big = (size_t)4 << 20;
    char *huge = malloc(big + 1);
    CHECK(huge != NULL);
    memset(huge, 'v', big);
    memcpy(huge, "BIG=", 4);
    huge[big] = '\0';
    const char *env2[] = {huge, NULL};
    o.env_extra = env2;
    CHECK_EQ(spawn_pty(&o, &r, err, sizeof err), -E2BIG);
    CHECK_STR_EQ(err, "too many environment entries (at most 65535, 4 MiB)");
    free(huge);
    check_no_children();
    CHECK_EQ(count_fds(), fds);
}

/* Number of lines of out that start with prefix. */
static int count_lines_with_prefix(const char *out, const char *prefix)
{
    int n = 0;
    size_t len = strlen(prefix);
    for (const char *p = out; *p;) {
        n += strncmp(p, prefix, len) == 0;
        const char *nl = strchr(p, '\n');
        if (!nl)
            break;
        p = nl + 1;
    }
    return n;
}

TEST(spawn_later_env_entry_wins_in_place)
{
    unsetenv("PTYHUB_TEST_DUP");
    const char *argv[] = {"env", NULL};
    const char *extra[] = {"PTYHUB_TEST_DUP=first", "PTYHUB_TEST_AFTER=x", "PTYHUB_TEST_DUP=second",
                           "TERM=vt100", NULL};
    struct spawn_opts o = {.argv = argv, .env_extra = extra};
    char *out = run(&o, NULL, NULL);
    CHECK_EQ(count_lines_with_prefix(out, "PTYHUB_TEST_DUP="), 1);
    CHECK(has_line(out, "PTYHUB_TEST_DUP=second"));
    CHECK_EQ(count_lines_with_prefix(out, "TERM="), 1);
    CHECK(has_line(out, "TERM=vt100"));
    /* Replaced where the first one was, before the entry that followed it. */
    const char *dup = strstr(out, "PTYHUB_TEST_DUP=second");
    const char *after = strstr(out, "PTYHUB_TEST_AFTER=x");
    CHECK(dup != NULL && after != NULL && dup < after);
    free(out);
}

TEST(spawn_script_without_shebang_runs_in_sh)
{
    char dir[] = "/tmp/ptyhub-spawn-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[64];
    snprintf(path, sizeof path, "%s/noshebang", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
    CHECK(fd >= 0);
    static const char script[] = "echo from-sh-$((6*7)) \"$@\"\n";
    CHECK_EQ(write(fd, script, sizeof script - 1), (ssize_t)(sizeof script - 1));
    close(fd);

    /* By path, with arguments passed on as execvp's /bin/sh fallback does. */
    const char *argv[] = {path, "a b", "c", NULL};
    struct spawn_opts o = {.argv = argv};
    int code;
    char *out = run(&o, &code, NULL);
    CHECK_STR_EQ(out, "from-sh-42 a b c\n");
    CHECK_EQ(code, 0);
    free(out);

    /* Found through PATH after a candidate that does not exist. */
    char pathvar[128];
    snprintf(pathvar, sizeof pathvar, "PATH=/nonexistent-ptyhub:%s:/usr/bin:/bin", dir);
    const char *extra[] = {pathvar, NULL};
    const char *argv2[] = {"noshebang", NULL};
    o = (struct spawn_opts){.argv = argv2, .env_extra = extra};
    out = run(&o, &code, NULL);
    CHECK_STR_EQ(out, "from-sh-42\n");
    CHECK_EQ(code, 0);
    free(out);

    unlink(path);
    rmdir(dir);
}
