/* client: a CLI command's connection to the daemon: connect, handshake, framed and
 * queued sends, in-place decoding of received frames, request/reply matching, LIST
 * walks and name → id resolution (see client.h). */
#include "cli/client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/send_window.h"
#include "core/xalloc.h"

/* Version 2 brings WRITE, version 3 terminal state (SCREEN, WAIT, snapshot attach). */
#define CLIENT_WIRE_VERSION 3
#ifndef WIRE_WELCOME_F_WRITE
#define WIRE_WELCOME_F_WRITE (1u << 0)
#endif

/* The receive buffer holds one whole frame at least, plus room to read ahead. */
#define CLIENT_RBUF (2 * (WIRE_MAX_BODY + WIRE_LEN_PREFIX))

struct client {
    int fd;
    uint32_t next_req;
    uint8_t *rbuf;
    size_t rstart, rend; /* unconsumed bytes are rbuf[rstart, rend) */
    bool eof;
    uint8_t *wbuf;
    size_t wcap, wstart, wend; /* unsent bytes are wbuf[wstart, wend) */
    uint16_t err_code;
    uint16_t version, welcome_flags; /* from WELCOME */
    char path[108];
    char err[512];
};

/* Records the reason of a failure and returns rc. */
static int __attribute__((format(printf, 3, 4))) fail(client *c, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return rc;
}

/* Returns a new, unconnected client. */
client *client_new(void)
{
    client *c = xcalloc(1, sizeof *c);
    c->fd = -1;
    c->next_req = 1;
    c->rbuf = xmalloc(CLIENT_RBUF);
    return c;
}

/* Closes the socket and frees everything. */
void client_free(client *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    free(c->rbuf);
    free(c->wbuf);
    free(c);
}

/* Records why the daemon could not be reached, with what to do about it. */
static int connect_failed(client *c, const char *path, int err)
{
    const char *hint = "";
    if (err == ENOENT || err == ECONNREFUSED)
        hint = " (is the daemon running? start it with: ptyhub serve)";
    else if (err == EACCES || err == EPERM)
        hint = " (the socket belongs to another user; name yours with --socket)";
    else if (err == ENOTSOCK)
        hint = " (that is not a socket; name the daemon's socket with --socket)";
    return fail(c, -err, "cannot connect to %s: %s%s", path, strerror(err), hint);
}

/* Checks the socket's directory: lstat, not a link, ours, mode 0700 or stricter. */
int client_check_socket_dir(const char *socket_path, char *err, size_t errcap)
{
    char dir[108];
    if (args_socket_dir(socket_path, dir, sizeof dir) < 0) {
        snprintf(err, errcap, "socket path is too long: %s", socket_path);
        return -ENAMETOOLONG;
    }
    struct stat st;
    if (lstat(dir, &st) < 0) {
        int e = errno;
        snprintf(err, errcap, "cannot check the socket directory %s: %s%s", dir, strerror(e),
                 e == ENOENT ? " (is the daemon running? start it with: ptyhub serve)" : "");
        return -e;
    }
    if (S_ISLNK(st.st_mode)) {
        snprintf(err, errcap,
                 "the socket directory %s is a symbolic link; refusing to use it (name a socket "
                 "in a real directory of yours with --socket)",
                 dir);
        return -ELOOP;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errcap, "%s is not a directory; name the daemon's socket with --socket", dir);
        return -ENOTDIR;
    }
    if (st.st_uid != getuid()) {
        snprintf(err, errcap,
                 "the socket directory %s belongs to uid %u, not to you; refusing to use it "
                 "(name a socket in a directory of your own with --socket)",
                 dir, (unsigned)st.st_uid);
        return -EPERM;
    }
    if (st.st_mode & 077) {
        snprintf(err, errcap,
                 "the socket directory %s is open to other users (mode %04o); refusing to use "
                 "it (make it private: chmod 700 %s, then restart ptyhub serve)",
                 dir, (unsigned)(st.st_mode & 07777), dir);
        return -EPERM;
    }
    return 0;
}

/* Connects a fresh socket to path; on success it is c->fd, non-blocking, and served by
 * this user. */
static int open_socket(client *c, const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(c, -errno, "cannot create a socket: %s", strerror(errno));
    int rc;
    do
        rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        int err = errno;
        close(fd);
        return connect_failed(c, path, err);
    }
    /* Nothing is sent before we know who listens: another user could have bound the
     * path (socket(7), SO_PEERCRED: the credentials at the time of listen()). */
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        int err = errno;
        close(fd);
        return fail(c, -err, "cannot check who serves %s: %s", path, strerror(err));
    }
    if (cred.uid != getuid()) {
        close(fd);
        return fail(c, -EPERM, "the socket %s is served by uid %u, not by you; refusing to use it",
                    path, (unsigned)cred.uid);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        int err = errno;
        close(fd);
        return fail(c, -err, "cannot set up the socket: %s", strerror(err));
    }
    c->fd = fd;
    c->rstart = c->rend = 0;
    c->wstart = c->wend = 0;
    c->eof = false;
    return 0;
}

