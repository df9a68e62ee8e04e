/* args: pure parsers for the values the client commands take on their command line
 * (session ids, signals, terminal sizes, detach keys) and the names they print for
 * states, levels and signals. No I/O, no allocation. */
#ifndef PTYHUB_CLI_ARGS_H
#define PTYHUB_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when s is non-empty and only ASCII digits. */
bool args_is_digits(const char *s);

/* Parses a session id: digits only, 1..UINT32_MAX. Returns 0, -EINVAL (not digits) or
 * -ERANGE. */
int args_parse_id(const char *s, uint32_t *out);

/* Parses a signal: a number 1..64, or a name with or without "SIG" in any case
 * ("TERM", "sigkill", "SIGHUP"). Returns the signal number or -EINVAL. */
int args_parse_signal(const char *s);

/* Writes a signal's name ("SIGTERM"), or "sig N" for one without a name, into buf. */
const char *args_signal_name(int sig, char *buf, size_t cap);

/* Parses "COLSxROWS" with both in 1..10000. Returns 0 or -EINVAL. */
int args_parse_size(const char *s, uint16_t *cols, uint16_t *rows);

/* Parses a detach key: "^X" (control-X; "^?" is DEL) or one character. Returns the byte
 * or -EINVAL. */
int args_parse_detach_key(const char *s);

/* "running" or "exited". */
const char *args_state_name(uint8_t state);

/* "none", "light", "moderate", "heavy", "blocked", or "unknown". */
const char *args_level_name(uint8_t level);

#endif
