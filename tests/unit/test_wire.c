/* test_wire: the session-protocol codec against byte layouts computed independently from
 * the specification (docs/protocol.md), fed whole, byte by byte and at every split point,
 * and against truncated, over-long, miscounted and out-of-range input. */
#include "harness.h"

#include <errno.h>

#include "proto/paste.h"
#include "proto/wire.h"

#define S(lit)                                                                                     \
    {                                                                                              \
        (const uint8_t *)(lit), sizeof(lit) - 1                                                    \
    }
#define BLOCK(n, lit)                                                                              \
    {                                                                                              \
        (const uint8_t *)(lit), sizeof(lit) - 1, (n)                                               \
    }
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The two LIST_REPLY entries of the "list_reply" golden, as encoded bytes. */
#define LIST_ENTRIES                                                                               \
    "\x05\x00\x00\x00\x93\x10\x00\x00\x01\x02\x03\x00\x03\x00\x00\x00\x00\x00\x00\x00\x50\x00"     \
    "\x18\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00\x68\xe5\xcf\x8b\x01\x00\x00\x01\x00\x74\x07"     \
    "\x00\x73\x68\x20\x2d\x63\x20\x78\x06\x00\x00\x00\xff\xff\xff\xff\x00\x04\x00\x00\xff\xff"     \
    "\xff\xff\x09\x00\x00\x00\x84\x00\x2b\x00\x00\x00\x00\x00\x00\x01\x00\x00\x01\x00\x00\x00"     \
    "\x00\x00\x00\x00\x00\x00\x03\x00\x74\x6f\x70"

/* The entry of the "list_reply_ext" golden (version 3 layout), as encoded bytes. */
#define LIST_EXT_ENTRY                                                                             \
    "\x05\x00\x00\x00\x93\x10\x00\x00\x00\x00\x01\x00\xff\xff\xff\xff\x00\x00\x00\x00\x50\x00"     \
    "\x18\x00\x1a\x00\x00\x00\x00\x00\x00\x00\x00\x68\xe5\xcf\x8b\x01\x00\x00\x01\x00\x74\x07"     \
    "\x00\x73\x68\x20\x2d\x63\x20\x78\x01\x02\x00\x00\x00\xf4\x69\xe5\xcf\x8b\x01\x00\x00\x03"     \
    "\x00\x76\x69\x6d\x0c\x00\x66\x69\x6c\x65\x3a\x2f\x2f\x2f\x74\x6d\x70\x2f"

/* A message and its body as hex, computed with Python's struct module from the spec. */
struct golden {
    const char *name;
    struct wire_msg msg;
    const char *hex;
};

