/* wire: the ptyhub session protocol, versions 1 to 3, as a pure codec (docs/protocol.md).
 *
 * One protocol runs over the Unix socket, stdio and WebSocket. On byte streams a body is
 * framed as `u32 body_len` + body; a WebSocket binary message is one body. A body is
 * `u8 type` + payload, all integers little-endian. This module finds frames in a buffer,
 * decodes bodies into `struct wire_msg` values and encodes them back. It allocates
 * nothing and does no I/O: decoded slices point into the caller's body, encoders write
 * into the caller's buffer and, like snprintf, report the size they need.
 */
#ifndef PTYHUB_WIRE_H
#define PTYHUB_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WIRE_VERSION 3           /* highest protocol version this codec and server speak */
#define WIRE_VERSION_MIN 1       /* lowest still served */
#define WIRE_MAGIC 0x48595450u   /* "PTYH" on the wire */
#define WIRE_MAX_BODY (1u << 20) /* largest body; a longer declared length is -EMSGSIZE */
#define WIRE_LEN_PREFIX 4        /* the u32 body_len in front of a body on byte streams */
#define WIRE_MAX_STR16 0xffffu   /* longest str16 */
#define WIRE_MAX_DIM 10000       /* largest cols or rows */
#define WIRE_MAX_SIGNO 64        /* largest signal number for SIGNAL */
#define WIRE_OUTPUT_HDR 13       /* OUTPUT body bytes before the data: type, sid, offset */
#define WIRE_OUTPUT_MAX (WIRE_MAX_BODY - WIRE_OUTPUT_HDR) /* most data one OUTPUT carries */
#define WIRE_LIST_HDR 8            /* LIST_REPLY body bytes before the entries */
#define WIRE_LIST_ENTRY_FIXED 44   /* a LIST_REPLY entry without its two strings' bytes */
#define WIRE_LIST_ENTRY_EXT 17     /* what WIRE_LIST_F_EXT adds to an entry, without strings */
#define WIRE_SCREEN_REPLY_FIXED 30 /* SCREEN_REPLY body bytes before the title's str16 */
#define WIRE_SNAPSHOT_HDR 13       /* SNAPSHOT body bytes before the data: type, sid, offset */
#define WIRE_WAIT_REGEX_MAX 4096   /* longest WAIT regex */
#define WIRE_LIST_HDR 8            /* LIST_REPLY body bytes before the entries */
#define WIRE_LIST_ENTRY_FIXED 44   /* a LIST_REPLY entry without its two strings' bytes */
#define WIRE_EVENT_HDR 14 /* EVENT body bytes before the kind's fields: type, kind, sid, time */

enum wire_type {
    WIRE_HELLO = 0x01, /* client → server */
    WIRE_CREATE = 0x02,
    WIRE_ATTACH = 0x03,
    WIRE_DETACH = 0x04,
    WIRE_INPUT = 0x05,
    WIRE_RESIZE = 0x06,
    WIRE_SIGNAL = 0x07,
    WIRE_LIST = 0x08,
    WIRE_ACK = 0x09,
    WIRE_REMOVE = 0x0A,
    WIRE_WRITE = 0x0B,   /* version 2: acknowledged input */
    WIRE_SCREEN = 0x0C,  /* version 3: the screen now */
    WIRE_WAIT = 0x0D,    /* version 3: wait for text on the screen, or quiet */
    WIRE_OPEN = 0x0E,    /* version 3: create, and attach or hold, atomically */
    WIRE_EVENTS = 0x0F,  /* version 3: subscribe to lifecycle events */
    WIRE_PASTE = 0x10,   /* version 3: paste text as one acknowledged unit */
    WIRE_WELCOME = 0x81, /* server → client */
    WIRE_CREATED = 0x82,
    WIRE_ATTACHED = 0x83,
    WIRE_OK = 0x84,
    WIRE_LIST_REPLY = 0x85,
    WIRE_SCREEN_REPLY = 0x86, /* version 3 */
    WIRE_WAITED = 0x87,       /* version 3 */
    WIRE_OUTPUT = 0x90,
    WIRE_EXIT = 0x91,
    WIRE_GAP = 0x92,
    WIRE_RESIZED = 0x93,  /* version 2: a session's size changed */
    WIRE_SNAPSHOT = 0x94, /* version 3: bytes that reproduce a screen, after ATTACHED */
    WIRE_EVENT = 0x95,    /* version 3: a lifecycle event */
    WIRE_ERROR = 0xE0,
};

