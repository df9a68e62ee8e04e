/* api: the REST API under /api/, the login that sets the auth cookie, and /metrics.
 *
 * A request that touches one session is handled on the session's reactor: the HTTP
 * connection is handed over first (http_move), like a protocol connection, so the
 * session is only ever touched by its own thread. Listings read the shared table. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include <cjson/cJSON.h>

#include "core/xalloc.h"
#include "proto/paste.h"
#include "pty/session.h"
#include "server/api_json.h"
#include "server/auth.h"
#include "server/http.h"
#include "server/hub.h"
#include "server/screen.h"
#include "term/vt.h"

static const char *const level_names[] = {"none", "light", "moderate", "heavy", "blocked"};

/* The JSON object for one session. */
static cJSON *session_json(const struct hub_row *row)
{
    const struct session_summary *s = &row->sum;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", s->id);
    cJSON_AddStringToObject(o, "name", row->name);
    cJSON_AddNumberToObject(o, "pid", s->pid);
    cJSON_AddStringToObject(o, "state", s->exited ? "exited" : "running");
    if (s->exited && !s->exit_signal)
        cJSON_AddNumberToObject(o, "exit_code", s->exit_code);
    else
        cJSON_AddNullToObject(o, "exit_code");
    if (s->exited && s->exit_signal)
        cJSON_AddNumberToObject(o, "exit_signal", s->exit_signal);
    else
        cJSON_AddNullToObject(o, "exit_signal");
    cJSON_AddNumberToObject(o, "clients", s->clients);
    cJSON_AddNumberToObject(o, "bytes_out", (double)s->bytes_out);
    cJSON_AddStringToObject(o, "level", level_names[s->level <= LEVEL_BLOCKED ? s->level : 0]);
    cJSON_AddStringToObject(o, "class", s->cls == SESSION_BULK ? "bulk" : "interactive");
    cJSON_AddNumberToObject(o, "cols", s->cols);
    cJSON_AddNumberToObject(o, "rows", s->rows);
    cJSON_AddNumberToObject(o, "created_ms", (double)s->created_ms);
    cJSON_AddStringToObject(o, "command", row->command);
    cJSON_AddStringToObject(o, "title", s->title);
    cJSON_AddStringToObject(o, "cwd", s->cwd);
    cJSON_AddNumberToObject(o, "bells", (double)s->bells);
    cJSON_AddNumberToObject(o, "last_output_ms", (double)s->last_output_ms);
    return o;
}

/* Sends a JSON document and frees it. */
static void reply_json(struct http_conn *hc, int status, cJSON *doc)
{
    char *text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (!text) {
        http_reply_error(hc, 500, "internal", "cannot format JSON");
        return;
    }
    size_t n = strlen(text);
    text = xrealloc(text, n + 2);
    text[n++] = '\n';
    http_reply(hc, status, "application/json", text, n, NULL);
    free(text);
}

/* Adds every session to an array. */
static void list_cb(void *ctx, const struct hub_row *row)
{
    cJSON_AddItemToArray(ctx, session_json(row));
}

struct find_ctx {
    uint32_t id;
    cJSON *found;
};

/* Picks one session out of the listing. */
static void find_cb(void *ctx, const struct hub_row *row)
{
    struct find_ctx *f = ctx;
    if (row->sum.id == f->id && !f->found)
        f->found = session_json(row);
}

/* The row of a session we hold on its own reactor. */
static cJSON *local_session_json(struct session *s)
{
    struct hub_row row = {.name = session_name(s), .command = session_command(s)};
    session_summary(s, &row.sum);
    return session_json(&row);
}

/* Maps a protocol error code to an HTTP status and a code string. */
static int wire_status(uint16_t code)
{
    switch (code) {
    case WIRE_ERR_LIMIT:
        return 429;
    case WIRE_ERR_NO_SUCH_SESSION:
        return 404;
    case WIRE_ERR_EXITED:
        return 409;
    case WIRE_ERR_INTERNAL:
        return 500;
    default:
        return 400;
    }
}

