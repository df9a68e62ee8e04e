/* config: defaults and value parsers for the daemon's flags. */
#include "server/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Fills in the defaults. */
void config_defaults(struct config *c)
{
    memset(c, 0, sizeof *c);
    c->io = REACTOR_AUTO;
    c->threads = 0;
    c->scrollback = 1u << 20;
    c->kill_grace_ms = 2000;
    c->max_sessions = 4096;
    c->max_clients = 1024;
    c->keep_exited = 256;
    c->input_queue = 1u << 20;
    /* On: fed lazily (src/pty/term_state.h) it keeps >= 0.9x of a flood's throughput. */
    c->terminal_state = true;
    c->sched = 1; /* SCHED_INTERACTIVE: see docs/benchmarks.md, "Interactive latency" */
    /* Off: a custom slice doubled the idle keystroke p50 (85 -> 190 us) and did not
     * measurably lower the loaded p99 (docs/benchmarks.md, "Interactive latency"). */
    c->latency_slice_us = 0;
    c->render_hold = 256u * 1024;
    /* Both on: a keystroke's echo p99 under 8 floods fell from 2.6-3.7 ms to 1.3-1.9 ms
     * with one read per bulk readiness (docs/benchmarks.md, "Interactive latency"). */
    c->bulk_read_one = true;
    c->bulk_last = true;
    c->bulk_flush_us = 4000;
    c->log_level = LOG_INFO;
    c->max_session_clients = 64;
    c->header_timeout_ms = 10000;
    c->ready_fd = -1;
}

/* Splits HOST:PORT; IPv6 hosts come in brackets. */
int config_split_hostport(const char *s, char *host, size_t hostcap, char *port, size_t portcap)
{
    const char *colon;
    const char *h = s;
    size_t hlen;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || strchr(s, ':') != colon)
            return -EINVAL;
        hlen = (size_t)(colon - s);
    }
    size_t plen = strlen(colon + 1);
    if (hlen == 0 || hlen >= hostcap || plen == 0 || plen >= portcap)
        return -EINVAL;
    for (const char *p = colon + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return -EINVAL;
    if (atol(colon + 1) > 65535)
        return -EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memcpy(port, colon + 1, plen + 1);
    return 0;
}

/* True for loopback hosts. */
bool config_host_is_loopback(const char *host)
{
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
           strcmp(host, "::1") == 0;
}

/* Parses a byte size with an optional K/M/G suffix (powers of 1024). */
int config_parse_size(const char *s, size_t *out)
{
    if (!s || !*s || *s == '-')
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -EINVAL;
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10, end++;
    else if (*end == 'M' || *end == 'm')
        shift = 20, end++;
    else if (*end == 'G' || *end == 'g')
        shift = 30, end++;
    if (*end == 'i' || *end == 'B')
        end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
    if (*end)
        return -EINVAL;
    if (v > (SIZE_MAX >> shift))
        return -ERANGE;
    *out = (size_t)(v << shift);
    return 0;
}

/* Parses an unsigned decimal in [min, max]. */
int config_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || end == s)
        return -EINVAL;
    if (v < min || v > max)
        return -ERANGE;
    *out = (unsigned)v;
    return 0;
}

/* Picks the per-user socket path. */
int config_default_socket(char *out, size_t cap)
{
    const char *env = getenv("PTYHUB_SOCKET");
    int n;
    if (env && *env)
        n = snprintf(out, cap, "%s", env);
    else if (getenv("XDG_RUNTIME_DIR") && *getenv("XDG_RUNTIME_DIR"))
        n = snprintf(out, cap, "%s/ptyhub/sock", getenv("XDG_RUNTIME_DIR"));
    else
        n = snprintf(out, cap, "/tmp/ptyhub-%u/sock", (unsigned)getuid());
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}
