/* api_json: parsing and validation of the REST API's JSON request bodies.
 *
 * Each parser takes (body, len), parses it with cJSON and checks it with one pass over
 * every array or object (cJSON_ArrayForEach, never cJSON_GetArrayItem, which walks the
 * list from the head and made a 200,000-entry "env" quadratic). cJSON decodes "\u0000"
 * (and copies a raw 0 byte) into its strings without keeping their length, so a string
 * would be cut short silently; nul_scan finds such strings in the source text instead,
 * and nul_field maps them back to the fields of the document. */
#include "server/api_json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/xalloc.h"

/* The string tokens of a document that decode to text with a NUL, by document order. */
struct nul_list {
    size_t *idx; /* ascending indices among all string tokens (keys included) */
    size_t n, cap;
};

/* Writes a user-facing message into err and returns -EINVAL. */
__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
                                                      ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* Parses a whole body as one JSON value; *end is where the value ends (cJSON accepts
 * trailing bytes after it, as the API always has). */
static cJSON *parse(const char *body, size_t len, size_t *end)
{
    const char *e = NULL;
    cJSON *doc = body && len ? cJSON_ParseWithLengthOpts(body, len, &e, 0) : NULL;
    *end = doc && e && e >= body && e <= body + len ? (size_t)(e - body) : len;
    return doc;
}

/* Lists the string tokens of valid JSON text p[0, len) whose decoded text contains NUL:
 * a raw 0 byte or the escape \u0000. Outside strings valid JSON has no '"'. */
static void nul_scan(const char *p, size_t len, struct nul_list *nl)
{
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '"')
            continue;
        bool nul = false;
        for (i++; i < len && p[i] != '"'; i++) {
            if (p[i] == '\0') {
                nul = true;
            } else if (p[i] == '\\' && i + 1 < len) {
                i++;
                if (p[i] == 'u' && len - i > 4 && memcmp(p + i + 1, "0000", 4) == 0)
                    nul = true;
            }
        }
        if (nul) {
            if (nl->n == nl->cap) {
                nl->cap = nl->cap ? 2 * nl->cap : 8;
                nl->idx = xrealloc(nl->idx, nl->cap * sizeof *nl->idx);
            }
            nl->idx[nl->n++] = k;
        }
        k++;
    }
}

/* Counts the string tokens (object keys included) in a value. Recursion is bounded by
 * cJSON's nesting limit (CJSON_NESTING_LIMIT, 1000). */
static size_t count_strings(const cJSON *v)
{
    if (cJSON_IsString(v))
        return 1;
    size_t n = 0;
    const cJSON *c;
    if (cJSON_IsArray(v) || cJSON_IsObject(v))
        cJSON_ArrayForEach(c, v) n += (cJSON_IsObject(v) ? 1 : 0) + count_strings(c);
    return n;
}

/* Whether some listed index lies in [lo, hi); *cur only moves forward. */
static bool nul_in(const struct nul_list *nl, size_t *cur, size_t lo, size_t hi)
{
    while (*cur < nl->n && nl->idx[*cur] < lo)
        (*cur)++;
    return *cur < nl->n && nl->idx[*cur] < hi;
}

/* Checks the top-level object doc (parsed from body[0, end)) for NULs in its field names
 * and in the strings of the members fields[i]. Returns the message to reject it with, or
 * NULL. Linear: one scan of the text, one walk of the tree, both only when a NUL exists. */
static const char *nul_field(const char *body, size_t end, const cJSON *doc,
                             const cJSON *const *fields, const char *const *msgs, size_t nfields)
{
    struct nul_list nl = {0};
    nul_scan(body, end, &nl);
    const char *msg = NULL;
    size_t k = 0, cur = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, doc)
    {
        if (nl.n == 0 || msg)
            break;
        if (nul_in(&nl, &cur, k, k + 1)) {
            msg = "field names must not contain NUL (\\u0000)";
            break;
        }
        size_t c = count_strings(m);
        k++;
        for (size_t i = 0; i < nfields; i++)
            if (m == fields[i] && nul_in(&nl, &cur, k, k + c))
                msg = msgs[i];
        k += c;
    }
    free(nl.idx);
    return msg;
}

/* Reads an optional integer field within [lo, hi]; absent or null leaves *out alone.
 * Returns false when present but not an integer in range. */
static bool json_uint(const cJSON *o, const char *key, unsigned lo, unsigned hi, unsigned *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v))
        return true;
    if (!cJSON_IsNumber(v))
        return false;
    double d = v->valuedouble; /* range first: casting an out-of-range double is UB */
    if (!(d >= lo && d <= hi) || d != (double)(unsigned)d)
        return false;
    *out = (unsigned)d;
    return true;
}

/* The number of members of an array or object. */
static size_t count_children(const cJSON *v)
{
    size_t n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, v) n++;
    return n;
}