/* POST /api/sessions: {"argv":[...],"cwd","env":{K:V}|["K=V"],"cols","rows","name"}.
 * The body is parsed by api_json in linear time; spawning is bounded by its limits. */
static enum http_step api_create(struct http_conn *hc, const uint8_t *body, size_t len)
{
    struct api_create_req cr;
    char err[512];
    if (api_parse_create((const char *)body, len, &cr, err, sizeof err) < 0) {
        bool not_object = strcmp(err, "the body must be a JSON object") == 0;
        http_reply_error(hc, 400, not_object ? "bad_json" : "bad_argument", "%s", err);
        return HTTP_DONE;
    }
    struct session *s;
    uint16_t code = 0;
    char msg[512];
    int rc = hub_spawn(http_worker(hc), cr.name, cr.argv, cr.cwd, (const char *const *)cr.env,
                       (uint16_t)cr.cols, (uint16_t)cr.rows, &s, &code, msg, sizeof msg);
    if (rc < 0)
        http_reply_error(hc, wire_status(code), wire_err_name(code), "%s", msg);
    else
        reply_json(hc, 201, local_session_json(s));
    api_create_req_free(&cr);
    return HTTP_DONE;
}

/* Resolves /api/sessions/{id}: the session on this reactor, or a hand-over (*step). */
static struct session *api_local(struct http_conn *hc, uint32_t id, enum http_step *step)
{
    struct session *s;
    struct worker *owner;
    *step = HTTP_DONE;
    if (hub_find(worker_server(http_worker(hc)), id, &s, &owner) < 0) {
        http_reply_error(hc, 404, "no_such_session", "no session %u", id);
        return NULL;
    }
    if (owner != http_worker(hc)) {
        *step = http_move(hc, owner);
        return NULL;
    }
    return s;
}

/* GET /api/sessions/{id}/output?from=N: the retained bytes from N, raw. */
static enum http_step api_output(struct http_conn *hc, struct session *s,
                                 const struct http_request *req)
{
    uint64_t start = session_start(s), end = session_end(s), from = 0;
    struct http_slice v;
    if (http_query_get(req->query, "from", &v) == 0) {
        char num[32];
        char *stop;
        if (v.len == 0 || v.len >= sizeof num) {
            http_reply_error(hc, 400, "bad_argument", "from must be a byte offset");
            return HTTP_DONE;
        }
        memcpy(num, v.p, v.len);
        num[v.len] = '\0';
        errno = 0;
        from = strtoull(num, &stop, 10);
        if (*stop || errno || num[0] == '-') {
            http_reply_error(hc, 400, "bad_argument", "from must be a byte offset");
            return HTTP_DONE;
        }
    }
    if (from > end) {
        http_reply_error(hc, 400, "bad_argument",
                         "from=%" PRIu64 " is beyond the end (%" PRIu64 ")", from, end);
        return HTTP_DONE;
    }
    uint64_t first = from < start ? start : from;
    size_t n = (size_t)(end - first);
    uint8_t *buf = xmalloc(n ? n : 1);
    size_t got = 0;
    while (got < n) {
        struct iovec iov[2];
        int cnt = 0;
        ssize_t k = session_peek(s, first + got, n - got, iov, &cnt);
        if (k <= 0)
            break;
        for (int i = 0; i < cnt; i++) {
            memcpy(buf + got, iov[i].iov_base, iov[i].iov_len);
            got += iov[i].iov_len;
        }
    }
    char extra[256];
    snprintf(extra, sizeof extra,
             "X-Ptyhub-Start: %" PRIu64 "\r\nX-Ptyhub-End: %" PRIu64 "\r\nX-Ptyhub-Offset: %" PRIu64
             "\r\n",
             start, end, first);
    http_reply(hc, 200, "application/octet-stream", buf, got, extra);
    free(buf);
    return HTTP_DONE;
}

