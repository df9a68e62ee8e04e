/* vt: the terminal model behind vt.h — parser, screen, snapshot, text and replies.
 *
 * Parser: Paul Williams' DEC ANSI state machine (vt100.net/emu/dec_ansi_parser) with UTF-8
 * in the ground state (C1 controls are not recognised as 8-bit bytes: in UTF-8 they are
 * parts of characters, as in xterm's UTF-8 mode). Invalid UTF-8 prints U+FFFD per maximal
 * ill-formed subpart. DCS, SOS, PM and APC strings are skipped; OSC strings are kept up to
 * VT_OSC_MAX bytes.
 *
 * Screen: each row owns a cell array that grows to its rightmost written column, plus a
 * `fill` background for every cell beyond it, so erasing a row (even with a coloured
 * background) is O(1) and a never-written row costs 16 bytes. Rows form a ring: a
 * full-screen scroll advances `base` and clears one row lazily, O(1) per line. A cell is 8
 * bytes: the code point and attribute flags in 32 bits, then 16-bit foreground and
 * background colours (0 default, 1..256 the palette, above that an index into a per-vt
 * table of up to VT_RGB_MAX true colours; when it is full, new true colours are mapped to
 * the nearest palette entry).
 *
 * Wide characters: the left cell holds the code point with CELL_WIDE, the right one is
 * CELL_CONT; overwriting either half blanks the other. Pending wrap follows xterm: a
 * character written in the last column leaves the cursor there with `wrapnext` set.
 */
#include "term/vt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "term/width.h"

#define VT_PEND_MAX 256 /* bytes of an unfinished escape sequence a snapshot carries */
#define CELL_CP 0x001fffffu
#define CELL_BOLD (1u << 21)
#define CELL_DIM (1u << 22)
#define CELL_ITALIC (1u << 23)
#define CELL_UNDERLINE (1u << 24)
#define CELL_BLINK (1u << 25)
#define CELL_INVERSE (1u << 26)
#define CELL_HIDDEN (1u << 27)
#define CELL_STRIKE (1u << 28)
#define CELL_WIDE (1u << 29)
#define CELL_CONT (1u << 30)
#define CELL_SGR                                                                                   \
    (CELL_BOLD | CELL_DIM | CELL_ITALIC | CELL_UNDERLINE | CELL_BLINK | CELL_INVERSE |             \
     CELL_HIDDEN | CELL_STRIKE)

#define VT_RGB_MAX 1024 /* true colours interned per vt */
#define COLOR_RGB_BASE 257

enum state {
    S_GROUND,
    S_ESC,
    S_ESC_INTER,
    S_CSI_ENTRY,
    S_CSI_PARAM,
    S_CSI_INTER,
    S_CSI_IGNORE,
    S_OSC,
    S_STRING, /* DCS, SOS, PM, APC: skipped until ST, CAN or SUB */
};

struct cell {
    uint32_t cp; /* code point (0 = blank) | CELL_* flags */
    uint16_t fg, bg;
};

struct row {
    struct cell *c;
    uint16_t len;  /* cells [0, len) are stored */
    uint16_t cap;  /* cells allocated */
    uint16_t fill; /* background of every cell in [len, cols) */
};

struct screen {
    struct row *rows; /* ring of vt->rows rows; NULL for an alternate screen not in use */
    uint16_t base;    /* ring index of the top row */
};

struct pen {
    uint32_t flags; /* CELL_SGR bits */
    uint16_t fg, bg;
};

struct saved {
    uint16_t x, y;
    bool wrapnext, origin, set;
    struct pen pen;
    uint8_t g[2], gl;
};

/* Interned true colours: rgb[] in order of first use, and an open-addressing hash of
 * 2 * cap slots (0 empty, else index + 1); both double together up to VT_RGB_MAX. */
struct rgb_table {
    uint32_t *rgb;
    uint16_t *slot;
    uint16_t n, cap;
};

struct vt {
    uint16_t cols, rows;
    uint16_t x, y;
    uint16_t top, bot; /* scroll region, inclusive */
    bool wrapnext;
    bool in_alt;
    uint8_t g[2]; /* charsets G0/G1: 0 ASCII, 1 DEC special graphics */
    uint8_t gl;   /* 0 = G0 (SI), 1 = G1 (SO) */
    uint8_t cursor_style;
    unsigned modes;
    struct pen pen;
    struct screen pri, alt;
    struct saved save_pri, save_alt;
    uint8_t *tabs; /* bitmap of tab stops, NULL = every 8 columns */
    struct rgb_table *rgb;
    uint32_t last_cp; /* for REP */
    uint64_t bells;
    uint64_t meta_seq; /* title / cwd changes */
    size_t cells;      /* cells allocated in all rows, at most VT_CELLS_MAX */
    char *title, *cwd;

    /* parser */
    uint8_t state;
    uint8_t utf8_need, utf8_lo, utf8_hi;
    uint32_t utf8_cp;
    /* The raw bytes of what the parser is in the middle of — a UTF-8 character, or an
     * escape sequence since its ESC — so that a snapshot taken there ends with them and
     * the stream that follows it completes them as it would have (an attach from a
     * snapshot whose offset falls inside "\342\202|\254" must still show the euro). */
    uint8_t utf8_raw[4], utf8_rawlen;
    uint8_t pend[VT_PEND_MAX];
    uint16_t pend_len;
    bool pend_over;   /* the sequence outgrew pend: a snapshot cannot carry it */
    uint8_t priv;     /* CSI private marker < = > ? or 0 */
    uint8_t inter[2]; /* intermediates, 0 when absent */
    uint8_t ninter;
    uint8_t nparam; /* index of the parameter being read */
    bool param_started, param_overflow;
    uint32_t colon; /* bit i: parameter i followed a ':' */
    uint16_t param[VT_PARAMS_MAX];
    uint8_t *osc;
    uint16_t osc_len, osc_cap;
    bool osc_overflow;

    vt_query_cb cb;
    void *cb_arg;
};

/* ---- rows and cells ---------------------------------------------------------------- */

/* The row at screen line y of the current screen. */
static struct row *row_at(const struct vt *vt, const struct screen *s, uint16_t y)
{
    unsigned i = (unsigned)s->base + y;
    if (i >= vt->rows)
        i -= vt->rows;
    return &s->rows[i];
}

/* The current screen. */
static struct screen *cur(struct vt *vt)
{
    return vt->in_alt ? &vt->alt : &vt->pri;
}

/* A blank cell with background bg. */
static struct cell blank(uint16_t bg)
{
    return (struct cell){0, 0, bg};
}

/* Makes r store at least need cells, the new ones blank with the row's fill; false (and
 * nothing changed) when that would take the vt over its budget of VT_CELLS_MAX cells. */
static bool row_reserve(struct vt *vt, struct row *r, unsigned need)
{
    if (need <= r->len)
        return true;
    if (need > r->cap) {
        unsigned cap = r->cap ? r->cap * 2u : 16u;
        if (cap < need)
            cap = need;
        if (cap > vt->cols)
            cap = vt->cols;
        if (vt->cells - r->cap + cap > VT_CELLS_MAX)
            cap = need; /* near the budget: no slack */
        if (vt->cells - r->cap + cap > VT_CELLS_MAX)
            return false;
        vt->cells = vt->cells - r->cap + cap;
        r->c = xrealloc(r->c, cap * sizeof *r->c);
        r->cap = (uint16_t)cap;
    }
    if (r->fill == 0) {
        /* The usual blank is all zero bytes: memset is several times faster than the loop
         * (a raw-mode `yes` writes each line one column further right of a fresh row). */
        memset(r->c + r->len, 0, (need - r->len) * sizeof *r->c);
    } else {
        struct cell b = blank(r->fill);
        for (unsigned i = r->len; i < need; i++)
            r->c[i] = b;
    }
    r->len = (uint16_t)need;
    return true;
}

/* Frees the cells of r. */
static void row_free(struct vt *vt, struct row *r)
{
    vt->cells -= r->cap;
    free(r->c);
    r->c = NULL;
    r->len = r->cap = 0;
}

/* The cell at column x of r (a blank with the fill when not stored). */
static struct cell row_get(const struct row *r, unsigned x)
{
    return x < r->len ? r->c[x] : blank(r->fill);
}

/* Blanks every cell of r, the whole row taking background bg: O(1). */
static void row_clear(struct row *r, uint16_t bg)
{
    r->len = 0;
    r->fill = bg;
}

/* Repairs the wide-character pair around column x: a lone half becomes a blank. */
static void fix_wide(struct vt *vt, struct row *r, int x)
{
    if (x < 0 || x >= r->len)
        return;
    struct cell *c = &r->c[x];
    if ((c->cp & CELL_CONT) && (x == 0 || !(r->c[x - 1].cp & CELL_WIDE)))
        c->cp = 0;
    else if ((c->cp & CELL_WIDE) &&
             (x + 1 >= vt->cols || !(row_get(r, (unsigned)x + 1).cp & CELL_CONT)))
        c->cp = 0;
}

/* Repairs every wide pair of r (after cells were shifted). */
static void fix_row(struct vt *vt, struct row *r)
{
    for (int x = 0; x < r->len; x++)
        fix_wide(vt, r, x);
}

