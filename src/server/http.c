/* http: HTTP/1.1 connections on the reactor.
 *
 * Requests are handled one at a time in arrival order, so pipelined requests get their
 * responses in order. Everything is bounded: a head over 16 KiB or 64 header lines gets
 * 431, a body over 1 MiB 413, a head not complete within --header-timeout 408, a
 * malformed request 400 — each followed by a close — and queued responses above 1 MiB
 * stop the reading of further requests. An idle keep-alive connection is closed after a
 * minute. A WebSocket upgrade hands the socket (with any bytes already read after the
 * request, and the 101 response) to conn.c and frees this object. */
#include "server/http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/bytebuf.h"
#include "core/list.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "proto/ws_handshake.h"
#include "pty/session.h"
#include "server/conn.h"
#include "server/hub.h"
#include "server/web_assets.h"

#define HTTP_MAX_HEAD 16384
#define HTTP_OUT_HIGH (1u << 20)
#define HTTP_IDLE_NS (60ull * 1000 * 1000 * 1000)
#define HTTP_READ_QUANTUM (256u * 1024)

struct http_conn {
    struct worker *w;
    reactor *r;
    int fd;
    reactor_io *io;
    char *in;
    size_t inlen, incap;
    struct bytebuf out; /* queued responses */
    reactor_timer timer;
    reactor_task free_task, move_task;
    bool closing;
    bool close_after_write; /* the last response said Connection: close */
    bool moving;
    bool waiting; /* for room in a session's input queue */
    bool eof;
    bool head_started; /* the header timer runs for the request being received */
    size_t progress;
    struct session_waiter waiter;
    struct list_node track; /* in its worker's list, for teardown */
};

static void http_process(struct http_conn *hc);
static void http_flush(struct http_conn *hc);
static void http_close(struct http_conn *hc, const char *why);
static int http_io_cb(reactor_io *io, unsigned events, void *arg);
static int http_move_task(reactor_task *t, void *arg);
static void http_update_interest(struct http_conn *hc);

struct worker *http_worker(struct http_conn *hc)
{
    return hc->w;
}

size_t *http_progress(struct http_conn *hc)
{
    return &hc->progress;
}

/* ---- responses --------------------------------------------------------------------- */

/* The reason phrase for a status code. */
static const char *http_reason(int status)
{
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

/* Queues a whole response. 204 and 304 carry no body and no Content-Length. */
void http_reply(struct http_conn *hc, int status, const char *ctype, const void *body, size_t len,
                const char *extra)
{
    char head[1024];
    bool bodyless = status == 204 || status == 304 || status == 101;
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\n%s%s%s", status, http_reason(status),
                     hc->close_after_write ? "Connection: close\r\n" : "", extra ? extra : "",
                     status == 101 || (extra && strstr(extra, "Cache-Control:"))
                         ? ""
                         : "Cache-Control: no-store\r\n");
    if (!bodyless)
        n += snprintf(head + n, sizeof head - (size_t)n,
                      "Content-Type: %s\r\nContent-Length: %zu\r\n"
                      "X-Content-Type-Options: nosniff\r\n",
                      ctype ? ctype : "text/plain; charset=utf-8", len);
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    uint8_t *p = bytebuf_reserve(&hc->out, (size_t)n + (bodyless ? 0 : len));
    memcpy(p, head, (size_t)n);
    if (!bodyless && len)
        memcpy(p + n, body, len);
    hc->out.len += (size_t)n + (bodyless ? 0 : len);
}

/* Queues a JSON error body with extra header lines (may be NULL). */
static void http_reply_error_v(struct http_conn *hc, int status, const char *extra,
                               const char *code, const char *fmt, va_list ap)
{
    char msg[512], esc[1100], body[1400];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t j = 0;
    for (const char *p = msg; *p && j + 7 < sizeof esc; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\') {
            esc[j++] = '\\';
            esc[j++] = (char)ch;
        } else if (ch < 0x20) {
            j += (size_t)snprintf(esc + j, sizeof esc - j, "\\u%04x", ch);
        } else {
            esc[j++] = (char)ch;
        }
    }
    esc[j] = '\0';
    int n = snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n", code,
                     esc);
    http_reply(hc, status, "application/json", body, (size_t)n, extra);
}

