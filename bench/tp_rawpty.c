/* tp_rawpty: the physical limit for bench/throughput.py — a plain reader of one PTY.
 *
 * Opens a PTY pair as the daemon does (posix_openpt + TIOCGPTPEER, default termios),
 * runs CMD on the slave as its controlling terminal, and reads the master with blocking
 * 64 KiB reads until EIO (every slave fd closed, queue drained). Prints one line of
 * key=value results: bytes, seconds (spawn to EIO), reads, this process's CPU time and
 * context switches, and the CPU time of CMD (the writer).
 * Not a benchmark by itself: run with no arguments (as `make bench` does) it says so and
 * exits 0.
 *
 * usage: tp_rawpty -- CMD [ARGS...] */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

#define TP_READ_BUF (64u * 1024)

/* Monotonic time in seconds. */
static double tp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* This process's user+system CPU seconds; its context switches in *csw. */
static double tp_cpu_self(long *csw)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *csw = ru.ru_nvcsw + ru.ru_nivcsw;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Opens a master and its slave as the daemon does (src/pty/spawn.c): unlock, then
 * TIOCGPTPEER, the path only when that ioctl is missing. Returns 0 or a negative errno. */
static int tp_open_pty(int *master, int *slave)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0)
        return -errno;
    if (grantpt(m) < 0 || unlockpt(m) < 0) {
        int e = errno;
        close(m);
        return -e;
    }
    int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0 && (errno == EINVAL || errno == ENOTTY)) {
        char name[128];
        int e = ptsname_r(m, name, sizeof name);
        if (e)
            errno = e;
        else
            s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    }
    if (s < 0) {
        int e = errno;
        close(m);
        return -e;
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
        printf("tp_rawpty: helper of bench/throughput.py (usage: tp_rawpty -- CMD [ARGS...]); "
               "nothing to do\n");
        return 0;
    }
    int master = -1, slave = -1;
    int rc = tp_open_pty(&master, &slave);
    if (rc < 0) {
        fprintf(stderr, "tp_rawpty: cannot open a PTY: %s\n", strerror(-rc));
        return 1;
    }
    long csw0, csw1;
    double cpu0 = tp_cpu_self(&csw0);
    double t0 = tp_now();
    pid_t pid = fork();
    if (pid < 0) {
        perror("tp_rawpty: fork");
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
    static uint8_t buf[TP_READ_BUF];
    uint64_t bytes = 0, reads = 0;
    for (;;) {
        ssize_t n = read(master, buf, sizeof buf);
        if (n > 0) {
            bytes += (uint64_t)n;
            reads++;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || errno == EIO)
            break;
        perror("tp_rawpty: read");
        return 1;
    }
    double t1 = tp_now();
    double cpu1 = tp_cpu_self(&csw1);
    int status;
    struct rusage cru = {0};
    while (wait4(pid, &status, 0, &cru) < 0 && errno == EINTR)
        ;
    double writer_cpu = (double)(cru.ru_utime.tv_sec + cru.ru_stime.tv_sec) +
                        (double)(cru.ru_utime.tv_usec + cru.ru_stime.tv_usec) / 1e6;
    close(master);
    printf("bytes=%llu seconds=%.6f reads=%llu self_cpu=%.6f ctxsw=%ld writer_cpu=%.6f "
           "status=%d\n",
           (unsigned long long)bytes, t1 - t0, (unsigned long long)reads, cpu1 - cpu0, csw1 - csw0,
           writer_cpu, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
