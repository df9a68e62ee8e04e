/* http_parse: the HTTP/1.1 request-head parser and its lookup helpers (see http_parse.h).
 *
 * The parser walks the head once, front to back, and never reads past min(len,
 * max_head). Running out of bytes anywhere means "need more" (or -EMSGSIZE when the
 * limit is what ran out); every check is made as soon as its bytes are present, so the
 * result for a prefix is 0 or the result for the whole input.
 */
#include "proto/http_parse.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

/* ASCII lower-casing that ignores the locale. */
static unsigned char http_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* True for RFC 9110 §5.6.2 tchar: the characters of methods and field names. */
static bool http_is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* True for visible ASCII (VCHAR), the characters of a request-target. */
static bool http_is_vchar(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e;
}

/* True for bytes allowed inside a field value: VCHAR, SP, HTAB and obs-text. */
static bool http_is_field_char(unsigned char c)
{
    return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f);
}

/* True for optional whitespace (OWS). */
static bool http_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Case-insensitive comparison of n bytes. */
static bool http_case_eq_n(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (http_lower((unsigned char)a[i]) != http_lower((unsigned char)b[i]))
            return false;
    return true;
}

/* True when the slice equals s byte for byte. */
bool http_slice_eq(struct http_slice a, const char *s)
{
    size_t n = strlen(s);
    return a.len == n && (n == 0 || memcmp(a.p, s, n) == 0);
}

/* True when the slice equals s ignoring ASCII case. */
bool http_slice_case_eq(struct http_slice a, const char *s)
{
    size_t n = strlen(s);
    return a.len == n && http_case_eq_n(a.p, s, n);
}

/* Splits a target into path and query; 0 or -EBADMSG. */
int http_target_split(struct http_slice target, struct http_slice *path, struct http_slice *query)
{
    const char *t = target.p;
    size_t n = target.len, i = 0;
    if (n == 0 || memchr(t, '#', n))
        return -EBADMSG;
    if (n == 1 && t[0] == '*') { /* asterisk-form (OPTIONS *) */
        *path = target;
        *query = (struct http_slice){NULL, 0};
        return 0;
    }
    if (t[0] != '/') {
        /* absolute-form: scheme "://" authority [path] ["?" query] (RFC 3986 §3) */
        if (!((t[0] >= 'a' && t[0] <= 'z') || (t[0] >= 'A' && t[0] <= 'Z')))
            return -EBADMSG;
        for (i = 1; i < n && t[i] != ':'; i++) {
            unsigned char c = (unsigned char)t[i];
            bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            if (!alnum && c != '+' && c != '-' && c != '.')
                return -EBADMSG;
        }
        if (n - i < 3 || memcmp(t + i, "://", 3) != 0)
            return -EBADMSG;
        i += 3;
        size_t auth = i;
        while (i < n && t[i] != '/' && t[i] != '?')
            i++;
        if (i == auth)
            return -EBADMSG;
    }
    const char *q = memchr(t + i, '?', n - i);
    size_t end = q ? (size_t)(q - t) : n;
    *path = (struct http_slice){t + i, end - i};
    *query = q ? (struct http_slice){q + 1, n - end - 1} : (struct http_slice){NULL, 0};
    return 0;
}

