/* cli: dispatches a client command to its implementation (cmd_*.c). */
#include "cli/cli.h"

#include <string.h>

#include "cli/cmd.h"

struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
};

static const struct cli_command commands[] = {
    {"new", cmd_new},   {"ls", cmd_ls},         {"list", cmd_ls},       {"attach", cmd_attach},
    {"send", cmd_send}, {"output", cmd_output}, {"wait", cmd_wait},     {"kill", cmd_kill},
    {"rm", cmd_rm},     {"url", cmd_url},       {"screen", cmd_screen},
};

/* Runs the command named by argv[0]. */
int cli_main(int argc, char **argv)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[0], commands[i].name) == 0)
            return commands[i].run(argc, argv);
    return cmd_usage("unknown command '%s'", argv[0]);
}
