/* cmd: helpers shared by the client commands (see cmd.h). */
#include "cli/cmd.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "server/config.h"

/* Prints one "ptyhub: ..." line, with an optional suffix, in a single write. */
static void print_line(const char *suffix, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* One line, whatever the message holds. */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fflush(stdout);
    fprintf(stderr, "ptyhub: %s%s\n", msg, suffix);
    fflush(stderr);
}

/* Prints an error line; returns the failure status. */
int cmd_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_line("", fmt, ap);
    va_end(ap);
    return 1;
}

/* Prints a usage error line; returns the usage status. */
int cmd_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_line(" (see ptyhub --help)", fmt, ap);
    va_end(ap);
    return 2;
}

/* Explains a getopt_long failure. */
int cmd_bad_option(char **argv, int opt)
{
    const char *arg = argv[optind - 1];
    if (opt == ':')
        return cmd_usage("%s: %s needs a value", argv[0], arg);
    if (optopt)
        return cmd_usage("%s: unknown option '-%c'", argv[0], optopt);
    return cmd_usage("%s: unknown option '%s'", argv[0], arg);
}

/* Prints the client's error and frees it. */
int cmd_fail(client *c)
{
    cmd_error("%s", client_strerror(c));
    client_free(c);
    return 1;
}

/* Connects to the named or default socket. */
client *cmd_connect(const char *socket_path)
{
    char path[108];
    if (!socket_path) {
        if (config_default_socket(path, sizeof path) < 0) {
            cmd_error("the default socket path is too long; name the socket with --socket PATH");
            return NULL;
        }
        socket_path = path;
    }
    client *c = client_new();
    if (client_connect(c, socket_path) < 0) {
        cmd_fail(c);
        return NULL;
    }
    return c;
}

/* Connects and resolves the session argument. */
client *cmd_connect_session(const char *socket_path, const char *arg, uint32_t *sid)
{
    client *c = cmd_connect(socket_path);
    if (c && client_resolve(c, arg, sid) < 0) {
        cmd_fail(c);
        return NULL;
    }
    return c;
}

/* Writes everything, blocking; a non-blocking fd is waited on with poll. */
int cmd_write_all(int fd, const void *p, size_t n)
{
    const char *q = p;
    while (n > 0) {
        ssize_t w = write(fd, q, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                struct pollfd pfd = {.fd = fd, .events = POLLOUT};
                poll(&pfd, 1, -1);
                continue;
            }
            return -errno;
        }
        q += w;
        n -= (size_t)w;
    }
    return 0;
}
