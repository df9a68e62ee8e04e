/* test_api_json: the REST API body parsers — every validation rule with the message a
 * user sees, the entry bounds (a 1 MiB, 200,000-entry "env" is refused, not ground
 * through), order of argv and env, NULs hidden in strings, resize and login forms. */
#include "harness.h"

#include <errno.h>

#include "server/api_json.h"

/* Parses a create body from an exact-size heap copy, so ASan catches any overread. */
static int create_copy(const char *s, size_t n, struct api_create_req *r, char *err, size_t cap)
{
    char *p = malloc(n ? n : 1);
    memcpy(p, s, n);
    int rc = api_parse_create(p, n, r, err, cap);
    free(p);
    return rc;
}

/* Expects a create body to be refused with exactly msg, leaving the request zeroed. */
static void create_rejects(const char *body, size_t n, const char *msg)
{
    struct api_create_req r;
    char err[256] = "";
    int rc = create_copy(body, n, &r, err, sizeof err);
    CHECK_MSG(rc == -EINVAL, "accepted %s", body);
    CHECK_STR_EQ(err, msg);
    CHECK(r.doc == NULL && r.argv == NULL && r.env == NULL && r.argc == 0 && r.nenv == 0);
    api_create_req_free(&r);
}

#define REJECT(lit, msg) create_rejects(lit, sizeof(lit) - 1, msg)

/* Parses a create body that must be accepted; the caller frees r. */
static void create_accepts(const char *body, size_t n, struct api_create_req *r)
{
    char err[256] = "";
    int rc = api_parse_create(body, n, r, err, sizeof err);
    CHECK_MSG(rc == 0, "rejected %s: %s", body, err);
    CHECK(r->argv[r->argc] == NULL);
    CHECK(r->env && r->env[r->nenv] == NULL);
}

#define ACCEPT(lit, r) create_accepts(lit, sizeof(lit) - 1, r)

static const char ARGV_MSG[] = "\"argv\" must be a non-empty array of strings";
static const char DIM_MSG[] = "\"cols\" and \"rows\" must be integers from 1 to 10000";
static const char OBJ_MSG[] = "the body must be a JSON object";
static const char ENV_TYPE_MSG[] =
    "\"env\" must be an object of strings or an array of \"K=V\" strings";
static const char ENV_VAL_MSG[] = "every \"env\" value must be a string";
static const char ENV_KEY_MSG[] = "\"env\" keys must be non-empty and without '='";
static const char ENV_ENTRY_MSG[] = "\"env\" entries must look like \"KEY=value\"";
static const char RESIZE_MSG[] = "send {\"cols\":C,\"rows\":R} with integers from 1 to 10000";
static const char LOGIN_MSG[] = "send {\"token\":\"...\"}";

TEST(api_json_create_full)
{
    struct api_create_req r;
    ACCEPT("{\"argv\":[\"bash\",\"-l\",\"\"],\"cwd\":\"/tmp\",\"name\":\"work\","
           "\"env\":{\"TERM\":\"xterm\",\"A\":\"\",\"B\":\"x=y\"},\"cols\":120,\"rows\":40}",
           &r);
    CHECK_EQ(r.argc, 3);
    CHECK_STR_EQ(r.argv[0], "bash");
    CHECK_STR_EQ(r.argv[1], "-l");
    CHECK_STR_EQ(r.argv[2], "");
    CHECK_EQ(r.nenv, 3);
    CHECK_STR_EQ(r.env[0], "TERM=xterm");
    CHECK_STR_EQ(r.env[1], "A=");
    CHECK_STR_EQ(r.env[2], "B=x=y");
    CHECK_STR_EQ(r.cwd, "/tmp");
    CHECK_STR_EQ(r.name, "work");
    CHECK_EQ(r.cols, 120);
    CHECK_EQ(r.rows, 40);
    CHECK(r.doc != NULL);
    api_create_req_free(&r);
    CHECK(r.doc == NULL && r.argv == NULL && r.env == NULL);
    api_create_req_free(&r); /* a zeroed struct again */
    api_create_req_free(NULL);
}

