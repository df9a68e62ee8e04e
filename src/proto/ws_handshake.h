/* ws_handshake: the server side of the RFC 6455 §4.2 opening handshake, as pure checks.
 *
 * ws_handshake_check() decides whether a parsed HTTP request is a valid WebSocket
 * upgrade and, if not, why (with the HTTP status to answer); ws_accept_key() computes
 * the Sec-WebSocket-Accept value for the 101 response. Checks that depend on
 * configuration (the Origin policy, the path, subprotocols) are the caller's.
 */
#ifndef PTYHUB_WS_HANDSHAKE_H
#define PTYHUB_WS_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/http_parse.h"

#define WS_ACCEPT_KEY_LEN 28 /* base64 of a 20-byte SHA-1 */

/* Why an upgrade request is not acceptable; WS_HS_OK (0) when it is. */
enum ws_handshake_result {
    WS_HS_OK = 0,
    WS_HS_BAD_METHOD,       /* not GET (405) */
    WS_HS_BAD_HTTP_VERSION, /* not HTTP/1.1 or later (400) */
    WS_HS_NO_HOST,          /* no Host header, or more than one (400) */
    WS_HS_NO_UPGRADE,       /* Upgrade does not list "websocket" (400) */
    WS_HS_NO_CONNECTION,    /* Connection does not list "upgrade" (400) */
    WS_HS_BAD_VERSION,      /* Sec-WebSocket-Version missing or not 13 (426, with
                             * "Sec-WebSocket-Version: 13" in the response, §4.4) */
    WS_HS_BAD_KEY,          /* Sec-WebSocket-Key missing, repeated, or not 24 base64
                             * characters encoding 16 bytes (400) */
};

/* Writes the Sec-WebSocket-Accept value for a client key (base64 of SHA-1 of the key
 * and the RFC's GUID) to out as a NUL-terminated 28-character string. Returns 0,
 * -EINVAL when the key is not 24 base64 characters decoding to 16 bytes, or -EIO if
 * the digest fails. */
int ws_accept_key(const char *client_key, size_t len, char out[WS_ACCEPT_KEY_LEN + 1]);

/* True when a Sec-WebSocket-Key value is 22 base64 characters followed by "==". */
bool ws_key_valid(const char *key, size_t len);

/* Checks a request against the §4.2.1 rules, in the order of the enum; on WS_HS_OK,
 * stores the Sec-WebSocket-Key value in *key (if key is not NULL) for ws_accept_key(). */
enum ws_handshake_result ws_handshake_check(const struct http_request *req, struct http_slice *key);

/* The HTTP status to answer with for a result (101 for WS_HS_OK). */
int ws_handshake_http_status(enum ws_handshake_result r);

/* A sentence for the HTTP error body saying what was wrong with the request. */
const char *ws_handshake_strerror(enum ws_handshake_result r);

#endif
