/* cmd_wait: `ptyhub wait` waits for a session to exit and exits with its status; with
 * --text or --idle it waits for the screen instead (WAIT, protocol version 3). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cmd.h"

/* Exit statuses of a screen wait (like timeout(1), a timeout is 124). */
enum { WAIT_EXIT_TIMEOUT = 124, WAIT_EXIT_EXITED = 125 };

static const char wait_usage[] =
    "usage: ptyhub wait [--socket PATH] ID\n"
    "       ptyhub wait [--socket PATH] ID [--text REGEX] [--idle MS] [--timeout MS]\n"
    "                   [--after OFFSET]\n"
    "Waits until session ID exits; exits with its code, or 128+N when signal N killed it.\n"
    "With --text (a POSIX extended regex matched against the screen's text, one line per\n"
    "row) or --idle (no output for MS milliseconds), waits for the screen instead and\n"
    "prints 'REASON OFFSET' (the output offset of the screen that satisfied it; pass it\n"
    "as --after to the next wait so old text never matches). Only screens from output\n"
    "beyond --after count (default 0). Exit status: 0 matched or idle, 124 --timeout ran\n"
    "out, 125 the session exited first. Needs a daemon with --terminal-state on.\n";

enum { OPT_TEXT = CMD_OPT_SOCKET + 1, OPT_IDLE, OPT_TIMEOUT, OPT_AFTER };

static const struct option wait_options[] = {
    {"socket", required_argument, NULL, CMD_OPT_SOCKET},
    {"text", required_argument, NULL, OPT_TEXT},
    {"idle", required_argument, NULL, OPT_IDLE},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"after", required_argument, NULL, OPT_AFTER},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Parses a decimal number up to max; false when it is not one. */
static bool parse_num(const char *s, uint64_t max, uint64_t *out)
{
    if (!args_is_digits(s))
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno || v > max)
        return false;
    *out = v;
    return true;
}

/* Waits for the session's exit; its status becomes ours. */
static int wait_exit(client *cl, uint32_t sid)
{
    /* A live-edge viewer: no replay, and it never slows the session down. */
    struct wire_msg m = {.type = WIRE_ATTACH,
                         .attach = {.req = client_req(cl),
                                    .sid = sid,
                                    .mode = WIRE_MODE_READ_ONLY,
                                    .from_kind = WIRE_FROM_LIVE}};
    if (client_call(cl, &m, WIRE_ATTACHED, &m) < 0)
        return cmd_fail(cl);
    int rc;
    while ((rc = client_recv(cl, &m)) == 0) {
        if (m.type == WIRE_EXIT && m.exit.sid == sid)
            break;
    }
    if (rc < 0)
        return cmd_fail(cl);
    client_free(cl);
    if (m.exit.signal > 0)
        return 128 + m.exit.signal;
    return m.exit.code >= 0 && m.exit.code <= 255 ? m.exit.code : 1;
}

/* Waits for text or quiet on the screen. */
static int wait_screen(client *cl, const struct wire_wait *w)
{
    if (client_version(cl) < 3) {
        client_free(cl);
        return cmd_error("wait: the daemon is too old for --text/--idle (restart it with this "
                         "ptyhub)");
    }
    struct wire_msg m = {.type = WIRE_WAIT, .wait = *w};
    m.wait.req = client_req(cl);
    if (client_call(cl, &m, WIRE_WAITED, &m) < 0)
        return cmd_fail(cl);
    client_free(cl);
    static const char *const names[] = {"?", "text", "idle", "timeout", "exited"};
    uint8_t why = m.waited.reason <= 4 ? m.waited.reason : 0;
    printf("%s %" PRIu64 "\n", names[why], m.waited.offset);
    if (fflush(stdout) != 0)
        return cmd_error("wait: cannot write: %m");
    switch (why) {
    case WIRE_WAITED_TEXT:
    case WIRE_WAITED_IDLE:
        return 0;
    case WIRE_WAITED_TIMEOUT:
        return WAIT_EXIT_TIMEOUT;
    default:
        return WAIT_EXIT_EXITED;
    }
}

/* Waits for a session's exit, or for its screen. */
int cmd_wait(int argc, char **argv)
{
    const char *socket_path = NULL;
    struct wire_wait w = {0};
    bool timed = false, after = false;
    uint64_t v;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", wait_options, NULL)) != -1) {
        switch (c) {
        case CMD_OPT_SOCKET:
            socket_path = optarg;
            break;
        case OPT_TEXT:
            if (!*optarg || strlen(optarg) > WIRE_WAIT_REGEX_MAX)
                return cmd_usage("wait: --text needs a regex of 1 to %d bytes",
                                 WIRE_WAIT_REGEX_MAX);
            w.flags |= WIRE_WAIT_F_TEXT;
            w.regex = (struct wire_bytes){(const uint8_t *)optarg, strlen(optarg)};
            break;
        case OPT_IDLE:
            if (!parse_num(optarg, UINT32_MAX, &v) || v == 0)
                return cmd_usage("wait: --idle needs milliseconds (1 or more), not '%s'", optarg);
            w.flags |= WIRE_WAIT_F_IDLE;
            w.idle_ms = (uint32_t)v;
            break;
        case OPT_TIMEOUT:
            if (!parse_num(optarg, UINT32_MAX, &v) || v == 0)
                return cmd_usage("wait: --timeout needs milliseconds (1 or more), not '%s'",
                                 optarg);
            w.timeout_ms = (uint32_t)v;
            timed = true;
            break;
        case OPT_AFTER:
            if (!parse_num(optarg, UINT64_MAX, &v))
                return cmd_usage("wait: --after needs an output offset, not '%s'", optarg);
            w.after = v;
            after = true;
            break;
        case 'h':
            fputs(wait_usage, stdout);
            return 0;
        default:
            return cmd_bad_option(argv, c);
        }
    }
    if (optind >= argc)
        return cmd_usage("wait: which session? (ptyhub wait ID)");
    if (optind + 1 < argc)
        return cmd_usage("wait: unexpected argument '%s'", argv[optind + 1]);
    if (!w.flags && (timed || after))
        return cmd_usage("wait: --timeout and --after go with --text or --idle");

    uint32_t sid;
    client *cl = cmd_connect_session(socket_path, argv[optind], &sid);
    if (!cl)
        return 1;
    if (!w.flags)
        return wait_exit(cl, sid);
    w.sid = sid;
    return wait_screen(cl, &w);
}
