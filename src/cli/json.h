/* json: the pieces of JSON output the client writes (`ptyhub ls --json`), as pure
 * functions over caller buffers. */
#ifndef PTYHUB_CLI_JSON_H
#define PTYHUB_CLI_JSON_H

#include <stddef.h>
#include <stdint.h>

/* Writes p[0..n) as a JSON string literal, quotes included, NUL-terminated, into out.
 * Escapes '"', '\\' and control characters; bytes that are not valid UTF-8 become
 * U+FFFD, so the result is always valid JSON. Returns the length it needs (without the
 * NUL), like snprintf: the output is complete only when that is below cap. */
size_t json_escape(const uint8_t *p, size_t n, char *out, size_t cap);

#endif
