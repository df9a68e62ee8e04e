/* cmd_send: `ptyhub send` types text, or stdin verbatim, into a session. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cmd.h"
#include "core/xalloc.h"

static const char send_usage[] = "usage: ptyhub send [--socket PATH] ID TEXT...\n"
                                 "       ptyhub send [--socket PATH] ID -\n"
                                 "Types TEXT (joined by spaces, no newline added), or stdin "
                                 "verbatim until EOF, into session ID.\n";

static const struct option send_options[] = {
    {"socket", required_argument, NULL, CMD_OPT_SOCKET},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

#define SEND_CHUNK (64 * 1024)

/* True for an ERROR that refuses our input (those carry req 0). */
static bool is_refusal(const struct wire_msg *m, uint32_t sid)
{
    return m->type == WIRE_ERROR && m->error.req == 0 && (m->error.sid == 0 || m->error.sid == sid);
}

/* Looks at what the daemon has answered so far without waiting. Returns 0, -EREMOTEIO
 * with the refusal in *refusal, or another -errno. */
static int check_refusals(client *c, uint32_t sid, struct wire_msg *refusal)
{
    int rc = client_read_some(c);
    while (rc == 0 && (rc = client_next(c, refusal)) > 0)
        rc = is_refusal(refusal, sid) ? -EREMOTEIO : 0;
    return rc;
}

/* Sends data as INPUT messages of at most SEND_CHUNK bytes. */
static int send_input(client *c, uint32_t sid, const char *p, size_t n)
{
    do {
        size_t k = n < SEND_CHUNK ? n : SEND_CHUNK;
        struct wire_msg m = {.type = WIRE_INPUT, .input = {sid, {(const uint8_t *)p, k}}};
        int rc = client_send(c, &m);
        if (rc < 0)
            return rc;
        p += k;
        n -= k;
    } while (n > 0);
    return 0;
}

/* Ends with a LIST round trip: the daemon handles one connection's messages in order, so
 * once its reply is here every INPUT before it was accepted or refused. */
static int confirm(client *c, uint32_t sid, struct wire_msg *refusal)
{
    uint32_t req = client_req(c);
    struct wire_msg m = {.type = WIRE_LIST, .list = {.req = req}};
    int rc = client_send(c, &m);
    while (rc == 0 && (rc = client_recv(c, &m)) == 0) {
        if (is_refusal(&m, sid) || (m.type == WIRE_ERROR && m.error.req == req)) {
            *refusal = m;
            return -EREMOTEIO;
        }
        if (m.type == WIRE_LIST_REPLY && m.list_reply.req == req &&
            !(m.list_reply.flags & WIRE_LIST_F_MORE))
            return 0;
    }
    return rc;
}

/* Prints the daemon's refusal of our input. */
static int refused(client *c, const struct wire_msg *m, const char *arg)
{
    if (m->error.message.len)
        cmd_error("%.*s", (int)m->error.message.len, (const char *)m->error.message.p);
    else
        cmd_error("session %s refused the input: %s", arg, wire_err_name(m->error.code));
    client_free(c);
    return 1;
}

/* Types text or stdin into a session. */
int cmd_send(int argc, char **argv)
{
    const char *socket_path = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", send_options, NULL)) != -1) {
        switch (c) {
        case CMD_OPT_SOCKET:
            socket_path = optarg;
            break;
        case 'h':
            fputs(send_usage, stdout);
            return 0;
        default:
            return cmd_bad_option(argv, c);
        }
    }
    if (optind >= argc)
        return cmd_usage("send: which session? (ptyhub send ID TEXT...)");
    const char *arg = argv[optind++];
    if (optind >= argc)
        return cmd_usage("send: nothing to send (give TEXT, or - to send stdin)");
    bool from_stdin = optind == argc - 1 && strcmp(argv[optind], "-") == 0;

    uint32_t sid;
    client *cl = cmd_connect_session(socket_path, arg, &sid);
    if (!cl)
        return 1;
    int rc = 0;
    struct wire_msg refusal;
    if (from_stdin) {
        char *buf = xmalloc(SEND_CHUNK);
        for (;;) {
            ssize_t n = read(STDIN_FILENO, buf, SEND_CHUNK);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                free(buf);
                client_free(cl);
                return cmd_error("send: cannot read stdin: %m");
            }
            if (n == 0)
                break;
            if ((rc = send_input(cl, sid, buf, (size_t)n)) < 0 ||
                (rc = check_refusals(cl, sid, &refusal)) < 0)
                break;
        }
        free(buf);
    } else {
        size_t len = 0;
        for (int i = optind; i < argc; i++)
            len += strlen(argv[i]) + 1;
        char *text = xmalloc(len);
        char *p = text;
        for (int i = optind; i < argc; i++) {
            size_t k = strlen(argv[i]);
            memcpy(p, argv[i], k);
            p += k;
            *p++ = ' ';
        }
        rc = send_input(cl, sid, text, len - 1);
        free(text);
    }
    if (rc == 0)
        rc = confirm(cl, sid, &refusal);
    if (rc == -EREMOTEIO)
        return refused(cl, &refusal, arg);
    if (rc < 0)
        return cmd_fail(cl);
    client_free(cl);
    return 0;
}