/* ERROR codes. The numbers are part of the protocol and never change. */
enum wire_err {
    WIRE_ERR_BAD_FRAME = 1,    /* malformed body; the server closes */
    WIRE_ERR_TOO_LARGE = 2,    /* declared body length over WIRE_MAX_BODY; closes */
    WIRE_ERR_UNKNOWN_TYPE = 3, /* connection kept */
    WIRE_ERR_VERSION = 4,      /* closes */
    WIRE_ERR_NOT_HELLO = 5,    /* first message was not HELLO; closes */
    WIRE_ERR_NO_SUCH_SESSION = 6,
    WIRE_ERR_SPAWN_FAILED = 7,
    WIRE_ERR_BAD_ARGUMENT = 8,
    WIRE_ERR_LIMIT = 9,
    WIRE_ERR_NOT_ATTACHED = 10,
    WIRE_ERR_READ_ONLY = 11,
    WIRE_ERR_EXITED = 12,
    WIRE_ERR_INTERNAL = 13,
    WIRE_ERR_AUTH = 14,        /* closes */
    WIRE_ERR_UNAVAILABLE = 15, /* the server cannot do this (terminal state is off) */
};

/* HELLO flags. */
enum {
    WIRE_HELLO_F_ACK = 1u << 0, /* this client paces OUTPUT with ACK */
    /* Version 2, with ACK: this client renders what it acknowledges (a terminal, the
     * page): an interactive attachment holds its program at most the hold window ahead of
     * the acknowledged offset, so what the program wrote before a Ctrl-C is drawn quickly. */
    WIRE_HELLO_F_HOLD = 1u << 1,
};
/* WELCOME flags: capabilities of this server (clients ignore unknown bits). */
enum {
    WIRE_WELCOME_F_WRITE = 1u << 0,   /* WRITE (acknowledged input) is accepted */
    WIRE_WELCOME_F_RESIZED = 1u << 1, /* attached clients are told of size changes */
    /* Version 3 connections only: */
    WIRE_WELCOME_F_TERMINAL = 1u << 2, /* terminal state is on (SCREEN, WAIT, snapshots,
                                          PASTE bracketing) */
    WIRE_WELCOME_F_OPEN = 1u << 3,     /* OPEN (create + attach / hold) */
    WIRE_WELCOME_F_EVENTS = 1u << 4,   /* EVENTS / EVENT */
    WIRE_WELCOME_F_PASTE = 1u << 5,    /* PASTE */
};
/* OPEN flags. */
enum {
    WIRE_OPEN_F_ATTACH = 1u << 0, /* attach this connection from offset 0 before any output */
    WIRE_OPEN_F_HOLD = 1u << 1,   /* read no output until the first ATTACH of anyone */
};
/* PASTE flags (RESUME is WRITE's). */
enum {
    WIRE_PASTE_F_ENTER = 1u << 0, /* send "\r" after the paste, in the same unit */
    WIRE_PASTE_F_RESUME = 1u << 1,
};
/* EVENT kinds; EVENTS' mask has bit k set for kind k. */
enum wire_event_kind {
    WIRE_EV_CREATED = 1,
    WIRE_EV_EXITED = 2,
    WIRE_EV_REMOVED = 3,
    WIRE_EV_RESIZED = 4,
    WIRE_EV_TITLE = 5,
    WIRE_EV_DROPPED = 6, /* sid 0: events were dropped (the client did not read); re-sync */
};
/* WRITE flags: this WRITE resends the first one refused; until it comes, the session's
 * later WRITEs from the same connection are refused too (input is never reordered). */
