/* serve_args: the option parser of `ptyhub serve` and `ptyhub stdio`.
 *
 * It fills a struct config from the command line and never exits, prints or opens a
 * file: a bad value comes back as an error naming its flag, --help as a return value,
 * and what needs I/O (--token-file) as a path for the caller. That keeps it testable
 * and fuzzable; main.c turns its results into messages and exit statuses.
 */
#ifndef PTYHUB_CLI_SERVE_ARGS_H
#define PTYHUB_CLI_SERVE_ARGS_H

#include <stddef.h>

#include "server/config.h"

/* What a token must look like, for error messages (see args_check_token()). */
#define SERVE_ARGS_TOKEN_RULE                                                                      \
    "use 8 to 256 characters without spaces, ';', ',', quotes or backslashes"

#define SERVE_INPUT_QUEUE_DEFAULT (1ul << 20)
#define SERVE_INPUT_QUEUE_MIN (64ul << 10)
#define SERVE_INPUT_QUEUE_MAX (64ul << 20)

/* What the parser found beyond struct config. Fields it allocates are freed by
 * serve_args_deinit(). */
struct serve_args {
    char *token;            /* --token: a private copy (the argv bytes are overwritten) */
    const char *token_file; /* --token-file PATH, to be read by the caller */
    size_t input_queue;     /* --input-queue, SERVE_INPUT_QUEUE_DEFAULT when not given */
    char err[512];          /* why parsing failed (no "ptyhub: " prefix) */
};

/* Parses argv (argv[0] is the command name) into cfg and a. Returns 0, 1 for --help,
 * or -EINVAL with the reason in a->err. The value of --token is copied to a->token and
 * overwritten with 'x' in argv, so that ps does not show it. cfg->allow_origins is
 * allocated (free it) and points into argv, as cfg->argv does. */
int serve_args_parse(int argc, char **argv, struct config *cfg, struct serve_args *a);

/* Frees what serve_args_parse() allocated in a. */
void serve_args_deinit(struct serve_args *a);

#endif