/* A new "K=V" string. */
static char *join_env(const char *k, const char *v)
{
    size_t kl = strlen(k), vl = strlen(v);
    char *s = xmalloc(kl + vl + 2);
    memcpy(s, k, kl);
    s[kl] = '=';
    memcpy(s + kl + 1, v, vl + 1);
    return s;
}

/* Fills r->env from an "env" object or array already checked to have at most
 * API_MAX_ENV members. Returns the message to reject it with, or NULL. */
static const char *parse_env(const cJSON *env, struct api_create_req *r)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, env)
    {
        if (!cJSON_IsString(e))
            return "every \"env\" value must be a string";
        if (cJSON_IsObject(env)) {
            if (!e->string[0] || strchr(e->string, '='))
                return "\"env\" keys must be non-empty and without '='";
            r->env[r->nenv++] = join_env(e->string, e->valuestring);
        } else {
            const char *eq = strchr(e->valuestring, '=');
            if (!eq || eq == e->valuestring)
                return "\"env\" entries must look like \"KEY=value\"";
            r->env[r->nenv++] = xstrdup(e->valuestring);
        }
    }
    return NULL;
}

int api_parse_create(const char *body, size_t len, struct api_create_req *out, char *err,
                     size_t errlen)
{
    memset(out, 0, sizeof *out);
    size_t end;
    cJSON *doc = parse(body, len, &end);
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return fail(err, errlen, "the body must be a JSON object");
    }
    out->doc = doc;
    const cJSON *argv = cJSON_GetObjectItemCaseSensitive(doc, "argv");
    const cJSON *cwd = cJSON_GetObjectItemCaseSensitive(doc, "cwd");
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(doc, "env");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(doc, "name");
    if (cJSON_IsNull(env))
        env = NULL;
    size_t argc = cJSON_IsArray(argv) ? count_children(argv) : 0;
    size_t nenv = 0;
    const char *msg = NULL;
    if (argc < 1 || argc > API_MAX_ARGV)
        msg = "\"argv\" must be a non-empty array of strings";
    else if (cwd && !cJSON_IsNull(cwd) && !cJSON_IsString(cwd))
        msg = "\"cwd\" must be a string";
    else if (name && !cJSON_IsNull(name) && !cJSON_IsString(name))
        msg = "\"name\" must be a string";
    else if (env && !cJSON_IsObject(env) && !cJSON_IsArray(env))
        msg = "\"env\" must be an object of strings or an array of \"K=V\" strings";
    else if (!json_uint(doc, "cols", 1, API_MAX_DIM, &out->cols) ||
             !json_uint(doc, "rows", 1, API_MAX_DIM, &out->rows))
        msg = "\"cols\" and \"rows\" must be integers from 1 to 10000";
    else if (env && (nenv = count_children(env)) > API_MAX_ENV) {
        api_create_req_free(out);
        return fail(err, errlen, "\"env\" has %zu entries; at most %d", nenv, API_MAX_ENV);
    }
    if (!msg) {
        out->argv = xcalloc(argc + 1, sizeof *out->argv);
        const cJSON *a;
        cJSON_ArrayForEach(a, argv)
        {
            if (!cJSON_IsString(a)) {
                msg = "\"argv\" must be a non-empty array of strings";
                break;
            }
            out->argv[out->argc++] = a->valuestring;
        }
    }
    if (!msg) {
        out->env = xcalloc(nenv + 1, sizeof *out->env);
        msg = env ? parse_env(env, out) : NULL;
    }
    if (!msg) {
        const cJSON *fields[] = {argv, env, cwd, name};
        static const char *const msgs[] = {
            "\"argv\" strings must not contain NUL (\\u0000)",
            "\"env\" strings must not contain NUL (\\u0000)",
            "\"cwd\" must not contain NUL (\\u0000)",
            "\"name\" must not contain NUL (\\u0000)",
        };
        msg = nul_field(body, end, doc, fields, msgs, 4);
    }
    if (msg) {
        api_create_req_free(out);
        return fail(err, errlen, "%s", msg);
    }
    out->cwd = cJSON_IsString(cwd) ? cwd->valuestring : NULL;
    out->name = cJSON_IsString(name) ? name->valuestring : NULL;
    return 0;
}

void api_create_req_free(struct api_create_req *r)
{
    if (!r)
        return;
    if (r->env)
        for (size_t i = 0; i < r->nenv; i++)
            free(r->env[i]);
    free(r->env);
    free(r->argv);
    cJSON_Delete(r->doc);
    memset(r, 0, sizeof *r);
}

int api_parse_resize(const char *body, size_t len, unsigned *cols, unsigned *rows, char *err,
                     size_t errlen)
{
    size_t end;
    cJSON *doc = parse(body, len, &end);
    unsigned c = 0, r = 0;
    bool ok = cJSON_IsObject(doc) && json_uint(doc, "cols", 1, API_MAX_DIM, &c) &&
              json_uint(doc, "rows", 1, API_MAX_DIM, &r) && c && r;
    cJSON_Delete(doc);
    if (!ok)
        return fail(err, errlen, "send {\"cols\":C,\"rows\":R} with integers from 1 to 10000");
    *cols = c;
    *rows = r;
    return 0;
}

