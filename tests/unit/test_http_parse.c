/* test_http_parse: the request-head parser fed every valid request at every split point,
 * pipelined streams in every chunk size, a table of malformed heads, the size limits,
 * and the header, Content-Length, keep-alive and query helpers. */
#include "harness.h"

#include <errno.h>

#include "proto/http_parse.h"

/* Parses the first n bytes of s from an exact-size heap copy, so ASan catches any read
 * past the end; the request's slices are not usable afterwards. */
static int parse_copy(const char *s, size_t n, size_t max_headers, size_t max_head)
{
    char *p = malloc(n ? n : 1);
    memcpy(p, s, n);
    struct http_request req;
    int r = http_parse_request_max(p, n, &req, max_headers, max_head);
    if (r > 0) { /* every slice lies inside the consumed head */
        CHECK(req.method.p >= p && req.method.p + req.method.len <= p + r);
        CHECK(req.target.p >= p && req.target.p + req.target.len <= p + r);
        for (size_t i = 0; i < req.num_headers; i++) {
            const struct http_header *h = &req.headers[i];
            CHECK(h->name.p >= p && h->name.p + h->name.len <= p + r);
            CHECK(h->value.p >= p && h->value.p + h->value.len <= p + r);
        }
    }
    free(p);
    return r;
}

struct valid_case {
    const char *raw;
    const char *method, *target, *path, *query; /* query NULL: no '?' */
    int minor;
    size_t num_headers;
    const char *hname, *hvalue; /* one header to look up, or NULL */
};

static const struct valid_case valid_cases[] = {
    {"GET / HTTP/1.1\r\n\r\n", "GET", "/", "/", NULL, 1, 0, NULL, NULL},
    {"GET /api/sessions?from=10&x=y HTTP/1.1\r\nHost: localhost:7681\r\nUser-Agent: "
     "curl/8.0\r\nAccept: */*\r\n\r\n",
     "GET", "/api/sessions?from=10&x=y", "/api/sessions", "from=10&x=y", 1, 3, "host",
     "localhost:7681"},
    {"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:7681\r\nConnection: Upgrade\r\nPragma: "
     "no-cache\r\nUpgrade: websocket\r\nOrigin: http://127.0.0.1:7681\r\nSec-WebSocket-Version: "
     "13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Extensions: "
     "permessage-deflate; client_max_window_bits\r\n\r\n",
     "GET", "/ws", "/ws", NULL, 1, 8, "SEC-WEBSOCKET-KEY", "dGhlIHNhbXBsZSBub25jZQ=="},
    {"POST /api/sessions HTTP/1.0\r\nContent-Length: 5\r\n\r\n", "POST", "/api/sessions",
     "/api/sessions", NULL, 0, 1, "Content-Length", "5"},
    {"\r\n\r\nGET /after-empty-lines HTTP/1.1\r\n\r\n", "GET", "/after-empty-lines",
     "/after-empty-lines", NULL, 1, 0, NULL, NULL},
    {"GET / HTTP/1.1\r\nX:   spaced value \t \r\nEmpty:\r\nE2:   \r\n\r\n", "GET", "/", "/", NULL,
     1, 3, "x", "spaced value"},
    {"GET / HTTP/1.1\r\nEmpty:\r\n\r\n", "GET", "/", "/", NULL, 1, 1, "empty", ""},
    {"GET / HTTP/1.1\r\nX: a\tb  c\r\n\r\n", "GET", "/", "/", NULL, 1, 1, "X", "a\tb  c"},
    {"GET / HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n", "GET", "/", "/", NULL, 1, 1, "X", "caf\xc3\xa9"},
    {"GET http://localhost:7681/a/b?c=d HTTP/1.1\r\n\r\n", "GET", "http://localhost:7681/a/b?c=d",
     "/a/b", "c=d", 1, 0, NULL, NULL},
    {"GET https://host?x HTTP/1.1\r\n\r\n", "GET", "https://host?x", "", "x", 1, 0, NULL, NULL},
    {"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", "OPTIONS", "*", "*", NULL, 1, 1, "Host", "x"},
    {"GET /x? HTTP/1.1\r\n\r\n", "GET", "/x?", "/x", "", 1, 0, NULL, NULL},
    {"GET /a?b?c=%20 HTTP/1.1\r\n\r\n", "GET", "/a?b?c=%20", "/a", "b?c=%20", 1, 0, NULL, NULL},
    {"M-SEARCH * HTTP/1.1\r\n\r\n", "M-SEARCH", "*", "*", NULL, 1, 0, NULL, NULL},
    {"get / HTTP/1.1\r\n\r\n", "get", "/", "/", NULL, 1, 0, NULL, NULL},
    {"GET / HTTP/1.9\r\n\r\n", "GET", "/", "/", NULL, 9, 0, NULL, NULL},
    {"GET / HTTP/1.1\r\nX-Custom_Header!#$%&'*+.^`|~: v\r\n\r\n", "GET", "/", "/", NULL, 1, 1,
     "x-custom_header!#$%&'*+.^`|~", "v"},
    {"DELETE /api/sessions/7 HTTP/1.1\r\nHost: h\r\nHost: h2\r\n\r\n", "DELETE", "/api/sessions/7",
     "/api/sessions/7", NULL, 1, 2, "host", "h"},
};

