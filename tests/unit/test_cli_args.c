/* test_cli_args: the CLI's pure helpers — session ids, signals, sizes and detach keys
 * as users type them, JSON escaping of names and commands that may hold any byte, token
 * checks, socket directories, the WRITE window of `ptyhub send`, and the daemon's option
 * parser. */
#include "harness.h"

#include <errno.h>
#include <signal.h>

#include "cli/args.h"
#include "cli/json.h"
#include "cli/send_window.h"
#include "cli/serve_args.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

TEST(cli_parse_id)
{
    static const struct {
        const char *in;
        int rc;
        uint32_t id;
    } cases[] = {
        {"1", 0, 1},
        {"42", 0, 42},
        {"4294967295", 0, UINT32_MAX},
        {"007", 0, 7},
        {"0", -ERANGE, 0},
        {"4294967296", -ERANGE, 0},
        {"", -EINVAL, 0},
        {"web", -EINVAL, 0},
        {"12a", -EINVAL, 0},
        {"-1", -EINVAL, 0},
        {"+1", -EINVAL, 0},
        {" 1", -EINVAL, 0},
        {"99999999999999999999", -ERANGE, 0},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        uint32_t id = 0;
        int rc = args_parse_id(cases[i].in, &id);
        CHECK_MSG(rc == cases[i].rc, "args_parse_id(\"%s\") = %d, want %d", cases[i].in, rc,
                  cases[i].rc);
        if (rc == 0)
            CHECK_EQ(id, cases[i].id);
    }
    CHECK(args_is_digits("123"));
    CHECK(!args_is_digits(""));
    CHECK(!args_is_digits("1x"));
}

TEST(cli_parse_signal)
{
    static const struct {
        const char *in;
        int sig;
    } cases[] = {
        {"TERM", SIGTERM},
        {"SIGTERM", SIGTERM},
        {"term", SIGTERM},
        {"sigkill", SIGKILL},
        {"HUP", SIGHUP},
        {"INT", SIGINT},
        {"USR1", SIGUSR1},
        {"15", 15},
        {"9", 9},
        {"64", 64},
        {"0", -EINVAL},
        {"65", -EINVAL},
        {"100", -EINVAL},
        {"", -EINVAL},
        {"SIG", -EINVAL},
        {"NOPE", -EINVAL},
        {"SIGTERMX", -EINVAL},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        int sig = args_parse_signal(cases[i].in);
        CHECK_MSG(sig == cases[i].sig, "args_parse_signal(\"%s\") = %d, want %d", cases[i].in, sig,
                  cases[i].sig);
    }
    char buf[32];
    CHECK_STR_EQ(args_signal_name(SIGTERM, buf, sizeof buf), "SIGTERM");
    CHECK_STR_EQ(args_signal_name(SIGKILL, buf, sizeof buf), "SIGKILL");
    CHECK_STR_EQ(args_signal_name(0, buf, sizeof buf), "sig 0");
}

TEST(cli_parse_size)
{
    static const struct {
        const char *in;
        int rc;
        uint16_t cols, rows;
    } cases[] = {
        {"80x24", 0, 80, 24},
        {"120X40", 0, 120, 40},
        {"1x1", 0, 1, 1},
        {"10000x10000", 0, 10000, 10000},
        {"10001x24", -EINVAL, 0, 0},
        {"0x24", -EINVAL, 0, 0},
        {"80x0", -EINVAL, 0, 0},
        {"80", -EINVAL, 0, 0},
        {"80x", -EINVAL, 0, 0},
        {"x24", -EINVAL, 0, 0},
        {"80x24x", -EINVAL, 0, 0},
        {"-80x24", -EINVAL, 0, 0},
        {"80 x24", -EINVAL, 0, 0},
        {"99999999999x1", -EINVAL, 0, 0},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        uint16_t c = 0, r = 0;
        int rc = args_parse_size(cases[i].in, &c, &r);
        CHECK_MSG(rc == cases[i].rc, "args_parse_size(\"%s\") = %d, want %d", cases[i].in, rc,
                  cases[i].rc);
        if (rc == 0) {
            CHECK_EQ(c, cases[i].cols);
            CHECK_EQ(r, cases[i].rows);
        }
    }
}

