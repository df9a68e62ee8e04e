/* vt: a pure, bounded, headless model of an xterm-compatible terminal screen.
 *
 * It is the groundwork for issue 9 (terminal state): fed the bytes a program writes to its
 * PTY, it keeps the screen (cells with attributes, the cursor, the alternate screen), the
 * modes a client must know (cursor keys, bracketed paste, mouse, ...), the title, the
 * working directory and a bell count; it reports the queries the program sends so that one
 * party (the daemon) can answer each exactly once, builds those answers, renders the screen
 * as text and as a compact "snapshot" byte sequence that reproduces the screen in any
 * xterm-compatible terminal. No I/O and no global state; memory is bounded (rows allocate
 * their cells lazily, strings and parameters are capped).
 *
 * Not modelled (yet): scrollback, reflow on resize, left/right margins (DECLRMM), double
 * width/height lines, tab stops in the snapshot, DCS requests (DECRQSS, XTGETTCAP), OSC 4/52,
 * hyperlinks (OSC 8), underline colour and styles. Combining marks and other zero-width
 * code points are dropped (the base character stays).
 */
#ifndef PTYHUB_TERM_VT_H
#define PTYHUB_TERM_VT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VT_DIM_MAX 10000 /* largest number of columns or rows */
#define VT_TITLE_MAX 256 /* bytes kept of an OSC 0/2 title */
#define VT_CWD_MAX 1024  /* bytes kept of an OSC 7 working directory */
#define VT_OSC_MAX 4096  /* bytes kept of any OSC string; the rest is dropped */
#define VT_PARAMS_MAX 32 /* CSI parameters (and sub-parameters) kept; values clamp to 65535 */
/* Cells stored per vt (8 bytes each, 32 MiB): a screen bigger than this that is written
 * all over keeps only the cells written first; the rest read as blanks. */
#define VT_CELLS_MAX (1u << 22)

struct vt;

/* Modes the emulator tracks, as returned by vt_modes(). */
enum {
    VT_MODE_ALTSCREEN = 1u << 0,       /* ?47, ?1047, ?1049 */
    VT_MODE_CURSOR_KEYS = 1u << 1,     /* ?1 DECCKM */
    VT_MODE_BRACKETED_PASTE = 1u << 2, /* ?2004 */
    VT_MODE_MOUSE_X10 = 1u << 3,       /* ?9 */
    VT_MODE_MOUSE_NORMAL = 1u << 4,    /* ?1000 */
    VT_MODE_MOUSE_BUTTON = 1u << 5,    /* ?1002 */
    VT_MODE_MOUSE_ANY = 1u << 6,       /* ?1003 */
    VT_MODE_MOUSE_SGR = 1u << 7,       /* ?1006 */
    VT_MODE_FOCUS = 1u << 8,           /* ?1004 */
    VT_MODE_AUTOWRAP = 1u << 9,        /* ?7 DECAWM */
    VT_MODE_ORIGIN = 1u << 10,         /* ?6 DECOM */
    VT_MODE_CURSOR_VISIBLE = 1u << 11, /* ?25 DECTCEM */
    VT_MODE_KEYPAD_APP = 1u << 12,     /* ESC = / ESC > (and ?66) */
    VT_MODE_INSERT = 1u << 13,         /* 4 IRM */
};

/* Queries a program can send; see vt_set_query_cb and vt_reply. */
enum vt_query {
    VT_Q_CPR,       /* CSI 6n (param 0), CSI ?6n (param 1) */
    VT_Q_DA1,       /* CSI c, CSI 0c */
    VT_Q_DA2,       /* CSI >c, CSI >0c */
    VT_Q_DSR,       /* CSI 5n */
    VT_Q_XTVERSION, /* CSI >q, CSI >0q */
    VT_Q_OSC_FG,    /* OSC 10;? */
    VT_Q_OSC_BG,    /* OSC 11;? */
    VT_Q_DECRQM,    /* CSI ?Ps$p, param = Ps */
};

/* Called inline from vt_feed, in stream order, once per query parsed, with the vt in the
 * state right after the query (so vt_reply gives CPR the cursor at that point). It may call
 * the const accessors and vt_reply, never vt_feed, vt_resize or vt_free. st_terminated tells
 * whether an OSC query ended with ST (ESC \) rather than BEL; false for CSI queries. */
typedef void (*vt_query_cb)(void *arg, enum vt_query q, int param, bool st_terminated);

/* Creates a blank screen of cols x rows (each clamped to 1..VT_DIM_MAX). */
struct vt *vt_new(uint16_t cols, uint16_t rows);
/* Frees a vt; NULL is fine. */
void vt_free(struct vt *vt);
/* Interprets n bytes of program output; any bytes are acceptable. */
void vt_feed(struct vt *vt, const uint8_t *p, size_t n);
/* Resizes to cols x rows (no reflow); -EINVAL when either is 0 or above VT_DIM_MAX. */
int vt_resize(struct vt *vt, uint16_t cols, uint16_t rows);
/* The screen size. */
void vt_size(const struct vt *vt, uint16_t *cols, uint16_t *rows);
/* The cursor position (0-based) and whether it is visible. */
void vt_cursor(const struct vt *vt, uint16_t *col, uint16_t *row, bool *visible);
/* The VT_MODE_* bits currently set. */
unsigned vt_modes(const struct vt *vt);
/* The title set by OSC 0/2 ("" when none). */
const char *vt_title(const struct vt *vt);
/* The working directory URL set by OSC 7 ("" when none). */
const char *vt_cwd(const struct vt *vt);
/* How many BEL characters were seen outside strings. */
uint64_t vt_bells(const struct vt *vt);
/* Bytes of heap the vt holds (its own accounting, without allocator overhead). */
size_t vt_memory(const struct vt *vt);
/* True when the parser is between sequences (ground state, no partial UTF-8): the next
 * byte starts something new. */
bool vt_ground(const struct vt *vt);
/* A number that changes whenever the title or the working directory is set. */
uint64_t vt_meta_seq(const struct vt *vt);
/* Sets (or clears with cb NULL) the query callback. */
void vt_set_query_cb(struct vt *vt, vt_query_cb cb, void *arg);

/* Writes the screen as UTF-8 text, rows separated by '\n', trailing blanks trimmed, NUL
 * terminated when cap > 0; returns the length it needs (snprintf-style). */
size_t vt_text(const struct vt *vt, char *buf, size_t cap);
/* Writes a byte sequence that reproduces the screen, modes, title and cursor in an
 * xterm-compatible terminal (or a fresh vt of the same size); returns the length it needs
 * (snprintf-style, no NUL). It starts with RIS (ESC c); on the alternate screen it draws
 * the primary screen first and enters with ?1049h, so leaving restores it. Also carried:
 * scroll region, origin mode, pending wrap, pen, cursor style, charsets, title, cwd. Not
 * carried: tab stops, the DECSC-saved cursor of the current screen. */
size_t vt_snapshot(const struct vt *vt, uint8_t *buf, size_t cap);
/* Writes the reply to query q with the state now; returns the length it needs. */
size_t vt_reply(const struct vt *vt, enum vt_query q, int param, bool st_terminated, uint8_t *buf,
                size_t cap);

#endif
