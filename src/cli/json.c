/* json: JSON string escaping for the client's machine-readable output (see json.h). */
#include "cli/json.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "proto/utf8.h"

/* Appends n bytes to out when they fit; counts them in *len regardless. */
static void put(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
    if (*len + n < cap)
        memcpy(out + *len, s, n);
    *len += n;
}

/* The length of the UTF-8 sequence a lead byte starts, or 0 for a byte that cannot lead. */
static size_t seq_len(uint8_t b)
{
    if (b >= 0xc2 && b <= 0xdf)
        return 2;
    if (b >= 0xe0 && b <= 0xef)
        return 3;
    if (b >= 0xf0 && b <= 0xf4)
        return 4;
    return 0;
}

/* Escapes p[0..n) as a JSON string, snprintf-style. */
size_t json_escape(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t len = 0;
    put(out, cap, &len, "\"", 1);
    for (size_t i = 0; i < n;) {
        uint8_t b = p[i];
        if (b >= 0x80) {
            size_t k = seq_len(b);
            if (k && k <= n - i && utf8_valid(p + i, k)) {
                put(out, cap, &len, (const char *)p + i, k);
                i += k;
            } else {
                put(out, cap, &len, "\\ufffd", 6);
                i++;
            }
            continue;
        }
        char esc[8];
        const char *s = esc;
        size_t m = 2;
        switch (b) {
        case '"':
            s = "\\\"";
            break;
        case '\\':
            s = "\\\\";
            break;
        case '\n':
            s = "\\n";
            break;
        case '\r':
            s = "\\r";
            break;
        case '\t':
            s = "\\t";
            break;
        case '\b':
            s = "\\b";
            break;
        case '\f':
            s = "\\f";
            break;
        default:
            if (b < 0x20 || b == 0x7f) {
                snprintf(esc, sizeof esc, "\\u%04x", b);
                m = 6;
            } else {
                esc[0] = (char)b;
                m = 1;
            }
        }
        put(out, cap, &len, s, m);
        i++;
    }
    put(out, cap, &len, "\"", 1);
    if (cap)
        out[len < cap ? len : cap - 1] = '\0';
    return len;
}
