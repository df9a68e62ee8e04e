/* main: the ptyhub command line. `serve` and `stdio` run the daemon in this process;
 * every other command is a client of a running daemon over its Unix socket (cli/). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/log.h"
#include "server/config.h"
#include "server/server.h"

static const char usage_text[] =
    "usage: ptyhub COMMAND [OPTIONS]\n"
    "\n"
    "Daemon:\n"
    "  serve [OPTIONS] [-- CMD ARGS...]   run the daemon in the foreground (first session:\n"
    "                                     CMD, or your shell)\n"
    "  stdio [OPTIONS]                    speak the session protocol on stdin/stdout\n"
    "\n"
    "Clients (talk to the daemon over its Unix socket):\n"
    "  new [--name NAME] [--cwd DIR] [--env K=V]... [--size COLSxROWS] -- CMD [ARGS...]\n"
    "  ls [--json]                        list sessions\n"
    "  attach [--read-only] [--detach-key KEY] ID   attach this terminal (Ctrl-\\ detaches)\n"
    "  send ID TEXT... | send ID -        type TEXT (or stdin) into a session\n"
    "  output ID [--from OFFSET] [--follow]  print retained output\n"
    "  wait ID                            wait for exit; exit with its status\n"
    "  kill ID [--signal SIG]             end a session (SIGHUP, then SIGKILL)\n"
    "  rm ID                              remove an exited session from the list\n"
    "\n"
    "Daemon options:\n"
    "  --socket PATH        Unix socket (default $PTYHUB_SOCKET, else\n"
    "                       $XDG_RUNTIME_DIR/ptyhub/sock, else /tmp/ptyhub-$UID/sock)\n"
    "  --io auto|uring|epoll  I/O backend (default auto: io_uring if its probe passes)\n"
    "  --threads N          reactor threads (default: number of cores)\n"
    "  --scrollback BYTES   output retained per session, K/M/G suffixes (default 1M)\n"
    "  --kill-grace MS      SIGHUP to SIGKILL delay when ending a session (default 2000)\n"
    "  --max-sessions N     sessions at most (default 4096)\n"
    "  --max-clients N      client connections at most (default 16384)\n"
    "  --keep-exited N      exited sessions kept listed until removed (default 256)\n"
    "  --log-level LEVEL    debug|info|warn|error|off (default info)\n"
    "  --no-session         serve: do not start the user's shell as a first session\n"
    "  --listen HOST:PORT   HTTP and WebSocket (serve default 127.0.0.1:7681; 'none' for no\n"
    "                       HTTP; port 0 picks a free port). Not loopback: needs --token\n"
    "  --token TOKEN        require this bearer token (or cookie) for the API, WebSocket and\n"
    "                       /metrics; also $PTYHUB_TOKEN\n"
    "  --no-auth            allow a non-loopback --listen without a token\n"
    "  --allow-origin URL   also accept WebSocket upgrades from pages of this origin\n"
    "  --coalesce-ms MS     minimum interval between WebSocket output writes (default 0)\n"
    "  --max-session-clients N  clients attached to one session at most (default 64)\n"
    "  --header-timeout MS  time allowed for an HTTP request head (default 10000)\n"
    "  --ready-fd N         write 'READY <http-address> <socket-path>' to fd N when\n"
    "                       listening (also $PTYHUB_READY_PIPE, and sd_notify READY=1)\n"
    "\n"
    "Client options: --socket PATH (as above).\n"
    "  -h, --help     this text\n"
    "  -V, --version  print the version\n";

/* Prints a usage error naming what was wrong and exits 2. */
static void __attribute__((noreturn, format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ptyhub: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see ptyhub --help)\n", stderr);
    va_end(ap);
    exit(2);
}

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
    OPT_NO_AUTH,
    OPT_ALLOW_ORIGIN,
    OPT_COALESCE_MS,
    OPT_MAX_SESSION_CLIENTS,
    OPT_HEADER_TIMEOUT,
    OPT_READY_FD
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
    {"no-auth", no_argument, NULL, OPT_NO_AUTH},
    {"allow-origin", required_argument, NULL, OPT_ALLOW_ORIGIN},
    {"coalesce-ms", required_argument, NULL, OPT_COALESCE_MS},
    {"max-session-clients", required_argument, NULL, OPT_MAX_SESSION_CLIENTS},
    {"header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT},
    {"ready-fd", required_argument, NULL, OPT_READY_FD},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Parses the daemon's flags into cfg; any bad value exits 2 naming its flag. */
static void parse_serve_options(int argc, char **argv, struct config *cfg)
{
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+h", serve_options, NULL)) != -1) {
        unsigned u;
        switch (c) {
        case OPT_SOCKET:
            if (!*optarg || strlen(optarg) >= sizeof cfg->socket_path)
                usage_error("--socket: path must be 1..%zu bytes", sizeof cfg->socket_path - 1);
            strcpy(cfg->socket_path, optarg);
            break;
        case OPT_IO:
            if (reactor_backend_parse(optarg, &cfg->io) < 0)
                usage_error("--io: '%s' is not one of auto, uring, epoll", optarg);
            break;
        case OPT_THREADS:
            if (config_parse_uint(optarg, 1, 256, &u) < 0)
                usage_error("--threads: '%s' is not a number from 1 to 256", optarg);
            cfg->threads = u;
            break;
        case OPT_SCROLLBACK:
            if (config_parse_size(optarg, &cfg->scrollback) < 0 || cfg->scrollback < 4096 ||
                cfg->scrollback > (1ul << 30))
                usage_error("--scrollback: '%s' is not a size from 4K to 1G", optarg);
            break;
        case OPT_KILL_GRACE:
            if (config_parse_uint(optarg, 0, 600000, &cfg->kill_grace_ms) < 0)
                usage_error("--kill-grace: '%s' is not milliseconds from 0 to 600000", optarg);
            break;
        case OPT_MAX_SESSIONS:
            if (config_parse_uint(optarg, 1, 1000000, &cfg->max_sessions) < 0)
                usage_error("--max-sessions: '%s' is not a number from 1 to 1000000", optarg);
            break;
        case OPT_MAX_CLIENTS:
            if (config_parse_uint(optarg, 1, 1000000, &cfg->max_clients) < 0)
                usage_error("--max-clients: '%s' is not a number from 1 to 1000000", optarg);
            break;
        case OPT_KEEP_EXITED:
            if (config_parse_uint(optarg, 0, 1000000, &cfg->keep_exited) < 0)
                usage_error("--keep-exited: '%s' is not a number from 0 to 1000000", optarg);
            break;
        case OPT_LOG_LEVEL:
            if (log_level_parse(optarg, &cfg->log_level) < 0)
                usage_error("--log-level: '%s' is not one of debug, info, warn, error, off",
                            optarg);
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
                usage_error("--listen: '%s' is not HOST:PORT, [IPV6]:PORT or none", optarg);
            strcpy(cfg->listen, optarg);
            break;
        }
        case OPT_TOKEN:
            if (strlen(optarg) < 8 || strlen(optarg) > 256 || strpbrk(optarg, " ;,\"\\"))
                usage_error("--token: use 8 to 256 characters without spaces, ';', ',', quotes "
                            "or backslashes");
            cfg->token = optarg;
            break;
        case OPT_NO_AUTH:
            cfg->no_auth = true;
            break;
        case OPT_ALLOW_ORIGIN:
            if (strncmp(optarg, "http://", 7) != 0 && strncmp(optarg, "https://", 8) != 0)
                usage_error("--allow-origin: '%s' is not an origin like https://example.com",
                            optarg);
            cfg->allow_origins =
                realloc(cfg->allow_origins, (cfg->nallow_origins + 2) * sizeof(char *));
            cfg->allow_origins[cfg->nallow_origins++] = optarg;
            cfg->allow_origins[cfg->nallow_origins] = NULL;
            break;
        case OPT_COALESCE_MS:
            if (config_parse_uint(optarg, 0, 1000, &cfg->coalesce_ms) < 0)
                usage_error("--coalesce-ms: '%s' is not milliseconds from 0 to 1000", optarg);
            break;
        case OPT_MAX_SESSION_CLIENTS:
            if (config_parse_uint(optarg, 1, 65535, &cfg->max_session_clients) < 0)
                usage_error("--max-session-clients: '%s' is not a number from 1 to 65535", optarg);
            break;
        case OPT_HEADER_TIMEOUT:
            if (config_parse_uint(optarg, 100, 600000, &cfg->header_timeout_ms) < 0)
                usage_error("--header-timeout: '%s' is not milliseconds from 100 to 600000",
                            optarg);
            break;
        case OPT_READY_FD: {
            unsigned fd;
            if (config_parse_uint(optarg, 0, 1u << 20, &fd) < 0 || fcntl((int)fd, F_GETFD) < 0)
                usage_error("--ready-fd: '%s' is not an open file descriptor", optarg);
            cfg->ready_fd = (int)fd;
            break;
        }
        case 'h':
            fputs(usage_text, stdout);
            exit(0);
        case ':':
            usage_error("%s needs a value", argv[optind - 1]);
        default:
            if (optopt)
                usage_error("unknown option '-%c'", optopt);
            usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        if (strcmp(argv[optind - 1], "--") != 0)
            usage_error("unexpected argument '%s' (put the command after --)", argv[optind]);
        cfg->argv = argv + optind;
    }
}