/* Erases columns [a, b) of r to blanks with background bg. */
static void erase_cells(struct vt *vt, struct row *r, unsigned a, unsigned b, uint16_t bg)
{
    if (a >= b)
        return;
    if (b >= vt->cols) {
        if (a > r->len && !row_reserve(vt, r, a))
            a = r->len; /* over budget: [len, a) takes the new background too */
        r->len = (uint16_t)a;
        r->fill = bg;
    } else {
        if (a >= r->len && bg == r->fill)
            return;
        if (!row_reserve(vt, r, b) && b > r->len)
            b = r->len; /* over budget: cells not stored keep the fill */
        for (unsigned i = a; i < b; i++)
            r->c[i] = blank(bg);
        fix_wide(vt, r, (int)b);
    }
    fix_wide(vt, r, (int)a - 1);
}

/* Reverses rows [a, b] of screen s. */
static void rows_reverse(struct vt *vt, struct screen *s, unsigned a, unsigned b)
{
    while (a < b) {
        struct row *ra = row_at(vt, s, (uint16_t)a), *rb = row_at(vt, s, (uint16_t)b);
        struct row t = *ra;
        *ra = *rb;
        *rb = t;
        a++, b--;
    }
}

/* Rotates rows [a, b] up by n (row a+n becomes row a), O(b - a). */
static void rows_rotate_up(struct vt *vt, struct screen *s, unsigned a, unsigned b, unsigned n)
{
    rows_reverse(vt, s, a, a + n - 1);
    rows_reverse(vt, s, a + n, b);
    rows_reverse(vt, s, a, b);
}

/* Scrolls rows [top, bot] of the current screen up by n, blank lines entering at bot. */
static void scroll_up(struct vt *vt, unsigned top, unsigned bot, unsigned n)
{
    struct screen *s = cur(vt);
    unsigned h = bot - top + 1;
    if (n > h)
        n = h;
    if (n == 0)
        return;
    if (top == 0 && bot == vt->rows - 1u) {
        for (unsigned i = 0; i < n; i++) {
            row_clear(row_at(vt, s, 0), vt->pen.bg);
            s->base = (uint16_t)(s->base + 1u == vt->rows ? 0 : s->base + 1u);
        }
        return;
    }
    if (n < h)
        rows_rotate_up(vt, s, top, bot, n);
    for (unsigned i = bot - n + 1; i <= bot; i++)
        row_clear(row_at(vt, s, (uint16_t)i), vt->pen.bg);
}

/* Scrolls rows [top, bot] of the current screen down by n, blank lines entering at top. */
static void scroll_down(struct vt *vt, unsigned top, unsigned bot, unsigned n)
{
    struct screen *s = cur(vt);
    unsigned h = bot - top + 1;
    if (n > h)
        n = h;
    if (n == 0)
        return;
    if (top == 0 && bot == vt->rows - 1u) {
        for (unsigned i = 0; i < n; i++) {
            s->base = (uint16_t)(s->base == 0 ? vt->rows - 1u : s->base - 1u);
            row_clear(row_at(vt, s, 0), vt->pen.bg);
        }
        return;
    }
    if (n < h)
        rows_rotate_up(vt, s, top, bot, h - n);
    for (unsigned i = top; i < top + n; i++)
        row_clear(row_at(vt, s, (uint16_t)i), vt->pen.bg);
}

/* Allocates the rows of screen s, all blank. */
static void screen_alloc(struct vt *vt, struct screen *s)
{
    s->rows = xcalloc(vt->rows, sizeof *s->rows);
    s->base = 0;
}

/* Frees the rows of screen s. */
static void screen_free(struct vt *vt, struct screen *s)
{
    if (!s->rows)
        return;
    for (unsigned i = 0; i < vt->rows; i++)
        row_free(vt, &s->rows[i]);
    free(s->rows);
    s->rows = NULL;
}

/* Blanks every row of the current screen with background bg. */
static void screen_clear(struct vt *vt, uint16_t bg)
{
    for (unsigned y = 0; y < vt->rows; y++)
        row_clear(row_at(vt, cur(vt), (uint16_t)y), bg);
}

/* ---- colours ------------------------------------------------------------------------ */

/* The palette index (0..255) nearest to an RGB colour, on the 6x6x6 cube or grey ramp. */
static unsigned rgb_to_palette(unsigned r, unsigned g, unsigned b)
{
    static const unsigned lv[6] = {0, 95, 135, 175, 215, 255};
    unsigned idx[3], v[3] = {r, g, b};
    for (int i = 0; i < 3; i++) {
        unsigned best = 0;
        for (unsigned k = 1; k < 6; k++)
            if ((v[i] > lv[k] ? v[i] - lv[k] : lv[k] - v[i]) <
                (v[i] > lv[best] ? v[i] - lv[best] : lv[best] - v[i]))
                best = k;
        idx[i] = best;
    }
    return 16 + 36 * idx[0] + 6 * idx[1] + idx[2];
}

/* The hash of an RGB key (Fibonacci hashing). */
static unsigned rgb_hash(uint32_t key)
{
    return (key * 2654435761u) >> 16;
}

/* Stores index+1 v for key in the first free slot of its probe sequence. */
static void rgb_slot_put(struct rgb_table *t, uint32_t key, uint16_t v)
{
    unsigned mask = 2u * t->cap - 1;
    unsigned h = rgb_hash(key) & mask;
    while (t->slot[h])
        h = (h + 1) & mask;
    t->slot[h] = v;
}

/* Frees a true colour table; NULL is fine. */
static void rgb_free(struct rgb_table *t)
{
    if (!t)
        return;
    free(t->rgb);
    free(t->slot);
    free(t);
}

/* The colour code for an RGB true colour, interned in the vt's table. */
static uint16_t rgb_code(struct vt *vt, unsigned r, unsigned g, unsigned b)
{
    uint32_t key = (uint32_t)r << 16 | (uint32_t)g << 8 | b;
    if (!vt->rgb)
        vt->rgb = xcalloc(1, sizeof *vt->rgb);
    struct rgb_table *t = vt->rgb;
    if (t->cap) {
        unsigned mask = 2u * t->cap - 1;
        for (unsigned h = rgb_hash(key) & mask;; h = (h + 1) & mask) {
            uint16_t s = t->slot[h];
            if (s == 0)
                break;
            if (t->rgb[s - 1] == key)
                return (uint16_t)(COLOR_RGB_BASE + s - 1);
        }
    }
    if (t->n == VT_RGB_MAX)
        return (uint16_t)(1 + rgb_to_palette(r, g, b));
    if (t->n == t->cap) {
        t->cap = t->cap ? (uint16_t)(t->cap * 2) : 16;
        t->rgb = xrealloc(t->rgb, t->cap * sizeof *t->rgb);
        free(t->slot);
        t->slot = xcalloc(2u * t->cap, sizeof *t->slot);
        for (unsigned i = 0; i < t->n; i++)
            rgb_slot_put(t, t->rgb[i], (uint16_t)(i + 1));
    }
    t->rgb[t->n] = key;
    rgb_slot_put(t, key, (uint16_t)(t->n + 1));
    t->n++;
    return (uint16_t)(COLOR_RGB_BASE + t->n - 1);
}

/* ---- cursor and printing ------------------------------------------------------------ */

/* Moves the cursor to (x, y) clamped to the screen, cancelling a pending wrap. */
static void move_to(struct vt *vt, int x, int y)
{
    if (x < 0)
        x = 0;
    if (x >= vt->cols)
        x = vt->cols - 1;
    if (y < 0)
        y = 0;
    if (y >= vt->rows)
        y = vt->rows - 1;
    vt->x = (uint16_t)x;
    vt->y = (uint16_t)y;
    vt->wrapnext = false;
}

/* Line feed / IND: down one line, scrolling the region at its bottom margin. */
static void linefeed(struct vt *vt)
{
    if (vt->y == vt->bot)
        scroll_up(vt, vt->top, vt->bot, 1);
    else if (vt->y + 1 < vt->rows)
        vt->y++;
    vt->wrapnext = false;
}

/* Reverse index: up one line, scrolling the region down at its top margin. */
static void reverse_index(struct vt *vt)
{
    if (vt->y == vt->top)
        scroll_down(vt, vt->top, vt->bot, 1);
    else if (vt->y > 0)
        vt->y--;
    vt->wrapnext = false;
}

/* Performs a pending wrap before printing, when autowrap is on. */
static void do_wrap(struct vt *vt)
{
    if (vt->wrapnext && (vt->modes & VT_MODE_AUTOWRAP)) {
        vt->x = 0;
        linefeed(vt);
    }
    vt->wrapnext = false;
}

/* Inserts n blank cells at the cursor, shifting the rest of the row right (ICH). */
static void insert_cells(struct vt *vt, unsigned n)
{
    struct row *r = row_at(vt, cur(vt), vt->y);
    unsigned x = vt->x, cols = vt->cols;
    if (n > cols - x)
        n = cols - x;
    if (x >= r->len && vt->pen.bg == r->fill)
        return;
    if (!row_reserve(vt, r, cols))
        return; /* over budget */
    memmove(&r->c[x + n], &r->c[x], (cols - x - n) * sizeof *r->c);
    for (unsigned i = x; i < x + n; i++)
        r->c[i] = blank(vt->pen.bg);
    fix_row(vt, r);
}

/* Deletes n cells at the cursor, shifting the rest of the row left (DCH). */
static void delete_cells(struct vt *vt, unsigned n)
{
    struct row *r = row_at(vt, cur(vt), vt->y);
    unsigned x = vt->x, cols = vt->cols;
    if (n > cols - x)
        n = cols - x;
    bool whole = vt->pen.bg != r->fill && row_reserve(vt, r, cols);
    if (!whole) {
        if (x + n < r->len) {
            memmove(&r->c[x], &r->c[x + n], (r->len - x - n) * sizeof *r->c);
            r->len = (uint16_t)(r->len - n);
        } else if (x < r->len) {
            r->len = (uint16_t)x;
        }
    } else {
        memmove(&r->c[x], &r->c[x + n], (cols - x - n) * sizeof *r->c);
        for (unsigned i = cols - n; i < cols; i++)
            r->c[i] = blank(vt->pen.bg);
    }
    fix_row(vt, r);
}

