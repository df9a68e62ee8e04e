/* cmd_send: `ptyhub send` types text, or stdin verbatim, into a session.
 *
 * With a daemon that takes WRITE (protocol 2), the bytes go as WRITE chunks that the
 * daemon acknowledges once they reached the PTY (send_window.h keeps the books), and a
 * chunk the session's input queue cannot take now is sent again. Older daemons get
 * INPUT messages, confirmed with a LIST round trip.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cmd.h"
#include "cli/send_window.h"
#include "core/xalloc.h"

static const char send_usage[] = "usage: ptyhub send [--socket PATH] ID TEXT...\n"
                                 "       ptyhub send [--socket PATH] ID -\n"
                                 "Types TEXT (joined by spaces, no newline added), or stdin "
                                 "verbatim until EOF, into session ID.\n";

static const struct option send_options[] = {
    {"socket", required_argument, NULL, CMD_OPT_SOCKET},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

#define SEND_CHUNK (64 * 1024)

/* True for an ERROR that refuses our input (those carry req 0). */
static bool is_refusal(const struct wire_msg *m, uint32_t sid)
{
    return m->type == WIRE_ERROR && m->error.req == 0 && (m->error.sid == 0 || m->error.sid == sid);
}

/* Looks at what the daemon has answered so far without waiting. Returns 0, -EREMOTEIO
 * with the refusal in *refusal, or another -errno. */
static int check_refusals(client *c, uint32_t sid, struct wire_msg *refusal)
{
    int rc = client_read_some(c);
    while (rc == 0 && (rc = client_next(c, refusal)) > 0)
        rc = is_refusal(refusal, sid) ? -EREMOTEIO : 0;
    return rc;
}

/* Sends data as INPUT messages of at most SEND_CHUNK bytes. */
static int send_input(client *c, uint32_t sid, const char *p, size_t n)
{
    do {
        size_t k = n < SEND_CHUNK ? n : SEND_CHUNK;
        struct wire_msg m = {.type = WIRE_INPUT, .input = {sid, {(const uint8_t *)p, k}}};
        int rc = client_send(c, &m);
        if (rc < 0)
            return rc;
        p += k;
        n -= k;
    } while (n > 0);
    return 0;
}

/* Ends with a LIST round trip: the daemon handles one connection's messages in order, so
 * once its reply is here every INPUT before it was accepted or refused. */
static int confirm(client *c, uint32_t sid, struct wire_msg *refusal)
{
    uint32_t req = client_req(c);
    struct wire_msg m = {.type = WIRE_LIST, .list = {.req = req}};
    int rc = client_send(c, &m);
    while (rc == 0 && (rc = client_recv(c, &m)) == 0) {
        if (is_refusal(&m, sid) || (m.type == WIRE_ERROR && m.error.req == req)) {
            *refusal = m;
            return -EREMOTEIO;
        }
        if (m.type == WIRE_LIST_REPLY && m.list_reply.req == req &&
            !(m.list_reply.flags & WIRE_LIST_F_MORE))
            return 0;
    }
    return rc;
}

/* How long a refused chunk waits before it is sent again when no OK is due. */
#define SEND_RETRY_MS 50
/* Stdin is read ahead this far past what is acknowledged. */
#define SEND_BUF (SEND_WINDOW_INFLIGHT + SEND_WINDOW_CHUNK)

/* The bytes of one `send` over WRITE: data[0] is stream offset base. */
struct writer {
    client *cl;
    uint32_t sid;
    struct send_window win;
    char *data;
    size_t cap;
    uint64_t base, end; /* data holds the stream's bytes [base, end) */
    bool from_stdin, eof;
    bool retry_due; /* an OK arrived (or the timer ran out) since a chunk was refused */
};

/* Drops acknowledged bytes from the front of the buffer. */
static void writer_compact(struct writer *w)
{
    uint64_t acked = send_window_acked(&w->win);
    if (acked == w->base)
        return;
    size_t drop = (size_t)(acked - w->base);
    memmove(w->data, w->data + drop, (size_t)(w->end - acked));
    w->base = acked;
}

