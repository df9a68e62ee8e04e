/* test_term: the headless terminal model (src/term/vt.c) seen from outside.
 *
 * Each case feeds a few escape sequences and checks what a user of the screen would see:
 * the text, the cursor, the modes, the title, the query callbacks and their replies. The
 * snapshot is checked by its round-trip property: feeding it to a fresh vt of the same
 * size gives the same text, cursor and modes, and the same snapshot again (so attributes
 * and colours survive too). Bad input (random bytes, a 1 MiB OSC, 1000 parameters, 1x1 and
 * 10000x10000 resizes) must not crash and must keep memory bounded. */
#include <errno.h>
#include <stdbool.h>

#include "harness.h"
#include "term/vt.h"
#include "term/width.h"

/* Feeds a NUL-terminated string. */
static void feed(struct vt *vt, const char *s)
{
    vt_feed(vt, (const uint8_t *)s, strlen(s));
}

/* The screen text in a static buffer. */
static const char *text(const struct vt *vt)
{
    static char buf[1 << 16];
    size_t n = vt_text(vt, buf, sizeof buf);
    CHECK(n < sizeof buf);
    return buf;
}

/* The text of row y only. */
static const char *line(const struct vt *vt, int y)
{
    static char out[4096];
    const char *t = text(vt);
    for (int i = 0; i < y; i++) {
        t = strchr(t, '\n');
        CHECK(t != NULL);
        t++;
    }
    size_t n = strcspn(t, "\n");
    CHECK(n < sizeof out);
    memcpy(out, t, n);
    out[n] = 0;
    return out;
}

/* Checks the cursor is at 0-based (col, row). */
static void check_cursor(const struct vt *vt, int col, int row)
{
    uint16_t x, y;
    vt_cursor(vt, &x, &y, NULL);
    CHECK_MSG(x == col && y == row, "cursor at (%d,%d), expected (%d,%d)", x, y, col, row);
}

/* A snapshot in a heap buffer; *n gets its length. */
static uint8_t *snapshot(const struct vt *vt, size_t *n)
{
    size_t need = vt_snapshot(vt, NULL, 0);
    uint8_t *buf = malloc(need + 1);
    CHECK(buf != NULL);
    CHECK_EQ(vt_snapshot(vt, buf, need + 1), need);
    *n = need;
    return buf;
}

/* Checks the snapshot round trip: a fresh vt fed the snapshot has the same text, cursor,
 * modes, title, and produces a byte-identical snapshot. */
static void check_roundtrip(const struct vt *vt)
{
    uint16_t cols, rows;
    vt_size(vt, &cols, &rows);
    size_t n;
    uint8_t *snap = snapshot(vt, &n);
    struct vt *b = vt_new(cols, rows);
    vt_feed(b, snap, n);
    char *ta = strdup(text(vt));
    CHECK_STR_EQ(text(b), ta);
    free(ta);
    uint16_t xa, ya, xb, yb;
    bool va, vb;
    vt_cursor(vt, &xa, &ya, &va);
    vt_cursor(b, &xb, &yb, &vb);
    CHECK_EQ(xa, xb);
    CHECK_EQ(ya, yb);
    CHECK_EQ(va, vb);
    CHECK_EQ(vt_modes(vt), vt_modes(b));
    CHECK_STR_EQ(vt_title(vt), vt_title(b));
    size_t n2;
    uint8_t *snap2 = snapshot(b, &n2);
    CHECK_EQ(n, n2);
    CHECK_MEM_EQ(snap, snap2, n);
    free(snap);
    free(snap2);
    vt_free(b);
}

/* True when the snapshot of vt contains the string s. */
static bool snapshot_has(const struct vt *vt, const char *s)
{
    size_t n;
    uint8_t *snap = snapshot(vt, &n);
    bool found = memmem(snap, n, s, strlen(s)) != NULL;
    free(snap);
    return found;
}

TEST(term_new_blank)
{
    struct vt *vt = vt_new(80, 24);
    check_cursor(vt, 0, 0);
    CHECK_EQ(vt_modes(vt), VT_MODE_AUTOWRAP | VT_MODE_CURSOR_VISIBLE);
    char buf[64];
    CHECK_EQ(vt_text(vt, buf, sizeof buf), 23); /* 24 empty rows, 23 separators */
    CHECK_STR_EQ(vt_title(vt), "");
    CHECK_STR_EQ(vt_cwd(vt), "");
    CHECK_MSG(vt_memory(vt) < 1024, "blank 80x24 costs %zu bytes", vt_memory(vt));
    vt_free(vt);
    vt_free(NULL);
}

TEST(term_new_clamps_size)
{
    struct vt *vt = vt_new(0, 60000);
    uint16_t c, r;
    vt_size(vt, &c, &r);
    CHECK_EQ(c, 1);
    CHECK_EQ(r, VT_DIM_MAX);
    vt_free(vt);
}

TEST(term_print_and_text)
{
    struct vt *vt = vt_new(20, 3);
    feed(vt, "hello   \r\nworld");
    CHECK_STR_EQ(text(vt), "hello\nworld\n");
    check_cursor(vt, 5, 1);
    vt_free(vt);
}

TEST(term_text_snprintf_style)
{
    struct vt *vt = vt_new(10, 2);
    feed(vt, "abcdef");
    char buf[4];
    CHECK_EQ(vt_text(vt, buf, sizeof buf), 7);
    CHECK_STR_EQ(buf, "abc");
    CHECK_EQ(vt_text(vt, NULL, 0), 7);
    vt_free(vt);
}

