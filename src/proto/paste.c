/* paste: pasted text as the bytes to type (see paste.h). */
#include "proto/paste.h"

#include <string.h>

/* True when the len bytes written so far end with a bracket marker. */
static bool ends_with_marker(const uint8_t *out, size_t len)
{
    if (len < PASTE_MARK_LEN)
        return false;
    const uint8_t *t = out + len - PASTE_MARK_LEN;
    return memcmp(t, PASTE_START, PASTE_MARK_LEN) == 0 || memcmp(t, PASTE_END, PASTE_MARK_LEN) == 0;
}

/* Normalises line endings and, inside a bracket, removes markers as they complete. A
 * marker is checked each time a '~' lands, against only the bytes of the text (never
 * the opening bracket we wrote), so removals that form a new marker are caught too. */
size_t paste_encode(const uint8_t *text, size_t n, bool bracketed, bool enter, uint8_t *out)
{
    size_t len = 0, base = 0;
    if (bracketed) {
        memcpy(out, PASTE_START, PASTE_MARK_LEN);
        len = base = PASTE_MARK_LEN;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t c = text[i];
        if (c == '\r' && i + 1 < n && text[i + 1] == '\n')
            i++; /* \r\n -> \r */
        else if (c == '\n')
            c = '\r';
        out[len++] = c;
        if (bracketed && c == '~' && ends_with_marker(out + base, len - base))
            len -= PASTE_MARK_LEN;
    }
    if (bracketed) {
        memcpy(out + len, PASTE_END, PASTE_MARK_LEN);
        len += PASTE_MARK_LEN;
    }
    if (enter)
        out[len++] = '\r';
    return len;
}
