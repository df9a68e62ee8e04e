/* cmd_attach: `ptyhub attach` connects this terminal to a session, like dtach: the
 * terminal goes raw, keys go to the session, its output comes to the screen, and the
 * detach key (Ctrl-\ unless --detach-key says otherwise) leaves it running.
 *
 * One poll() loop watches stdin, the socket and a self-pipe for SIGWINCH. Input waits in
 * the client's send queue while the daemon is not reading it, and stdin is left unread
 * while that queue is long, so a session that stops taking input never makes us drop or
 * block. Writes to stdout block: a slow terminal slows the session, as a real one would.
 *
 * When the daemon keeps terminal state, the attach starts from a snapshot of the screen
 * (like tmux, the screen is redrawn as it is now, modes included) instead of a raw replay
 * of recent output, which garbles full-screen programs whose set-up has left the ring.
 * Terminal queries in the output (cursor position, device attributes, ...) are filtered
 * out before they reach this terminal (cli/qfilter.h): the daemon answers them, once.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cmd.h"
#include "cli/qfilter.h"
#include "cli/tty.h"

static const char attach_usage[] =
    "usage: ptyhub attach [--read-only] [--detach-key KEY] [--raw | --from OFFSET] [--redraw]\n"
    "                     [--socket PATH] ID\n"
    "Attaches this terminal to session ID. KEY (^X notation or one character; default ^\\)\n"
    "detaches and leaves the session running. With the daemon's terminal state on, the\n"
    "screen is restored from a snapshot; --raw replays the last 64 KiB of output instead,\n"
    "--from OFFSET replays the output from OFFSET. --redraw asks the program to repaint\n"
    "(a resize to one column less and back).\n";

enum { OPT_READ_ONLY = CMD_OPT_SOCKET + 1, OPT_DETACH_KEY, OPT_RAW, OPT_FROM, OPT_REDRAW };

static const struct option attach_options[] = {
    {"socket", required_argument, NULL, CMD_OPT_SOCKET},
    {"read-only", no_argument, NULL, OPT_READ_ONLY},
    {"detach-key", required_argument, NULL, OPT_DETACH_KEY},
    {"raw", no_argument, NULL, OPT_RAW},
    {"from", required_argument, NULL, OPT_FROM},
    {"redraw", no_argument, NULL, OPT_REDRAW},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

#define ATTACH_TAIL (64 * 1024)      /* recent scrollback shown on attach */
#define ATTACH_READ (64 * 1024)      /* stdin read size */
#define ATTACH_QUEUE_HIGH (1u << 20) /* stop reading stdin above this much unsent input */
#define ATTACH_FILTER_CHUNK (64 * 1024)

/* How the loop ended. */
enum attach_end { END_DETACHED, END_EXITED, END_FAILED };

struct attach {
    client *cl;
    uint32_t sid;
    bool read_only;
    int detach_key;
    int32_t exit_code, exit_signal;
    struct qfilter qf; /* terminal queries out of the output */
    char err[512];
};

/* Writes session output to the terminal without the queries in it. */
static int write_filtered(struct attach *a, const uint8_t *p, size_t n)
{
    static uint8_t out[ATTACH_FILTER_CHUNK + QFILTER_HOLD + 1];
    while (n > 0) {
        size_t k = n < ATTACH_FILTER_CHUNK ? n : ATTACH_FILTER_CHUNK;
        size_t o = qfilter_feed(&a->qf, p, k, out);
        int rc = cmd_write_all(STDOUT_FILENO, out, o);
        if (rc < 0)
            return rc;
        p += k;
        n -= k;
    }
    return 0;
}

static int winch_pipe[2] = {-1, -1};

/* Wakes the loop on a window-size change. */
static void on_winch(int sig)
{
    (void)sig;
    int saved = errno;
    ssize_t w = write(winch_pipe[1], "w", 1);
    (void)w;
    errno = saved;
}

