/* fuzz_wire: libFuzzer target for the session-protocol codec (src/proto/wire.c).
 *
 * The input is read twice: whole, as one body (the WebSocket case), and as a byte
 * stream of length-prefixed frames (Unix socket, stdio). Every body that decodes is
 * re-encoded; the encoding must reproduce the body byte for byte (except ATTACH's
 * reserved field, which is always encoded as 0) and decode to the same result. LIST_REPLY
 * entries and argv/env blocks are also rebuilt through their own writers; WRITE's data and
 * HELLO's version are checked against their offsets in the body. A PASTE's text goes
 * through paste_encode (bounded output, no bracket marker left inside the bracket), and
 * OPEN must carry exactly CREATE's payload.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "proto/paste.h"
#include "proto/wire.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Rebuilds a LIST_REPLY from its iterated entries and compares it with the body. */
static void check_list_reply(const struct wire_msg *m, const uint8_t *body, size_t len)
{
    uint8_t *buf = malloc(len);
    FUZZ_CHECK(buf);
    struct wire_list_writer w;
    bool ext = m->list_reply.flags & WIRE_LIST_F_EXT; /* version 3 entries */
    FUZZ_CHECK(wire_list_begin_ext(&w, buf, len, false, m->list_reply.req, ext));
    struct wire_list_entry e;
    size_t pos = 0, n = 0;
    while (wire_list_next(&m->list_reply, &pos, &e)) {
        FUZZ_CHECK(wire_list_add(&w, &e));
        n++;
    }
    FUZZ_CHECK(n == m->list_reply.count && pos == m->list_reply.entries.len);
    FUZZ_CHECK(wire_list_finish(&w, m->list_reply.flags & WIRE_LIST_F_MORE) == len);
    /* flags other than MORE and EXT are not produced by the writer */
    FUZZ_CHECK(memcmp(buf, body, 5) == 0 && memcmp(buf + 6, body + 6, len - 6) == 0);
    free(buf);
}

/* Walks a block and repacks its strings; both must agree with the decoded block. */
static void check_block(const struct wire_block *b)
{
    const char *strs[64];
    size_t pos = 0, n = 0;
    const char *s;
    while ((s = wire_block_next(b, &pos)) != NULL) {
        if (n < sizeof strs / sizeof strs[0])
            strs[n] = s;
        n++;
    }
    FUZZ_CHECK(n == b->count && pos == b->len);
    if (n <= sizeof strs / sizeof strs[0]) {
        uint8_t *buf = malloc(b->len + 1);
        FUZZ_CHECK(buf);
        FUZZ_CHECK(wire_block_pack(strs, n, buf, b->len) == b->len);
        FUZZ_CHECK(b->len == 0 || memcmp(buf, b->p, b->len) == 0);
        free(buf);
    }
}

/* Types a PASTE's text both ways: the output stays within PASTE_OUT_MAX, never holds a
 * bare \n, and inside the bracket no ESC[200~ / ESC[201~ is left. */
static void check_paste(const struct wire_msg *m)
{
    size_t n = m->paste.data.len;
    uint8_t *out = malloc(PASTE_OUT_MAX(n));
    FUZZ_CHECK(out);
    for (int bracketed = 0; bracketed < 2; bracketed++) {
        size_t k = paste_encode(m->paste.data.p, n, bracketed, m->paste.flags & 1, out);
        FUZZ_CHECK(k <= PASTE_OUT_MAX(n));
        FUZZ_CHECK(memchr(out, '\n', k) == NULL);
        if (!bracketed)
            continue;
        FUZZ_CHECK(k >= 2 * PASTE_MARK_LEN && memcmp(out, PASTE_START, PASTE_MARK_LEN) == 0);
        size_t end = k - PASTE_MARK_LEN - ((m->paste.flags & 1) ? 1 : 0);
        FUZZ_CHECK(memcmp(out + end, PASTE_END, PASTE_MARK_LEN) == 0);
        for (size_t p = PASTE_MARK_LEN; p + PASTE_MARK_LEN <= end; p++)
            FUZZ_CHECK(memcmp(out + p, PASTE_START, PASTE_MARK_LEN) != 0 &&
                       memcmp(out + p, PASTE_END, PASTE_MARK_LEN) != 0);
    }
    free(out);
}

