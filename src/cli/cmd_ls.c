/* cmd_ls: `ptyhub ls` lists the sessions as a table, or as JSON with --json. */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cmd.h"
#include "cli/json.h"
#include "core/xalloc.h"

static const char ls_usage[] = "usage: ptyhub ls [--json] [--socket PATH]\n"
                               "Lists the sessions.\n";

enum { OPT_JSON = CMD_OPT_SOCKET + 1 };

static const struct option ls_options[] = {
    {"socket", required_argument, NULL, CMD_OPT_SOCKET},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* One row of the table, every cell already formatted. */
enum {
    COL_ID,
    COL_NAME,
    COL_PID,
    COL_STATE,
    COL_EXIT,
    COL_CLIENTS,
    COL_BYTES,
    COL_LEVEL,
    COL_CLASS,
    COL_TITLE,
    COL_COMMAND,
    NCOLS
};

static const char *const headers[NCOLS] = {"ID",    "NAME",  "PID",   "STATE", "EXIT",   "CLIENTS",
                                           "BYTES", "LEVEL", "CLASS", "TITLE", "COMMAND"};

/* Titles are cut to this many bytes in the table (the command follows). */
#define LS_TITLE_MAX 32

struct table {
    char **cells; /* rows × NCOLS */
    size_t rows, cap;
    size_t width[NCOLS];
};

/* Copies a wire string for a terminal: control bytes become '?'. */
static char *printable(struct wire_bytes s)
{
    char *out = xmalloc(s.len + 1);
    for (size_t i = 0; i < s.len; i++)
        out[i] = s.p[i] < 0x20 || s.p[i] == 0x7f ? '?' : (char)s.p[i];
    out[s.len] = '\0';
    return out;
}

/* Formats the EXIT column: the code, the signal's name, or "-". */
static char *exit_cell(const struct wire_list_entry *e)
{
    char buf[32];
    if (e->state != WIRE_STATE_EXITED)
        return xstrdup("-");
    if (e->exit_signal > 0)
        return xstrdup(args_signal_name(e->exit_signal, buf, sizeof buf));
    snprintf(buf, sizeof buf, "%" PRId32, e->exit_code);
    return xstrdup(buf);
}

/* Formats a number as a new string. */
static char *num_cell(uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return xstrdup(buf);
}

/* Adds a session as a table row. */
static int table_add(void *arg, const struct wire_list_entry *e)
{
    struct table *t = arg;
    if (t->rows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = xrealloc(t->cells, t->cap * NCOLS * sizeof *t->cells);
    }
    char **row = t->cells + t->rows * NCOLS;
    row[COL_ID] = num_cell(e->sid);
    row[COL_NAME] = e->name.len ? printable(e->name) : xstrdup("-");
    row[COL_PID] = num_cell((uint64_t)(e->pid > 0 ? e->pid : 0));
    row[COL_STATE] = xstrdup(args_state_name(e->state));
    row[COL_EXIT] = exit_cell(e);
    row[COL_CLIENTS] = num_cell(e->clients);
    row[COL_BYTES] = num_cell(e->bytes_out);
    row[COL_LEVEL] = xstrdup(args_level_name(e->level));
    row[COL_CLASS] = xstrdup(e->cls ? "bulk" : "interactive");
    struct wire_bytes title = e->title;
    if (title.len > LS_TITLE_MAX) {
        title.len = LS_TITLE_MAX;
        while (title.len && (title.p[title.len] & 0xc0) == 0x80)
            title.len--; /* not in the middle of a UTF-8 character */
    }
    row[COL_TITLE] = title.len ? printable(title) : xstrdup("-");
    row[COL_COMMAND] = printable(e->command);
    t->rows++;
    return 0;
}

/* Prints the table with aligned columns (numbers right-aligned). */
static void table_print(struct table *t)
{
    static const bool right[NCOLS] = {
        [COL_ID] = true, [COL_PID] = true, [COL_CLIENTS] = true, [COL_BYTES] = true};
    for (int c = 0; c < NCOLS; c++)
        t->width[c] = strlen(headers[c]);
    for (size_t r = 0; r < t->rows; r++)
        for (int c = 0; c < NCOLS; c++) {
            size_t w = strlen(t->cells[r * NCOLS + c]);
            if (w > t->width[c])
                t->width[c] = w;
        }
    for (size_t r = 0; r <= t->rows; r++) {
        const char *const *row = r == 0 ? headers : (const char *const *)t->cells + (r - 1) * NCOLS;
        for (int c = 0; c < NCOLS; c++) {
            if (c == NCOLS - 1)
                printf("%s\n", row[c]);
            else if (right[c])
                printf("%*s  ", (int)t->width[c], row[c]);
            else
                printf("%-*s  ", (int)t->width[c], row[c]);
        }
    }
}

/* Frees the table's cells. */
static void table_free(struct table *t)
{
    for (size_t i = 0; i < t->rows * NCOLS; i++)
        free(t->cells[i]);
    free(t->cells);
}

struct json_out {
    FILE *f;
    size_t count;
};

/* Writes s as a JSON string. */
static void json_put_string(FILE *f, struct wire_bytes s)
{
    size_t n = json_escape(s.p, s.len, NULL, 0);
    char *buf = xmalloc(n + 1);
    json_escape(s.p, s.len, buf, n + 1);
    fputs(buf, f);
    free(buf);
}

/* Writes one session as a JSON object, after a comma for all but the first. */
static int json_add(void *arg, const struct wire_list_entry *e)
{
    struct json_out *j = arg;
    FILE *f = j->f;
    fprintf(f, "%s\n  {\"id\": %" PRIu32 ", \"name\": ", j->count++ ? "," : "", e->sid);
    json_put_string(f, e->name);
    fprintf(f, ", \"pid\": %" PRId32 ", \"state\": \"%s\"", e->pid, args_state_name(e->state));
    bool exited = e->state == WIRE_STATE_EXITED;
    if (exited && e->exit_signal == 0)
        fprintf(f, ", \"exit_code\": %" PRId32 ", \"exit_signal\": null", e->exit_code);
    else if (exited)
        fprintf(f, ", \"exit_code\": null, \"exit_signal\": %" PRId32, e->exit_signal);
    else
        fputs(", \"exit_code\": null, \"exit_signal\": null", f);
    fprintf(f, ", \"clients\": %u, \"bytes_out\": %" PRIu64 ", \"level\": \"%s\"", e->clients,
            e->bytes_out, args_level_name(e->level));
    fprintf(f, ", \"cols\": %u, \"rows\": %u, \"created_ms\": %" PRIu64 ", \"command\": ", e->cols,
            e->rows, e->created_ms);
    json_put_string(f, e->command);
    fprintf(f, ", \"class\": \"%s\", \"title\": ", e->cls ? "bulk" : "interactive");
    json_put_string(f, e->title);
    fputs(", \"cwd\": ", f);
    json_put_string(f, e->cwd);
    fprintf(f, ", \"bells\": %" PRIu32 ", \"last_output_ms\": %" PRIu64, e->bells,
            e->last_output_ms);
    fputs("}", f);
    return 0;
}

/* Lists the sessions. */
int cmd_ls(int argc, char **argv)
{
    const char *socket_path = NULL;
    bool json = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", ls_options, NULL)) != -1) {
        switch (c) {
        case CMD_OPT_SOCKET:
            socket_path = optarg;
            break;
        case OPT_JSON:
            json = true;
            break;
        case 'h':
            fputs(ls_usage, stdout);
            return 0;
        default:
            return cmd_bad_option(argv, c);
        }
    }
    if (optind < argc)
        return cmd_usage("ls: unexpected argument '%s'", argv[optind]);
    client *cl = cmd_connect(socket_path);
    if (!cl)
        return 1;
    int rc;
    if (json) {
        /* Built in memory first: an error half-way prints no half of an array. */
        char *text = NULL;
        size_t len = 0;
        struct json_out j = {open_memstream(&text, &len), 0};
        if (!j.f) {
            client_free(cl);
            return cmd_error("ls: out of memory");
        }
        fputs("[", j.f);
        rc = client_list(cl, json_add, &j);
        fputs(j.count ? "\n]\n" : "]\n", j.f);
        fclose(j.f);
        if (rc == 0)
            fwrite(text, 1, len, stdout);
        free(text);
    } else {
        struct table t = {0};
        rc = client_list(cl, table_add, &t);
        if (rc == 0)
            table_print(&t);
        table_free(&t);
    }
    if (rc < 0)
        return cmd_fail(cl);
    client_free(cl);
    return fflush(stdout) == 0 ? 0 : cmd_error("ls: cannot write the list: %m");
}