/* POST /api/sessions/{id}/input: the body is typed in as is. What does not fit in the
 * input queue waits for room (never blocking the reactor; a client that goes away
 * abandons the rest); 204 once all of it is queued. */
static enum http_step api_input(struct http_conn *hc, struct session *s, const uint8_t *body,
                                size_t len)
{
    size_t *done = http_progress(hc);
    while (*done < len) {
        size_t room = session_input_room(s), n = len - *done;
        if (session_exited(s)) {
            http_reply_error(hc, 409, "exited", "session %u has exited", session_id(s));
            return HTTP_DONE;
        }
        if (n > room)
            n = room;
        if (n == 0) {
            size_t want = len - *done, cap = session_input_capacity(s) / 2;
            return http_wait_input(hc, s, want < cap ? want : cap);
        }
        if (session_write_input(s, body + *done, n) < 0) {
            http_reply_error(hc, 409, "exited", "session %u has exited", session_id(s));
            return HTTP_DONE;
        }
        *done += n;
    }
    http_reply(hc, 204, NULL, NULL, 0, NULL);
    return HTTP_DONE;
}

/* POST /api/sessions/{id}/paste {"text":"...","enter":bool}: the text as one paste
 * (paste.h: line endings, bracketed when the program enabled ?2004, Enter), queued as one
 * unit when the input queue has room for all of it, answered 200 once every byte was
 * written to the PTY. Waiting (for room, then for the write) blocks nothing; the request
 * is handled again from its bytes, and http_progress keeps the input offset to reach. */
static enum http_step api_paste(struct http_conn *hc, struct session *s, const uint8_t *body,
                                size_t len)
{
    size_t *target = http_progress(hc);
    if (*target) {
        if (session_input_written(s) >= *target) {
            http_reply(hc, 200, "application/json", "{\"written\":true}\n", 17, NULL);
            return HTTP_DONE;
        }
        if (session_exited(s)) {
            http_reply_error(hc, 409, "exited", "session %u ended before the paste reached it",
                             session_id(s));
            return HTTP_DONE;
        }
        return http_wait_written(hc, s, *target);
    }
    char *text, err[256];
    size_t tlen;
    bool enter;
    if (api_parse_paste((const char *)body, len, &text, &tlen, &enter, err, sizeof err) < 0) {
        http_reply_error(hc, 400, "bad_argument", "%s", err);
        return HTTP_DONE;
    }
    if (session_exited(s)) {
        free(text);
        http_reply_error(hc, 409, "exited", "session %u has exited", session_id(s));
        return HTTP_DONE;
    }
    uint8_t *buf = xmalloc(PASTE_OUT_MAX(tlen));
    size_t n = paste_encode((const uint8_t *)text, tlen, session_modes(s) & VT_MODE_BRACKETED_PASTE,
                            enter, buf);
    free(text);
    enum http_step step = HTTP_DONE;
    if (n > session_input_capacity(s)) {
        http_reply_error(
            hc, 413, "too_large",
            "the paste is %zu bytes; the input queue holds at most %zu (--input-queue)", n,
            session_input_capacity(s));
    } else if (n == 0) {
        http_reply(hc, 200, "application/json", "{\"written\":true}\n", 17, NULL);
    } else if (session_input_room(s) < n) {
        step = http_wait_input(hc, s, n);
    } else if (session_write_input(s, buf, n) < 0) {
        http_reply_error(hc, 409, "exited", "session %u has exited", session_id(s));
    } else {
        *target = (size_t)session_input_queued(s);
        step = api_paste(hc, s, body, len);
    }
    free(buf);
    return step;
}

