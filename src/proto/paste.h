/* paste: how pasted text is typed into a program, as a pure function (the PASTE
 * message, POST /api/sessions/ID/paste).
 *
 * Like xterm.js: line endings become "\r" (\r\n and lone \n; a lone \r stays), and when
 * the program enabled bracketed paste (?2004) the text is wrapped in ESC[200~ ... ESC[201~
 * with any ESC[200~ / ESC[201~ inside removed — also those that removing another would
 * form — so pasted text can never end the bracket early. ENTER appends "\r" after it. */
#ifndef PTYHUB_PASTE_H
#define PTYHUB_PASTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PASTE_START "\x1b[200~"
#define PASTE_END "\x1b[201~"
#define PASTE_MARK_LEN 6
/* Bytes out must hold for n bytes of text: the text never grows, plus the brackets and
 * the Enter. */
#define PASTE_OUT_MAX(n) ((n) + 2 * PASTE_MARK_LEN + 1)

/* Writes the bytes to type for n bytes of pasted text into out (PASTE_OUT_MAX(n) bytes)
 * and returns how many. */
size_t paste_encode(const uint8_t *text, size_t n, bool bracketed, bool enter, uint8_t *out);

#endif