TEST(cli_parse_detach_key)
{
    static const struct {
        const char *in;
        int key;
    } cases[] = {
        {"^\\", 0x1c}, {"^a", 0x01},    {"^A", 0x01},     {"^[", 0x1b},    {"^@", 0x00},
        {"^_", 0x1f},  {"^?", 0x7f},    {"q", 'q'},       {"^", '^'},      {"~", '~'},
        {"", -EINVAL}, {"ab", -EINVAL}, {"^ab", -EINVAL}, {"^1", -EINVAL},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        int key = args_parse_detach_key(cases[i].in);
        CHECK_MSG(key == cases[i].key, "args_parse_detach_key(\"%s\") = %d, want %d", cases[i].in,
                  key, cases[i].key);
    }
}

TEST(cli_names)
{
    CHECK_STR_EQ(args_state_name(0), "running");
    CHECK_STR_EQ(args_state_name(1), "exited");
    CHECK_STR_EQ(args_level_name(0), "none");
    CHECK_STR_EQ(args_level_name(3), "heavy");
    CHECK_STR_EQ(args_level_name(4), "blocked");
    CHECK_STR_EQ(args_level_name(5), "unknown");
}

TEST(cli_json_escape)
{
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {"", 0, "\"\""},
        {"web", 3, "\"web\""},
        {"a\"b\\c", 5, "\"a\\\"b\\\\c\""},
        {"\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\""},
        {"\x01\x1f\x7f", 3, "\"\\u0001\\u001f\\u007f\""},
        {"a\0b", 3, "\"a\\u0000b\""},
        {"caf\xc3\xa9", 5, "\"caf\xc3\xa9\""}, /* valid UTF-8 passes */
        {"\xe2\x82\xac\xf0\x9f\x98\x80", 7, "\"\xe2\x82\xac\xf0\x9f\x98\x80\""},
        {"\xff", 1, "\"\\ufffd\""},                       /* never valid */
        {"\xc3", 1, "\"\\ufffd\""},                       /* truncated at the end */
        {"\xc3x", 2, "\"\\ufffdx\""},                     /* truncated before ASCII */
        {"\xc0\xaf", 2, "\"\\ufffd\\ufffd\""},            /* overlong */
        {"\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""}, /* surrogate */
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        char out[64];
        size_t n = json_escape((const uint8_t *)cases[i].in, cases[i].len, out, sizeof out);
        CHECK_MSG(strcmp(out, cases[i].out) == 0, "case %zu: got %s, want %s", i, out,
                  cases[i].out);
        CHECK_EQ(n, strlen(cases[i].out));
        /* Sizing with no buffer agrees, and a buffer one byte short is never overrun. */
        CHECK_EQ(json_escape((const uint8_t *)cases[i].in, cases[i].len, NULL, 0), n);
        char small[64];
        memset(small, 'Z', sizeof small);
        json_escape((const uint8_t *)cases[i].in, cases[i].len, small, n);
        CHECK_EQ(small[n - 1], '\0');
        CHECK_EQ(small[n], 'Z');
    }
}

TEST(cli_check_token)
{
    static const struct {
        const char *in;
        int rc;
    } cases[] = {
        {"abcdefgh", 0},
        {"0123456789abcdef-_.~+/=", 0},
        {"abcdefg", -EINVAL}, /* 7 characters */
        {"", -EINVAL},
        {"abcd efgh", -EINVAL},
        {"abcd;efgh", -EINVAL},
        {"abcd,efgh", -EINVAL},
        {"abcd\"efgh", -EINVAL},
        {"abcd\\efgh", -EINVAL},
        {"abcd\tefgh", -EINVAL},
        {"abcd\nefgh", -EINVAL},
        {"abcd\x7f"
         "efgh",
         -EINVAL},
        {"abcd\xc3\xa9"
         "efgh",
         -EINVAL},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        int rc = args_check_token(cases[i].in);
        CHECK_MSG(rc == cases[i].rc, "args_check_token(\"%s\") = %d, want %d", cases[i].in, rc,
                  cases[i].rc);
    }
    char t[258];
    memset(t, 'a', 256);
    t[256] = '\0';
    CHECK_EQ(args_check_token(t), 0);
    t[256] = 'a';
    t[257] = '\0';
    CHECK_EQ(args_check_token(t), -EINVAL);
}