/* POST /api/sessions/{id}/resize {"cols":C,"rows":R}. */
static enum http_step api_resize(struct http_conn *hc, struct session *s, const uint8_t *body,
                                 size_t len)
{
    unsigned cols, rows;
    char err[256];
    if (api_parse_resize((const char *)body, len, &cols, &rows, err, sizeof err) < 0) {
        http_reply_error(hc, 400, "bad_argument", "%s", err);
        return HTTP_DONE;
    }
    if (session_exited(s)) {
        http_reply_error(hc, 409, "exited", "session %u has exited", session_id(s));
        return HTTP_DONE;
    }
    int rc = session_resize(s, (uint16_t)cols, (uint16_t)rows);
    if (rc < 0)
        http_reply_error(hc, 400, "bad_argument", "cannot resize: %s", strerror(-rc));
    else
        http_reply(hc, 204, NULL, NULL, 0, NULL);
    return HTTP_DONE;
}

/* DELETE /api/sessions/{id}: remove an exited session, or end a running one (SIGHUP,
 * SIGKILL after the grace) and remove it once it has exited. */
static enum http_step api_delete(struct http_conn *hc, struct session *s)
{
    if (session_exited(s)) {
        hub_remove(http_worker(hc), s);
        http_reply(hc, 204, NULL, NULL, 0, NULL);
        return HTTP_DONE;
    }
    hub_remove_when_exited(http_worker(hc), s);
    session_kill(s);
    http_reply(hc, 202, "application/json", "{\"state\":\"killing\"}\n", 20, NULL);
    return HTTP_DONE;
}

/* GET /api/sessions/{id}/screen[?format=json|ansi]: the screen now, as text (default),
 * as JSON with cursor, size, modes and title, or as the snapshot bytes. */
static enum http_step api_screen(struct http_conn *hc, struct session *s,
                                 const struct http_request *req)
{
    struct http_slice v = {0};
    bool has = http_query_get(req->query, "format", &v) == 0;
    bool json = has && http_slice_eq(v, "json"), ansi = has && http_slice_eq(v, "ansi");
    if (has && !json && !ansi && !http_slice_eq(v, "text")) {
        http_reply_error(hc, 400, "bad_argument", "format must be text, json or ansi");
        return HTTP_DONE;
    }
    uint64_t offset;
    const struct vt *vt = session_terminal(s, &offset);
    if (!vt) {
        http_reply_error(hc, 503, "unavailable",
                         "session %u keeps no terminal state (start the daemon with "
                         "--terminal-state on)",
                         session_id(s));
        return HTTP_DONE;
    }
    size_t len;
    uint8_t *data = screen_render(vt, ansi, &len);
    char extra[64];
    snprintf(extra, sizeof extra, "X-Ptyhub-Offset: %" PRIu64 "\r\n", offset);
    if (!json) {
        http_reply(hc, 200, ansi ? "application/octet-stream" : "text/plain; charset=utf-8", data,
                   len, extra);
        free(data);
        return HTTP_DONE;
    }
    uint16_t cols, rows, ccol, crow;
    bool visible;
    vt_size(vt, &cols, &rows);
    vt_cursor(vt, &ccol, &crow, &visible);
    unsigned modes = vt_modes(vt);
    cJSON *o = cJSON_CreateObject(), *cur;
    cJSON_AddNumberToObject(o, "offset", (double)offset);
    cJSON_AddNumberToObject(o, "cols", cols);
    cJSON_AddNumberToObject(o, "rows", rows);
    cur = cJSON_AddObjectToObject(o, "cursor");
    cJSON_AddNumberToObject(cur, "col", ccol);
    cJSON_AddNumberToObject(cur, "row", crow);
    cJSON_AddBoolToObject(cur, "visible", visible);
    cJSON_AddBoolToObject(o, "alt_screen", (modes & VT_MODE_ALTSCREEN) != 0);
    cJSON_AddNumberToObject(o, "modes", modes);
    cJSON_AddStringToObject(o, "title", vt_title(vt));
    cJSON_AddStringToObject(o, "text", (const char *)data); /* NUL-terminated by vt_text */
    free(data);
    reply_json(hc, 200, o);
    return HTTP_DONE;
}