/* Parses a request head, allowing at most max_head bytes for it. */
int http_parse_request_max(const char *buf, size_t len, struct http_request *req,
                           size_t max_headers, size_t max_head)
{
    if (max_head > INT_MAX)
        max_head = INT_MAX;
    if (max_headers > HTTP_MAX_HEADERS)
        max_headers = HTTP_MAX_HEADERS;
    const size_t n = len < max_head ? len : max_head;
    const unsigned char *u = (const unsigned char *)buf;
    size_t i = 0, start;
    req->num_headers = 0;

    /* Empty lines before the request line (a client's stray CRLF after a body). */
    while (i < n && buf[i] == '\r') {
        if (i + 1 == n)
            goto more;
        if (buf[i + 1] != '\n')
            return -EBADMSG;
        i += 2;
    }

    /* method SP */
    for (start = i; i < n && http_is_tchar(u[i]); i++)
        ;
    if (i == n)
        goto more;
    if (i == start || buf[i] != ' ')
        return -EBADMSG;
    req->method = (struct http_slice){buf + start, i - start};
    i++;

    /* request-target SP */
    for (start = i; i < n && http_is_vchar(u[i]); i++)
        ;
    if (i == n)
        goto more;
    if (i == start || buf[i] != ' ')
        return -EBADMSG;
    req->target = (struct http_slice){buf + start, i - start};
    if (http_target_split(req->target, &req->path, &req->query) < 0)
        return -EBADMSG;
    i++;

    /* HTTP-version CRLF: "HTTP/" DIGIT "." DIGIT, checked byte by byte as it arrives */
    static const char version[] = "HTTP/d.d\r\n";
    int major = 0, minor = 0;
    for (size_t k = 0; k < sizeof version - 1; k++, i++) {
        if (i == n)
            goto more;
        char want = version[k], c = buf[i];
        if (want == 'd') {
            if (c < '0' || c > '9')
                return -EBADMSG;
            if (k == 5)
                major = c - '0';
            else
                minor = c - '0';
        } else if (c != want) {
            return -EBADMSG;
        }
        if (k == 7 && major != 1)
            return -EPROTONOSUPPORT;
    }
    req->minor_version = minor;

    /* field-line CRLF ... CRLF */
    for (;;) {
        if (i == n)
            goto more;
        if (buf[i] == '\r') {
            if (i + 1 == n)
                goto more;
            if (buf[i + 1] != '\n')
                return -EBADMSG;
            return (int)(i + 2);
        }
        /* A line starting with whitespace is obs-fold (or junk before the first field):
         * rejected as RFC 9112 §5.2 allows. */
        if (req->num_headers == max_headers)
            return http_is_tchar(u[i]) ? -E2BIG : -EBADMSG;
        struct http_header *h = &req->headers[req->num_headers];

        for (start = i; i < n && http_is_tchar(u[i]); i++)
            ;
        if (i == n)
            goto more;
        if (i == start || buf[i] != ':')
            return -EBADMSG;
        h->name = (struct http_slice){buf + start, i - start};
        i++;

        while (i < n && http_is_ows(buf[i]))
            i++;
        for (start = i; i < n && http_is_field_char(u[i]); i++)
            ;
        if (i == n)
            goto more;
        if (buf[i] != '\r') /* a control character, or a bare LF */
            return -EBADMSG;
        if (i + 1 == n)
            goto more;
        if (buf[i + 1] != '\n')
            return -EBADMSG;
        size_t end = i;
        while (end > start && http_is_ows(buf[end - 1]))
            end--;
        h->value = (struct http_slice){buf + start, end - start};
        req->num_headers++;
        i += 2;
    }

more:
    return len >= max_head ? -EMSGSIZE : 0;
}

/* Parses a request head with the default size limit. */
int http_parse_request(const char *buf, size_t len, struct http_request *req, size_t max_headers)
{
    return http_parse_request_max(buf, len, req, max_headers, HTTP_MAX_HEAD_DEFAULT);
}

/* The value of the first header named name, or NULL. */
const struct http_slice *http_header_get(const struct http_request *req, const char *name)
{
    for (size_t i = 0; i < req->num_headers; i++)
        if (http_slice_case_eq(req->headers[i].name, name))
            return &req->headers[i].value;
    return NULL;
}

/* How many header lines are named name. */
size_t http_header_count(const struct http_request *req, const char *name)
{
    size_t count = 0;
    for (size_t i = 0; i < req->num_headers; i++)
        if (http_slice_case_eq(req->headers[i].name, name))
            count++;
    return count;
}

/* Cuts the next comma-separated element off *list, OWS-trimmed; false when none is left. */
static bool http_list_next(struct http_slice *list, struct http_slice *elem)
{
    if (list->p == NULL)
        return false;
    const char *p = list->p, *end = list->p + list->len;
    const char *comma = memchr(p, ',', list->len);
    const char *stop = comma ? comma : end;
    *list = comma ? (struct http_slice){comma + 1, (size_t)(end - comma - 1)}
                  : (struct http_slice){NULL, 0};
    while (p < stop && http_is_ows(*p))
        p++;
    while (stop > p && http_is_ows(stop[-1]))
        stop--;
    *elem = (struct http_slice){p, (size_t)(stop - p)};
    return true;
}