TEST(term_cursor_motion_and_clamping)
{
    struct vt *vt = vt_new(80, 24);
    feed(vt, "\x1b[10;20H");
    check_cursor(vt, 19, 9);
    feed(vt, "\x1b[3A");
    check_cursor(vt, 19, 6);
    feed(vt, "\x1b[2B\x1b[5C\x1b[D");
    check_cursor(vt, 23, 8);
    feed(vt, "\x1b[999A\x1b[999D");
    check_cursor(vt, 0, 0);
    feed(vt, "\x1b[999B\x1b[999C");
    check_cursor(vt, 79, 23);
    feed(vt, "\x1b[65535;65535H");
    check_cursor(vt, 79, 23);
    feed(vt, "\x1b[H");
    check_cursor(vt, 0, 0);
    feed(vt, "\x1b[5G");
    check_cursor(vt, 4, 0);
    feed(vt, "\x1b[7d");
    check_cursor(vt, 4, 6);
    feed(vt, "\x1b[2E");
    check_cursor(vt, 0, 8);
    feed(vt, "\x1b[5;5f\x1b[F");
    check_cursor(vt, 0, 3);
    feed(vt, "\x1b[0;0H");
    check_cursor(vt, 0, 0);
    feed(vt, "ab\bc");
    CHECK_STR_EQ(line(vt, 0), "ac");
    vt_free(vt);
}

TEST(term_tabs)
{
    struct vt *vt = vt_new(40, 2);
    feed(vt, "a\tb\tc");
    CHECK_STR_EQ(line(vt, 0), "a       b       c");
    feed(vt, "\t\t\t\t\t\t");
    check_cursor(vt, 39, 0);
    feed(vt, "\r\x1b[3C\x1bH\r\tX"); /* a stop set at column 3 */
    check_cursor(vt, 4, 0);
    feed(vt, "\x1b[3g\r\tY"); /* all stops cleared: tab goes to the margin */
    check_cursor(vt, 39, 0);
    feed(vt, "\x1b[Z");
    check_cursor(vt, 0, 0);
    vt_free(vt);
}

TEST(term_autowrap_and_pending_wrap)
{
    struct vt *vt = vt_new(5, 3);
    feed(vt, "abcde");
    check_cursor(vt, 4, 0); /* pending wrap: cursor stays in the last column */
    feed(vt, "f");
    check_cursor(vt, 1, 1);
    CHECK_STR_EQ(text(vt), "abcde\nf\n");
    /* A CR after the last column cancels the wrap. */
    feed(vt, "\r\x1b[3;1H12345\r");
    check_cursor(vt, 0, 2);
    feed(vt, "X");
    CHECK_STR_EQ(line(vt, 2), "X2345");
    /* Pending wrap at the bottom scrolls only when the next character comes. */
    feed(vt, "\x1b[3;1Hvwxyz");
    CHECK_STR_EQ(line(vt, 0), "abcde");
    feed(vt, "!");
    CHECK_STR_EQ(text(vt), "f\nvwxyz\n!");
    vt_free(vt);
}

TEST(term_no_autowrap)
{
    struct vt *vt = vt_new(5, 2);
    feed(vt, "\x1b[?7labcdefgh");
    CHECK_STR_EQ(text(vt), "abcdh\n");
    check_cursor(vt, 4, 0);
    CHECK(!(vt_modes(vt) & VT_MODE_AUTOWRAP));
    feed(vt, "\x1b[?7h");
    CHECK(vt_modes(vt) & VT_MODE_AUTOWRAP);
    vt_free(vt);
}

TEST(term_scroll_full_screen)
{
    struct vt *vt = vt_new(10, 3);
    feed(vt, "1\r\n2\r\n3\r\n4\r\n5");
    CHECK_STR_EQ(text(vt), "3\n4\n5");
    feed(vt, "\x1b[S");
    CHECK_STR_EQ(text(vt), "4\n5\n");
    feed(vt, "\x1b[2T");
    CHECK_STR_EQ(text(vt), "\n\n4");
    feed(vt, "\x1b[H\x1bM\x1bMtop");
    CHECK_STR_EQ(text(vt), "top\n\n");
    vt_free(vt);
}

TEST(term_scroll_region)
{
    struct vt *vt = vt_new(10, 5);
    feed(vt, "a\r\nb\r\nc\r\nd\r\ne");
    feed(vt, "\x1b[2;4r");
    check_cursor(vt, 0, 0); /* DECSTBM homes the cursor */
    feed(vt, "\x1b[4;1H\n");
    CHECK_STR_EQ(text(vt), "a\nc\nd\n\ne");
    feed(vt, "\x1b[2;1H\x1bM");
    CHECK_STR_EQ(text(vt), "a\n\nc\nd\ne");
    feed(vt, "\x1b[3;1H\x1b[L");
    CHECK_STR_EQ(text(vt), "a\n\n\nc\ne");
    feed(vt, "\x1b[2;1H\x1b[2M");
    CHECK_STR_EQ(text(vt), "a\nc\n\n\ne");
    /* Outside the region the cursor moves but nothing scrolls. */
    feed(vt, "\x1b[5;1H\n\n");
    check_cursor(vt, 0, 4);
    CHECK_STR_EQ(text(vt), "a\nc\n\n\ne");
    /* Origin mode: CUP is relative to the region and clamped to it. */
    feed(vt, "\x1b[?6h\x1b[1;1HX\x1b[99;1H");
    check_cursor(vt, 0, 3);
    CHECK_STR_EQ(line(vt, 1), "X");
    vt_free(vt);
}

TEST(term_erase)
{
    struct vt *vt = vt_new(10, 3);
    feed(vt, "0123456789\r\nabcdefghij\r\nABCDEFGHIJ");
    feed(vt, "\x1b[2;5H\x1b[K");
    CHECK_STR_EQ(line(vt, 1), "abcd");
    feed(vt, "\x1b[1K");
    CHECK_STR_EQ(line(vt, 1), "");
    feed(vt, "\x1b[1;3H\x1b[2X");
    CHECK_STR_EQ(line(vt, 0), "01  456789");
    feed(vt, "\x1b[3P");
    CHECK_STR_EQ(line(vt, 0), "0156789");
    feed(vt, "\x1b[2@");
    CHECK_STR_EQ(line(vt, 0), "01  56789");
    feed(vt, "\x1b[3;5H\x1b[1J");
    CHECK_STR_EQ(text(vt), "\n\n     FGHIJ");
    feed(vt, "\x1b[0J");
    CHECK_STR_EQ(text(vt), "\n\n");
    feed(vt, "xyz\x1b[2J");
    CHECK_STR_EQ(text(vt), "\n\n");
    feed(vt, "abc\x1b[2K");
    CHECK_STR_EQ(text(vt), "\n\n");
    vt_free(vt);
}

