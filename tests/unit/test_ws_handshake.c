/* test_ws_handshake: Sec-WebSocket-Accept against the RFC 6455 example, key validation,
 * and the upgrade-request checks with the status and message each failure gets. */
#include "harness.h"

#include <errno.h>

#include "proto/ws_handshake.h"

TEST(ws_accept_key_rfc_example)
{
    /* RFC 6455 §1.3 */
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    char out[WS_ACCEPT_KEY_LEN + 1];
    memset(out, 'x', sizeof out);
    CHECK_EQ(ws_accept_key(key, strlen(key), out), 0);
    CHECK_STR_EQ(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /* A second published pair (the MDN handshake guide). */
    key = "x3JJHMbDL1EzLkh9GBhXDw==";
    CHECK_EQ(ws_accept_key(key, strlen(key), out), 0);
    CHECK_STR_EQ(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

TEST(ws_key_validation)
{
    struct {
        const char *key;
        size_t len; /* 0: strlen */
        bool valid;
    } cases[] = {
        {"dGhlIHNhbXBsZSBub25jZQ==", 0, true},
        {"AAAAAAAAAAAAAAAAAAAAAA==", 0, true},
        {"++++//////+++++/////9A==", 0, true},
        {"dGhlIHNhbXBsZSBub25jZQ=", 0, false},   /* 23 characters */
        {"dGhlIHNhbXBsZSBub25jZQ===", 0, false}, /* 25 */
        {"dGhlIHNhbXBsZSBub25jZQAA", 0, false},  /* 18 bytes, no padding */
        {"dGhlIHNhbXBsZSBub25jZ===", 0, false},  /* padding too early */
        {"dGhlIHNhbXBsZSBub25jZQ=A", 0, false},
        {"dGhlIHNhbXBsZSBub25j-Q==", 0, false}, /* base64url is not base64 */
        {"dGhlIHNhbXBsZSBub25j ZQ==", 0, false},
        {"dGhlIHNhbXBsZSBub25jZQ==", 22, false},
        {"", 0, false},
        {"dGhlIHNhbXBs\0SBub25jZQ==", 24, false},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t len = cases[c].len ? cases[c].len : strlen(cases[c].key);
        CHECK_MSG(ws_key_valid(cases[c].key, len) == cases[c].valid, "case %zu", c);
        char out[WS_ACCEPT_KEY_LEN + 1];
        CHECK_EQ(ws_accept_key(cases[c].key, len, out), cases[c].valid ? 0 : -EINVAL);
        if (cases[c].valid)
            CHECK_EQ(strlen(out), WS_ACCEPT_KEY_LEN);
    }
}

#define GOOD_HEADERS                                                                               \
    "Host: 127.0.0.1:7681\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"                        \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

struct hs_case {
    const char *raw;
    enum ws_handshake_result want;
    int status;
};

static const struct hs_case hs_cases[] = {
    {"GET /ws HTTP/1.1\r\n" GOOD_HEADERS "\r\n", WS_HS_OK, 101},
    {"GET /ws HTTP/1.1\r\nhost: h\r\nupgrade: WebSocket\r\nconnection: keep-alive, "
     "upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: "
     "x3JJHMbDL1EzLkh9GBhXDw==\r\n\r\n",
     WS_HS_OK, 101},
    {"POST /ws HTTP/1.1\r\n" GOOD_HEADERS "\r\n", WS_HS_BAD_METHOD, 405},
    {"get /ws HTTP/1.1\r\n" GOOD_HEADERS "\r\n", WS_HS_BAD_METHOD, 405},
    {"GET /ws HTTP/1.0\r\n" GOOD_HEADERS "\r\n", WS_HS_BAD_HTTP_VERSION, 400},
    {"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
     "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
     WS_HS_NO_HOST, 400},
    {"GET /ws HTTP/1.1\r\nHost: a\r\n" GOOD_HEADERS "\r\n", WS_HS_NO_HOST, 400},
    {"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
     "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
     WS_HS_NO_UPGRADE, 400},
    {"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
     "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
     WS_HS_NO_UPGRADE, 400},
    {"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nSec-WebSocket-Key: "
     "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
     WS_HS_NO_CONNECTION, 400},
    {"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
     WS_HS_NO_CONNECTION, 400},
    {"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
     WS_HS_BAD_VERSION, 426},
    {"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
     WS_HS_BAD_VERSION, 426},
    {"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13, 8\r\n\r\n",
     WS_HS_BAD_VERSION, 426},
    {"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     "Sec-WebSocket-Version: 13\r\n\r\n",
     WS_HS_BAD_KEY, 400},
    {"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     "Sec-WebSocket-Key: short==\r\nSec-WebSocket-Version: 13\r\n\r\n",
     WS_HS_BAD_KEY, 400},
    {"GET /ws HTTP/1.1\r\n" GOOD_HEADERS "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n\r\n",
     WS_HS_BAD_KEY, 400},
};

TEST(ws_handshake_requests)
{
    for (size_t c = 0; c < sizeof hs_cases / sizeof hs_cases[0]; c++) {
        const struct hs_case *tc = &hs_cases[c];
        struct http_request req;
        int r = http_parse_request(tc->raw, strlen(tc->raw), &req, HTTP_MAX_HEADERS);
        CHECK_MSG(r == (int)strlen(tc->raw), "case %zu: parse %d", c, r);
        struct http_slice key = {NULL, 0};
        enum ws_handshake_result res = ws_handshake_check(&req, &key);
        CHECK_MSG(res == tc->want, "case %zu: %d (%s) want %d", c, res, ws_handshake_strerror(res),
                  tc->want);
        CHECK_EQ(ws_handshake_http_status(res), tc->status);
        if (res == WS_HS_OK) {
            char accept[WS_ACCEPT_KEY_LEN + 1];
            CHECK_EQ(ws_accept_key(key.p, key.len, accept), 0);
            CHECK(key.p >= tc->raw && key.p + key.len <= tc->raw + r);
        }
    }
    /* The key output is optional. */
    struct http_request req;
    const char *raw = hs_cases[0].raw;
    CHECK(http_parse_request(raw, strlen(raw), &req, HTTP_MAX_HEADERS) > 0);
    CHECK_EQ(ws_handshake_check(&req, NULL), WS_HS_OK);
}

TEST(ws_handshake_messages)
{
    for (int r = WS_HS_OK; r <= WS_HS_BAD_KEY; r++) {
        const char *msg = ws_handshake_strerror((enum ws_handshake_result)r);
        CHECK(msg && strlen(msg) > 10);
        for (int s = r + 1; s <= WS_HS_BAD_KEY; s++)
            CHECK(strcmp(msg, ws_handshake_strerror((enum ws_handshake_result)s)) != 0);
    }
    CHECK(strstr(ws_handshake_strerror(WS_HS_BAD_VERSION), "13") != NULL);
}