enum { WIRE_WRITE_F_RESUME = 1u << 0 };
/* LIST_REPLY flags: more replies follow for this req; (version 3) entries carry the
 * extension fields (class, bells, last output, title, cwd). */
enum { WIRE_LIST_F_MORE = 1u << 0, WIRE_LIST_F_EXT = 1u << 1 };
enum wire_attach_mode { WIRE_MODE_INTERACTIVE = 0, WIRE_MODE_READ_ONLY = 1 };
/* WIRE_FROM_SNAPSHOT (version 3): ATTACHED, then a SNAPSHOT of the screen at ATTACHED's
 * end, then OUTPUT from exactly there. */
enum wire_from_kind {
    WIRE_FROM_OFFSET = 0,
    WIRE_FROM_TAIL = 1,
    WIRE_FROM_LIVE = 2,
    WIRE_FROM_SNAPSHOT = 3,
};
/* SCREEN flags: the data is the snapshot byte sequence rather than plain text. */
enum { WIRE_SCREEN_F_ANSI = 1u << 0 };
/* SCREEN_REPLY flags. */
enum { WIRE_SCREEN_F_CURSOR_VISIBLE = 1u << 0, WIRE_SCREEN_F_ALTSCREEN = 1u << 1 };
/* WAIT flags (at least one): a regex matched on the screen text; no output for idle_ms. */
enum { WIRE_WAIT_F_TEXT = 1u << 0, WIRE_WAIT_F_IDLE = 1u << 1 };
/* WAITED reasons. */
enum wire_wait_reason {
    WIRE_WAITED_TEXT = 1,
    WIRE_WAITED_IDLE = 2,
    WIRE_WAITED_TIMEOUT = 3,
    WIRE_WAITED_EXITED = 4,
};
enum wire_state { WIRE_STATE_RUNNING = 0, WIRE_STATE_EXITED = 1 };
enum wire_level {
    WIRE_LEVEL_NONE = 0,
    WIRE_LEVEL_LIGHT = 1,
    WIRE_LEVEL_MODERATE = 2,
    WIRE_LEVEL_HEAVY = 3,
    WIRE_LEVEL_BLOCKED = 4,
};

/* A byte slice: a str16, or "rest". Decoded slices point into the body; not NUL-terminated. */
struct wire_bytes {
    const uint8_t *p;
    size_t len;
};

/* An argv or env block: `count` strings, each NUL-terminated, exactly `len` bytes. */
struct wire_block {
    const uint8_t *p;
    size_t len;
    uint16_t count;
};

struct wire_hello {
    uint16_t version;
    uint16_t flags; /* WIRE_HELLO_F_*; unknown bits are ignored */
};

struct wire_create {
    uint32_t req;
    uint16_t cols, rows;    /* 0x0: the server's default size */
    struct wire_bytes name; /* empty: none */
    struct wire_bytes cwd;  /* empty: none (the server's cwd) */
    struct wire_block argv; /* count ≥ 1 */
    struct wire_block env;  /* "K=V" strings */
};

struct wire_attach {
    uint32_t req, sid;
    uint8_t mode;      /* enum wire_attach_mode */
    uint8_t from_kind; /* enum wire_from_kind */
    uint64_t from;
    uint16_t cols, rows; /* 0x0: keep the session's size */
};

struct wire_detach {
    uint32_t req, sid;
};

struct wire_input {
    uint32_t sid;
    struct wire_bytes data;
};

struct wire_resize {
    uint32_t sid;
    uint16_t cols, rows;
};

struct wire_signal {
    uint32_t req, sid;
    uint8_t signo; /* 0: kill (SIGHUP to the group, SIGKILL after a grace period) */
};

struct wire_list {
    uint32_t req;
};

struct wire_ack {
    uint32_t sid;
    uint64_t offset; /* every output byte below this has been consumed */
};

struct wire_remove {
    uint32_t req, sid;
};

/* WRITE: input queued as one unit, all or nothing; answered OK once it reached the PTY. */
struct wire_write {
    uint32_t req, sid;
    uint8_t flags;          /* 0; unknown bits are ignored */
    struct wire_bytes data; /* rest */
};

