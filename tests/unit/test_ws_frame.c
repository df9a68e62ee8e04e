/* test_ws_frame: the RFC 6455 frame codec against the §5.7 examples, every split point,
 * a table of protocol errors, unmasking at every alignment, fragmentation order and
 * close payloads. */
#include "harness.h"

#include "proto/ws_frame.h"

struct frame_case {
    const char *name;
    const uint8_t *bytes;
    size_t len;
    int hdr_len;
    bool fin;
    int opcode;
    bool masked;
    uint64_t payload_len;
    const char *payload; /* unmasked payload, when short enough to spell out */
};

/* RFC 6455 §5.7 examples. */
static const uint8_t ex_text[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
static const uint8_t ex_masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                    0x7f, 0x9f, 0x4d, 0x51, 0x58};
static const uint8_t ex_frag1[] = {0x01, 0x03, 0x48, 0x65, 0x6c};
static const uint8_t ex_frag2[] = {0x80, 0x02, 0x6c, 0x6f};
static const uint8_t ex_ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
static const uint8_t ex_pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
static const uint8_t ex_256[] = {0x82, 0x7e, 0x01, 0x00};
static const uint8_t ex_64k[] = {0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00};
/* Not from the RFC: a non-minimal 16-bit length (accepted), the largest 63-bit length,
 * a masked 64-bit header (14 bytes) and an empty close. */