/* Reads what stdin has into the free room. Returns 0 or -errno. */
static int writer_read(struct writer *w)
{
    writer_compact(w);
    size_t used = (size_t)(w->end - w->base);
    if (w->eof || used == w->cap)
        return 0;
    ssize_t n = read(STDIN_FILENO, w->data + used, w->cap - used);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -errno;
    if (n == 0)
        w->eof = true;
    w->end += (uint64_t)n;
    return 0;
}

/* Queues WRITEs: refused chunks again once their time has come, then new chunks.
 *
 * After a refusal the daemon refuses this connection's later WRITEs to the session until
 * one comes with the RESUME flag, so a chunk sent after a refused one can never reach
 * the PTY first. Retries therefore go one at a time, oldest first, each with RESUME and
 * only when nothing else is in flight; new chunks wait until no retry is left. */
static int writer_queue(struct writer *w)
{
    uint64_t off;
    size_t n;
    int rc;
    if (send_window_has_retry(&w->win)) {
        if (!w->retry_due || send_window_waiting(&w->win))
            return 0;
        w->retry_due = false;
        uint32_t req = client_req(w->cl);
        n = send_window_resend(&w->win, req, &off);
        return client_queue_write(w->cl, req, w->sid, SEND_WINDOW_F_RESUME,
                                  w->data + (off - w->base), n);
    }
    for (;;) {
        uint32_t req = client_req(w->cl);
        if ((n = send_window_cut(&w->win, w->end, req, &off)) == 0)
            return 0;
        if ((rc = client_queue_write(w->cl, req, w->sid, 0, w->data + (off - w->base), n)) < 0)
            return rc;
    }
}

/* Handles one message from the daemon. Returns 0, -EREMOTEIO with the refusal in
 * *refusal, or another -errno. */
static int writer_answer(struct writer *w, const struct wire_msg *m, struct wire_msg *refusal)
{
    if (m->type == WIRE_OK && send_window_ok(&w->win, m->ok.req) == 0) {
        if (send_window_has_retry(&w->win))
            w->retry_due = true;
        return 0;
    }
    if (m->type != WIRE_ERROR)
        return 0;
    if (send_window_owns(&w->win, m->error.req)) {
        if (m->error.code == WIRE_ERR_LIMIT)
            return send_window_limit(&w->win, m->error.req);
        *refusal = *m;
        return -EREMOTEIO;
    }
    if (is_refusal(m, w->sid)) {
        *refusal = *m;
        return -EREMOTEIO;
    }
    return 0;
}

/* True when every byte there is to send was acknowledged. */
static bool writer_done(const struct writer *w)
{
    return (!w->from_stdin || w->eof) && send_window_acked(&w->win) == w->end;
}

/* Returns the text arguments joined by spaces (no newline added), and its length. */
static char *join_args(char **args, int n, size_t *len)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += strlen(args[i]) + 1;
    char *text = xmalloc(total);
    char *p = text;
    for (int i = 0; i < n; i++) {
        size_t k = strlen(args[i]);
        memcpy(p, args[i], k);
        p += k;
        *p++ = ' ';
    }
    *len = total - 1;
    return text;
}

