/* web_rawpty: the physical limit for bench/web.py — one plain reader of one PTY.
 *
 * Opens a PTY pair the way the daemon does (posix_openpt, then TIOCGPTPEER with a
 * ptsname fallback), runs CMD on the slave as its controlling terminal, and reads the
 * master with blocking reads until EIO (every slave fd closed and the queue drained).
 * Prints one `key=value` line: bytes, seconds from the first byte to EIO (the same span
 * web_client times), seconds from spawn to EIO, reads, how often a read slept, this
 * process's CPU time and the command's (the writer's share of the pipeline).
 * Run with no arguments (as `make bench` does for every helper) it says what it is for
 * and exits 0.
 *
 * usage: web_rawpty -- CMD [ARGS...] */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

#define RAW_READ_BUF (256u * 1024) /* larger than anything one PTY read returns */

/* Monotonic time in seconds. */
static double raw_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* This process's user+system CPU seconds. */
static double raw_cpu_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* CPU seconds of the children waited for so far. */
static double raw_cpu_children(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Opens a master and its slave, 80x24. Returns 0 or a negative errno. */
static int raw_open_pty(int *master, int *slave)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0)
        return -errno;
    int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) {
        char name[128];
        if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, sizeof name) != 0 ||
            (s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
            int e = errno;
            close(m);
            return -e;
        }
    }
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    ioctl(m, TIOCSWINSZ, &ws);
    *master = m;
    *slave = s;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[1], "--") != 0) {
        printf("web_rawpty: helper of bench/web.py (usage: web_rawpty -- CMD [ARGS...]); "
               "nothing to do\n");
        return 0;
    }
    int master = -1, slave = -1;
    int rc = raw_open_pty(&master, &slave);
    if (rc < 0) {
        fprintf(stderr, "web_rawpty: cannot open a PTY: %s\n", strerror(-rc));
        return 1;
    }
    uint8_t *buf = malloc(RAW_READ_BUF);
    if (!buf) {
        fprintf(stderr, "web_rawpty: out of memory\n");
        return 1;
    }
    double cpu0 = raw_cpu_self();
    double t0 = raw_now(), t_first = 0;
    pid_t pid = fork();
    if (pid < 0) {
        perror("web_rawpty: fork");
        return 1;
    }
    if (pid == 0) {
        setsid();
        ioctl(slave, TIOCSCTTY, 0);
        dup2(slave, 0);
        dup2(slave, 1);
        dup2(slave, 2);
        execvp(argv[2], argv + 2);
        _exit(127);
    }
    close(slave);
    uint64_t bytes = 0, reads = 0;
    for (;;) {
        ssize_t n = read(master, buf, RAW_READ_BUF);
        if (n > 0) {
            if (bytes == 0)
                t_first = raw_now();
            bytes += (uint64_t)n;
            reads++;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || errno == EIO)
            break;
        perror("web_rawpty: read");
        return 1;
    }
    double t1 = raw_now();
    double cpu1 = raw_cpu_self();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru); /* voluntary switches: reads that had to sleep */
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    close(master);
    free(buf);
    printf("bytes=%llu seconds=%.6f total_seconds=%.6f reads=%llu sleeps=%ld self_cpu=%.6f "
           "child_cpu=%.6f status=%d\n",
           (unsigned long long)bytes, bytes ? t1 - t_first : 0.0, t1 - t0,
           (unsigned long long)reads, ru.ru_nvcsw, cpu1 - cpu0, raw_cpu_children(),
           WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
