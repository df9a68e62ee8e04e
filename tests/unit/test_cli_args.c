/* test_cli_args: the client's pure helpers — session ids, signals, sizes and detach keys
 * as users type them, and JSON escaping of names and commands that may hold any byte. */
#include "harness.h"

#include <errno.h>
#include <signal.h>

#include "cli/args.h"
#include "cli/json.h"

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