/* Prints one code point of width 0..2 at the cursor. */
static void print_cp(struct vt *vt, uint32_t cp)
{
    int w = term_width(cp);
    if (w == 0)
        return; /* combining marks and format characters are dropped */
    if (w == 2 && vt->cols < 2)
        return;
    do_wrap(vt);
    if (w == 2 && vt->x == vt->cols - 1u) {
        if (vt->modes & VT_MODE_AUTOWRAP) {
            struct row *r = row_at(vt, cur(vt), vt->y);
            erase_cells(vt, r, vt->x, vt->x + 1u, vt->pen.bg);
            vt->x = 0;
            linefeed(vt);
        } else {
            vt->x = (uint16_t)(vt->cols - 2);
        }
    }
    if (vt->modes & VT_MODE_INSERT)
        insert_cells(vt, (unsigned)w);
    struct row *r = row_at(vt, cur(vt), vt->y);
    unsigned x = vt->x;
    if (row_reserve(vt, r, x + (unsigned)w)) {
        if (x > 0 && (r->c[x].cp & CELL_CONT))
            r->c[x - 1].cp = 0;
        struct cell c = {cp | vt->pen.flags | (w == 2 ? CELL_WIDE : 0), vt->pen.fg, vt->pen.bg};
        r->c[x] = c;
        if (w == 2)
            r->c[x + 1] = (struct cell){CELL_CONT | vt->pen.flags, vt->pen.fg, vt->pen.bg};
        if (x + (unsigned)w < r->len && (r->c[x + w].cp & CELL_CONT))
            r->c[x + w].cp = 0;
    }
    vt->last_cp = cp;
    if (x + (unsigned)w >= vt->cols) {
        vt->x = (uint16_t)(vt->cols - 1);
        vt->wrapnext = (vt->modes & VT_MODE_AUTOWRAP) != 0;
    } else {
        vt->x = (uint16_t)(x + (unsigned)w);
    }
}

/* DEC special graphics (ESC ( 0) for 0x60..0x7e. */
static const uint16_t dec_graphics[31] = {
    0x25c6, 0x2592, 0x2409, 0x240c, 0x240d, 0x240a, 0x00b0, 0x00b1, 0x2424, 0x240b, 0x2518,
    0x2510, 0x250c, 0x2514, 0x253c, 0x23ba, 0x23bb, 0x2500, 0x23bc, 0x23bd, 0x251c, 0x2524,
    0x2534, 0x252c, 0x2502, 0x2264, 0x2265, 0x03c0, 0x2260, 0x00a3, 0x00b7,
};

/* Prints a run of printable ASCII bytes: the fast path. */
static void print_ascii(struct vt *vt, const uint8_t *s, size_t n)
{
    if ((vt->modes & VT_MODE_INSERT) || vt->g[vt->gl]) {
        for (size_t i = 0; i < n; i++) {
            uint32_t cp = s[i];
            if (vt->g[vt->gl] && cp >= 0x60 && cp <= 0x7e)
                cp = dec_graphics[cp - 0x60];
            print_cp(vt, cp);
        }
        return;
    }
    const unsigned cols = vt->cols;
    const uint32_t fl = vt->pen.flags;
    const uint16_t fg = vt->pen.fg, bg = vt->pen.bg;
    vt->last_cp = s[n - 1];
    while (n > 0) {
        if (vt->wrapnext)
            do_wrap(vt);
        unsigned x = vt->x;
        size_t k = cols - x;
        if (k > n)
            k = n;
        struct row *r = row_at(vt, cur(vt), vt->y);
        if (x > 0 && x < r->len && (r->c[x].cp & CELL_CONT))
            r->c[x - 1].cp = 0;
        if (row_reserve(vt, r, x + (unsigned)k)) {
            struct cell *c = r->c + x;
            for (size_t i = 0; i < k; i++)
                c[i] = (struct cell){s[i] | fl, fg, bg};
            if (x + k < r->len && (r->c[x + k].cp & CELL_CONT))
                r->c[x + k].cp = 0;
        }
        s += k;
        n -= k;
        if (x + k < cols) {
            vt->x = (uint16_t)(x + k);
        } else if (vt->modes & VT_MODE_AUTOWRAP) {
            vt->x = (uint16_t)(cols - 1);
            vt->wrapnext = true;
        } else {
            vt->x = (uint16_t)(cols - 1);
            if (n > 0 && r->len == cols)
                r->c[cols - 1] = (struct cell){s[n - 1] | fl, fg, bg};
            if (cols >= 2 && r->len == cols && (r->c[cols - 2].cp & CELL_WIDE))
                r->c[cols - 2].cp = 0;
            n = 0;
        }
    }
}

/* ---- modes and resets ------------------------------------------------------------- */

/* Saves the cursor (DECSC) into the current screen's slot. */
static void save_cursor(struct vt *vt)
{
    struct saved *sv = vt->in_alt ? &vt->save_alt : &vt->save_pri;
    *sv = (struct saved){vt->x, vt->y,   vt->wrapnext,         (vt->modes & VT_MODE_ORIGIN) != 0,
                         true,  vt->pen, {vt->g[0], vt->g[1]}, vt->gl};
}

/* Restores the cursor (DECRC) from the current screen's slot, or homes it. */
static void restore_cursor(struct vt *vt)
{
    struct saved *sv = vt->in_alt ? &vt->save_alt : &vt->save_pri;
    if (!sv->set) {
        move_to(vt, 0, 0);
        vt->pen = (struct pen){0, 0, 0};
        vt->modes &= ~VT_MODE_ORIGIN;
        vt->g[0] = vt->g[1] = vt->gl = 0;
        return;
    }
    int y = sv->y;
    if (sv->origin && y < vt->top)
        y = vt->top; /* origin mode keeps the cursor inside the scroll region */
    if (sv->origin && y > vt->bot)
        y = vt->bot;
    move_to(vt, sv->x, y);
    vt->wrapnext = sv->wrapnext && vt->x == vt->cols - 1u;
    vt->pen = sv->pen;
    if (sv->origin)
        vt->modes |= VT_MODE_ORIGIN;
    else
        vt->modes &= ~VT_MODE_ORIGIN;
    vt->g[0] = sv->g[0];
    vt->g[1] = sv->g[1];
    vt->gl = sv->gl;
}

/* Switches to the alternate screen (clearing it when asked) or back to the primary. */
static void set_alt(struct vt *vt, bool on, bool clear)
{
    if (on == vt->in_alt)
        return;
    if (on) {
        if (!vt->alt.rows)
            screen_alloc(vt, &vt->alt);
        vt->in_alt = true;
        vt->modes |= VT_MODE_ALTSCREEN;
        if (clear)
            screen_clear(vt, vt->pen.bg);
    } else {
        /* The alternate screen's cells are freed on leaving: an idle session keeps one. */
        screen_free(vt, &vt->alt);
        vt->save_alt.set = false;
        vt->in_alt = false;
        vt->modes &= ~VT_MODE_ALTSCREEN;
    }
    vt->wrapnext = false;
}

/* Resets the state a soft reset (DECSTR) resets. */
static void soft_reset(struct vt *vt)
{
    vt->modes &= ~(VT_MODE_INSERT | VT_MODE_ORIGIN | VT_MODE_CURSOR_KEYS | VT_MODE_KEYPAD_APP);
    vt->modes |= VT_MODE_AUTOWRAP | VT_MODE_CURSOR_VISIBLE;
    vt->top = 0;
    vt->bot = (uint16_t)(vt->rows - 1);
    vt->pen = (struct pen){0, 0, 0};
    vt->g[0] = vt->g[1] = vt->gl = 0;
    vt->save_pri.set = vt->save_alt.set = false;
    vt->wrapnext = false;
}

/* Full reset (RIS): blank primary screen, default modes; title, cwd and bells stay. */
static void full_reset(struct vt *vt)
{
    set_alt(vt, false, false);
    screen_free(vt, &vt->pri);
    screen_alloc(vt, &vt->pri);
    free(vt->tabs);
    vt->tabs = NULL;
    rgb_free(vt->rgb);
    vt->rgb = NULL;
    vt->modes = 0;
    soft_reset(vt);
    vt->cursor_style = 0;
    vt->x = vt->y = 0;
    vt->last_cp = ' ';
}

/* The mode bit of DEC private mode m, or 0 when it is not tracked. */
static unsigned dec_mode_bit(unsigned m)
{
    switch (m) {
    case 1:
        return VT_MODE_CURSOR_KEYS;
    case 6:
        return VT_MODE_ORIGIN;
    case 7:
        return VT_MODE_AUTOWRAP;
    case 9:
        return VT_MODE_MOUSE_X10;
    case 25:
        return VT_MODE_CURSOR_VISIBLE;
    case 47:
    case 1047:
    case 1049:
        return VT_MODE_ALTSCREEN;
    case 66:
        return VT_MODE_KEYPAD_APP;
    case 1000:
        return VT_MODE_MOUSE_NORMAL;
    case 1002:
        return VT_MODE_MOUSE_BUTTON;
    case 1003:
        return VT_MODE_MOUSE_ANY;
    case 1004:
        return VT_MODE_FOCUS;
    case 1006:
        return VT_MODE_MOUSE_SGR;
    case 2004:
        return VT_MODE_BRACKETED_PASTE;
    }
    return 0;
}

