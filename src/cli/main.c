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

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/serve_args.h"
#include "core/log.h"
#include "core/xalloc.h"
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
    "  attach [--read-only] [--detach-key KEY] [--raw | --from OFFSET] [--redraw] ID\n"
    "                                     attach this terminal (Ctrl-\\ detaches); the screen\n"
    "                                     is restored from a snapshot with terminal state\n"
    "  send ID TEXT... | send ID -        type TEXT (or stdin) into a session\n"
    "  output ID [--from OFFSET] [--follow]  print retained output\n"
    "  wait ID                            wait for exit; exit with its status\n"
    "  wait ID [--text REGEX] [--idle MS] [--timeout MS] [--after OFFSET]\n"
    "                                     wait for text on the screen or quiet: 0, 124\n"
    "                                     timeout, 125 exited\n"
    "  screen ID [--ansi | --json]        print what the session's screen shows\n"
    "  kill ID [--signal SIG]             end a session (SIGHUP, then SIGKILL)\n"
    "  rm ID                              remove an exited session from the list\n"
    "  url                                print the daemon's browser URL, with its token\n"
    "\n"
    "Daemon options:\n"
    "  --socket PATH        Unix socket (default $PTYHUB_SOCKET, else\n"
    "                       $XDG_RUNTIME_DIR/ptyhub/sock, else /tmp/ptyhub-$UID/sock)\n"
    "  --io auto|uring|epoll  I/O backend (default auto: io_uring if its probe passes)\n"
    "  --threads N          reactor threads (default: number of cores minus one, at least 1)\n"
    "  --scrollback BYTES   output retained per session, K/M/G suffixes (default 1M)\n"
    "  --kill-grace MS      SIGHUP to SIGKILL delay when ending a session (default 2000)\n"
    "  --max-sessions N     sessions at most (default 4096)\n"
    "  --max-clients N      client connections per class at most: Unix socket clients,\n"
    "                       and HTTP/WebSocket clients, each (default 1024)\n"
    "  --keep-exited N      exited sessions kept listed until removed (default 256)\n"
    "  --log-level LEVEL    debug|info|warn|error|off (default info)\n"
    "  --no-session         serve: do not start the user's shell as a first session\n"
    "  --listen HOST:PORT   HTTP and WebSocket (serve default 127.0.0.1:7681; 'none' for no\n"
    "                       HTTP; port 0 picks a free port). Not loopback: needs a token\n"
    "                       given with --token-file, --token or $PTYHUB_TOKEN, or --no-auth\n"
    "  --token TOKEN        require this bearer token (or cookie) for the API, WebSocket and\n"
    "                       /metrics (also $PTYHUB_TOKEN; 8 to 256 characters). HTTP needs a\n"
    "                       token even on loopback: without one the daemon makes one up and\n"
    "                       writes it to <socket dir>/token, and the browser URL to\n"
    "                       <socket dir>/url (see: ptyhub url). A --token value is visible\n"
    "                       to ps until the daemon starts: prefer --token-file\n"
    "  --token-file PATH    read the token from the first line of PATH\n"
    "  --no-auth            serve HTTP without a token (anyone on this machine who can reach\n"
    "                       the port gets your shell)\n"
    "  --allow-origin URL   also accept WebSocket upgrades from pages of this origin\n"
    "  --coalesce-ms MS     minimum interval between WebSocket output writes (default 0)\n"
    "  --max-session-clients N  clients attached to one session at most (default 64)\n"
    "  --header-timeout MS  time allowed for an HTTP request head (default 10000)\n"
    "  --terminal-state on|off  keep each session's screen (default on): the daemon\n"
    "                       answers the program's terminal queries (cursor position, device\n"
    "                       attributes, colours) exactly once, and serves screens and waits\n"
    "  --sched MODE         interactive (default): a session flooding output gets a low CPU\n"
    "                       weight (its autogroup's nice 19) until it calms down or is typed\n"
    "                       into, so typing elsewhere stays quick; fifo: no such change\n"
    "  --latency-slice US   with --sched interactive: the scheduler slice (Linux 6.12+)\n"
    "                       asked for the reactor threads and interactive programs, so a\n"
    "                       keystroke preempts CPU-bound work at once (default 0: off; 100 is\n"
    "                       a value to try: see docs/benchmarks.md)\n"
    "  --bulk-read MODE     with --sched interactive: one (default): a bulk session reads\n"
    "                       once per readiness, so a reactor turn is short; sized: reads\n"
    "                       sized by FIONREAD up to 64K per turn\n"
    "  --bulk-flush US      with --sched interactive: how long a bulk session's new output\n"
    "                       may wait to reach its clients in fewer, larger writes (default\n"
    "                       4000; 0: every reactor turn; 64K new goes at once)\n"
    "  --dispatch MODE      interactive (default): each reactor turn serves everything else\n"
    "                       (input, echoes, their flushes) before bulk sessions' output;\n"
    "                       arrival: in the order the kernel reports it\n"
    "  --render-hold BYTES  how far a program may run ahead of what the page has drawn\n"
    "                       (default 256K; 0: the 2M flow-control window only)\n"
    "  --placement MODE     balance (default): a new session lives on the reactor thread\n"
    "                       with the fewest running sessions; creator: on the creating\n"
    "                       connection's\n"
    "  --input-queue BYTES  input held per session for its program to read, 64K to 64M\n"
    "                       (default 1M); writers past it are told to retry\n"
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