/* OPEN: CREATE's fields (create.req is the OPEN's req), then attach or hold. */
struct wire_open {
    uint8_t flags; /* WIRE_OPEN_F_*; unknown bits are ignored */
    uint8_t mode;  /* enum wire_attach_mode, for WIRE_OPEN_F_ATTACH */
    struct wire_create create;
};

/* EVENTS: mask bit k subscribes to kind k; 0 unsubscribes. */
struct wire_events {
    uint32_t req;
    uint32_t mask;
};

/* PASTE: text pasted as one unit (line endings normalised, bracketed when the program
 * asked for it), queued all or nothing and acknowledged like WRITE. */
struct wire_paste {
    uint32_t req, sid;
    uint8_t flags;          /* WIRE_PASTE_F_* */
    struct wire_bytes data; /* rest */
};

/* EVENT: one lifecycle event. Fields beyond kind/sid/time_ms depend on the kind; an
 * unknown kind decodes with its fields left in `rest` (clients skip it). */
struct wire_event {
    uint8_t kind; /* enum wire_event_kind */
    uint32_t sid;
    uint64_t time_ms;                /* unix time in ms */
    int32_t pid;                     /* CREATED */
    uint16_t cols, rows;             /* CREATED, RESIZED */
    struct wire_bytes name, command; /* CREATED */
    int32_t code, signal;            /* EXITED */
    uint64_t end;                    /* EXITED */
    struct wire_bytes title;         /* TITLE */
    uint32_t count;                  /* DROPPED */
    struct wire_bytes rest;          /* unknown kinds */
};

struct wire_welcome {
    uint16_t version, flags;
    uint32_t server_pid;
    struct wire_bytes server_version;
};

struct wire_created {
    uint32_t req, sid;
    int32_t pid;
};

struct wire_attached {
    uint32_t req, sid;
    uint64_t start; /* oldest retained offset */
    uint64_t end;   /* offset where live output begins */
    uint16_t cols, rows;
    uint8_t state; /* enum wire_state */
};

struct wire_ok {
    uint32_t req;
};

/* LIST_REPLY as decoded: the entries stay encoded; walk them with wire_list_next(). */
struct wire_list_reply {
    uint32_t req;
    uint8_t flags; /* WIRE_LIST_F_* */
    uint16_t count;
    struct wire_bytes entries;
};

/* One session in a LIST_REPLY. */
struct wire_list_entry {
    uint32_t sid;
    int32_t pid;
    uint8_t state; /* enum wire_state */
    uint8_t level; /* enum wire_level */
    uint16_t clients;
    int32_t exit_code;   /* -1 if none or killed by a signal */
    int32_t exit_signal; /* 0 if none */
    uint16_t cols, rows;
    uint64_t bytes_out;
    uint64_t created_ms; /* unix time in ms */
    struct wire_bytes name;
    struct wire_bytes command; /* argv joined by spaces, for display */
    /* With WIRE_LIST_F_EXT (version 3) only; zero otherwise. */
    uint8_t cls;             /* 0 interactive, 1 bulk */
    uint32_t bells;          /* BEL characters the program wrote */
    uint64_t last_output_ms; /* unix ms of the last output byte, 0 never */
    struct wire_bytes title; /* OSC 0/2 */
    struct wire_bytes cwd;   /* OSC 7 */
};

/* SCREEN: the screen of session sid now, as text or (WIRE_SCREEN_F_ANSI) snapshot. */
struct wire_screen {
    uint32_t req, sid;
    uint8_t flags;
};

/* WAIT: answered with WAITED once the regex matches the screen text (TEXT) or the
 * session has been quiet for idle_ms (IDLE), whichever first; only screens produced by
 * output beyond `after` count. timeout_ms 0: none. */
struct wire_wait {
    uint32_t req, sid;
    uint8_t flags; /* WIRE_WAIT_F_* */
    uint64_t after;
    uint32_t idle_ms, timeout_ms;
    struct wire_bytes regex; /* rest: POSIX extended regex, UTF-8 */
};

