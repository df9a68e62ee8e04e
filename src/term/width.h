/* width: how many terminal cells a Unicode code point occupies (a compact wcwidth).
 *
 * East Asian wide and fullwidth characters and the common emoji blocks take 2 cells;
 * combining marks, variation selectors and other format characters take 0; everything
 * else takes 1. The tables are small on purpose: they cover what programs print in
 * practice, not every Unicode revision. */
#ifndef PTYHUB_TERM_WIDTH_H
#define PTYHUB_TERM_WIDTH_H

#include <stdint.h>

/* The cell width of cp: 0, 1 or 2. */
int term_width(uint32_t cp);

#endif