/* Sends everything as WRITE chunks and waits until the daemon acknowledged all of it. */
static int send_write(struct writer *w, struct wire_msg *refusal)
{
    int rc = 0;
    while (!writer_done(w)) {
        writer_compact(w); /* acknowledged bytes make room for more of stdin */
        if ((rc = writer_queue(w)) < 0 || (rc = client_flush_some(w->cl)) < 0)
            return rc;
        /* A refused chunk goes again after the next OK, or after a pause when none is
         * due (the queue drains as the program in the session reads). */
        bool retry_wait = send_window_has_retry(&w->win) && send_window_waiting(&w->win) == 0;
        bool want_stdin = w->from_stdin && !w->eof && w->end - w->base < w->cap;
        struct pollfd p[2] = {
            {.fd = client_fd(w->cl),
             .events = (short)(POLLIN | (client_queued(w->cl) ? POLLOUT : 0))},
            {.fd = want_stdin ? STDIN_FILENO : -1, .events = POLLIN},
        };
        int n = poll(p, 2, retry_wait ? SEND_RETRY_MS : -1);
        if (n < 0 && errno != EINTR) {
            cmd_error("send: poll: %m");
            return -ECANCELED;
        }
        if (n == 0 && retry_wait)
            w->retry_due = true;
        if (n <= 0)
            continue;
        if (p[1].revents && (rc = writer_read(w)) < 0) {
            cmd_error("send: cannot read stdin: %s", strerror(-rc));
            return -ECANCELED;
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            if ((rc = client_read_some(w->cl)) < 0)
                return rc;
            struct wire_msg m;
            while ((rc = client_next(w->cl, &m)) > 0)
                if ((rc = writer_answer(w, &m, refusal)) < 0)
                    return rc;
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* Prints the daemon's refusal of our input. */
static int refused(client *c, const struct wire_msg *m, const char *arg)
{
    if (m->error.message.len)
        cmd_error("%.*s", (int)m->error.message.len, (const char *)m->error.message.p);
    else
        cmd_error("session %s refused the input: %s", arg, wire_err_name(m->error.code));
    client_free(c);
    return 1;
}

/* Types text or stdin into a session. */
int cmd_send(int argc, char **argv)
{
    const char *socket_path = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", send_options, NULL)) != -1) {
        switch (c) {
        case CMD_OPT_SOCKET:
            socket_path = optarg;
            break;
        case 'h':
            fputs(send_usage, stdout);
            return 0;
        default:
            return cmd_bad_option(argv, c);
        }
    }
    if (optind >= argc)
        return cmd_usage("send: which session? (ptyhub send ID TEXT...)");
    const char *arg = argv[optind++];
    if (optind >= argc)
        return cmd_usage("send: nothing to send (give TEXT, or - to send stdin)");
    bool from_stdin = optind == argc - 1 && strcmp(argv[optind], "-") == 0;

    uint32_t sid;
    client *cl = cmd_connect_session(socket_path, arg, &sid);
    if (!cl)
        return 1;
    int rc = 0;
    struct wire_msg refusal;
    if (client_can_write(cl)) {
        struct writer w = {.cl = cl, .sid = sid, .from_stdin = from_stdin};
        send_window_init(&w.win);
        if (from_stdin) {
            w.cap = SEND_BUF;
            w.data = xmalloc(w.cap);
        } else {
            size_t len;
            w.data = join_args(argv + optind, argc - optind, &len);
            w.cap = len;
            w.end = len;
            w.eof = true;
        }
        rc = send_write(&w, &refusal);
        free(w.data);
        if (rc == -ECANCELED) {
            client_free(cl);
            return 1;
        }
    } else if (from_stdin) {
        char *buf = xmalloc(SEND_CHUNK);
        for (;;) {
            ssize_t n = read(STDIN_FILENO, buf, SEND_CHUNK);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                free(buf);
                client_free(cl);
                return cmd_error("send: cannot read stdin: %m");
            }
            if (n == 0)
                break;
            if ((rc = send_input(cl, sid, buf, (size_t)n)) < 0 ||
                (rc = check_refusals(cl, sid, &refusal)) < 0)
                break;
        }
        free(buf);
    } else {
        size_t len;
        char *text = join_args(argv + optind, argc - optind, &len);
        rc = send_input(cl, sid, text, len);
        free(text);
    }
    if (rc == 0 && !client_can_write(cl))
        rc = confirm(cl, sid, &refusal);
    if (rc == -EREMOTEIO)
        return refused(cl, &refusal, arg);
    if (rc < 0)
        return cmd_fail(cl);
    client_free(cl);
    return 0;
}