TEST(api_json_create_minimal_and_nulls)
{
    struct api_create_req r;
    ACCEPT("{\"argv\":[\"sh\"]}", &r);
    CHECK_EQ(r.argc, 1);
    CHECK_EQ(r.nenv, 0);
    CHECK(r.cwd == NULL && r.name == NULL && r.cols == 0 && r.rows == 0);
    api_create_req_free(&r);

    ACCEPT("{\"argv\":[\"sh\"],\"cwd\":null,\"name\":null,\"env\":null,\"cols\":null,"
           "\"rows\":null,\"other\":[1,{\"x\":2}]}",
           &r);
    CHECK(r.cwd == NULL && r.name == NULL && r.cols == 0 && r.rows == 0 && r.nenv == 0);
    api_create_req_free(&r);

    ACCEPT("{\"argv\":[\"sh\"],\"env\":[],\"cols\":1,\"rows\":10000}", &r);
    CHECK_EQ(r.nenv, 0);
    CHECK_EQ(r.cols, 1);
    CHECK_EQ(r.rows, 10000);
    api_create_req_free(&r);

    /* The first of duplicate keys wins; bytes after the object are ignored (as before). */
    ACCEPT("{\"argv\":[\"a\"],\"argv\":[1]}  trailing", &r);
    CHECK_STR_EQ(r.argv[0], "a");
    api_create_req_free(&r);
}

TEST(api_json_create_env_array_order)
{
    struct api_create_req r;
    ACCEPT("{\"argv\":[\"sh\"],\"env\":[\"Z=1\",\"A=\",\"M=a=b\"]}", &r);
    CHECK_EQ(r.nenv, 3);
    CHECK_STR_EQ(r.env[0], "Z=1");
    CHECK_STR_EQ(r.env[1], "A=");
    CHECK_STR_EQ(r.env[2], "M=a=b");
    api_create_req_free(&r);
}

TEST(api_json_create_integer_rule)
{
    static const char *const good[] = {"1", "10000", "1.0", "1e3", "80"};
    static const char *const bad[] = {"0",      "-1",   "10001", "1.5", "1e300",     "-1e300",
                                      "\"80\"", "true", "[]",    "{}",  "4294967297"};
    char body[128];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct api_create_req r;
        int n = snprintf(body, sizeof body, "{\"argv\":[\"sh\"],\"rows\":%s}", good[i]);
        create_accepts(body, (size_t)n, &r);
        CHECK(r.rows >= 1 && r.rows <= 10000);
        api_create_req_free(&r);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int n = snprintf(body, sizeof body, "{\"argv\":[\"sh\"],\"cols\":%s}", bad[i]);
        create_rejects(body, (size_t)n, DIM_MSG);
        n = snprintf(body, sizeof body, "{\"argv\":[\"sh\"],\"rows\":%s}", bad[i]);
        create_rejects(body, (size_t)n, DIM_MSG);
    }
}

TEST(api_json_create_rejections)
{
    REJECT("", OBJ_MSG);
    REJECT("nul", OBJ_MSG);
    REJECT("[]", OBJ_MSG);
    REJECT("\"argv\"", OBJ_MSG);
    REJECT("{\"argv\":[\"sh\"]", OBJ_MSG);
    REJECT("{}", ARGV_MSG);
    REJECT("{\"argv\":[]}", ARGV_MSG);
    REJECT("{\"argv\":\"sh\"}", ARGV_MSG);
    REJECT("{\"argv\":null}", ARGV_MSG);
    REJECT("{\"argv\":{\"a\":\"b\"}}", ARGV_MSG);
    REJECT("{\"argv\":[\"sh\",1]}", ARGV_MSG);
    REJECT("{\"argv\":[\"sh\",null]}", ARGV_MSG);
    REJECT("{\"argv\":[[\"sh\"]]}", ARGV_MSG);
    REJECT("{\"ARGV\":[\"sh\"]}", ARGV_MSG);
    REJECT("{\"argv\":[\"sh\"],\"cwd\":1}", "\"cwd\" must be a string");
    REJECT("{\"argv\":[\"sh\"],\"cwd\":[\"/\"]}", "\"cwd\" must be a string");
    REJECT("{\"argv\":[\"sh\"],\"name\":false}", "\"name\" must be a string");
    REJECT("{\"argv\":[\"sh\"],\"env\":\"A=1\"}", ENV_TYPE_MSG);
    REJECT("{\"argv\":[\"sh\"],\"env\":3}", ENV_TYPE_MSG);
    REJECT("{\"argv\":[\"sh\"],\"env\":{\"A\":1}}", ENV_VAL_MSG);
    REJECT("{\"argv\":[\"sh\"],\"env\":{\"A\":null}}", ENV_VAL_MSG);
    REJECT("{\"argv\":[\"sh\"],\"env\":[\"A=1\",2]}", ENV_VAL_MSG);
    REJECT("{\"argv\":[\"sh\"],\"env\":{\"\":\"x\"}}", ENV_KEY_MSG);
    REJECT("{\"argv\":[\"sh\"],\"env\":{\"A=B\":\"x\"}}", ENV_KEY_MSG);
    REJECT("{\"argv\":[\"sh\"],\"env\":[\"A\"]}", ENV_ENTRY_MSG);
    REJECT("{\"argv\":[\"sh\"],\"env\":[\"=x\"]}", ENV_ENTRY_MSG);
    REJECT("{\"argv\":[\"sh\"],\"env\":[\"\"]}", ENV_ENTRY_MSG);
    /* Precedence follows the old handler: argv, cwd, name, env type, cols/rows, then
     * argv entries, then env entries. */
    REJECT("{\"argv\":[],\"cwd\":1}", ARGV_MSG);
    REJECT("{\"argv\":[\"sh\"],\"cwd\":1,\"name\":1}", "\"cwd\" must be a string");
    REJECT("{\"argv\":[1],\"cols\":0}", DIM_MSG);
    REJECT("{\"argv\":[1],\"env\":[\"x\"]}", ARGV_MSG);
}