/* Sets up the self-pipe and the SIGWINCH handler. Returns 0 or -errno. */
static int winch_init(void)
{
    if (pipe2(winch_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -errno;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_winch;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGWINCH, &sa, NULL) < 0 ? -errno : 0;
}

/* Reads the local terminal's size, clamped to what the protocol carries; 0x0 if unknown. */
static void local_size(uint16_t *cols, uint16_t *rows)
{
    if (tty_size(STDIN_FILENO, cols, rows) < 0 && tty_size(STDOUT_FILENO, cols, rows) < 0) {
        *cols = *rows = 0;
        return;
    }
    if (*cols > WIRE_MAX_DIM)
        *cols = WIRE_MAX_DIM;
    if (*rows > WIRE_MAX_DIM)
        *rows = WIRE_MAX_DIM;
}

/* Handles one message from the daemon. Returns -1 to go on, or how the loop ends. */
static int on_message(struct attach *a, const struct wire_msg *m)
{
    switch (m->type) {
    case WIRE_SNAPSHOT:
    case WIRE_OUTPUT: {
        /* The snapshot (the screen as it is, from the daemon) goes out as is. */
        int rc =
            m->type == WIRE_SNAPSHOT
                ? (m->snapshot.sid == a->sid
                       ? cmd_write_all(STDOUT_FILENO, m->snapshot.data.p, m->snapshot.data.len)
                       : 0)
                : (m->output.sid == a->sid ? write_filtered(a, m->output.data.p, m->output.data.len)
                                           : 0);
        if (rc < 0) {
            snprintf(a->err, sizeof a->err, "attach: cannot write to the terminal: %s",
                     strerror(-rc));
            return END_FAILED;
        }
        return -1;
    }
    case WIRE_EXIT:
        if (m->exit.sid != a->sid)
            return -1;
        a->exit_code = m->exit.code;
        a->exit_signal = m->exit.signal;
        return END_EXITED;
    case WIRE_ERROR:
        /* Refused keys (say, typed as the session exits) are not worth ending for. */
        if (m->error.code == WIRE_ERR_NOT_ATTACHED || m->error.code == WIRE_ERR_NO_SUCH_SESSION) {
            snprintf(a->err, sizeof a->err, "%.*s", (int)m->error.message.len,
                     (const char *)m->error.message.p);
            return END_FAILED;
        }
        return -1;
    default: /* GAP and replies: nothing to show */
        return -1;
    }
}

/* Forwards keys read from stdin; returns END_DETACHED when the detach key is among them. */
static int on_keys(struct attach *a, const char *buf, size_t n)
{
    const char *key = memchr(buf, a->detach_key, n);
    size_t keep = key ? (size_t)(key - buf) : n;
    if (!a->read_only && keep > 0) {
        struct wire_msg m = {.type = WIRE_INPUT, .input = {a->sid, {(const uint8_t *)buf, keep}}};
        if (client_queue(a->cl, &m) < 0)
            return END_FAILED;
    }
    return key ? END_DETACHED : -1;
}

/* Queues a RESIZE with the terminal's new size. */
static int on_winch_event(struct attach *a)
{
    char drain[64];
    while (read(winch_pipe[0], drain, sizeof drain) > 0)
        ;
    uint16_t cols, rows;
    local_size(&cols, &rows);
    if (a->read_only || cols == 0)
        return 0;
    struct wire_msg m = {.type = WIRE_RESIZE, .resize = {a->sid, cols, rows}};
    return client_queue(a->cl, &m);
}

/* Runs the copy loop until detach, exit or failure. */
static enum attach_end attach_loop(struct attach *a)
{
    static char buf[ATTACH_READ];
    struct wire_msg m;
    for (;;) {
        int rc, end;
        while ((rc = client_next(a->cl, &m)) > 0)
            if ((end = on_message(a, &m)) >= 0)
                return (enum attach_end)end;
        if (rc < 0)
            return END_FAILED;
        bool take_keys = client_queued(a->cl) < ATTACH_QUEUE_HIGH;
        struct pollfd p[3] = {
            {.fd = take_keys ? STDIN_FILENO : -1, .events = POLLIN},
            {.fd = client_fd(a->cl),
             .events = (short)(POLLIN | (client_queued(a->cl) ? POLLOUT : 0))},
            {.fd = winch_pipe[0], .events = POLLIN},
        };
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            snprintf(a->err, sizeof a->err, "attach: poll: %s", strerror(errno));
            return END_FAILED;
        }
        if (p[2].revents && on_winch_event(a) < 0)
            return END_FAILED;
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR) && client_read_some(a->cl) < 0)
            return END_FAILED;
        if (p[0].revents) {
            ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
            if (n > 0 && (end = on_keys(a, buf, (size_t)n)) >= 0)
                return (enum attach_end)end;
            /* End of input (a hung-up terminal) leaves the session as a detach would. */
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
                return END_DETACHED;
        }
        if (client_queued(a->cl) && client_flush_some(a->cl) < 0)
            return END_FAILED;
    }
}

