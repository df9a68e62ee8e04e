/* ws_frame: RFC 6455 frame headers, unmasking, fragmentation order and close payloads
 * (see ws_frame.h).
 *
 * Base framing (§5.2):
 *    0                   1                   2                   3
 *   |F|R|R|R| opcode|M| len(7)  |  extended length (0, 2 or 8 bytes)  | mask key (0 or 4)
 * len(7) 126 means a 16-bit length follows, 127 a 64-bit one whose top bit must be 0.
 */
#include "proto/ws_frame.h"

#include <string.h>

#include "proto/utf8.h"

/* True for the opcodes RFC 6455 defines. */
static bool ws_opcode_known(unsigned op)
{
    return op <= WS_OP_BINARY || (op >= WS_OP_CLOSE && op <= WS_OP_PONG);
}

/* True for control opcodes (the high bit of the opcode nibble, §5.5). */
static bool ws_opcode_is_control(unsigned op)
{
    return (op & 0x8) != 0;
}

/* Parses a frame header; returns its length, 0 for "need more", or a WS_ERR_* value.
 * Errors are reported as soon as the bytes that show them are present. */
int ws_frame_parse(const uint8_t *buf, size_t len, struct ws_frame_hdr *hdr)
{
    if (len < 1)
        return 0;
    uint8_t b0 = buf[0];
    unsigned op = b0 & 0x0f;
    bool fin = (b0 & 0x80) != 0;
    if (b0 & 0x70)
        return WS_ERR_RSV;
    if (!ws_opcode_known(op))
        return WS_ERR_OPCODE;
    if (ws_opcode_is_control(op) && !fin)
        return WS_ERR_CONTROL_FRAGMENTED;
    if (len < 2)
        return 0;

    uint8_t b1 = buf[1];
    bool masked = (b1 & 0x80) != 0;
    unsigned len7 = b1 & 0x7f;
    if (ws_opcode_is_control(op) && len7 > WS_CONTROL_PAYLOAD_MAX)
        return WS_ERR_CONTROL_TOO_BIG;
    size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    if (ext == 8 && len >= 3 && (buf[2] & 0x80))
        return WS_ERR_LENGTH;
    size_t need = 2 + ext + (masked ? 4 : 0);
    if (len < need)
        return 0;

    uint64_t plen = len7;
    if (ext) {
        plen = 0;
        for (size_t i = 0; i < ext; i++)
            plen = (plen << 8) | buf[2 + i];
    }
    hdr->fin = fin;
    hdr->opcode = (uint8_t)op;
    hdr->masked = masked;
    if (masked)
        memcpy(hdr->mask, buf + 2 + ext, 4);
    else
        memset(hdr->mask, 0, sizeof hdr->mask);
    hdr->payload_len = plen;
    return (int)need;
}

/* XORs n payload bytes with the mask key in place; offset is p[0]'s payload position.
 * The key is spread over a 64-bit word rotated to the offset, so the body of the loop
 * is one load, xor and store per 8 bytes (memcpy keeps unaligned access defined). */
void ws_unmask(uint8_t *p, size_t n, const uint8_t key[4], uint64_t offset)
{
    unsigned rot = (unsigned)(offset & 3);
    uint8_t m[8];
    for (unsigned i = 0; i < 8; i++)
        m[i] = key[(rot + i) & 3];
    uint64_t m64;
    memcpy(&m64, m, sizeof m64);

    size_t i = 0;
    for (; n - i >= 32; i += 32) {
        uint64_t w[4];
        memcpy(w, p + i, sizeof w);
        w[0] ^= m64;
        w[1] ^= m64;
        w[2] ^= m64;
        w[3] ^= m64;
        memcpy(p + i, w, sizeof w);
    }
    for (; n - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, sizeof w);
        w ^= m64;
        memcpy(p + i, &w, sizeof w);
    }
    for (; i < n; i++) /* i is a multiple of 8 here, so m[i & 7] is key[(rot + i) & 3] */
        p[i] ^= m[i & 7];
}

