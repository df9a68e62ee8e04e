/* ws_frame: the RFC 6455 §5 WebSocket frame codec.
 *
 * Parsing reads only the frame header (2..14 bytes) and says how long the payload is;
 * the connection layer then takes the payload from its own buffer, unmasks it in as
 * many pieces as it likes (ws_unmask takes the payload offset of the piece), and
 * assembles messages. The protocol rules that can be checked from headers alone are
 * checked here: reserved bits (no extension is ever negotiated), reserved opcodes,
 * control-frame size and fragmentation, the 63-bit length limit, and the ordering of
 * fragments (ws_fragment_step). Pure: no allocation, no I/O.
 *
 * Every negative return below is a protocol error for which the endpoint closes with
 * 1002 (Protocol Error), except WS_ERR_CLOSE_UTF8 (-EILSEQ) from ws_close_payload_parse,
 * which is 1007 (Invalid frame payload data). ws_frame_strerror() gives a short reason
 * that fits in a close frame. Checks that depend on the role or on configuration are
 * left to the caller: a server must fail the connection on an unmasked client frame
 * (§5.1), and answers 1009 to a message larger than it accepts.
 */
#ifndef PTYHUB_WS_FRAME_H
#define PTYHUB_WS_FRAME_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

/* Close status codes (RFC 6455 §7.4.1). 1005 and 1006 are for reporting only and never
 * appear on the wire. */
enum ws_close_code {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL_ERROR = 1002,
    WS_CLOSE_UNSUPPORTED_DATA = 1003,
    WS_CLOSE_NO_STATUS = 1005,
    WS_CLOSE_ABNORMAL = 1006,
    WS_CLOSE_INVALID_PAYLOAD = 1007,
    WS_CLOSE_POLICY_VIOLATION = 1008,
    WS_CLOSE_MESSAGE_TOO_BIG = 1009,
    WS_CLOSE_MANDATORY_EXTENSION = 1010,
    WS_CLOSE_INTERNAL_ERROR = 1011,
    WS_CLOSE_SERVICE_RESTART = 1012,
};

#define WS_FRAME_HEADER_MAX 14     /* 2 + 8 (64-bit length) + 4 (mask key) */
#define WS_CONTROL_PAYLOAD_MAX 125 /* §5.5 */

/* A parsed frame header (a plain value). */
struct ws_frame_hdr {
    bool fin;
    uint8_t opcode; /* enum ws_opcode */
    bool masked;
    uint8_t mask[4]; /* zero when !masked */
    uint64_t payload_len;
};

/* Error returns of this module. All mean close 1002 except WS_ERR_CLOSE_UTF8 (1007). */
enum {
    WS_ERR_RSV = -EPROTO,                 /* RSV1..3 set, no extension negotiated */
    WS_ERR_OPCODE = -EOPNOTSUPP,          /* reserved opcode 0x3..0x7 or 0xB..0xF */
    WS_ERR_CONTROL_TOO_BIG = -EMSGSIZE,   /* control frame payload over 125 bytes */
    WS_ERR_CONTROL_FRAGMENTED = -EBADMSG, /* control frame without FIN */
    WS_ERR_LENGTH = -EOVERFLOW,           /* 64-bit length with the top bit set */
    WS_ERR_UNEXPECTED_CONT = -ENOMSG,     /* continuation frame with no message open */
    WS_ERR_EXPECTED_CONT = -EINPROGRESS,  /* new text/binary frame inside a fragmented one */
    WS_ERR_CLOSE_PAYLOAD = -EDOM,         /* close payload of 1 byte, or a code not to be sent */
    WS_ERR_CLOSE_UTF8 = -EILSEQ,          /* close reason is not UTF-8: close with 1007 */
};

/* Parses a frame header from buf; returns its length (2..14) once the whole header is
 * in buf (the payload need not be), 0 if more bytes are needed, or a WS_ERR_* value.
 * Non-minimal length encodings are accepted. */
int ws_frame_parse(const uint8_t *buf, size_t len, struct ws_frame_hdr *hdr);

/* XORs n payload bytes with the mask key, in place. offset is the position of p[0] in
 * the frame's payload, so a payload may be unmasked in pieces as it arrives. */
void ws_unmask(uint8_t *p, size_t n, const uint8_t key[4], uint64_t offset);

/* Writes a frame header to out and returns its size (2..14), or -EINVAL for an opcode
 * outside enum ws_opcode, a length of 2^63 or more, or a control frame that is
 * fragmented or longer than 125 bytes. Servers pass mask = NULL (§5.1); a non-NULL mask
 * sets the MASK bit and appends the key (clients; the payload is masked separately). */
int ws_frame_header_encode(uint8_t out[WS_FRAME_HEADER_MAX], bool fin, int opcode, uint64_t len,
                           const uint8_t *mask);

/* Checks a new frame against the fragmentation state (§5.4) and advances it:
 * *in_fragmented is true between a non-FIN text/binary frame and the FIN continuation
 * that ends it. Control frames may come in between and leave the state alone. Returns
 * 0, WS_ERR_UNEXPECTED_CONT or WS_ERR_EXPECTED_CONT (state unchanged on error). */
int ws_fragment_step(bool *in_fragmented, const struct ws_frame_hdr *hdr);

/* True for close codes that may appear in a close frame (§7.4): 1000-1003, 1007-1014
 * (1012-1014 are registered with IANA after the RFC) and 3000-4999. */
bool ws_close_code_valid(unsigned code);

/* Parses an (unmasked) close frame payload. An empty payload gives code 1005 and an
 * empty reason. Returns 0, WS_ERR_CLOSE_PAYLOAD for a 1-byte payload or a code that may
 * not be sent (close with 1002), or WS_ERR_CLOSE_UTF8 when the reason is not UTF-8
 * (close with 1007). The reason points into p and is not NUL-terminated. */
int ws_close_payload_parse(const uint8_t *p, size_t n, uint16_t *code, const char **reason,
                           size_t *reason_len);

/* Writes a close payload (code, then the reason cut to fit 125 bytes on a UTF-8
 * character boundary) and returns its size, or -EINVAL if the code may not be sent or
 * the reason is not UTF-8. */
int ws_close_payload_encode(uint8_t out[WS_CONTROL_PAYLOAD_MAX], uint16_t code, const char *reason,
                            size_t reason_len);

/* A short description of a WS_ERR_* value, for logs and close reasons. */
const char *ws_frame_strerror(int err);

#endif