/* Says HELLO with version and reads the answer into *m. */
static int handshake(client *c, uint16_t version, struct wire_msg *m)
{
    *m = (struct wire_msg){.type = WIRE_HELLO, .hello = {.version = version}};
    int rc = client_send(c, m);
    if (rc == 0)
        rc = client_recv(c, m);
    return rc;
}

/* Connects the Unix socket and exchanges HELLO/WELCOME. */
int client_connect(client *c, const char *path)
{
    struct sockaddr_un sa;
    if (strlen(path) >= sizeof sa.sun_path)
        return fail(c, -ENAMETOOLONG, "socket path is longer than %zu bytes: %s",
                    sizeof sa.sun_path - 1, path);
    snprintf(c->path, sizeof c->path, "%s", path);
    int rc = client_check_socket_dir(path, c->err, sizeof c->err);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    if ((rc = open_socket(c, path)) < 0)
        return rc;
    uint16_t version = CLIENT_WIRE_VERSION;
    struct wire_msg m;
    rc = handshake(c, version, &m);
    if (rc == 0 && m.type == WIRE_ERROR && m.error.code == WIRE_ERR_VERSION && version > 1) {
        /* A daemon older than this client closes after refusing: say HELLO 1 anew. */
        close(c->fd);
        c->fd = -1;
        version = 1;
        if ((rc = open_socket(c, path)) < 0)
            return rc;
        rc = handshake(c, version, &m);
    }
    if (rc < 0)
        return rc;
    if (m.type == WIRE_ERROR) {
        c->err_code = m.error.code;
        return fail(c, -EPROTO, "the daemon at %s refused the handshake: %.*s%s", path,
                    (int)m.error.message.len, (const char *)m.error.message.p,
                    m.error.code == WIRE_ERR_VERSION
                        ? " (the client and the daemon are different versions; restart the "
                          "daemon)"
                        : "");
    }
    if (m.type != WIRE_WELCOME || m.welcome.version < 1 || m.welcome.version > version)
        return fail(c, -EPROTO,
                    "the daemon at %s answered the handshake with %s version %u (expected "
                    "welcome version 1 to %u; restart the daemon with this ptyhub)",
                    path, wire_type_name(m.type), m.type == WIRE_WELCOME ? m.welcome.version : 0,
                    version);
    c->version = m.welcome.version;
    c->welcome_flags = m.welcome.flags;
    return 0;
}

/* The agreed protocol version. */
unsigned client_version(const client *c)
{
    return c->version;
}

/* WRITE needs version 2 and the daemon's word for it. */
bool client_can_write(const client *c)
{
    return c->version >= 2 && (c->welcome_flags & WIRE_WELCOME_F_WRITE);
}

/* Terminal state needs version 3 and the daemon's word for it. */
bool client_has_terminal(const client *c)
{
    return c->version >= 3 && (c->welcome_flags & WIRE_WELCOME_F_TERMINAL);
}

/* The reason of the last failure. */
const char *client_strerror(const client *c)
{
    return c->err;
}

/* The last ERROR code received for a request. */
uint16_t client_error_code(const client *c)
{
    return c->err_code;
}

/* The socket. */
int client_fd(const client *c)
{
    return c->fd;
}

/* Hands out request ids 1, 2, ... skipping 0 on wrap. */
uint32_t client_req(client *c)
{
    if (c->next_req == 0)
        c->next_req = 1;
    return c->next_req++;
}

/* Encodes m behind the queued bytes, growing the queue as needed. */
int client_queue(client *c, const struct wire_msg *m)
{
    if (c->wstart == c->wend)
        c->wstart = c->wend = 0;
    size_t n = wire_encode(m, c->wbuf ? c->wbuf + c->wend : NULL, c->wcap - c->wend, true);
    if (n == 0)
        return fail(c, -EMSGSIZE, "a %s message is too large to send", wire_type_name(m->type));
    if (n > c->wcap - c->wend) {
        if (c->wstart > 0) {
            memmove(c->wbuf, c->wbuf + c->wstart, c->wend - c->wstart);
            c->wend -= c->wstart;
            c->wstart = 0;
        }
        if (n > c->wcap - c->wend) {
            c->wcap = c->wend + n + 4096;
            c->wbuf = xrealloc(c->wbuf, c->wcap);
        }
        wire_encode(m, c->wbuf + c->wend, c->wcap - c->wend, true);
    }
    c->wend += n;
    return 0;
}

