/* cmd_output: `ptyhub output` prints a session's output from an offset: what is
 * retained, or with --follow everything until the session exits. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cmd.h"

static const char output_usage[] =
    "usage: ptyhub output [--from OFFSET] [--follow] [--socket PATH] ID\n"
    "Prints session ID's output from byte OFFSET (default 0) up to where it is now, or with\n"
    "--follow until the session exits.\n";

enum { OPT_FROM = CMD_OPT_SOCKET + 1, OPT_FOLLOW };

static const struct option output_options[] = {
    {"socket", required_argument, NULL, CMD_OPT_SOCKET},
    {"from", required_argument, NULL, OPT_FROM},
    {"follow", no_argument, NULL, OPT_FOLLOW},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Parses a byte offset: decimal digits within 64 bits. */
static int parse_offset(const char *s, uint64_t *out)
{
    if (!args_is_digits(s))
        return -EINVAL;
    uint64_t v = 0;
    for (; *s; s++) {
        if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return -ERANGE;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* Prints output from an offset. */
int cmd_output(int argc, char **argv)
{
    const char *socket_path = NULL;
    uint64_t from = 0;
    bool follow = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hf", output_options, NULL)) != -1) {
        switch (c) {
        case CMD_OPT_SOCKET:
            socket_path = optarg;
            break;
        case OPT_FROM:
            if (parse_offset(optarg, &from) < 0)
                return cmd_usage("output: --from '%s' is not a byte offset", optarg);
            break;
        case 'f':
        case OPT_FOLLOW:
            follow = true;
            break;
        case 'h':
            fputs(output_usage, stdout);
            return 0;
        default:
            return cmd_bad_option(argv, c);
        }
    }
    if (optind >= argc)
        return cmd_usage("output: which session? (ptyhub output ID)");
    if (optind + 1 < argc)
        return cmd_usage("output: unexpected argument '%s'", argv[optind + 1]);

    uint32_t sid;
    client *cl = cmd_connect_session(socket_path, argv[optind], &sid);
    if (!cl)
        return 1;
    struct wire_msg m = {.type = WIRE_ATTACH,
                         .attach = {.req = client_req(cl),
                                    .sid = sid,
                                    .mode = WIRE_MODE_READ_ONLY,
                                    .from_kind = WIRE_FROM_OFFSET,
                                    .from = from}};
    if (client_call(cl, &m, WIRE_ATTACHED, &m) < 0)
        return cmd_fail(cl);
    /* Without --follow, stop at what had been produced when we asked. */
    uint64_t end = follow ? UINT64_MAX : m.attached.end;
    uint64_t pos = from;
    int rc = 0;
    while (pos < end && (rc = client_recv(cl, &m)) == 0) {
        if (m.type == WIRE_EXIT && m.exit.sid == sid)
            break;
        if (m.type == WIRE_GAP && m.gap.sid == sid) {
            cmd_error("bytes %" PRIu64 "..%" PRIu64 " are no longer retained", m.gap.from,
                      m.gap.to);
            if (m.gap.to > pos)
                pos = m.gap.to;
            continue;
        }
        if (m.type != WIRE_OUTPUT || m.output.sid != sid)
            continue;
        /* Write [pos, end) of this piece: nothing twice, nothing past the end. */
        uint64_t off = m.output.offset, stop = off + m.output.data.len;
        if (stop > end)
            stop = end;
        if (off < pos)
            off = pos;
        if (stop > off) {
            const uint8_t *p = m.output.data.p + (off - m.output.offset);
            if (cmd_write_all(STDOUT_FILENO, p, (size_t)(stop - off)) < 0) {
                client_free(cl);
                return cmd_error("output: cannot write to stdout: %m");
            }
        }
        if (stop > pos)
            pos = stop;
    }
    if (rc < 0)
        return cmd_fail(cl);
    client_free(cl);
    return 0;
}