#define MOUSE_TRACKING                                                                             \
    (VT_MODE_MOUSE_X10 | VT_MODE_MOUSE_NORMAL | VT_MODE_MOUSE_BUTTON | VT_MODE_MOUSE_ANY)

/* Sets or resets DEC private mode m (DECSET / DECRST). */
static void dec_mode(struct vt *vt, unsigned m, bool on)
{
    unsigned bit = dec_mode_bit(m);
    if (!bit)
        return;
    switch (m) {
    case 6:
        vt->modes = on ? vt->modes | bit : vt->modes & ~bit;
        move_to(vt, 0, on ? vt->top : 0);
        return;
    case 47:
        set_alt(vt, on, false);
        return;
    case 1047:
        if (!on && vt->in_alt)
            screen_clear(vt, vt->pen.bg);
        set_alt(vt, on, false);
        return;
    case 1049:
        if (on && !vt->in_alt) {
            save_cursor(vt);
            set_alt(vt, true, true);
        } else if (!on && vt->in_alt) {
            set_alt(vt, false, false);
            restore_cursor(vt);
        }
        return;
    }
    if (on && (bit & MOUSE_TRACKING))
        vt->modes &= ~MOUSE_TRACKING;
    vt->modes = on ? vt->modes | bit : vt->modes & ~bit;
}

/* ---- tab stops ---------------------------------------------------------------------- */

/* True when column x has a tab stop. */
static bool tab_at(const struct vt *vt, unsigned x)
{
    if (!vt->tabs)
        return x % 8 == 0;
    return vt->tabs[x / 8] >> (x % 8) & 1;
}

/* Materialises the default tab stops into a bitmap so they can be edited. */
static void tabs_own(struct vt *vt)
{
    if (vt->tabs)
        return;
    vt->tabs = xcalloc((vt->cols + 7u) / 8u, 1);
    for (unsigned x = 0; x < vt->cols; x += 8)
        vt->tabs[x / 8] |= 1;
}

/* Moves the cursor to the n-th next (n > 0) or previous (n < 0) tab stop. */
static void tab_move(struct vt *vt, int n)
{
    unsigned x = vt->x;
    while (n > 0 && x + 1u < vt->cols) {
        x++;
        if (tab_at(vt, x) || x == vt->cols - 1u)
            n--;
    }
    while (n < 0 && x > 0) {
        x--;
        if (tab_at(vt, x))
            n++;
    }
    vt->x = (uint16_t)x;
    vt->wrapnext = false;
}

/* ---- escape and control dispatch ---------------------------------------------------- */

/* Executes a C0 control. */
static void execute(struct vt *vt, uint8_t b)
{
    switch (b) {
    case 0x07:
        vt->bells++;
        break;
    case 0x08:
        if (vt->x > 0)
            vt->x--;
        vt->wrapnext = false;
        break;
    case 0x09:
        tab_move(vt, 1);
        break;
    case 0x0a:
    case 0x0b:
    case 0x0c:
        linefeed(vt);
        break;
    case 0x0d:
        vt->x = 0;
        vt->wrapnext = false;
        break;
    case 0x0e:
        vt->gl = 1;
        break;
    case 0x0f:
        vt->gl = 0;
        break;
    }
}

/* Fills the screen with 'E' (DECALN) and resets margins and cursor; ignored on screens
 * larger than the cell budget. */
static void screen_align(struct vt *vt)
{
    if ((size_t)vt->cols * vt->rows > VT_CELLS_MAX)
        return; /* it could not be stored, and each one would cost the whole budget */
    vt->top = 0;
    vt->bot = (uint16_t)(vt->rows - 1);
    for (unsigned y = 0; y < vt->rows; y++) {
        struct row *r = row_at(vt, cur(vt), (uint16_t)y);
        row_clear(r, 0);
        if (!row_reserve(vt, r, vt->cols))
            continue; /* over budget: the row stays blank */
        for (unsigned x = 0; x < vt->cols; x++)
            r->c[x] = (struct cell){'E', 0, 0};
    }
    move_to(vt, 0, 0);
}

/* Dispatches an escape sequence ending in final byte f. */
static void esc_dispatch(struct vt *vt, uint8_t f)
{
    if (vt->ninter == 1 && (vt->inter[0] == '(' || vt->inter[0] == ')')) {
        vt->g[vt->inter[0] == ')'] = f == '0';
        return;
    }
    if (vt->ninter == 1 && vt->inter[0] == '#' && f == '8') {
        screen_align(vt);
        return;
    }
    if (vt->ninter)
        return;
    switch (f) {
    case '7':
        save_cursor(vt);
        break;
    case '8':
        restore_cursor(vt);
        break;
    case 'D':
        linefeed(vt);
        break;
    case 'E':
        vt->x = 0;
        linefeed(vt);
        break;
    case 'M':
        reverse_index(vt);
        break;
    case 'H':
        tabs_own(vt);
        vt->tabs[vt->x / 8] |= (uint8_t)(1u << (vt->x % 8));
        break;
    case 'c':
        full_reset(vt);
        break;
    case '=':
        vt->modes |= VT_MODE_KEYPAD_APP;
        break;
    case '>':
        vt->modes &= ~VT_MODE_KEYPAD_APP;
        break;
    }
}

/* Parameter i, or def when absent or 0. */
static unsigned par(const struct vt *vt, unsigned i, unsigned def)
{
    unsigned n = vt->param_started ? vt->nparam + 1u : 0;
    if (i >= n || vt->param[i] == 0)
        return def;
    return vt->param[i];
}

/* The number of parameters read. */
static unsigned nparams(const struct vt *vt)
{
    return vt->param_started ? vt->nparam + 1u : 0;
}

/* Reports a query to the callback. */
static void query(struct vt *vt, enum vt_query q, int param, bool st)
{
    if (vt->cb)
        vt->cb(vt->cb_arg, q, param, st);
}

/* Parses an extended colour (38/48/58) at parameter i; returns its code or -1, and the
 * index of its last parameter in *last. */
static int sgr_color(struct vt *vt, unsigned i, unsigned n, unsigned *last)
{
    const uint16_t *p = vt->param;
    unsigned k = 0; /* colon sub-parameters following i */
    while (i + 1 + k < n && (vt->colon >> (i + 1 + k) & 1))
        k++;
    if (k > 0) {
        *last = i + k;
        const uint16_t *s = p + i + 1;
        if (s[0] == 5 && k >= 2)
            return s[1] > 255 ? -1 : 1 + s[1];
        if (s[0] == 2 && k >= 4) {
            const uint16_t *c = k >= 5 ? s + 2 : s + 1;
            return rgb_code(vt, c[0] > 255 ? 255 : c[0], c[1] > 255 ? 255 : c[1],
                            c[2] > 255 ? 255 : c[2]);
        }
        return -1;
    }
    if (i + 2 < n && p[i + 1] == 5) {
        *last = i + 2;
        return p[i + 2] > 255 ? -1 : 1 + p[i + 2];
    }
    if (i + 4 < n && p[i + 1] == 2) {
        *last = i + 4;
        return rgb_code(vt, p[i + 2] > 255 ? 255 : p[i + 2], p[i + 3] > 255 ? 255 : p[i + 3],
                        p[i + 4] > 255 ? 255 : p[i + 4]);
    }
    *last = n;
    return -1;
}

/* Select Graphic Rendition. */
static void sgr(struct vt *vt)
{
    unsigned n = nparams(vt);
    struct pen *pen = &vt->pen;
    if (n == 0) {
        *pen = (struct pen){0, 0, 0};
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        unsigned v = vt->param[i], last = i;
        /* sub-parameters of a plain attribute (4:3 and the like) */
        unsigned sub = 0;
        while (i + 1 + sub < n && (vt->colon >> (i + 1 + sub) & 1))
            sub++;
        switch (v) {
        case 0:
            *pen = (struct pen){0, 0, 0};
            break;
        case 1:
            pen->flags |= CELL_BOLD;
            break;
        case 2:
            pen->flags |= CELL_DIM;
            break;
        case 3:
            pen->flags |= CELL_ITALIC;
            break;
        case 4:
            if (sub && vt->param[i + 1] == 0)
                pen->flags &= ~CELL_UNDERLINE;
            else
                pen->flags |= CELL_UNDERLINE;
            break;
        case 5:
        case 6:
            pen->flags |= CELL_BLINK;
            break;
        case 7:
            pen->flags |= CELL_INVERSE;
            break;
        case 8:
            pen->flags |= CELL_HIDDEN;
            break;
        case 9:
            pen->flags |= CELL_STRIKE;
            break;
        case 21:
            pen->flags |= CELL_UNDERLINE;
            break;
        case 22:
            pen->flags &= ~(CELL_BOLD | CELL_DIM);
            break;
        case 23:
            pen->flags &= ~CELL_ITALIC;
            break;
        case 24:
            pen->flags &= ~CELL_UNDERLINE;
            break;
        case 25:
            pen->flags &= ~CELL_BLINK;
            break;
        case 27:
            pen->flags &= ~CELL_INVERSE;
            break;
        case 28:
            pen->flags &= ~CELL_HIDDEN;
            break;
        case 29:
            pen->flags &= ~CELL_STRIKE;
            break;
        case 38:
        case 48:
        case 58: {
            int c = sgr_color(vt, i, n, &last);
            if (c >= 0 && v == 38)
                pen->fg = (uint16_t)c;
            else if (c >= 0 && v == 48)
                pen->bg = (uint16_t)c;
            i = last;
            continue;
        }
        case 39:
            pen->fg = 0;
            break;
        case 49:
            pen->bg = 0;
            break;
        default:
            if (v >= 30 && v <= 37)
                pen->fg = (uint16_t)(1 + v - 30);
            else if (v >= 40 && v <= 47)
                pen->bg = (uint16_t)(1 + v - 40);
            else if (v >= 90 && v <= 97)
                pen->fg = (uint16_t)(9 + v - 90);
            else if (v >= 100 && v <= 107)
                pen->bg = (uint16_t)(9 + v - 100);
            break;
        }
        i += sub;
    }
}

