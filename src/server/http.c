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
#include "server/link.h"
#include "server/screen.h"
#include "server/sse.h"
#include "server/web_assets.h"

#define HTTP_MAX_HEAD 16384
#define HTTP_OUT_HIGH (64u * 1024)     /* stop taking requests above this much response */
#define HTTP_PREAUTH_BODY (64u * 1024) /* larger bodies need the token before they are read */
#define HTTP_IDLE_NS (60ull * 1000 * 1000 * 1000)
#define HTTP_READ_QUANTUM (256u * 1024)

/* The HTTP layer's state on a link (link.h owns the fds, buffers and lifecycle). */
struct http_conn {
    struct link *l;
    reactor_timer timer;
    reactor_timer send_timer; /* a client that stops taking its responses is dropped */
    bool close_after_write;   /* the last response said Connection: close */
    bool req_close;           /* the request being handled asks for Connection: close */
    bool req_head;            /* ... is a HEAD: responses carry no body */
    bool sent_continue;       /* "100 Continue" went out for the request being received */
    bool waiting;             /* for room in a session's input queue, or a screen wait */
    bool head_started;        /* the header timer runs for the request being received */
    bool authed;              /* a request carried the token: counted as authenticated */
    size_t head_len;          /* length of the complete head at the front of in, 0 if unknown */
    size_t scanned;           /* bytes of in searched for the end of the head */
    size_t progress;
    struct session_waiter waiter;
    struct screen_wait *swait; /* a long poll (POST .../wait) in progress */
    bool swait_done;           /* ... ended: its outcome, for the request handled again */
    int swait_why;
    uint64_t swait_offset;
};

static void http_process(struct http_conn *hc);
static const struct link_ops http_ops;

struct worker *http_worker(struct http_conn *hc)
{
    return hc->l->w;
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
    uint8_t *p = bytebuf_reserve(&hc->l->out, (size_t)n + (bodyless ? 0 : len));
    memcpy(p, head, (size_t)n);
    if (!bodyless && len)
        memcpy(p + n, body, len);
    hc->l->out.len += (size_t)n + (bodyless ? 0 : len);
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
    if (!auth_origin_allowed(hub_config(worker_server(hc->l->w)), req)) {
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
    /* RFC 6455 §4.2.2: the server selects ptyhub.v1 when the client offers it; a client
     * that offers none (every client before it had a name) is served all the same. */
    bool named = false;
    for (size_t i = 0; i < req->num_headers && !named; i++) {
        if (!http_slice_case_eq(req->headers[i].name, "Sec-WebSocket-Protocol"))
            continue;
        const char *p = req->headers[i].value.p, *end = p + req->headers[i].value.len;
        while (p < end && !named) {
            while (p < end && (*p == ' ' || *p == ','))
                p++;
            const char *q = p;
            while (q < end && *q != ',' && *q != ' ')
                q++;
            named = q - p == 9 && memcmp(p, "ptyhub.v1", 9) == 0;
            p = q;
        }
    }
    char resp[320];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
                     accept, named ? "Sec-WebSocket-Protocol: ptyhub.v1\r\n" : "");
    /* Responses to earlier pipelined requests go first, then the 101, then WebSocket
     * frames: the same link carries on with the session-protocol layer, from the bytes
     * that followed the request. */
    memcpy(bytebuf_reserve(&hc->l->out, (size_t)n), resp, (size_t)n);
    hc->l->out.len += (size_t)n;
    struct link *l = hc->l;
    link_consume(l, consumed);
    reactor_timer_stop(l->r, &hc->timer);
    reactor_timer_stop(l->r, &hc->send_timer);
    session_waiter_cancel(&hc->waiter);
    screen_wait_free(hc->swait);
    free(hc);
    conn_adopt_ws(l, hub_config(worker_server(l->w))->coalesce_ms);
    return HTTP_UPGRADED;
}

/* Parses ?kinds=created,exited,... into an event mask (all kinds when absent). Returns
 * false for an unknown name. */
static bool http_event_mask(const struct http_request *req, uint32_t *mask)
{
    static const char *const names[] = {NULL,      "created", "exited", "removed",
                                        "resized", "title",   "dropped"};
    struct http_slice v;
    *mask = 0xffffffffu;
    if (http_query_get(req->query, "kinds", &v) < 0)
        return true;
    *mask = 1u << WIRE_EV_DROPPED; /* always told about losses */
    const char *p = v.p, *end = v.p + v.len;
    while (p < end) {
        const char *q = memchr(p, ',', (size_t)(end - p));
        if (!q)
            q = end;
        bool found = false;
        for (unsigned k = 1; k < sizeof names / sizeof *names; k++)
            if ((size_t)(q - p) == strlen(names[k]) && memcmp(p, names[k], (size_t)(q - p)) == 0) {
                *mask |= 1u << k;
                found = true;
            }
        if (!found)
            return false;
        p = q + 1;
    }
    return true;
}

