/* cmd_kill: `ptyhub kill` ends a session (SIGHUP to its process group, SIGKILL after
 * the daemon's grace period), or sends it one signal with --signal. */
#include <getopt.h>
#include <stdio.h>

#include "cli/args.h"
#include "cli/cmd.h"

static const char kill_usage[] =
    "usage: ptyhub kill [--signal SIG] [--socket PATH] ID\n"
    "Ends session ID (SIGHUP, then SIGKILL after a grace period), or sends it SIG (a name\n"
    "such as TERM or a number).\n";

enum { OPT_SIGNAL = CMD_OPT_SOCKET + 1 };

static const struct option kill_options[] = {
    {"socket", required_argument, NULL, CMD_OPT_SOCKET},
    {"signal", required_argument, NULL, OPT_SIGNAL},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Sends SIGNAL and waits for OK. */
int cmd_kill(int argc, char **argv)
{
    const char *socket_path = NULL;
    int signo = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hs:", kill_options, NULL)) != -1) {
        switch (c) {
        case CMD_OPT_SOCKET:
            socket_path = optarg;
            break;
        case 's':
        case OPT_SIGNAL:
            if ((signo = args_parse_signal(optarg)) < 0)
                return cmd_usage("kill: --signal '%s' is not a signal name (TERM, HUP, KILL, "
                                 "INT...) or number 1..%d",
                                 optarg, WIRE_MAX_SIGNO);
            break;
        case 'h':
            fputs(kill_usage, stdout);
            return 0;
        default:
            return cmd_bad_option(argv, c);
        }
    }
    if (optind >= argc)
        return cmd_usage("kill: which session? (ptyhub kill ID)");
    if (optind + 1 < argc)
        return cmd_usage("kill: unexpected argument '%s'", argv[optind + 1]);

    uint32_t sid;
    client *cl = cmd_connect_session(socket_path, argv[optind], &sid);
    if (!cl)
        return 1;
    struct wire_msg m = {.type = WIRE_SIGNAL,
                         .signal = {.req = client_req(cl), .sid = sid, .signo = (uint8_t)signo}};
    if (client_call(cl, &m, WIRE_OK, &m) < 0)
        return cmd_fail(cl);
    client_free(cl);
    return 0;
}
