/* cmd_screen: `ptyhub screen` prints what a session's screen shows now: as text, as the
 * byte sequence that redraws it in a terminal (--ansi), or as JSON with the cursor, size
 * and title (--json). Needs the daemon's terminal state (--terminal-state on). */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/cmd.h"
#include "cli/json.h"
#include "core/xalloc.h"

static const char screen_usage[] =
    "usage: ptyhub screen [--socket PATH] [--ansi | --json] ID\n"
    "Prints the screen of session ID as text (rows joined by newlines, trailing blanks\n"
    "trimmed). --ansi: the bytes that redraw it in a terminal (colours, cursor, modes);\n"
    "--json: {offset, cols, rows, cursor {col, row, visible}, alt_screen, modes, title, text}.\n"
    "Needs a daemon with --terminal-state on.\n";

enum { OPT_ANSI = CMD_OPT_SOCKET + 1, OPT_JSON };

static const struct option screen_options[] = {
    {"socket", required_argument, NULL, CMD_OPT_SOCKET},
    {"ansi", no_argument, NULL, OPT_ANSI},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Prints s as a JSON string literal. */
static void put_json_string(FILE *f, struct wire_bytes s)
{
    size_t n = json_escape(s.p, s.len, NULL, 0);
    char *buf = xmalloc(n + 1);
    json_escape(s.p, s.len, buf, n + 1);
    fputs(buf, f);
    free(buf);
}

/* Prints a SCREEN_REPLY as one JSON object. */
static void print_json(const struct wire_screen_reply *r)
{
    printf("{\"offset\": %" PRIu64 ", \"cols\": %u, \"rows\": %u, \"cursor\": {\"col\": %u, "
           "\"row\": %u, \"visible\": %s}, \"alt_screen\": %s, \"modes\": %" PRIu32 ", \"title\": ",
           r->offset, r->cols, r->rows, r->cursor_col, r->cursor_row,
           r->flags & WIRE_SCREEN_F_CURSOR_VISIBLE ? "true" : "false",
           r->flags & WIRE_SCREEN_F_ALTSCREEN ? "true" : "false", r->modes);
    put_json_string(stdout, r->title);
    fputs(", \"text\": ", stdout);
    put_json_string(stdout, r->data);
    fputs("}\n", stdout);
}

/* Prints a session's screen. */
int cmd_screen(int argc, char **argv)
{
    const char *socket_path = NULL;
    bool ansi = false, json = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", screen_options, NULL)) != -1) {
        switch (c) {
        case CMD_OPT_SOCKET:
            socket_path = optarg;
            break;
        case OPT_ANSI:
            ansi = true;
            break;
        case OPT_JSON:
            json = true;
            break;
        case 'h':
            fputs(screen_usage, stdout);
            return 0;
        default:
            return cmd_bad_option(argv, c);
        }
    }
    if (ansi && json)
        return cmd_usage("screen: --ansi and --json exclude each other");
    if (optind >= argc)
        return cmd_usage("screen: which session? (ptyhub screen ID)");
    if (optind + 1 < argc)
        return cmd_usage("screen: unexpected argument '%s'", argv[optind + 1]);
    uint32_t sid;
    client *cl = cmd_connect_session(socket_path, argv[optind], &sid);
    if (!cl)
        return 1;
    if (!client_has_terminal(cl)) {
        client_free(cl);
        return cmd_error("screen: the daemon keeps no terminal state (start it with "
                         "--terminal-state on)");
    }
    struct wire_msg m = {
        .type = WIRE_SCREEN,
        .screen = {.req = client_req(cl), .sid = sid, .flags = ansi ? WIRE_SCREEN_F_ANSI : 0}};
    if (client_call(cl, &m, WIRE_SCREEN_REPLY, &m) < 0)
        return cmd_fail(cl);
    int rc = 0;
    if (json) {
        print_json(&m.screen_reply);
    } else {
        fflush(stdout);
        rc = cmd_write_all(STDOUT_FILENO, m.screen_reply.data.p, m.screen_reply.data.len);
        if (rc == 0 && !ansi)
            rc = cmd_write_all(STDOUT_FILENO, "\n", 1);
    }
    client_free(cl);
    if (rc < 0 || fflush(stdout) != 0)
        return cmd_error("screen: cannot write the screen: %m");
    return 0;
}
