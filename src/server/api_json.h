/* api_json: the JSON request bodies of the REST API, parsed and validated.
 *
 * Pure functions over (body, len): no reactor, no I/O. Work is linear in the body size
 * (the caller bounds the body at 1 MiB), and every rejection comes with a message for
 * the user that says what was wrong. */
#ifndef PTYHUB_API_JSON_H
#define PTYHUB_API_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_MAX_ARGV 4096
#define API_MAX_ENV 4096
#define API_MAX_DIM 10000

/* POST /api/sessions body: {"argv":[...],"cwd":str|null,"env":{K:V}|["K=V",...]|null,
 *  "cols":int|null,"rows":int|null,"name":str|null} */
struct api_create_req {
    const char **argv; /* NULL-terminated; strings point into the parsed document */
    size_t argc;
    char **env; /* NULL-terminated "K=V" strings (owned) */
    size_t nenv;
    const char *cwd, *name; /* NULL when absent or null */
    unsigned cols, rows;    /* 0 when absent */
    void *doc;              /* the cJSON document, freed by api_create_req_free */
};

/* Parses a create body into out. Returns 0, or -EINVAL with a user-facing message in err
 * and out zeroed. */
int api_parse_create(const char *body, size_t len, struct api_create_req *out, char *err,
                     size_t errlen);
/* Frees what api_parse_create filled in and zeroes it; accepts a zeroed struct. */
void api_create_req_free(struct api_create_req *r);
/* Parses {"cols":C,"rows":R}, integers 1..10000. Returns 0 or -EINVAL with err set. */
int api_parse_resize(const char *body, size_t len, unsigned *cols, unsigned *rows, char *err,
                     size_t errlen);
/* Parses {"token":"..."} and copies the token into token (at most cap-1 bytes; longer is
 * -EINVAL). Returns 0 or -EINVAL with err set. */
int api_parse_login(const char *body, size_t len, char *token, size_t cap, char *err,
                    size_t errlen);

/* Parses {"text":"...","enter":bool|null} (POST .../paste). On success *text is a
 * malloc'd copy (the caller frees it) of *len bytes. Returns 0 or -EINVAL with err set. */
int api_parse_paste(const char *body, size_t len, char **text, size_t *tlen, bool *enter, char *err,
                    size_t errlen);
/* POST /api/sessions/{id}/wait body: {"text":REGEX,"idle_ms":N,"timeout_ms":N,"after":N},
 * at least one of text (1..4096 bytes, no NUL) and idle_ms (>= 1). */
#define API_WAIT_REGEX_MAX 4096
struct api_wait_req {
    char text[API_WAIT_REGEX_MAX + 1]; /* "" when absent */
    size_t text_len;
    unsigned idle_ms, timeout_ms; /* 0 when absent */
    uint64_t after;
};
/* Parses a wait body. Returns 0, or -EINVAL with a user-facing message in err. */
int api_parse_wait(const char *body, size_t len, struct api_wait_req *out, char *err,
                   size_t errlen);

#endif