/* Erase in display (ED). */
static void erase_display(struct vt *vt, unsigned mode)
{
    struct screen *s = cur(vt);
    uint16_t bg = vt->pen.bg;
    struct row *r = row_at(vt, s, vt->y);
    switch (mode) {
    case 0:
        erase_cells(vt, r, vt->x, vt->cols, bg);
        for (unsigned y = vt->y + 1u; y < vt->rows; y++)
            row_clear(row_at(vt, s, (uint16_t)y), bg);
        break;
    case 1:
        for (unsigned y = 0; y < vt->y; y++)
            row_clear(row_at(vt, s, (uint16_t)y), bg);
        erase_cells(vt, r, 0, vt->x + 1u, bg);
        break;
    case 2:
        screen_clear(vt, bg);
        break;
    }
    vt->wrapnext = false;
}

/* Erase in line (EL). */
static void erase_line(struct vt *vt, unsigned mode)
{
    struct row *r = row_at(vt, cur(vt), vt->y);
    if (mode == 0)
        erase_cells(vt, r, vt->x, vt->cols, vt->pen.bg);
    else if (mode == 1)
        erase_cells(vt, r, 0, vt->x + 1u, vt->pen.bg);
    else if (mode == 2)
        row_clear(r, vt->pen.bg);
    vt->wrapnext = false;
}

/* The top row a cursor may reach: the region top in origin mode. */
static unsigned home_row(const struct vt *vt)
{
    return (vt->modes & VT_MODE_ORIGIN) ? vt->top : 0;
}

/* Dispatches a CSI sequence ending in final byte f. */
static void csi_dispatch(struct vt *vt, uint8_t f)
{
    unsigned n1 = par(vt, 0, 1);
    uint8_t inter = vt->ninter ? vt->inter[0] : 0;
    if (vt->ninter > 1)
        return;
    if (vt->priv == '?') {
        if (inter == '$' && f == 'p') {
            query(vt, VT_Q_DECRQM, vt->param[0], false);
            return;
        }
        if (inter)
            return;
        if (f == 'h' || f == 'l') {
            for (unsigned i = 0; i < nparams(vt); i++)
                dec_mode(vt, vt->param[i], f == 'h');
        } else if (f == 'n' && par(vt, 0, 0) == 6) {
            query(vt, VT_Q_CPR, 1, false);
        }
        return;
    }
    if (vt->priv == '>') {
        if (!inter && f == 'c' && par(vt, 0, 0) == 0)
            query(vt, VT_Q_DA2, 0, false);
        else if (!inter && f == 'q' && par(vt, 0, 0) == 0)
            query(vt, VT_Q_XTVERSION, 0, false);
        return;
    }
    if (vt->priv)
        return;
    if (inter == '!' && f == 'p') {
        soft_reset(vt);
        return;
    }
    if (inter == ' ' && f == 'q') {
        unsigned st = par(vt, 0, 0);
        vt->cursor_style = (uint8_t)(st <= 6 ? st : 0);
        return;
    }
    if (inter)
        return;
    unsigned top = home_row(vt);
    switch (f) {
    case '@':
        insert_cells(vt, n1);
        vt->wrapnext = false;
        break;
    case 'A': {
        int lim = vt->y >= vt->top ? vt->top : 0, y = (int)vt->y - (int)n1;
        move_to(vt, vt->x, y < lim ? lim : y);
        break;
    }
    case 'B':
    case 'e': {
        unsigned lim = vt->y <= vt->bot ? vt->bot : vt->rows - 1u;
        move_to(vt, vt->x, vt->y + n1 > lim ? (int)lim : (int)(vt->y + n1));
        break;
    }
    case 'C':
    case 'a':
        move_to(vt, (int)vt->x + (int)n1, vt->y);
        break;
    case 'D':
        move_to(vt, (int)vt->x - (int)n1, vt->y);
        break;
    case 'E':
    case 'F': {
        int y = f == 'E' ? (int)vt->y + (int)n1 : (int)vt->y - (int)n1;
        if (f == 'E' && vt->y <= vt->bot && y > vt->bot)
            y = vt->bot;
        if (f == 'F' && vt->y >= vt->top && y < vt->top)
            y = vt->top;
        move_to(vt, 0, y);
        break;
    }
    case 'G':
    case '`':
        move_to(vt, (int)n1 - 1, vt->y);
        break;
    case 'H':
    case 'f': {
        int y = (int)top + (int)par(vt, 0, 1) - 1;
        if ((vt->modes & VT_MODE_ORIGIN) && y > vt->bot)
            y = vt->bot;
        move_to(vt, (int)par(vt, 1, 1) - 1, y);
        break;
    }
    case 'd': {
        int y = (int)top + (int)n1 - 1;
        if ((vt->modes & VT_MODE_ORIGIN) && y > vt->bot)
            y = vt->bot;
        move_to(vt, vt->x, y);
        break;
    }
    case 'I':
        tab_move(vt, (int)(n1 > vt->cols ? vt->cols : n1));
        break;
    case 'Z':
        tab_move(vt, -(int)(n1 > vt->cols ? vt->cols : n1));
        break;
    case 'J':
        erase_display(vt, par(vt, 0, 0));
        break;
    case 'K':
        erase_line(vt, par(vt, 0, 0));
        break;
    case 'X': {
        unsigned b = vt->x + n1;
        erase_cells(vt, row_at(vt, cur(vt), vt->y), vt->x, b > vt->cols ? vt->cols : b, vt->pen.bg);
        vt->wrapnext = false;
        break;
    }
    case 'P':
        delete_cells(vt, n1);
        vt->wrapnext = false;
        break;
    case 'L':
    case 'M':
        if (vt->y >= vt->top && vt->y <= vt->bot) {
            if (f == 'L')
                scroll_down(vt, vt->y, vt->bot, n1);
            else
                scroll_up(vt, vt->y, vt->bot, n1);
            move_to(vt, 0, vt->y);
        }
        break;
    case 'S':
        scroll_up(vt, vt->top, vt->bot, n1);
        break;
    case 'T':
        if (nparams(vt) <= 1)
            scroll_down(vt, vt->top, vt->bot, n1);
        break;
    case 'r': {
        unsigned t = par(vt, 0, 1), b = par(vt, 1, vt->rows);
        if (b > vt->rows)
            b = vt->rows;
        if (t < b) {
            vt->top = (uint16_t)(t - 1);
            vt->bot = (uint16_t)(b - 1);
            move_to(vt, 0, home_row(vt));
        }
        break;
    }
    case 'm':
        sgr(vt);
        break;
    case 'h':
    case 'l':
        for (unsigned i = 0; i < nparams(vt); i++)
            if (vt->param[i] == 4)
                vt->modes = f == 'h' ? vt->modes | VT_MODE_INSERT : vt->modes & ~VT_MODE_INSERT;
        break;
    case 'n':
        if (par(vt, 0, 0) == 6)
            query(vt, VT_Q_CPR, 0, false);
        else if (par(vt, 0, 0) == 5)
            query(vt, VT_Q_DSR, 5, false);
        break;
    case 'c':
        if (par(vt, 0, 0) == 0)
            query(vt, VT_Q_DA1, 0, false);
        break;
    case 'b': {
        uint32_t cp = vt->last_cp;
        unsigned cnt = n1;
        if (cnt > (unsigned)vt->cols * vt->rows)
            cnt = (unsigned)vt->cols * vt->rows;
        for (unsigned i = 0; i < cnt; i++)
            print_cp(vt, cp);
        break;
    }
    case 'g':
        if (par(vt, 0, 0) == 0) {
            tabs_own(vt);
            vt->tabs[vt->x / 8] &= (uint8_t) ~(1u << (vt->x % 8));
        } else if (par(vt, 0, 0) == 3) {
            tabs_own(vt);
            memset(vt->tabs, 0, (vt->cols + 7u) / 8u);
        }
        break;
    case 's':
        save_cursor(vt);
        break;
    case 'u':
        restore_cursor(vt);
        break;
    }
}

/* Handles a complete OSC string; st tells whether ST (not BEL) ended it. */
static void osc_dispatch(struct vt *vt, bool st)
{
    const char *s = (const char *)vt->osc;
    size_t n = vt->osc_len;
    unsigned ps = 0;
    size_t i = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && ps < 100000)
        ps = ps * 10 + (unsigned)(s[i++] - '0');
    if (i == 0 || i >= n || s[i] != ';')
        return;
    i++;
    const char *t = s + i;
    size_t tn = n - i;
    if ((ps == 10 || ps == 11) && tn == 1 && t[0] == '?') {
        query(vt, ps == 10 ? VT_Q_OSC_FG : VT_Q_OSC_BG, (int)ps, st);
        return;
    }
    char **dst = NULL;
    size_t max = 0;
    if (ps == 0 || ps == 2)
        dst = &vt->title, max = VT_TITLE_MAX;
    else if (ps == 7)
        dst = &vt->cwd, max = VT_CWD_MAX;
    else
        return;
    if (tn > max) {
        tn = max;
        while (tn > 0 && ((uint8_t)t[tn] & 0xc0) == 0x80)
            tn--; /* do not cut a UTF-8 sequence */
    }
    vt->meta_seq++;
    char *v = xmalloc(tn + 1);
    size_t k = 0;
    for (size_t j = 0; j < tn; j++)
        if ((uint8_t)t[j] >= 0x20 && t[j] != 0x7f)
            v[k++] = t[j];
    v[k] = 0;
    free(*dst);
    *dst = NULL;
    if (k)
        *dst = v;
    else
        free(v);
}