static const struct golden goldens[] = {
    {"hello", {.type = WIRE_HELLO, .hello = {1, 0}}, "015054594801000000"},
    {"hello_ack", {.type = WIRE_HELLO, .hello = {1, WIRE_HELLO_F_ACK}}, "015054594801000100"},
    {"create",
     {.type = WIRE_CREATE,
      .create = {7, 80, 24, S("t"), S("/tmp"), BLOCK(3, "sh\0-c\0printf hello\0"),
                 BLOCK(2, "A=1\0TERM=xterm\0")}},
     "02070000005000180001007404002f746d700300130000007368002d63007072696e74662068656c6c6f"
     "0002000f000000413d31005445524d3d787465726d00"},
    {"create_min",
     {.type = WIRE_CREATE, .create = {1, 0, 0, S(""), S(""), BLOCK(1, "\0"), BLOCK(0, "")}},
     "0201000000000000000000000001000100000000000000000000"},
    {"attach",
     {.type = WIRE_ATTACH,
      .attach = {2, 5, WIRE_MODE_READ_ONLY, WIRE_FROM_TAIL, 0x0102030405060708ull, 100, 30}},
     "03020000000500000001010000080706050403020164001e00"},
    {"detach", {.type = WIRE_DETACH, .detach = {3, 5}}, "040300000005000000"},
    {"input", {.type = WIRE_INPUT, .input = {5, S("ls\r")}}, "05050000006c730d"},
    {"input_empty", {.type = WIRE_INPUT, .input = {5, S("")}}, "0505000000"},
    {"resize", {.type = WIRE_RESIZE, .resize = {5, 120, 40}}, "060500000078002800"},
    {"signal", {.type = WIRE_SIGNAL, .signal = {4, 5, 15}}, "0704000000050000000f"},
    {"list", {.type = WIRE_LIST, .list = {9}}, "0809000000"},
    {"ack", {.type = WIRE_ACK, .ack = {5, 4096}}, "09050000000010000000000000"},
    {"remove", {.type = WIRE_REMOVE, .remove = {10, 5}}, "0a0a00000005000000"},
    {"write", {.type = WIRE_WRITE, .write = {9, 1, 0, S("ls\r")}}, "0b0900000001000000006c730d"},
    {"write_empty", {.type = WIRE_WRITE, .write = {9, 1, 0, S("")}}, "0b090000000100000000"},
    {"write_flags",
     {.type = WIRE_WRITE, .write = {3, 5, 0xff, S("\x00")}},
     "0b0300000005000000ff00"},
    {"welcome",
     {.type = WIRE_WELCOME, .welcome = {1, 0, 4242, S("0.1.0")}},
     "810100000092100000302e312e30"},
    {"welcome_v2",
     {.type = WIRE_WELCOME, .welcome = {2, WIRE_WELCOME_F_WRITE, 4242, S("0.1.0")}},
     "810200010092100000302e312e30"},
    {"created", {.type = WIRE_CREATED, .created = {7, 5, 4243}}, "82070000000500000093100000"},
    {"attached",
     {.type = WIRE_ATTACHED, .attached = {2, 5, 0, 5, 80, 24, WIRE_STATE_RUNNING}},
     "830200000005000000000000000000000005000000000000005000180000"},
    {"ok", {.type = WIRE_OK, .ok = {3}}, "8403000000"},
    {"list_reply",
     {.type = WIRE_LIST_REPLY, .list_reply = {9, WIRE_LIST_F_MORE, 2, S(LIST_ENTRIES)}},
     "850900000001020005000000931000000102030003000000000000005000180005000000000000000068e5"
     "cf8b01000001007407007368202d63207806000000ffffffff00040000ffffffff0900000084002b0000000000"
     "00010000010000000000000000000300746f70"},
    {"list_reply_empty",
     {.type = WIRE_LIST_REPLY, .list_reply = {9, 0, 0, S("")}},
     "8509000000000000"},
    {"output",
     {.type = WIRE_OUTPUT, .output = {5, 0, S("hello")}},
     "9005000000000000000000000068656c6c6f"},
    {"output_bin",
     {.type = WIRE_OUTPUT, .output = {5, 0xfffffffffffffff0ull, S("\x00\xff\x1b\n")}},
     "9005000000f0ffffffffffffff00ff1b0a"},
    {"exit",
     {.type = WIRE_EXIT, .exit = {5, 5, 3, 0}},
     "910500000005000000000000000300000000000000"},
    {"exit_signal",
     {.type = WIRE_EXIT, .exit = {5, 5, -1, 9}},
     "91050000000500000000000000ffffffff09000000"},
    {"gap", {.type = WIRE_GAP, .gap = {5, 10, 20}}, "92050000000a000000000000001400000000000000"},
    {"resized",
     {.type = WIRE_RESIZED, .resized = {5, 120, 40}},
     "93050000007800"
     "2800"},
    {"error",
     {.type = WIRE_ERROR, .error = {2, 5, WIRE_ERR_NO_SUCH_SESSION, S("no session 5")}},
     "e0020000000500000006006e6f2073657373696f6e2035"},
    {"error_empty",
     {.type = WIRE_ERROR, .error = {0, 0, WIRE_ERR_INTERNAL, S("")}},
     "e000000000000000000d00"},
    /* version 3 */
    {"welcome_v3",
     {.type = WIRE_WELCOME, .welcome = {3, 0x3f, 4242, S("0.1.0")}},
     "8103003f0092100000302e312e30"},
    {"open",
     {.type = WIRE_OPEN,
      .open = {WIRE_OPEN_F_ATTACH | WIRE_OPEN_F_HOLD,
               WIRE_MODE_READ_ONLY,
               {7, 80, 24, S(""), S(""), BLOCK(3, "sh\0-c\0yes\0"), BLOCK(0, "")}}},
     "0e070000000301500018000000000003000a0000007368002d630079657300000000000000"},
    {"events", {.type = WIRE_EVENTS, .events = {4, 0x7e}}, "0f040000007e000000"},
    {"paste",
     {.type = WIRE_PASTE, .paste = {9, 1, WIRE_PASTE_F_ENTER, S("a\nb")}},
     "10090000000100000001610a62"},
    {"event_created",
     {.type = WIRE_EVENT,
      .event = {.kind = WIRE_EV_CREATED,
                .sid = 5,
                .time_ms = 0x018bcfe568ull,
                .pid = 4243,
                .cols = 80,
                .rows = 24,
                .name = S("t"),
                .command = S("sh -c x")}},
     "95010500000068e5cf8b01000000931000005000180001007407007368202d632078"},
    {"event_exited",
     {.type = WIRE_EVENT,
      .event = {.kind = WIRE_EV_EXITED,
                .sid = 5,
                .time_ms = 0x018bcfe568ull,
                .code = -1,
                .signal = 9,
                .end = 4096}},
     "95020500000068e5cf8b01000000ffffffff090000000010000000000000"},
    {"event_removed",
     {.type = WIRE_EVENT, .event = {.kind = WIRE_EV_REMOVED, .sid = 5, .time_ms = 0x018bcfe568ull}},
     "95030500000068e5cf8b01000000"},
    {"event_resized",
     {.type = WIRE_EVENT,
      .event =
          {.kind = WIRE_EV_RESIZED, .sid = 5, .time_ms = 0x018bcfe568ull, .cols = 120, .rows = 40}},
     "95040500000068e5cf8b0100000078002800"},
    {"event_title",
     {.type = WIRE_EVENT,
      .event = {.kind = WIRE_EV_TITLE, .sid = 5, .time_ms = 0x018bcfe568ull, .title = S("vim")}},
     "95050500000068e5cf8b01000000030076696d"},
    {"event_dropped",
     {.type = WIRE_EVENT,
      .event = {.kind = WIRE_EV_DROPPED, .sid = 0, .time_ms = 0x018bcfe568ull, .count = 17}},
     "95060000000068e5cf8b0100000011000000"},
    {"event_future",
     {.type = WIRE_EVENT,
      .event = {.kind = 9, .sid = 5, .time_ms = 0x018bcfe568ull, .rest = S("\x01\x02")}},
     "95090500000068e5cf8b010000000102"},
    {"screen", {.type = WIRE_SCREEN, .screen = {4, 5, WIRE_SCREEN_F_ANSI}}, "0c040000000500000001"},
    {"wait",
     {.type = WIRE_WAIT,
      .wait = {6, 5, WIRE_WAIT_F_TEXT | WIRE_WAIT_F_IDLE, 100, 500, 2000, S("\\$ $")}},
     "0d0600000005000000036400000000000000f4010000d00700005c242024"},
    {"wait_idle",
     {.type = WIRE_WAIT, .wait = {6, 5, WIRE_WAIT_F_IDLE, 0, 250, 0, S("")}},
     "0d0600000005000000020000000000000000fa00000000000000"},
    {"screen_reply",
     {.type = WIRE_SCREEN_REPLY,
      .screen_reply = {4, 5, 26, 80, 24, 3, 1,
                       WIRE_SCREEN_F_CURSOR_VISIBLE | WIRE_SCREEN_F_ALTSCREEN, 0x0a05, S("vim"),
                       S("hi\nthere")}},
     "8604000000050000001a00000000000000500018000300010003050a0000030076696d68690a7468657265"},
    {"waited",
     {.type = WIRE_WAITED, .waited = {6, 5, WIRE_WAITED_TEXT, 26}},
     "870600000005000000011a00000000000000"},
    {"snapshot",
     {.type = WIRE_SNAPSHOT,
      .snapshot = {5, 26,
                   S("\x1b"
                     "c\x1b[1;1Hhi")}},
     "94050000001a000000000000001b631b5b313b31486869"},
    {"attach_snapshot",
     {.type = WIRE_ATTACH, .attach = {2, 5, WIRE_MODE_INTERACTIVE, WIRE_FROM_SNAPSHOT, 0, 80, 24}},
     "03020000000500000000030000000000000000000050001800"},
    {"list_reply_ext",
     {.type = WIRE_LIST_REPLY, .list_reply = {9, WIRE_LIST_F_EXT, 1, S(LIST_EXT_ENTRY)}},
     "8509000000020100050000009310000000000100ffffffff00000000500018001a000000000000000068e5cf8b"
     "01000001007407007368202d6320780102000000f469e5cf8b010000030076696d0c0066696c653a2f2f2f746d"
     "702f"},
};

/* A hand-built body and what wire_decode must say about it. */
struct decode_case {
    const char *name;
    const char *hex;
    int rc;
};

