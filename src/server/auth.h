/* auth: who may use the HTTP side — the token (bearer header or cookie), the Host check
 * that stops DNS rebinding, the Origin check that stops other sites' pages, and the
 * login rate limit. Pure decisions over a parsed request and the configuration; the
 * HTTP connection acts on them. Secrets are compared in constant time. */
#ifndef PTYHUB_AUTH_H
#define PTYHUB_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/http_parse.h"
#include "server/config.h"

/* Compares two byte strings without leaking where they first differ. */
bool auth_secret_equal(const char *a, size_t alen, const char *b, size_t blen);
/* True when the server needs no token (--no-auth) or the request carries it, as
 * `Authorization: Bearer TOKEN` or in the ptyhub_token cookie. */
bool auth_request_has_token(const struct config *cfg, const struct http_request *req);
/* True for a literal loopback address (127.0.0.0/8, ::1) or "localhost" in any case. */
bool auth_host_is_loopback_literal(const char *host, size_t len);
/* Checks the Host header: exactly one, and on a loopback listener only a literal loopback
 * address or localhost (a page on a rebinding domain must not be same-origin with us).
 * Returns 0, or the HTTP status to answer (400 missing/duplicate/malformed, 403 foreign). */
int auth_check_host(const struct config *cfg, const struct http_request *req);
/* True when the request has no Origin (not a browser page), or its Origin is http(s)://
 * with the Host's authority, or one of --allow-origin. */
bool auth_origin_allowed(const struct config *cfg, const struct http_request *req);

/* Failed logins are limited server-wide: a burst of AUTH_LOGIN_BURST, then one per
 * AUTH_LOGIN_INTERVAL_MS. Thread-safe. */
#define AUTH_LOGIN_BURST 10
#define AUTH_LOGIN_INTERVAL_MS 200
/* True when a login attempt may be checked now (now_ms: a monotonic clock). */
bool auth_login_allowed(uint64_t now_ms);
/* Records a failed attempt. */
void auth_login_failed(uint64_t now_ms);

#endif