/* Appends one byte to the OSC string, dropping bytes beyond VT_OSC_MAX. */
static void osc_put(struct vt *vt, uint8_t b)
{
    if (vt->osc_len == vt->osc_cap) {
        if (vt->osc_cap >= VT_OSC_MAX) {
            vt->osc_overflow = true;
            return;
        }
        vt->osc_cap = vt->osc_cap ? (uint16_t)(vt->osc_cap * 2) : 64;
        vt->osc = xrealloc(vt->osc, vt->osc_cap);
    }
    vt->osc[vt->osc_len++] = b;
}

/* Ends an OSC string: dispatches it (unless aborted) and frees its buffer. */
static void osc_end(struct vt *vt, bool dispatch, bool st)
{
    if (dispatch)
        osc_dispatch(vt, st);
    free(vt->osc);
    vt->osc = NULL;
    vt->osc_len = vt->osc_cap = 0;
    vt->osc_overflow = false;
}

/* Starts collecting an escape or control sequence. */
static void seq_clear(struct vt *vt)
{
    vt->priv = 0;
    vt->ninter = 0;
    vt->inter[0] = vt->inter[1] = 0;
    vt->nparam = 0;
    vt->param[0] = 0;
    vt->param_started = vt->param_overflow = false;
    vt->colon = 0;
}

/* Records an intermediate byte (more than two make the sequence unrecognised). */
static void collect(struct vt *vt, uint8_t b)
{
    if (vt->ninter < 2)
        vt->inter[vt->ninter] = b;
    if (vt->ninter < 255)
        vt->ninter++;
}

/* Accumulates a parameter digit or separator. */
static void param_byte(struct vt *vt, uint8_t b)
{
    vt->param_started = true;
    if (b == ';' || b == ':') {
        if (vt->nparam + 1 >= VT_PARAMS_MAX) {
            vt->param_overflow = true;
            return;
        }
        vt->nparam++;
        vt->param[vt->nparam] = 0;
        if (b == ':')
            vt->colon |= 1u << vt->nparam;
        return;
    }
    if (vt->param_overflow)
        return;
    unsigned v = vt->param[vt->nparam] * 10u + (b - '0');
    vt->param[vt->nparam] = (uint16_t)(v > 65535 ? 65535 : v);
}

/* Feeds one code point decoded in the ground state. */
static void ground_cp(struct vt *vt, uint32_t cp)
{
    if (cp >= 0x80 && cp < 0xa0)
        return; /* C1 controls arriving as UTF-8 are ignored */
    print_cp(vt, cp);
}

/* Feeds one byte in the ground state that is not printable ASCII. */
static void ground_byte(struct vt *vt, uint8_t b)
{
    if (vt->utf8_need) {
        if (b >= vt->utf8_lo && b <= vt->utf8_hi) {
            if (vt->utf8_rawlen < sizeof vt->utf8_raw)
                vt->utf8_raw[vt->utf8_rawlen++] = b;
            vt->utf8_cp = vt->utf8_cp << 6 | (b & 0x3f);
            vt->utf8_lo = 0x80;
            vt->utf8_hi = 0xbf;
            if (--vt->utf8_need == 0)
                ground_cp(vt, vt->utf8_cp);
            return;
        }
        vt->utf8_need = 0;
        print_cp(vt, 0xfffd);
        /* fall through: b starts something new */
    }
    if (b < 0x80) {
        if (b >= 0x20 && b < 0x7f) {
            uint32_t cp = b;
            if (vt->g[vt->gl] && b >= 0x60)
                cp = dec_graphics[b - 0x60];
            print_cp(vt, cp);
        } else if (b < 0x20) {
            execute(vt, b);
        }
        return;
    }
    vt->utf8_lo = 0x80;
    vt->utf8_hi = 0xbf;
    vt->utf8_raw[0] = b;
    vt->utf8_rawlen = 1;
    if (b >= 0xc2 && b <= 0xdf) {
        vt->utf8_need = 1, vt->utf8_cp = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
        vt->utf8_need = 2, vt->utf8_cp = b & 0x0f;
        if (b == 0xe0)
            vt->utf8_lo = 0xa0;
        if (b == 0xed)
            vt->utf8_hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
        vt->utf8_need = 3, vt->utf8_cp = b & 0x07;
        if (b == 0xf0)
            vt->utf8_lo = 0x90;
        if (b == 0xf4)
            vt->utf8_hi = 0x8f;
    } else {
        print_cp(vt, 0xfffd);
    }
}

/* Advances the parser by one byte (outside the ASCII fast path). */
static void step(struct vt *vt, uint8_t b)
{
    /* "anywhere" transitions */
    if (b == 0x18 || b == 0x1a || b == 0x1b) {
        if (vt->state == S_OSC)
            osc_end(vt, b == 0x1b, true);
        if (vt->state == S_GROUND && vt->utf8_need) {
            vt->utf8_need = 0;
            print_cp(vt, 0xfffd);
        }
        if (b == 0x1b) {
            vt->state = S_ESC;
            seq_clear(vt);
        } else {
            vt->state = S_GROUND;
        }
        return;
    }
    switch (vt->state) {
    case S_GROUND:
        ground_byte(vt, b);
        return;
    case S_OSC:
        if (b == 0x07) {
            osc_end(vt, true, false);
            vt->state = S_GROUND;
        } else if (b >= 0x20) {
            osc_put(vt, b);
        }
        return;
    case S_STRING:
        return;
    default:
        break;
    }
    if (b < 0x20) {
        execute(vt, b);
        return;
    }
    if (b >= 0x7f)
        return;
    switch (vt->state) {
    case S_ESC:
        if (b < 0x30) {
            collect(vt, b);
            vt->state = S_ESC_INTER;
        } else if (b == '[') {
            vt->state = S_CSI_ENTRY;
        } else if (b == ']') {
            vt->state = S_OSC;
        } else if (b == 'P' || b == 'X' || b == '^' || b == '_') {
            vt->state = S_STRING;
        } else {
            esc_dispatch(vt, b);
            vt->state = S_GROUND;
        }
        return;
    case S_ESC_INTER:
        if (b < 0x30) {
            collect(vt, b);
        } else {
            esc_dispatch(vt, b);
            vt->state = S_GROUND;
        }
        return;
    case S_CSI_ENTRY:
    case S_CSI_PARAM:
        if ((b >= '0' && b <= '9') || b == ';' || b == ':') {
            param_byte(vt, b);
            vt->state = S_CSI_PARAM;
        } else if (b >= 0x3c && b <= 0x3f) {
            if (vt->state == S_CSI_ENTRY) {
                vt->priv = b;
                vt->state = S_CSI_PARAM;
            } else {
                vt->state = S_CSI_IGNORE;
            }
        } else if (b < 0x30) {
            collect(vt, b);
            vt->state = S_CSI_INTER;
        } else {
            csi_dispatch(vt, b);
            vt->state = S_GROUND;
        }
        return;
    case S_CSI_INTER:
        if (b < 0x30) {
            collect(vt, b);
        } else if (b < 0x40) {
            vt->state = S_CSI_IGNORE;
        } else {
            csi_dispatch(vt, b);
            vt->state = S_GROUND;
        }
        return;
    case S_CSI_IGNORE:
        if (b >= 0x40)
            vt->state = S_GROUND;
        return;
    default:
        return;
    }
}

/* ---- public API --------------------------------------------------------------------- */

/* Clamps a dimension to 1..VT_DIM_MAX. */
static uint16_t clamp_dim(uint16_t v)
{
    return v < 1 ? 1 : v > VT_DIM_MAX ? VT_DIM_MAX : v;
}

/* Creates a blank screen of cols x rows. */
struct vt *vt_new(uint16_t cols, uint16_t rows)
{
    struct vt *vt = xcalloc(1, sizeof *vt);
    vt->cols = clamp_dim(cols);
    vt->rows = clamp_dim(rows);
    screen_alloc(vt, &vt->pri);
    vt->modes = VT_MODE_AUTOWRAP | VT_MODE_CURSOR_VISIBLE;
    vt->bot = (uint16_t)(vt->rows - 1);
    vt->last_cp = ' ';
    return vt;
}

/* Frees a vt; NULL is fine. */
void vt_free(struct vt *vt)
{
    if (!vt)
        return;
    screen_free(vt, &vt->pri);
    screen_free(vt, &vt->alt);
    free(vt->tabs);
    rgb_free(vt->rgb);
    free(vt->title);
    free(vt->cwd);
    free(vt->osc);
    free(vt);
}

