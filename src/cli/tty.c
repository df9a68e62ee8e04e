/* tty: raw mode for the attaching terminal, restored on every exit path (see tty.h). */
#include "cli/tty.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved;
static int saved_fd = -1;
static volatile sig_atomic_t raw_active;
static bool hooks_installed;

static const int fatal_signals[] = {SIGTERM, SIGHUP, SIGINT, SIGQUIT};

/* Restores the saved settings; async-signal-safe (tcsetattr is, per POSIX). */
void tty_restore(void)
{
    if (!raw_active)
        return;
    raw_active = 0;
    tcsetattr(saved_fd, TCSADRAIN, &saved);
}

/* Restores the terminal, then dies of the same signal with its default action, so the
 * parent sees the usual status. */
static void on_fatal_signal(int sig)
{
    int saved_errno = errno;
    tty_restore();
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    errno = saved_errno;
}

/* Installs the atexit hook and the signal handlers, once. */
static void install_hooks(void)
{
    if (hooks_installed)
        return;
    hooks_installed = true;
    atexit(tty_restore);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++)
        sigaddset(&sa.sa_mask, fatal_signals[i]);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++)
        sigaction(fatal_signals[i], &sa, NULL);
}

/* Switches fd's terminal to raw mode. */
int tty_raw(int fd)
{
    struct termios t;
    if (tcgetattr(fd, &t) < 0)
        return -errno;
    install_hooks();
    saved = t;
    saved_fd = fd;
    cfmakeraw(&t);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    /* Mark raw before the change: a signal arriving in between then restores anyway. */
    raw_active = 1;
    if (tcsetattr(fd, TCSADRAIN, &t) < 0) {
        int err = errno;
        raw_active = 0;
        return -err;
    }
    return 0;
}

/* Reads the window size. */
int tty_size(int fd, uint16_t *cols, uint16_t *rows)
{
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) < 0)
        return -errno;
    if (ws.ws_col == 0 || ws.ws_row == 0)
        return -EINVAL;
    *cols = ws.ws_col;
    *rows = ws.ws_row;
    return 0;
}