/* Builds {"argv":["sh"],"env":[...]} with n entries "Ki=i" (or object form). */
static char *env_body(size_t n, bool object, size_t *len)
{
    size_t cap = 64 + n * 32, off = 0;
    char *b = malloc(cap);
    off +=
        (size_t)snprintf(b + off, cap - off, "{\"argv\":[\"sh\"],\"env\":%c", object ? '{' : '[');
    for (size_t i = 0; i < n; i++)
        off +=
            (size_t)snprintf(b + off, cap - off, object ? "%s\"K%zu\":\"%zu\"" : "%s\"K%zu=%zu\"",
                             i ? "," : "", i, i);
    off += (size_t)snprintf(b + off, cap - off, "%c}", object ? '}' : ']');
    *len = off;
    return b;
}

TEST(api_json_create_env_4096_in_order)
{
    for (int object = 0; object < 2; object++) {
        size_t len;
        char *b = env_body(API_MAX_ENV, object, &len);
        struct api_create_req r;
        create_accepts(b, len, &r);
        CHECK_EQ(r.nenv, API_MAX_ENV);
        char want[48];
        for (size_t i = 0; i < r.nenv; i++) {
            snprintf(want, sizeof want, "K%zu=%zu", i, i);
            CHECK_STR_EQ(r.env[i], want);
        }
        api_create_req_free(&r);
        free(b);

        b = env_body(API_MAX_ENV + 1, object, &len);
        create_rejects(b, len, "\"env\" has 4097 entries; at most 4096");
        free(b);
    }
}

TEST(api_json_create_huge_env_rejected)
{
    /* The body that blocked a reactor for 51 s: ~1 MiB, 200,000 entries. */
    size_t n = 200000, len = 0;
    char *b = malloc(64 + n * 5);
    len += (size_t)sprintf(b, "{\"argv\":[\"sh\"],\"env\":[");
    for (size_t i = 0; i < n; i++) {
        memcpy(b + len, i ? ",\"A=\"" : "\"A=\"", i ? 5 : 4);
        len += i ? 5 : 4;
    }
    len += (size_t)sprintf(b + len, "]}");
    CHECK(len > 1000000 && len <= 1 << 20);
    create_rejects(b, len, "\"env\" has 200000 entries; at most 4096");
    free(b);

    /* The object form: 150,000 keys (duplicates are allowed by cJSON). */
    n = 150000;
    len = 0;
    b = malloc(64 + n * 7);
    len += (size_t)sprintf(b, "{\"argv\":[\"sh\"],\"env\":{");
    for (size_t i = 0; i < n; i++) {
        memcpy(b + len, i ? ",\"A\":\"\"" : "\"A\":\"\"", i ? 7 : 6);
        len += i ? 7 : 6;
    }
    len += (size_t)sprintf(b + len, "}}");
    create_rejects(b, len, "\"env\" has 150000 entries; at most 4096");
    free(b);

    /* And argv: 200,000 entries. */
    len = 0;
    b = malloc(64 + 200000 * 4);
    len += (size_t)sprintf(b, "{\"argv\":[");
    for (size_t i = 0; i < 200000; i++) {
        memcpy(b + len, i ? ",\"a\"" : "\"a\"", i ? 4 : 3);
        len += i ? 4 : 3;
    }
    len += (size_t)sprintf(b + len, "]}");
    create_rejects(b, len, ARGV_MSG);
    free(b);
}