/* Interprets n bytes of program output. */
void vt_feed(struct vt *vt, const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (vt->state == S_GROUND && !vt->utf8_need) {
            size_t j = i;
            while (j < n && p[j] >= 0x20 && p[j] < 0x7f)
                j++;
            if (j > i) {
                print_ascii(vt, p + i, j - i);
                i = j;
                continue;
            }
            if (p[i] == '\r' || p[i] == '\n') {
                execute(vt, p[i++]);
                continue;
            }
        }
        uint8_t b = p[i++];
        bool was_ground = vt->state == S_GROUND;
        step(vt, b);
        if (vt->state == S_GROUND) {
            vt->pend_len = 0;
            vt->pend_over = false;
        } else {
            if (was_ground || b == 0x1b) {
                vt->pend_len = 0;
                vt->pend_over = false;
            }
            /* C0 controls inside a sequence were executed (or ignored) already: the
             * snapshot's screen has them, replaying them would act twice. */
            if (b < 0x20 && b != 0x1b)
                ;
            else if (vt->pend_len < VT_PEND_MAX)
                vt->pend[vt->pend_len++] = b;
            else
                vt->pend_over = true;
        }
    }
}

/* Rebuilds screen s at a new size, keeping the cursor row in view when rows shrink. */
static void screen_resize(struct vt *vt, struct screen *s, uint16_t cols, uint16_t rows,
                          unsigned drop_top)
{
    struct row *nr = xcalloc(rows, sizeof *nr);
    for (unsigned y = 0; y < vt->rows; y++) {
        struct row *r = row_at(vt, s, (uint16_t)y);
        if (y < drop_top || y - drop_top >= rows) {
            row_free(vt, r);
            continue;
        }
        if (cols > vt->cols && r->fill != 0) {
            /* New columns are blank with the default background, like xterm's. */
            row_reserve(vt, r, vt->cols);
            r->fill = 0;
        }
        if (r->len > cols)
            r->len = cols;
        if (r->cap > cols) {
            r->c = xrealloc(r->c, cols * sizeof *r->c);
            vt->cells -= r->cap - cols;
            r->cap = cols;
        }
        if (r->len == cols && (r->c[cols - 1].cp & CELL_WIDE))
            r->c[cols - 1].cp = 0;
        nr[y - drop_top] = *r;
    }
    free(s->rows);
    s->rows = nr;
    s->base = 0;
}

/* Resizes to cols x rows (no reflow). */
int vt_resize(struct vt *vt, uint16_t cols, uint16_t rows)
{
    if (cols < 1 || rows < 1 || cols > VT_DIM_MAX || rows > VT_DIM_MAX)
        return -EINVAL;
    unsigned drop = vt->y >= rows ? vt->y - rows + 1u : 0;
    screen_resize(vt, &vt->pri, cols, rows, vt->in_alt ? 0 : drop);
    if (vt->alt.rows)
        screen_resize(vt, &vt->alt, cols, rows, vt->in_alt ? drop : 0);
    vt->y = (uint16_t)(vt->y - drop);
    vt->cols = cols;
    vt->rows = rows;
    free(vt->tabs); /* tab stops return to every 8 columns */
    vt->tabs = NULL;
    vt->top = 0;
    vt->bot = (uint16_t)(rows - 1);
    move_to(vt, vt->x, vt->y);
    struct saved *sv[2] = {&vt->save_pri, &vt->save_alt};
    for (int i = 0; i < 2; i++) {
        if (sv[i]->x >= cols)
            sv[i]->x = (uint16_t)(cols - 1);
        if (sv[i]->y >= rows)
            sv[i]->y = (uint16_t)(rows - 1);
    }
    return 0;
}

/* The screen size. */
void vt_size(const struct vt *vt, uint16_t *cols, uint16_t *rows)
{
    *cols = vt->cols;
    *rows = vt->rows;
}

/* The cursor position and visibility. */
void vt_cursor(const struct vt *vt, uint16_t *col, uint16_t *row, bool *visible)
{
    if (col)
        *col = vt->x;
    if (row)
        *row = vt->y;
    if (visible)
        *visible = (vt->modes & VT_MODE_CURSOR_VISIBLE) != 0;
}

/* The VT_MODE_* bits set. */
unsigned vt_modes(const struct vt *vt)
{
    return vt->modes;
}

/* The OSC 0/2 title. */
const char *vt_title(const struct vt *vt)
{
    return vt->title ? vt->title : "";
}

/* The OSC 7 working directory. */
const char *vt_cwd(const struct vt *vt)
{
    return vt->cwd ? vt->cwd : "";
}

/* The bell count. */
uint64_t vt_bells(const struct vt *vt)
{
    return vt->bells;
}

/* Heap bytes held by one screen. */
static size_t screen_memory(const struct vt *vt, const struct screen *s)
{
    if (!s->rows)
        return 0;
    size_t n = vt->rows * sizeof *s->rows;
    for (unsigned i = 0; i < vt->rows; i++)
        n += s->rows[i].cap * sizeof(struct cell);
    return n;
}

/* Heap bytes held by the vt. */
size_t vt_memory(const struct vt *vt)
{
    size_t n = sizeof *vt + screen_memory(vt, &vt->pri) + screen_memory(vt, &vt->alt);
    if (vt->tabs)
        n += (vt->cols + 7u) / 8u;
    if (vt->rgb)
        n += sizeof *vt->rgb + vt->rgb->cap * (sizeof(uint32_t) + 2 * sizeof(uint16_t));
    if (vt->title)
        n += strlen(vt->title) + 1;
    if (vt->cwd)
        n += strlen(vt->cwd) + 1;
    return n + vt->osc_cap;
}

/* True between sequences. */
bool vt_ground(const struct vt *vt)
{
    return vt->state == S_GROUND && !vt->utf8_need;
}

/* Title / cwd change counter. */
uint64_t vt_meta_seq(const struct vt *vt)
{
    return vt->meta_seq;
}

/* Sets the query callback. */
void vt_set_query_cb(struct vt *vt, vt_query_cb cb, void *arg)
{
    vt->cb = cb;
    vt->cb_arg = arg;
}

/* ---- output: text, snapshot, replies ------------------------------------------------ */

/* A bounded output buffer that counts what it could not store. */
struct out {
    uint8_t *buf;
    size_t cap, n;
};

/* Appends n bytes. */
static void put(struct out *o, const void *p, size_t n)
{
    if (o->n < o->cap) {
        size_t k = o->cap - o->n < n ? o->cap - o->n : n;
        memcpy(o->buf + o->n, p, k);
    }
    o->n += n;
}

/* Appends a NUL-terminated string. */
static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* Appends an unsigned decimal number. */
static void putu(struct out *o, unsigned v)
{
    char t[12];
    int i = 12;
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(o, t + i, (size_t)(12 - i));
}