/* GET /api/events: the response head, then the link becomes an event stream (sse.c);
 * anything pipelined after this request is dropped. */
static enum http_step http_events(struct http_conn *hc, const struct http_request *req,
                                  size_t consumed)
{
    if (!http_slice_eq(req->method, "GET")) {
        http_reply_405(hc, "GET");
        return HTTP_DONE;
    }
    uint32_t mask;
    if (!http_event_mask(req, &mask)) {
        http_reply_error(hc, 400, "bad_argument",
                         "kinds is a comma-separated list of: created, exited, removed, "
                         "resized, title, dropped");
        return HTTP_DONE;
    }
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                               "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                               "Connection: close\r\n\r\n";
    memcpy(bytebuf_reserve(&hc->l->out, sizeof head - 1), head, sizeof head - 1);
    hc->l->out.len += sizeof head - 1;
    struct link *l = hc->l;
    link_consume(l, consumed);
    reactor_timer_stop(l->r, &hc->timer);
    reactor_timer_stop(l->r, &hc->send_timer);
    session_waiter_cancel(&hc->waiter);
    free(hc);
    sse_adopt(l, mask);
    return HTTP_UPGRADED;
}

/* Routes one complete request. */
static enum http_step http_route(struct http_conn *hc, const struct http_request *req,
                                 const uint8_t *body, size_t blen, size_t consumed)
{
    bool get = http_slice_eq(req->method, "GET") || http_slice_eq(req->method, "HEAD");
    const struct config *cfg = hub_config(worker_server(hc->l->w));
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
        hub_http_authed(hc->l->w);
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
    if (http_slice_eq(req->path, "/api/events"))
        return http_events(hc, req, consumed);
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
    if (hc->head_started && hc->l->inlen) {
        http_reply_close(hc, 408, "request_timeout", "the request did not arrive in time");
        link_flush_out(hc->l);
        link_close(hc->l, "request timeout");
    } else {
        link_close(hc->l, "idle");
    }
    return 0;
}

/* The client took nothing of its responses for six header timeouts: drop it. */
static int http_send_timeout_cb(reactor_timer *t, void *arg)
{
    (void)t;
    struct http_conn *hc = arg;
    link_close(hc->l, "the client stopped reading its responses");
    return 0;
}