TEST(api_json_create_argv_bound)
{
    for (size_t n = API_MAX_ARGV; n <= API_MAX_ARGV + 1; n++) {
        char *b = malloc(32 + n * 4);
        size_t len = (size_t)sprintf(b, "{\"argv\":[");
        for (size_t i = 0; i < n; i++)
            len += (size_t)sprintf(b + len, "%s\"%zu\"", i ? "," : "", i % 10);
        len += (size_t)sprintf(b + len, "]}");
        if (n == API_MAX_ARGV) {
            struct api_create_req r;
            create_accepts(b, len, &r);
            CHECK_EQ(r.argc, n);
            CHECK_STR_EQ(r.argv[n - 1], "5"); /* 4095 % 10 */
            api_create_req_free(&r);
        } else {
            create_rejects(b, len, ARGV_MSG);
        }
        free(b);
    }
}

TEST(api_json_create_nul_in_strings)
{
    REJECT("{\"argv\":[\"sh\",\"a\\u0000b\"]}", "\"argv\" strings must not contain NUL (\\u0000)");
    REJECT("{\"argv\":[\"\\u0000\"]}", "\"argv\" strings must not contain NUL (\\u0000)");
    REJECT("{\"argv\":[\"sh\",\"a\0b\"]}", "\"argv\" strings must not contain NUL (\\u0000)");
    REJECT("{\"argv\":[\"sh\"],\"env\":{\"A\\u0000B\":\"x\"}}",
           "\"env\" strings must not contain NUL (\\u0000)");
    REJECT("{\"argv\":[\"sh\"],\"env\":{\"A\":\"x\\u0000\"}}",
           "\"env\" strings must not contain NUL (\\u0000)");
    REJECT("{\"argv\":[\"sh\"],\"env\":[\"A=x\\u0000y\"]}",
           "\"env\" strings must not contain NUL (\\u0000)");
    REJECT("{\"argv\":[\"sh\"],\"cwd\":\"/tmp\\u0000/x\"}",
           "\"cwd\" must not contain NUL (\\u0000)");
    REJECT("{\"argv\":[\"sh\"],\"name\":\"n\\u0000\"}", "\"name\" must not contain NUL (\\u0000)");
    REJECT("{\"argv\\u0000x\":[\"sh\"]}", "field names must not contain NUL (\\u0000)");
    REJECT("{\"argv\":[\"sh\"],\"x\\u0000\":1}", "field names must not contain NUL (\\u0000)");

    /* Not NULs: an escaped backslash before "u0000", NULs in fields nobody reads, and a
     * NUL-bearing string before the checked one (indices must line up). */
    struct api_create_req r;
    ACCEPT("{\"argv\":[\"a\\\\u0000\"]}", &r);
    CHECK_STR_EQ(r.argv[0], "a\\u0000");
    api_create_req_free(&r);
    ACCEPT("{\"x\":[\"\\u0000\",{\"k\\u0000\":\"\\u0000\"}],\"argv\":[\"sh\"],"
           "\"name\":\"n\",\"y\":\"\\u0000\"}",
           &r);
    CHECK_STR_EQ(r.name, "n");
    api_create_req_free(&r);
    REJECT("{\"x\":[\"\\u0000\",{\"k\":\"v\"}],\"name\":\"\\u0000\",\"argv\":[\"sh\"]}",
           "\"name\" must not contain NUL (\\u0000)");
    REJECT("{\"x\":{\"\\\"\":\"\\\\\"},\"argv\":[\"sh\"],\"cwd\":\"\\u0000\"}",
           "\"cwd\" must not contain NUL (\\u0000)");
}

TEST(api_json_create_error_buffer)
{
    struct api_create_req r;
    CHECK_EQ(api_parse_create("[]", 2, &r, NULL, 0), -EINVAL);
    char small[8];
    CHECK_EQ(api_parse_create("{}", 2, &r, small, sizeof small), -EINVAL);
    CHECK_STR_EQ(small, "\"argv\" ");
    CHECK_EQ(api_parse_create(NULL, 0, &r, small, sizeof small), -EINVAL);
    api_create_req_free(&r);
}