/* Appends code point cp as UTF-8. */
static void put_utf8(struct out *o, uint32_t cp)
{
    uint8_t t[4];
    if (cp < 0x80) {
        t[0] = (uint8_t)cp;
        put(o, t, 1);
    } else if (cp < 0x800) {
        t[0] = (uint8_t)(0xc0 | cp >> 6), t[1] = (uint8_t)(0x80 | (cp & 0x3f));
        put(o, t, 2);
    } else if (cp < 0x10000) {
        t[0] = (uint8_t)(0xe0 | cp >> 12), t[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        t[2] = (uint8_t)(0x80 | (cp & 0x3f));
        put(o, t, 3);
    } else {
        t[0] = (uint8_t)(0xf0 | cp >> 18), t[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
        t[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f)), t[3] = (uint8_t)(0x80 | (cp & 0x3f));
        put(o, t, 4);
    }
}

/* True when c shows nothing: blank or space, no attributes, background bg. */
static bool cell_plain(struct cell c, uint16_t bg)
{
    uint32_t ch = c.cp & CELL_CP;
    return (ch == 0 || ch == ' ') && !(c.cp & ~CELL_CP) && c.fg == 0 && c.bg == bg;
}

/* Writes the screen as text. */
size_t vt_text(const struct vt *vt, char *buf, size_t cap)
{
    struct out o = {(uint8_t *)buf, cap, 0};
    const struct screen *s = vt->in_alt ? &vt->alt : &vt->pri;
    for (unsigned y = 0; y < vt->rows; y++) {
        const struct row *r = row_at(vt, s, (uint16_t)y);
        unsigned end = r->len;
        while (end > 0) {
            uint32_t ch = r->c[end - 1].cp & CELL_CP;
            if (ch != 0 && ch != ' ')
                break;
            end--;
        }
        for (unsigned x = 0; x < end; x++) {
            uint32_t cp = r->c[x].cp;
            if (cp & CELL_CONT)
                continue;
            cp &= CELL_CP;
            put_utf8(&o, cp ? cp : ' ');
        }
        if (y + 1u < vt->rows)
            put(&o, "\n", 1);
    }
    if (cap > 0)
        buf[o.n < cap ? o.n : cap - 1] = 0;
    return o.n;
}

/* Appends colour code c as SGR parameters for the foreground (base 30) or background. */
static void put_color(const struct vt *vt, struct out *o, uint16_t c, bool bg)
{
    if (c == 0)
        return;
    put(o, ";", 1);
    if (c <= 8) {
        putu(o, (bg ? 40u : 30u) + c - 1u);
    } else if (c <= 16) {
        putu(o, (bg ? 100u : 90u) + c - 9u);
    } else if (c <= 256) {
        puts_(o, bg ? "48;5;" : "38;5;");
        putu(o, c - 1u);
    } else {
        uint32_t rgb =
            vt->rgb && c - COLOR_RGB_BASE < vt->rgb->n ? vt->rgb->rgb[c - COLOR_RGB_BASE] : 0;
        puts_(o, bg ? "48;2;" : "38;2;");
        putu(o, rgb >> 16 & 0xff);
        put(o, ";", 1);
        putu(o, rgb >> 8 & 0xff);
        put(o, ";", 1);
        putu(o, rgb & 0xff);
    }
}

/* Appends an SGR sequence that sets exactly attributes flags with colours fg/bg. */
static void put_sgr(const struct vt *vt, struct out *o, uint32_t flags, uint16_t fg, uint16_t bg)
{
    static const struct {
        uint32_t bit;
        const char *s;
    } attrs[] = {{CELL_BOLD, ";1"},      {CELL_DIM, ";2"},   {CELL_ITALIC, ";3"},
                 {CELL_UNDERLINE, ";4"}, {CELL_BLINK, ";5"}, {CELL_INVERSE, ";7"},
                 {CELL_HIDDEN, ";8"},    {CELL_STRIKE, ";9"}};
    puts_(o, "\x1b[0");
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
        if (flags & attrs[i].bit)
            puts_(o, attrs[i].s);
    put_color(vt, o, fg, false);
    put_color(vt, o, bg, true);
    put(o, "m", 1);
}

/* Appends CUP to 0-based (x, y). */
static void put_cup(struct out *o, unsigned x, unsigned y)
{
    puts_(o, "\x1b[");
    putu(o, y + 1);
    put(o, ";", 1);
    putu(o, x + 1);
    put(o, "H", 1);
}

/* Appends the cells of screen s, row by row, leaving the pen at default. */
static void put_screen(const struct vt *vt, struct out *o, const struct screen *s)
{
    uint32_t cf = 0;
    uint16_t cfg = 0, cbg = 0;
    for (unsigned y = 0; y < vt->rows; y++) {
        const struct row *r = row_at(vt, s, (uint16_t)y);
        /* The row ends in blanks of one background: those of the last column (stored or
         * the fill). Trimming by that background, not by r->fill, makes the output the
         * same for every storage of the same cells (a row written to its last column has
         * a stale fill), so a snapshot of a restored snapshot is byte-identical. */
        struct cell last = row_get(r, vt->cols - 1u);
        uint16_t tail = cell_plain(last, last.bg) ? last.bg : 0;
        unsigned end = r->len;
        while (end > 0 && cell_plain(r->c[end - 1], tail))
            end--;
        bool fill = tail != 0 && end < vt->cols;
        if (end == 0 && !fill)
            continue;
        put_cup(o, 0, y);
        for (unsigned x = 0; x < end; x++) {
            struct cell c = r->c[x];
            if (c.cp & CELL_CONT)
                continue;
            uint32_t f = c.cp & CELL_SGR;
            if (f != cf || c.fg != cfg || c.bg != cbg) {
                put_sgr(vt, o, f, c.fg, c.bg);
                cf = f, cfg = c.fg, cbg = c.bg;
            }
            uint32_t ch = c.cp & CELL_CP;
            put_utf8(o, ch ? ch : ' ');
        }
        if (fill) {
            if (cf || cfg || cbg != tail) {
                put_sgr(vt, o, 0, 0, tail);
                cf = 0, cfg = 0, cbg = tail;
            }
            puts_(o, "\x1b[K");
        }
    }
    if (cf || cfg || cbg)
        puts_(o, "\x1b[0m");
}

/* Writes a byte sequence that reproduces the screen. */
size_t vt_snapshot(const struct vt *vt, uint8_t *buf, size_t cap)
{
    struct out o = {buf, cap, 0};
    puts_(&o, "\x1b"
              "c");
    if (vt->in_alt) {
        put_screen(vt, &o, &vt->pri);
        const struct saved *sv = &vt->save_pri;
        /* 1049h saves this cursor as the one to restore when the program leaves. */
        struct pen pen = sv->set ? sv->pen : (struct pen){0, 0, 0};
        put_cup(&o, sv->set ? sv->x : 0, sv->set ? sv->y : 0);
        put_sgr(vt, &o, pen.flags, pen.fg, pen.bg);
        puts_(&o, "\x1b[?1049h\x1b[0m\x1b[2J");
    }
    const struct screen *s = vt->in_alt ? &vt->alt : &vt->pri;
    put_screen(vt, &o, s);
    if (vt->top != 0 || vt->bot != vt->rows - 1u) {
        puts_(&o, "\x1b[");
        putu(&o, vt->top + 1u);
        put(&o, ";", 1);
        putu(&o, vt->bot + 1u);
        put(&o, "r", 1);
    }
    if (vt->modes & VT_MODE_ORIGIN)
        puts_(&o, "\x1b[?6h");
    unsigned oy = (vt->modes & VT_MODE_ORIGIN) ? vt->top : 0;
    if (vt->wrapnext && vt->x == vt->cols - 1u) {
        /* Reprint the last character to recreate the pending wrap. */
        const struct row *r = row_at(vt, s, vt->y);
        unsigned x = vt->x;
        struct cell c = row_get(r, x);
        if ((c.cp & CELL_CONT) && x > 0)
            c = row_get(r, --x);
        put_cup(&o, x, vt->y - oy);
        put_sgr(vt, &o, c.cp & CELL_SGR, c.fg, c.bg);
        uint32_t ch = c.cp & CELL_CP;
        put_utf8(&o, ch ? ch : ' ');
    } else {
        put_cup(&o, vt->x, vt->y - oy);
    }
    put_sgr(vt, &o, vt->pen.flags, vt->pen.fg, vt->pen.bg);
    static const struct {
        unsigned bit;
        const char *on;
    } modes[] = {
        {VT_MODE_CURSOR_KEYS, "\x1b[?1h"},        {VT_MODE_KEYPAD_APP, "\x1b="},
        {VT_MODE_BRACKETED_PASTE, "\x1b[?2004h"}, {VT_MODE_MOUSE_X10, "\x1b[?9h"},
        {VT_MODE_MOUSE_NORMAL, "\x1b[?1000h"},    {VT_MODE_MOUSE_BUTTON, "\x1b[?1002h"},
        {VT_MODE_MOUSE_ANY, "\x1b[?1003h"},       {VT_MODE_MOUSE_SGR, "\x1b[?1006h"},
        {VT_MODE_FOCUS, "\x1b[?1004h"},           {VT_MODE_INSERT, "\x1b[4h"},
    };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (vt->modes & modes[i].bit)
            puts_(&o, modes[i].on);
    if (!(vt->modes & VT_MODE_AUTOWRAP))
        puts_(&o, "\x1b[?7l");
    if (!(vt->modes & VT_MODE_CURSOR_VISIBLE))
        puts_(&o, "\x1b[?25l");
    if (vt->cursor_style) {
        puts_(&o, "\x1b[");
        putu(&o, vt->cursor_style);
        puts_(&o, " q");
    }
    if (vt->g[0])
        puts_(&o, "\x1b(0");
    if (vt->g[1])
        puts_(&o, "\x1b)0");
    if (vt->gl)
        puts_(&o, "\x0e");
    if (vt->title) {
        puts_(&o, "\x1b]2;");
        puts_(&o, vt->title);
        puts_(&o, "\x1b\\");
    }
    if (vt->cwd) {
        puts_(&o, "\x1b]7;");
        puts_(&o, vt->cwd);
        puts_(&o, "\x1b\\");
    }
    /* Last, what the parser is in the middle of, so the stream after the snapshot's
     * offset completes it. */
    if (vt->state == S_GROUND && vt->utf8_need)
        put(&o, vt->utf8_raw, vt->utf8_rawlen);
    else if (vt->state != S_GROUND && !vt->pend_over)
        put(&o, vt->pend, vt->pend_len);
    return o.n;
}

/* The DECRQM state of DEC mode m: 1 set, 2 reset, 0 unknown. */
static unsigned decrqm_state(const struct vt *vt, unsigned m)
{
    unsigned bit = dec_mode_bit(m);
    if (!bit)
        return 0;
    return (vt->modes & bit) ? 1 : 2;
}

/* Writes the reply to a query with the state now. */
size_t vt_reply(const struct vt *vt, enum vt_query q, int param, bool st_terminated, uint8_t *buf,
                size_t cap)
{
    struct out o = {buf, cap, 0};
    const char *term = st_terminated ? "\x1b\\" : "\x07";
    switch (q) {
    case VT_Q_CPR: {
        unsigned y = vt->y;
        if ((vt->modes & VT_MODE_ORIGIN) && y >= vt->top)
            y -= vt->top;
        puts_(&o, param == 1 ? "\x1b[?" : "\x1b[");
        putu(&o, y + 1u);
        put(&o, ";", 1);
        putu(&o, vt->x + 1u);
        put(&o, "R", 1);
        break;
    }
    case VT_Q_DA1:
        puts_(&o, "\x1b[?62;22c");
        break;
    case VT_Q_DA2:
        puts_(&o, "\x1b[>0;10;1c");
        break;
    case VT_Q_DSR:
        puts_(&o, "\x1b[0n");
        break;
    case VT_Q_XTVERSION:
        puts_(&o, "\x1bP>|ptyhub(0.1.0)\x1b\\");
        break;
    case VT_Q_OSC_FG:
        puts_(&o, "\x1b]10;rgb:ffff/ffff/ffff");
        puts_(&o, term);
        break;
    case VT_Q_OSC_BG:
        puts_(&o, "\x1b]11;rgb:0000/0000/0000");
        puts_(&o, term);
        break;
    case VT_Q_DECRQM:
        puts_(&o, "\x1b[?");
        putu(&o, param < 0 ? 0u : (unsigned)param);
        put(&o, ";", 1);
        putu(&o, decrqm_state(vt, param < 0 ? 0u : (unsigned)param));
        puts_(&o, "$y");
        break;
    }
    return o.n;
}
