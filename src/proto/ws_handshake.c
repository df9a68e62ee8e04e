/* ws_handshake: upgrade-request checks and Sec-WebSocket-Accept (see ws_handshake.h). */
#include "proto/ws_handshake.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_KEY_LEN 24

/* True for the characters of the base64 alphabet (RFC 4648 §4), padding excluded. */
static bool ws_is_base64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* True when a key is 22 base64 characters and "==", i.e. encodes 16 bytes (§4.1). The
 * unused low bits of the 22nd character are not checked, as browsers and the ws
 * library do not. */
bool ws_key_valid(const char *key, size_t len)
{
    if (len != WS_KEY_LEN || key[22] != '=' || key[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (!ws_is_base64(key[i]))
            return false;
    return true;
}

/* Computes Sec-WebSocket-Accept for a client key; 0, -EINVAL or -EIO. */
int ws_accept_key(const char *client_key, size_t len, char out[WS_ACCEPT_KEY_LEN + 1])
{
    if (!ws_key_valid(client_key, len))
        return -EINVAL;
    unsigned char in[WS_KEY_LEN + sizeof WS_GUID - 1];
    memcpy(in, client_key, WS_KEY_LEN);
    memcpy(in + WS_KEY_LEN, WS_GUID, sizeof WS_GUID - 1);
    unsigned char md[SHA_DIGEST_LENGTH];
    if (SHA1(in, sizeof in, md) == NULL)
        return -EIO;
    /* EVP_EncodeBlock writes 4 * ceil(20 / 3) = 28 characters and a NUL. */
    if (EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH) != WS_ACCEPT_KEY_LEN)
        return -EIO;
    return 0;
}

/* Checks an upgrade request against RFC 6455 §4.2.1; WS_HS_OK or the first failure. */
enum ws_handshake_result ws_handshake_check(const struct http_request *req, struct http_slice *key)
{
    if (!http_slice_eq(req->method, "GET"))
        return WS_HS_BAD_METHOD;
    if (req->minor_version < 1)
        return WS_HS_BAD_HTTP_VERSION;
    if (http_header_count(req, "Host") != 1)
        return WS_HS_NO_HOST;
    if (!http_header_has_token(req, "Upgrade", "websocket"))
        return WS_HS_NO_UPGRADE;
    if (!http_header_has_token(req, "Connection", "upgrade"))
        return WS_HS_NO_CONNECTION;
    const struct http_slice *v = http_header_get(req, "Sec-WebSocket-Version");
    if (!v || http_header_count(req, "Sec-WebSocket-Version") != 1 || !http_slice_eq(*v, "13"))
        return WS_HS_BAD_VERSION;
    const struct http_slice *k = http_header_get(req, "Sec-WebSocket-Key");
    if (!k || http_header_count(req, "Sec-WebSocket-Key") != 1 || !ws_key_valid(k->p, k->len))
        return WS_HS_BAD_KEY;
    if (key)
        *key = *k;
    return WS_HS_OK;
}

/* The HTTP status for a handshake result. */
int ws_handshake_http_status(enum ws_handshake_result r)
{
    switch (r) {
    case WS_HS_OK:
        return 101;
    case WS_HS_BAD_METHOD:
        return 405;
    case WS_HS_BAD_VERSION:
        return 426;
    default:
        return 400;
    }
}

/* What was wrong with the upgrade request, for the error response body. */
const char *ws_handshake_strerror(enum ws_handshake_result r)
{
    switch (r) {
    case WS_HS_OK:
        return "valid WebSocket upgrade";
    case WS_HS_BAD_METHOD:
        return "a WebSocket upgrade must use the GET method";
    case WS_HS_BAD_HTTP_VERSION:
        return "a WebSocket upgrade needs HTTP/1.1";
    case WS_HS_NO_HOST:
        return "a WebSocket upgrade needs exactly one Host header";
    case WS_HS_NO_UPGRADE:
        return "this endpoint speaks WebSocket: send \"Upgrade: websocket\"";
    case WS_HS_NO_CONNECTION:
        return "a WebSocket upgrade needs \"Connection: Upgrade\"";
    case WS_HS_BAD_VERSION:
        return "unsupported WebSocket version: use Sec-WebSocket-Version: 13";
    case WS_HS_BAD_KEY:
        return "Sec-WebSocket-Key must be one base64-encoded 16-byte value";
    }
    return "invalid WebSocket upgrade";
}
