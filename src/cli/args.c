/* args: parsers and names for the client commands' values (see args.h). */
#include "cli/args.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/wire.h"

/* True for a non-empty run of ASCII digits. */
bool args_is_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* Parses a positive 32-bit decimal id. */
int args_parse_id(const char *s, uint32_t *out)
{
    if (!args_is_digits(s))
        return -EINVAL;
    uint64_t v = 0;
    for (; *s; s++) {
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > UINT32_MAX)
            return -ERANGE;
    }
    if (v == 0)
        return -ERANGE;
    *out = (uint32_t)v;
    return 0;
}

/* Parses a signal number or name. */
int args_parse_signal(const char *s)
{
    if (args_is_digits(s)) {
        if (strlen(s) > 2)
            return -EINVAL;
        int n = atoi(s);
        return n >= 1 && n <= WIRE_MAX_SIGNO ? n : -EINVAL;
    }
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (int sig = 1; sig <= WIRE_MAX_SIGNO; sig++) {
        const char *name = sigabbrev_np(sig);
        if (name && strcasecmp(name, s) == 0)
            return sig;
    }
    return -EINVAL;
}

/* Names a signal for display. */
const char *args_signal_name(int sig, char *buf, size_t cap)
{
    const char *name = sig > 0 ? sigabbrev_np(sig) : NULL;
    if (name)
        snprintf(buf, cap, "SIG%s", name);
    else
        snprintf(buf, cap, "sig %d", sig);
    return buf;
}

/* Parses one dimension of a size: 1..WIRE_MAX_DIM; advances *s past its digits. */
static int parse_dim(const char **s, uint16_t *out)
{
    unsigned v = 0;
    const char *p = *s;
    if (*p < '0' || *p > '9')
        return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (unsigned)(*p - '0');
        if (v > WIRE_MAX_DIM)
            return -EINVAL;
    }
    if (v == 0)
        return -EINVAL;
    *out = (uint16_t)v;
    *s = p;
    return 0;
}

/* Parses COLSxROWS. */
int args_parse_size(const char *s, uint16_t *cols, uint16_t *rows)
{
    uint16_t c, r;
    if (parse_dim(&s, &c) < 0 || (*s != 'x' && *s != 'X'))
        return -EINVAL;
    s++;
    if (parse_dim(&s, &r) < 0 || *s)
        return -EINVAL;
    *cols = c;
    *rows = r;
    return 0;
}

/* Parses ^X notation or a single character. */
int args_parse_detach_key(const char *s)
{
    if (s[0] == '^' && s[1] && !s[2]) {
        unsigned char k = (unsigned char)s[1];
        if (k == '?')
            return 0x7f;
        if (k >= 'a' && k <= 'z')
            k = (unsigned char)(k - 'a' + 'A');
        if (k >= '@' && k <= '_')
            return k & 0x1f;
        return -EINVAL;
    }
    if (s[0] && !s[1])
        return (unsigned char)s[0];
    return -EINVAL;
}

/* Checks a token's length and characters. */
int args_check_token(const char *s)
{
    size_t n = strlen(s);
    if (n < 8 || n > 256)
        return -EINVAL;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch <= ' ' || ch >= 0x7f || strchr(";,\"\\", ch))
            return -EINVAL;
    }
    return 0;
}

/* Copies and checks the first line of a token file. */
int args_token_from_file(const char *buf, size_t len, char *out, size_t cap)
{
    const char *nl = memchr(buf, '\n', len);
    size_t n = nl ? (size_t)(nl - buf) : len;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    if (n == 0 || memchr(buf, '\0', n))
        return -EINVAL;
    if (n >= cap)
        return -E2BIG;
    memcpy(out, buf, n);
    out[n] = '\0';
    return args_check_token(out);
}

/* Cuts a socket path at its last slash. */
int args_socket_dir(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    const char *dir = ".";
    size_t n = 1;
    if (slash == path) {
        dir = "/";
    } else if (slash) {
        dir = path;
        n = (size_t)(slash - path);
    }
    if (n >= cap)
        return -ENAMETOOLONG;
    memcpy(out, dir, n);
    out[n] = '\0';
    return 0;
}

/* Names a session state. */
const char *args_state_name(uint8_t state)
{
    return state == WIRE_STATE_EXITED ? "exited" : "running";
}

/* Names a backpressure level. */
const char *args_level_name(uint8_t level)
{
    static const char *const names[] = {"none", "light", "moderate", "heavy", "blocked"};
    return level < sizeof names / sizeof names[0] ? names[level] : "unknown";
}
