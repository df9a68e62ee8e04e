/* utf8: an incremental UTF-8 validator for WebSocket text messages (RFC 6455 §8.1).
 *
 * A text message may arrive split across frames, and a frame across reads, so the
 * validator keeps its position inside a multi-byte sequence in a caller-owned uint32_t
 * and can be fed any number of pieces. It is a table-driven DFA in the manner of
 * Bjoern Hoehrmann's decoder, written from the RFC 3629 §4 grammar: it rejects
 * overlong forms, UTF-16 surrogates (U+D800..U+DFFF), code points above U+10FFFF and
 * stray continuation bytes as soon as the offending byte is seen. ASCII runs are
 * skipped 8 bytes at a time. Pure: no allocation, no I/O.
 */
#ifndef PTYHUB_UTF8_H
#define PTYHUB_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Results of utf8_validate(). Start a message with `uint32_t state = UTF8_STATE_INIT`. */
enum utf8_result {
    UTF8_ACCEPT = 0,     /* everything so far is valid and ends on a character boundary */
    UTF8_REJECT = 1,     /* invalid; the state stays rejected until re-initialised */
    UTF8_INCOMPLETE = 2, /* valid so far, but the last sequence still needs bytes */
};

#define UTF8_STATE_INIT 0u

/* Feeds n bytes to the validator; returns an enum utf8_result and updates *state. */
int utf8_validate(uint32_t *state, const uint8_t *p, size_t n);

/* True when the state ends on a character boundary with nothing invalid seen: the
 * check to make once the final fragment of a text message has been fed. */
bool utf8_state_complete(uint32_t state);

/* One-shot check of a whole buffer. */
bool utf8_valid(const uint8_t *p, size_t n);

#endif
