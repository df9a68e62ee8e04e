/* fuzz_ws_frame: libFuzzer target for the WebSocket frame codec and the UTF-8 validator.
 *
 * Input: one byte choosing a split point, then frames back to back. Each header is
 * parsed, checked by re-encoding, run through the fragmentation state machine; each
 * payload is unmasked whole and in two pieces (which must agree), text payloads and
 * close reasons are validated as UTF-8 one-shot, incrementally at the split point, and
 * by a slow reference decoder (all three must agree).
 *
 * Build: clang -Isrc -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *          fuzz/fuzz_ws_frame.c src/proto/ws_frame.c src/proto/utf8.c -o fuzz_ws_frame
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/utf8.h"
#include "proto/ws_frame.h"

/* A slow reference: true when p is complete, valid UTF-8 (RFC 3629). */
static bool ref_utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

/* Checks one-shot, split and reference UTF-8 validation agree on p. */
static void check_utf8(const uint8_t *p, size_t n, size_t split)
{
    bool one = utf8_valid(p, n);
    if (one != ref_utf8_valid(p, n))
        abort();
    if (split > n)
        split = n;
    uint32_t st = UTF8_STATE_INIT;
    int r1 = utf8_validate(&st, p, split);
    int r2 = utf8_validate(&st, p + split, n - split);
    if ((r2 == UTF8_ACCEPT) != one || utf8_state_complete(st) != one)
        abort();
    if (r1 == UTF8_REJECT && r2 != UTF8_REJECT) /* rejection is sticky */
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t split = data[0];
    size_t len = size - 1;
    uint8_t *buf = malloc(len ? len : 1);
    memcpy(buf, data + 1, len);

    bool frag = false;
    uint32_t msg_utf8 = UTF8_STATE_INIT; /* the open text message, validated across frames */
    bool msg_text = false;
    size_t off = 0;
    while (off < len) {
        struct ws_frame_hdr h;
        int r = ws_frame_parse(buf + off, len - off, &h);
        if (r <= 0) {
            if (r < 0 && ws_frame_strerror(r) == NULL)
                abort();
            break;
        }
        if (r < 2 || r > WS_FRAME_HEADER_MAX || (size_t)r > len - off)
            abort();
        /* Re-encoding gives a header that parses to the same fields. */
        uint8_t enc[WS_FRAME_HEADER_MAX];
        int n =
            ws_frame_header_encode(enc, h.fin, h.opcode, h.payload_len, h.masked ? h.mask : NULL);
        struct ws_frame_hdr h2;
        if (n <= 0 || n > r || ws_frame_parse(enc, (size_t)n, &h2) != n || h2.fin != h.fin ||
            h2.opcode != h.opcode || h2.masked != h.masked || h2.payload_len != h.payload_len ||
            memcmp(h2.mask, h.mask, 4) != 0)
            abort();
        int fr = ws_fragment_step(&frag, &h);
        off += (size_t)r;

        size_t plen = h.payload_len < len - off ? (size_t)h.payload_len : len - off;
        uint8_t *pay = buf + off;
        if (h.masked) {
            uint8_t *copy = malloc(plen ? plen : 1);
            memcpy(copy, pay, plen);
            ws_unmask(pay, plen, h.mask, 0);
            size_t cut = plen ? split % (plen + 1) : 0;
            ws_unmask(copy, cut, h.mask, 0);
            ws_unmask(copy + cut, plen - cut, h.mask, cut);
            if (memcmp(copy, pay, plen) != 0)
                abort();
            free(copy);
        }
        check_utf8(pay, plen, split);
        if (h.opcode == WS_OP_CLOSE) {
            uint16_t code;
            const char *reason;
            size_t rlen;
            if (ws_close_payload_parse(pay, plen, &code, &reason, &rlen) == 0) {
                if (rlen > plen || (plen >= 2 && !ws_close_code_valid(code)))
                    abort();
                uint8_t out[WS_CONTROL_PAYLOAD_MAX];
                if (plen >= 2 && ws_close_payload_encode(out, code, reason, rlen) != (int)plen)
                    abort();
            }
        }
        /* A text message validated piece by piece across its frames. */
        if (fr == 0 && (h.opcode == WS_OP_TEXT || h.opcode == WS_OP_CONT)) {
            if (h.opcode == WS_OP_TEXT) {
                msg_utf8 = UTF8_STATE_INIT;
                msg_text = true;
            }
            if (msg_text)
                utf8_validate(&msg_utf8, pay, plen);
            if (h.fin)
                msg_text = false;
        }
        off += plen;
    }
    free(buf);
    return 0;
}