int api_parse_login(const char *body, size_t len, char *token, size_t cap, char *err, size_t errlen)
{
    if (cap)
        token[0] = '\0';
    size_t end;
    cJSON *doc = parse(body, len, &end);
    const cJSON *tok = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "token") : NULL;
    int rc = 0;
    if (!cJSON_IsString(tok)) {
        rc = fail(err, errlen, "send {\"token\":\"...\"}");
    } else {
        static const char *const msgs[] = {"\"token\" must not contain NUL (\\u0000)"};
        const char *msg = nul_field(body, end, doc, &tok, msgs, 1);
        size_t n = strlen(tok->valuestring);
        if (msg)
            rc = fail(err, errlen, "%s", msg);
        else if (n >= cap)
            rc = fail(err, errlen, "\"token\" is too long: at most %zu bytes", cap ? cap - 1 : 0);
        else
            memcpy(token, tok->valuestring, n + 1);
    }
    cJSON_Delete(doc);
    return rc;
}

/* Parses a paste body: "text" (a string without NUL) and an optional boolean "enter". */
int api_parse_paste(const char *body, size_t len, char **text, size_t *tlen, bool *enter, char *err,
                    size_t errlen)
{
    *text = NULL;
    *tlen = 0;
    *enter = false;
    size_t end;
    cJSON *doc = parse(body, len, &end);
    const cJSON *t = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "text") : NULL;
    const cJSON *e = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "enter") : NULL;
    int rc = 0;
    if (!cJSON_IsString(t)) {
        rc = fail(err, errlen, "send {\"text\":\"...\",\"enter\":true|false}");
    } else if (e && !cJSON_IsBool(e) && !cJSON_IsNull(e)) {
        rc = fail(err, errlen, "\"enter\" must be true or false");
    } else {
        static const char *const msgs[] = {"\"text\" must not contain NUL (\\u0000)"};
        const char *msg = nul_field(body, end, doc, &t, msgs, 1);
        if (msg) {
            rc = fail(err, errlen, "%s", msg);
        } else {
            *tlen = strlen(t->valuestring);
            *text = xmalloc(*tlen + 1);
            memcpy(*text, t->valuestring, *tlen + 1);
            *enter = cJSON_IsTrue(e);
        }
    }
    cJSON_Delete(doc);
    return rc;
}

/* Reads an optional integer member 0..2^53 (what a JSON number holds exactly). */
static bool json_u64(const cJSON *o, const char *key, uint64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v))
        return true;
    if (!cJSON_IsNumber(v))
        return false;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(uint64_t)d)
        return false;
    *out = (uint64_t)d;
    return true;
}

int api_parse_wait(const char *body, size_t len, struct api_wait_req *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    size_t end;
    cJSON *doc = parse(body, len, &end);
    int rc = 0;
    const cJSON *text = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "text") : NULL;
    if (!cJSON_IsObject(doc)) {
        rc = fail(err, errlen, "send {\"text\":REGEX,\"idle_ms\":N,\"timeout_ms\":N,\"after\":N}");
    } else if (!json_uint(doc, "idle_ms", 0, UINT32_MAX, &out->idle_ms) ||
               !json_uint(doc, "timeout_ms", 0, UINT32_MAX, &out->timeout_ms)) {
        rc = fail(err, errlen, "\"idle_ms\" and \"timeout_ms\" must be milliseconds (integers)");
    } else if (!json_u64(doc, "after", &out->after)) {
        rc = fail(err, errlen, "\"after\" must be an output offset (an integer)");
    } else if (text && !cJSON_IsNull(text) && !cJSON_IsString(text)) {
        rc = fail(err, errlen, "\"text\" must be a string (a POSIX extended regex)");
    } else if (cJSON_IsString(text)) {
        static const char *const msgs[] = {"\"text\" must not contain NUL (\\u0000)"};
        const char *msg = nul_field(body, end, doc, &text, msgs, 1);
        size_t n = strlen(text->valuestring);
        if (msg)
            rc = fail(err, errlen, "%s", msg);
        else if (n == 0 || n > API_WAIT_REGEX_MAX)
            rc = fail(err, errlen, "\"text\" must be a regex of 1 to %d bytes", API_WAIT_REGEX_MAX);
        else {
            memcpy(out->text, text->valuestring, n + 1);
            out->text_len = n;
        }
    }
    if (rc == 0 && !out->text_len && !out->idle_ms)
        rc = fail(err, errlen, "say what to wait for: \"text\" (a regex) or \"idle_ms\" (>= 1)");
    cJSON_Delete(doc);
    if (rc < 0) {
        out->text[0] = '\0';
        out->text_len = 0;
    }
    return rc;
}