struct wire_screen_reply {
    uint32_t req, sid;
    uint64_t offset; /* the output offset this screen represents */
    uint16_t cols, rows, cursor_col, cursor_row;
    uint8_t flags;  /* WIRE_SCREEN_F_CURSOR_VISIBLE, _ALTSCREEN */
    uint32_t modes; /* VT_MODE_* bits (src/term/vt.h) */
    struct wire_bytes title;
    struct wire_bytes data; /* rest: text or snapshot bytes */
};

struct wire_waited {
    uint32_t req, sid;
    uint8_t reason;  /* enum wire_wait_reason */
    uint64_t offset; /* of the screen that satisfied it; the current one for 3 and 4 */
};

struct wire_snapshot {
    uint32_t sid;
    uint64_t offset;        /* the screen is the one after output [0, offset) */
    struct wire_bytes data; /* rest */
};

struct wire_output {
    uint32_t sid;
    uint64_t offset; /* of the first byte of data */
    struct wire_bytes data;
};

struct wire_exit {
    uint32_t sid;
    uint64_t end;   /* final offset = total bytes of output */
    int32_t code;   /* -1 when killed by a signal */
    int32_t signal; /* 0 when it exited normally */
};

struct wire_gap {
    uint32_t sid;
    uint64_t from, to; /* [from, to) is not retained or was skipped */
};

struct wire_resized {
    uint32_t sid;
    uint16_t cols, rows;
};

struct wire_error {
    uint32_t req;              /* 0 when not tied to a request */
    uint32_t sid;              /* 0 when none */
    uint16_t code;             /* enum wire_err */
    struct wire_bytes message; /* UTF-8 */
};

/* One message: `type` says which member of the union is meaningful. */
struct wire_msg {
    uint8_t type; /* enum wire_type */
    union {
        struct wire_hello hello;
        struct wire_create create;
        struct wire_attach attach;
        struct wire_detach detach;
        struct wire_input input;
        struct wire_resize resize;
        struct wire_signal signal;
        struct wire_list list;
        struct wire_ack ack;
        struct wire_remove remove;
        struct wire_write write;
        struct wire_open open;
        struct wire_events events;
        struct wire_paste paste;
        struct wire_event event;
        struct wire_screen screen;
        struct wire_wait wait;
        struct wire_welcome welcome;
        struct wire_created created;
        struct wire_attached attached;
        struct wire_ok ok;
        struct wire_list_reply list_reply;
        struct wire_output output;
        struct wire_exit exit;
        struct wire_gap gap;
        struct wire_resized resized;
        struct wire_screen_reply screen_reply;
        struct wire_waited waited;
        struct wire_snapshot snapshot;
        struct wire_error error;
    };
};

/* Incremental LIST_REPLY encoder state, in caller storage. Fields are private. */
struct wire_list_writer {
    uint8_t *buf;
    size_t cap;   /* capped so the body never exceeds WIRE_MAX_BODY */
    size_t len;   /* bytes written so far */
    size_t start; /* where the body begins (after the length prefix, if any) */
    uint16_t count;
    bool ext; /* entries carry the version 3 fields */
};

/* Finds one frame at the start of a byte-stream buffer. Returns the bytes it spans
 * (> 0) and sets *body and *body_len; 0 when more bytes are needed; -EMSGSIZE as soon as
 * the declared length exceeds max_body; -EBADMSG for a declared length of 0. */
ssize_t wire_frame_split(const uint8_t *buf, size_t len, size_t max_body, const uint8_t **body,
                         size_t *body_len);

/* Decodes one body; slices in *out point into body. Returns:
 *   0          a valid message;
 *   -EBADMSG   malformed: truncated, trailing bytes, counts or lengths that do not match
 *              (reply BAD_FRAME and close);
 *   -ENOTSUP   unknown type; only out->type is set (reply UNKNOWN_TYPE, keep going);
 *   -EINVAL    well-formed but an argument is out of range (argc 0, an env entry without
 *              '=' or with an empty key, a NUL in name or cwd, a bad mode, from_kind,
 *              size or signal); *out is fully set, so the reply can carry its req
 *              (reply BAD_ARGUMENT, keep going). */
