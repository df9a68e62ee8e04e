/* fuzz_http: libFuzzer target for the HTTP request-head parser and its helpers.
 *
 * Input: two bytes choosing max_headers and max_head, then a byte stream parsed as
 * pipelined requests (heads, Content-Length bodies skipped). Checks that consumed bytes
 * never exceed the input, every slice lies inside the consumed head, a prefix of a
 * complete head is "need more", and the helpers stay inside their inputs.
 *
 * Build: clang -Isrc -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *          fuzz/fuzz_http.c src/proto/http_parse.c -o fuzz_http
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http_parse.h"
#include "server/auth.h"
#include "server/config.h"

/* Aborts unless the slice lies within [lo, hi). */
static void check_inside(struct http_slice s, const char *lo, const char *hi)
{
    if (s.p == NULL) {
        if (s.len != 0)
            abort();
        return;
    }
    if (s.p < lo || s.p > hi || s.len > (size_t)(hi - s.p))
        abort();
}

/* Exercises the helpers on a parsed request. */
static void use_request(const struct http_request *req, const char *lo, const char *hi)
{
    check_inside(req->method, lo, hi);
    check_inside(req->target, lo, hi);
    check_inside(req->path, req->target.p, req->target.p + req->target.len);
    check_inside(req->query, req->target.p, req->target.p + req->target.len);
    if (req->method.len == 0 || req->target.len == 0 || req->num_headers > HTTP_MAX_HEADERS)
        abort();
    for (size_t i = 0; i < req->num_headers; i++) {
        check_inside(req->headers[i].name, lo, hi);
        check_inside(req->headers[i].value, lo, hi);
        if (req->headers[i].name.len == 0)
            abort();
    }
    (void)http_header_get(req, "Host");
    (void)http_header_has_token(req, "Connection", "upgrade");
    (void)http_keep_alive(req);
    struct http_slice v;
    static const char *const names[] = {"from", "name", "a b", ""};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (http_query_get(req->query, names[i], &v) == 0) {
            check_inside(v, req->query.p, req->query.p + req->query.len);
            char out[64];
            ssize_t r = http_percent_decode(v.p, v.len, out, sizeof out, true);
            if (r >= (ssize_t)sizeof out || (r >= 0 && out[r] != '\0'))
                abort();
        }
    }
    char out[512];
    ssize_t r = http_percent_decode(req->path.p, req->path.len, out, sizeof out, false);
    if (r >= 0 && (size_t)r > req->path.len)
        abort();
}

/* The auth decisions over a parsed request (server/auth.c), on a loopback listener
 * with a token and on an open public one: they must not crash and must agree with
 * themselves (a Host accepted on loopback is a loopback literal). */
static void check_auth(const struct http_request *req)
{
    static char *origins[] = {"http://allowed.example:1", NULL};
    struct config lo, pub;
    config_defaults(&lo);
    strcpy(lo.listen, "127.0.0.1:7681");
    lo.token = "0123456789abcdef";
    lo.allow_origins = origins;
    lo.nallow_origins = 1;
    config_defaults(&pub);
    strcpy(pub.listen, "0.0.0.0:7681");
    pub.no_auth = true;
    int h = auth_check_host(&lo, req);
    if (h != 0 && h != 400 && h != 403)
        abort();
    if (h == 0) {
        const struct http_slice *host = http_header_get(req, "Host");
        if (!host)
            abort();
    }
    (void)auth_check_host(&pub, req);
    (void)auth_origin_allowed(&lo, req);
    (void)auth_request_has_token(&lo, req);
    if (!auth_request_has_token(&pub, req))
        abort(); /* --no-auth without a token: everything passes */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max_headers = data[0] % (HTTP_MAX_HEADERS + 8);
    size_t max_head = data[1] < 0xf0 ? (size_t)data[1] * 16 + 1 : SIZE_MAX;
    /* An exact-size copy: ASan reports any read past the end of the input. */
    size_t len = size - 2;
    char *buf = malloc(len ? len : 1);
    memcpy(buf, data + 2, len);

    size_t off = 0;
    while (off < len) {
        struct http_request req;
        size_t avail = len - off;
        int r = http_parse_request_max(buf + off, avail, &req, max_headers, max_head);
        if (r == 0 || r == -EBADMSG || r == -E2BIG || r == -EMSGSIZE || r == -EPROTONOSUPPORT) {
            if (r == -EMSGSIZE && avail < (max_head > INT32_MAX ? INT32_MAX : max_head))
                abort();
            break;
        }
        if (r < 0 || (size_t)r > avail || (size_t)r > max_head)
            abort();
        use_request(&req, buf + off, buf + off + r);
        check_auth(&req);
        /* Every prefix of a complete head is incomplete. */
        struct http_request again;
        if (http_parse_request_max(buf + off, (size_t)r - 1, &again, max_headers, max_head) != 0)
            abort();
        off += (size_t)r;
        uint64_t body = 0;
        int cl = http_content_length(&req, &body);
        if (cl != 0 && cl != -EBADMSG && cl != -ENOTSUP)
            abort();
        if (cl < 0)
            break;
        off += body < len - off ? (size_t)body : len - off;
    }
    free(buf);
    return 0;
}
