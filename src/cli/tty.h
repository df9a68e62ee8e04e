/* tty: the local terminal of `ptyhub attach`: raw mode that is undone on every way
 * out (normal exit, error, SIGTERM/SIGHUP/SIGINT/SIGQUIT), and its size. */
#ifndef PTYHUB_CLI_TTY_H
#define PTYHUB_CLI_TTY_H

#include <stdint.h>

/* Puts the terminal on fd in raw mode (cfmakeraw), remembering the previous settings.
 * Registers the restore with atexit and in handlers for the terminating signals, which
 * restore and then die of the same signal. Returns 0 or -errno. */
int tty_raw(int fd);

/* Restores the settings saved by tty_raw(). Safe to call more than once, and from a
 * signal handler. */
void tty_restore(void);

/* Reads the terminal size of fd. Returns 0, or -errno (or -EINVAL for a 0x0 size). */
int tty_size(int fd, uint16_t *cols, uint16_t *rows);

#endif
