/* cmd_rm: `ptyhub rm` removes an exited session from the list. */
#include <getopt.h>
#include <stdio.h>

#include "cli/cmd.h"

static const char rm_usage[] = "usage: ptyhub rm [--socket PATH] ID\n"
                               "Removes exited session ID from the list.\n";

static const struct option rm_options[] = {
    {"socket", required_argument, NULL, CMD_OPT_SOCKET},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Sends REMOVE and waits for OK. */
int cmd_rm(int argc, char **argv)
{
    const char *socket_path = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", rm_options, NULL)) != -1) {
        switch (c) {
        case CMD_OPT_SOCKET:
            socket_path = optarg;
            break;
        case 'h':
            fputs(rm_usage, stdout);
            return 0;
        default:
            return cmd_bad_option(argv, c);
        }
    }
    if (optind >= argc)
        return cmd_usage("rm: which session? (ptyhub rm ID)");
    if (optind + 1 < argc)
        return cmd_usage("rm: unexpected argument '%s'", argv[optind + 1]);

    uint32_t sid;
    client *cl = cmd_connect_session(socket_path, argv[optind], &sid);
    if (!cl)
        return 1;
    struct wire_msg m = {.type = WIRE_REMOVE, .remove = {.req = client_req(cl), .sid = sid}};
    if (client_call(cl, &m, WIRE_OK, &m) < 0)
        return cmd_fail(cl);
    client_free(cl);
    return 0;
}