TEST(term_erase_with_background_round_trips)
{
    struct vt *vt = vt_new(12, 4);
    feed(vt, "\x1b[44m\x1b[2J\x1b[0mhi\x1b[41m\x1b[K\x1b[2;3H\x1b[42m\x1b[3X\x1b[0m");
    CHECK(snapshot_has(vt, "\x1b[0;44m\x1b[K"));
    check_roundtrip(vt);
    vt_free(vt);
}

/* fuzz_term's finding: a row erased with a background and then written to its last
 * column with default-background blanks kept the stale fill; its snapshot spelt the blanks
 * out, the restored row stored none, and the second snapshot differed from the first. */
TEST(term_roundtrip_row_written_over_coloured_fill)
{
    struct vt *vt = vt_new(11, 4);
    feed(vt, "\x1b[3;1H\x1b[101m\x1b[K\x1b[0m           \x1b[1;1Hx");
    check_roundtrip(vt);
    /* And the mirror case: default fill, coloured blanks up to the last column. */
    feed(vt, "\x1b[2;1H\x1b[K\x1b[44m           \x1b[0m");
    check_roundtrip(vt);
    vt_free(vt);
}

TEST(term_sgr_round_trip)
{
    struct vt *vt = vt_new(40, 4);
    feed(vt, "\x1b[1;3;4;7mA\x1b[0;2;5;8;9mB\x1b[0;31;42mC\x1b[91;102mD\x1b[38;5;200;48;5;17mE"
             "\x1b[38;2;1;2;3;48;2;250;128;0mF\x1b[38:2::9:8:7mG\x1b[38:5:123mH\x1b[4:0mI"
             "\x1b[22;23;24;25;27;28;29;39;49mJ");
    CHECK_STR_EQ(line(vt, 0), "ABCDEFGHIJ");
    CHECK(snapshot_has(vt, "\x1b[0;1;3;4;7mA"));
    CHECK(snapshot_has(vt, "\x1b[0;2;5;8;9mB"));
    CHECK(snapshot_has(vt, "\x1b[0;31;42mC"));
    CHECK(snapshot_has(vt, "\x1b[0;91;102mD"));
    CHECK(snapshot_has(vt, "\x1b[0;38;5;200;48;5;17mE"));
    CHECK(snapshot_has(vt, "\x1b[0;38;2;1;2;3;48;2;250;128;0mF"));
    CHECK(snapshot_has(vt, "\x1b[0;38;2;9;8;7;48;2;250;128;0mG"));
    CHECK(snapshot_has(vt, "\x1b[0;38;5;123;48;2;250;128;0mHI\x1b[0mJ"));
    check_roundtrip(vt);
    vt_free(vt);
}

TEST(term_truecolor_table_overflow)
{
    struct vt *vt = vt_new(80, 24);
    char buf[64];
    for (int i = 0; i < 3000; i++) {
        snprintf(buf, sizeof buf, "\x1b[38;2;%d;%d;%dmx", i & 255, (i >> 8) & 255, 7);
        feed(vt, buf);
    }
    check_roundtrip(vt);
    vt_free(vt);
}