static const uint8_t ex_nonmin[] = {0x82, 0x7e, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o'};
static const uint8_t ex_max[] = {0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t ex_mask64[] = {0x02, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4};
static const uint8_t ex_close[] = {0x88, 0x00};

#define F(n, a, hl, fin, op, m, pl, pay)                                                           \
    {                                                                                              \
        n, a, sizeof a, hl, fin, op, m, pl, pay                                                    \
    }
static const struct frame_case frame_cases[] = {
    F("unmasked text Hello", ex_text, 2, true, WS_OP_TEXT, false, 5, "Hello"),
    F("masked text Hello", ex_masked, 6, true, WS_OP_TEXT, true, 5, "Hello"),
    F("fragment 1 Hel", ex_frag1, 2, false, WS_OP_TEXT, false, 3, "Hel"),
    F("fragment 2 lo", ex_frag2, 2, true, WS_OP_CONT, false, 2, "lo"),
    F("unmasked ping", ex_ping, 2, true, WS_OP_PING, false, 5, "Hello"),
    F("masked pong", ex_pong, 6, true, WS_OP_PONG, true, 5, "Hello"),
    F("256-byte binary", ex_256, 4, true, WS_OP_BINARY, false, 256, NULL),
    F("64 KiB binary", ex_64k, 10, true, WS_OP_BINARY, false, 65536, NULL),
    F("non-minimal length", ex_nonmin, 4, true, WS_OP_BINARY, false, 5, "hello"),
    F("2^63-1 length", ex_max, 10, true, WS_OP_BINARY, false, UINT64_C(0x7fffffffffffffff), NULL),
    F("masked 64-bit", ex_mask64, 14, false, WS_OP_BINARY, true, 65536, NULL),
    F("empty close", ex_close, 2, true, WS_OP_CLOSE, false, 0, ""),
};

TEST(ws_frame_rfc_examples)
{
    for (size_t c = 0; c < sizeof frame_cases / sizeof frame_cases[0]; c++) {
        const struct frame_case *tc = &frame_cases[c];
        struct ws_frame_hdr h;
        int r = ws_frame_parse(tc->bytes, tc->len, &h);
        CHECK_MSG(r == tc->hdr_len, "%s: parse %d want %d", tc->name, r, tc->hdr_len);
        CHECK_MSG(h.fin == tc->fin && h.opcode == tc->opcode && h.masked == tc->masked,
                  "%s: fields", tc->name);
        CHECK_MSG(h.payload_len == tc->payload_len, "%s: length", tc->name);
        if (tc->masked)
            CHECK_MEM_EQ(h.mask, tc->bytes + tc->hdr_len - 4, 4);
        if (tc->payload) {
            uint8_t pay[16];
            CHECK((size_t)r + h.payload_len == tc->len);
            memcpy(pay, tc->bytes + r, h.payload_len);
            if (h.masked)
                ws_unmask(pay, h.payload_len, h.mask, 0);
            CHECK_MSG(memcmp(pay, tc->payload, h.payload_len) == 0, "%s: payload", tc->name);
        }
        /* Re-encoding gives back the same header, except the non-minimal length. */
        uint8_t out[WS_FRAME_HEADER_MAX];
        int n =
            ws_frame_header_encode(out, h.fin, h.opcode, h.payload_len, h.masked ? h.mask : NULL);
        if (tc->bytes != ex_nonmin) {
            CHECK_MSG(n == tc->hdr_len, "%s: encode %d", tc->name, n);
            CHECK_MEM_EQ(out, tc->bytes, (size_t)n);
        } else {
            CHECK_EQ(n, 2);
        }
    }
}

TEST(ws_frame_every_split_point)
{
    for (size_t c = 0; c < sizeof frame_cases / sizeof frame_cases[0]; c++) {
        const struct frame_case *tc = &frame_cases[c];
        for (size_t cut = 0; cut <= tc->len; cut++) {
            /* A heap copy of exactly cut bytes, so ASan sees any read past the end. */
            uint8_t *p = malloc(cut ? cut : 1);
            memcpy(p, tc->bytes, cut);
            struct ws_frame_hdr h;
            int r = ws_frame_parse(p, cut, &h);
            int want = cut < (size_t)tc->hdr_len ? 0 : tc->hdr_len;
            CHECK_MSG(r == want, "%s cut %zu: %d want %d", tc->name, cut, r, want);
            free(p);
        }
    }
}

TEST(ws_frame_examples_back_to_back)
{
    /* The fragmented "Hel" + "lo" with the masked pong between them, as one stream. */
    uint8_t stream[64];
    size_t n = 0;
    memcpy(stream + n, ex_frag1, sizeof ex_frag1), n += sizeof ex_frag1;
    memcpy(stream + n, ex_pong, sizeof ex_pong), n += sizeof ex_pong;
    memcpy(stream + n, ex_frag2, sizeof ex_frag2), n += sizeof ex_frag2;
    char msg[8];
    size_t msg_len = 0, off = 0, frames = 0;
    bool frag = false;
    while (off < n) {
        struct ws_frame_hdr h;
        int r = ws_frame_parse(stream + off, n - off, &h);
        CHECK(r > 0);
        CHECK_EQ(ws_fragment_step(&frag, &h), 0);
        uint8_t *pay = stream + off + r;
        if (h.masked)
            ws_unmask(pay, h.payload_len, h.mask, 0);
        if (h.opcode == WS_OP_TEXT || h.opcode == WS_OP_CONT) {
            memcpy(msg + msg_len, pay, h.payload_len);
            msg_len += h.payload_len;
        }
        off += (size_t)r + h.payload_len;
        frames++;
    }
    CHECK_EQ(frames, 3);
    CHECK(!frag);
    CHECK_EQ(msg_len, 5);
    CHECK_MEM_EQ(msg, "Hello", 5);
}

struct frame_error_case {
    const char *name;
    uint8_t bytes[10];
    size_t len;
    int want;
};

static const struct frame_error_case frame_errors[] = {
    {"RSV1", {0xc1, 0x00}, 2, WS_ERR_RSV},
    {"RSV2", {0xa1, 0x00}, 2, WS_ERR_RSV},
    {"RSV3", {0x91, 0x00}, 2, WS_ERR_RSV},
    {"opcode 3", {0x83, 0x00}, 2, WS_ERR_OPCODE},
    {"opcode 7", {0x87, 0x00}, 2, WS_ERR_OPCODE},
    {"opcode B", {0x8b, 0x00}, 2, WS_ERR_OPCODE},
    {"opcode F", {0x8f, 0x00}, 2, WS_ERR_OPCODE},
    {"ping 126 bytes", {0x89, 0x7e, 0x00, 0x7e}, 4, WS_ERR_CONTROL_TOO_BIG},
    {"close 127-form", {0x88, 0x7f, 0, 0, 0, 0, 0, 0, 0, 1}, 10, WS_ERR_CONTROL_TOO_BIG},
    {"masked pong 126", {0x8a, 0xfe, 0x00, 0x7e}, 4, WS_ERR_CONTROL_TOO_BIG},
    {"fragmented ping", {0x09, 0x00}, 2, WS_ERR_CONTROL_FRAGMENTED},
    {"fragmented close", {0x08, 0x02, 0x03, 0xe8}, 4, WS_ERR_CONTROL_FRAGMENTED},
    {"64-bit top bit", {0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0}, 10, WS_ERR_LENGTH},
    {"64-bit all ones",
     {0x82, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
     10,
     WS_ERR_LENGTH},
};

TEST(ws_frame_protocol_errors)
{
    for (size_t c = 0; c < sizeof frame_errors / sizeof frame_errors[0]; c++) {
        const struct frame_error_case *tc = &frame_errors[c];
        struct ws_frame_hdr h;
        int r = ws_frame_parse(tc->bytes, tc->len, &h);
        CHECK_MSG(r == tc->want, "%s: %d want %d", tc->name, r, tc->want);
        CHECK(strcmp(ws_frame_strerror(r), "protocol error") != 0);
        for (size_t cut = 0; cut < tc->len; cut++) {
            r = ws_frame_parse(tc->bytes, cut, &h);
            CHECK_MSG(r == 0 || r == tc->want, "%s cut %zu: %d", tc->name, cut, r);
        }
    }
}

TEST(ws_frame_error_codes_are_distinct)
{
    const int errs[] = {
        WS_ERR_RSV,       WS_ERR_OPCODE,          WS_ERR_CONTROL_TOO_BIG, WS_ERR_CONTROL_FRAGMENTED,
        WS_ERR_LENGTH,    WS_ERR_UNEXPECTED_CONT, WS_ERR_EXPECTED_CONT,   WS_ERR_CLOSE_PAYLOAD,
        WS_ERR_CLOSE_UTF8};
    size_t n = sizeof errs / sizeof errs[0];
    for (size_t i = 0; i < n; i++) {
        CHECK(errs[i] < 0);
        for (size_t j = i + 1; j < n; j++) {
            CHECK(errs[i] != errs[j]);
            CHECK(strcmp(ws_frame_strerror(errs[i]), ws_frame_strerror(errs[j])) != 0);
        }
    }
}

/* Byte-at-a-time reference for ws_unmask. */
static void ref_unmask(uint8_t *p, size_t n, const uint8_t key[4], uint64_t offset)
{
    for (size_t i = 0; i < n; i++)
        p[i] ^= key[(offset + i) % 4];
}

TEST(ws_unmask_every_alignment)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    static const uint64_t offsets[] = {0,         1, 2, 3, 4, 5, 6, 7, 8, 13, UINT64_C(0x100000003),
                                       UINT64_MAX};
    uint8_t src[160], a[176], b[176];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)(i * 131 + 7);
    for (size_t align = 0; align < 16; align++) {
        for (size_t n = 0; n <= 140; n++) {
            for (size_t o = 0; o < sizeof offsets / sizeof offsets[0]; o++) {
                memset(a, 0xee, sizeof a);
                memcpy(a + align, src, n);
                memcpy(b, a, sizeof b);
                ws_unmask(a + align, n, key, offsets[o]);
                ref_unmask(b + align, n, key, offsets[o]);
                CHECK_MSG(memcmp(a, b, sizeof a) == 0, "align %zu n %zu offset %zu", align, n, o);
            }
        }
    }
}

TEST(ws_unmask_in_pieces)
{
    static const uint8_t key[4] = {1, 2, 3, 4};
    uint8_t src[100], whole[100], pieces[100];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)(i ^ 0x5a);
    memcpy(whole, src, sizeof src);
    ws_unmask(whole, sizeof whole, key, 0);
    for (size_t a = 0; a <= sizeof src; a++) {
        for (size_t b = a; b <= sizeof src; b += 7) {
            memcpy(pieces, src, sizeof src);
            ws_unmask(pieces, a, key, 0);
            ws_unmask(pieces + a, b - a, key, a);
            ws_unmask(pieces + b, sizeof src - b, key, b);
            CHECK_MSG(memcmp(pieces, whole, sizeof whole) == 0, "cuts %zu %zu", a, b);
        }
    }
    /* Masking twice is the identity. */
    ws_unmask(whole, sizeof whole, key, 0);
    CHECK_MEM_EQ(whole, src, sizeof src);
}

