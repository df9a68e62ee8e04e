/* cmd_url: `ptyhub url` prints the browser URL of the running daemon, which `ptyhub
 * serve` writes, token included, to the file `url` next to its socket. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cmd.h"
#include "server/config.h"

static const char url_usage[] =
    "usage: ptyhub url [--socket PATH]\n"
    "Prints the URL that opens the daemon's web UI, http://HOST:PORT/?token=TOKEN, as\n"
    "`ptyhub serve` wrote it to the file url in the socket's directory. Treat it as a\n"
    "password: whoever has it gets your shell.\n";

static const struct option url_options[] = {
    {"socket", required_argument, NULL, CMD_OPT_SOCKET},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Reads the first line of the daemon's url file and prints it. */
int cmd_url(int argc, char **argv)
{
    const char *socket_path = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", url_options, NULL)) != -1) {
        switch (c) {
        case CMD_OPT_SOCKET:
            socket_path = optarg;
            break;
        case 'h':
            fputs(url_usage, stdout);
            return 0;
        default:
            return cmd_bad_option(argv, c);
        }
    }
    if (optind < argc)
        return cmd_usage("url: unexpected argument '%s'", argv[optind]);

    char path[108], dir[108], file[128], err[512];
    if (!socket_path) {
        if (config_default_socket(path, sizeof path) < 0)
            return cmd_error(
                "the default socket path is too long; name the socket with --socket PATH");
        socket_path = path;
    }
    if (args_socket_dir(socket_path, dir, sizeof dir) < 0)
        return cmd_error("socket path is too long: %s", socket_path);
    snprintf(file, sizeof file, "%s/url", dir);
    int rc = client_check_socket_dir(socket_path, err, sizeof err);
    if (rc == -ENOENT)
        return cmd_error("no URL file at %s: is `ptyhub serve` running with HTTP for this "
                         "socket?",
                         file);
    if (rc < 0)
        return cmd_error("%s", err);
    int fd = open(file, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return cmd_error("no URL file at %s: is `ptyhub serve` running with HTTP for this "
                         "socket?",
                         file);
    if (fd < 0)
        return cmd_error("cannot open %s: %m", file);
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != getuid()) {
        close(fd);
        return cmd_error("%s is not a file of yours; refusing to use it (restart ptyhub serve)",
                         file);
    }
    char buf[4096];
    size_t len = 0;
    while (len < sizeof buf) {
        ssize_t n = read(fd, buf + len, sizeof buf - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return cmd_error("cannot read %s: %s", file, strerror(e));
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    const char *nl = memchr(buf, '\n', len);
    size_t n = nl ? (size_t)(nl - buf) : len;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    if (n == 0 || memchr(buf, '\0', n))
        return cmd_error("%s is empty or damaged (restart ptyhub serve to write it again)", file);
    buf[n] = '\n';
    if (cmd_write_all(STDOUT_FILENO, buf, n + 1) < 0)
        return cmd_error("cannot write the URL: %m");
    return 0;
}
