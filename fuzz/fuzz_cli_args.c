/* fuzz_cli_args: libFuzzer target for the command line parsers: the daemon's options
 * (serve_args_parse) and the pure value parsers of the client commands (args.h).
 *
 * Input: one byte choosing serve or stdio, then NUL-separated arguments (each copied
 * into an exact-size allocation, so ASan sees any read past its end). Checks that the
 * parser returns 0, 1 (--help) or -EINVAL with a message, that what it keeps points
 * into argv or into its own copies (the token: a copy, never argv), and that every
 * argument also goes through the value parsers without overruns.
 *
 * Build: make build/fuzz/fuzz_cli_args
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/serve_args.h"

#define MAX_ARGS 64

/* Runs every value parser over one argument. */
static void parse_values(const char *s, size_t len)
{
    uint32_t id;
    if (args_parse_id(s, &id) == 0 && id == 0)
        abort();
    int sig = args_parse_signal(s);
    if (sig != -EINVAL && (sig < 1 || sig > 64))
        abort();
    char name[32];
    args_signal_name(sig, name, sizeof name);
    uint16_t cols, rows;
    if (args_parse_size(s, &cols, &rows) == 0 && (cols == 0 || rows == 0))
        abort();
    int key = args_parse_detach_key(s);
    if (key != -EINVAL && (key < 0 || key > 255))
        abort();
    if (args_check_token(s) == 0 && (len < 8 || len > 256))
        abort();
    char token[64];
    if (args_token_from_file(s, len, token, sizeof token) == 0 && args_check_token(token) != 0)
        abort();
    char dir[32];
    if (args_socket_dir(s, dir, sizeof dir) == 0 && strlen(dir) >= sizeof dir)
        abort();
}

/* True when p lies inside one of the argument strings. */
static bool inside_args(const char *p, char **argv, int argc)
{
    for (int i = 0; i < argc; i++)
        if (p >= argv[i] && p <= argv[i] + strlen(argv[i]))
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = strdup(data[0] & 1 ? "stdio" : "serve");
    size_t pos = 1;
    while (pos < size && argc < MAX_ARGS + 1) {
        const uint8_t *nul = memchr(data + pos, '\0', size - pos);
        size_t len = nul ? (size_t)(nul - (data + pos)) : size - pos;
        char *arg = malloc(len + 1);
        memcpy(arg, data + pos, len);
        arg[len] = '\0';
        parse_values(arg, len);
        argv[argc++] = arg;
        pos += len + 1;
    }
    argv[argc] = NULL;

    struct config cfg;
    config_defaults(&cfg);
    struct serve_args a;
    int rc = serve_args_parse(argc, argv, &cfg, &a);
    if (rc != 0 && rc != 1 && rc != -EINVAL)
        abort();
    if (rc == -EINVAL && a.err[0] == '\0')
        abort();
    if (rc == 0) {
        if (a.input_queue < SERVE_INPUT_QUEUE_MIN || a.input_queue > SERVE_INPUT_QUEUE_MAX)
            abort();
        if (a.token && (args_check_token(a.token) != 0 || inside_args(a.token, argv, argc)))
            abort();
        if (a.token_file && !inside_args(a.token_file, argv, argc))
            abort();
        if (cfg.argv && (cfg.argv < argv + 1 || cfg.argv > argv + argc || !cfg.argv[0]))
            abort();
        for (size_t i = 0; i < cfg.nallow_origins; i++)
            if (!inside_args(cfg.allow_origins[i], argv, argc))
                abort();
        if (strlen(cfg.socket_path) >= sizeof cfg.socket_path)
            abort();
    }
    serve_args_deinit(&a);
    free(cfg.allow_origins);
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    return 0;
}