#define NVALID (sizeof valid_cases / sizeof valid_cases[0])

/* Checks a slice against an expected string (NULL: the slice has p == NULL). */
static void check_slice(struct http_slice s, const char *want, const char *what, size_t c)
{
    if (!want) {
        CHECK_MSG(s.p == NULL, "case %zu: %s should be absent", c, what);
        return;
    }
    CHECK_MSG(s.p != NULL && http_slice_eq(s, want), "case %zu: %s is \"%.*s\", want \"%s\"", c,
              what, (int)s.len, s.p ? s.p : "", want);
}

TEST(http_valid_requests)
{
    for (size_t c = 0; c < NVALID; c++) {
        const struct valid_case *tc = &valid_cases[c];
        size_t n = strlen(tc->raw);
        struct http_request req;
        int r = http_parse_request(tc->raw, n, &req, HTTP_MAX_HEADERS);
        CHECK_MSG(r == (int)n, "case %zu: parse %d want %zu", c, r, n);
        check_slice(req.method, tc->method, "method", c);
        check_slice(req.target, tc->target, "target", c);
        check_slice(req.path, tc->path, "path", c);
        check_slice(req.query, tc->query, "query", c);
        CHECK_EQ(req.minor_version, tc->minor);
        CHECK_EQ(req.num_headers, tc->num_headers);
        if (tc->hname) {
            const struct http_slice *v = http_header_get(&req, tc->hname);
            CHECK_MSG(v != NULL, "case %zu: no %s", c, tc->hname);
            check_slice(*v, tc->hvalue, tc->hname, c);
        }
    }
}

TEST(http_valid_requests_every_split_point)
{
    for (size_t c = 0; c < NVALID; c++) {
        const char *raw = valid_cases[c].raw;
        size_t n = strlen(raw);
        for (size_t cut = 0; cut < n; cut++) {
            int r = parse_copy(raw, cut, HTTP_MAX_HEADERS, HTTP_MAX_HEAD_DEFAULT);
            CHECK_MSG(r == 0, "case %zu cut %zu: %d", c, cut, r);
        }
        CHECK_EQ(parse_copy(raw, n, HTTP_MAX_HEADERS, HTTP_MAX_HEAD_DEFAULT), (int)n);
        /* Bytes of a following request do not change the result. */
        char buf[1024];
        size_t m = (size_t)snprintf(buf, sizeof buf, "%sGET /next HTTP/1.1\r\n", raw);
        CHECK_EQ(parse_copy(buf, m, HTTP_MAX_HEADERS, HTTP_MAX_HEAD_DEFAULT), (int)n);
    }
}

struct bad_case {
    const char *raw;
    size_t len; /* 0: strlen */
    int want;
};