/* Queues a JSON error body with extra header lines. */
static void http_reply_error_extra(struct http_conn *hc, int status, const char *extra,
                                   const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void http_reply_error_extra(struct http_conn *hc, int status, const char *extra,
                                   const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    http_reply_error_v(hc, status, extra, code, fmt, ap);
    va_end(ap);
}

/* Queues a JSON error body. */
void http_reply_error(struct http_conn *hc, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    http_reply_error_v(hc, status, NULL, code, fmt, ap);
    va_end(ap);
}

/* Queues 405 naming the allowed methods in the Allow header and the message. */
void http_reply_405(struct http_conn *hc, const char *allow)
{
    char extra[128];
    snprintf(extra, sizeof extra, "Allow: %s\r\n", allow);
    http_reply_error_extra(hc, 405, extra, "method_not_allowed", "use %s", allow);
}

/* Answers and closes: for requests we cannot or will not read further. */
static void http_reply_close(struct http_conn *hc, int status, const char *code, const char *msg)
{
    hc->close_after_write = true;
    http_reply_error(hc, status, code, "%s", msg);
}

/* ---- authentication and origin ----------------------------------------------------- */

/* Compares without leaking the position of the first difference. */
static bool secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char d = alen != blen;
    size_t n = alen < blen ? alen : blen;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

/* True when no token is configured, or the request carries it as a bearer token or in
 * the ptyhub_token cookie. */
static bool http_authorized(struct http_conn *hc, const struct http_request *req)
{
    const char *token = hub_config(worker_server(hc->w))->token;
    if (!token || !*token)
        return true;
    size_t tlen = strlen(token);
    const struct http_slice *auth = http_header_get(req, "Authorization");
    if (auth && auth->len > 7 && strncasecmp(auth->p, "Bearer ", 7) == 0 &&
        secret_equal(auth->p + 7, auth->len - 7, token, tlen))
        return true;
    for (size_t i = 0; i < req->num_headers; i++) {
        if (!http_slice_case_eq(req->headers[i].name, "Cookie"))
            continue;
        const char *p = req->headers[i].value.p, *end = p + req->headers[i].value.len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == ';'))
                p++;
            const char *semi = memchr(p, ';', (size_t)(end - p));
            const char *stop = semi ? semi : end;
            if ((size_t)(stop - p) > 13 && memcmp(p, "ptyhub_token=", 13) == 0 &&
                secret_equal(p + 13, (size_t)(stop - p - 13), token, tlen))
                return true;
            p = stop;
        }
    }
    return false;
}

/* WebSocket upgrades from a browser must come from a page of this server (Origin's
 * host:port equal to Host) or from an origin allowed with --allow-origin. Requests
 * without Origin are not from a browser page and pass. */
static bool http_origin_allowed(struct http_conn *hc, const struct http_request *req)
{
    const struct http_slice *origin = http_header_get(req, "Origin");
    if (!origin)
        return true;
    const struct config *cfg = hub_config(worker_server(hc->w));
    for (size_t i = 0; i < cfg->nallow_origins; i++)
        if (http_slice_case_eq(*origin, cfg->allow_origins[i]))
            return true;
    const struct http_slice *host = http_header_get(req, "Host");
    const char *sep = memmem(origin->p, origin->len, "://", 3);
    if (!host || !sep)
        return false;
    struct http_slice ohost = {sep + 3, origin->len - (size_t)(sep + 3 - origin->p)};
    if (ohost.len != host->len)
        return false;
    return strncasecmp(ohost.p, host->p, host->len) == 0;
}

/* Without a token, a loopback server must only answer to loopback host names: otherwise a
 * page whose domain is re-pointed at 127.0.0.1 (DNS rebinding) would be same-origin with
 * it and pass the Origin check. */