/* Arms the right timer for the connection's state. */
static void http_arm_timer(struct http_conn *hc)
{
    /* A request being handled (waiting for input room), or requests that arrived and
     * wait for their responses to drain (the send timer watches those), are not late. */
    if (hc->l->closing || hc->l->moving || hc->waiting || hc->l->process_held)
        return;
    if (hc->l->inlen && !hc->head_started) {
        hc->head_started = true;
        uint64_t ms = hub_config(worker_server(hc->l->w))->header_timeout_ms;
        reactor_timer_start(hc->l->r, &hc->timer, ms * 1000000);
    } else if (!hc->l->inlen && !hc->head_started && !hc->waiting) {
        reactor_timer_start(hc->l->r, &hc->timer, HTTP_IDLE_NS);
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
    const char *in = (const char *)hc->l->in;
    size_t from = hc->scanned > 3 ? hc->scanned - 3 : 0; /* a CRLFCRLF may straddle */
    size_t upto = hc->l->inlen < HTTP_MAX_HEAD ? hc->l->inlen : HTTP_MAX_HEAD;
    if (hc->scanned >= upto)
        return hc->l->inlen >= HTTP_MAX_HEAD; /* nothing new to look at */
    const char *e = memmem(in + from, upto - from, "\r\n\r\n", 4);
    bool line = memchr(in + hc->scanned, '\n', upto - hc->scanned) != NULL;
    hc->scanned = upto;
    if (e)
        hc->head_len = (size_t)(e - in) + 4;
    return e || line || hc->l->inlen >= HTTP_MAX_HEAD;
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
    while (!hc->l->closing && !hc->l->moving && !hc->waiting && !hc->close_after_write &&
           hc->l->inlen && hc->l->out.len < HTTP_OUT_HIGH) {
        if (!http_head_ready(hc))
            break;
        struct http_request req;
        int n = http_parse_request_max(((char *)hc->l->in), hc->l->inlen, &req, HTTP_MAX_HEADERS,
                                       HTTP_MAX_HEAD);
        if (n == 0) {
            if (hc->l->inlen >= HTTP_MAX_HEAD)
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
        const struct config *cfg = hub_config(worker_server(hc->l->w));
        if (clen > HTTP_PREAUTH_BODY && !http_open_route(&req) &&
            !auth_request_has_token(cfg, &req)) {
            /* Nobody gets to make us hold a large body without the token. */
            http_reply_close(hc, 401, "unauthorized",
                             "a token is required: open the URL `ptyhub url` prints, or send "
                             "'Authorization: Bearer TOKEN'");
            break;
        }
        size_t total = (size_t)n + (size_t)clen;
        if (hc->l->inlen < total) {
            if (hc->l->in_max < total)
                hc->l->in_max = total; /* bounded: head and body limits were checked */
            if (hc->l->incap < total) {
                hc->l->incap = total;
                hc->l->in = xrealloc(hc->l->in, hc->l->incap);
            }
            const struct http_slice *expect = http_header_get(&req, "Expect");
            if (expect && http_slice_case_eq(*expect, "100-continue") && !hc->sent_continue &&
                hc->l->out.len == 0) {
                /* RFC 9110 §10.1.1: tell the client to send the body it holds back. */
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                memcpy(bytebuf_reserve(&hc->l->out, sizeof cont - 1), cont, sizeof cont - 1);
                hc->l->out.len += sizeof cont - 1;
                hc->sent_continue = true;
                link_want_flush(hc->l);
            }
            break;
        }
        hc->head_started = false;
        reactor_timer_stop(hc->l->r, &hc->timer);
        enum http_step step =
            http_route(hc, &req, (const uint8_t *)((char *)hc->l->in) + n, (size_t)clen, total);
        if (step == HTTP_UPGRADED)
            return; /* hc is gone: the link speaks WebSocket now */
        link_want_flush(hc->l);
        if (step == HTTP_STOP)
            return; /* moved or waiting: handled again, from the same bytes, later */
        /* The response is queued: Connection: close applies from here on. */
        if (hc->req_close)
            hc->close_after_write = true;
        hc->req_close = hc->req_head = hc->sent_continue = false;
        hc->progress = 0;
        hc->swait_done = false;
        hc->head_len = hc->scanned = 0;
        link_consume(hc->l, total);
        hc->l->in_max = HTTP_MAX_HEAD + (hc->authed ? HTTP_MAX_BODY : HTTP_PREAUTH_BODY);
    }
    if (hc->close_after_write || hc->l->closing)
        hc->l->hold_read = true; /* nothing more will be read on this connection */
    else if (hc->l->out.len >= HTTP_OUT_HIGH && hc->l->inlen && !hc->waiting)
        hc->l->process_held = true; /* pipelined requests wait for the responses to drain */
    if (hc->l->out.len)
        link_want_flush(hc->l);
    http_arm_timer(hc);
}

/* ---- the layer on its link ---------------------------------------------------------- */

/* Writes queued responses; closes when the last response said so. */
static void http_flush(struct link *l)
{
    struct http_conn *hc = l->layer;
    size_t before = l->out.len;
    link_flush_out(l);
    if (l->closing)
        return;
    if (l->out.len) {
        /* Responses are waiting for the client: it has six --header-timeout periods (a
         * minute by default) to take some; each bit of progress restarts the clock. */
        if (l->out.len < before || !reactor_timer_active(&hc->send_timer))
            reactor_timer_start(l->r, &hc->send_timer,
                                6 * (uint64_t)hub_config(worker_server(l->w))->header_timeout_ms *
                                    1000000);
        return;
    }
    reactor_timer_stop(l->r, &hc->send_timer);
    if (hc->close_after_write && !hc->waiting)
        link_close(l, "Connection: close");
}

/* The client sent its last byte. A request still waiting (for input-queue room) is
 * abandoned: nobody is left to answer. Otherwise answer what was asked, then close. */
static void http_on_eof(struct link *l)
{
    struct http_conn *hc = l->layer;
    if (hc->waiting) {
        link_close(l, "the client went away while its request waited");
        return;
    }
    hc->close_after_write = true;
    http_flush(l);
}

/* Detaches from what the connection waits for. */
static void http_on_close(struct link *l)
{
    struct http_conn *hc = l->layer;
    session_waiter_cancel(&hc->waiter);
    screen_wait_free(hc->swait);
    hc->swait = NULL;
    reactor_timer_stop(l->r, &hc->timer);
    reactor_timer_stop(l->r, &hc->send_timer);
}

/* Frees the layer's state. */
static void http_on_free(struct link *l)
{
    struct http_conn *hc = l->layer;
    if (!hc->authed)
        hub_preauth_remove(worker_server(l->w));
    free(hc);
}

/* Runs the request loop (after reads, hand-overs and wake-ups). */
static void http_layer_process(struct link *l)
{
    http_process(l->layer);
}

static const struct link_ops http_ops = {
    .name = "http",
    .process = http_layer_process,
    .flush = http_flush,
    .on_eof = http_on_eof,
    .on_close = http_on_close,
    .on_free = http_on_free,
};

/* Moves the connection to the worker that owns what the request addresses; the request
 * is handled again there. */
enum http_step http_move(struct http_conn *hc, struct worker *to)
{
    reactor_timer_stop(hc->l->r, &hc->timer);
    reactor_timer_stop(hc->l->r, &hc->send_timer);
    if (link_move(hc->l, to) < 0)
        return HTTP_DONE;
    return HTTP_STOP;
}

/* The input queue has room again: handle the waiting request again (from a task). */
static void http_input_ready(struct session_waiter *w)
{
    struct http_conn *hc = (struct http_conn *)((char *)w - offsetof(struct http_conn, waiter));
    hc->waiting = false;
    link_wake(hc->l);
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

/* Parks the current request until input up to `offset` has been written to the PTY. */
enum http_step http_wait_written(struct http_conn *hc, struct session *s, uint64_t offset)
{
    hc->waiting = true;
    hc->waiter.ready = http_input_ready;
    hc->waiter.kind = SESSION_WAIT_WRITTEN;
    hc->waiter.amount = offset;
    session_wait_input(s, &hc->waiter);
    return HTTP_STOP;
}

/* A long poll's screen wait ended (from the session's watcher task or a timer): keep the
 * outcome and handle the request again, from a task. */
static void http_screen_done(struct screen_wait *w, void *arg, enum screen_wait_reason why,
                             uint64_t offset)
{
    struct http_conn *hc = arg;
    screen_wait_free(w);
    hc->swait = NULL;
    hc->swait_done = true;
    hc->swait_why = (int)why;
    hc->swait_offset = offset;
    hc->waiting = false;
    link_wake(hc->l);
}

int http_wait_screen(struct http_conn *hc, struct session *s, const struct screen_wait_params *p,
                     char *err, size_t errlen)
{
    enum screen_wait_reason why;
    uint64_t offset;
    int rc = screen_wait_start(s, p, http_screen_done, hc, &hc->swait, &why, &offset, err, errlen);
    if (rc == 1) {
        hc->swait_done = true;
        hc->swait_why = (int)why;
        hc->swait_offset = offset;
    } else if (rc == 0) {
        /* Parked: no header or idle timer runs while waiting, the send timer only while
         * responses are queued, and a client that goes away ends the wait. */
        hc->waiting = true;
    }
    return rc;
}

bool http_screen_result(struct http_conn *hc, int *why, uint64_t *offset)
{
    if (!hc->swait_done)
        return false;
    *why = hc->swait_why;
    *offset = hc->swait_offset;
    return true;
}

/* The pre-auth pool is full: close this worker's oldest connection that has not shown
 * the token (not the new one), so a stream of idle or trickling connections cannot
 * keep the owner's own browser out. */
static void http_evict_oldest_preauth(struct worker *w, struct link *fresh)
{
    struct link *oldest = NULL;
    for (struct list_node *n = hub_link_list(w); n; n = n->next) {
        struct link *l = list_entry(n, struct link, track);
        if (l == fresh || l->ops != &http_ops || l->closing || l->moving)
            continue;
        struct http_conn *hc = l->layer;
        if (!hc->authed && !hc->waiting)
            oldest = l; /* the list is newest first */
    }
    if (!oldest)
        return;
    hub_preauth_evicted(worker_server(w));
    link_close(oldest, "evicted from the full pre-authentication pool");
}

/* Starts an HTTP connection on an accepted socket. */
int http_start(struct worker *w, int fd)
{
    struct http_conn *hc = xcalloc(1, sizeof *hc);
    struct link *l = link_new(w, fd, fd, HUB_HTTP, &http_ops, hc);
    if (!l) {
        free(hc);
        return -ENOMEM;
    }
    hc->l = l;
    l->in_max = HTTP_MAX_HEAD + HTTP_PREAUTH_BODY;
    l->out_high = HTTP_OUT_HIGH;
    reactor_timer_init(&hc->timer, http_timer_cb, hc);
    reactor_timer_init(&hc->send_timer, http_send_timeout_cb, hc);
    if (hub_preauth_add(worker_server(w)))
        http_evict_oldest_preauth(w, l);
    http_arm_timer(hc);
    return 0;
}