int wire_decode(const uint8_t *body, size_t len, struct wire_msg *out);

/* Encodes m, with the 4-byte length prefix when `prefix`. Returns the total size and
 * writes only if it fits in cap (snprintf-style); returns 0, writing nothing, when m
 * cannot be encoded (unknown type, a str16 over 65535 bytes, a body over WIRE_MAX_BODY).
 * Blocks and LIST_REPLY entries are copied as given: build them with wire_block_pack()
 * and struct wire_list_writer. */
size_t wire_encode(const struct wire_msg *m, uint8_t *buf, size_t cap, bool prefix);

/* Writes the header of an OUTPUT carrying n data bytes (sent after it with a gathered
 * write): the length prefix when `prefix`, then type, sid, offset. buf must hold
 * WIRE_LEN_PREFIX + WIRE_OUTPUT_HDR bytes. Returns the header size, or 0 when
 * n > WIRE_OUTPUT_MAX. */
size_t wire_output_header(uint8_t *buf, bool prefix, uint32_t sid, uint64_t offset, size_t n);

/* Returns the string of block b at *pos and advances *pos, or NULL at the end.
 * Start with *pos = 0. */
const char *wire_block_next(const struct wire_block *b, size_t *pos);

/* Packs n C strings into a block in buf (each followed by its NUL). Returns the size
 * needed; writes only if it fits in cap. Set block.p = buf, .len = return, .count = n. */
size_t wire_block_pack(const char *const *strs, size_t n, uint8_t *buf, size_t cap);

/* Starts a LIST_REPLY for req in buf, with the length prefix when `prefix`. Returns
 * false when cap cannot hold even an empty reply. */
bool wire_list_begin(struct wire_list_writer *w, uint8_t *buf, size_t cap, bool prefix,
                     uint32_t req);
/* The same, with `ext`: the reply has WIRE_LIST_F_EXT and every entry its version 3
 * fields (for version 3 connections). */
bool wire_list_begin_ext(struct wire_list_writer *w, uint8_t *buf, size_t cap, bool prefix,
                         uint32_t req, bool ext);

/* Appends one entry. Returns false, changing nothing, when it does not fit (finish this
 * reply with `more` and start another) or a string is over WIRE_MAX_STR16 bytes. */
bool wire_list_add(struct wire_list_writer *w, const struct wire_list_entry *e);

/* Completes the reply (flags, count, length prefix). Returns its total size. */
size_t wire_list_finish(struct wire_list_writer *w, bool more);

/* Reads the LIST_REPLY entry at *pos and advances *pos. Returns false at the end.
 * Start with *pos = 0; a decoded reply yields exactly r->count entries. The layout
 * follows r->flags (WIRE_LIST_F_EXT). */
bool wire_list_next(const struct wire_list_reply *r, size_t *pos, struct wire_list_entry *e);

/* Returns the req of a message that carries one, 0 for the others. */
uint32_t wire_msg_req(const struct wire_msg *m);

/* The protocol version that introduced a message type (1 for the original set): a
 * connection that negotiated a lower version gets UNKNOWN_TYPE for it. */
unsigned wire_type_version(uint8_t type);

/* Returns the lower-case name of a message type ("create"), or "unknown". */
const char *wire_type_name(uint8_t type);

/* Returns the lower-case name of an error code ("no_such_session"), or "unknown". */
const char *wire_err_name(uint16_t code);

/* Maps a negative return of wire_frame_split()/wire_decode() to the ERROR code to send:
 * -EBADMSG BAD_FRAME, -EMSGSIZE TOO_LARGE, -ENOTSUP UNKNOWN_TYPE, -EINVAL BAD_ARGUMENT,
 * anything else INTERNAL. */
uint16_t wire_err_from_errno(int rc);

/* True when the server closes the connection after sending this error code. */
bool wire_err_closes(uint16_t code);

#endif