TEST(ws_frame_header_encode_sizes)
{
    static const uint8_t mask[4] = {9, 8, 7, 6};
    struct {
        uint64_t len;
        int size;
    } sizes[] = {{0, 2},     {125, 2},    {126, 4},
                 {65535, 4}, {65536, 10}, {UINT64_C(0x7fffffffffffffff), 10}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t out[WS_FRAME_HEADER_MAX];
        for (int m = 0; m < 2; m++) {
            int n = ws_frame_header_encode(out, true, WS_OP_BINARY, sizes[i].len, m ? mask : NULL);
            CHECK_EQ(n, sizes[i].size + (m ? 4 : 0));
            struct ws_frame_hdr h;
            CHECK_EQ(ws_frame_parse(out, (size_t)n, &h), n);
            CHECK_U64_EQ(h.payload_len, sizes[i].len);
            CHECK(h.fin && h.opcode == WS_OP_BINARY && h.masked == (m == 1));
            if (m)
                CHECK_MEM_EQ(h.mask, mask, 4);
        }
    }
    uint8_t out[WS_FRAME_HEADER_MAX];
    CHECK_EQ(ws_frame_header_encode(out, true, WS_OP_BINARY, UINT64_C(1) << 63, NULL), -EINVAL);
    CHECK_EQ(ws_frame_header_encode(out, true, 3, 0, NULL), -EINVAL);
    CHECK_EQ(ws_frame_header_encode(out, true, 16, 0, NULL), -EINVAL);
    CHECK_EQ(ws_frame_header_encode(out, true, -1, 0, NULL), -EINVAL);
    CHECK_EQ(ws_frame_header_encode(out, true, WS_OP_PING, 126, NULL), -EINVAL);
    CHECK_EQ(ws_frame_header_encode(out, false, WS_OP_CLOSE, 2, NULL), -EINVAL);
    CHECK_EQ(ws_frame_header_encode(out, false, WS_OP_TEXT, 3, NULL), 2);
    CHECK_EQ(out[0], 0x01);
    CHECK_EQ(out[1], 0x03);
}

