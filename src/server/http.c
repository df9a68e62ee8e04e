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
#include "server/auth.h"
#include "server/conn.h"
#include "server/hub.h"
#include "server/web_assets.h"

#define HTTP_MAX_HEAD 16384
#define HTTP_OUT_HIGH (64u * 1024) /* stop taking requests above this much response */
#define HTTP_PREAUTH_BODY (64u * 1024) /* larger bodies need the token before they are read */
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
    reactor_task free_task, move_task, process_task;
    bool closing;
    bool close_after_write; /* the last response said Connection: close */
    bool req_close;         /* the request being handled asks for Connection: close */
    bool req_head;          /* ... is a HEAD: responses carry no body */
    bool sent_continue;     /* "100 Continue" went out for the request being received */
    bool moving;
    bool waiting; /* for room in a session's input queue */
    bool eof;
    bool read_skipped; /* readable data was left in the kernel (buffer full) */
    bool head_started; /* the header timer runs for the request being received */
    bool authed;       /* a request carried the token: counted as authenticated */
    size_t head_len;   /* length of the complete head at the front of in, 0 if unknown */
    size_t scanned;    /* bytes of in searched for the end of the head */
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
                     hc->close_after_write || hc->req_close ? "Connection: close\r\n" : "",
                     extra ? extra : "",
                     status == 101 || (extra && strstr(extra, "Cache-Control:"))
                         ? ""
                         : "Cache-Control: no-store\r\n");
    if (!bodyless)
        n += snprintf(head + n, sizeof head - (size_t)n,
                      "Content-Type: %s\r\nContent-Length: %zu\r\n"
                      "X-Content-Type-Options: nosniff\r\n",
                      ctype ? ctype : "text/plain; charset=utf-8", len);
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    /* A HEAD response has the GET's headers, Content-Length included, and no body
     * (RFC 9110 §9.3.2). */
    if (hc->req_head)
        bodyless = true;
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
    if (!auth_origin_allowed(hub_config(worker_server(hc->w)), req)) {
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
    const struct config *cfg = hub_config(worker_server(hc->w));
    int host_status = auth_check_host(cfg, req);
    if (host_status == 400) {
        http_reply_close(hc, 400, "bad_host", "exactly one well-formed Host header is required");
        return HTTP_DONE;
    }
    if (host_status) {
        http_reply_error(hc, 403, "forbidden_host",
                         "this server answers only to loopback addresses and localhost");
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
    if (!get && !auth_origin_allowed(cfg, req)) {
        http_reply_error(hc, 403, "forbidden_origin",
                         "requests from another site's page are refused; allow its origin "
                         "with --allow-origin");
        return HTTP_DONE;
    }
    bool login = http_slice_eq(req->path, "/api/login");
    bool asset = get && web_asset_find(req->path.p, req->path.len);
    bool has_token = auth_request_has_token(cfg, req);
    if (has_token && !hc->authed) {
        hc->authed = true;
        hub_http_authed(hc->w);
    }
    if (!login && !asset && !has_token) {
        http_reply_error(hc, 401, "unauthorized",
                         "a token is required: open the URL `ptyhub url` prints, or send "
                         "'Authorization: Bearer TOKEN'");
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

/* Says whether the head at the front of in is worth parsing now: it is complete (its
 * length is then cached), or a line has ended since the last look (an error in it can
 * be reported at once), or it has reached the size limit. Only bytes not looked at
 * before are searched, so a head trickled a byte at a time costs linear work. */
static bool http_head_ready(struct http_conn *hc)
{
    if (hc->head_len)
        return true;
    size_t from = hc->scanned > 3 ? hc->scanned - 3 : 0;
    size_t upto = hc->inlen < HTTP_MAX_HEAD ? hc->inlen : HTTP_MAX_HEAD;
    if (from >= upto)
        return hc->inlen >= HTTP_MAX_HEAD;
    const char *e = memmem(hc->in + from, upto - from, "\r\n\r\n", 4);
    bool line = memchr(hc->in + (hc->scanned < upto ? hc->scanned : from), '\n',
                       upto - (hc->scanned < upto ? hc->scanned : from)) != NULL;
    hc->scanned = upto;
    if (e)
        hc->head_len = (size_t)(e - hc->in) + 4;
    return e || line || hc->inlen >= HTTP_MAX_HEAD;
}

/* True when the request may be answered without the token (the page, /healthz,
 * login): the others are refused before their body is read. */
static bool http_open_route(const struct http_request *req)
{
    bool get = http_slice_eq(req->method, "GET") || http_slice_eq(req->method, "HEAD");
    return http_slice_eq(req->path, "/api/login") || http_slice_eq(req->path, "/healthz") ||
           (get && web_asset_find(req->path.p, req->path.len));
}

/* Handles complete requests at the head of the input, in order. */
static void http_process(struct http_conn *hc)
{
    while (!hc->closing && !hc->moving && !hc->waiting && !hc->close_after_write && hc->inlen &&
           hc->out.len < HTTP_OUT_HIGH) {
        if (!http_head_ready(hc))
            break;
        struct http_request req;
        int n = http_parse_request_max(hc->in, hc->inlen, &req, HTTP_MAX_HEADERS, HTTP_MAX_HEAD);
        if (n == 0) {
            if (hc->inlen >= HTTP_MAX_HEAD)
                http_reply_close(hc, 431, "headers_too_large", "request head over 16 KiB");
            break;
        }
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
        hc->req_close = !http_keep_alive(&req);
        hc->req_head = http_slice_eq(req.method, "HEAD");
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
        const struct config *cfg = hub_config(worker_server(hc->w));
        if (clen > HTTP_PREAUTH_BODY && !http_open_route(&req) &&
            !auth_request_has_token(cfg, &req)) {
            /* Nobody gets to make us hold a large body without the token. */
            http_reply_close(hc, 401, "unauthorized",
                             "a token is required: open the URL `ptyhub url` prints, or send "
                             "'Authorization: Bearer TOKEN'");
            break;
        }
        size_t total = (size_t)n + (size_t)clen;
        if (hc->inlen < total) {
            if (hc->incap < total) {
                hc->incap = total;
                hc->in = xrealloc(hc->in, hc->incap);
            }
            const struct http_slice *expect = http_header_get(&req, "Expect");
            if (expect && http_slice_case_eq(*expect, "100-continue") && !hc->sent_continue &&
                hc->out.len == 0) {
                /* RFC 9110 §10.1.1: tell the client to send the body it holds back. */
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                memcpy(bytebuf_reserve(&hc->out, sizeof cont - 1), cont, sizeof cont - 1);
                hc->out.len += sizeof cont - 1;
                hc->sent_continue = true;
            }
            break;
        }
        hc->head_started = false;
        reactor_timer_stop(hc->r, &hc->timer);
        enum http_step step =
            http_route(hc, &req, (const uint8_t *)hc->in + n, (size_t)clen, total);
        if (step == HTTP_STOP)
            return; /* moved or waiting: handled again, from the same bytes, later */
        /* The response is queued: Connection: close applies from here on. */
        if (hc->req_close)
            hc->close_after_write = true;
        hc->req_close = hc->req_head = hc->sent_continue = false;
        hc->progress = 0;
        hc->head_len = hc->scanned = 0;
        memmove(hc->in, hc->in + total, hc->inlen - total);
        hc->inlen -= total;
    }
    http_arm_timer(hc);
}

/* Reads requests until EAGAIN or a quantum; stops at a short read unless the peer has
 * hung up (see conn_read). The socket stays watched while a request waits or responses
 * pile up, so a client that goes away is noticed at once: its waiting request is
 * abandoned (what was already queued stays queued) and the connection closed. */
static void http_read(struct http_conn *hc, bool drain)
{
    if (drain && (hc->waiting || hc->out.len >= HTTP_OUT_HIGH || hc->inlen == hc->incap)) {
        /* Cannot take more now, and no later edge would tell us it hung up: look. */
        char probe;
        ssize_t n = recv(hc->fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            hc->eof = true;
            http_close(hc, "the client went away");
            return;
        }
    }
    size_t budget = HTTP_READ_QUANTUM;
    while (budget && !hc->closing && !hc->moving && !hc->eof && !hc->close_after_write) {
        if (hc->out.len >= HTTP_OUT_HIGH) {
            hc->read_skipped = true;
            return;
        }
        if (hc->inlen == hc->incap) {
            if (hc->incap >= HTTP_MAX_HEAD + HTTP_MAX_BODY) {
                hc->read_skipped = true;
                return;
            }
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
        if (hc->waiting)
            http_close(hc, "the client went away while its request waited");
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

/* Recomputes what the socket is watched for: always read (to see a hang-up), write
 * while responses are queued; and reads left in the kernel are resumed. */
static void http_update_interest(struct http_conn *hc)
{
    if (hc->closing || hc->moving || !hc->io)
        return;
    unsigned ev = 0;
    if (!hc->eof)
        ev |= REACTOR_READ;
    if (hc->out.len)
        ev |= REACTOR_WRITE;
    reactor_io_set(hc->io, ev);
    if (hc->read_skipped && hc->out.len < HTTP_OUT_HIGH && !hc->waiting &&
        hc->inlen < hc->incap) {
        hc->read_skipped = false;
        reactor_io_again(hc->io, REACTOR_READ);
    }
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

/* Runs the request loop from a task: a wake-up never runs it inline. */
static int http_process_task(reactor_task *t, void *arg)
{
    (void)t;
    struct http_conn *hc = arg;
    if (hc->closing || hc->moving)
        return 0;
    http_process(hc);
    http_flush(hc);
    http_update_interest(hc);
    return 0;
}

/* The input queue has room again: handle the waiting request again (from a task). */
static void http_input_ready(struct session_waiter *w)
{
    struct http_conn *hc = (struct http_conn *)((char *)w - offsetof(struct http_conn, waiter));
    hc->waiting = false;
    reactor_task_schedule(hc->r, &hc->process_task);
}

/* Parks the current request until the session's input queue has `room` bytes free. */
enum http_step http_wait_input(struct http_conn *hc, struct session *s, size_t room)
{
    hc->waiting = true;
    hc->waiter.ready = http_input_ready;
    hc->waiter.kind = SESSION_WAIT_ROOM;
    hc->waiter.amount = room;
    session_wait_input(s, &hc->waiter);
    return HTTP_STOP;
}

/* The pre-auth pool is full: close this worker's oldest connection that has not shown
 * the token (not the new one), so a stream of idle or trickling connections cannot
 * keep the owner's own browser out. */
static void http_evict_oldest_preauth(struct worker *w, struct http_conn *fresh)
{
    struct http_conn *oldest = NULL;
    for (struct list_node *n = hub_http_list(w); n; n = n->next) {
        struct http_conn *hc = list_entry(n, struct http_conn, track);
        if (hc != fresh && !hc->authed && !hc->closing && !hc->moving && !hc->waiting)
            oldest = hc; /* the list is newest first */
    }
    if (!oldest)
        return;
    hub_preauth_evicted(worker_server(w));
    http_close(oldest, "evicted from the full pre-authentication pool");
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
    reactor_task_init(&hc->process_task, http_process_task, hc);
    int rc = reactor_io_new(hc->r, fd, REACTOR_READ, http_io_cb, hc, &hc->io);
    if (rc < 0) {
        free(hc);
        return rc;
    }
    hub_http_track(w, hc, true);
    http_arm_timer(hc);
    if (hub_preauth_add(worker_server(w)))
        http_evict_oldest_preauth(w, hc);
    return 0;
}

/* Frees a closed connection on a later turn. */
static int http_free_task(reactor_task *t, void *arg)
{
    (void)t;
    struct http_conn *hc = arg;
    hub_http_track(hc->w, hc, false);
    if (!hc->authed)
        hub_preauth_remove(worker_server(hc->w));
    if (hc->fd >= 0) {
        close(hc->fd);
        hub_conn_release(worker_server(hc->w), HUB_HTTP);
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
    reactor_task_cancel(hc->r, &hc->process_task);
    reactor_task_cancel(hc->r, &hc->move_task);
    reactor_task_init(&hc->free_task, http_free_task, hc);
    /* Freed at the very end of the turn, after every task that may still name it. */
    reactor_defer(hc->r, &hc->free_task);
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
