/* serve_args: the daemon's option parser, free of exits and I/O (see serve_args.h). */
#include "cli/serve_args.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "core/log.h"
#include "core/xalloc.h"

enum {
    OPT_SOCKET = 256,
    OPT_IO,
    OPT_THREADS,
    OPT_SCROLLBACK,
    OPT_KILL_GRACE,
    OPT_MAX_SESSIONS,
    OPT_MAX_CLIENTS,
    OPT_KEEP_EXITED,
    OPT_LOG_LEVEL,
    OPT_NO_SESSION,
    OPT_LISTEN,
    OPT_TOKEN,
    OPT_TOKEN_FILE,
    OPT_NO_AUTH,
    OPT_ALLOW_ORIGIN,
    OPT_COALESCE_MS,
    OPT_MAX_SESSION_CLIENTS,
    OPT_HEADER_TIMEOUT,
    OPT_READY_FD,
    OPT_INPUT_QUEUE,
    OPT_SCHED,
    OPT_LATENCY_SLICE,
    OPT_RENDER_HOLD,
    OPT_BULK_READ,
    OPT_BULK_FLUSH,
    OPT_DISPATCH,
    OPT_TERMINAL_STATE,
    OPT_PLACEMENT
};

static const struct option serve_options[] = {
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"io", required_argument, NULL, OPT_IO},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"scrollback", required_argument, NULL, OPT_SCROLLBACK},
    {"kill-grace", required_argument, NULL, OPT_KILL_GRACE},
    {"max-sessions", required_argument, NULL, OPT_MAX_SESSIONS},
    {"max-clients", required_argument, NULL, OPT_MAX_CLIENTS},
    {"keep-exited", required_argument, NULL, OPT_KEEP_EXITED},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"no-session", no_argument, NULL, OPT_NO_SESSION},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"token", required_argument, NULL, OPT_TOKEN},
    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
    {"no-auth", no_argument, NULL, OPT_NO_AUTH},
    {"allow-origin", required_argument, NULL, OPT_ALLOW_ORIGIN},
    {"coalesce-ms", required_argument, NULL, OPT_COALESCE_MS},
    {"max-session-clients", required_argument, NULL, OPT_MAX_SESSION_CLIENTS},
    {"header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT},
    {"ready-fd", required_argument, NULL, OPT_READY_FD},
    {"input-queue", required_argument, NULL, OPT_INPUT_QUEUE},
    {"sched", required_argument, NULL, OPT_SCHED},
    {"latency-slice", required_argument, NULL, OPT_LATENCY_SLICE},
    {"render-hold", required_argument, NULL, OPT_RENDER_HOLD},
    {"bulk-read", required_argument, NULL, OPT_BULK_READ},
    {"bulk-flush", required_argument, NULL, OPT_BULK_FLUSH},
    {"dispatch", required_argument, NULL, OPT_DISPATCH},
    {"terminal-state", required_argument, NULL, OPT_TERMINAL_STATE},
    {"placement", required_argument, NULL, OPT_PLACEMENT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Records why parsing failed and returns -EINVAL from the parser. */
#define BAD(...)                                                                                   \
    do {                                                                                           \
        snprintf(a->err, sizeof a->err, __VA_ARGS__);                                              \
        return -EINVAL;                                                                            \
    } while (0)

/* Parses the daemon's flags into cfg and a; a bad value names its flag. */
int serve_args_parse(int argc, char **argv, struct config *cfg, struct serve_args *a)
{
    a->token = NULL;
    a->token_file = NULL;
    a->input_queue = SERVE_INPUT_QUEUE_DEFAULT;
    a->err[0] = '\0';
    optind = 0; /* 0, not 1: glibc then forgets the previous argv entirely */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+h", serve_options, NULL)) != -1) {
        unsigned u;
        switch (c) {
        case OPT_SOCKET:
            if (!*optarg || strlen(optarg) >= sizeof cfg->socket_path)
                BAD("--socket: path must be 1..%zu bytes", sizeof cfg->socket_path - 1);
            strcpy(cfg->socket_path, optarg);
            break;
        case OPT_IO:
            if (reactor_backend_parse(optarg, &cfg->io) < 0)
                BAD("--io: '%s' is not one of auto, uring, epoll", optarg);
            break;
        case OPT_THREADS:
            if (config_parse_uint(optarg, 1, 256, &u) < 0)
                BAD("--threads: '%s' is not a number from 1 to 256", optarg);
            cfg->threads = u;
            break;
        case OPT_SCROLLBACK:
            if (config_parse_size(optarg, &cfg->scrollback) < 0 || cfg->scrollback < 4096 ||
                cfg->scrollback > (1ul << 30))
                BAD("--scrollback: '%s' is not a size from 4K to 1G", optarg);
            break;
        case OPT_KILL_GRACE:
            if (config_parse_uint(optarg, 0, 600000, &cfg->kill_grace_ms) < 0)
                BAD("--kill-grace: '%s' is not milliseconds from 0 to 600000", optarg);
            break;
        case OPT_MAX_SESSIONS:
            if (config_parse_uint(optarg, 1, 1000000, &cfg->max_sessions) < 0)
                BAD("--max-sessions: '%s' is not a number from 1 to 1000000", optarg);
            break;
        case OPT_MAX_CLIENTS:
            if (config_parse_uint(optarg, 1, 1000000, &cfg->max_clients) < 0)
                BAD("--max-clients: '%s' is not a number from 1 to 1000000", optarg);
            break;
        case OPT_KEEP_EXITED:
            if (config_parse_uint(optarg, 0, 1000000, &cfg->keep_exited) < 0)
                BAD("--keep-exited: '%s' is not a number from 0 to 1000000", optarg);
            break;
        case OPT_LOG_LEVEL:
            if (log_level_parse(optarg, &cfg->log_level) < 0)
                BAD("--log-level: '%s' is not one of debug, info, warn, error, off", optarg);
            break;
        case OPT_NO_SESSION:
            cfg->no_session = true;
            break;
        case OPT_LISTEN: {
            char host[256], port[16];
            if (strcmp(optarg, "none") == 0) {
                cfg->listen[0] = '\0';
                break;
            }
            if (strlen(optarg) >= sizeof cfg->listen ||
                config_split_hostport(optarg, host, sizeof host, port, sizeof port) < 0)
                BAD("--listen: '%s' is not HOST:PORT, [IPV6]:PORT or none", optarg);
            strcpy(cfg->listen, optarg);
            break;
        }
        case OPT_TOKEN: {
            int bad = args_check_token(optarg);
            free(a->token);
            a->token = xstrdup(optarg);
            /* The server keeps a->token; argv is what ps shows (/proc/PID/cmdline). */
            memset(optarg, 'x', strlen(optarg));
            if (bad < 0)
                BAD("--token: " SERVE_ARGS_TOKEN_RULE);
            break;
        }
        case OPT_TOKEN_FILE:
            if (!*optarg)
                BAD("--token-file: name the file that holds the token");
            a->token_file = optarg;
            break;
        case OPT_NO_AUTH:
            cfg->no_auth = true;
            break;
        case OPT_ALLOW_ORIGIN:
            if (strncmp(optarg, "http://", 7) != 0 && strncmp(optarg, "https://", 8) != 0)
                BAD("--allow-origin: '%s' is not an origin like https://example.com", optarg);
            cfg->allow_origins =
                xrealloc(cfg->allow_origins, (cfg->nallow_origins + 2) * sizeof(char *));
            cfg->allow_origins[cfg->nallow_origins++] = optarg;
            cfg->allow_origins[cfg->nallow_origins] = NULL;
            break;
        case OPT_TERMINAL_STATE:
            if (strcmp(optarg, "on") == 0)
                cfg->terminal_state = true;
            else if (strcmp(optarg, "off") == 0)
                cfg->terminal_state = false;
            else
                BAD("--terminal-state: '%s' is not on or off", optarg);
            break;
        case OPT_PLACEMENT:
            if (strcmp(optarg, "balance") == 0)
                cfg->placement = PLACEMENT_BALANCE;
            else if (strcmp(optarg, "creator") == 0)
                cfg->placement = PLACEMENT_CREATOR;
            else
                BAD("--placement: '%s' is not balance or creator", optarg);
            break;
        case OPT_SCHED:
            if (strcmp(optarg, "interactive") == 0)
                cfg->sched = 1;
            else if (strcmp(optarg, "fifo") == 0)
                cfg->sched = 0;
            else
                BAD("--sched: '%s' is not interactive or fifo", optarg);
            break;
        case OPT_LATENCY_SLICE:
            if (config_parse_uint(optarg, 0, 100000, &cfg->latency_slice_us) < 0 ||
                (cfg->latency_slice_us && cfg->latency_slice_us < 100))
                BAD("--latency-slice: '%s' is not 0 (off) or microseconds from 100 to 100000",
                    optarg);
            break;
        case OPT_RENDER_HOLD:
            if (config_parse_size(optarg, &cfg->render_hold) < 0 ||
                (cfg->render_hold && cfg->render_hold < 16384) || cfg->render_hold > (1u << 20))
                BAD("--render-hold: '%s' is not 0 (off) or a size from 16K to 1M", optarg);
            break;
        case OPT_BULK_READ:
            if (strcmp(optarg, "one") == 0)
                cfg->bulk_read_one = true;
            else if (strcmp(optarg, "sized") == 0)
                cfg->bulk_read_one = false;
            else
                BAD("--bulk-read: '%s' is not one or sized", optarg);
            break;
        case OPT_BULK_FLUSH:
            if (config_parse_uint(optarg, 0, 100000, &cfg->bulk_flush_us) < 0)
                BAD("--bulk-flush: '%s' is not microseconds from 0 (off) to 100000", optarg);
            break;
        case OPT_DISPATCH:
            if (strcmp(optarg, "interactive") == 0)
                cfg->bulk_last = true;
            else if (strcmp(optarg, "arrival") == 0)
                cfg->bulk_last = false;
            else
                BAD("--dispatch: '%s' is not interactive or arrival", optarg);
            break;
        case OPT_COALESCE_MS:
            if (config_parse_uint(optarg, 0, 1000, &cfg->coalesce_ms) < 0)
                BAD("--coalesce-ms: '%s' is not milliseconds from 0 to 1000", optarg);
            break;
        case OPT_MAX_SESSION_CLIENTS:
            if (config_parse_uint(optarg, 1, 65535, &cfg->max_session_clients) < 0)
                BAD("--max-session-clients: '%s' is not a number from 1 to 65535", optarg);
            break;
        case OPT_HEADER_TIMEOUT:
            if (config_parse_uint(optarg, 100, 600000, &cfg->header_timeout_ms) < 0)
                BAD("--header-timeout: '%s' is not milliseconds from 100 to 600000", optarg);
            break;
        case OPT_READY_FD: {
            unsigned fd;
            if (config_parse_uint(optarg, 0, 1u << 20, &fd) < 0 || fcntl((int)fd, F_GETFD) < 0)
                BAD("--ready-fd: '%s' is not an open file descriptor", optarg);
            cfg->ready_fd = (int)fd;
            break;
        }
        case OPT_INPUT_QUEUE: {
            size_t v;
            if (config_parse_size(optarg, &v) < 0 || v < SERVE_INPUT_QUEUE_MIN ||
                v > SERVE_INPUT_QUEUE_MAX)
                BAD("--input-queue: '%s' is not a size from 64K to 64M", optarg);
            a->input_queue = v;
            break;
        }
        case 'h':
            return 1;
        case ':':
            BAD("%s needs a value", argv[optind - 1]);
        default:
            if (optopt)
                BAD("unknown option '-%c'", optopt);
            BAD("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        if (strcmp(argv[optind - 1], "--") != 0)
            BAD("unexpected argument '%s' (put the command after --)", argv[optind]);
        cfg->argv = argv + optind;
    }
    if (a->token && a->token_file)
        BAD("--token and --token-file: give only one of them");
    return 0;
}

/* Frees the token copy. */
void serve_args_deinit(struct serve_args *a)
{
    free(a->token);
    a->token = NULL;
}