static bool http_host_allowed(struct http_conn *hc, const struct http_request *req)
{
    const struct config *cfg = hub_config(worker_server(hc->w));
    char lhost[256], lport[16], host[256];
    if ((cfg->token && *cfg->token) ||
        config_split_hostport(cfg->listen, lhost, sizeof lhost, lport, sizeof lport) < 0 ||
        !config_host_is_loopback(lhost))
        return true;
    const struct http_slice *h = http_header_get(req, "Host");
    if (!h || h->len == 0 || h->len >= sizeof host)
        return false;
    const char *p = h->p, *end = h->p + h->len;
    size_t n;
    if (*p == '[') {
        const char *close = memchr(p, ']', h->len);
        if (!close)
            return false;
        n = (size_t)(close - p - 1);
        memcpy(host, p + 1, n);
    } else {
        const char *colon = memchr(p, ':', h->len);
        n = (size_t)((colon ? colon : end) - p);
        memcpy(host, p, n);
    }
    host[n] = '\0';
    return config_host_is_loopback(host) || strcasecmp(host, lhost) == 0;
}

/* ---- routes handled here: static assets, the WebSocket upgrade ---------------------- */

/* Serves an embedded asset, with ETag revalidation. */
static bool http_serve_asset(struct http_conn *hc, const struct http_request *req)
{
    const struct web_asset *a = web_asset_find(req->path.p, req->path.len);
    if (!a)
        return false;
    const struct http_slice *inm = http_header_get(req, "If-None-Match");
    char extra[256];
    snprintf(extra, sizeof extra,
             "ETag: \"%s\"\r\nCache-Control: no-cache\r\n"
             "Content-Security-Policy: default-src 'self'; "
             "connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'\r\n",
             a->etag);
    if (inm && inm->len == strlen(a->etag) + 2 && memcmp(inm->p + 1, a->etag, inm->len - 2) == 0)
        http_reply(hc, 304, NULL, NULL, 0, extra);
    else
        http_reply(hc, 200, a->content_type, a->data, a->len, extra);
    return true;
}

/* Validates an upgrade and hands the socket to the WebSocket connection layer. */
static enum http_step http_upgrade(struct http_conn *hc, const struct http_request *req,
                                   size_t consumed)
{
    struct http_slice key;
    enum ws_handshake_result hs = ws_handshake_check(req, &key);
    if (hs != WS_HS_OK) {
        int status = ws_handshake_http_status(hs);
        hc->close_after_write = true;
        http_reply(hc, status, "text/plain; charset=utf-8", ws_handshake_strerror(hs),
                   strlen(ws_handshake_strerror(hs)),
                   status == 426 ? "Sec-WebSocket-Version: 13\r\n" : NULL);
        return HTTP_DONE;
    }
    if (!http_origin_allowed(hc, req)) {
        http_reply_close(hc, 403, "forbidden_origin",
                         "WebSocket connections from another site's page are refused; "
                         "allow its origin with --allow-origin");
        return HTTP_DONE;
    }
    char accept[WS_ACCEPT_KEY_LEN + 1];
    if (ws_accept_key(key.p, key.len, accept) < 0) {
        http_reply_close(hc, 400, "bad_key", "invalid Sec-WebSocket-Key");
        return HTTP_DONE;
    }
    char resp[256];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    /* Responses to earlier pipelined requests go first, then the 101. */
    memcpy(bytebuf_reserve(&hc->out, (size_t)n), resp, (size_t)n);
    hc->out.len += (size_t)n;
    reactor_io_free(hc->io);
    hc->io = NULL;
    int rc = conn_start_ws(hc->w, hc->fd, (const uint8_t *)hc->in + consumed, hc->inlen - consumed,
                           hc->out.data + hc->out.head, hc->out.len,
                           hub_config(worker_server(hc->w))->coalesce_ms);
    if (rc < 0) {
        http_close(hc, "cannot start the WebSocket connection");
        return HTTP_STOP;
    }
    hc->fd = -1; /* now the WebSocket connection's, and so is the client slot */
    hc->out.len = 0;
    hc->inlen = 0;
    http_close(hc, "upgraded");
    return HTTP_STOP;
}