/* True when a header named name lists token (case-insensitive). */
bool http_header_has_token(const struct http_request *req, const char *name, const char *token)
{
    for (size_t i = 0; i < req->num_headers; i++) {
        if (!http_slice_case_eq(req->headers[i].name, name))
            continue;
        struct http_slice list = req->headers[i].value, elem;
        if (list.p == NULL)
            continue;
        while (http_list_next(&list, &elem))
            if (http_slice_case_eq(elem, token))
                return true;
    }
    return false;
}

/* Parses 1*DIGIT into *out; false on anything else or on overflow. */
static bool http_parse_u64(struct http_slice s, uint64_t *out)
{
    if (s.len == 0)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c < '0' || c > '9')
            return false;
        unsigned d = c - '0';
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* The body length from Content-Length; 0, -EBADMSG or -ENOTSUP. */
int http_content_length(const struct http_request *req, uint64_t *out)
{
    bool have = false;
    uint64_t v = 0;
    for (size_t i = 0; i < req->num_headers; i++) {
        if (!http_slice_case_eq(req->headers[i].name, "Content-Length"))
            continue;
        struct http_slice list = req->headers[i].value, elem;
        if (list.p == NULL)
            return -EBADMSG;
        while (http_list_next(&list, &elem)) {
            uint64_t x;
            if (!http_parse_u64(elem, &x) || (have && x != v))
                return -EBADMSG;
            v = x;
            have = true;
        }
    }
    /* RFC 9112 §6.1 and §6.3: Transfer-Encoding with Content-Length, or in HTTP/1.0,
     * is faulty framing (a smuggling vector); otherwise it is a coding we lack. */
    if (http_header_count(req, "Transfer-Encoding") > 0)
        return (have || req->minor_version == 0) ? -EBADMSG : -ENOTSUP;
    *out = v;
    return 0;
}

/* Whether the connection persists after this request (RFC 9112 §9.3). */
bool http_keep_alive(const struct http_request *req)
{
    if (http_header_has_token(req, "Connection", "close"))
        return false;
    if (req->minor_version >= 1)
        return true;
    return http_header_has_token(req, "Connection", "keep-alive");
}

/* The value of a hex digit, or -1. */
static int http_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = http_lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* True when the raw query key k, decoded ('+' as space, invalid escapes literal), is name. */
static bool http_query_key_eq(struct http_slice k, const char *name)
{
    size_t i = 0, j = 0;
    while (i < k.len) {
        unsigned char c = (unsigned char)k.p[i];
        if (c == '+') {
            c = ' ';
            i++;
        } else if (c == '%' && k.len - i >= 3 && http_hex((unsigned char)k.p[i + 1]) >= 0 &&
                   http_hex((unsigned char)k.p[i + 2]) >= 0) {
            c = (unsigned char)(http_hex((unsigned char)k.p[i + 1]) << 4 |
                                http_hex((unsigned char)k.p[i + 2]));
            i += 3;
        } else {
            i++;
        }
        if (name[j] == '\0' || (unsigned char)name[j] != c)
            return false;
        j++;
    }
    return name[j] == '\0';
}

/* Finds a query parameter's raw value; 0 or -ENOENT. */
int http_query_get(struct http_slice query, const char *name, struct http_slice *value)
{
    if (query.p == NULL)
        return -ENOENT;
    const char *p = query.p, *end = query.p + query.len;
    while (p <= end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        struct http_slice key = {p, (size_t)((eq ? eq : stop) - p)};
        if (key.len > 0 && http_query_key_eq(key, name)) {
            *value = eq ? (struct http_slice){eq + 1, (size_t)(stop - eq - 1)}
                        : (struct http_slice){stop, 0};
            return 0;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    return -ENOENT;
}

/* Percent-decodes src into dst (NUL-terminated); the decoded length or a negative errno. */
ssize_t http_percent_decode(const char *src, size_t len, char *dst, size_t dst_size,
                            bool plus_as_space)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '%') {
            int hi = len - i >= 3 ? http_hex((unsigned char)src[i + 1]) : -1;
            int lo = len - i >= 3 ? http_hex((unsigned char)src[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -EINVAL;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_as_space) {
            c = ' ';
        }
        if (o + 1 >= dst_size)
            return -ENOBUFS;
        dst[o++] = (char)c;
    }
    if (o >= dst_size)
        return -ENOBUFS;
    dst[o] = '\0';
    return (ssize_t)o;
}
