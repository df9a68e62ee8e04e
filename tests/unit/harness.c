/* harness: the unit-test runner. Forks each registered case with an alarm, classifies
 * the result as pass, fail (status, signal or timeout) or skip (with its reason), and
 * ends with a summary line "N passed, N failed, N skipped".
 *
 * Usage: unit [SUBSTRING...]   runs the cases whose name contains any SUBSTRING. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct harness_case {
    char name[128];
    harness_fn fn;
    enum reactor_backend_kind backend;
    int timeout_s;
};

static struct harness_case *cases;
static size_t ncases, capcases;
static int skip_fd = -1; /* the child writes its skip reason here */

/* Adds a case; called from constructors before main. */
void harness_register(const char *name, harness_fn fn, enum reactor_backend_kind backend,
                      int timeout_s)
{
    if (ncases == capcases) {
        capcases = capcases ? capcases * 2 : 64;
        cases = realloc(cases, capcases * sizeof *cases);
        if (!cases)
            abort();
    }
    struct harness_case *c = &cases[ncases++];
    const char *suffix = backend == REACTOR_URING   ? "[uring]"
                         : backend == REACTOR_EPOLL ? "[epoll]"
                                                    : "";
    snprintf(c->name, sizeof c->name, "%s%s", name, suffix);
    c->fn = fn;
    c->backend = backend;
    c->timeout_s = timeout_s;
}

/* Reports a failed check and ends the case's process. */
void harness_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "    %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    _exit(1);
}

/* Ends the case as skipped, handing the reason to the runner. */
void harness_skip(const char *reason)
{
    if (skip_fd >= 0) {
        ssize_t w = write(skip_fd, reason, strlen(reason));
        (void)w;
    }
    _exit(HARNESS_SKIP_STATUS);
}

/* True when the case name matches one of the filters (or there are none). */
static int harness_selected(const char *name, int argc, char **argv)
{
    if (argc < 2)
        return 1;
    for (int i = 1; i < argc; i++)
        if (strstr(name, argv[i]))
            return 1;
    return 0;
}

static double harness_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0, skipped = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (size_t i = 0; i < ncases; i++) {
        struct harness_case *c = &cases[i];
        if (!harness_selected(c->name, argc, argv))
            continue;
        int pipefd[2];
        if (pipe2(pipefd, O_CLOEXEC) < 0) {
            perror("pipe2");
            return 1;
        }
        double start = harness_now();
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) {
            close(pipefd[0]);
            skip_fd = pipefd[1];
            setpgid(0, 0);
            alarm((unsigned)c->timeout_s);
            c->fn(c->backend);
            fflush(NULL);
            _exit(0);
        }
        close(pipefd[1]);
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        kill(-pid, SIGKILL); /* anything the case left behind */
        char reason[512] = "";
        ssize_t n = read(pipefd[0], reason, sizeof reason - 1);
        reason[n > 0 ? n : 0] = '\0';
        close(pipefd[0]);
        double secs = harness_now() - start;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            printf("ok    %-56s %.2fs\n", c->name, secs);
            passed++;
        } else if (WIFEXITED(status) && WEXITSTATUS(status) == HARNESS_SKIP_STATUS) {
            printf("skip  %-56s %s\n", c->name, reason);
            skipped++;
        } else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
            printf("FAIL  %-56s timed out after %ds\n", c->name, c->timeout_s);
            failed++;
        } else if (WIFSIGNALED(status)) {
            printf("FAIL  %-56s killed by signal %d (%s)\n", c->name, WTERMSIG(status),
                   strsignal(WTERMSIG(status)));
            failed++;
        } else {
            printf("FAIL  %-56s exit status %d\n", c->name, WEXITSTATUS(status));
            failed++;
        }
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