/* Routes one complete request. */
static enum http_step http_route(struct http_conn *hc, const struct http_request *req,
                                 const uint8_t *body, size_t blen, size_t consumed)
{
    bool get = http_slice_eq(req->method, "GET") || http_slice_eq(req->method, "HEAD");
    if (!http_host_allowed(hc, req)) {
        http_reply_error(hc, 403, "forbidden_host",
                         "this server answers only to loopback host names without --token");
        return HTTP_DONE;
    }
    if (http_slice_eq(req->path, "/healthz")) {
        if (!get) {
            http_reply_405(hc, "GET, HEAD");
            return HTTP_DONE;
        }
        http_reply(hc, 200, NULL, "ok\n", 3, NULL);
        return HTTP_DONE;
    }
    /* A page of another site must not drive this server through the user's browser: any
     * request that changes state and carries a foreign Origin is refused, as upgrades
     * are (the cookie alone would otherwise authenticate it). */
    if (!get && !http_origin_allowed(hc, req)) {
        http_reply_error(hc, 403, "forbidden_origin",
                         "requests from another site's page are refused; allow its origin "
                         "with --allow-origin");
        return HTTP_DONE;
    }
    bool login = http_slice_eq(req->path, "/api/login");
    bool asset = get && web_asset_find(req->path.p, req->path.len);
    if (!login && !asset && !http_authorized(hc, req)) {
        http_reply_error(hc, 401, "unauthorized",
                         "a token is required: send 'Authorization: Bearer TOKEN' or log in");
        return HTTP_DONE;
    }
    if (http_slice_eq(req->path, "/ws")) {
        if (!http_slice_eq(req->method, "GET")) {
            http_reply_405(hc, "GET");
            return HTTP_DONE;
        }
        return http_upgrade(hc, req, consumed);
    }
    enum http_step step = HTTP_DONE;
    if (api_route(hc, req, body, blen, &step))
        return step;
    if (asset && http_serve_asset(hc, req))
        return HTTP_DONE;
    http_reply_error(hc, 404, "not_found", "no such page: %.*s", (int)req->path.len, req->path.p);
    return HTTP_DONE;
}

/* ---- the connection ---------------------------------------------------------------- */

/* Header timeout (408) or keep-alive idle timeout. */
static int http_timer_cb(reactor_timer *t, void *arg)
{
    (void)t;
    struct http_conn *hc = arg;
    if (hc->head_started && hc->inlen) {
        http_reply_close(hc, 408, "request_timeout", "the request did not arrive in time");
        http_flush(hc);
        if (!hc->closing)
            http_close(hc, "request timeout");
    } else {
        http_close(hc, "idle");
    }
    return 0;
}

/* Arms the right timer for the connection's state. */
static void http_arm_timer(struct http_conn *hc)
{
    /* A request being handled (waiting for input room) is not late. */
    if (hc->closing || hc->moving || hc->waiting)
        return;
    if (hc->inlen && !hc->head_started) {
        hc->head_started = true;
        uint64_t ms = hub_config(worker_server(hc->w))->header_timeout_ms;
        reactor_timer_start(hc->r, &hc->timer, ms * 1000000);
    } else if (!hc->inlen && !hc->head_started && !hc->waiting) {
        reactor_timer_start(hc->r, &hc->timer, HTTP_IDLE_NS);
    }
}

/* Handles complete requests at the head of the input, in order. */
static void http_process(struct http_conn *hc)
{
    while (!hc->closing && !hc->moving && !hc->waiting && !hc->close_after_write && hc->inlen &&
           hc->out.len < HTTP_OUT_HIGH) {
        struct http_request req;
        int n = http_parse_request_max(hc->in, hc->inlen, &req, HTTP_MAX_HEADERS, HTTP_MAX_HEAD);
        if (n == 0)
            break;
        if (n < 0) {
            if (n == -EMSGSIZE || n == -E2BIG)
                http_reply_close(hc, 431, "headers_too_large",
                                 "request head over 16 KiB or 64 header lines");
            else if (n == -EPROTONOSUPPORT)
                http_reply_close(hc, 505, "http_version", "only HTTP/1.x is served");
            else
                http_reply_close(hc, 400, "bad_request", "malformed HTTP request");
            break;
        }
        uint64_t clen = 0;
        int rc = http_content_length(&req, &clen);
        if (rc == -ENOTSUP) {
            http_reply_close(hc, 501, "not_implemented",
                             "Transfer-Encoding is not supported; send Content-Length");
            break;
        }
        if (rc < 0) {
            http_reply_close(hc, 400, "bad_request", "invalid Content-Length");
            break;
        }
        if (clen > HTTP_MAX_BODY) {
            http_reply_close(hc, 413, "body_too_large", "request body over 1 MiB");
            break;
        }
        size_t total = (size_t)n + (size_t)clen;
        if (hc->inlen < total) {
            if (hc->incap < total) {
                hc->incap = total;
                hc->in = xrealloc(hc->in, hc->incap);
            }
            break;
        }
        hc->head_started = false;
        reactor_timer_stop(hc->r, &hc->timer);
        if (!http_keep_alive(&req))
            hc->close_after_write = true;
        enum http_step step =
            http_route(hc, &req, (const uint8_t *)hc->in + n, (size_t)clen, total);
        if (step == HTTP_STOP) {
            if (!hc->closing && !hc->moving && !hc->waiting)
                hc->close_after_write = false; /* handled again later */
            return;
        }
        hc->progress = 0;
        memmove(hc->in, hc->in + total, hc->inlen - total);
        hc->inlen -= total;
    }
    if (!hc->closing && !hc->moving && hc->inlen >= HTTP_MAX_HEAD && !hc->close_after_write &&
        http_parse_request_max(hc->in, hc->inlen, &(struct http_request){0}, HTTP_MAX_HEADERS,
                               HTTP_MAX_HEAD) == 0)
        http_reply_close(hc, 431, "headers_too_large", "request head over 16 KiB");
    http_arm_timer(hc);
}