TEST(cli_token_from_file)
{
    static const struct {
        const char *in;
        size_t len;
        int rc;
        const char *out;
    } cases[] = {
        {"secret-token\n", 13, 0, "secret-token"},
        {"secret-token", 12, 0, "secret-token"},
        {"secret-token\r\n", 14, 0, "secret-token"},
        {"secret-token\nsecond line\n", 25, 0, "secret-token"},
        {"", 0, -EINVAL, NULL},
        {"\n", 1, -EINVAL, NULL},
        {"short\n", 6, -EINVAL, NULL},
        {"secret token\n", 13, -EINVAL, NULL},
        {"secret\0token\n", 13, -EINVAL, NULL},
        {"secret-token-that-is-long\n", 26, -E2BIG, NULL}, /* out holds 16 */
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        char out[16];
        int rc = args_token_from_file(cases[i].in, cases[i].len, out, sizeof out);
        CHECK_MSG(rc == cases[i].rc, "case %zu: rc %d, want %d", i, rc, cases[i].rc);
        if (rc == 0)
            CHECK_STR_EQ(out, cases[i].out);
    }
}

TEST(cli_socket_dir)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"/run/user/1000/ptyhub/sock", "/run/user/1000/ptyhub"},
        {"/tmp/ptyhub-1000/sock", "/tmp/ptyhub-1000"},
        {"/sock", "/"},
        {"sock", "."},
        {"dir/sock", "dir"},
        {"dir/", "dir"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        char out[64];
        CHECK_EQ(args_socket_dir(cases[i].in, out, sizeof out), 0);
        CHECK_STR_EQ(out, cases[i].out);
    }
    char small[4];
    CHECK_EQ(args_socket_dir("/long/sock", small, sizeof small), -ENAMETOOLONG);
    CHECK_EQ(args_socket_dir("abc/sock", small, sizeof small), 0);
}

TEST(cli_send_window_chunks)
{
    struct send_window w;
    send_window_init(&w);
    uint64_t off;
    /* 300 KiB: four 64 KiB chunks fill the 256 KiB window. */
    uint64_t total = 300 * 1024;
    for (uint32_t req = 1; req <= 4; req++) {
        CHECK_EQ(send_window_cut(&w, total, req, &off), SEND_WINDOW_CHUNK);
        CHECK_U64_EQ(off, (req - 1) * (uint64_t)SEND_WINDOW_CHUNK);
    }
    CHECK_EQ(send_window_cut(&w, total, 5, &off), 0);
    CHECK_EQ(send_window_waiting(&w), 4);
    CHECK_U64_EQ(send_window_acked(&w), 0);
    /* An OK out of order acknowledges nothing below the oldest chunk... */
    CHECK_EQ(send_window_ok(&w, 2), 0);
    CHECK_U64_EQ(send_window_acked(&w), 0);
    CHECK_EQ(send_window_ok(&w, 2), -ENOENT); /* answered already */
    CHECK_EQ(send_window_ok(&w, 99), -ENOENT);
    /* ...but makes room for the rest: 300 KiB - 256 KiB. */
    CHECK_EQ(send_window_cut(&w, total, 5, &off), 44 * 1024);
    CHECK_U64_EQ(off, 256 * 1024);
    CHECK_EQ(send_window_cut(&w, total, 6, &off), 0); /* nothing left */
    CHECK_EQ(send_window_ok(&w, 1), 0);
    CHECK_U64_EQ(send_window_acked(&w), 2 * SEND_WINDOW_CHUNK);
    CHECK_EQ(send_window_ok(&w, 3), 0);
    CHECK_EQ(send_window_ok(&w, 4), 0);
    CHECK_EQ(send_window_ok(&w, 5), 0);
    CHECK_U64_EQ(send_window_acked(&w), total);
    CHECK_EQ(send_window_waiting(&w), 0);
    CHECK_U64_EQ(send_window_cut_end(&w), total);
}