struct seq_case {
    const char *name;
    const char *frames; /* one frame per char: T/B text/binary, C continuation, P ping;
                           lower case = FIN clear */
    int want;           /* ws_fragment_step result at the last frame */
};

static const struct seq_case seq_cases[] = {
    {"single text", "T", 0},
    {"text, cont, cont", "tcC", 0},
    {"ping between fragments", "tPcPC", 0},
    {"two messages", "TBtC", 0},
    {"continuation first", "C", WS_ERR_UNEXPECTED_CONT},
    {"unfinished continuation first", "c", WS_ERR_UNEXPECTED_CONT},
    {"continuation after a whole message", "TC", WS_ERR_UNEXPECTED_CONT},
    {"text inside fragmented", "tT", WS_ERR_EXPECTED_CONT},
    {"binary inside fragmented", "tcB", WS_ERR_EXPECTED_CONT},
    {"new fragmented inside fragmented", "bt", WS_ERR_EXPECTED_CONT},
};

TEST(ws_fragment_sequences)
{
    for (size_t c = 0; c < sizeof seq_cases / sizeof seq_cases[0]; c++) {
        const struct seq_case *tc = &seq_cases[c];
        bool frag = false;
        size_t n = strlen(tc->frames);
        for (size_t i = 0; i < n; i++) {
            char f = tc->frames[i];
            struct ws_frame_hdr h = {0};
            h.fin = f >= 'A' && f <= 'Z';
            switch (f | 0x20) {
            case 't':
                h.opcode = WS_OP_TEXT;
                break;
            case 'b':
                h.opcode = WS_OP_BINARY;
                break;
            case 'c':
                h.opcode = WS_OP_CONT;
                break;
            default:
                h.opcode = WS_OP_PING;
            }
            bool before = frag;
            int r = ws_fragment_step(&frag, &h);
            if (i + 1 < n) {
                CHECK_MSG(r == 0, "%s: frame %zu: %d", tc->name, i, r);
            } else {
                CHECK_MSG(r == tc->want, "%s: %d want %d", tc->name, r, tc->want);
                if (r)
                    CHECK(frag == before);
            }
        }
    }
}