TEST(api_json_resize_forms)
{
    unsigned c = 7, r = 7;
    char err[128];
    CHECK_EQ(api_parse_resize("{\"cols\":80,\"rows\":24}", 21, &c, &r, err, sizeof err), 0);
    CHECK_EQ(c, 80);
    CHECK_EQ(r, 24);
    static const char *const good[] = {"{\"rows\":10000,\"cols\":1}", "{\"cols\":2.0,\"rows\":3}",
                                       "{\"cols\":2,\"rows\":3,\"x\":\"\\u0000\"} junk"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECK_MSG(api_parse_resize(good[i], strlen(good[i]), &c, &r, err, sizeof err) == 0,
                  "rejected %s", good[i]);
    static const char *const bad[] = {
        "",
        "[80,24]",
        "{\"cols\":80}",
        "{\"rows\":24}",
        "{\"cols\":80,\"rows\":null}",
        "{\"cols\":0,\"rows\":24}",
        "{\"cols\":10001,\"rows\":24}",
        "{\"cols\":80.5,\"rows\":24}",
        "{\"cols\":\"80\",\"rows\":24}",
        "{\"cols\":-80,\"rows\":24}",
        "{\"cols\":1e999,\"rows\":24}",
        "{\"cols\":80,\"rows\":24",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = r = 7;
        err[0] = '\0';
        CHECK_MSG(api_parse_resize(bad[i], strlen(bad[i]), &c, &r, err, sizeof err) == -EINVAL,
                  "accepted %s", bad[i]);
        CHECK_STR_EQ(err, RESIZE_MSG);
        CHECK(c == 7 && r == 7);
    }
}

TEST(api_json_login_forms)
{
    char tok[8], err[128];
    CHECK_EQ(api_parse_login("{\"token\":\"secret\"}", 18, tok, sizeof tok, err, sizeof err), 0);
    CHECK_STR_EQ(tok, "secret");
    CHECK_EQ(api_parse_login("{\"token\":\"\"}", 12, tok, sizeof tok, err, sizeof err), 0);
    CHECK_STR_EQ(tok, "");
    /* cap-1 bytes fit; cap bytes do not. */
    CHECK_EQ(api_parse_login("{\"token\":\"1234567\"}", 19, tok, sizeof tok, err, sizeof err), 0);
    CHECK_STR_EQ(tok, "1234567");
    CHECK_EQ(api_parse_login("{\"token\":\"12345678\"}", 20, tok, sizeof tok, err, sizeof err),
             -EINVAL);
    CHECK_STR_EQ(err, "\"token\" is too long: at most 7 bytes");
    CHECK_STR_EQ(tok, "");
    CHECK_EQ(api_parse_login("{\"token\":\"a\\u0000b\"}", 20, tok, sizeof tok, err, sizeof err),
             -EINVAL);
    CHECK_STR_EQ(err, "\"token\" must not contain NUL (\\u0000)");
    static const char *const bad[] = {"",
                                      "{}",
                                      "[\"token\"]",
                                      "{\"token\":1}",
                                      "{\"token\":null}",
                                      "{\"Token\":\"x\"}",
                                      "{\"token\":\"x\"",
                                      "\"x\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK_MSG(api_parse_login(bad[i], strlen(bad[i]), tok, sizeof tok, err, sizeof err) ==
                      -EINVAL,
                  "accepted %s", bad[i]);
        CHECK_STR_EQ(err, LOGIN_MSG);
    }
}

TEST(api_parse_wait_accepts_and_rejects)
{
    struct api_wait_req w;
    char err[200];
    const char *ok = "{\"text\":\"\\\\$ $\",\"idle_ms\":200,\"timeout_ms\":1000,\"after\":5}";
    CHECK_EQ(api_parse_wait(ok, strlen(ok), &w, err, sizeof err), 0);
    CHECK_STR_EQ(w.text, "\\$ $");
    CHECK_EQ(w.text_len, 4);
    CHECK_EQ(w.idle_ms, 200);
    CHECK_EQ(w.timeout_ms, 1000);
    CHECK_U64_EQ(w.after, 5);
    const char *idle = "{\"idle_ms\":1}";
    CHECK_EQ(api_parse_wait(idle, strlen(idle), &w, err, sizeof err), 0);
    CHECK_EQ(w.text_len, 0);
    static const char *const bad[] = {
        "{}",                       /* nothing to wait for */
        "{\"text\":\"\"}",          /* empty regex */
        "{\"idle_ms\":0}",          /* idle needs 1 ms at least */
        "{\"text\":5}",             /* not a string */
        "{\"text\":\"a\\u0000b\"}", /* NUL */
        "{\"text\":\"a\",\"after\":-1}",
        "{\"text\":\"a\",\"timeout_ms\":1.5}",
        "[1]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK_MSG(api_parse_wait(bad[i], strlen(bad[i]), &w, err, sizeof err) == -EINVAL,
                  "%s accepted", bad[i]);
        CHECK(err[0] != '\0');
        CHECK_EQ(w.text_len, 0);
    }
    char big[API_WAIT_REGEX_MAX + 32];
    int n = snprintf(big, sizeof big, "{\"text\":\"");
    memset(big + n, 'a', API_WAIT_REGEX_MAX + 1);
    snprintf(big + n + API_WAIT_REGEX_MAX + 1, 4, "\"}");
    CHECK_EQ(api_parse_wait(big, strlen(big), &w, err, sizeof err), -EINVAL);
}