static const struct decode_case decode_cases[] = {
    {"argc_more_than_strings", "02070000005000180001007401002f020003000000736800000000000000",
     -EBADMSG},
    {"argc_fewer_than_strings", "02070000005000180001007401002f01000400000061006200000000000000",
     -EBADMSG},
    {"argv_no_nul", "02070000005000180001007401002f010003000000616263000000000000", -EBADMSG},
    {"argv_unterminated_tail", "02070000005000180001007401002f010003000000610062000000000000",
     -EBADMSG},
    {"argv_len_past_end", "02070000005000180001007401002f010064000000736800000000000000", -EBADMSG},
    {"argv_len_short", "02070000005000180001007401002f010002000000736800000000000000", -EBADMSG},
    {"argc0_with_bytes", "02070000005000180001007401002f0000020000006100000000000000", -EBADMSG},
    {"envc_more_than_strings",
     "02070000005000180001007401002f010003000000736800020004000000413d3100", -EBADMSG},
    {"envc_fewer_than_strings",
     "02070000005000180001007401002f010003000000736800000004000000413d3100", -EBADMSG},
    {"env_len_past_end", "02070000005000180001007401002f010003000000736800010005000000413d3100",
     -EBADMSG},
    {"env_missing", "02070000005000180001007401002f010003000000736800", -EBADMSG},
    {"name_len_past_end", "020700000050001800c800616263", -EBADMSG},
    {"name_len_max", "020700000050001800ffff74", -EBADMSG},
    {"cwd_len_too_long", "02070000005000180001007403002f010003000000736800000000000000", -EBADMSG},
    {"cwd_len_too_short", "02070000005000180001007400002f010003000000736800000000000000", -EBADMSG},
    {"list_count_high",
     "850900000000020005000000931000000102030003000000000000005000180005000000000000000068e5cf8b010"
     "00001007407007368202d632078",
     -EBADMSG},
    {"list_count_low",
     "850900000000000005000000931000000102030003000000000000005000180005000000000000000068e5cf8b010"
     "00001007407007368202d632078",
     -EBADMSG},
    {"list_entry_name_overrun",
     "850900000000010005000000931000000102030003000000000000005000180005000000000000000068e5cf8b010"
     "000320074",
     -EBADMSG},
    {"list_entry_truncated",
     "850900000000010005000000931000000102030003000000000000005000180005000000000000000068e5cf8b010"
     "00001007407007368202d6320",
     -EBADMSG},
    {"hello_bad_magic", "017856341201000000", -EBADMSG},
    {"hello_magic_big_endian", "014859545001000000", -EBADMSG},
    {"attach_short", "0302000000050000000000000000000000000000005000", -EBADMSG},
    {"exit_long", "91050000000500000000000000030000000000000000", -EBADMSG},
    {"argc_zero", "02070000005000180001007401002f000000000000000000000000", -EINVAL},
    {"env_no_equals", "02070000005000180001007401002f010003000000736800010004000000464f4f00",
     -EINVAL},
    {"env_empty_key", "02070000005000180001007401002f0100030000007368000100030000003d7800",
     -EINVAL},
    {"env_empty_entry", "02070000005000180001007401002f010003000000736800020005000000413d310000",
     -EINVAL},
    {"name_has_nul", "020700000050001800030061006201002f010003000000736800000000000000", -EINVAL},
    {"cwd_has_nul", "02070000005000180001007406002f746d700078010003000000736800000000000000",
     -EINVAL},
    {"create_cols_zero", "02070000000000180001007401002f010003000000736800000000000000", -EINVAL},
    {"create_rows_over", "02070000005000112701007401002f010003000000736800000000000000", -EINVAL},
    {"attach_mode_2", "03020000000500000002000000000000000000000000000000", -EINVAL},
    {"attach_from_kind_4", "03020000000500000000040000000000000000000000000000", -EINVAL},
    {"wait_no_condition", "0d0600000005000000000000000000000000f4010000d00700005c24", -EINVAL},
    {"wait_text_empty", "0d0600000005000000010000000000000000000000000000000000", -EINVAL},
    {"wait_idle_zero", "0d0600000005000000020000000000000000000000000000000000", -EINVAL},
    {"wait_text_nul", "0d060000000500000001000000000000000000000000000000000061006200", -EINVAL},
    {"wait_short", "0d060000000500000001000000000000000000000000000000", -EBADMSG},
    {"screen_short", "0c0400000005000000", -EBADMSG},
    {"screen_long", "0c04000000050000000100", -EBADMSG},
    {"waited_short", "870600000005000000011a000000000000", -EBADMSG},
    {"screen_reply_title_overrun",
     "8604000000050000001a00000000000000500018000300010003050a0000ff00", -EBADMSG},
    {"list_reply_ext_truncated",
     "8509000000020100050000009310000000000100ffffffff00000000500018001a000000000000000068e5cf8b"
     "01000001007407007368202d632078010200",
     -EBADMSG},
    {"screen_flags_unknown", "0c04000000050000 00ff", 0},
    {"wait_text_and_regex_ignored_for_idle",
     "0d0600000005000000020000000000000000fa00000000000000 61", 0},
    {"attach_rows_zero", "03020000000500000000000000000000000000000050000000", -EINVAL},
    {"attach_cols_over", "03020000000500000000000000000000000000000011271800", -EINVAL},
    {"resize_zero", "060500000000000000", -EINVAL},
    {"resize_cols_zero", "060500000000001800", -EINVAL},
    {"resize_rows_over", "060500000050001127", -EINVAL},
    {"signal_65", "07040000000500000041", -EINVAL},
    {"signal_255", "070400000005000000ff", -EINVAL},
    {"env_empty_value", "02070000005000180001007401002f010003000000736800010003000000413d00", 0},
    {"env_double_equals", "02070000005000180001007401002f010003000000736800010005000000413d3d6200",
     0},
    {"argv_empty_string", "02070000005000180001007401002f0200080000007072696e74660000000000000000",
     0},
    {"create_default_size", "02070000000000000001007401002f010003000000736800000000000000", 0},
    {"create_max_size", "02070000001027102701007401002f010003000000736800000000000000", 0},
    {"attach_keep_size", "03020000000500000000020000000000000000000000000000", 0},
    {"attach_reserved_nonzero", "0302000000050000000000efbe000000000000000050001800", 0},
    {"resize_min", "060500000001000100", 0},
    {"resize_max", "060500000010271027", 0},
    {"signal_kill", "07040000000500000000", 0},
    {"signal_64", "07040000000500000040", 0},
    {"hello_v2_flags", "01505459480200ffff", 0},
    {"hello_v0", "01505459480000 0000", 0},
    {"hello_v7", "01505459480700 0000", 0},
    {"hello_v65535", "0150545948ffff 0000", 0},
    {"write_short", "0b09000000010000 00", -EBADMSG},
    {"write_no_flags", "0b0900000001000000", -EBADMSG},
    {"write_flags_unknown", "0b090000000100000080 6c", 0},
    {"list_reply_state_level_any",
     "8509000000fd010001000000010000000709000000000000000000000000000000000000000000000000000000000"
     "00000000000",
     0},
    {"error_unknown_code", "e00000000000000000e70378", 0},
    {"open_bad_mode", "0e070000000302500018000000000003000a0000007368002d630079657300000000000000",
     -EINVAL},
    {"open_argc_zero", "0e0700000001000000000000000000000000000000000000000000", -EINVAL},
    {"open_truncated", "0e0700000003015000180000000000", -EBADMSG},
    {"open_unknown_flags_ignored",
     "0e07000000ff00500018000000000003000a0000007368002d630079657300000000000000", 0},
    {"events_short", "0f04000000", -EBADMSG},
    {"events_long", "0f040000007e00000000", -EBADMSG},
    {"paste_no_flags", "100900000001000000", -EBADMSG},
    {"paste_empty", "1009000000010000000000", 0},
    {"event_created_truncated", "95010500000068e5cf8b01000000931000005000180001007407007368",
     -EBADMSG},
    {"event_resized_trailing", "95040500000068e5cf8b010000007800280000", -EBADMSG},
    {"event_no_header", "950105000000", -EBADMSG},
};

/* Decodes hex (spaces allowed) into out; returns the byte count. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (const char *s = hex; *s; s++) {
        if (*s == ' ')
            continue;
        unsigned v;
        CHECK(sscanf(s, "%2x", &v) == 1 && n < cap);
        out[n++] = (uint8_t)v;
        s++;
    }
    return n;
}

/* Encodes m without prefix into buf, which must be big enough; returns the size. */
static size_t encode_ok(const struct wire_msg *m, uint8_t *buf, size_t cap)
{
    size_t n = wire_encode(m, buf, cap, false);
    CHECK(n > 0 && n <= cap);
    return n;
}

/* True when a and b encode to the same bytes (the encoding is injective). */
static int msg_same(const struct wire_msg *a, const struct wire_msg *b)
{
    static uint8_t ea[4096], eb[4096];
    size_t na = encode_ok(a, ea, sizeof ea), nb = encode_ok(b, eb, sizeof eb);
    return na == nb && memcmp(ea, eb, na) == 0;
}

/* Returns the golden with this name. */
static const struct golden *golden_named(const char *name)
{
    for (size_t i = 0; i < COUNT(goldens); i++)
        if (strcmp(goldens[i].name, name) == 0)
            return &goldens[i];
    harness_fail(__FILE__, __LINE__, "no golden named %s", name);
}