/* Answers a finished wait: {"reason":"text"|"idle"|"timeout"|"exited","offset":N}. */
static void reply_waited(struct http_conn *hc, int why, uint64_t offset)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "reason", screen_wait_reason_name((enum screen_wait_reason)why));
    cJSON_AddNumberToObject(o, "offset", (double)offset);
    reply_json(hc, 200, o);
}

/* POST /api/sessions/{id}/wait {"text":REGEX,"idle_ms":N,"timeout_ms":N,"after":N}: a long
 * poll. The connection waits on the session's screen without blocking anything and is
 * answered when the text appears, the session goes quiet, the timeout passes or it exits. */
static enum http_step api_wait(struct http_conn *hc, struct session *s, const uint8_t *body,
                               size_t len)
{
    struct api_wait_req *wr = xmalloc(sizeof *wr);
    char err[300];
    if (api_parse_wait((const char *)body, len, wr, err, sizeof err) < 0) {
        free(wr);
        http_reply_error(hc, 400, "bad_argument", "%s", err);
        return HTTP_DONE;
    }
    struct screen_wait_params p = {
        .text = wr->text_len > 0,
        .idle = wr->idle_ms > 0,
        .regex = wr->text,
        .regex_len = wr->text_len,
        .after = wr->after,
        .idle_ms = wr->idle_ms,
        .timeout_ms = wr->timeout_ms,
    };
    int rc = http_wait_screen(hc, s, &p, err, sizeof err);
    free(wr);
    if (rc == 0)
        return HTTP_STOP;
    if (rc < 0) {
        http_reply_error(hc, rc == -ENOTSUP ? 503 : 400,
                         rc == -ENOTSUP ? "unavailable" : "bad_argument", "%s", err);
        return HTTP_DONE;
    }
    int why;
    uint64_t offset;
    http_screen_result(hc, &why, &offset);
    reply_waited(hc, why, offset);
    return HTTP_DONE;
}

/* Milliseconds on the monotonic clock, for the login limiter. */
static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* POST /api/login {"token":"..."}: sets the HttpOnly cookie the page authenticates with.
 * Compared in constant time; wrong guesses are rate-limited server-wide (429). */
static enum http_step api_login(struct http_conn *hc, const uint8_t *body, size_t len)
{
    const struct config *cfg = hub_config(worker_server(http_worker(hc)));
    const char *want = cfg->token;
    char token[512], err[256];
    if (api_parse_login((const char *)body, len, token, sizeof token, err, sizeof err) < 0) {
        http_reply_error(hc, 400, "bad_argument", "%s", err);
        return HTTP_DONE;
    }
    uint64_t now = monotonic_ms();
    if (!auth_login_allowed(now)) {
        http_reply_error(hc, 429, "too_many_attempts",
                         "too many wrong tokens; wait a second and try again");
        return HTTP_DONE;
    }
    bool open = cfg->no_auth && !(want && *want);
    bool ok = open || (want && auth_secret_equal(token, strlen(token), want, strlen(want)));
    explicit_bzero(token, sizeof token);
    if (!ok) {
        auth_login_failed(now);
        http_reply_error(hc, 401, "unauthorized", "wrong token");
        return HTTP_DONE;
    }
    char extra[600];
    snprintf(extra, sizeof extra,
             "Set-Cookie: ptyhub_token=%s; Path=/; HttpOnly; SameSite=Strict\r\n",
             want && *want ? want : "");
    http_reply(hc, 204, NULL, NULL, 0, extra);
    explicit_bzero(extra, sizeof extra);
    return HTTP_DONE;
}

/* Parses "/api/sessions/{id}[/rest]". Returns false when the id is not a number. */
static bool parse_session_path(struct http_slice path, uint32_t *id, struct http_slice *rest)
{
    const char *p = path.p + 14, *end = path.p + path.len; /* after "/api/sessions/" */
    uint64_t v = 0;
    const char *q = p;
    while (q < end && *q >= '0' && *q <= '9' && v <= UINT32_MAX)
        v = v * 10 + (uint64_t)(*q++ - '0');
    if (q == p || v == 0 || v > UINT32_MAX)
        return false;
    *id = (uint32_t)v;
    *rest = (struct http_slice){q, (size_t)(end - q)};
    return true;
}

