/* cmd_wait: `ptyhub wait` waits for a session to exit and exits with its status. */
#include <getopt.h>
#include <stdio.h>

#include "cli/cmd.h"

static const char wait_usage[] =
    "usage: ptyhub wait [--socket PATH] ID\n"
    "Waits until session ID exits; exits with its code, or 128+N when signal N killed it.\n";

static const struct option wait_options[] = {
    {"socket", required_argument, NULL, CMD_OPT_SOCKET},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Waits for a session's exit. */
int cmd_wait(int argc, char **argv)
{
    const char *socket_path = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", wait_options, NULL)) != -1) {
        switch (c) {
        case CMD_OPT_SOCKET:
            socket_path = optarg;
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

    uint32_t sid;
    client *cl = cmd_connect_session(socket_path, argv[optind], &sid);
    if (!cl)
        return 1;
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
