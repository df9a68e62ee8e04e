/* runtime: the per-user private directory the socket lives in, and the HTTP token.
 *
 * The directory must be ours alone: not a symlink (another user could point it at a
 * directory of theirs), owned by us, mode 0700. We make it when it is missing and refuse
 * to use one that fails these checks, naming what is wrong. Unless a token is given or
 * --no-auth asked for an open server, a random token is generated at start; it is kept
 * in `token` and the URL to open in `url` (both 0600) in that directory, for `ptyhub
 * url` and for programs of the same user, and removed at shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "server/server_impl.h"

/* The directory part of a socket path ("." when it has none). */
static void socket_dir(const char *socket_path, char *dir, size_t cap)
{
    snprintf(dir, cap, "%s", socket_path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, cap, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
}

/* Makes the directory when missing; refuses a symlink, another owner, or access for
 * group or others. */
int runtime_dir_prepare(const char *socket_path)
{
    char dir[sizeof((struct config *)0)->socket_path];
    socket_dir(socket_path, dir, sizeof dir);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        int err = errno;
        log_error("cannot create the socket's directory %s: %s", dir, strerror(err));
        return -err;
    }
    struct stat st;
    if (lstat(dir, &st) < 0) {
        int err = errno;
        log_error("cannot check the socket's directory %s: %s", dir, strerror(err));
        return -err;
    }
    if (S_ISLNK(st.st_mode)) {
        log_error("the socket's directory %s is a symbolic link; refusing it (someone else "
                  "may control where it points): remove it or choose another --socket",
                  dir);
        return -ELOOP;
    }
    if (!S_ISDIR(st.st_mode)) {
        log_error("the socket's directory %s is not a directory; choose another --socket", dir);
        return -ENOTDIR;
    }
    if (st.st_uid != getuid()) {
        log_error("the socket's directory %s belongs to uid %d, not to us; refusing it: "
                  "choose another --socket",
                  dir, (int)st.st_uid);
        return -EPERM;
    }
    if (st.st_mode & 077) {
        log_error("the socket's directory %s is open to other users (mode %03o); refusing it: "
                  "chmod 700 it or choose another --socket",
                  dir, (unsigned)(st.st_mode & 0777));
        return -EPERM;
    }
    return 0;
}

/* Writes a small private file (0600, never through a symlink). */
static int write_private(const char *path, const char *text)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int err = w == (ssize_t)n ? 0 : (w < 0 ? errno : EIO);
    if (fchmod(fd, 0600) < 0 && !err)
        err = errno;
    close(fd);
    return -err;
}

/* Generates the token when needed and publishes it with the URL. */
int runtime_token_publish(struct server *srv)
{
    struct config *cfg = &srv->cfg;
    if (!cfg->listen[0])
        return 0; /* no HTTP: nothing to protect */
    if (cfg->token && *cfg->token)
        return 0; /* given by the user, who knows it */
    if (cfg->no_auth) {
        log_warn("HTTP without a token (--no-auth): every local user who can reach %s gets "
                 "your shell",
                 srv->http_addr);
        return 0;
    }
    unsigned char raw[32];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            log_error("cannot generate a token: %s", strerror(errno));
            return -errno;
        }
        got += (size_t)n;
    }
    srv->token = xmalloc(2 * sizeof raw + 1);
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(srv->token + 2 * i, 3, "%02x", raw[i]);
    cfg->token = srv->token;
    char url[512];
    snprintf(url, sizeof url, "http://%s/?token=%s", srv->http_addr, srv->token);
    if (cfg->socket_path[0]) {
        char dir[sizeof cfg->socket_path], line[600];
        socket_dir(cfg->socket_path, dir, sizeof dir);
        snprintf(srv->token_path, sizeof srv->token_path, "%s/token", dir);
        snprintf(srv->url_path, sizeof srv->url_path, "%s/url", dir);
        snprintf(line, sizeof line, "%s\n", srv->token);
        int rc = write_private(srv->token_path, line);
        if (rc == 0) {
            snprintf(line, sizeof line, "%s\n", url);
            rc = write_private(srv->url_path, line);
        }
        if (rc < 0) {
            log_error("cannot write the token file %s: %s", srv->token_path, strerror(-rc));
            unlink(srv->token_path);
            return rc;
        }
        srv->token_published = true;
    }
    log_info("open %s", url);
    return 0;
}

/* Removes the token and URL files this daemon wrote. */
void runtime_token_unpublish(struct server *srv)
{
    if (!srv->token_published)
        return;
    unlink(srv->token_path);
    unlink(srv->url_path);
    srv->token_published = false;
}