/* Size of the fixed part of a body whose payload ends with "rest", or 0. */
static size_t rest_offset(const uint8_t *body)
{
    switch (body[0]) {
    case WIRE_PASTE:
        return 10;
    case WIRE_EVENT: /* a kind this codec does not know carries its fields as rest */
        return body[1] >= 1 && body[1] <= WIRE_EV_DROPPED ? 0 : WIRE_EVENT_HDR;
    case WIRE_SCREEN_REPLY: /* fixed part, then the title's str16 */
        return WIRE_SCREEN_REPLY_FIXED + 2 + (body[30] | body[31] << 8);
    case WIRE_INPUT:
        return 5;
    case WIRE_WRITE:
        return 10;
    case WIRE_WELCOME:
        return 9;
    case WIRE_ERROR:
        return 11;
    case WIRE_OUTPUT:
        return WIRE_OUTPUT_HDR;
    case WIRE_WAIT:
        return 26;
    case WIRE_SNAPSHOT:
        return WIRE_SNAPSHOT_HDR;
    default:
        return 0;
    }
}

/* ---- golden layouts ---- */

TEST(wire_encode_matches_golden_bytes)
{
    for (size_t i = 0; i < COUNT(goldens); i++) {
        const struct golden *g = &goldens[i];
        uint8_t want[512], got[520];
        size_t n = unhex(g->hex, want, sizeof want);
        CHECK_MSG(wire_encode(&g->msg, got, sizeof got, false) == n, "%s: size", g->name);
        CHECK_MSG(memcmp(got, want, n) == 0, "%s: bytes", g->name);
        CHECK_MSG(wire_encode(&g->msg, got, sizeof got, true) == n + 4, "%s: prefix", g->name);
        CHECK_EQ(got[0] | got[1] << 8 | got[2] << 16 | (uint32_t)got[3] << 24, n);
        CHECK_MSG(memcmp(got + 4, want, n) == 0, "%s: prefixed bytes", g->name);
    }
}

TEST(wire_decode_golden_round_trips)
{
    for (size_t i = 0; i < COUNT(goldens); i++) {
        const struct golden *g = &goldens[i];
        uint8_t body[512], again[512];
        size_t n = unhex(g->hex, body, sizeof body);
        struct wire_msg m;
        CHECK_MSG(wire_decode(body, n, &m) == 0, "%s: decode", g->name);
        CHECK_EQ(m.type, g->msg.type);
        CHECK_MSG(msg_same(&m, &g->msg), "%s: fields differ", g->name);
        CHECK_EQ(encode_ok(&m, again, sizeof again), n);
        CHECK_MSG(memcmp(again, body, n) == 0, "%s: re-encoding", g->name);
        CHECK(strcmp(wire_type_name(m.type), "unknown") != 0);
    }
}

TEST(wire_decode_fields_point_into_body)
{
    uint8_t body[512];
    size_t n = unhex(golden_named("create")->hex, body, sizeof body);
    struct wire_msg m;
    CHECK_EQ(wire_decode(body, n, &m), 0);
    CHECK_EQ(m.create.req, 7);
    CHECK_EQ(m.create.cols, 80);
    CHECK_EQ(m.create.rows, 24);
    CHECK(m.create.cwd.p > body && m.create.cwd.p < body + n);
    CHECK_EQ(m.create.cwd.len, 4);
    CHECK_MEM_EQ(m.create.cwd.p, "/tmp", 4);
    const char *want[] = {"sh", "-c", "printf hello"};
    size_t pos = 0;
    for (size_t i = 0; i < COUNT(want); i++)
        CHECK_STR_EQ(wire_block_next(&m.create.argv, &pos), want[i]);
    CHECK(wire_block_next(&m.create.argv, &pos) == NULL);
    pos = 0;
    CHECK_STR_EQ(wire_block_next(&m.create.env, &pos), "A=1");
    CHECK_STR_EQ(wire_block_next(&m.create.env, &pos), "TERM=xterm");
    CHECK(wire_block_next(&m.create.env, &pos) == NULL);
}

TEST(wire_decode_signed_and_wide_fields)
{
    uint8_t body[512];
    struct wire_msg m;
    size_t n = unhex("91050000000500000000000000ffffffff09000000", body, sizeof body);
    CHECK_EQ(wire_decode(body, n, &m), 0);
    CHECK_EQ(m.exit.code, -1);
    CHECK_EQ(m.exit.signal, 9);
    n = unhex("9005000000f0ffffffffffffff00ff1b0a", body, sizeof body);
    CHECK_EQ(wire_decode(body, n, &m), 0);
    CHECK_U64_EQ(m.output.offset, 0xfffffffffffffff0ull);
    CHECK_EQ(m.output.data.len, 4);
    CHECK_MEM_EQ(m.output.data.p, "\x00\xff\x1b\n", 4);
}

TEST(wire_write_layout_and_fields)
{
    /* The docs/protocol.md example: WRITE req 9, sid 1, "ls\r", as a prefixed frame. */
    static const uint8_t want[] = {0x0d, 0x00, 0x00, 0x00, 0x0b, 0x09, 0x00, 0x00, 0x00,
                                   0x01, 0x00, 0x00, 0x00, 0x00, 0x6c, 0x73, 0x0d};
    struct wire_msg w = {.type = WIRE_WRITE, .write = {9, 1, 0, S("ls\r")}};
    uint8_t buf[64];
    CHECK_EQ(wire_encode(&w, buf, sizeof buf, true), sizeof want);
    CHECK_MEM_EQ(buf, want, sizeof want);
    struct wire_msg m;
    CHECK_EQ(wire_decode(buf + 4, sizeof want - 4, &m), 0);
    CHECK_EQ(m.type, WIRE_WRITE);
    CHECK_EQ(m.write.req, 9);
    CHECK_EQ(m.write.sid, 1);
    CHECK_EQ(m.write.flags, 0);
    CHECK_EQ(m.write.data.len, 3);
    CHECK(m.write.data.p == buf + 14);
    CHECK_EQ(wire_msg_req(&m), 9);
    CHECK_STR_EQ(wire_type_name(WIRE_WRITE), "write");
    /* Empty data is a valid WRITE of 10 bytes; every shorter body is malformed. */
    CHECK_EQ(wire_decode(buf + 4, 10, &m), 0);
    CHECK_EQ(m.write.data.len, 0);
    for (size_t cut = 0; cut < 10; cut++)
        CHECK_MSG(wire_decode(buf + 4, cut, &m) == -EBADMSG, "WRITE cut at %zu", cut);
}

TEST(wire_hello_any_version_decodes)
{
    /* Version negotiation is the server's job: the codec accepts every version. */
    static const uint16_t versions[] = {0, WIRE_VERSION_MIN, WIRE_VERSION, 7, 0xffff};
    for (size_t i = 0; i < COUNT(versions); i++) {
        struct wire_msg h = {.type = WIRE_HELLO, .hello = {versions[i], WIRE_HELLO_F_ACK}}, m;
        uint8_t buf[16];
        size_t n = encode_ok(&h, buf, sizeof buf);
        CHECK_EQ(n, 9);
        CHECK_EQ(buf[5] | buf[6] << 8, versions[i]);
        CHECK_EQ(wire_decode(buf, n, &m), 0);
        CHECK_EQ(m.hello.version, versions[i]);
        CHECK_EQ(m.hello.flags, WIRE_HELLO_F_ACK);
    }
    CHECK_EQ(WIRE_VERSION, 3);
    CHECK_EQ(WIRE_VERSION_MIN, 1);
    CHECK_EQ(WIRE_WELCOME_F_WRITE, 1);
}

