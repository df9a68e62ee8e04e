/* args: pure parsers for the values the commands take on their command line (session
 * ids, signals, terminal sizes, detach keys, bearer tokens, socket paths) and the names
 * they print for states, levels and signals. No I/O, no allocation. */
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

/* Checks a bearer token as --token, --token-file and PTYHUB_TOKEN take it: 8 to 256
 * printable ASCII characters other than space, ';', ',', '"' and '\\' (they would break
 * the Authorization header or the cookie). Returns 0 or -EINVAL. */
int args_check_token(const char *s);

/* Takes a token from the contents of a token file: its first line, without the "\n" or
 * "\r\n" that ends it. Copies it NUL-terminated into out and checks it as
 * args_check_token() does. Returns 0, -EINVAL (empty, a NUL byte, or not a valid token)
 * or -E2BIG (the line does not fit in out). */
int args_token_from_file(const char *buf, size_t len, char *out, size_t cap);

/* Writes the directory of a socket path into out: "dir/sock" -> "dir", "/sock" -> "/",
 * "sock" -> ".". Returns 0, or -ENAMETOOLONG when it does not fit. */
int args_socket_dir(const char *path, char *out, size_t cap);

/* "running" or "exited". */
const char *args_state_name(uint8_t state);

/* "none", "light", "moderate", "heavy", "blocked", or "unknown". */
const char *args_level_name(uint8_t level);

#endif