/* Appends a hand-encoded WRITE to the send queue. */
int client_queue_write(client *c, uint32_t req, uint32_t sid, uint8_t flags, const void *data,
                       size_t len)
{
    size_t n = send_window_encode_write(NULL, 0, req, sid, flags, data, len);
    if (n == 0)
        return fail(c, -EMSGSIZE, "a write message is too large to send");
    if (c->wstart == c->wend)
        c->wstart = c->wend = 0;
    if (n > c->wcap - c->wend) {
        if (c->wstart > 0) {
            memmove(c->wbuf, c->wbuf + c->wstart, c->wend - c->wstart);
            c->wend -= c->wstart;
            c->wstart = 0;
        }
        if (n > c->wcap - c->wend) {
            c->wcap = c->wend + n + 4096;
            c->wbuf = xrealloc(c->wbuf, c->wcap);
        }
    }
    send_window_encode_write(c->wbuf + c->wend, c->wcap - c->wend, req, sid, flags, data, len);
    c->wend += n;
    return 0;
}

/* Bytes waiting in the send queue. */
size_t client_queued(const client *c)
{
    return c->wend - c->wstart;
}

/* Records that the daemon went away. */
static int daemon_gone(client *c)
{
    return fail(c, -ECONNRESET,
                "the daemon closed the connection (is it still running? see its log)");
}

/* Writes queued bytes until the socket would block. */
int client_flush_some(client *c)
{
    while (c->wstart < c->wend) {
        ssize_t n = send(c->fd, c->wbuf + c->wstart, c->wend - c->wstart, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (errno == EPIPE || errno == ECONNRESET)
                return daemon_gone(c);
            return fail(c, -errno, "cannot write to the daemon: %s", strerror(errno));
        }
        c->wstart += (size_t)n;
    }
    return 0;
}

/* Reads into the receive buffer until the socket would block or the buffer is full. */
int client_read_some(client *c)
{
    if (c->rstart == c->rend)
        c->rstart = c->rend = 0;
    else if (c->rstart > 0 && CLIENT_RBUF - c->rend < WIRE_MAX_BODY + WIRE_LEN_PREFIX) {
        /* Moving what is left to the front makes room for a whole frame behind it. */
        memmove(c->rbuf, c->rbuf + c->rstart, c->rend - c->rstart);
        c->rend -= c->rstart;
        c->rstart = 0;
    }
    while (!c->eof && c->rend < CLIENT_RBUF) {
        ssize_t n = read(c->fd, c->rbuf + c->rend, CLIENT_RBUF - c->rend);
        if (n > 0) {
            c->rend += (size_t)n;
            continue;
        }
        if (n == 0 || errno == ECONNRESET) {
            c->eof = true;
            break;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        return fail(c, -errno, "cannot read from the daemon: %s", strerror(errno));
    }
    return 0;
}

/* Decodes the next complete frame in the receive buffer. */
int client_next(client *c, struct wire_msg *m)
{
    for (;;) {
        const uint8_t *body;
        size_t len;
        ssize_t n =
            wire_frame_split(c->rbuf + c->rstart, c->rend - c->rstart, WIRE_MAX_BODY, &body, &len);
        if (n == 0)
            return c->eof ? daemon_gone(c) : 0;
        if (n < 0)
            return fail(c, -EPROTO, "the daemon sent a malformed frame (restart it; see its log)");
        c->rstart += (size_t)n;
        int rc = wire_decode(body, len, m);
        if (rc == -ENOTSUP)
            continue; /* a message type from a newer daemon: not for us */
        if (rc < 0)
            return fail(c, -EPROTO, "the daemon sent a malformed %s message (see its log)",
                        wire_type_name(body[0]));
        return 1;
    }
}

/* Waits until the socket can make progress in a direction that is needed, then makes it. */
static int client_pump(client *c)
{
    bool room = c->rend - c->rstart < CLIENT_RBUF;
    struct pollfd p = {.fd = c->fd,
                       .events = (short)((room ? POLLIN : 0) | (client_queued(c) ? POLLOUT : 0))};
    if (p.events == 0)
        return fail(c, -ENOBUFS, "internal error: the receive buffer is full");
    int rc = poll(&p, 1, -1);
    if (rc < 0)
        return errno == EINTR ? 0 : fail(c, -errno, "poll: %s", strerror(errno));
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
        if ((rc = client_read_some(c)) < 0)
            return rc;
    }
    if (client_queued(c) && (p.revents & (POLLOUT | POLLERR | POLLHUP)))
        return client_flush_some(c);
    return 0;
}

