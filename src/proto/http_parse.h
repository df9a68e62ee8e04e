/* http_parse: an HTTP/1.1 request-head parser in the picohttpparser mould (RFC 9112).
 *
 * http_parse_request() is a pure function over (buf, len): it returns the number of
 * bytes in the complete request head (request line, header lines, empty line), 0 when
 * the head is not complete yet, or a negative errno. Call it again from the start of the
 * buffer when more bytes arrive; after a success the body (if any) and then the next
 * pipelined request start at buf + the returned count. Nothing is allocated: the method,
 * target and header names and values are slices into buf, valid while buf is.
 *
 * The grammar is applied strictly, because a lenient parser in front of a shell is an
 * invitation to request smuggling:
 *   - lines end in CRLF; a bare LF or a bare CR is malformed (RFC 9112 §2.2 permits
 *     either choice; this parser rejects);
 *   - empty lines (CRLF) before the request line are skipped (§2.2);
 *   - exactly one SP between method, target and version; method and header names are
 *     tokens; the target is visible ASCII in origin-form ("/p?q"), absolute-form
 *     ("http://host/p?q") or asterisk-form ("*"), never with a "#fragment";
 *     authority-form (CONNECT) is rejected: ptyhub is not a proxy;
 *   - version "HTTP/1.x"; a well-formed other major version is -EPROTONOSUPPORT (505);
 *   - no whitespace between a field name and its colon (§5.1), no obs-fold (§5.2), no
 *     control characters other than HTAB in field values; OWS around values is trimmed.
 *
 * Errors: -EBADMSG malformed (400), -E2BIG more header lines than max_headers (431),
 * -EMSGSIZE the head does not fit in max_head bytes (431), -EPROTONOSUPPORT (505). An
 * error is reported as soon as the bytes that show it have arrived, so a prefix of an
 * input returns either 0 or the same error as the whole input.
 *
 * Each call re-parses from the start (at most max_head bytes). Against a client that
 * trickles a byte per read, a caller may skip the call until the new bytes contain a
 * '\n' or the buffer holds max_head bytes: a head can only complete at a '\n', and
 * skipping merely delays the report of an error.
 */
#ifndef PTYHUB_HTTP_PARSE_H
#define PTYHUB_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP_MAX_HEADERS 64         /* capacity of struct http_request */
#define HTTP_MAX_HEAD_DEFAULT 16384 /* max_head used by http_parse_request() */

/* A byte range inside the caller's buffer; not NUL-terminated. */
struct http_slice {
    const char *p;
    size_t len;
};

struct http_header {
    struct http_slice name;  /* as sent; compare case-insensitively */
    struct http_slice value; /* leading and trailing OWS removed; may be empty */
};

/* A parsed request head. Only meaningful after http_parse_request() returned > 0. */
struct http_request {
    struct http_slice method; /* case-sensitive token, e.g. "GET" */
    struct http_slice target; /* request-target as sent */
    struct http_slice path;   /* target up to '?' (absolute-form: after the authority) */
    struct http_slice query;  /* after '?'; query.p == NULL when the target has no '?' */
    int minor_version;        /* 0 for HTTP/1.0, 1 for HTTP/1.1 (or the x of a later 1.x) */
    size_t num_headers;
    struct http_header headers[HTTP_MAX_HEADERS];
};

/* Parses a request head with max_head = HTTP_MAX_HEAD_DEFAULT; returns bytes consumed,
 * 0 if incomplete, or a negative errno (see above). max_headers is capped at
 * HTTP_MAX_HEADERS. */
int http_parse_request(const char *buf, size_t len, struct http_request *req, size_t max_headers);

/* Same, with a caller-chosen limit on the head's size in bytes (capped at INT_MAX). */
int http_parse_request_max(const char *buf, size_t len, struct http_request *req,
                           size_t max_headers, size_t max_head);

/* Splits a request-target into path and query (see struct http_request); returns 0, or
 * -EBADMSG when the target is not in origin-, absolute- or asterisk-form. */
int http_target_split(struct http_slice target, struct http_slice *path, struct http_slice *query);

/* True when the slice equals the NUL-terminated string s, byte for byte. */
bool http_slice_eq(struct http_slice a, const char *s);

/* True when the slice equals s ignoring ASCII case. */
bool http_slice_case_eq(struct http_slice a, const char *s);

/* The value of the first header named name (case-insensitive), or NULL. */
const struct http_slice *http_header_get(const struct http_request *req, const char *name);

/* How many header lines are named name (case-insensitive). */
size_t http_header_count(const struct http_request *req, const char *name);

/* True when any header named name holds token as one of its comma-separated elements,
 * compared case-insensitively: http_header_has_token(req, "Connection", "upgrade"). */
bool http_header_has_token(const struct http_request *req, const char *name, const char *token);

/* The request body's length from Content-Length (0 when absent). Returns 0, -EBADMSG
 * (400: a value that is not digits, overflows 64 bits, or differs between repeated
 * fields or list elements; or Transfer-Encoding together with Content-Length, or in an
 * HTTP/1.0 request), or -ENOTSUP (501: Transfer-Encoding, which ptyhub does not decode).
 * Identical repeats ("Content-Length: 5, 5") are accepted (RFC 9110 §8.6). */
int http_content_length(const struct http_request *req, uint64_t *out);

/* Whether the connection stays open after this request: HTTP/1.1 unless
 * "Connection: close"; HTTP/1.0 only with "Connection: keep-alive" (RFC 9112 §9.3). */
bool http_keep_alive(const struct http_request *req);

/* Finds the first parameter of a query string ("a=1&b=2") whose name, percent-decoded
 * with '+' as space, equals name; stores its raw (still encoded) value, empty for "a" or
 * "a=". Returns 0 or -ENOENT. */
int http_query_get(struct http_slice query, const char *name, struct http_slice *value);

/* Percent-decodes src into dst, '+' becoming a space when plus_as_space (query strings),
 * and NUL-terminates it. Returns the decoded length; -EINVAL for a '%' not followed by
 * two hex digits; -ENOBUFS unless dst_size exceeds the decoded length. The result may
 * hold NUL bytes ("%00"): callers wanting a C string check strlen(dst) == the result. */
ssize_t http_percent_decode(const char *src, size_t len, char *dst, size_t dst_size,
                            bool plus_as_space);

#endif