/* Attaches the terminal to a session. */
int cmd_attach(int argc, char **argv)
{
    const char *socket_path = NULL;
    struct attach a = {.detach_key = 0x1c};
    bool raw = false, redraw = false, from_given = false;
    uint64_t from = 0;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hr", attach_options, NULL)) != -1) {
        switch (c) {
        case CMD_OPT_SOCKET:
            socket_path = optarg;
            break;
        case 'r':
        case OPT_READ_ONLY:
            a.read_only = true;
            break;
        case OPT_DETACH_KEY:
            if ((a.detach_key = args_parse_detach_key(optarg)) < 0)
                return cmd_usage("attach: --detach-key '%s' is not ^X notation or one character",
                                 optarg);
            break;
        case OPT_RAW:
            raw = true;
            break;
        case OPT_FROM: {
            char *end;
            errno = 0;
            from = strtoull(optarg, &end, 10);
            if (!args_is_digits(optarg) || *end || errno)
                return cmd_usage("attach: --from needs an output offset, not '%s'", optarg);
            from_given = true;
            break;
        }
        case OPT_REDRAW:
            redraw = true;
            break;
        case 'h':
            fputs(attach_usage, stdout);
            return 0;
        default:
            return cmd_bad_option(argv, c);
        }
    }
    if (optind >= argc)
        return cmd_usage("attach: which session? (ptyhub attach ID)");
    if (optind + 1 < argc)
        return cmd_usage("attach: unexpected argument '%s'", argv[optind + 1]);
    if (raw && from_given)
        return cmd_usage("attach: --raw and --from exclude each other");
    if (!isatty(STDIN_FILENO))
        return cmd_usage("attach: stdin is not a terminal (from a script, use ptyhub send and "
                         "ptyhub output)");

    a.cl = cmd_connect_session(socket_path, argv[optind], &a.sid);
    if (!a.cl)
        return 1;
    if (winch_init() < 0) {
        client_free(a.cl);
        return cmd_error("attach: cannot watch the terminal's size: %m");
    }
    struct wire_msg m = {
        .type = WIRE_ATTACH,
        .attach = {.req = client_req(a.cl),
                   .sid = a.sid,
                   .mode = a.read_only ? WIRE_MODE_READ_ONLY : WIRE_MODE_INTERACTIVE,
                   .from_kind = WIRE_FROM_TAIL,
                   .from = ATTACH_TAIL}};
    if (from_given) {
        m.attach.from_kind = WIRE_FROM_OFFSET;
        m.attach.from = from;
    } else if (!raw && client_has_terminal(a.cl)) {
        m.attach.from_kind = WIRE_FROM_SNAPSHOT;
        m.attach.from = 0;
    }
    qfilter_init(&a.qf);
    local_size(&m.attach.cols, &m.attach.rows);
    if (a.read_only)
        m.attach.cols = m.attach.rows = 0;               /* a viewer does not resize the session */
    uint16_t cols = m.attach.cols, rows = m.attach.rows; /* the reply overwrites m */
    if (client_call(a.cl, &m, WIRE_ATTACHED, &m) < 0)
        return cmd_fail(a.cl);
    int rc = tty_raw(STDIN_FILENO);
    if (rc < 0) {
        client_free(a.cl);
        return cmd_error("attach: cannot put the terminal in raw mode: %s", strerror(-rc));
    }
    if (redraw && !a.read_only && cols > 1) {
        /* The kernel sends no SIGWINCH for a resize to the same size: a size one column
         * narrower and back makes the program repaint. */
        struct wire_msg r1 = {.type = WIRE_RESIZE, .resize = {a.sid, (uint16_t)(cols - 1), rows}};
        struct wire_msg r2 = {.type = WIRE_RESIZE, .resize = {a.sid, cols, rows}};
        if (client_queue(a.cl, &r1) < 0 || client_queue(a.cl, &r2) < 0) {
            tty_restore();
            return cmd_fail(a.cl);
        }
    }

    enum attach_end end = attach_loop(&a);
    if (end == END_DETACHED) {
        /* Without waiting: a daemon not reading our socket must not hold the user here,
         * and closing the connection detaches too. */
        struct wire_msg d = {.type = WIRE_DETACH, .detach = {client_req(a.cl), a.sid}};
        if (client_queue(a.cl, &d) == 0)
            client_flush_some(a.cl);
    }
    tty_restore();
    if (end == END_FAILED) {
        if (!a.err[0])
            snprintf(a.err, sizeof a.err, "%s", client_strerror(a.cl));
        client_free(a.cl);
        return cmd_error("%s", a.err);
    }
    client_free(a.cl);
    if (end == END_DETACHED) {
        printf("\r\n[detached from session %u]\n", a.sid);
    } else if (a.exit_signal > 0) {
        char name[32];
        printf("\r\n[session %u exited with signal %s]\n", a.sid,
               args_signal_name(a.exit_signal, name, sizeof name));
    } else {
        printf("\r\n[session %u exited with code %d]\n", a.sid, (int)a.exit_code);
    }
    return 0;
}