/* Queues m and blocks until everything queued is written. */
int client_send(client *c, const struct wire_msg *m)
{
    int rc = client_queue(c, m);
    if (rc < 0)
        return rc;
    while (client_queued(c)) {
        if ((rc = client_flush_some(c)) < 0)
            return rc;
        if (client_queued(c) && (rc = client_pump(c)) < 0)
            return rc;
        if (c->eof && client_queued(c))
            return daemon_gone(c);
    }
    return 0;
}

/* Blocks until a whole message is buffered and decodes it. */
int client_recv(client *c, struct wire_msg *m)
{
    for (;;) {
        int rc = client_next(c, m);
        if (rc != 0)
            return rc < 0 ? rc : 0;
        if ((rc = client_pump(c)) < 0)
            return rc;
    }
}

/* Records a refusal from the daemon; its message is written for users already. */
static int refused(client *c, const struct wire_error *e)
{
    c->err_code = e->code;
    if (e->message.len == 0)
        return fail(c, -EREMOTEIO, "the daemon refused the request: %s%s", wire_err_name(e->code),
                    e->code == WIRE_ERR_NO_SUCH_SESSION ? " (see: ptyhub ls)" : "");
    return fail(c, -EREMOTEIO, "%.*s", (int)e->message.len, (const char *)e->message.p);
}

/* Sends a request and waits for its reply. */
int client_call(client *c, const struct wire_msg *m, uint8_t want, struct wire_msg *reply)
{
    uint32_t req = wire_msg_req(m);
    c->err_code = 0;
    int rc = client_send(c, m);
    while (rc == 0) {
        if ((rc = client_recv(c, reply)) < 0)
            break;
        if (wire_msg_req(reply) != req)
            continue;
        if (reply->type == WIRE_ERROR)
            return refused(c, &reply->error);
        if (reply->type == want)
            return 0;
    }
    return rc;
}

/* Walks every LIST_REPLY of one LIST. */
int client_list(client *c, client_list_cb cb, void *arg)
{
    struct wire_msg m = {.type = WIRE_LIST, .list = {.req = client_req(c)}};
    struct wire_msg r;
    int rc = client_call(c, &m, WIRE_LIST_REPLY, &r);
    int stop = 0;
    while (rc == 0) {
        size_t pos = 0;
        struct wire_list_entry e;
        while (!stop && wire_list_next(&r.list_reply, &pos, &e))
            stop = cb(arg, &e);
        if (!(r.list_reply.flags & WIRE_LIST_F_MORE))
            break;
        /* The rest of this listing still has to be read off the socket. */
        do
            rc = client_recv(c, &r);
        while (rc == 0 && !(r.type == WIRE_LIST_REPLY && r.list_reply.req == m.list.req) &&
               !(r.type == WIRE_ERROR && r.error.req == m.list.req));
        if (rc == 0 && r.type == WIRE_ERROR)
            rc = refused(c, &r.error);
    }
    return rc < 0 ? rc : stop;
}

struct resolve {
    const char *name;
    size_t len;
    uint32_t sid, matches, running_sid, running;
};

/* Remembers the sessions whose name is the one looked for. */
static int resolve_cb(void *arg, const struct wire_list_entry *e)
{
    struct resolve *r = arg;
    if (e->name.len == r->len && memcmp(e->name.p, r->name, r->len) == 0) {
        r->sid = e->sid;
        r->matches++;
        if (e->state == WIRE_STATE_RUNNING) {
            r->running_sid = e->sid;
            r->running++;
        }
    }
    return 0;
}

/* Resolves an id or a name to an id. */
int client_resolve(client *c, const char *arg, uint32_t *sid)
{
    if (args_parse_id(arg, sid) == 0)
        return 0;
    if (args_is_digits(arg))
        return fail(c, -ENOENT, "no session with id %s (see: ptyhub ls)", arg);
    struct resolve r = {.name = arg, .len = strlen(arg)};
    int rc = client_list(c, resolve_cb, &r);
    if (rc < 0)
        return rc;
    if (r.matches == 0)
        return fail(c, -ENOENT, "no session named '%s' (see: ptyhub ls)", arg);
    if (r.matches == 1) {
        *sid = r.sid;
        return 0;
    }
    if (r.running == 1) {
        *sid = r.running_sid;
        return 0;
    }
    return fail(c, -ENOENT, "%u sessions are named '%s'; name one by its id (see: ptyhub ls)",
                r.matches, arg);
}