TEST(term_utf8_and_invalid)
{
    struct vt *vt = vt_new(20, 2);
    feed(vt, "h\xc3\xa9llo \xe2\x82\xac");
    CHECK_STR_EQ(line(vt, 0), "h\xc3\xa9llo \xe2\x82\xac");
    check_cursor(vt, 7, 0);
    feed(vt, "\r\n\xff"
             "a\xc3"
             "b\xe2\x82"
             "\x1b[m"
             "\xed\xa0\x80");
    /* FFFD for 0xff, for the truncated 2- and 3-byte sequences, and for each byte of the
     * encoded surrogate (ED A0 is ill-formed, so ED, A0, 80 are three replacements). */
    CHECK_STR_EQ(line(vt, 1), "\xef\xbf\xbd"
                              "a\xef\xbf\xbd"
                              "b\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    vt_free(vt);
}

TEST(term_utf8_split_across_feeds)
{
    struct vt *vt = vt_new(10, 1);
    const char *s = "\xe4\xb8\xad\xf0\x9f\x98\x80";
    for (size_t i = 0; i < strlen(s); i++)
        vt_feed(vt, (const uint8_t *)s + i, 1);
    CHECK_STR_EQ(text(vt), s);
    check_cursor(vt, 4, 0);
    vt_free(vt);
}

TEST(term_width_table)
{
    CHECK_EQ(term_width('a'), 1);
    CHECK_EQ(term_width(0xe9), 1);
    CHECK_EQ(term_width(0x301), 0);
    CHECK_EQ(term_width(0x4e2d), 2);
    CHECK_EQ(term_width(0xac00), 2);
    CHECK_EQ(term_width(0xff21), 2);
    CHECK_EQ(term_width(0x1f600), 2);
    CHECK_EQ(term_width(0x2500), 1);
    CHECK_EQ(term_width(0xfe0f), 0);
}

TEST(term_combining_marks_dropped)
{
    struct vt *vt = vt_new(10, 1);
    feed(vt, "e\xcc\x81x");
    CHECK_STR_EQ(text(vt), "ex");
    check_cursor(vt, 2, 0);
    vt_free(vt);
}

TEST(term_wide_chars)
{
    struct vt *vt = vt_new(6, 3);
    feed(vt, "ab\xe4\xb8\xad"
             "c");
    CHECK_STR_EQ(line(vt, 0), "ab\xe4\xb8\xad"
                              "c");
    check_cursor(vt, 5, 0);
    /* Overwriting the right half blanks the left half. */
    feed(vt, "\x1b[1;4HX");
    CHECK_STR_EQ(line(vt, 0), "ab Xc");
    /* Overwriting the left half blanks the right half. */
    feed(vt, "\x1b[2;1H\xe4\xb8\xad\x1b[2;1HY");
    CHECK_STR_EQ(line(vt, 1), "Y");
    vt_free(vt);
}

TEST(term_wide_char_at_last_column)
{
    struct vt *vt = vt_new(5, 3);
    feed(vt, "abcd\xe4\xb8\xad");
    CHECK_STR_EQ(text(vt), "abcd\n\xe4\xb8\xad\n");
    check_cursor(vt, 2, 1);
    check_roundtrip(vt);
    /* Without autowrap the wide character lands in the last two columns. */
    feed(vt, "\x1b[?7l\x1b[3;1Hwxyz\xe4\xb8\x80");
    CHECK_STR_EQ(line(vt, 2), "wxy\xe4\xb8\x80");
    check_cursor(vt, 4, 2);
    /* A wide character that lands in the last two columns leaves a pending wrap. */
    feed(vt, "\x1b[?7h\x1b[1;4H\xe4\xb8\xad");
    check_cursor(vt, 4, 0);
    check_roundtrip(vt);
    feed(vt, "Z");
    check_cursor(vt, 1, 1);
    vt_free(vt);
    /* One column: wide characters cannot be shown and are dropped. */
    vt = vt_new(1, 2);
    feed(vt, "\xe4\xb8\xad"
             "a");
    CHECK_STR_EQ(text(vt), "a\n");
    vt_free(vt);
}

TEST(term_edits_split_wide_chars)
{
    struct vt *vt = vt_new(8, 3);
    /* ECH over the right half, DCH through the left half, ICH pushing one off the edge. */
    feed(vt, "a\xe4\xb8\xad"
             "b\x1b[1;3H\x1b[X");
    CHECK_STR_EQ(line(vt, 0), "a  b");
    feed(vt, "\x1b[2;1Ha\xe4\xb8\xad"
             "b\x1b[2;2H\x1b[P");
    CHECK_STR_EQ(line(vt, 1), "a b");
    feed(vt, "\x1b[3;1Habcde\xe4\xb8\xad\x1b[3;1H\x1b[2@");
    CHECK_STR_EQ(line(vt, 2), "  abcde");
    check_roundtrip(vt);
    vt_free(vt);
}

TEST(term_edits_with_background)
{
    struct vt *vt = vt_new(10, 2);
    feed(vt, "abcdef\x1b[1;2H\x1b[43m\x1b[2P\x1b[2@\x1b[2;5H\x1b[45m\x1b[1K\x1b[0m");
    CHECK_STR_EQ(text(vt), "a  def\n");
    /* DCH filled the right end with yellow; ICH then pushed those cells off the edge. */
    CHECK(snapshot_has(vt, "\x1b[1;1Ha\x1b[0;43m  \x1b[0mdef\x1b[2;1H\x1b[0;45m     \x1b[0m"));
    check_roundtrip(vt);
    vt_free(vt);
}

TEST(term_insert_mode_wide)
{
    struct vt *vt = vt_new(6, 1);
    feed(vt, "abcd\r\x1b[4h\xe4\xb8\xad");
    CHECK_STR_EQ(text(vt), "\xe4\xb8\xad"
                           "abcd");
    check_cursor(vt, 2, 0);
    vt_free(vt);
}

TEST(term_soft_reset_and_cursor_style)
{
    struct vt *vt = vt_new(20, 5);
    feed(vt, "\x1b[2;4r\x1b[?6h\x1b[4h\x1b[?7l\x1b[?25l\x1b[1m\x1b[3 q");
    check_roundtrip(vt);
    CHECK(snapshot_has(vt, "\x1b[3 q"));
    feed(vt, "\x1b[!p");
    CHECK_EQ(vt_modes(vt) &
                 (VT_MODE_ORIGIN | VT_MODE_INSERT | VT_MODE_AUTOWRAP | VT_MODE_CURSOR_VISIBLE),
             VT_MODE_AUTOWRAP | VT_MODE_CURSOR_VISIBLE);
    feed(vt, "\x1b[5;1H\n");
    check_cursor(vt, 0, 4); /* the region is the whole screen again: the line scrolled */
    check_roundtrip(vt);
    vt_free(vt);
}

TEST(term_rep_repeats_last_char)
{
    struct vt *vt = vt_new(10, 2);
    feed(vt, "x\x1b[4b");
    CHECK_STR_EQ(line(vt, 0), "xxxxx");
    feed(vt, "\x1b[65535b");
    /* capped at a screenful: 20 more, the last 5 after one scroll */
    CHECK_STR_EQ(text(vt), "xxxxxxxxxx\nxxxxx");
    vt_free(vt);
}

TEST(term_save_restore_cursor)
{
    struct vt *vt = vt_new(20, 5);
    feed(vt, "\x1b[3;4H\x1b[31m\x1b"
             "7\x1b[H\x1b[0m\x1b"
             "8X");
    check_cursor(vt, 4, 2);
    CHECK(snapshot_has(vt, "\x1b[0;31mX"));
    feed(vt, "\x1b[5;5H\x1b[s\x1b[H\x1b[u");
    check_cursor(vt, 4, 4);
    vt_free(vt);
}

TEST(term_alt_screen_restores_primary)
{
    struct vt *vt = vt_new(20, 4);
    feed(vt, "$ vim\r\nline2\x1b[2;3H");
    feed(vt, "\x1b[?1049h");
    CHECK(vt_modes(vt) & VT_MODE_ALTSCREEN);
    CHECK_STR_EQ(text(vt), "\n\n\n");
    feed(vt, "\x1b[Hediting\x1b[4;1H~");
    CHECK_STR_EQ(text(vt), "editing\n\n\n~");
    feed(vt, "\x1b[?1049l");
    CHECK(!(vt_modes(vt) & VT_MODE_ALTSCREEN));
    CHECK_STR_EQ(text(vt), "$ vim\nline2\n\n");
    check_cursor(vt, 2, 1);
    /* 47 and 1047 switch too; 1047 clears the alternate screen on leaving. */
    feed(vt, "\x1b[?47hA\x1b[?47l");
    CHECK_STR_EQ(line(vt, 1), "line2");
    feed(vt, "\x1b[?1047hB");
    CHECK(vt_modes(vt) & VT_MODE_ALTSCREEN);
    feed(vt, "\x1b[?1047l");
    CHECK_STR_EQ(text(vt), "$ vim\nline2\n\n");
    vt_free(vt);
}

TEST(term_modes_bits)
{
    struct vt *vt = vt_new(80, 24);
    struct {
        const char *on, *off;
        unsigned bit;
    } cases[] = {
        {"\x1b[?1h", "\x1b[?1l", VT_MODE_CURSOR_KEYS},
        {"\x1b[?2004h", "\x1b[?2004l", VT_MODE_BRACKETED_PASTE},
        {"\x1b[?1000h", "\x1b[?1000l", VT_MODE_MOUSE_NORMAL},
        {"\x1b[?1002h", "\x1b[?1002l", VT_MODE_MOUSE_BUTTON},
        {"\x1b[?1003h", "\x1b[?1003l", VT_MODE_MOUSE_ANY},
        {"\x1b[?1006h", "\x1b[?1006l", VT_MODE_MOUSE_SGR},
        {"\x1b[?1004h", "\x1b[?1004l", VT_MODE_FOCUS},
        {"\x1b[?6h", "\x1b[?6l", VT_MODE_ORIGIN},
        {"\x1b=", "\x1b>", VT_MODE_KEYPAD_APP},
        {"\x1b[4h", "\x1b[4l", VT_MODE_INSERT},
        {"\x1b[?1049h", "\x1b[?1049l", VT_MODE_ALTSCREEN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        feed(vt, cases[i].on);
        CHECK_MSG(vt_modes(vt) & cases[i].bit, "case %zu not set", i);
        check_roundtrip(vt);
        feed(vt, cases[i].off);
        CHECK_MSG(!(vt_modes(vt) & cases[i].bit), "case %zu not reset", i);
    }
    feed(vt, "\x1b[?25l");
    bool vis = true;
    vt_cursor(vt, NULL, NULL, &vis);
    CHECK(!vis);
    feed(vt, "\x1b[?25h");
    vt_cursor(vt, NULL, NULL, &vis);
    CHECK(vis);
    /* Several modes in one sequence; mouse tracking modes replace each other. */
    feed(vt, "\x1b[?1000;1006;2004h\x1b[?1002h");
    CHECK_EQ(vt_modes(vt) & (VT_MODE_MOUSE_NORMAL | VT_MODE_MOUSE_BUTTON | VT_MODE_MOUSE_SGR |
                             VT_MODE_BRACKETED_PASTE),
             VT_MODE_MOUSE_BUTTON | VT_MODE_MOUSE_SGR | VT_MODE_BRACKETED_PASTE);
    feed(vt, "\x1b"
             "c");
    CHECK_EQ(vt_modes(vt), VT_MODE_AUTOWRAP | VT_MODE_CURSOR_VISIBLE);
    vt_free(vt);
}

TEST(term_insert_mode)
{
    struct vt *vt = vt_new(10, 1);
    feed(vt, "abcdef\r\x1b[4hXY\x1b[4lZ");
    CHECK_STR_EQ(text(vt), "XYZbcdef");
    vt_free(vt);
}

TEST(term_dec_graphics)
{
    struct vt *vt = vt_new(10, 1);
    feed(vt, "\x1b(0lqk\x1b(Bq\x0e"
             "x\x0f"
             "x");
    CHECK_STR_EQ(text(vt), "\xe2\x94\x8c\xe2\x94\x80\xe2\x94\x90qxx");
    feed(vt, "\x1b)0\x0e");
    check_roundtrip(vt);
    vt_free(vt);
}

TEST(term_title_cwd_bell)
{
    struct vt *vt = vt_new(80, 24);
    feed(vt, "\x1b]0;first\x07");
    CHECK_STR_EQ(vt_title(vt), "first");
    feed(vt, "\x1b]2;second \xe2\x9c\x93\x1b\\");
    CHECK_STR_EQ(vt_title(vt), "second \xe2\x9c\x93");
    feed(vt, "\x1b]1;icon only\x07");
    CHECK_STR_EQ(vt_title(vt), "second \xe2\x9c\x93");
    feed(vt, "\x1b]7;file://host/home/u\x07");
    CHECK_STR_EQ(vt_cwd(vt), "file://host/home/u");
    feed(vt, "\x07\x07x\x07");
    CHECK_U64_EQ(vt_bells(vt), 3);
    /* An OSC cancelled by CAN sets nothing; BEL inside an OSC is its terminator. */
    feed(vt, "\x1b]2;nope\x18");
    CHECK_STR_EQ(vt_title(vt), "second \xe2\x9c\x93");
    CHECK_U64_EQ(vt_bells(vt), 3);
    /* Titles are capped and keep whole UTF-8 characters. */
    char big[600];
    strcpy(big, "\x1b]2;");
    for (int i = 0; i < 170; i++)
        strcat(big, "\xe2\x82\xac");
    strcat(big, "\x07");
    feed(vt, big);
    CHECK(strlen(vt_title(vt)) <= VT_TITLE_MAX);
    CHECK_EQ(strlen(vt_title(vt)) % 3, 0);
    check_roundtrip(vt);
    vt_free(vt);
}

struct qlog {
    int n;
    enum vt_query q[16];
    int param[16];
    bool st[16];
    char reply[16][64];
    const struct vt *vt;
};

/* Records a query and the reply built at that moment. */
static void on_query(void *arg, enum vt_query q, int param, bool st)
{
    struct qlog *l = arg;
    CHECK(l->n < 16);
    l->q[l->n] = q;
    l->param[l->n] = param;
    l->st[l->n] = st;
    size_t n = vt_reply(l->vt, q, param, st, (uint8_t *)l->reply[l->n], 63);
    CHECK(n < 63);
    l->reply[l->n][n] = 0;
    l->n++;
}

TEST(term_queries_in_stream_order)
{
    struct vt *vt = vt_new(80, 24);
    struct qlog l = {.vt = vt};
    vt_set_query_cb(vt, on_query, &l);
    feed(vt, "\x1b[3;7H\x1b[6nab\x1b[6n\x1b[c\x1b[0c\x1b[>c\x1b[5n\x1b[>q\x1b[>0q"
             "\x1b]10;?\x07\x1b]11;?\x1b\\\x1b[?2004h\x1b[?2004$p\x1b[?1$p\x1b[?12345$p"
             "\x1b[?6n");
    CHECK_EQ(l.n, 14);
    const struct {
        enum vt_query q;
        int param;
        const char *reply;
    } want[] = {
        {VT_Q_CPR, 0, "\x1b[3;7R"},
        {VT_Q_CPR, 0, "\x1b[3;9R"},
        {VT_Q_DA1, 0, "\x1b[?62;22c"},
        {VT_Q_DA1, 0, "\x1b[?62;22c"},
        {VT_Q_DA2, 0, "\x1b[>0;10;1c"},
        {VT_Q_DSR, 5, "\x1b[0n"},
        {VT_Q_XTVERSION, 0, "\x1bP>|ptyhub(0.1.0)\x1b\\"},
        {VT_Q_XTVERSION, 0, "\x1bP>|ptyhub(0.1.0)\x1b\\"},
        {VT_Q_OSC_FG, 10, "\x1b]10;rgb:ffff/ffff/ffff\x07"},
        {VT_Q_OSC_BG, 11, "\x1b]11;rgb:0000/0000/0000\x1b\\"},
        {VT_Q_DECRQM, 2004, "\x1b[?2004;1$y"},
        {VT_Q_DECRQM, 1, "\x1b[?1;2$y"},
        {VT_Q_DECRQM, 12345, "\x1b[?12345;0$y"},
        {VT_Q_CPR, 1, "\x1b[?3;9R"},
    };
    for (int i = 0; i < 14; i++) {
        CHECK_MSG(l.q[i] == want[i].q, "query %d is %d", i, l.q[i]);
        CHECK_EQ(l.param[i], want[i].param);
        CHECK_STR_EQ(l.reply[i], want[i].reply);
    }
    CHECK(!l.st[8]);
    CHECK(l.st[9]);
    /* Queries do not print anything. */
    CHECK_STR_EQ(line(vt, 2), "      ab");
    vt_free(vt);
}

TEST(term_queries_not_matched)
{
    struct vt *vt = vt_new(80, 24);
    struct qlog l = {.vt = vt};
    vt_set_query_cb(vt, on_query, &l);
    /* Other parameters, other OSC values, and a query split across feeds. */
    feed(vt, "\x1b[1c\x1b[>1c\x1b[7n\x1b]10;rgb:1/2/3\x07\x1b]12;?\x07\x1b[");
    CHECK_EQ(l.n, 0);
    feed(vt, "6");
    feed(vt, "n");
    CHECK_EQ(l.n, 1);
    CHECK_STR_EQ(l.reply[0], "\x1b[1;1R");
    /* Without a callback, queries are ignored. */
    vt_set_query_cb(vt, NULL, NULL);
    feed(vt, "\x1b[6n");
    CHECK_EQ(l.n, 1);
    vt_free(vt);
}

TEST(term_cpr_origin_mode)
{
    struct vt *vt = vt_new(80, 24);
    feed(vt, "\x1b[5;10r\x1b[?6h\x1b[2;3H");
    uint8_t buf[32];
    size_t n = vt_reply(vt, VT_Q_CPR, 0, false, buf, sizeof buf);
    CHECK_EQ(n, 6);
    CHECK_MEM_EQ(buf, "\x1b[2;3R", 6);
    CHECK_EQ(vt_reply(vt, VT_Q_CPR, 0, false, buf, 2), 6); /* snprintf-style */
    vt_free(vt);
}

TEST(term_snapshot_plain_screen)
{
    struct vt *vt = vt_new(30, 6);
    feed(vt, "$ ls\r\n\x1b[1;34mdir\x1b[0m  file.txt\r\n$ ");
    check_roundtrip(vt);
    CHECK(snapshot_has(vt, "\x1b[3;3H"));
    vt_free(vt);
}

TEST(term_snapshot_cursor_middle_and_modes)
{
    struct vt *vt = vt_new(40, 10);
    feed(vt, "\x1b]2;my title\x07\x1b]7;file:///tmp\x07\x1b[?1h\x1b=\x1b[?2004h\x1b[?1002;1006h"
             "\x1b[?1004h\x1b[?25l\x1b[3;8r\x1b[5 q\x1b[31mred\x1b[5;17H\x1b[1;44m");
    check_roundtrip(vt);
    check_cursor(vt, 16, 4);
    CHECK(snapshot_has(vt, "\x1b[3;8r"));
    CHECK(snapshot_has(vt, "\x1b]2;my title\x1b\\"));
    /* Feeding more to both keeps them equal: the scroll region and pen survived. */
    size_t n;
    uint8_t *snap = snapshot(vt, &n);
    struct vt *b = vt_new(40, 10);
    vt_feed(b, snap, n);
    free(snap);
    const char *more = "\x1b[8;1Hx\ny\nz\x1b[?7lABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefgh";
    feed(vt, more);
    feed(b, more);
    char *ta = strdup(text(vt));
    CHECK_STR_EQ(text(b), ta);
    free(ta);
    check_roundtrip(b);
    vt_free(b);
    vt_free(vt);
}

TEST(term_snapshot_alt_screen)
{
    struct vt *vt = vt_new(30, 8);
    feed(vt, "\x1b[32mprimary\x1b[0m prompt\r\nsecond line\x1b[2;5H\x1b[1m");
    feed(vt, "\x1b[?1049h\x1b[0m\x1b[?1h\x1b[?2004h\x1b[H\x1b[7m status \x1b[0m\x1b[3;1H"
             "\xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80 text\x1b[4;10H");
    check_roundtrip(vt);
    size_t n;
    uint8_t *snap = snapshot(vt, &n);
    struct vt *b = vt_new(30, 8);
    vt_feed(b, snap, n);
    free(snap);
    /* Leaving the alternate screen shows the same primary screen and cursor in both. */
    feed(vt, "\x1b[?1049l");
    feed(b, "\x1b[?1049l");
    CHECK_STR_EQ(text(b), "primary prompt\nsecond line\n\n\n\n\n\n");
    check_cursor(b, 4, 1);
    check_roundtrip(b);
    size_t na, nb;
    uint8_t *sa = snapshot(vt, &na), *sb = snapshot(b, &nb);
    CHECK_EQ(na, nb);
    CHECK_MEM_EQ(sa, sb, na);
    free(sa);
    free(sb);
    vt_free(b);
    vt_free(vt);
}

TEST(term_snapshot_pending_wrap)
{
    struct vt *vt = vt_new(5, 3);
    feed(vt, "\x1b[33mabcde");
    check_roundtrip(vt);
    size_t n;
    uint8_t *snap = snapshot(vt, &n);
    struct vt *b = vt_new(5, 3);
    vt_feed(b, snap, n);
    free(snap);
    feed(b, "f");
    CHECK_STR_EQ(text(b), "abcde\nf\n");
    vt_free(b);
    vt_free(vt);
}

TEST(term_snapshot_after_scrolling)
{
    struct vt *vt = vt_new(20, 5);
    char buf[64];
    for (int i = 0; i < 37; i++) {
        snprintf(buf, sizeof buf, "\x1b[3%dmline %d\x1b[0m\r\n", i % 8, i);
        feed(vt, buf);
    }
    CHECK_STR_EQ(line(vt, 0), "line 33");
    check_roundtrip(vt);
    vt_free(vt);
}

TEST(term_resize)
{
    struct vt *vt = vt_new(10, 5);
    feed(vt, "a\r\nb\r\nc\r\nd\r\ne\x1b[2;4r\x1b[5;2H");
    CHECK_EQ(vt_resize(vt, 4, 3), 0);
    CHECK_STR_EQ(text(vt), "c\nd\ne"); /* the cursor row stays in view */
    check_cursor(vt, 1, 2);
    CHECK_EQ(vt_resize(vt, 0, 3), -EINVAL);
    CHECK_EQ(vt_resize(vt, 3, 10001), -EINVAL);
    CHECK_EQ(vt_resize(vt, 20, 6), 0);
    CHECK_STR_EQ(text(vt), "c\nd\ne\n\n\n");
    feed(vt, "\x1b[6;1H\n"); /* the scroll region is the whole screen again */
    CHECK_STR_EQ(text(vt), "d\ne\n\n\n\n");
    /* A wide character cut by a narrower screen disappears. */
    feed(vt, "\x1b[H\x1b[2Kab\xe4\xb8\xad");
    CHECK_EQ(vt_resize(vt, 3, 6), 0);
    CHECK_STR_EQ(line(vt, 0), "ab");
    check_roundtrip(vt);
    vt_free(vt);
}

TEST(term_resize_wider_adds_default_background)
{
    struct vt *vt = vt_new(4, 2);
    feed(vt, "\x1b[41m\x1b[2J\x1b[0m");
    CHECK_EQ(vt_resize(vt, 8, 2), 0);
    CHECK(snapshot_has(vt, "\x1b[1;1H\x1b[0;41m    \x1b[2;1H    \x1b[0m"));
    check_roundtrip(vt);
    vt_free(vt);
}

TEST(term_resize_extremes_bounded)
{
    struct vt *vt = vt_new(80, 24);
    feed(vt, "hello\x1b[?1049hworld");
    CHECK_EQ(vt_resize(vt, 1, 1), 0);
    feed(vt, "xyz\xe4\xb8\xad\r\n\x1b[5@\x1b[5P");
    check_roundtrip(vt);
    CHECK_EQ(vt_resize(vt, VT_DIM_MAX, VT_DIM_MAX), 0);
    feed(vt, "\x1b[9999;9999Hq\x1b[44m\x1b[2J\x1b[5000;1H\x1b[L\x1b[3S\x1b[?1049l");
    /* Rows cost 16 bytes each until written; two screens of 10000 rows. */
    CHECK_MSG(vt_memory(vt) < 1000000, "10000x10000 costs %zu bytes", vt_memory(vt));
    uint16_t x, y;
    vt_cursor(vt, &x, &y, NULL);
    CHECK(x < VT_DIM_MAX && y < VT_DIM_MAX);
    CHECK_EQ(vt_resize(vt, 80, 24), 0);
    CHECK_MSG(vt_memory(vt) < 4096, "after shrinking: %zu bytes", vt_memory(vt));
    vt_free(vt);
}

TEST(term_cell_budget_bounds_huge_screens)
{
    struct vt *vt = vt_new(VT_DIM_MAX, VT_DIM_MAX);
    /* Text in every cell: 10^8 cells would be 800 MB; the budget keeps 4 Mi. */
    for (int i = 0; i < 420; i++)
        feed(vt, "E\x1b[9999b\r\n");
    CHECK_MSG(vt_memory(vt) <= (size_t)VT_CELLS_MAX * 8 + 2 * VT_DIM_MAX * 16 + 4096, "%zu",
              vt_memory(vt));
    feed(vt, "\x1b[HE\x1b[65535b\x1b[H");
    feed(vt, "\x1b#8"); /* DECALN is ignored on screens larger than the budget */
    size_t budget = (size_t)VT_CELLS_MAX * 8 + 2 * VT_DIM_MAX * 16 + 4096;
    CHECK_MSG(vt_memory(vt) <= budget, "%zu bytes", vt_memory(vt));
    size_t n = vt_text(vt, NULL, 0);
    char *t = malloc(n + 1);
    CHECK(t != NULL);
    vt_text(vt, t, n + 1);
    CHECK_EQ(strspn(t, "E"), VT_DIM_MAX);
    free(t);
    /* Still usable: writes to rows already stored work, the rest read as blank. */
    feed(vt, "\x1b[Hok\x1b[9999;1Hlost\x1b[?1049hx\x1b[?1049l\x1b[2J\x1b[Hagain");
    CHECK(vt_memory(vt) <= budget);
    char first[8];
    vt_text(vt, first, sizeof first);
    CHECK_STR_EQ(first, "again\n\n");
    vt_free(vt);
}

TEST(term_memory_active_screen)
{
    struct vt *vt = vt_new(80, 24);
    char buf[128];
    for (int i = 0; i < 100; i++) {
        snprintf(buf, sizeof buf, "\x1b[3%dm%-79d|\r\n", i % 8, i * 12345);
        feed(vt, buf);
    }
    feed(vt, "\x1b]2;a title\x07");
    CHECK_MSG(vt_memory(vt) < 24 * 1024, "active 80x24 costs %zu bytes", vt_memory(vt));
    vt_free(vt);
}

TEST(term_unterminated_osc_bounded)
{
    struct vt *vt = vt_new(80, 24);
    size_t n = 1 << 20;
    uint8_t *p = malloc(n);
    CHECK(p != NULL);
    memcpy(p, "\x1b]2;", 4);
    memset(p + 4, 'A', n - 4);
    vt_feed(vt, p, n);
    CHECK(vt_memory(vt) < 8192);
    feed(vt, "\x07ok");
    CHECK_EQ(strlen(vt_title(vt)), VT_TITLE_MAX);
    CHECK_STR_EQ(line(vt, 0), "ok");
    free(p);
    vt_free(vt);
}

TEST(term_many_params_and_absurd_values)
{
    struct vt *vt = vt_new(80, 24);
    char *s = malloc(1000 * 8 + 16);
    CHECK(s != NULL);
    strcpy(s, "\x1b[");
    for (int i = 0; i < 1000; i++)
        strcat(s, "1;");
    strcat(s, "31mX");
    feed(vt, s);
    CHECK_STR_EQ(line(vt, 0), "X");
    feed(vt, "\x1b[99999999999999999999;4294967296HY\x1b[4294967297@\x1b[999999M\x1b[99999L"
             "\x1b[99999S\x1b[99999T\x1b[99999X\x1b[99999P\x1b[99999I\x1b[99999Z");
    check_roundtrip(vt);
    free(s);
    vt_free(vt);
}

TEST(term_malformed_sequences)
{
    struct vt *vt = vt_new(20, 3);
    /* CAN aborts a CSI; a second private marker makes it ignored; ESC restarts. */
    feed(vt, "\x1b[31\x18"
             "a\x1b[?1?5hb\x1b[1\x1b[Hc\x1bP1$qm\x1b\\d\x1b_apc\x1b\\e\x1b^pm\x07f"
             "\x1b^\x1b\\g");
    /* BEL does not end a PM string: "f" is swallowed. */
    CHECK_STR_EQ(line(vt, 0), "cdeg");
    CHECK(vt_modes(vt) & VT_MODE_AUTOWRAP);
    /* C0 controls inside a CSI are executed. */
    feed(vt, "\x1b[2;\r5H!");
    check_cursor(vt, 5, 1);
    vt_free(vt);
}

/* A small deterministic PRNG (xorshift64). */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

TEST(term_every_split_point_agrees)
{
    const char *s =
        "\x1b]2;t\x1b\\ab\xe4\xb8\xad\x1b[1;31mcd\x1b[3;4Hx\r\n\x1b[?1049h\x1b[38:2::1:2:3mz"
        "\xf0\x9f\x98\x80\x1b(0q\x1b(B\x1b[2;5r\n\n\n\x1b[?25l\x07yz";
    size_t n = strlen(s);
    struct vt *whole = vt_new(12, 5);
    feed(whole, s);
    size_t wn;
    uint8_t *want = snapshot(whole, &wn);
    for (size_t cut = 0; cut <= n; cut++) {
        struct vt *vt = vt_new(12, 5);
        vt_feed(vt, (const uint8_t *)s, cut);
        vt_feed(vt, (const uint8_t *)s + cut, n - cut);
        size_t gn;
        uint8_t *got = snapshot(vt, &gn);
        CHECK_MSG(gn == wn && memcmp(got, want, wn) == 0, "split at %zu differs", cut);
        free(got);
        vt_free(vt);
    }
    free(want);
    vt_free(whole);
}

TEST_TIMEOUT(term_random_bytes, 120)
{
    static const char *frag[] = {
        "\x1b[", "\x1b]", "\x1b", ";",      "?", "1049h", "\x07", "\xe4\xb8\xad", "m",
        "38;2;", "H",     "\r\n", "\x1b\\", "@", "L",     "r",    "\x9c"};
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < 200; round++) {
        struct vt *vt = vt_new((uint16_t)(1 + rnd(&seed) % 100), (uint16_t)(1 + rnd(&seed) % 40));
        uint8_t buf[4096];
        size_t n = 0;
        while (n < sizeof buf - 16) {
            if (rnd(&seed) % 3 == 0) {
                const char *f = frag[rnd(&seed) % (sizeof frag / sizeof frag[0])];
                memcpy(buf + n, f, strlen(f));
                n += strlen(f);
            } else {
                buf[n++] = (uint8_t)rnd(&seed);
            }
        }
        vt_feed(vt, buf, n / 2);
        vt_resize(vt, (uint16_t)(1 + rnd(&seed) % 100), (uint16_t)(1 + rnd(&seed) % 40));
        vt_feed(vt, buf + n / 2, n - n / 2);
        CHECK(vt_memory(vt) < 256 * 1024);
        check_roundtrip(vt);
        vt_free(vt);
    }
}

/* A snapshot taken in the middle of a UTF-8 character or an escape sequence ends with its
 * raw bytes, so the stream after the snapshot's offset completes it: an attach whose
 * offset falls inside "\342\202|\254" shows the euro, one inside "\033[3|1m" no "1m". */
TEST(term_snapshot_inside_a_character_or_sequence)
{
    static const struct {
        const char *before, *after, *want;
    } cases[] = {
        {"a\xe2\x82", "\xac euro", "a\xe2\x82\xac euro"},
        {"b\xf0\x9f", "\x98\x80!", "b\xf0\x9f\x98\x80!"},
        {"c\x1b[3", "1mX", "cX"},
        {"d\x1b]2;ti", "tle\x07Y", "dY"},
        {"e\x1b", "[2CZ", "e  Z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct vt *a = vt_new(40, 3);
        vt_feed(a, (const uint8_t *)cases[i].before, strlen(cases[i].before));
        size_t n;
        uint8_t *snap = snapshot(a, &n);
        struct vt *b = vt_new(40, 3);
        vt_feed(b, snap, n);
        vt_feed(b, (const uint8_t *)cases[i].after, strlen(cases[i].after));
        vt_feed(a, (const uint8_t *)cases[i].after, strlen(cases[i].after));
        char *ta = strdup(text(a));
        CHECK_STR_EQ(text(b), ta);
        CHECK(strncmp(ta, cases[i].want, strlen(cases[i].want)) == 0);
        free(ta);
        free(snap);
        vt_free(a);
        vt_free(b);
    }
}