TEST(cli_send_window_limit)
{
    struct send_window w;
    send_window_init(&w);
    uint64_t off;
    CHECK_EQ(send_window_cut(&w, 100000, 1, &off), SEND_WINDOW_CHUNK);
    CHECK_EQ(send_window_cut(&w, 100000, 2, &off), 100000 - SEND_WINDOW_CHUNK);
    CHECK(!send_window_has_retry(&w));
    CHECK_EQ(send_window_limit(&w, 1), 0);
    CHECK(send_window_has_retry(&w));
    CHECK(!send_window_owns(&w, 1)); /* no answer is awaited for a refused chunk */
    CHECK_EQ(send_window_waiting(&w), 1);
    CHECK_EQ(send_window_ok(&w, 2), 0);
    CHECK_U64_EQ(send_window_acked(&w), 0); /* chunk 1 still owes its bytes */
    /* A refused chunk keeps its bytes in flight: the window does not grow past it. */
    CHECK_EQ(send_window_resend(&w, 3, &off), SEND_WINDOW_CHUNK);
    CHECK_U64_EQ(off, 0);
    CHECK(!send_window_has_retry(&w));
    CHECK_EQ(send_window_resend(&w, 4, &off), 0);
    CHECK(send_window_owns(&w, 3));
    CHECK_EQ(send_window_ok(&w, 1), -ENOENT); /* the old id is gone */
    CHECK_EQ(send_window_ok(&w, 3), 0);
    CHECK_U64_EQ(send_window_acked(&w), 100000);
}

TEST(cli_send_window_small_reads)
{
    /* One-byte reads: the number of chunks outstanding is bounded too. */
    struct send_window w;
    send_window_init(&w);
    uint64_t off;
    uint32_t req = 1;
    for (uint64_t avail = 1; avail <= SEND_WINDOW_SLOTS; avail++)
        CHECK_EQ(send_window_cut(&w, avail, req++, &off), 1);
    CHECK_EQ(send_window_cut(&w, SEND_WINDOW_SLOTS + 1, req, &off), 0);
    CHECK_EQ(send_window_ok(&w, 1), 0);
    CHECK_EQ(send_window_cut(&w, SEND_WINDOW_SLOTS + 1, req, &off), 1);
    CHECK_U64_EQ(off, SEND_WINDOW_SLOTS);
    CHECK_U64_EQ(send_window_acked(&w), 1);
}

TEST(cli_encode_write)
{
    uint8_t buf[32];
    size_t n = send_window_encode_write(buf, sizeof buf, 0x01020304, 7, 0, "hi", 2);
    static const uint8_t want[] = {12, 0, 0, 0, 0x0B, 4, 3, 2, 1, 7, 0, 0, 0, 0, 'h', 'i'};
    CHECK_EQ(n, sizeof want);
    CHECK_MEM_EQ(buf, want, sizeof want);
    CHECK_EQ(send_window_encode_write(NULL, 0, 1, 1, 0, "hi", 2), sizeof want); /* sizing */
    CHECK_EQ(send_window_encode_write(NULL, 0, 1, 1, 0, NULL, SEND_WINDOW_CHUNK + 1), 0);
#ifdef WIRE_WRITE
    /* Once the codec knows WRITE, it must read what the CLI writes. */
    struct wire_msg m;
    CHECK_EQ(wire_decode(buf + 4, n - 4, &m), 0);
    CHECK_EQ(m.type, WIRE_WRITE);
    CHECK_EQ(m.write.req, 0x01020304);
    CHECK_EQ(m.write.sid, 7);
    CHECK_EQ(m.write.data.len, 2);
#endif
}

