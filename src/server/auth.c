/* auth: token, Host and Origin checks for HTTP requests, and the login rate limit. */
#include "server/auth.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

/* Compares without leaking the position of the first difference. */
bool auth_secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char d = alen != blen;
    for (size_t i = 0; i < blen; i++)
        d |= (unsigned char)((i < alen ? a[i] : 0) ^ b[i]);
    return d == 0;
}

/* True when the request carries the token (or none is needed). */
bool auth_request_has_token(const struct config *cfg, const struct http_request *req)
{
    const char *token = cfg->token;
    if (cfg->no_auth && (!token || !*token))
        return true;
    if (!token || !*token)
        return false; /* no token and no --no-auth: nothing can match (never open) */
    size_t tlen = strlen(token);
    bool ok = false;
    const struct http_slice *auth = http_header_get(req, "Authorization");
    if (auth && auth->len > 7 && strncasecmp(auth->p, "Bearer ", 7) == 0)
        ok |= auth_secret_equal(auth->p + 7, auth->len - 7, token, tlen);
    for (size_t i = 0; i < req->num_headers; i++) {
        if (!http_slice_case_eq(req->headers[i].name, "Cookie"))
            continue;
        const char *p = req->headers[i].value.p, *end = p + req->headers[i].value.len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == ';'))
                p++;
            const char *semi = memchr(p, ';', (size_t)(end - p));
            const char *stop = semi ? semi : end;
            if ((size_t)(stop - p) > 13 && memcmp(p, "ptyhub_token=", 13) == 0)
                ok |= auth_secret_equal(p + 13, (size_t)(stop - p - 13), token, tlen);
            p = stop;
        }
    }
    return ok;
}

/* Literal loopback addresses and localhost; never a name that merely starts like one. */
bool auth_host_is_loopback_literal(const char *host, size_t len)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, host, len);
    buf[len] = '\0';
    if (strcasecmp(buf, "localhost") == 0)
        return true;
    struct in_addr a4;
    if (inet_pton(AF_INET, buf, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    struct in6_addr a6;
    if (inet_pton(AF_INET6, buf, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

/* Splits an authority "host[:port]" or "[v6][:port]" into its host part. Returns false
 * when it is malformed. */
static bool authority_host(const char *p, size_t n, const char **host, size_t *hlen)
{
    const char *end = p + n, *port;
    if (n && *p == '[') {
        const char *close = memchr(p, ']', n);
        if (!close)
            return false;
        *host = p + 1;
        *hlen = (size_t)(close - p - 1);
        port = close + 1;
        if (port < end && *port != ':')
            return false;
    } else {
        const char *colon = memchr(p, ':', n);
        *host = p;
        *hlen = (size_t)((colon ? colon : end) - p);
        port = colon ? colon : end;
    }
    if (port < end) {
        port++;
        if (port == end || end - port > 5)
            return false;
        for (const char *q = port; q < end; q++)
            if (*q < '0' || *q > '9')
                return false;
    }
    return *hlen > 0;
}

/* Exactly one well-formed Host; on a loopback listener, a loopback literal. */
int auth_check_host(const struct config *cfg, const struct http_request *req)
{
    const struct http_slice *h = NULL;
    for (size_t i = 0; i < req->num_headers; i++) {
        if (!http_slice_case_eq(req->headers[i].name, "Host"))
            continue;
        if (h)
            return 400; /* two Host headers (RFC 9112 §3.2) */
        h = &req->headers[i].value;
    }
    const char *host;
    size_t hlen;
    if (!h || h->len == 0)
        return 400;
    if (!authority_host(h->p, h->len, &host, &hlen))
        return 403; /* "localhost:1.evil.com" and the like: not a name we answer to */
    char lhost[256], lport[16];
    if (config_split_hostport(cfg->listen, lhost, sizeof lhost, lport, sizeof lport) < 0 ||
        !config_host_is_loopback(lhost))
        return 0; /* a public listener cannot know its names: the token protects it */
    return auth_host_is_loopback_literal(host, hlen) ? 0 : 403;
}

/* No Origin, the server's own (http or https with Host's authority), or allowed. */
bool auth_origin_allowed(const struct config *cfg, const struct http_request *req)
{
    const struct http_slice *origin = http_header_get(req, "Origin");
    if (!origin)
        return true;
    for (size_t i = 0; i < cfg->nallow_origins; i++)
        if (http_slice_case_eq(*origin, cfg->allow_origins[i]))
            return true;
    const struct http_slice *host = http_header_get(req, "Host");
    size_t skip;
    if (origin->len > 7 && strncasecmp(origin->p, "http://", 7) == 0)
        skip = 7;
    else if (origin->len > 8 && strncasecmp(origin->p, "https://", 8) == 0)
        skip = 8;
    else
        return false;
    if (!host || origin->len - skip != host->len)
        return false;
    return strncasecmp(origin->p + skip, host->p, host->len) == 0;
}

static pthread_mutex_t login_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t login_tokens_at; /* when the bucket was last refilled (ms) */
static unsigned login_tokens = AUTH_LOGIN_BURST;

/* Refills the bucket for the time passed. Caller holds login_mu. */
static void login_refill(uint64_t now_ms)
{
    if (login_tokens_at == 0)
        login_tokens_at = now_ms;
    uint64_t gained = (now_ms - login_tokens_at) / AUTH_LOGIN_INTERVAL_MS;
    if (gained) {
        login_tokens = gained >= AUTH_LOGIN_BURST || login_tokens + gained > AUTH_LOGIN_BURST
                           ? AUTH_LOGIN_BURST
                           : login_tokens + (unsigned)gained;
        login_tokens_at += gained * AUTH_LOGIN_INTERVAL_MS;
    }
}

/* True while failed attempts have not used up the bucket. */
bool auth_login_allowed(uint64_t now_ms)
{
    pthread_mutex_lock(&login_mu);
    login_refill(now_ms);
    bool ok = login_tokens > 0;
    pthread_mutex_unlock(&login_mu);
    return ok;
}

/* Takes one from the bucket. */
void auth_login_failed(uint64_t now_ms)
{
    pthread_mutex_lock(&login_mu);
    login_refill(now_ms);
    if (login_tokens)
        login_tokens--;
    pthread_mutex_unlock(&login_mu);
}