TEST(wire_list_reply_entries_iterate)
{
    uint8_t body[512];
    size_t n = unhex(golden_named("list_reply")->hex, body, sizeof body);
    struct wire_msg m;
    CHECK_EQ(wire_decode(body, n, &m), 0);
    CHECK_EQ(m.list_reply.count, 2);
    CHECK(m.list_reply.flags & WIRE_LIST_F_MORE);
    struct wire_list_entry e;
    size_t pos = 0;
    CHECK(wire_list_next(&m.list_reply, &pos, &e));
    CHECK_EQ(e.sid, 5);
    CHECK_EQ(e.pid, 4243);
    CHECK_EQ(e.state, WIRE_STATE_EXITED);
    CHECK_EQ(e.level, WIRE_LEVEL_MODERATE);
    CHECK_EQ(e.clients, 3);
    CHECK_EQ(e.exit_code, 3);
    CHECK_EQ(e.exit_signal, 0);
    CHECK_U64_EQ(e.created_ms, 1700000000000ull);
    CHECK(e.command.len == 7 && memcmp(e.command.p, "sh -c x", 7) == 0);
    CHECK(wire_list_next(&m.list_reply, &pos, &e));
    CHECK_EQ(e.pid, -1);
    CHECK_EQ(e.level, WIRE_LEVEL_BLOCKED);
    CHECK_EQ(e.exit_signal, 9);
    CHECK_U64_EQ(e.bytes_out, 1ull << 40);
    CHECK_EQ(e.name.len, 0);
    CHECK(!wire_list_next(&m.list_reply, &pos, &e));
}

/* ---- streams at every split point ---- */

/* A stream consumer: buffers input, splits frames, decodes them and re-encodes each one
 * with its prefix into `out`, so a correct run reproduces the input exactly. */
struct feeder {
    uint8_t in[16384];
    size_t have;
    uint8_t out[16384];
    size_t outlen;
    int frames;
};

/* Appends n bytes and consumes every complete frame. */
static void feed(struct feeder *f, const uint8_t *p, size_t n)
{
    CHECK(f->have + n <= sizeof f->in);
    if (n)
        memcpy(f->in + f->have, p, n);
    f->have += n;
    const uint8_t *body;
    size_t blen;
    ssize_t used;
    while ((used = wire_frame_split(f->in, f->have, WIRE_MAX_BODY, &body, &blen)) > 0) {
        struct wire_msg m;
        CHECK_EQ(wire_decode(body, blen, &m), 0);
        size_t w = wire_encode(&m, f->out + f->outlen, sizeof f->out - f->outlen, true);
        CHECK(w > 0 && w <= sizeof f->out - f->outlen);
        f->outlen += w;
        f->frames++;
        memmove(f->in, f->in + used, f->have - (size_t)used);
        f->have -= (size_t)used;
    }
    CHECK_EQ(used, 0);
}

/* Checks that the feeder reproduced `stream` as `frames` frames with nothing left over. */
static void feeder_check(const struct feeder *f, const uint8_t *stream, size_t len, int frames)
{
    CHECK_EQ(f->frames, frames);
    CHECK_EQ(f->have, 0);
    CHECK_EQ(f->outlen, len);
    CHECK_MEM_EQ(f->out, stream, len);
}

/* Writes every golden, length-prefixed, into buf; returns the stream length. */
static size_t golden_stream(uint8_t *buf, size_t cap)
{
    size_t len = 0;
    for (size_t i = 0; i < COUNT(goldens); i++) {
        size_t n = wire_encode(&goldens[i].msg, buf + len, cap - len, true);
        CHECK(n > 0 && n <= cap - len);
        len += n;
    }
    return len;
}

TEST(wire_stream_whole_and_byte_by_byte)
{
    static uint8_t stream[8192];
    size_t len = golden_stream(stream, sizeof stream);
    static struct feeder whole, bytewise;
    feed(&whole, stream, len);
    feeder_check(&whole, stream, len, (int)COUNT(goldens));
    for (size_t i = 0; i < len; i++)
        feed(&bytewise, stream + i, 1);
    feeder_check(&bytewise, stream, len, (int)COUNT(goldens));
}

TEST(wire_stream_every_split_point)
{
    static uint8_t stream[8192];
    size_t len = golden_stream(stream, sizeof stream);
    static struct feeder f;
    for (size_t cut = 0; cut <= len; cut++) {
        memset(&f, 0, sizeof f);
        feed(&f, stream, cut);
        feed(&f, stream + cut, len - cut);
        feeder_check(&f, stream, len, (int)COUNT(goldens));
    }
}

TEST(wire_stream_every_split_of_every_pair)
{
    static struct feeder f;
    uint8_t pair[1024];
    for (size_t a = 0; a < COUNT(goldens); a++) {
        for (size_t b = 0; b < COUNT(goldens); b++) {
            size_t na = wire_encode(&goldens[a].msg, pair, sizeof pair, true);
            size_t nb = wire_encode(&goldens[b].msg, pair + na, sizeof pair - na, true);
            for (size_t cut = 0; cut <= na + nb; cut++) {
                memset(&f, 0, sizeof f);
                feed(&f, pair, cut);
                feed(&f, pair + cut, na + nb - cut);
                feeder_check(&f, pair, na + nb, 2);
            }
        }
    }
}

/* ---- framing ---- */

TEST(wire_frame_split_edges)
{
    static const struct {
        const char *hex;
        size_t max;
        ssize_t rc;
        size_t body_len;
    } cases[] = {
        {"", WIRE_MAX_BODY, 0, 0},
        {"01", WIRE_MAX_BODY, 0, 0},
        {"010000", WIRE_MAX_BODY, 0, 0},
        {"00000000", WIRE_MAX_BODY, -EBADMSG, 0},
        {"00000000 01", WIRE_MAX_BODY, -EBADMSG, 0},
        {"01001000", WIRE_MAX_BODY, -EMSGSIZE, 0}, /* 1 MiB + 1, seen from 4 bytes */
        {"ffffffff", WIRE_MAX_BODY, -EMSGSIZE, 0},
        {"00001000", WIRE_MAX_BODY, 0, 0}, /* exactly 1 MiB: wait for it */
        {"01000000", WIRE_MAX_BODY, 0, 0},
        {"01000000 08", WIRE_MAX_BODY, 5, 1},
        {"01000000 08 0809", WIRE_MAX_BODY, 5, 1},
        {"02000000 08", WIRE_MAX_BODY, 0, 0},
        {"09000000", 8, -EMSGSIZE, 0},
        {"08000000 0102030405060708", 8, 12, 8},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        uint8_t buf[64];
        size_t n = unhex(cases[i].hex, buf, sizeof buf);
        const uint8_t *body = NULL;
        size_t blen = 0;
        ssize_t rc = wire_frame_split(buf, n, cases[i].max, &body, &blen);
        CHECK_MSG(rc == cases[i].rc, "case %zu (%s): rc %zd, want %zd", i, cases[i].hex, rc,
                  cases[i].rc);
        if (rc > 0) {
            CHECK(body == buf + 4);
            CHECK_EQ(blen, cases[i].body_len);
        }
    }
}