TEST(ws_close_codes)
{
    struct {
        unsigned code;
        bool valid;
    } codes[] = {{0, false},    {999, false},  {1000, true},  {1001, true},  {1002, true},
                 {1003, true},  {1004, false}, {1005, false}, {1006, false}, {1007, true},
                 {1011, true},  {1012, true},  {1014, true},  {1015, false}, {1016, false},
                 {1100, false}, {2000, false}, {2999, false}, {3000, true},  {3999, true},
                 {4000, true},  {4999, true},  {5000, false}, {65535, false}};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        CHECK_MSG(ws_close_code_valid(codes[i].code) == codes[i].valid, "%u", codes[i].code);
        uint8_t p[2] = {(uint8_t)(codes[i].code >> 8), (uint8_t)codes[i].code};
        uint16_t code = 0;
        const char *reason;
        size_t rlen;
        int r = ws_close_payload_parse(p, 2, &code, &reason, &rlen);
        CHECK_EQ(r, codes[i].valid ? 0 : WS_ERR_CLOSE_PAYLOAD);
        if (codes[i].valid)
            CHECK_EQ(code, codes[i].code);
    }
}

TEST(ws_close_payloads)
{
    uint16_t code = 0;
    const char *reason = NULL;
    size_t rlen = 99;
    CHECK_EQ(ws_close_payload_parse((const uint8_t *)"", 0, &code, &reason, &rlen), 0);
    CHECK_EQ(code, WS_CLOSE_NO_STATUS);
    CHECK_EQ(rlen, 0);
    CHECK_EQ(ws_close_payload_parse((const uint8_t *)"\x03", 1, &code, &reason, &rlen),
             WS_ERR_CLOSE_PAYLOAD);
    CHECK_EQ(ws_close_payload_parse((const uint8_t *)"\x03\xe8"
                                                     "bye",
                                    5, &code, &reason, &rlen),
             0);
    CHECK_EQ(code, 1000);
    CHECK_EQ(rlen, 3);
    CHECK_MEM_EQ(reason, "bye", 3);
    CHECK_EQ(ws_close_payload_parse((const uint8_t *)"\x03\xe8\xce\xba", 4, &code, &reason, &rlen),
             0);
    CHECK_EQ(ws_close_payload_parse((const uint8_t *)"\x03\xe8\xce", 3, &code, &reason, &rlen),
             WS_ERR_CLOSE_UTF8);
    CHECK_EQ(
        ws_close_payload_parse((const uint8_t *)"\x03\xe8\xed\xa0\x80", 5, &code, &reason, &rlen),
        WS_ERR_CLOSE_UTF8);
    CHECK_EQ(ws_close_payload_parse((const uint8_t *)"\x03\xed"
                                                     "x",
                                    3, &code, &reason, &rlen),
             WS_ERR_CLOSE_PAYLOAD); /* 1005 on the wire */

    uint8_t out[WS_CONTROL_PAYLOAD_MAX];
    CHECK_EQ(ws_close_payload_encode(out, 1000, "", 0), 2);
    CHECK_MEM_EQ(out, "\x03\xe8", 2);
    CHECK_EQ(ws_close_payload_encode(out, 1001, "going away", 10), 12);
    CHECK_MEM_EQ(out + 2, "going away", 10);
    CHECK_EQ(ws_close_payload_encode(out, 1005, "", 0), -EINVAL);
    CHECK_EQ(ws_close_payload_encode(out, 1000, "\xff", 1), -EINVAL);
    /* A long reason is cut to 123 bytes on a character boundary: 122 'a' + a 2-byte
     * character straddling the limit leaves 122 bytes. */
    char longr[200];
    memset(longr, 'a', sizeof longr);
    memcpy(longr + 122, "\xce\xba", 2);
    int n = ws_close_payload_encode(out, 1000, longr, sizeof longr);
    CHECK_EQ(n, 2 + 122);
    CHECK_EQ(ws_close_payload_parse(out, (size_t)n, &code, &reason, &rlen), 0);
    memset(longr, 'a', sizeof longr);
    CHECK_EQ(ws_close_payload_encode(out, 4000, longr, sizeof longr), WS_CONTROL_PAYLOAD_MAX);
}