/* Reads the token from the first line of a file; a bad file is a usage error. */
static char *read_token_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        usage_error("--token-file: cannot open %s: %s", path, strerror(errno));
    char buf[1024];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof buf - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            close(fd);
            usage_error("--token-file: cannot read %s: %s", path, strerror(err));
        }
        if (n == 0 || memchr(buf + len, '\n', (size_t)n)) {
            len += (size_t)n;
            break;
        }
        len += (size_t)n;
        if (len == sizeof buf)
            break;
    }
    close(fd);
    char token[300];
    int rc = args_token_from_file(buf, len, token, sizeof token);
    explicit_bzero(buf, sizeof buf);
    if (rc < 0)
        usage_error("--token-file: the first line of %s is not a token: %s", path,
                    SERVE_ARGS_TOKEN_RULE);
    char *copy = xstrdup(token);
    explicit_bzero(token, sizeof token);
    return copy;
}

/* Runs the daemon: `serve` (Unix socket) or `stdio` (stdin/stdout, plus the socket when
 * one is named). */
static int run_daemon(int argc, char **argv, bool stdio_mode)
{
    /* Log lines are queued and written without blocking, on a private description of
     * fd 2: a parent that never reads our stderr must not freeze the daemon. */
    log_init_output();
    struct config cfg;
    config_defaults(&cfg);
    if (!stdio_mode)
        strcpy(cfg.listen, "127.0.0.1:7681");
    /* Programs in sessions must not see the token: keep a copy, drop it from environ, and
     * blank the original bytes (/proc/PID/environ shows the initial environment). */
    char *env_token = NULL;
    char *env = getenv("PTYHUB_TOKEN");
    if (env && *env) {
        env_token = xstrdup(env);
        memset(env, 'x', strlen(env));
    }
    unsetenv("PTYHUB_TOKEN");
    struct serve_args sa;
    int rc = serve_args_parse(argc, argv, &cfg, &sa);
    if (rc == 1) {
        fputs(usage_text, stdout);
        exit(0);
    }
    if (rc < 0)
        usage_error("%s", sa.err);
    /* cfg.token is always a private copy that lives until the server is freed. */
    char *token = sa.token;
    sa.token = NULL;
    if (sa.token_file)
        token = read_token_file(sa.token_file);
    if (token) {
        free(env_token);
    } else if (env_token) {
        if (args_check_token(env_token) < 0)
            usage_error("PTYHUB_TOKEN: " SERVE_ARGS_TOKEN_RULE);
        token = env_token;
    }
    env_token = NULL;
    cfg.token = token;
    cfg.input_queue = sa.input_queue;
    serve_args_deinit(&sa);
    if (stdio_mode && !cfg.argv)
        cfg.no_session = true;
    if (cfg.listen[0]) {
        char host[256], port[16];
        config_split_hostport(cfg.listen, host, sizeof host, port, sizeof port);
        if (!config_host_is_loopback(host) && !(cfg.token && *cfg.token) && !cfg.no_auth)
            usage_error("--listen: %s is not a loopback address; anyone who can reach it gets "
                        "a shell, so give --token-file PATH (or --token TOKEN, or "
                        "PTYHUB_TOKEN), or --no-auth to accept that",
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
    rc = server_new(&s, &cfg);
    if (rc < 0) {
        free(cfg.allow_origins);
        free(token);
        return 1;
    }
    if (stdio_mode && (rc = server_add_stdio(s, STDIN_FILENO, STDOUT_FILENO)) < 0) {
        log_error("stdio: %s", strerror(-rc));
        server_free(s);
        free(cfg.allow_origins);
        free(token);
        return 1;
    }
    rc = server_run(s);
    server_free(s);
    free(cfg.allow_origins);
    free(token);
    return rc < 0 ? 1 : 0;
}

/* Opens /dev/null onto any of fds 0, 1 and 2 that is closed, so that no socket or file
 * opened later becomes stderr and receives log lines (or stdout and protocol bytes). */
static int std_fds_open(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        int nfd = open("/dev/null", O_RDWR | O_NOCTTY);
        if (nfd < 0)
            return -errno;
        if (nfd != fd) { /* cannot happen: open() takes the lowest free number */
            dup2(nfd, fd);
            close(nfd);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (std_fds_open() < 0)
        return 1; /* without fds 0-2 there is nowhere safe to say so */
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