TEST(wire_max_body_output_round_trips)
{
    static uint8_t data[WIRE_OUTPUT_MAX + 1];
    static uint8_t buf[WIRE_LEN_PREFIX + WIRE_MAX_BODY];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7);
    struct wire_msg m = {.type = WIRE_OUTPUT, .output = {1, 42, {data, WIRE_OUTPUT_MAX + 1}}};
    CHECK_EQ(wire_encode(&m, buf, sizeof buf, true), 0);
    m.output.data.len = WIRE_OUTPUT_MAX;
    CHECK_EQ(wire_encode(&m, buf, sizeof buf, true), WIRE_LEN_PREFIX + WIRE_MAX_BODY);
    const uint8_t *body;
    size_t blen;
    CHECK_EQ(wire_frame_split(buf, sizeof buf, WIRE_MAX_BODY, &body, &blen),
             WIRE_LEN_PREFIX + WIRE_MAX_BODY);
    struct wire_msg d;
    CHECK_EQ(wire_decode(body, blen, &d), 0);
    CHECK_EQ(d.output.data.len, WIRE_OUTPUT_MAX);
    CHECK_MEM_EQ(d.output.data.p, data, WIRE_OUTPUT_MAX);
}

/* ---- malformed input ---- */

TEST(wire_decode_truncated_bodies)
{
    for (size_t i = 0; i < COUNT(goldens); i++) {
        uint8_t body[512];
        size_t n = unhex(goldens[i].hex, body, sizeof body);
        size_t fixed = rest_offset(body);
        for (size_t cut = 0; cut < n; cut++) {
            struct wire_msg m;
            int want = fixed && cut >= fixed ? 0 : -EBADMSG;
            if (body[0] == WIRE_WAIT && cut == fixed && (body[9] & WIRE_WAIT_F_TEXT))
                want = -EINVAL; /* well-formed, but no regex left to wait for */
            int rc = wire_decode(body, cut, &m);
            CHECK_MSG(rc == want, "%s cut at %zu: rc %d, want %d", goldens[i].name, cut, rc, want);
        }
    }
}

TEST(wire_decode_trailing_bytes)
{
    for (size_t i = 0; i < COUNT(goldens); i++) {
        uint8_t body[512];
        size_t n = unhex(goldens[i].hex, body, sizeof body);
        if (rest_offset(body))
            continue;
        body[n] = 0;
        struct wire_msg m;
        CHECK_MSG(wire_decode(body, n + 1, &m) == -EBADMSG, "%s + 1 byte", goldens[i].name);
    }
}

