/* wire: encoder and decoder for the ptyhub session protocol (see wire.h and
 * docs/protocol.md).
 *
 * Every message type has one decode function, one encode function and optionally one
 * range check, listed together in `codecs`. Decoding reads through a bounds-checked
 * cursor that remembers a short read instead of failing at every step; encoding writes
 * through a cursor that counts what it would write, so one encode function serves both
 * to size a message and to write it.
 */
#include "proto/wire.h"

#include <errno.h>
#include <string.h>

/* A read cursor over a body. `bad` sticks once a read runs past the end. */
struct wire_rd {
    const uint8_t *p;
    size_t len, pos;
    bool bad;
};

/* A write cursor. Writes land only while they fit; `len` counts every byte regardless,
 * and `bad` marks a message that cannot be encoded. */
struct wire_wr {
    uint8_t *buf;
    size_t cap, len;
    bool bad;
};

struct wire_codec {
    uint8_t type;
    const char *name;
    int (*dec)(struct wire_rd *r, struct wire_msg *m);
    void (*enc)(struct wire_wr *w, const struct wire_msg *m);
    int (*check)(const struct wire_msg *m); /* NULL: every well-formed value is valid */
};

/* ---- reading ---- */

/* Returns a pointer to the next n bytes and consumes them, or NULL (and marks r bad). */
static const uint8_t *rd_take(struct wire_rd *r, size_t n)
{
    if (r->bad || r->len - r->pos < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *q = r->p + r->pos;
    r->pos += n;
    return q;
}

/* Reads a u8 (0 past the end). */
static uint8_t rd_u8(struct wire_rd *r)
{
    const uint8_t *q = rd_take(r, 1);
    return q ? q[0] : 0;
}

/* Reads a little-endian u16 (0 past the end). */
static uint16_t rd_u16(struct wire_rd *r)
{
    const uint8_t *q = rd_take(r, 2);
    return q ? (uint16_t)(q[0] | q[1] << 8) : 0;
}

/* Reads a little-endian u32 (0 past the end). */
static uint32_t rd_u32(struct wire_rd *r)
{
    const uint8_t *q = rd_take(r, 4);
    return q ? (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24
             : 0;
}

/* Reads a little-endian u64 (0 past the end). */
static uint64_t rd_u64(struct wire_rd *r)
{
    uint64_t lo = rd_u32(r);
    return lo | (uint64_t)rd_u32(r) << 32;
}

/* Reads a little-endian i32. */
static int32_t rd_i32(struct wire_rd *r)
{
    return (int32_t)rd_u32(r);
}

/* Reads n bytes as a slice. */
static struct wire_bytes rd_bytes(struct wire_rd *r, size_t n)
{
    const uint8_t *q = rd_take(r, n);
    return (struct wire_bytes){q, q ? n : 0};
}

/* Reads a str16: u16 length, then that many bytes. */
static struct wire_bytes rd_str16(struct wire_rd *r)
{
    return rd_bytes(r, rd_u16(r));
}

/* Reads every remaining byte. */
static struct wire_bytes rd_rest(struct wire_rd *r)
{
    return rd_bytes(r, r->len - r->pos);
}

/* True when a block holds exactly `count` NUL-terminated strings and nothing else. */
static bool block_valid(const struct wire_block *b)
{
    if (b->len == 0)
        return b->count == 0;
    if (b->p[b->len - 1] != 0)
        return false;
    size_t nuls = 0;
    for (const uint8_t *q = b->p, *end = b->p + b->len; q < end; q++) {
        q = memchr(q, 0, (size_t)(end - q));
        nuls++;
    }
    return nuls == b->count;
}

/* Reads `u16 count, u32 len, block` and checks the block's shape. */
static struct wire_block rd_block(struct wire_rd *r)
{
    struct wire_block b = {.count = rd_u16(r)};
    struct wire_bytes s = rd_bytes(r, rd_u32(r));
    b.p = s.p;
    b.len = s.len;
    if (!r->bad && !block_valid(&b))
        r->bad = true;
    return b;
}

/* Reads one LIST_REPLY entry; `ext`: with the version 3 fields. */
static void rd_entry(struct wire_rd *r, struct wire_list_entry *e, bool ext)
{
    memset(e, 0, sizeof *e);
    e->sid = rd_u32(r);
    e->pid = rd_i32(r);
    e->state = rd_u8(r);
    e->level = rd_u8(r);
    e->clients = rd_u16(r);
    e->exit_code = rd_i32(r);
    e->exit_signal = rd_i32(r);
    e->cols = rd_u16(r);
    e->rows = rd_u16(r);
    e->bytes_out = rd_u64(r);
    e->created_ms = rd_u64(r);
    e->name = rd_str16(r);
    e->command = rd_str16(r);
    if (!ext)
        return;
    e->cls = rd_u8(r);
    e->bells = rd_u32(r);
    e->last_output_ms = rd_u64(r);
    e->title = rd_str16(r);
    e->cwd = rd_str16(r);
}

/* ---- writing ---- */

/* Appends n bytes (when they fit) and counts them. */
static void wr_put(struct wire_wr *w, const void *src, size_t n)
{
    if (n > 0 && w->cap >= w->len && w->cap - w->len >= n)
        memcpy(w->buf + w->len, src, n);
    w->len += n;
}

/* Appends a u8. */
static void wr_u8(struct wire_wr *w, uint8_t v)
{
    wr_put(w, &v, 1);
}

/* Appends a little-endian u16. */
static void wr_u16(struct wire_wr *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    wr_put(w, b, sizeof b);
}

/* Appends a little-endian u32. */
static void wr_u32(struct wire_wr *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    wr_put(w, b, sizeof b);
}

/* Appends a little-endian u64. */
static void wr_u64(struct wire_wr *w, uint64_t v)
{
    wr_u32(w, (uint32_t)v);
    wr_u32(w, (uint32_t)(v >> 32));
}

/* Appends a little-endian i32. */
static void wr_i32(struct wire_wr *w, int32_t v)
{
    wr_u32(w, (uint32_t)v);
}

/* Appends a str16; a slice over 65535 bytes makes the message unencodable. */
static void wr_str16(struct wire_wr *w, struct wire_bytes s)
{
    if (s.len > WIRE_MAX_STR16)
        w->bad = true;
    wr_u16(w, (uint16_t)s.len);
    wr_put(w, s.p, s.len);
}

/* Appends `u16 count, u32 len, block`. */
static void wr_block(struct wire_wr *w, const struct wire_block *b)
{
    if (b->len > UINT32_MAX)
        w->bad = true;
    wr_u16(w, b->count);
    wr_u32(w, (uint32_t)b->len);
    wr_put(w, b->p, b->len);
}

/* Appends one LIST_REPLY entry; `ext`: with the version 3 fields. */
static void wr_entry(struct wire_wr *w, const struct wire_list_entry *e, bool ext)
{
    wr_u32(w, e->sid);
    wr_i32(w, e->pid);
    wr_u8(w, e->state);
    wr_u8(w, e->level);
    wr_u16(w, e->clients);
    wr_i32(w, e->exit_code);
    wr_i32(w, e->exit_signal);
    wr_u16(w, e->cols);
    wr_u16(w, e->rows);
    wr_u64(w, e->bytes_out);
    wr_u64(w, e->created_ms);
    wr_str16(w, e->name);
    wr_str16(w, e->command);
    if (!ext)
        return;
    wr_u8(w, e->cls);
    wr_u32(w, e->bells);
    wr_u64(w, e->last_output_ms);
    wr_str16(w, e->title);
    wr_str16(w, e->cwd);
}

/* ---- range checks (-EINVAL) ---- */

/* True for a size that is 0x0 (default/keep) or within 1..WIRE_MAX_DIM on both axes. */
static bool dims_valid_or_zero(uint16_t cols, uint16_t rows)
{
    if (cols == 0 && rows == 0)
        return true;
    return cols >= 1 && cols <= WIRE_MAX_DIM && rows >= 1 && rows <= WIRE_MAX_DIM;
}

/* True when every env entry has a non-empty key followed by '='. */
static bool env_valid(const struct wire_block *env)
{
    size_t pos = 0;
    const char *s;
    while ((s = wire_block_next(env, &pos)) != NULL) {
        const char *eq = strchr(s, '=');
        if (!eq || eq == s)
            return false;
    }
    return true;
}

/* Checks CREATE's arguments. */
static int check_create(const struct wire_msg *m)
{
    const struct wire_create *c = &m->create;
    if (c->argv.count == 0 || !dims_valid_or_zero(c->cols, c->rows) || !env_valid(&c->env))
        return -EINVAL;
    if ((c->name.len && memchr(c->name.p, 0, c->name.len)) ||
        (c->cwd.len && memchr(c->cwd.p, 0, c->cwd.len)))
        return -EINVAL;
    return 0;
}

/* Checks ATTACH's mode, from_kind and size. */
static int check_attach(const struct wire_msg *m)
{
    const struct wire_attach *a = &m->attach;
    if (a->mode > WIRE_MODE_READ_ONLY || a->from_kind > WIRE_FROM_SNAPSHOT ||
        !dims_valid_or_zero(a->cols, a->rows))
        return -EINVAL;
    return 0;
}

/* Checks RESIZE's size: both axes within 1..WIRE_MAX_DIM. */
static int check_resize(const struct wire_msg *m)
{
    const struct wire_resize *s = &m->resize;
    if (s->cols == 0 || s->rows == 0 || !dims_valid_or_zero(s->cols, s->rows))
        return -EINVAL;
    return 0;
}

/* Checks WAIT: at least one condition; TEXT needs a regex of 1..WIRE_WAIT_REGEX_MAX
 * bytes without NUL (regcomp takes a C string), IDLE at least 1 ms. */
static int check_wait(const struct wire_msg *m)
{
    const struct wire_wait *w = &m->wait;
    if (!(w->flags & (WIRE_WAIT_F_TEXT | WIRE_WAIT_F_IDLE)))
        return -EINVAL;
    if ((w->flags & WIRE_WAIT_F_TEXT) && (w->regex.len == 0 || w->regex.len > WIRE_WAIT_REGEX_MAX ||
                                          memchr(w->regex.p, 0, w->regex.len)))
        return -EINVAL;
    if ((w->flags & WIRE_WAIT_F_IDLE) && w->idle_ms == 0)
        return -EINVAL;
    return 0;
}

/* Checks SIGNAL's signal number. */
static int check_signal(const struct wire_msg *m)
{
    return m->signal.signo > WIRE_MAX_SIGNO ? -EINVAL : 0;
}

/* ---- per-message decoders and encoders ---- */

/* HELLO: u32 magic, u16 version, u16 flags. A wrong magic is not our protocol. Any
 * version decodes: the server negotiates (docs/protocol.md, "Versions"). */
static int dec_hello(struct wire_rd *r, struct wire_msg *m)
{
    uint32_t magic = rd_u32(r);
    m->hello.version = rd_u16(r);
    m->hello.flags = rd_u16(r);
    return magic == WIRE_MAGIC ? 0 : -EBADMSG;
}

/* Writes the payload of HELLO. */
static void enc_hello(struct wire_wr *w, const struct wire_msg *m)
{
    wr_u32(w, WIRE_MAGIC);
    wr_u16(w, m->hello.version);
    wr_u16(w, m->hello.flags);
}

/* CREATE's fields after its req (OPEN carries them too): cols, rows, str16 name,
 * str16 cwd, argv block, env block. */
static void dec_create_fields(struct wire_rd *r, struct wire_create *c)
{
    c->cols = rd_u16(r);
    c->rows = rd_u16(r);
    c->name = rd_str16(r);
    c->cwd = rd_str16(r);
    c->argv = rd_block(r);
    c->env = rd_block(r);
}

/* Writes CREATE's fields after its req. */
static void enc_create_fields(struct wire_wr *w, const struct wire_create *c)
{
    wr_u16(w, c->cols);
    wr_u16(w, c->rows);
    wr_str16(w, c->name);
    wr_str16(w, c->cwd);
    wr_block(w, &c->argv);
    wr_block(w, &c->env);
}

/* CREATE: req, then the fields above. */
static int dec_create(struct wire_rd *r, struct wire_msg *m)
{
    m->create.req = rd_u32(r);
    dec_create_fields(r, &m->create);
    return 0;
}

/* Writes the payload of CREATE. */
static void enc_create(struct wire_wr *w, const struct wire_msg *m)
{
    wr_u32(w, m->create.req);
    enc_create_fields(w, &m->create);
}

/* ATTACH: req, sid, u8 mode, u8 from_kind, u16 reserved (ignored), u64 from, cols, rows. */
static int dec_attach(struct wire_rd *r, struct wire_msg *m)
{
    struct wire_attach *a = &m->attach;
    a->req = rd_u32(r);
    a->sid = rd_u32(r);
    a->mode = rd_u8(r);
    a->from_kind = rd_u8(r);
    (void)rd_u16(r);
    a->from = rd_u64(r);
    a->cols = rd_u16(r);
    a->rows = rd_u16(r);
    return 0;
}

/* Writes the payload of ATTACH (reserved written as 0). */
static void enc_attach(struct wire_wr *w, const struct wire_msg *m)
{
    const struct wire_attach *a = &m->attach;
    wr_u32(w, a->req);
    wr_u32(w, a->sid);
    wr_u8(w, a->mode);
    wr_u8(w, a->from_kind);
    wr_u16(w, 0);
    wr_u64(w, a->from);
    wr_u16(w, a->cols);
    wr_u16(w, a->rows);
}

/* DETACH: req, sid. */
static int dec_detach(struct wire_rd *r, struct wire_msg *m)
{
    m->detach.req = rd_u32(r);
    m->detach.sid = rd_u32(r);
    return 0;
}

/* Writes the payload of DETACH. */
static void enc_detach(struct wire_wr *w, const struct wire_msg *m)
{
    wr_u32(w, m->detach.req);
    wr_u32(w, m->detach.sid);
}

/* INPUT: sid, rest = bytes to type. */
static int dec_input(struct wire_rd *r, struct wire_msg *m)
{
    m->input.sid = rd_u32(r);
    m->input.data = rd_rest(r);
    return 0;
}

/* Writes the payload of INPUT. */
static void enc_input(struct wire_wr *w, const struct wire_msg *m)
{
    wr_u32(w, m->input.sid);
    wr_put(w, m->input.data.p, m->input.data.len);
}

/* RESIZE: sid, cols, rows. */
static int dec_resize(struct wire_rd *r, struct wire_msg *m)
{
    m->resize.sid = rd_u32(r);
    m->resize.cols = rd_u16(r);
    m->resize.rows = rd_u16(r);
    return 0;
}

/* Writes the payload of RESIZE. */
static void enc_resize(struct wire_wr *w, const struct wire_msg *m)
{
    wr_u32(w, m->resize.sid);
    wr_u16(w, m->resize.cols);
    wr_u16(w, m->resize.rows);
}

/* SIGNAL: req, sid, u8 signo. */
static int dec_signal(struct wire_rd *r, struct wire_msg *m)
{
    m->signal.req = rd_u32(r);
    m->signal.sid = rd_u32(r);
    m->signal.signo = rd_u8(r);
    return 0;
}

/* Writes the payload of SIGNAL. */
static void enc_signal(struct wire_wr *w, const struct wire_msg *m)
{
    wr_u32(w, m->signal.req);
    wr_u32(w, m->signal.sid);
    wr_u8(w, m->signal.signo);
}

/* LIST: req. */
static int dec_list(struct wire_rd *r, struct wire_msg *m)
{
    m->list.req = rd_u32(r);
    return 0;
}

/* Writes the payload of LIST. */
static void enc_list(struct wire_wr *w, const struct wire_msg *m)
{
    wr_u32(w, m->list.req);
}

/* ACK: sid, u64 offset. */
static int dec_ack(struct wire_rd *r, struct wire_msg *m)
{
    m->ack.sid = rd_u32(r);
    m->ack.offset = rd_u64(r);
    return 0;
}

/* Writes the payload of ACK. */
static void enc_ack(struct wire_wr *w, const struct wire_msg *m)
{
    wr_u32(w, m->ack.sid);
    wr_u64(w, m->ack.offset);
}

/* REMOVE: req, sid. */
static int dec_remove(struct wire_rd *r, struct wire_msg *m)
{
    m->remove.req = rd_u32(r);
    m->remove.sid = rd_u32(r);
    return 0;
}

/* Writes the payload of REMOVE. */
static void enc_remove(struct wire_wr *w, const struct wire_msg *m)
{
    wr_u32(w, m->remove.req);
    wr_u32(w, m->remove.sid);
}

/* WRITE: req, sid, u8 flags, rest = bytes to type. */
static int dec_write(struct wire_rd *r, struct wire_msg *m)
{
    m->write.req = rd_u32(r);
    m->write.sid = rd_u32(r);
    m->write.flags = rd_u8(r);
    m->write.data = rd_rest(r);
    return 0;
}

/* Writes the payload of WRITE. */
static void enc_write(struct wire_wr *w, const struct wire_msg *m)
{
    wr_u32(w, m->write.req);
    wr_u32(w, m->write.sid);
    wr_u8(w, m->write.flags);
    wr_put(w, m->write.data.p, m->write.data.len);
}

/* Checks OPEN: CREATE's arguments and the attach mode. */
static int check_open(const struct wire_msg *m)
{
    if (m->open.mode > WIRE_MODE_READ_ONLY)
        return -EINVAL;
    struct wire_msg c = {.type = WIRE_CREATE, .create = m->open.create};
    return check_create(&c);
}

/* OPEN: req, u8 flags, u8 mode, then CREATE's payload after its req. */
static int dec_open(struct wire_rd *r, struct wire_msg *m)
{
    struct wire_open *o = &m->open;
    uint32_t req = rd_u32(r);
    o->flags = rd_u8(r);
    o->mode = rd_u8(r);
    struct wire_msg c;
    dec_create_fields(r, &c.create);
    o->create = c.create;
    o->create.req = req;
    return 0;
}

/* Writes the payload of OPEN. */
static void enc_open(struct wire_wr *w, const struct wire_msg *m)
{
    const struct wire_open *o = &m->open;
    wr_u32(w, o->create.req);
    wr_u8(w, o->flags);
    wr_u8(w, o->mode);
    enc_create_fields(w, &o->create);
}

/* EVENTS: req, u32 mask. */
static int dec_events(struct wire_rd *r, struct wire_msg *m)
{
    m->events.req = rd_u32(r);
    m->events.mask = rd_u32(r);
    return 0;
}

/* Writes the payload of EVENTS. */
static void enc_events(struct wire_wr *w, const struct wire_msg *m)
{
    wr_u32(w, m->events.req);
    wr_u32(w, m->events.mask);
}

/* PASTE: req, sid, u8 flags, rest = text. */
static int dec_paste(struct wire_rd *r, struct wire_msg *m)
{
    m->paste.req = rd_u32(r);
    m->paste.sid = rd_u32(r);
    m->paste.flags = rd_u8(r);
    m->paste.data = rd_rest(r);
    return 0;
}

/* Writes the payload of PASTE. */
static void enc_paste(struct wire_wr *w, const struct wire_msg *m)
{
    wr_u32(w, m->paste.req);
    wr_u32(w, m->paste.sid);
    wr_u8(w, m->paste.flags);
    wr_put(w, m->paste.data.p, m->paste.data.len);
}

/* EVENT: u8 kind, sid, u64 time_ms, then the kind's fields (docs/protocol.md). */
static int dec_event(struct wire_rd *r, struct wire_msg *m)
{
    struct wire_event *e = &m->event;
    e->kind = rd_u8(r);
    e->sid = rd_u32(r);
    e->time_ms = rd_u64(r);
    switch (e->kind) {
    case WIRE_EV_CREATED:
        e->pid = rd_i32(r);
        e->cols = rd_u16(r);
        e->rows = rd_u16(r);
        e->name = rd_str16(r);
        e->command = rd_str16(r);
        break;
    case WIRE_EV_EXITED:
        e->code = rd_i32(r);
        e->signal = rd_i32(r);
        e->end = rd_u64(r);
        break;
    case WIRE_EV_REMOVED:
        break;
    case WIRE_EV_RESIZED:
        e->cols = rd_u16(r);
        e->rows = rd_u16(r);
        break;
    case WIRE_EV_TITLE:
        e->title = rd_str16(r);
        break;
    case WIRE_EV_DROPPED:
        e->count = rd_u32(r);
        break;
    default:
        e->rest = rd_rest(r); /* a later version's kind: skipped by clients */
        break;
    }
    return 0;
}

/* Writes the payload of EVENT. */
static void enc_event(struct wire_wr *w, const struct wire_msg *m)
{
    const struct wire_event *e = &m->event;
    wr_u8(w, e->kind);
    wr_u32(w, e->sid);
    wr_u64(w, e->time_ms);
    switch (e->kind) {
    case WIRE_EV_CREATED:
        wr_i32(w, e->pid);
        wr_u16(w, e->cols);
        wr_u16(w, e->rows);
        wr_str16(w, e->name);
        wr_str16(w, e->command);
        break;
    case WIRE_EV_EXITED:
        wr_i32(w, e->code);
        wr_i32(w, e->signal);
        wr_u64(w, e->end);
        break;
    case WIRE_EV_REMOVED:
        break;
    case WIRE_EV_RESIZED:
        wr_u16(w, e->cols);
        wr_u16(w, e->rows);
        break;
    case WIRE_EV_TITLE:
        wr_str16(w, e->title);
        break;
    case WIRE_EV_DROPPED:
        wr_u32(w, e->count);
        break;
    default:
        wr_put(w, e->rest.p, e->rest.len);
        break;
    }
}

/* SCREEN: req, sid, u8 flags. */
static int dec_screen(struct wire_rd *r, struct wire_msg *m)
{
    m->screen.req = rd_u32(r);
    m->screen.sid = rd_u32(r);
    m->screen.flags = rd_u8(r);
    return 0;
}

/* Writes the payload of SCREEN. */
static void enc_screen(struct wire_wr *w, const struct wire_msg *m)
{
    wr_u32(w, m->screen.req);
    wr_u32(w, m->screen.sid);
    wr_u8(w, m->screen.flags);
}

/* WAIT: req, sid, u8 flags, u64 after, u32 idle_ms, u32 timeout_ms, rest = regex. */
static int dec_wait(struct wire_rd *r, struct wire_msg *m)
{
    struct wire_wait *w = &m->wait;
    w->req = rd_u32(r);
    w->sid = rd_u32(r);
    w->flags = rd_u8(r);
    w->after = rd_u64(r);
    w->idle_ms = rd_u32(r);
    w->timeout_ms = rd_u32(r);
    w->regex = rd_rest(r);
    return 0;
}

/* Writes the payload of WAIT. */
static void enc_wait(struct wire_wr *w, const struct wire_msg *m)
{
    const struct wire_wait *wt = &m->wait;
    wr_u32(w, wt->req);
    wr_u32(w, wt->sid);
    wr_u8(w, wt->flags);
    wr_u64(w, wt->after);
    wr_u32(w, wt->idle_ms);
    wr_u32(w, wt->timeout_ms);
    wr_put(w, wt->regex.p, wt->regex.len);
}

/* SCREEN_REPLY: req, sid, u64 offset, cols, rows, cursor col/row, u8 flags, u32 modes,
 * str16 title, rest = data. */
static int dec_screen_reply(struct wire_rd *r, struct wire_msg *m)
{
    struct wire_screen_reply *s = &m->screen_reply;
    s->req = rd_u32(r);
    s->sid = rd_u32(r);
    s->offset = rd_u64(r);
    s->cols = rd_u16(r);
    s->rows = rd_u16(r);
    s->cursor_col = rd_u16(r);
    s->cursor_row = rd_u16(r);
    s->flags = rd_u8(r);
    s->modes = rd_u32(r);
    s->title = rd_str16(r);
    s->data = rd_rest(r);
    return 0;
}

/* Writes the payload of SCREEN_REPLY. */
static void enc_screen_reply(struct wire_wr *w, const struct wire_msg *m)
{
    const struct wire_screen_reply *s = &m->screen_reply;
    wr_u32(w, s->req);
    wr_u32(w, s->sid);
    wr_u64(w, s->offset);
    wr_u16(w, s->cols);
    wr_u16(w, s->rows);
    wr_u16(w, s->cursor_col);
    wr_u16(w, s->cursor_row);
    wr_u8(w, s->flags);
    wr_u32(w, s->modes);
    wr_str16(w, s->title);
    wr_put(w, s->data.p, s->data.len);
}

/* WAITED: req, sid, u8 reason, u64 offset. */
static int dec_waited(struct wire_rd *r, struct wire_msg *m)
{
    m->waited.req = rd_u32(r);
    m->waited.sid = rd_u32(r);
    m->waited.reason = rd_u8(r);
    m->waited.offset = rd_u64(r);
    return 0;
}

/* Writes the payload of WAITED. */
static void enc_waited(struct wire_wr *w, const struct wire_msg *m)
{
    wr_u32(w, m->waited.req);
    wr_u32(w, m->waited.sid);
    wr_u8(w, m->waited.reason);
    wr_u64(w, m->waited.offset);
}

/* SNAPSHOT: sid, u64 offset, rest = bytes that draw the screen. */
static int dec_snapshot(struct wire_rd *r, struct wire_msg *m)
{
    m->snapshot.sid = rd_u32(r);
    m->snapshot.offset = rd_u64(r);
    m->snapshot.data = rd_rest(r);
    return 0;
}

/* Writes the payload of SNAPSHOT. */
static void enc_snapshot(struct wire_wr *w, const struct wire_msg *m)
{
    wr_u32(w, m->snapshot.sid);
    wr_u64(w, m->snapshot.offset);
    wr_put(w, m->snapshot.data.p, m->snapshot.data.len);
}

/* WELCOME: u16 version, u16 flags, u32 server_pid, rest = server version string. */
static int dec_welcome(struct wire_rd *r, struct wire_msg *m)
{
    m->welcome.version = rd_u16(r);
    m->welcome.flags = rd_u16(r);
    m->welcome.server_pid = rd_u32(r);
    m->welcome.server_version = rd_rest(r);
    return 0;
}

/* Writes the payload of WELCOME. */
static void enc_welcome(struct wire_wr *w, const struct wire_msg *m)
{
    wr_u16(w, m->welcome.version);
    wr_u16(w, m->welcome.flags);
    wr_u32(w, m->welcome.server_pid);
    wr_put(w, m->welcome.server_version.p, m->welcome.server_version.len);
}

/* CREATED: req, sid, i32 pid. */
static int dec_created(struct wire_rd *r, struct wire_msg *m)
{
    m->created.req = rd_u32(r);
    m->created.sid = rd_u32(r);
    m->created.pid = rd_i32(r);
    return 0;
}

/* Writes the payload of CREATED. */
static void enc_created(struct wire_wr *w, const struct wire_msg *m)
{
    wr_u32(w, m->created.req);
    wr_u32(w, m->created.sid);
    wr_i32(w, m->created.pid);
}

/* ATTACHED: req, sid, u64 start, u64 end, cols, rows, u8 state. */
static int dec_attached(struct wire_rd *r, struct wire_msg *m)
{
    struct wire_attached *a = &m->attached;
    a->req = rd_u32(r);
    a->sid = rd_u32(r);
    a->start = rd_u64(r);
    a->end = rd_u64(r);
    a->cols = rd_u16(r);
    a->rows = rd_u16(r);
    a->state = rd_u8(r);
    return 0;
}

/* Writes the payload of ATTACHED. */
static void enc_attached(struct wire_wr *w, const struct wire_msg *m)
{
    const struct wire_attached *a = &m->attached;
    wr_u32(w, a->req);
    wr_u32(w, a->sid);
    wr_u64(w, a->start);
    wr_u64(w, a->end);
    wr_u16(w, a->cols);
    wr_u16(w, a->rows);
    wr_u8(w, a->state);
}

/* OK: req. */
static int dec_ok(struct wire_rd *r, struct wire_msg *m)
{
    m->ok.req = rd_u32(r);
    return 0;
}

/* Writes the payload of OK. */
static void enc_ok(struct wire_wr *w, const struct wire_msg *m)
{
    wr_u32(w, m->ok.req);
}

/* LIST_REPLY: req, u8 flags, u16 count, then exactly count entries (with the version 3
 * fields when flags has WIRE_LIST_F_EXT). */
static int dec_list_reply(struct wire_rd *r, struct wire_msg *m)
{
    struct wire_list_reply *l = &m->list_reply;
    l->req = rd_u32(r);
    l->flags = rd_u8(r);
    l->count = rd_u16(r);
    size_t start = r->pos;
    struct wire_list_entry e;
    for (uint16_t i = 0; i < l->count && !r->bad; i++)
        rd_entry(r, &e, l->flags & WIRE_LIST_F_EXT);
    l->entries = (struct wire_bytes){r->p + start, r->bad ? 0 : r->pos - start};
    return 0;
}

/* Writes the payload of LIST_REPLY (entries copied as given). */
static void enc_list_reply(struct wire_wr *w, const struct wire_msg *m)
{
    const struct wire_list_reply *l = &m->list_reply;
    wr_u32(w, l->req);
    wr_u8(w, l->flags);
    wr_u16(w, l->count);
    wr_put(w, l->entries.p, l->entries.len);
}

/* OUTPUT: sid, u64 offset, rest = output bytes. */
static int dec_output(struct wire_rd *r, struct wire_msg *m)
{
    m->output.sid = rd_u32(r);
    m->output.offset = rd_u64(r);
    m->output.data = rd_rest(r);
    return 0;
}

/* Writes the payload of OUTPUT. */
static void enc_output(struct wire_wr *w, const struct wire_msg *m)
{
    wr_u32(w, m->output.sid);
    wr_u64(w, m->output.offset);
    wr_put(w, m->output.data.p, m->output.data.len);
}

/* EXIT: sid, u64 end, i32 code, i32 signal. */
static int dec_exit(struct wire_rd *r, struct wire_msg *m)
{
    m->exit.sid = rd_u32(r);
    m->exit.end = rd_u64(r);
    m->exit.code = rd_i32(r);
    m->exit.signal = rd_i32(r);
    return 0;
}

/* Writes the payload of EXIT. */
static void enc_exit(struct wire_wr *w, const struct wire_msg *m)
{
    wr_u32(w, m->exit.sid);
    wr_u64(w, m->exit.end);
    wr_i32(w, m->exit.code);
    wr_i32(w, m->exit.signal);
}

/* GAP: sid, u64 from, u64 to. */
static int dec_gap(struct wire_rd *r, struct wire_msg *m)
{
    m->gap.sid = rd_u32(r);
    m->gap.from = rd_u64(r);
    m->gap.to = rd_u64(r);
    return 0;
}

/* Writes the payload of GAP. */
static void enc_gap(struct wire_wr *w, const struct wire_msg *m)
{
    wr_u32(w, m->gap.sid);
    wr_u64(w, m->gap.from);
    wr_u64(w, m->gap.to);
}

/* RESIZED: sid, cols, rows. */
static int dec_resized(struct wire_rd *r, struct wire_msg *m)
{
    m->resized.sid = rd_u32(r);
    m->resized.cols = rd_u16(r);
    m->resized.rows = rd_u16(r);
    return 0;
}

/* Writes the payload of RESIZED. */
static void enc_resized(struct wire_wr *w, const struct wire_msg *m)
{
    wr_u32(w, m->resized.sid);
    wr_u16(w, m->resized.cols);
    wr_u16(w, m->resized.rows);
}

/* ERROR: req, sid, u16 code, rest = message. */
static int dec_error(struct wire_rd *r, struct wire_msg *m)
{
    m->error.req = rd_u32(r);
    m->error.sid = rd_u32(r);
    m->error.code = rd_u16(r);
    m->error.message = rd_rest(r);
    return 0;
}

/* Writes the payload of ERROR. */
static void enc_error(struct wire_wr *w, const struct wire_msg *m)
{
    wr_u32(w, m->error.req);
    wr_u32(w, m->error.sid);
    wr_u16(w, m->error.code);
    wr_put(w, m->error.message.p, m->error.message.len);
}

static const struct wire_codec codecs[] = {
    {WIRE_HELLO, "hello", dec_hello, enc_hello, NULL},
    {WIRE_CREATE, "create", dec_create, enc_create, check_create},
    {WIRE_ATTACH, "attach", dec_attach, enc_attach, check_attach},
    {WIRE_DETACH, "detach", dec_detach, enc_detach, NULL},
    {WIRE_INPUT, "input", dec_input, enc_input, NULL},
    {WIRE_RESIZE, "resize", dec_resize, enc_resize, check_resize},
    {WIRE_SIGNAL, "signal", dec_signal, enc_signal, check_signal},
    {WIRE_LIST, "list", dec_list, enc_list, NULL},
    {WIRE_ACK, "ack", dec_ack, enc_ack, NULL},
    {WIRE_REMOVE, "remove", dec_remove, enc_remove, NULL},
    {WIRE_WRITE, "write", dec_write, enc_write, NULL},
    {WIRE_OPEN, "open", dec_open, enc_open, check_open},
    {WIRE_EVENTS, "events", dec_events, enc_events, NULL},
    {WIRE_PASTE, "paste", dec_paste, enc_paste, NULL},
    {WIRE_SCREEN, "screen", dec_screen, enc_screen, NULL},
    {WIRE_WAIT, "wait", dec_wait, enc_wait, check_wait},
    {WIRE_WELCOME, "welcome", dec_welcome, enc_welcome, NULL},
    {WIRE_CREATED, "created", dec_created, enc_created, NULL},
    {WIRE_ATTACHED, "attached", dec_attached, enc_attached, NULL},
    {WIRE_OK, "ok", dec_ok, enc_ok, NULL},
    {WIRE_LIST_REPLY, "list_reply", dec_list_reply, enc_list_reply, NULL},
    {WIRE_SCREEN_REPLY, "screen_reply", dec_screen_reply, enc_screen_reply, NULL},
    {WIRE_WAITED, "waited", dec_waited, enc_waited, NULL},
    {WIRE_OUTPUT, "output", dec_output, enc_output, NULL},
    {WIRE_EXIT, "exit", dec_exit, enc_exit, NULL},
    {WIRE_GAP, "gap", dec_gap, enc_gap, NULL},
    {WIRE_RESIZED, "resized", dec_resized, enc_resized, NULL},
    {WIRE_EVENT, "event", dec_event, enc_event, NULL},
    {WIRE_SNAPSHOT, "snapshot", dec_snapshot, enc_snapshot, NULL},
    {WIRE_ERROR, "error", dec_error, enc_error, NULL},
};

/* Returns the codec for a type, or NULL. */
static const struct wire_codec *codec_find(uint8_t type)
{
    for (size_t i = 0; i < sizeof codecs / sizeof codecs[0]; i++)
        if (codecs[i].type == type)
            return &codecs[i];
    return NULL;
}

/* ---- public API ---- */

/* Finds one length-prefixed frame at the start of buf. */
ssize_t wire_frame_split(const uint8_t *buf, size_t len, size_t max_body, const uint8_t **body,
                         size_t *body_len)
{
    if (len < WIRE_LEN_PREFIX)
        return 0;
    struct wire_rd r = {buf, len, 0, false};
    size_t n = rd_u32(&r);
    if (n == 0)
        return -EBADMSG;
    if (n > max_body)
        return -EMSGSIZE;
    if (len - WIRE_LEN_PREFIX < n)
        return 0;
    *body = buf + WIRE_LEN_PREFIX;
    *body_len = n;
    return (ssize_t)(WIRE_LEN_PREFIX + n);
}

/* Decodes one body: structure first (-EBADMSG), then argument ranges (-EINVAL). */
int wire_decode(const uint8_t *body, size_t len, struct wire_msg *out)
{
    memset(out, 0, sizeof *out);
    if (len == 0)
        return -EBADMSG;
    struct wire_rd r = {body, len, 0, false};
    out->type = rd_u8(&r);
    const struct wire_codec *c = codec_find(out->type);
    if (!c)
        return -ENOTSUP;
    int rc = c->dec(&r, out);
    if (rc < 0)
        return rc;
    if (r.bad || r.pos != r.len)
        return -EBADMSG;
    return c->check ? c->check(out) : 0;
}

/* Writes type and payload through w; marks w bad if m cannot be encoded. */
static void encode_body(struct wire_wr *w, const struct wire_codec *c, const struct wire_msg *m)
{
    wr_u8(w, m->type);
    c->enc(w, m);
}

/* Encodes m snprintf-style, with the length prefix when asked. */
size_t wire_encode(const struct wire_msg *m, uint8_t *buf, size_t cap, bool prefix)
{
    const struct wire_codec *c = codec_find(m->type);
    if (!c)
        return 0;
    struct wire_wr sizer = {NULL, 0, 0, false};
    encode_body(&sizer, c, m);
    if (sizer.bad || sizer.len > WIRE_MAX_BODY)
        return 0;
    size_t total = sizer.len + (prefix ? WIRE_LEN_PREFIX : 0);
    if (total > cap)
        return total;
    struct wire_wr w = {buf, cap, 0, false};
    if (prefix)
        wr_u32(&w, (uint32_t)sizer.len);
    encode_body(&w, c, m);
    return total;
}

/* Writes an OUTPUT header for n bytes of data that follow separately. */
size_t wire_output_header(uint8_t *buf, bool prefix, uint32_t sid, uint64_t offset, size_t n)
{
    if (n > WIRE_OUTPUT_MAX)
        return 0;
    struct wire_wr w = {buf, WIRE_LEN_PREFIX + WIRE_OUTPUT_HDR, 0, false};
    if (prefix)
        wr_u32(&w, (uint32_t)(WIRE_OUTPUT_HDR + n));
    wr_u8(&w, WIRE_OUTPUT);
    wr_u32(&w, sid);
    wr_u64(&w, offset);
    return w.len;
}

/* Returns the next string of a block, or NULL at its end (or at an unterminated tail). */
const char *wire_block_next(const struct wire_block *b, size_t *pos)
{
    if (*pos >= b->len)
        return NULL;
    const uint8_t *s = b->p + *pos;
    const uint8_t *nul = memchr(s, 0, b->len - *pos);
    if (!nul)
        return NULL;
    *pos += (size_t)(nul - s) + 1;
    return (const char *)s;
}

/* Packs C strings, each with its NUL, into buf snprintf-style. */
size_t wire_block_pack(const char *const *strs, size_t n, uint8_t *buf, size_t cap)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += strlen(strs[i]) + 1;
    if (total > cap)
        return total;
    struct wire_wr w = {buf, cap, 0, false};
    for (size_t i = 0; i < n; i++)
        wr_put(&w, strs[i], strlen(strs[i]) + 1);
    return total;
}

/* Starts a LIST_REPLY: placeholders for the prefix, flags and count are patched later. */
bool wire_list_begin(struct wire_list_writer *w, uint8_t *buf, size_t cap, bool prefix,
                     uint32_t req)
{
    return wire_list_begin_ext(w, buf, cap, prefix, req, false);
}

/* Starts a LIST_REPLY whose entries carry the version 3 fields when `ext`. */
bool wire_list_begin_ext(struct wire_list_writer *w, uint8_t *buf, size_t cap, bool prefix,
                         uint32_t req, bool ext)
{
    size_t start = prefix ? WIRE_LEN_PREFIX : 0;
    if (cap > start + WIRE_MAX_BODY)
        cap = start + WIRE_MAX_BODY;
    *w = (struct wire_list_writer){buf, cap, start, start, 0, ext};
    if (cap < start + WIRE_LIST_HDR)
        return false;
    struct wire_wr o = {buf + start, WIRE_LIST_HDR, 0, false};
    wr_u8(&o, WIRE_LIST_REPLY);
    wr_u32(&o, req);
    wr_u8(&o, 0);
    wr_u16(&o, 0);
    w->len += WIRE_LIST_HDR;
    return true;
}

/* Appends one entry if it fits. */
bool wire_list_add(struct wire_list_writer *w, const struct wire_list_entry *e)
{
    if (e->name.len > WIRE_MAX_STR16 || e->command.len > WIRE_MAX_STR16 || w->count == UINT16_MAX)
        return false;
    if (w->ext && (e->title.len > WIRE_MAX_STR16 || e->cwd.len > WIRE_MAX_STR16))
        return false;
    size_t need = WIRE_LIST_ENTRY_FIXED + e->name.len + e->command.len;
    if (w->ext)
        need += WIRE_LIST_ENTRY_EXT + e->title.len + e->cwd.len;
    if (w->len > w->cap || w->cap - w->len < need)
        return false;
    struct wire_wr o = {w->buf + w->len, need, 0, false};
    wr_entry(&o, e, w->ext);
    w->len += need;
    w->count++;
    return true;
}

/* Patches flags, count and the length prefix; returns the reply's total size. */
size_t wire_list_finish(struct wire_list_writer *w, bool more)
{
    if (w->len < w->start + WIRE_LIST_HDR)
        return 0;
    struct wire_wr tail = {w->buf + w->start + 5, 3, 0, false}; /* after type and req */
    wr_u8(&tail, (uint8_t)((more ? WIRE_LIST_F_MORE : 0) | (w->ext ? WIRE_LIST_F_EXT : 0)));
    wr_u16(&tail, w->count);
    if (w->start) {
        struct wire_wr len = {w->buf, WIRE_LEN_PREFIX, 0, false};
        wr_u32(&len, (uint32_t)(w->len - w->start));
    }
    return w->len;
}

/* Reads the next LIST_REPLY entry. */
bool wire_list_next(const struct wire_list_reply *r, size_t *pos, struct wire_list_entry *e)
{
    if (*pos >= r->entries.len)
        return false;
    struct wire_rd rd = {r->entries.p, r->entries.len, *pos, false};
    rd_entry(&rd, e, r->flags & WIRE_LIST_F_EXT);
    if (rd.bad)
        return false;
    *pos = rd.pos;
    return true;
}

/* Returns the req a message carries, or 0. */
uint32_t wire_msg_req(const struct wire_msg *m)
{
    switch (m->type) {
    case WIRE_CREATE:
        return m->create.req;
    case WIRE_ATTACH:
        return m->attach.req;
    case WIRE_DETACH:
        return m->detach.req;
    case WIRE_SIGNAL:
        return m->signal.req;
    case WIRE_LIST:
        return m->list.req;
    case WIRE_REMOVE:
        return m->remove.req;
    case WIRE_WRITE:
        return m->write.req;
    case WIRE_OPEN:
        return m->open.create.req;
    case WIRE_EVENTS:
        return m->events.req;
    case WIRE_PASTE:
        return m->paste.req;
    case WIRE_SCREEN:
        return m->screen.req;
    case WIRE_WAIT:
        return m->wait.req;
    case WIRE_SCREEN_REPLY:
        return m->screen_reply.req;
    case WIRE_WAITED:
        return m->waited.req;
    case WIRE_CREATED:
        return m->created.req;
    case WIRE_ATTACHED:
        return m->attached.req;
    case WIRE_OK:
        return m->ok.req;
    case WIRE_LIST_REPLY:
        return m->list_reply.req;
    case WIRE_ERROR:
        return m->error.req;
    default:
        return 0;
    }
}

/* The version that introduced a type: 2 for WRITE and RESIZED, 3 for OPEN, EVENTS,
 * PASTE, EVENT and the terminal messages (0x0C, 0x0D, 0x86, 0x87, 0x94). */
unsigned wire_type_version(uint8_t type)
{
    switch (type) {
    case WIRE_WRITE:
    case WIRE_RESIZED:
        return 2;
    case 0x0C: /* SCREEN */
    case 0x0D: /* WAIT */
    case WIRE_OPEN:
    case WIRE_EVENTS:
    case WIRE_PASTE:
    case 0x86: /* SCREEN_REPLY */
    case 0x87: /* WAITED */
    case 0x94: /* SNAPSHOT */
    case WIRE_EVENT:
        return 3;
    default:
        return 1;
    }
}

/* Returns a message type's name. */
const char *wire_type_name(uint8_t type)
{
    const struct wire_codec *c = codec_find(type);
    return c ? c->name : "unknown";
}

static const char *const err_names[] = {
    [WIRE_ERR_BAD_FRAME] = "bad_frame",
    [WIRE_ERR_TOO_LARGE] = "too_large",
    [WIRE_ERR_UNKNOWN_TYPE] = "unknown_type",
    [WIRE_ERR_VERSION] = "version",
    [WIRE_ERR_NOT_HELLO] = "not_hello",
    [WIRE_ERR_NO_SUCH_SESSION] = "no_such_session",
    [WIRE_ERR_SPAWN_FAILED] = "spawn_failed",
    [WIRE_ERR_BAD_ARGUMENT] = "bad_argument",
    [WIRE_ERR_LIMIT] = "limit",
    [WIRE_ERR_NOT_ATTACHED] = "not_attached",
    [WIRE_ERR_READ_ONLY] = "read_only",
    [WIRE_ERR_EXITED] = "exited",
    [WIRE_ERR_INTERNAL] = "internal",
    [WIRE_ERR_AUTH] = "auth",
    [WIRE_ERR_UNAVAILABLE] = "unavailable",
};

/* Returns an error code's name. */
const char *wire_err_name(uint16_t code)
{
    if (code >= sizeof err_names / sizeof err_names[0] || !err_names[code])
        return "unknown";
    return err_names[code];
}

/* Maps a codec errno to the ERROR code a server sends. */
uint16_t wire_err_from_errno(int rc)
{
    switch (rc) {
    case -EBADMSG:
        return WIRE_ERR_BAD_FRAME;
    case -EMSGSIZE:
        return WIRE_ERR_TOO_LARGE;
    case -ENOTSUP:
        return WIRE_ERR_UNKNOWN_TYPE;
    case -EINVAL:
        return WIRE_ERR_BAD_ARGUMENT;
    default:
        return WIRE_ERR_INTERNAL;
    }
}

/* True for the codes after which the server closes the connection. */
bool wire_err_closes(uint16_t code)
{
    return code == WIRE_ERR_BAD_FRAME || code == WIRE_ERR_TOO_LARGE || code == WIRE_ERR_VERSION ||
           code == WIRE_ERR_NOT_HELLO || code == WIRE_ERR_AUTH;
}