static const struct bad_case bad_cases[] = {
    {" GET / HTTP/1.1\r\n\r\n", 0, -EBADMSG},
    {"\nGET / HTTP/1.1\r\n\r\n", 0, -EBADMSG},
    {"\r\rGET / HTTP/1.1\r\n\r\n", 0, -EBADMSG},
    {"GET  / HTTP/1.1\r\n\r\n", 0, -EBADMSG},
    {"GET /  HTTP/1.1\r\n\r\n", 0, -EBADMSG},
    {"GET / HTTP/1.1 \r\n\r\n", 0, -EBADMSG},
    {"GET\t/ HTTP/1.1\r\n\r\n", 0, -EBADMSG},
    {"G(T / HTTP/1.1\r\n\r\n", 0, -EBADMSG},
    {"G\x80T / HTTP/1.1\r\n\r\n", 0, -EBADMSG},
    {"GET /a\x01z HTTP/1.1\r\n\r\n", 0, -EBADMSG},
    {"GET /a\x7fz HTTP/1.1\r\n\r\n", 0, -EBADMSG},
    {"GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", 0, -EBADMSG},
    {"GET /a\0b HTTP/1.1\r\n\r\n", 20, -EBADMSG},
    {"GET /#frag HTTP/1.1\r\n\r\n", 0, -EBADMSG},
    {"GET ** HTTP/1.1\r\n\r\n", 0, -EBADMSG},
    {"CONNECT host:443 HTTP/1.1\r\n\r\n", 0, -EBADMSG},
    {"GET http:// HTTP/1.1\r\n\r\n", 0, -EBADMSG},
    {"GET http:/x HTTP/1.1\r\n\r\n", 0, -EBADMSG},
    {"GET 1http://x/ HTTP/1.1\r\n\r\n", 0, -EBADMSG},
    {"GET h_t://x/ HTTP/1.1\r\n\r\n", 0, -EBADMSG},
    {"GET /\r\n\r\n", 0, -EBADMSG},
    {"GET / http/1.1\r\n\r\n", 0, -EBADMSG},
    {"GET / HTTP/1\r\n\r\n", 0, -EBADMSG},
    {"GET / HTTP/1.\r\n\r\n", 0, -EBADMSG},
    {"GET / HTTP/1.10\r\n\r\n", 0, -EBADMSG},
    {"GET / HTTP/1.1x\r\n\r\n", 0, -EBADMSG},
    {"GET / HTTP/x.1\r\n\r\n", 0, -EBADMSG},
    {"GET / HTTP/2.0\r\n\r\n", 0, -EPROTONOSUPPORT},
    {"GET / HTTP/0.9\r\n\r\n", 0, -EPROTONOSUPPORT},
    {"GET / HTTP/1.1\n\n", 0, -EBADMSG},
    {"GET / HTTP/1.1\r\r\n\r\n", 0, -EBADMSG},
    {"GET / HTTP/1.1\r\nHost: x\n\r\n", 0, -EBADMSG},
    {"GET / HTTP/1.1\r\nHost: x\r\r\n\r\n", 0, -EBADMSG},
    {"GET / HTTP/1.1\r\nHost: x\r\n\n", 0, -EBADMSG},
    {"GET / HTTP/1.1\r\nX: y\n\n", 0, -EBADMSG},
    {"GET / HTTP/1.1\r\nX: y\x01\n\r\n", 0, -EBADMSG},
    {"GET / HTTP/1.1\r\nX: y\x0b\r\n\r\n", 0, -EBADMSG},
    {"GET / HTTP/1.1\r\nHost: x\r\n\rX", 0, -EBADMSG},
    {"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 0, -EBADMSG},
    {"GET / HTTP/1.1\r\nHost\t: x\r\n\r\n", 0, -EBADMSG},
    {"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 0, -EBADMSG},
    {"GET / HTTP/1.1\r\nHost: x\r\n\tfolded\r\n\r\n", 0, -EBADMSG},
    {"GET / HTTP/1.1\r\n Host: x\r\n\r\n", 0, -EBADMSG},
    {"GET / HTTP/1.1\r\n: no-name\r\n\r\n", 0, -EBADMSG},
    {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 0, -EBADMSG},
    {"GET / HTTP/1.1\r\nX(y): z\r\n\r\n", 0, -EBADMSG},
    {"GET / HTTP/1.1\r\nX\x7f: z\r\n\r\n", 0, -EBADMSG},
    {"GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n", 0, -EBADMSG},
    {"GET / HTTP/1.1\r\nX: a\x7fz\r\n\r\n", 0, -EBADMSG},
    {"GET / HTTP/1.1\r\nX: a\0z\r\n\r\n", 26, -EBADMSG},
};

TEST(http_malformed_requests)
{
    for (size_t c = 0; c < sizeof bad_cases / sizeof bad_cases[0]; c++) {
        const struct bad_case *tc = &bad_cases[c];
        size_t n = tc->len ? tc->len : strlen(tc->raw);
        int r = parse_copy(tc->raw, n, HTTP_MAX_HEADERS, HTTP_MAX_HEAD_DEFAULT);
        CHECK_MSG(r == tc->want, "case %zu: %d want %d", c, r, tc->want);
        /* A prefix says "need more" or already reports the same error. */
        for (size_t cut = 0; cut < n; cut++) {
            r = parse_copy(tc->raw, cut, HTTP_MAX_HEADERS, HTTP_MAX_HEAD_DEFAULT);
            CHECK_MSG(r == 0 || r == tc->want, "case %zu cut %zu: %d", c, cut, r);
        }
    }
}

/* Builds a request with nheaders header lines into buf; returns its length. */
static size_t build_request(char *buf, size_t size, size_t nheaders, size_t value_len)
{
    size_t n = (size_t)snprintf(buf, size, "GET /many HTTP/1.1\r\n");
    for (size_t i = 0; i < nheaders; i++) {
        n += (size_t)snprintf(buf + n, size - n, "X-H%zu: ", i);
        for (size_t k = 0; k < value_len; k++)
            buf[n++] = 'v';
        n += (size_t)snprintf(buf + n, size - n, "\r\n");
    }
    n += (size_t)snprintf(buf + n, size - n, "\r\n");
    return n;
}

TEST(http_too_many_headers)
{
    static char buf[16384];
    for (size_t max = 0; max <= HTTP_MAX_HEADERS; max += 8) {
        size_t n = build_request(buf, sizeof buf, max, 3);
        CHECK_EQ(parse_copy(buf, n, max, HTTP_MAX_HEAD_DEFAULT), (int)n);
        n = build_request(buf, sizeof buf, max + 1, 3);
        CHECK_EQ(parse_copy(buf, n, max, HTTP_MAX_HEAD_DEFAULT), -E2BIG);
        for (size_t cut = 0; cut < n; cut += 3) {
            int r = parse_copy(buf, cut, max, HTTP_MAX_HEAD_DEFAULT);
            CHECK(r == 0 || r == -E2BIG);
        }
    }
    /* max_headers beyond the struct's capacity is capped, not trusted. */
    size_t n = build_request(buf, sizeof buf, HTTP_MAX_HEADERS + 1, 1);
    CHECK_EQ(parse_copy(buf, n, 100000, HTTP_MAX_HEAD_DEFAULT), -E2BIG);
    /* An obs-fold line at the limit is still malformed, not "too many". */
    const char *fold = "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n";
    CHECK_EQ(parse_copy(fold, strlen(fold), 1, HTTP_MAX_HEAD_DEFAULT), -EBADMSG);
}

TEST(http_head_too_long)
{
    static char buf[40000];
    size_t n = build_request(buf, sizeof buf, 4, 50);
    CHECK_EQ(parse_copy(buf, n, HTTP_MAX_HEADERS, n), (int)n);
    CHECK_EQ(parse_copy(buf, n, HTTP_MAX_HEADERS, n + 1), (int)n);
    CHECK_EQ(parse_copy(buf, n, HTTP_MAX_HEADERS, n - 1), -EMSGSIZE);
    for (size_t cut = 0; cut < n - 1; cut++)
        CHECK_EQ(parse_copy(buf, cut, HTTP_MAX_HEADERS, n - 1), 0);
    CHECK_EQ(parse_copy(buf, n - 1, HTTP_MAX_HEADERS, n - 1), -EMSGSIZE);
    /* The default limit, through the four-argument entry point. */
    n = build_request(buf, sizeof buf, 2, 9000);
    struct http_request req;
    CHECK_EQ(http_parse_request(buf, n, &req, HTTP_MAX_HEADERS), -EMSGSIZE);
    CHECK_EQ(http_parse_request(buf, HTTP_MAX_HEAD_DEFAULT - 1, &req, HTTP_MAX_HEADERS), 0);
    n = build_request(buf, sizeof buf, 2, 8000);
    CHECK(n < HTTP_MAX_HEAD_DEFAULT);
    CHECK_EQ(http_parse_request(buf, n, &req, HTTP_MAX_HEADERS), (int)n);
    /* Empty lines before the request line count towards the limit. */
    memset(buf, 0, sizeof buf);
    for (size_t i = 0; i < 100; i++)
        memcpy(buf + 2 * i, "\r\n", 2);
    CHECK_EQ(parse_copy(buf, 200, HTTP_MAX_HEADERS, 150), -EMSGSIZE);
    CHECK_EQ(parse_copy(buf, 200, HTTP_MAX_HEADERS, 300), 0);
}

/* The pipelined stream: a POST with a body between two GETs. */
static const char pipeline[] = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
                               "POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                               "GET /three?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
static const char *const pipeline_paths[] = {"/one", "/two", "/three"};

TEST(http_pipelined_requests)
{
    size_t len = sizeof pipeline - 1, off = 0, count = 0;
    while (off < len) {
        struct http_request req;
        int r = http_parse_request(pipeline + off, len - off, &req, HTTP_MAX_HEADERS);
        CHECK(r > 0);
        CHECK(count < 3);
        CHECK(http_slice_eq(req.path, pipeline_paths[count]));
        uint64_t body;
        CHECK_EQ(http_content_length(&req, &body), 0);
        CHECK(http_keep_alive(&req) == (count < 2));
        off += (size_t)r + body;
        count++;
    }
    CHECK_EQ(count, 3);
    CHECK_EQ(off, len);
}

TEST(http_pipelined_every_chunk_size)
{
    /* A connection that receives the stream in chunks of k bytes and parses whenever
     * bytes arrive sees the same three requests for every k. */
    size_t len = sizeof pipeline - 1;
    for (size_t k = 1; k <= len; k++) {
        char *buf = malloc(len);
        size_t have = 0, off = 0, count = 0, body_left = 0;
        while (have < len || off < have) {
            size_t add = len - have < k ? len - have : k;
            memcpy(buf + have, pipeline + have, add);
            have += add;
            for (;;) {
                if (body_left) {
                    size_t take = have - off < body_left ? have - off : body_left;
                    off += take;
                    body_left -= take;
                    if (body_left)
                        break;
                }
                struct http_request req;
                int r = http_parse_request(buf + off, have - off, &req, HTTP_MAX_HEADERS);
                CHECK_MSG(r >= 0, "k %zu: error %d", k, r);
                if (r == 0)
                    break;
                CHECK(count < 3 && http_slice_eq(req.path, pipeline_paths[count]));
                uint64_t body;
                CHECK_EQ(http_content_length(&req, &body), 0);
                body_left = body;
                off += (size_t)r;
                count++;
            }
            if (add == 0)
                break;
        }
        CHECK_MSG(count == 3 && off == len, "k %zu: %zu requests, %zu bytes", k, count, off);
        free(buf);
    }
}

/* Parses a literal that must be a complete head. */
static void parse_ok(const char *raw, struct http_request *req)
{
    int r = http_parse_request(raw, strlen(raw), req, HTTP_MAX_HEADERS);
    CHECK_MSG(r == (int)strlen(raw), "parse %d for %s", r, raw);
}

TEST(http_header_lookup)
{
    struct http_request req;
    parse_ok("GET / HTTP/1.1\r\nHost: one\r\nhOsT: two\r\nX-Y: z\r\n\r\n", &req);
    const struct http_slice *v = http_header_get(&req, "HOST");
    CHECK(v && http_slice_eq(*v, "one"));
    CHECK_EQ(http_header_count(&req, "host"), 2);
    CHECK(http_header_get(&req, "X-Y") != NULL);
    CHECK(http_header_get(&req, "X-") == NULL);
    CHECK(http_header_get(&req, "X-Yz") == NULL);
    CHECK(http_header_get(&req, "Missing") == NULL);
    CHECK_EQ(http_header_count(&req, "Missing"), 0);
    CHECK(http_slice_case_eq(req.method, "get"));
    CHECK(!http_slice_eq(req.method, "get"));
}

struct cl_case {
    const char *headers;
    int minor;
    int want;
    uint64_t value;
};

static const struct cl_case cl_cases[] = {
    {"", 1, 0, 0},
    {"Content-Length: 42\r\n", 1, 0, 42},
    {"content-length: 7\r\n", 0, 0, 7},
    {"Content-Length: 042\r\n", 1, 0, 42},
    {"Content-Length: 0\r\n", 1, 0, 0},
    {"Content-Length: 42\r\nContent-Length: 42\r\n", 1, 0, 42},
    {"Content-Length: 42, 42\r\n", 1, 0, 42},
    {"Content-Length: 18446744073709551615\r\n", 1, 0, UINT64_MAX},
    {"Content-Length: 42\r\nContent-Length: 43\r\n", 1, -EBADMSG, 0},
    {"Content-Length: 42, 43\r\n", 1, -EBADMSG, 0},
    {"Content-Length: 42,\r\n", 1, -EBADMSG, 0},
    {"Content-Length: \r\n", 1, -EBADMSG, 0},
    {"Content-Length: -1\r\n", 1, -EBADMSG, 0},
    {"Content-Length: +1\r\n", 1, -EBADMSG, 0},
    {"Content-Length: 0x10\r\n", 1, -EBADMSG, 0},
    {"Content-Length: 1 2\r\n", 1, -EBADMSG, 0},
    {"Content-Length: 18446744073709551616\r\n", 1, -EBADMSG, 0},
    {"Content-Length: 99999999999999999999999\r\n", 1, -EBADMSG, 0},
    {"Transfer-Encoding: chunked\r\n", 1, -ENOTSUP, 0},
    {"Transfer-Encoding: gzip, chunked\r\n", 1, -ENOTSUP, 0},
    {"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", 1, -EBADMSG, 0},
    {"Content-Length: 5\r\ntransfer-encoding: chunked\r\n", 1, -EBADMSG, 0},
    {"Transfer-Encoding: chunked\r\n", 0, -EBADMSG, 0},
};

TEST(http_content_length_cases)
{
    for (size_t c = 0; c < sizeof cl_cases / sizeof cl_cases[0]; c++) {
        char raw[256];
        snprintf(raw, sizeof raw, "POST / HTTP/1.%d\r\n%s\r\n", cl_cases[c].minor,
                 cl_cases[c].headers);
        struct http_request req;
        parse_ok(raw, &req);
        uint64_t v = 12345;
        int r = http_content_length(&req, &v);
        CHECK_MSG(r == cl_cases[c].want, "case %zu: %d want %d", c, r, cl_cases[c].want);
        if (r == 0)
            CHECK_U64_EQ(v, cl_cases[c].value);
    }
}

struct token_case {
    const char *headers;
    const char *name, *token;
    bool want;
};

static const struct token_case token_cases[] = {
    {"Connection: Upgrade\r\n", "Connection", "upgrade", true},
    {"Connection: keep-alive, Upgrade\r\n", "connection", "upgrade", true},
    {"Connection: keep-alive,Upgrade \r\n", "Connection", "UPGRADE", true},
    {"Connection: ,upgrade,\r\n", "Connection", "upgrade", true},
    {"Connection: close\r\nConnection: upgrade\r\n", "Connection", "upgrade", true},
    {"Connection: upgrades\r\n", "Connection", "upgrade", false},
    {"Connection: up grade\r\n", "Connection", "upgrade", false},
    {"Connection: \r\n", "Connection", "upgrade", false},
    {"X-Connection: upgrade\r\n", "Connection", "upgrade", false},
    {"Upgrade: WebSocket\r\n", "Upgrade", "websocket", true},
    {"Upgrade: h2c, websocket\r\n", "Upgrade", "websocket", true},
    {"Upgrade: websocket/13\r\n", "Upgrade", "websocket", false},
};

TEST(http_header_tokens)
{
    for (size_t c = 0; c < sizeof token_cases / sizeof token_cases[0]; c++) {
        char raw[256];
        snprintf(raw, sizeof raw, "GET / HTTP/1.1\r\n%s\r\n", token_cases[c].headers);
        struct http_request req;
        parse_ok(raw, &req);
        CHECK_MSG(http_header_has_token(&req, token_cases[c].name, token_cases[c].token) ==
                      token_cases[c].want,
                  "case %zu", c);
    }
}

TEST(http_keep_alive_cases)
{
    struct {
        const char *raw;
        bool want;
    } cases[] = {
        {"GET / HTTP/1.1\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nConnection: Keep-Alive, Close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nConnection: Upgrade\r\n\r\n", true},
        {"GET / HTTP/1.0\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct http_request req;
        parse_ok(cases[c].raw, &req);
        CHECK_MSG(http_keep_alive(&req) == cases[c].want, "case %zu", c);
    }
}

TEST(http_query_params)
{
    struct {
        const char *query; /* NULL: no query at all */
        const char *name;
        const char *want; /* NULL: -ENOENT */
    } cases[] = {
        {"from=10&to=20", "from", "10"},
        {"from=10&to=20", "to", "20"},
        {"fromage=1&from=2", "from", "2"},
        {"a=1&a=2", "a", "1"},
        {"flag&x=1", "flag", ""},
        {"x=", "x", ""},
        {"x=a=b", "x", "a=b"},
        {"na%6De=v", "name", "v"},
        {"a+b=c", "a b", "c"},
        {"%zz=1", "%zz", "1"},
        {"=v&x=1", "x", "1"},
        {"&&x=%20&", "x", "%20"},
        {"from=10", "to", NULL},
        {"from=10", "fro", NULL},
        {"", "x", NULL},
        {NULL, "x", NULL},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct http_slice q = {cases[c].query, cases[c].query ? strlen(cases[c].query) : 0};
        struct http_slice v = {NULL, 99};
        int r = http_query_get(q, cases[c].name, &v);
        if (!cases[c].want) {
            CHECK_MSG(r == -ENOENT, "case %zu: %d", c, r);
            continue;
        }
        CHECK_MSG(r == 0, "case %zu: %d", c, r);
        CHECK_MSG(http_slice_eq(v, cases[c].want), "case %zu: \"%.*s\"", c, (int)v.len,
                  v.p ? v.p : "");
        CHECK(v.p >= q.p && v.p + v.len <= q.p + q.len);
    }
    /* End to end: a target's query, a parameter, decoded. */
    struct http_request req;
    parse_ok("GET /api/sessions/7/output?from=1024&name=my%20shell HTTP/1.1\r\n\r\n", &req);
    struct http_slice v;
    CHECK_EQ(http_query_get(req.query, "name", &v), 0);
    char out[32];
    CHECK_EQ(http_percent_decode(v.p, v.len, out, sizeof out, true), 8);
    CHECK_STR_EQ(out, "my shell");
}

TEST(http_percent_decoding)
{
    struct {
        const char *in;
        bool plus;
        ssize_t want;
        const char *out;
    } cases[] = {
        {"", false, 0, ""},
        {"plain", false, 5, "plain"},
        {"a%20b", false, 3, "a b"},
        {"a+b", true, 3, "a b"},
        {"a+b", false, 3, "a+b"},
        {"%41%4a%4A", false, 3, "AJJ"},
        {"%E2%82%AC", false, 3, "\xe2\x82\xac"},
        {"%25", false, 1, "%"},
        {"%zz", false, -EINVAL, NULL},
        {"%4", false, -EINVAL, NULL},
        {"%", false, -EINVAL, NULL},
        {"ab%", false, -EINVAL, NULL},
        {"%g1", false, -EINVAL, NULL},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char out[16];
        ssize_t r =
            http_percent_decode(cases[c].in, strlen(cases[c].in), out, sizeof out, cases[c].plus);
        CHECK_MSG(r == cases[c].want, "case %zu: %zd", c, r);
        if (r >= 0)
            CHECK_STR_EQ(out, cases[c].out);
    }
    char out[4];
    CHECK_EQ(http_percent_decode("abc", 3, out, 4, false), 3);
    CHECK_EQ(http_percent_decode("abcd", 4, out, 4, false), -ENOBUFS);
    CHECK_EQ(http_percent_decode("%41%41%41", 9, out, 4, false), 3);
    CHECK_EQ(http_percent_decode("", 0, out, 0, false), -ENOBUFS);
    CHECK_EQ(http_percent_decode("a%00b", 5, out, 4, false), 3);
    CHECK_EQ(strlen(out), 1); /* the caller's check for embedded NULs */
}

TEST(http_target_forms)
{
    struct {
        const char *target;
        int want;
        const char *path, *query;
    } cases[] = {
        {"/", 0, "/", NULL},
        {"/a?b", 0, "/a", "b"},
        {"*", 0, "*", NULL},
        {"http://h", 0, "", NULL},
        {"http://h:1/p?q", 0, "/p", "q"},
        {"web+x.y-z://h/p", 0, "/p", NULL},
        {"", -EBADMSG, NULL, NULL},
        {"*?x", -EBADMSG, NULL, NULL},
        {"a", -EBADMSG, NULL, NULL},
        {"a:b", -EBADMSG, NULL, NULL},
        {"http:/", -EBADMSG, NULL, NULL},
        {"http:///p", -EBADMSG, NULL, NULL},
        {"/p#f", -EBADMSG, NULL, NULL},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct http_slice t = {cases[c].target, strlen(cases[c].target)}, path, query;
        int r = http_target_split(t, &path, &query);
        CHECK_MSG(r == cases[c].want, "case %zu: %d", c, r);
        if (r == 0) {
            check_slice(path, cases[c].path, "path", c);
            check_slice(query, cases[c].query, "query", c);
        }
    }
}