/* Runs the daemon: `serve` (Unix socket) or `stdio` (stdin/stdout, plus the socket when
 * one is named). */
static int run_daemon(int argc, char **argv, bool stdio_mode)
{
    struct config cfg;
    config_defaults(&cfg);
    if (!stdio_mode)
        strcpy(cfg.listen, "127.0.0.1:7681");
    /* Programs in sessions must not see the token: keep a copy, drop it from environ. */
    char *env_token = NULL;
    if (getenv("PTYHUB_TOKEN") && *getenv("PTYHUB_TOKEN"))
        cfg.token = env_token = strdup(getenv("PTYHUB_TOKEN"));
    unsetenv("PTYHUB_TOKEN");
    parse_serve_options(argc, argv, &cfg);
    if (stdio_mode && !cfg.argv)
        cfg.no_session = true;
    if (cfg.listen[0]) {
        char host[256], port[16];
        config_split_hostport(cfg.listen, host, sizeof host, port, sizeof port);
        if (!config_host_is_loopback(host) && !(cfg.token && *cfg.token) && !cfg.no_auth)
            usage_error("--listen: %s is not a loopback address; anyone who can reach it gets "
                        "a shell, so give --token TOKEN (or PTYHUB_TOKEN), or --no-auth to "
                        "accept that",
                        cfg.listen);
    }
    log_set_level(cfg.log_level);
    if (stdio_mode && isatty(STDOUT_FILENO))
        log_warn("stdio mode on a terminal: this speaks a binary protocol");
    if (!cfg.socket_path[0] && (!stdio_mode || getenv("PTYHUB_SOCKET"))) {
        if (config_default_socket(cfg.socket_path, sizeof cfg.socket_path) < 0)
            usage_error("--socket: the default socket path is too long; name one with --socket");
    }
    server *s;
    int rc = server_new(&s, &cfg);
    if (rc < 0) {
        free(cfg.allow_origins);
        free(env_token);
        return 1;
    }
    if (stdio_mode && (rc = server_add_stdio(s, STDIN_FILENO, STDOUT_FILENO)) < 0) {
        log_error("stdio: %s", strerror(-rc));
        server_free(s);
        free(cfg.allow_origins);
        free(env_token);
        return 1;
    }
    rc = server_run(s);
    server_free(s);
    free(cfg.allow_origins);
    free(env_token);
    return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_text, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("ptyhub %s\n", PTYHUB_VERSION);
        return 0;
    }
    if (strcmp(cmd, "serve") == 0)
        return run_daemon(argc - 1, argv + 1, false);
    if (strcmp(cmd, "stdio") == 0)
        return run_daemon(argc - 1, argv + 1, true);
    return cli_main(argc - 1, argv + 1);
}