TEST(wire_decode_unknown_types)
{
    const uint8_t known[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
                             0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x81, 0x82, 0x83, 0x84,
                             0x85, 0x86, 0x87, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0xe0};
    for (unsigned t = 0; t < 256; t++) {
        uint8_t body[16] = {(uint8_t)t, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
        struct wire_msg m;
        int is_known = memchr(known, (int)t, sizeof known) != NULL;
        int rc = wire_decode(body, 1, &m);
        CHECK_MSG(rc == (is_known ? -EBADMSG : -ENOTSUP), "type 0x%02x: rc %d", t, rc);
        CHECK_EQ(m.type, t);
        CHECK_EQ(is_known, strcmp(wire_type_name((uint8_t)t), "unknown") != 0);
        if (!is_known) {
            CHECK_EQ(wire_decode(body, sizeof body, &m), -ENOTSUP);
            CHECK_EQ(m.type, t);
        }
    }
    struct wire_msg m;
    CHECK_EQ(wire_decode((const uint8_t *)"", 0, &m), -EBADMSG);
}

TEST(wire_decode_table)
{
    for (size_t i = 0; i < COUNT(decode_cases); i++) {
        const struct decode_case *c = &decode_cases[i];
        uint8_t body[512];
        size_t n = unhex(c->hex, body, sizeof body);
        struct wire_msg m;
        int rc = wire_decode(body, n, &m);
        CHECK_MSG(rc == c->rc, "%s: rc %d, want %d", c->name, rc, c->rc);
        CHECK_EQ(m.type, body[0]);
        if (rc == -EINVAL) /* fully decoded, so the error reply can carry the req */
            CHECK_MSG(wire_msg_req(&m) != 0 || m.type == WIRE_RESIZE, "%s: no req", c->name);
    }
}

TEST(wire_attach_reserved_ignored_and_encoded_as_zero)
{
    uint8_t body[64], again[64];
    size_t n = unhex("0302000000050000000000efbe000000000000000050001800", body, sizeof body);
    struct wire_msg m;
    CHECK_EQ(wire_decode(body, n, &m), 0);
    CHECK_EQ(m.attach.cols, 80);
    CHECK_EQ(encode_ok(&m, again, sizeof again), n);
    CHECK_EQ(again[11], 0);
    CHECK_EQ(again[12], 0);
    again[11] = 0xef;
    again[12] = 0xbe;
    CHECK_MEM_EQ(again, body, n);
}

/* ---- encoding ---- */

TEST(wire_encode_too_small_writes_nothing)
{
    for (size_t i = 0; i < COUNT(goldens); i++) {
        uint8_t buf[600];
        size_t need = wire_encode(&goldens[i].msg, NULL, 0, true);
        CHECK(need > WIRE_LEN_PREFIX && need <= sizeof buf);
        memset(buf, 0xa5, sizeof buf);
        CHECK_EQ(wire_encode(&goldens[i].msg, buf, need - 1, true), need);
        for (size_t j = 0; j < sizeof buf; j++)
            CHECK(buf[j] == 0xa5);
        CHECK_EQ(wire_encode(&goldens[i].msg, buf, need, true), need);
    }
}

TEST(wire_encode_rejects_unencodable)
{
    static uint8_t big[WIRE_MAX_STR16 + 1];
    uint8_t buf[64];
    struct wire_msg m = {.type = 0x7f};
    CHECK_EQ(wire_encode(&m, buf, sizeof buf, true), 0);
    m = (struct wire_msg){.type = WIRE_CREATE,
                          .create = {.req = 1,
                                     .cols = 80,
                                     .rows = 24,
                                     .name = {big, WIRE_MAX_STR16 + 1},
                                     .argv = BLOCK(1, "sh\0")}};
    CHECK_EQ(wire_encode(&m, NULL, 0, false), 0);
    m.create.name.len = WIRE_MAX_STR16;
    CHECK_EQ(wire_encode(&m, NULL, 0, false), 1 + 8 + 2 + WIRE_MAX_STR16 + 2 + 6 + 3 + 6);
    m = (struct wire_msg){.type = WIRE_ERROR, .error = {0, 0, 1, {big, WIRE_MAX_STR16 + 1}}};
    CHECK_EQ(wire_encode(&m, NULL, 0, false), 11 + WIRE_MAX_STR16 + 1); /* rest is not str16 */
}

TEST(wire_output_header_matches_encode)
{
    static const size_t sizes[] = {0, 1, 5, 4096};
    static uint8_t data[4096];
    for (size_t i = 0; i < COUNT(sizes); i++) {
        for (int prefix = 0; prefix <= 1; prefix++) {
            uint8_t hdr[WIRE_LEN_PREFIX + WIRE_OUTPUT_HDR], full[8192];
            struct wire_msg m = {.type = WIRE_OUTPUT, .output = {77, 1ull << 33, {data, sizes[i]}}};
            size_t h = wire_output_header(hdr, prefix, 77, 1ull << 33, sizes[i]);
            CHECK_EQ(h, WIRE_OUTPUT_HDR + (prefix ? WIRE_LEN_PREFIX : 0));
            CHECK_EQ(wire_encode(&m, full, sizeof full, prefix), h + sizes[i]);
            CHECK_MEM_EQ(hdr, full, h);
        }
    }
    uint8_t hdr[WIRE_LEN_PREFIX + WIRE_OUTPUT_HDR];
    CHECK_EQ(wire_output_header(hdr, true, 1, 0, WIRE_OUTPUT_MAX), 17);
    CHECK_EQ(wire_output_header(hdr, true, 1, 0, WIRE_OUTPUT_MAX + 1), 0);
}

TEST(wire_block_pack_and_iterate)
{
    const char *argv[] = {"sh", "-c", "printf hello", ""};
    uint8_t buf[64];
    memset(buf, 0xa5, sizeof buf);
    CHECK_EQ(wire_block_pack(argv, COUNT(argv), buf, 5), 20);
    CHECK(buf[0] == 0xa5);
    CHECK_EQ(wire_block_pack(argv, COUNT(argv), buf, sizeof buf), 20);
    CHECK_MEM_EQ(buf, "sh\0-c\0printf hello\0\0", 20);
    struct wire_block b = {buf, 20, COUNT(argv)};
    size_t pos = 0;
    for (size_t i = 0; i < COUNT(argv); i++)
        CHECK_STR_EQ(wire_block_next(&b, &pos), argv[i]);
    CHECK(wire_block_next(&b, &pos) == NULL);
    struct wire_block tail = {(const uint8_t *)"ab\0cd", 5, 2}; /* not validated */
    pos = 0;
    CHECK_STR_EQ(wire_block_next(&tail, &pos), "ab");
    CHECK(wire_block_next(&tail, &pos) == NULL);
    struct wire_block empty = {NULL, 0, 0};
    pos = 0;
    CHECK(wire_block_next(&empty, &pos) == NULL);
    CHECK_EQ(wire_block_pack(NULL, 0, NULL, 0), 0);
}

/* ---- LIST_REPLY writer ---- */

/* The two entries encoded in LIST_ENTRIES. */
static const struct wire_list_entry list_entries[] = {
    {5, 4243, 1, 2, 3, 3, 0, 80, 24, 5, 1700000000000ull, S("t"), S("sh -c x"), 0, 0, 0, S(""),
     S("")},
    {6, -1, 0, 4, 0, -1, 9, 132, 43, 1ull << 40, 1, S(""), S("top"), 0, 0, 0, S(""), S("")},
};

TEST(wire_list_writer_matches_golden)
{
    for (int prefix = 0; prefix <= 1; prefix++) {
        uint8_t want[512], buf[512];
        size_t n = unhex(golden_named("list_reply")->hex, want, sizeof want);
        struct wire_list_writer w;
        CHECK(wire_list_begin(&w, buf, sizeof buf, prefix, 9));
        for (size_t i = 0; i < COUNT(list_entries); i++)
            CHECK(wire_list_add(&w, &list_entries[i]));
        size_t total = wire_list_finish(&w, true);
        size_t off = prefix ? WIRE_LEN_PREFIX : 0;
        CHECK_EQ(total, n + off);
        CHECK_MEM_EQ(buf + off, want, n);
        if (prefix)
            CHECK_EQ(buf[0] | buf[1] << 8 | buf[2] << 16 | (uint32_t)buf[3] << 24, n);
    }
}

TEST(wire_list_writer_stops_when_full)
{
    uint8_t buf[WIRE_LEN_PREFIX + WIRE_LIST_HDR + 2 * 52 + 51];
    struct wire_list_writer w;
    CHECK(!wire_list_begin(&w, buf, WIRE_LEN_PREFIX + WIRE_LIST_HDR - 1, true, 1));
    CHECK_EQ(wire_list_finish(&w, false), 0);
    CHECK(wire_list_begin(&w, buf, sizeof buf, true, 1));
    struct wire_list_entry e = list_entries[0]; /* 44 + 1 + 7 = 52 bytes */
    CHECK(wire_list_add(&w, &e));
    CHECK(wire_list_add(&w, &e));
    CHECK(!wire_list_add(&w, &e));
    e.name.len = WIRE_MAX_STR16 + 1;
    CHECK(!wire_list_add(&w, &e));
    size_t total = wire_list_finish(&w, true);
    CHECK_EQ(total, sizeof buf - 51);
    const uint8_t *body;
    size_t blen;
    CHECK_EQ(wire_frame_split(buf, total, WIRE_MAX_BODY, &body, &blen), total);
    struct wire_msg m;
    CHECK_EQ(wire_decode(body, blen, &m), 0);
    CHECK_EQ(m.list_reply.count, 2);
    CHECK_EQ(m.list_reply.req, 1);
    CHECK_EQ(m.list_reply.flags, WIRE_LIST_F_MORE);
}

TEST(wire_list_writer_never_exceeds_max_body)
{
    static uint8_t buf[3 * WIRE_MAX_BODY];
    static uint8_t name[60000];
    memset(name, 'n', sizeof name);
    struct wire_list_writer w;
    CHECK(wire_list_begin(&w, buf, sizeof buf, false, 3));
    struct wire_list_entry e = list_entries[1];
    e.name = (struct wire_bytes){name, sizeof name};
    int added = 0;
    while (wire_list_add(&w, &e))
        added++;
    CHECK_EQ(added, (WIRE_MAX_BODY - WIRE_LIST_HDR) / (WIRE_LIST_ENTRY_FIXED + 60003));
    size_t total = wire_list_finish(&w, false);
    CHECK(total <= WIRE_MAX_BODY);
    struct wire_msg m;
    CHECK_EQ(wire_decode(buf, total, &m), 0);
    struct wire_list_entry got;
    size_t pos = 0;
    int seen = 0;
    while (wire_list_next(&m.list_reply, &pos, &got)) {
        CHECK(got.name.len == sizeof name && memcmp(got.name.p, name, sizeof name) == 0);
        seen++;
    }
    CHECK_EQ(seen, added);
}

/* ---- names and codes ---- */

TEST(wire_error_codes_are_stable)
{
    static const struct {
        uint16_t code;
        const char *name;
        bool closes;
    } codes[] = {
        {1, "bad_frame", true},      {2, "too_large", true},     {3, "unknown_type", false},
        {4, "version", true},        {5, "not_hello", true},     {6, "no_such_session", false},
        {7, "spawn_failed", false},  {8, "bad_argument", false}, {9, "limit", false},
        {10, "not_attached", false}, {11, "read_only", false},   {12, "exited", false},
        {13, "internal", false},     {14, "auth", true},         {15, "unavailable", false},
    };
    for (size_t i = 0; i < COUNT(codes); i++) {
        CHECK_STR_EQ(wire_err_name(codes[i].code), codes[i].name);
        CHECK_EQ(wire_err_closes(codes[i].code), codes[i].closes);
    }
    CHECK_STR_EQ(wire_err_name(0), "unknown");
    CHECK_STR_EQ(wire_err_name(16), "unknown");
    CHECK_STR_EQ(wire_err_name(0xffff), "unknown");
    CHECK_EQ(wire_err_from_errno(-EBADMSG), WIRE_ERR_BAD_FRAME);
    CHECK_EQ(wire_err_from_errno(-EMSGSIZE), WIRE_ERR_TOO_LARGE);
    CHECK_EQ(wire_err_from_errno(-ENOTSUP), WIRE_ERR_UNKNOWN_TYPE);
    CHECK_EQ(wire_err_from_errno(-EINVAL), WIRE_ERR_BAD_ARGUMENT);
    CHECK_EQ(wire_err_from_errno(-ENOMEM), WIRE_ERR_INTERNAL);
}

TEST(wire_msg_req_and_type_names)
{
    static const struct {
        const char *name; /* a golden named after its type */
        uint32_t req;
    } cases[] = {
        {"hello", 0},      {"create", 7},   {"attach", 2},       {"detach", 3},   {"input", 0},
        {"resize", 0},     {"signal", 4},   {"list", 9},         {"ack", 0},      {"remove", 10},
        {"write", 9},      {"welcome", 0},  {"created", 7},      {"attached", 2}, {"ok", 3},
        {"list_reply", 9}, {"output", 0},   {"exit", 0},         {"gap", 0},      {"error", 2},
        {"open", 7},       {"events", 4},   {"paste", 9},        {"screen", 4},   {"wait", 6},
        {"waited", 6},     {"snapshot", 0}, {"screen_reply", 4},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        const struct wire_msg *m = &golden_named(cases[i].name)->msg;
        CHECK_EQ(wire_msg_req(m), cases[i].req);
        CHECK_STR_EQ(wire_type_name(m->type), cases[i].name);
    }
}

TEST(wire_type_versions)
{
    static const struct {
        uint8_t type;
        unsigned version;
    } cases[] = {
        {WIRE_HELLO, 1}, {WIRE_CREATE, 1}, {WIRE_LIST_REPLY, 1},
        {WIRE_ERROR, 1}, {WIRE_WRITE, 2},  {WIRE_RESIZED, 2},
        {WIRE_OPEN, 3},  {WIRE_EVENTS, 3}, {WIRE_PASTE, 3},
        {WIRE_EVENT, 3}, {0x0C, 3},        {0x0D, 3},
        {0x86, 3},       {0x87, 3},        {0x94, 3},
    };
    for (size_t i = 0; i < COUNT(cases); i++)
        CHECK_EQ(wire_type_version(cases[i].type), cases[i].version);
    CHECK_EQ(WIRE_VERSION, 3);
}

TEST(wire_open_carries_create_fields)
{
    uint8_t body[512];
    size_t n = unhex(golden_named("open")->hex, body, sizeof body);
    struct wire_msg m;
    CHECK_EQ(wire_decode(body, n, &m), 0);
    CHECK_EQ(m.open.create.req, 7);
    CHECK_EQ(m.open.flags, WIRE_OPEN_F_ATTACH | WIRE_OPEN_F_HOLD);
    CHECK_EQ(m.open.mode, WIRE_MODE_READ_ONLY);
    CHECK_EQ(m.open.create.cols, 80);
    CHECK_EQ(m.open.create.argv.count, 3);
    size_t pos = 0;
    CHECK_STR_EQ(wire_block_next(&m.open.create.argv, &pos), "sh");
    /* OPEN's body after its flags and mode is CREATE's after its req. */
    uint8_t cbody[512];
    struct wire_msg c = {.type = WIRE_CREATE, .create = m.open.create};
    size_t cn = encode_ok(&c, cbody, sizeof cbody);
    CHECK_EQ(cn + 2, n);
    CHECK(memcmp(cbody + 5, body + 7, cn - 5) == 0);
}

/* ---- paste ---- */

TEST(paste_encode_table)
{
    static const struct {
        const char *in, *out;
        bool bracketed, enter;
    } cases[] = {
        {"", "", false, false},
        {"", "\r", false, true},
        {"", "\x1b[200~\x1b[201~", true, false},
        {"a\nb", "a\rb", false, false},
        {"a\r\nb\rc\n", "a\rb\rc\r", false, false},
        {"a\n\r\n\n", "a\r\r\r", false, false},
        {"x\r", "x\r\r", false, true},
        {"ls\n", "\x1b[200~ls\r\x1b[201~\r", true, true},
        /* markers inside are removed when bracketed, kept otherwise */
        {"a\x1b[201~b", "\x1b[200~ab\x1b[201~", true, false},
        {"a\x1b[201~b", "a\x1b[201~b", false, false},
        {"\x1b[200~\x1b[200~", "\x1b[200~\x1b[201~", true, false},
        /* removing one must not leave another formed by what surrounds it */
        {"\x1b[20\x1b[201~1~", "\x1b[200~\x1b[201~", true, false},
        {"\x1b[2\x1b[200~01~x", "\x1b[200~x\x1b[201~", true, false},
        /* near misses stay */
        {"\x1b[202~", "\x1b[200~\x1b[202~\x1b[201~", true, false},
        {"\x1b[200", "\x1b[200~\x1b[200\x1b[201~", true, false},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        uint8_t out[64];
        size_t n = strlen(cases[i].in);
        CHECK(PASTE_OUT_MAX(n) <= sizeof out);
        size_t got =
            paste_encode((const uint8_t *)cases[i].in, n, cases[i].bracketed, cases[i].enter, out);
        CHECK_MSG(got == strlen(cases[i].out) && memcmp(out, cases[i].out, got) == 0,
                  "case %zu: got %zu bytes", i, got);
    }
}

TEST(paste_encode_never_exceeds_its_bound)
{
    /* Every 4-byte string over an alphabet of the interesting bytes. */
    static const uint8_t alpha[] = {'\r', '\n', 0x1b, '[', '2', '0', '1', '~', 'a'};
    uint8_t in[4], out[PASTE_OUT_MAX(4)];
    for (unsigned k = 0; k < 9 * 9 * 9 * 9; k++) {
        unsigned v = k;
        for (int j = 0; j < 4; j++, v /= 9)
            in[j] = alpha[v % 9];
        size_t n = paste_encode(in, 4, true, true, out);
        CHECK(n <= sizeof out && n >= 13);
        /* inside the bracket no marker is left */
        for (size_t p = 6; p + 6 <= n - 7; p++)
            CHECK(memcmp(out + p, PASTE_START, 6) != 0 && memcmp(out + p, PASTE_END, 6) != 0);
    }
}

/* ---- version 3 LIST_REPLY: the EXT flag selects the entry layout ---- */

TEST(wire_list_reply_ext_iterates_and_writes)
{
    uint8_t body[512];
    size_t n = unhex(golden_named("list_reply_ext")->hex, body, sizeof body);
    struct wire_msg m;
    CHECK_EQ(wire_decode(body, n, &m), 0);
    CHECK_EQ(m.list_reply.count, 1);
    struct wire_list_entry e;
    size_t pos = 0;
    CHECK(wire_list_next(&m.list_reply, &pos, &e));
    CHECK_EQ(e.sid, 5);
    CHECK_EQ(e.cls, 1);
    CHECK_EQ(e.bells, 2);
    CHECK_U64_EQ(e.last_output_ms, 1700000000500ull);
    CHECK(e.title.len == 3 && memcmp(e.title.p, "vim", 3) == 0);
    CHECK(e.cwd.len == 12 && memcmp(e.cwd.p, "file:///tmp/", 12) == 0);
    CHECK(!wire_list_next(&m.list_reply, &pos, &e));

    /* The writer with ext produces the same bytes; entry by entry as decoded. */
    uint8_t buf[512];
    struct wire_list_writer w;
    CHECK(wire_list_begin_ext(&w, buf, sizeof buf, false, 9, true));
    struct wire_list_entry in = {5,
                                 4243,
                                 0,
                                 0,
                                 1,
                                 -1,
                                 0,
                                 80,
                                 24,
                                 26,
                                 1700000000000ull,
                                 S("t"),
                                 S("sh -c x"),
                                 1,
                                 2,
                                 1700000000500ull,
                                 S("vim"),
                                 S("file:///tmp/")};
    CHECK(wire_list_add(&w, &in));
    size_t total = wire_list_finish(&w, false);
    CHECK_EQ(total, n);
    CHECK_MEM_EQ(buf, body, n);
    /* A writer without ext leaves the version 3 fields out. */
    CHECK(wire_list_begin(&w, buf, sizeof buf, false, 9));
    CHECK(wire_list_add(&w, &in));
    total = wire_list_finish(&w, false);
    CHECK_EQ(total, WIRE_LIST_HDR + WIRE_LIST_ENTRY_FIXED + 1 + 7);
    CHECK_EQ(buf[5], 0);
}
