/* http: HTTP/1.1 connections on the reactor — request heads parsed by the pure
 * proto/http_parse, bodies bounded, keep-alive and pipelining, timeouts, the bearer
 * token / cookie check, static assets, and the upgrade to a WebSocket session-protocol
 * connection (conn.c). REST and operations endpoints are in api.c. */
#ifndef PTYHUB_HTTP_H
#define PTYHUB_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/list.h"
#include "proto/http_parse.h"

struct worker;
struct http_conn;
struct session;

#define HTTP_MAX_BODY (1u << 20) /* request bodies above this get 413 */

/* What a route handler did with the request at the head of the connection. */
enum http_step {
    HTTP_DONE,     /* a response was queued; the next pipelined request may follow */
    HTTP_STOP,     /* the connection moved to another reactor or waits: run it again later */
    HTTP_UPGRADED, /* the link speaks WebSocket now; the HTTP state is gone */
};

/* Starts serving HTTP on an accepted socket, on the calling worker's reactor. */
int http_start(struct worker *w, int fd);

/* For route handlers (api.c). */
struct worker *http_worker(struct http_conn *hc);
/* Queues a complete response. extra: more header lines, each ending in CRLF, or NULL. */
void http_reply(struct http_conn *hc, int status, const char *ctype, const void *body, size_t len,
                const char *extra);
/* Queues {"error":{"code":code,"message":...}}. */
void http_reply_error(struct http_conn *hc, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Queues 405 with the Allow header (RFC 9110 §15.5.6), e.g. allow = "GET, POST". */
void http_reply_405(struct http_conn *hc, const char *allow);
/* Moves the connection to `to`, where the current request is handled again. */
enum http_step http_move(struct http_conn *hc, struct worker *to);
/* Per-request progress a handler may keep across HTTP_STOP (reset for each request). */
size_t *http_progress(struct http_conn *hc);
/* Waits for `room` free bytes in a session's input queue; the request is handled again
 * then (or when the session ends). */
enum http_step http_wait_input(struct http_conn *hc, struct session *s, size_t room);
/* Waits until the session's input offset written to the PTY reaches `offset`; the
 * request is handled again then (or when the session ends). */
enum http_step http_wait_written(struct http_conn *hc, struct session *s, uint64_t offset);

struct screen_wait_params;
/* A long poll: waits on the session's screen (server/screen.h) for the current request.
 * Returns 0 when parked (return HTTP_STOP: the request is handled again once the wait
 * ends), 1 when it is already satisfied, or screen_wait_start's negative errno with err
 * set. Then http_screen_result() gives the outcome (an enum screen_wait_reason). */
int http_wait_screen(struct http_conn *hc, struct session *s, const struct screen_wait_params *p,
                     char *err, size_t errlen);
/* The outcome of the current request's screen wait, once it has one. */
bool http_screen_result(struct http_conn *hc, int *why, uint64_t *offset);

/* Routes REST and operations endpoints (api.c). Returns false when no route matched. */
bool api_route(struct http_conn *hc, const struct http_request *req, const uint8_t *body,
               size_t len, enum http_step *step);

#endif