/* Reads requests until EAGAIN or a quantum; stops at a short read unless the peer has
 * hung up (see conn_read). */
static void http_read(struct http_conn *hc, bool drain)
{
    size_t budget = HTTP_READ_QUANTUM;
    while (budget && !hc->closing && !hc->moving && !hc->eof && !hc->close_after_write &&
           hc->out.len < HTTP_OUT_HIGH) {
        if (hc->inlen == hc->incap) {
            if (hc->incap >= HTTP_MAX_HEAD + HTTP_MAX_BODY)
                break;
            hc->incap = hc->incap ? hc->incap * 2 : 8192;
            hc->in = xrealloc(hc->in, hc->incap);
        }
        size_t space = hc->incap - hc->inlen;
        ssize_t n = read(hc->fd, hc->in + hc->inlen, space);
        if (n > 0) {
            hc->inlen += (size_t)n;
            budget -= (size_t)n < budget ? (size_t)n : budget;
            http_process(hc);
            if ((size_t)n < space && !drain)
                return;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        hc->eof = true;
        return;
    }
    if (budget == 0 && hc->io)
        reactor_io_again(hc->io, REACTOR_READ);
}

/* Writes queued responses; closes when asked to once they are out. */
static void http_flush(struct http_conn *hc)
{
    while (hc->out.len && !hc->closing) {
        ssize_t n = write(hc->fd, hc->out.data + hc->out.head, hc->out.len);
        if (n > 0) {
            bytebuf_consume(&hc->out, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        http_close(hc, "write failed");
        return;
    }
    if (!hc->closing && hc->close_after_write && !hc->moving && !hc->waiting)
        http_close(hc, "Connection: close");
    else if (!hc->closing && hc->eof && !hc->waiting && !hc->moving)
        http_close(hc, "end of input");
}

/* Recomputes what the socket is watched for. */
static void http_update_interest(struct http_conn *hc)
{
    if (hc->closing || hc->moving || !hc->io)
        return;
    unsigned ev = 0;
    if (!hc->eof && !hc->close_after_write && !hc->waiting && hc->out.len < HTTP_OUT_HIGH)
        ev |= REACTOR_READ;
    if (hc->out.len)
        ev |= REACTOR_WRITE;
    reactor_io_set(hc->io, ev);
}

/* Readiness on the socket. */
static int http_io_cb(reactor_io *io, unsigned events, void *arg)
{
    (void)io;
    struct http_conn *hc = arg;
    if (events & (REACTOR_READ | REACTOR_ERR))
        http_read(hc, events & (REACTOR_RDHUP | REACTOR_ERR));
    if (!hc->closing && !hc->moving)
        http_process(hc);
    if (!hc->closing && !hc->moving)
        http_flush(hc);
    http_update_interest(hc);
    return 0;
}

/* Resumes on the new reactor and handles the request that moved it. */
static int http_adopt_post(void *arg)
{
    struct http_conn *hc = arg;
    hc->r = worker_reactor(hc->w);
    hc->moving = false;
    hub_http_track(hc->w, hc, true);
    if (reactor_io_new(hc->r, hc->fd, REACTOR_READ, http_io_cb, hc, &hc->io) < 0) {
        hc->io = NULL;
        http_close(hc, "cannot watch the connection after hand-over");
        return 0;
    }
    http_process(hc);
    http_flush(hc);
    http_update_interest(hc);
    return 0;
}

/* Moves the connection to the worker that owns what the request addresses. */
enum http_step http_move(struct http_conn *hc, struct worker *to)
{
    reactor_io_free(hc->io);
    hc->io = NULL;
    reactor_timer_stop(hc->r, &hc->timer);
    hub_http_track(hc->w, hc, false);
    hc->moving = true;
    hc->w = to;
    /* Published to the other thread at the end of this turn (see conn_move). */
    reactor_task_schedule(hc->r, &hc->move_task);
    return HTTP_STOP;
}

/* Hands a moving connection to its new reactor. */
static int http_move_task(reactor_task *t, void *arg)
{
    (void)t;
    struct http_conn *hc = arg;
    return reactor_post(worker_reactor(hc->w), http_adopt_post, hc);
}

/* The input queue has room again: handle the waiting request again. */
static void http_input_ready(struct session_waiter *w)
{
    struct http_conn *hc = (struct http_conn *)((char *)w - offsetof(struct http_conn, waiter));
    hc->waiting = false;
    http_process(hc);
    http_flush(hc);
    http_update_interest(hc);
}

/* Parks the current request until the session's input queue has room. */
enum http_step http_wait_input(struct http_conn *hc, struct session *s)
{
    hc->waiting = true;
    hc->waiter.ready = http_input_ready;
    session_wait_input(s, &hc->waiter);
    return HTTP_STOP;
}

/* Starts an HTTP connection. */
int http_start(struct worker *w, int fd)
{
    struct http_conn *hc = xcalloc(1, sizeof *hc);
    hc->w = w;
    hc->r = worker_reactor(w);
    hc->fd = fd;
    reactor_timer_init(&hc->timer, http_timer_cb, hc);
    reactor_task_init(&hc->free_task, NULL, hc);
    reactor_task_init(&hc->move_task, http_move_task, hc);
    int rc = reactor_io_new(hc->r, fd, REACTOR_READ, http_io_cb, hc, &hc->io);
    if (rc < 0) {
        free(hc);
        return rc;
    }
    hub_http_track(w, hc, true);
    http_arm_timer(hc);
    return 0;
}

/* Frees a closed connection on a later turn. */
static int http_free_task(reactor_task *t, void *arg)
{
    (void)t;
    struct http_conn *hc = arg;
    hub_http_track(hc->w, hc, false);
    if (hc->fd >= 0) {
        close(hc->fd);
        hub_conn_release(worker_server(hc->w));
    }
    free(hc->in);
    bytebuf_free(&hc->out);
    free(hc);
    return 0;
}

/* Stops everything and frees on a later turn. */
static void http_close(struct http_conn *hc, const char *why)
{
    if (hc->closing)
        return;
    hc->closing = true;
    log_debug("http connection closed: %s", why);
    if (hc->out.len && hc->fd >= 0) {
        ssize_t n = write(hc->fd, hc->out.data + hc->out.head, hc->out.len);
        (void)n;
    }
    session_waiter_cancel(&hc->waiter);
    reactor_io_free(hc->io);
    hc->io = NULL;
    reactor_timer_stop(hc->r, &hc->timer);
    reactor_task_init(&hc->free_task, http_free_task, hc);
    reactor_task_schedule(hc->r, &hc->free_task);
}

/* The connection's node in its worker's list. */
struct list_node *http_track_node(struct http_conn *hc)
{
    return &hc->track;
}

/* Frees every connection of a stopped worker. */
void http_free_all(struct list_node **head)
{
    while (*head) {
        struct http_conn *hc = list_entry(*head, struct http_conn, track);
        http_close(hc, "shutdown");
        reactor_task_cancel(hc->r, &hc->free_task);
        http_free_task(&hc->free_task, hc);
    }
}