/* Parses a copy of a daemon command line; argv strings stay writable. */
static int parse_serve(const char *const *args, struct config *cfg, struct serve_args *a,
                       char store[][64], char **argv)
{
    int argc = 0;
    for (; args[argc]; argc++) {
        snprintf(store[argc], 64, "%s", args[argc]);
        argv[argc] = store[argc];
    }
    argv[argc] = NULL;
    config_defaults(cfg);
    return serve_args_parse(argc, argv, cfg, a);
}

TEST(cli_serve_args)
{
    struct config cfg;
    struct serve_args a;
    char store[8][64];
    char *argv[9];

    /* --token is copied, then blanked in argv so that ps does not show it. */
    const char *const tok[] = {"serve", "--token", "s3cret-token", "--no-session", NULL};
    CHECK_EQ(parse_serve(tok, &cfg, &a, store, argv), 0);
    CHECK_STR_EQ(a.token, "s3cret-token");
    CHECK_STR_EQ(argv[2], "xxxxxxxxxxxx");
    CHECK(cfg.no_session);
    CHECK_EQ(a.input_queue, SERVE_INPUT_QUEUE_DEFAULT);
    serve_args_deinit(&a);
    const char *const tok_eq[] = {"serve", "--token=s3cret-token", NULL};
    CHECK_EQ(parse_serve(tok_eq, &cfg, &a, store, argv), 0);
    CHECK_STR_EQ(a.token, "s3cret-token");
    CHECK_STR_EQ(argv[1], "--token=xxxxxxxxxxxx");
    serve_args_deinit(&a);

    /* A bad token is refused, and blanked all the same. */
    const char *const bad[] = {"serve", "--token", "a b c d e f", NULL};
    CHECK_EQ(parse_serve(bad, &cfg, &a, store, argv), -EINVAL);
    CHECK(strstr(a.err, "--token") != NULL);
    CHECK_STR_EQ(argv[2], "xxxxxxxxxxx");
    serve_args_deinit(&a);

    const char *const both[] = {"serve", "--token", "s3cret-token", "--token-file", "/t", NULL};
    CHECK_EQ(parse_serve(both, &cfg, &a, store, argv), -EINVAL);
    serve_args_deinit(&a);
    const char *const file[] = {"serve", "--token-file", "/run/tok", NULL};
    CHECK_EQ(parse_serve(file, &cfg, &a, store, argv), 0);
    CHECK_STR_EQ(a.token_file, "/run/tok");
    CHECK(a.token == NULL);

    static const struct {
        const char *value;
        int rc;
        size_t want;
    } queues[] = {
        {"64K", 0, 64 << 10}, {"1M", 0, 1 << 20}, {"64M", 0, 64 << 20}, {"63K", -EINVAL, 0},
        {"65M", -EINVAL, 0},  {"x", -EINVAL, 0},  {"", -EINVAL, 0},
    };
    for (size_t i = 0; i < COUNT(queues); i++) {
        const char *const q[] = {"stdio", "--input-queue", queues[i].value, NULL};
        int rc = parse_serve(q, &cfg, &a, store, argv);
        CHECK_MSG(rc == queues[i].rc, "--input-queue %s: %d", queues[i].value, rc);
        if (rc == 0)
            CHECK_EQ(a.input_queue, queues[i].want);
        else
            CHECK(strstr(a.err, "--input-queue") != NULL);
    }

    const char *const help[] = {"serve", "--help", NULL};
    CHECK_EQ(parse_serve(help, &cfg, &a, store, argv), 1);
    const char *const unknown[] = {"serve", "--bogus", NULL};
    CHECK_EQ(parse_serve(unknown, &cfg, &a, store, argv), -EINVAL);
    CHECK(strstr(a.err, "--bogus") != NULL);
    const char *const cmd[] = {"serve", "--", "vim", "x", NULL};
    CHECK_EQ(parse_serve(cmd, &cfg, &a, store, argv), 0);
    CHECK_STR_EQ(cfg.argv[0], "vim");
    free(cfg.allow_origins);
}
