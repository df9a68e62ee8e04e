/* fuzz_api_json: libFuzzer target for the REST API body parsers.
 *
 * Input: one byte choosing the login token buffer size, then a body fed to
 * api_parse_create, api_parse_resize, api_parse_login and api_parse_wait. Checks that results
 * respect the documented bounds (argc 1..4096, at most 4096 "K=V" env entries, cols/rows within
 * 0..10000, a token shorter than its buffer, a wait with a condition and a regex of
 * 1..4096 bytes without NUL), that a rejection leaves a message and a
 * zeroed request, and (under ASan) that everything is freed.
 *
 * Build: make build/fuzz/fuzz_api_json
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/api_json.h"

/* Aborts unless a rejection left a non-empty, terminated message. */
static void check_err(const char *err, size_t cap)
{
    if (err[0] == '\0' || memchr(err, '\0', cap) == NULL)
        abort();
}

/* Exercises api_parse_create and checks what it returns. */
static void fuzz_create(const char *buf, size_t len)
{
    struct api_create_req r;
    char err[160] = "";
    int rc = api_parse_create(buf, len, &r, err, sizeof err);
    if (rc == -EINVAL) {
        check_err(err, sizeof err);
        if (r.doc || r.argv || r.env || r.argc || r.nenv || r.cwd || r.name)
            abort();
        api_create_req_free(&r);
        return;
    }
    if (rc != 0 || !r.doc || r.argc < 1 || r.argc > API_MAX_ARGV || r.argv[r.argc] ||
        r.nenv > API_MAX_ENV || !r.env || r.env[r.nenv] || r.cols > API_MAX_DIM ||
        r.rows > API_MAX_DIM)
        abort();
    size_t total = 0;
    for (size_t i = 0; i < r.argc; i++)
        total += strlen(r.argv[i]);
    for (size_t i = 0; i < r.nenv; i++) {
        const char *eq = strchr(r.env[i], '=');
        if (!eq || eq == r.env[i])
            abort();
    }
    if ((r.cwd && strlen(r.cwd) > len) || (r.name && strlen(r.name) > len) || total > len)
        abort();
    api_create_req_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t cap = data[0] % 64;
    /* An exact-size copy: ASan reports any read past the end of the input. */
    size_t len = size - 1;
    char *buf = malloc(len ? len : 1);
    memcpy(buf, data + 1, len);

    fuzz_create(buf, len);

    unsigned cols = 0, rows = 0;
    char err[160] = "";
    int rc = api_parse_resize(buf, len, &cols, &rows, err, sizeof err);
    if (rc == -EINVAL)
        check_err(err, sizeof err);
    else if (rc != 0 || cols < 1 || cols > API_MAX_DIM || rows < 1 || rows > API_MAX_DIM)
        abort();

    char *token = malloc(cap ? cap : 1);
    err[0] = '\0';
    rc = api_parse_login(buf, len, token, cap, err, sizeof err);
    if (rc == -EINVAL)
        check_err(err, sizeof err);
    else if (rc != 0 || cap == 0 || strnlen(token, cap) >= cap)
        abort();
    free(token);

    struct api_wait_req *w = malloc(sizeof *w);
    err[0] = '\0';
    rc = api_parse_wait(buf, len, w, err, sizeof err);
    if (rc == -EINVAL) {
        check_err(err, sizeof err);
        if (w->text_len || w->text[0])
            abort();
    } else if (rc != 0 || (!w->text_len && !w->idle_ms) || w->text_len > API_WAIT_REGEX_MAX ||
               strlen(w->text) != w->text_len) {
        abort();
    }
    free(w);
    free(buf);
    return 0;
}
