/* cmd_new: `ptyhub new` starts a session and prints its id. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cmd.h"
#include "core/xalloc.h"

static const char new_usage[] =
    "usage: ptyhub new [--name NAME] [--cwd DIR] [--env K=V]... [--size COLSxROWS] "
    "[--socket PATH] -- CMD [ARGS...]\n"
    "Starts CMD in a new session and prints the session's id.\n";

enum { OPT_NAME = CMD_OPT_SOCKET + 1, OPT_CWD, OPT_ENV, OPT_SIZE };

static const struct option new_options[] = {
    {"socket", required_argument, NULL, CMD_OPT_SOCKET},
    {"name", required_argument, NULL, OPT_NAME},
    {"cwd", required_argument, NULL, OPT_CWD},
    {"env", required_argument, NULL, OPT_ENV},
    {"size", required_argument, NULL, OPT_SIZE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Makes a relative directory absolute against the client's cwd (the daemon's differs). */
static char *absolute_dir(const char *dir)
{
    if (dir[0] == '/')
        return xstrdup(dir);
    char *here = getcwd(NULL, 0);
    if (!here)
        return NULL;
    size_t n = strlen(here) + strlen(dir) + 2;
    char *abs = xmalloc(n);
    snprintf(abs, n, "%s/%s", here, dir);
    free(here);
    return abs;
}

/* Packs n strings into a freshly allocated wire block. */
static struct wire_block pack_block(const char *const *strs, size_t n)
{
    size_t len = wire_block_pack(strs, n, NULL, 0);
    uint8_t *buf = xmalloc(len ? len : 1);
    wire_block_pack(strs, n, buf, len);
    return (struct wire_block){buf, len, (uint16_t)n};
}

/* Sends CREATE and prints the new id. */
int cmd_new(int argc, char **argv)
{
    const char *socket_path = NULL, *name = "", *cwd = NULL;
    const char **env = xcalloc((size_t)argc, sizeof *env);
    size_t nenv = 0;
    uint16_t cols = 0, rows = 0;
    int c, status = 2;
    char *abs_cwd = NULL;
    struct wire_block argv_block = {0}, env_block = {0};

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", new_options, NULL)) != -1) {
        switch (c) {
        case CMD_OPT_SOCKET:
            socket_path = optarg;
            break;
        case OPT_NAME:
            if (strlen(optarg) > WIRE_MAX_STR16) {
                cmd_usage("new: --name is longer than %u bytes", WIRE_MAX_STR16);
                goto out;
            }
            name = optarg;
            break;
        case OPT_CWD:
            if (!*optarg) {
                cmd_usage("new: --cwd needs a directory");
                goto out;
            }
            cwd = optarg;
            break;
        case OPT_ENV: {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                cmd_usage("new: --env '%s' is not KEY=VALUE", optarg);
                goto out;
            }
            env[nenv++] = optarg;
            break;
        }
        case OPT_SIZE:
            if (args_parse_size(optarg, &cols, &rows) < 0) {
                cmd_usage("new: --size '%s' is not COLSxROWS (e.g. 120x40; each 1..%d)", optarg,
                          WIRE_MAX_DIM);
                goto out;
            }
            break;
        case 'h':
            fputs(new_usage, stdout);
            status = 0;
            goto out;
        default:
            cmd_bad_option(argv, c);
            goto out;
        }
    }
    if (optind >= argc) {
        cmd_usage("new: no command given (e.g. ptyhub new -- bash)");
        goto out;
    }
    if (argc - optind > UINT16_MAX || nenv > UINT16_MAX) {
        cmd_usage("new: too many arguments");
        goto out;
    }
    status = 1;
    if (cwd && !(abs_cwd = absolute_dir(cwd))) {
        cmd_error("new: cannot resolve --cwd '%s': the current directory is unreadable; give "
                  "an absolute path",
                  cwd);
        goto out;
    }
    argv_block = pack_block((const char *const *)argv + optind, (size_t)(argc - optind));
    env_block = pack_block(env, nenv);

    client *cl = cmd_connect(socket_path);
    if (!cl)
        goto out;
    struct wire_msg m = {
        .type = WIRE_CREATE,
        .create = {.req = client_req(cl),
                   .cols = cols,
                   .rows = rows,
                   .name = {(const uint8_t *)name, strlen(name)},
                   .cwd = {(const uint8_t *)abs_cwd, abs_cwd ? strlen(abs_cwd) : 0},
                   .argv = argv_block,
                   .env = env_block}};
    struct wire_msg r;
    if (client_call(cl, &m, WIRE_CREATED, &r) < 0) {
        cmd_fail(cl);
        goto out;
    }
    client_free(cl);
    printf("%u\n", r.created.sid);
    status = fflush(stdout) == 0 ? 0 : 1;
out:
    free((void *)argv_block.p);
    free((void *)env_block.p);
    free(abs_cwd);
    free(env);
    return status;
}