/* Checks the type-specific helpers against a decoded message. */
static void check_helpers(const struct wire_msg *m, const uint8_t *body, size_t len)
{
    if (m->type == WIRE_LIST_REPLY)
        check_list_reply(m, body, len);
    if (m->type == WIRE_CREATE) {
        check_block(&m->create.argv);
        check_block(&m->create.env);
    }
    if (m->type == WIRE_OUTPUT) {
        uint8_t hdr[WIRE_LEN_PREFIX + WIRE_OUTPUT_HDR];
        size_t h =
            wire_output_header(hdr, false, m->output.sid, m->output.offset, m->output.data.len);
        FUZZ_CHECK(h == WIRE_OUTPUT_HDR && memcmp(hdr, body, h) == 0);
    }
    if (m->type == WIRE_WRITE) /* req, sid, flags, then the data is the rest of the body */
        FUZZ_CHECK(len >= 10 && m->write.data.len == len - 10 &&
                   (m->write.data.len == 0 || m->write.data.p == body + 10) &&
                   wire_msg_req(m) == m->write.req);
    if (m->type == WIRE_WAIT) { /* valid exactly when the range check promises the server */
        bool valid = (m->wait.flags & (WIRE_WAIT_F_TEXT | WIRE_WAIT_F_IDLE)) &&
                     (!(m->wait.flags & WIRE_WAIT_F_TEXT) ||
                      (m->wait.regex.len >= 1 && m->wait.regex.len <= WIRE_WAIT_REGEX_MAX &&
                       !memchr(m->wait.regex.p, 0, m->wait.regex.len))) &&
                     (!(m->wait.flags & WIRE_WAIT_F_IDLE) || m->wait.idle_ms >= 1);
        struct wire_msg again;
        FUZZ_CHECK(valid == (wire_decode(body, len, &again) == 0));
    }
    if (m->type == WIRE_SCREEN_REPLY) /* the data is the rest after the title */
        FUZZ_CHECK(len == WIRE_SCREEN_REPLY_FIXED + 2 + m->screen_reply.title.len +
                              m->screen_reply.data.len);
    if (m->type == WIRE_HELLO) /* any version decodes: the server negotiates */
        FUZZ_CHECK(m->hello.version == (body[5] | body[6] << 8));
    if (m->type == WIRE_PASTE)
        check_paste(m);
    if (m->type == WIRE_OPEN) {
        check_block(&m->open.create.argv);
        check_block(&m->open.create.env);
        FUZZ_CHECK(wire_msg_req(m) == m->open.create.req);
    }
    (void)wire_msg_req(m);
    FUZZ_CHECK(strcmp(wire_type_name(m->type), "unknown") != 0);
}

/* Decodes one body; re-encodes what decodes and checks the round trip. */
static void check_body(const uint8_t *body, size_t len)
{
    struct wire_msg m;
    int rc = wire_decode(body, len, &m);
    if (rc == -EBADMSG)
        return;
    if (rc == -ENOTSUP) {
        FUZZ_CHECK(len > 0 && m.type == body[0]);
        return;
    }
    FUZZ_CHECK(rc == 0 || rc == -EINVAL);
    FUZZ_CHECK(wire_encode(&m, NULL, 0, false) == len);
    uint8_t *enc = malloc(len), *again = malloc(len);
    FUZZ_CHECK(enc && again);
    FUZZ_CHECK(wire_encode(&m, enc, len, false) == len);
    if (m.type == WIRE_ATTACH) /* reserved: any value in, 0 out */
        FUZZ_CHECK(enc[11] == 0 && enc[12] == 0 && memcmp(enc, body, 11) == 0 &&
                   memcmp(enc + 13, body + 13, len - 13) == 0);
    else
        FUZZ_CHECK(memcmp(enc, body, len) == 0);
    struct wire_msg m2;
    FUZZ_CHECK(wire_decode(enc, len, &m2) == rc && m2.type == m.type);
    FUZZ_CHECK(wire_encode(&m2, again, len, false) == len && memcmp(again, enc, len) == 0);
    check_helpers(&m, body, len);
    free(enc);
    free(again);
}

/* Splits the input as a stream and checks every complete frame. */
static void check_stream(const uint8_t *data, size_t size)
{
    const uint8_t *body;
    size_t blen;
    for (;;) {
        ssize_t used = wire_frame_split(data, size, WIRE_MAX_BODY, &body, &blen);
        if (used <= 0) {
            FUZZ_CHECK(used == 0 || used == -EMSGSIZE || used == -EBADMSG);
            return;
        }
        FUZZ_CHECK((size_t)used == blen + WIRE_LEN_PREFIX && (size_t)used <= size);
        FUZZ_CHECK(wire_frame_split(data, (size_t)used - 1, WIRE_MAX_BODY, &body, &blen) == 0);
        check_body(data + WIRE_LEN_PREFIX, (size_t)used - WIRE_LEN_PREFIX);
        data += used;
        size -= (size_t)used;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_body(data, size);
    check_stream(data, size);
    return 0;
}
