/* cmd: the client commands and what they share: one-line error reporting, option
 * errors, connecting to the daemon, and blocking writes to stdout.
 *
 * Every command takes (argc, argv) with argv[0] its own name and returns the process
 * exit status: 0 ok, 1 failure, 2 usage error (`wait`: the session's status).
 */
#ifndef PTYHUB_CLI_CMD_H
#define PTYHUB_CLI_CMD_H

#include <stddef.h>

#include "cli/client.h"

/* The long-option value every command uses for --socket. */
#define CMD_OPT_SOCKET 0x100

int cmd_new(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_output(int argc, char **argv);
int cmd_wait(int argc, char **argv);
int cmd_kill(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_url(int argc, char **argv);
int cmd_screen(int argc, char **argv);

/* Prints "ptyhub: MESSAGE" as one line on stderr. Returns 1. */
int cmd_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "ptyhub: MESSAGE (see ptyhub --help)" as one line on stderr. Returns 2. */
int cmd_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reports what getopt_long rejected (returned '?' or ':') for command argv[0]. Returns 2. */
int cmd_bad_option(char **argv, int opt);

/* Prints the client's last error and frees it. Returns 1. */
int cmd_fail(client *c);

/* Connects to the socket given with --socket (NULL: the default one). Prints the reason
 * and returns NULL when that fails. */
client *cmd_connect(const char *socket_path);

/* Connects and resolves a session argument (an id or a name). Prints the reason and
 * returns NULL when either fails. */
client *cmd_connect_session(const char *socket_path, const char *arg, uint32_t *sid);

/* Writes all of p to fd, waiting out EINTR and EAGAIN. Returns 0 or -errno. */
int cmd_write_all(int fd, const void *p, size_t n);

#endif