/* Routes /api/... and /metrics. */
bool api_route(struct http_conn *hc, const struct http_request *req, const uint8_t *body,
               size_t len, enum http_step *step)
{
    struct http_slice path = req->path;
    bool get = http_slice_eq(req->method, "GET"), post = http_slice_eq(req->method, "POST");
    *step = HTTP_DONE;
    if (http_slice_eq(path, "/metrics")) {
        if (!get) {
            http_reply_405(hc, "GET");
            return true;
        }
        char *text;
        size_t n;
        hub_metrics(worker_server(http_worker(hc)), &text, &n);
        http_reply(hc, 200, "text/plain; version=0.0.4; charset=utf-8", text, n, NULL);
        free(text);
        return true;
    }
    if (path.len < 4 || memcmp(path.p, "/api", 4) != 0 || (path.len > 4 && path.p[4] != '/'))
        return false;
    if (http_slice_eq(path, "/api/login")) {
        if (post)
            *step = api_login(hc, body, len);
        else
            http_reply_405(hc, "POST");
        return true;
    }
    if (http_slice_eq(path, "/api/sessions")) {
        if (get) {
            cJSON *doc = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(doc, "sessions");
            hub_list(worker_server(http_worker(hc)), list_cb, arr);
            reply_json(hc, 200, doc);
        } else if (post) {
            *step = api_create(hc, body, len);
        } else {
            http_reply_405(hc, "GET, POST");
        }
        return true;
    }
    uint32_t id;
    struct http_slice rest;
    if (path.len <= 14 || memcmp(path.p, "/api/sessions/", 14) != 0 ||
        !parse_session_path(path, &id, &rest)) {
        http_reply_error(hc, 404, "not_found", "no such API endpoint: %.*s", (int)path.len, path.p);
        return true;
    }
    bool del = http_slice_eq(req->method, "DELETE");
    if (rest.len == 0 && get) {
        struct find_ctx f = {.id = id};
        hub_list(worker_server(http_worker(hc)), find_cb, &f);
        if (f.found)
            reply_json(hc, 200, f.found);
        else
            http_reply_error(hc, 404, "no_such_session", "no session %u", id);
        return true;
    }
    struct {
        const char *suffix;
        bool ok;
    } routes[] = {
        {"", del},        {"/output", get}, {"/input", post}, {"/resize", post},
        {"/screen", get}, {"/wait", post},  {"/paste", post},
    };
    int which = -1;
    for (int i = 0; i < 7; i++)
        if (http_slice_eq(rest, routes[i].suffix))
            which = i;
    if (which < 0) {
        http_reply_error(hc, 404, "not_found", "no such API endpoint: %.*s", (int)path.len, path.p);
        return true;
    }
    if (!routes[which].ok) {
        static const char *const allowed[] = {"GET, DELETE", "GET",  "POST", "POST",
                                              "GET",         "POST", "POST"};
        http_reply_405(hc, allowed[which]);
        return true;
    }
    int why;
    uint64_t offset;
    if (which == 5 && http_screen_result(hc, &why, &offset)) {
        /* The long poll ended: answered even if the session has gone meanwhile. */
        reply_waited(hc, why, offset);
        return true;
    }
    struct session *s = api_local(hc, id, step);
    if (!s)
        return true;
    switch (which) {
    case 0:
        *step = api_delete(hc, s);
        break;
    case 1:
        *step = api_output(hc, s, req);
        break;
    case 2:
        *step = api_input(hc, s, body, len);
        break;
    case 4:
        *step = api_screen(hc, s, req);
        break;
    case 5:
        *step = api_wait(hc, s, body, len);
        break;
    case 3:
        *step = api_resize(hc, s, body, len);
        break;
    default:
        *step = api_paste(hc, s, body, len);
        break;
    }
    return true;
}