/* Writes a frame header; returns its size or -EINVAL. */
int ws_frame_header_encode(uint8_t out[WS_FRAME_HEADER_MAX], bool fin, int opcode, uint64_t len,
                           const uint8_t *mask)
{
    if (opcode < 0 || !ws_opcode_known((unsigned)opcode) || (len >> 63))
        return -EINVAL;
    if (ws_opcode_is_control((unsigned)opcode) && (!fin || len > WS_CONTROL_PAYLOAD_MAX))
        return -EINVAL;
    size_t n = 0;
    out[n++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    uint8_t mbit = mask ? 0x80 : 0;
    if (len <= 125) {
        out[n++] = (uint8_t)(mbit | len);
    } else if (len <= 0xffff) {
        out[n++] = mbit | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = mbit | 127;
        for (int shift = 56; shift >= 0; shift -= 8)
            out[n++] = (uint8_t)(len >> shift);
    }
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return (int)n;
}

/* Checks a frame against the fragmentation state and advances it (§5.4). */
int ws_fragment_step(bool *in_fragmented, const struct ws_frame_hdr *hdr)
{
    unsigned op = hdr->opcode;
    if (ws_opcode_is_control(op))
        return ws_opcode_known(op) ? 0 : WS_ERR_OPCODE;
    if (!ws_opcode_known(op))
        return WS_ERR_OPCODE;
    if (op == WS_OP_CONT) {
        if (!*in_fragmented)
            return WS_ERR_UNEXPECTED_CONT;
        *in_fragmented = !hdr->fin;
        return 0;
    }
    if (*in_fragmented)
        return WS_ERR_EXPECTED_CONT;
    *in_fragmented = !hdr->fin;
    return 0;
}

/* True for close codes that may be sent in a close frame (§7.4.1, §7.4.2). */
bool ws_close_code_valid(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

/* Parses a close payload into code and reason; 0 or a WS_ERR_CLOSE_* value. */
int ws_close_payload_parse(const uint8_t *p, size_t n, uint16_t *code, const char **reason,
                           size_t *reason_len)
{
    if (n == 0) {
        *code = WS_CLOSE_NO_STATUS;
        *reason = (const char *)p;
        *reason_len = 0;
        return 0;
    }
    if (n == 1)
        return WS_ERR_CLOSE_PAYLOAD;
    uint16_t c = (uint16_t)(p[0] << 8 | p[1]);
    if (!ws_close_code_valid(c))
        return WS_ERR_CLOSE_PAYLOAD;
    if (!utf8_valid(p + 2, n - 2))
        return WS_ERR_CLOSE_UTF8;
    *code = c;
    *reason = (const char *)(p + 2);
    *reason_len = n - 2;
    return 0;
}

/* Writes a close payload with the reason cut on a character boundary; size or -EINVAL. */
int ws_close_payload_encode(uint8_t out[WS_CONTROL_PAYLOAD_MAX], uint16_t code, const char *reason,
                            size_t reason_len)
{
    if (!ws_close_code_valid(code))
        return -EINVAL;
    size_t cut = reason_len;
    if (cut > WS_CONTROL_PAYLOAD_MAX - 2) {
        cut = WS_CONTROL_PAYLOAD_MAX - 2;
        /* reason[cut] is the first byte left out: if it continues a sequence, drop the
         * sequence's start too. */
        while (cut > 0 && ((uint8_t)reason[cut] & 0xc0) == 0x80)
            cut--;
    }
    if (cut && !utf8_valid((const uint8_t *)reason, cut))
        return -EINVAL;
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    if (cut)
        memcpy(out + 2, reason, cut);
    return (int)(2 + cut);
}

/* A short description of a frame error, for logs and close reasons. */
const char *ws_frame_strerror(int err)
{
    switch (err) {
    case WS_ERR_RSV:
        return "reserved bits set";
    case WS_ERR_OPCODE:
        return "reserved opcode";
    case WS_ERR_CONTROL_TOO_BIG:
        return "control frame longer than 125 bytes";
    case WS_ERR_CONTROL_FRAGMENTED:
        return "fragmented control frame";
    case WS_ERR_LENGTH:
        return "payload length over 2^63";
    case WS_ERR_UNEXPECTED_CONT:
        return "continuation frame without a message to continue";
    case WS_ERR_EXPECTED_CONT:
        return "new data frame inside a fragmented message";
    case WS_ERR_CLOSE_PAYLOAD:
        return "invalid close code";
    case WS_ERR_CLOSE_UTF8:
        return "close reason is not UTF-8";
    case 0:
        return "no error";
    default:
        return "protocol error";
    }
}
