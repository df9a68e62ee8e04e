/* hub: the session table every worker shares — ids, names, owners, the exited list
 * and its eviction — and the accounting that listings, /metrics and the connection
 * budgets read. A session itself is only ever touched on its owner's thread; the table
 * is guarded by one mutex, held only for short copies (a listing is copied out under
 * the lock and formatted after it). */
#include "server/hub.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "pty/sched.h"
#include "server/conn.h"
#include "server/events.h"
#include "server/http.h"
#include "server/server_impl.h"

reactor *worker_reactor(struct worker *w)
{
    return w->r;
}

struct server *worker_server(struct worker *w)
{
    return w->srv;
}

const struct config *hub_config(struct server *srv)
{
    return &srv->cfg;
}

void hub_count_bytes(struct worker *w, uint64_t in, uint64_t out)
{
    atomic_fetch_add_explicit(&w->bytes_in, in, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->bytes_out, out, memory_order_relaxed);
}

/* ---- the session table ------------------------------------------------------------- */

/* Index of id in the sorted table, or -1. Caller holds mu. */
static ssize_t table_index(struct server *srv, uint32_t id)
{
    size_t lo = 0, hi = srv->nentries;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (srv->entries[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < srv->nentries && srv->entries[lo].id == id ? (ssize_t)lo : -1;
}

/* True for a valid session name: 1..64 of [A-Za-z0-9._-], not all digits (those are ids). */
static bool name_valid(const char *p, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    bool digits = true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
        digits &= c >= '0' && c <= '9';
    }
    return !digits;
}

/* Builds a NULL-terminated vector from a wire block (strings point into the block). */
static const char **block_vector(const struct wire_block *b)
{
    const char **v = xcalloc((size_t)b->count + 1, sizeof *v);
    size_t pos = 0, i = 0;
    const char *str;
    while ((str = wire_block_next(b, &pos)) && i < b->count)
        v[i++] = str;
    v[i] = NULL;
    return v;
}

static void session_exited_cb(struct session *s, void *arg);

/* ---- lifecycle events (events.c does the fan-out) ----------------------------------- */

struct events *hub_events(struct server *srv)
{
    return srv->events;
}

/* Publishes an event about session sid, stamped now. */
static void hub_publish(struct server *srv, struct wire_event *e)
{
    e->time_ms = events_now_ms();
    events_publish(srv->events, e);
}

/* CREATED: a session was spawned (on its owner, right after it entered the table). */
static void hub_event_created(struct server *srv, struct session *s)
{
    struct session_summary sum;
    session_summary(s, &sum);
    const char *name = session_name(s), *cmd = session_command(s);
    size_t cl = strlen(cmd);
    struct wire_event e = {
        .kind = WIRE_EV_CREATED,
        .sid = session_id(s),
        .pid = (int32_t)sum.pid,
        .cols = sum.cols,
        .rows = sum.rows,
        .name = {(const uint8_t *)name, strlen(name)},
        .command = {(const uint8_t *)cmd, cl > HUB_COMMAND_MAX ? HUB_COMMAND_MAX : cl}};
    hub_publish(srv, &e);
}

/* RESIZED: session_opts.on_resize, on the session's reactor. */
static void hub_session_resized_cb(struct session *s, void *arg)
{
    struct worker *w = arg;
    uint16_t cols, rows;
    session_size(s, &cols, &rows);
    struct wire_event e = {
        .kind = WIRE_EV_RESIZED, .sid = session_id(s), .cols = cols, .rows = rows};
    hub_publish(w->srv, &e);
}

/* TITLE: session_opts.on_title (the terminal-state code calls it from a task once the
 * summary holds the new title), on the session's reactor. */
static void hub_session_title_cb(struct session *s, void *arg)
{
    struct worker *w = arg;
    struct session_summary sum;
    memset(&sum, 0, sizeof sum);
    session_summary(s, &sum);
    sum.title[sizeof sum.title - 1] = '\0';
    hub_event_title(w->srv, session_id(s), sum.title);
}

void hub_event_title(struct server *srv, uint32_t sid, const char *title)
{
    size_t n = strlen(title);
    struct wire_event e = {
        .kind = WIRE_EV_TITLE, .sid = sid, .title = {(const uint8_t *)title, n > 4096 ? 4096 : n}};
    hub_publish(srv, &e);
}

static int hub_spawn_opts(struct worker *w, const char *name, const char *const *argv,
                          const char *cwd, const char *const *env, uint16_t cols, uint16_t rows,
                          bool hold, struct session **out, uint16_t *code, char *err,
                          size_t errlen);

/* Spawns a session on w, registering it in the table. */
int hub_spawn(struct worker *w, const char *name, const char *const *argv, const char *cwd,
              const char *const *env, uint16_t cols, uint16_t rows, struct session **out,
              uint16_t *code, char *err, size_t errlen)
{
    return hub_spawn_opts(w, name, argv, cwd, env, cols, rows, false, out, code, err, errlen);
}

/* hub_spawn, optionally holding the output until the first attach. */
static int hub_spawn_opts(struct worker *w, const char *name, const char *const *argv,
                          const char *cwd, const char *const *env, uint16_t cols, uint16_t rows,
                          bool hold, struct session **out, uint16_t *code, char *err, size_t errlen)
{
    struct server *srv = w->srv;
    if (name && *name && !name_valid(name, strlen(name))) {
        *code = WIRE_ERR_BAD_ARGUMENT;
        snprintf(err, errlen,
                 "invalid session name '%s': use 1-64 letters, digits, '.', '_' or '-', "
                 "not only digits",
                 name);
        return -EINVAL;
    }
    pthread_mutex_lock(&srv->mu);
    size_t live = srv->nentries;
    if (live >= srv->cfg.max_sessions) {
        pthread_mutex_unlock(&srv->mu);
        *code = WIRE_ERR_LIMIT;
        snprintf(err, errlen, "session limit reached (%u); remove exited sessions with 'ptyhub rm'",
                 srv->cfg.max_sessions);
        return -ENOSPC;
    }
    if (name && *name) {
        for (size_t i = 0; i < srv->nentries; i++) {
            if (strcmp(srv->entries[i].name, name) == 0) {
                pthread_mutex_unlock(&srv->mu);
                *code = WIRE_ERR_BAD_ARGUMENT;
                snprintf(err, errlen, "a session named '%s' already exists", name);
                return -EEXIST;
            }
        }
    }
    if (srv->nentries == srv->capentries) {
        srv->capentries = srv->capentries ? srv->capentries * 2 : 64;
        srv->entries = xrealloc(srv->entries, srv->capentries * sizeof *srv->entries);
    }
    uint32_t id = srv->next_id++;
    srv->entries[srv->nentries++] =
        (struct entry){.id = id, .name = xstrdup(name ? name : ""), .owner = w};
    atomic_fetch_add(&srv->running, 1);
    atomic_fetch_add(&w->nsessions, 1);
    pthread_mutex_unlock(&srv->mu);

    struct session_opts o = {
        .id = id,
        .name = name,
        .argv = argv,
        .cwd = cwd,
        .env_extra = env,
        .cols = cols,
        .rows = rows,
        .scrollback = srv->cfg.scrollback,
        .kill_grace_ms = srv->cfg.kill_grace_ms,
        .input_queue = srv->cfg.input_queue,
        .sched = (enum session_sched)srv->cfg.sched,
        .bulk_read_one = srv->cfg.bulk_read_one,
        .bulk_flush_ns = (uint64_t)srv->cfg.bulk_flush_us * 1000,
        .latency_slice_ns = (uint64_t)srv->cfg.latency_slice_us * 1000,
        .terminal_state = srv->cfg.terminal_state,
        .hold_output = hold,
        .on_resize = hub_session_resized_cb,
        .on_title = hub_session_title_cb,
    };
    struct session *s = NULL;
    int rc = session_new(w->r, &o, session_exited_cb, w, &s, err, errlen);
    pthread_mutex_lock(&srv->mu);
    ssize_t i = table_index(srv, id);
    if (rc < 0) {
        free(srv->entries[i].name);
        memmove(&srv->entries[i], &srv->entries[i + 1],
                (srv->nentries - (size_t)i - 1) * sizeof *srv->entries);
        srv->nentries--;
        atomic_fetch_sub(&srv->running, 1);
        atomic_fetch_sub(&w->nsessions, 1);
    } else {
        srv->entries[i].s = s;
    }
    pthread_mutex_unlock(&srv->mu);
    if (rc < 0) {
        *code = WIRE_ERR_SPAWN_FAILED;
        return rc;
    }
    log_info("session %u started: %s", id, session_command(s));
    hub_event_created(srv, s);
    *out = s;
    return 0;
}

/* Chooses the worker a new session will live on. Balance: the fewest running sessions
 * (counting creations already placed and not yet spawned, so a burst of CREATEs spreads),
 * the creator's own on a tie (its sessions need no relay). Creator: always the creator's. */
struct worker *hub_place(struct worker *creator)
{
    struct server *srv = creator->srv;
    struct worker *best = creator;
    if (srv->cfg.placement == PLACEMENT_BALANCE) {
        unsigned least = atomic_load(&creator->nsessions) + atomic_load(&creator->placing);
        for (unsigned i = 0; i < srv->nworkers; i++) {
            struct worker *w = &srv->workers[i];
            unsigned n = atomic_load(&w->nsessions) + atomic_load(&w->placing);
            if (n < least) {
                least = n;
                best = w;
            }
        }
    }
    atomic_fetch_add(&best->placing, 1);
    return best;
}

/* The creation placed on w has been tried (spawned or refused). */
void hub_place_done(struct worker *w)
{
    atomic_fetch_sub(&w->placing, 1);
}

/* Creates a session from a CREATE request. */
int hub_create(struct worker *w, const struct wire_create *c, struct session **out, uint16_t *code,
               char *err, size_t errlen)
{
    return hub_open(w, c, false, out, code, err, errlen);
}

/* Creates a session from a CREATE or OPEN request. */
int hub_open(struct worker *w, const struct wire_create *c, bool hold, struct session **out,
             uint16_t *code, char *err, size_t errlen)
{
    char name[65] = "", cwd[4096] = "";
    if (c->name.len && !name_valid((const char *)c->name.p, c->name.len)) {
        *code = WIRE_ERR_BAD_ARGUMENT;
        snprintf(err, errlen,
                 "invalid session name: use 1-64 letters, digits, '.', '_' or '-', "
                 "not only digits");
        return -EINVAL;
    }
    memcpy(name, c->name.p, c->name.len);
    if (c->cwd.len >= sizeof cwd) {
        *code = WIRE_ERR_BAD_ARGUMENT;
        snprintf(err, errlen, "working directory path too long");
        return -EINVAL;
    }
    if (c->cwd.len)
        memcpy(cwd, c->cwd.p, c->cwd.len);
    const char **argv = block_vector(&c->argv);
    const char **env = block_vector(&c->env);
    int rc = hub_spawn_opts(w, name, argv, c->cwd.len ? cwd : NULL, env, c->cols, c->rows, hold,
                            out, code, err, errlen);
    free(argv);
    free(env);
    return rc;
}

/* Looks a session up by id. */
int hub_find(struct server *srv, uint32_t id, struct session **s, struct worker **owner)
{
    pthread_mutex_lock(&srv->mu);
    ssize_t i = table_index(srv, id);
    int rc = -ENOENT;
    if (i >= 0 && srv->entries[i].s) {
        *s = srv->entries[i].s;
        *owner = srv->entries[i].owner;
        rc = 0;
    }
    pthread_mutex_unlock(&srv->mu);
    return rc;
}

/* Drops a session from the table and frees it (on its owner's thread). */
void hub_remove(struct worker *w, struct session *s)
{
    struct server *srv = w->srv;
    pthread_mutex_lock(&srv->mu);
    ssize_t i = table_index(srv, session_id(s));
    if (i >= 0) {
        if (srv->entries[i].exited) {
            srv->nexited--;
        } else {
            atomic_fetch_sub(&srv->running, 1);
            atomic_fetch_sub(&srv->entries[i].owner->nsessions, 1);
        }
        free(srv->entries[i].name);
        memmove(&srv->entries[i], &srv->entries[i + 1],
                (srv->nentries - (size_t)i - 1) * sizeof *srv->entries);
        srv->nentries--;
    }
    pthread_mutex_unlock(&srv->mu);
    log_debug("session %u removed", session_id(s));
    if (i >= 0) {
        struct wire_event e = {.kind = WIRE_EV_REMOVED, .sid = session_id(s)};
        hub_publish(srv, &e);
    }
    /* Freed at the end of a turn, once its attached clients have drained it. */
    session_remove(s);
}

/* Marks a session for removal when it exits. */
void hub_remove_when_exited(struct worker *w, struct session *s)
{
    struct server *srv = w->srv;
    pthread_mutex_lock(&srv->mu);
    ssize_t i = table_index(srv, session_id(s));
    if (i >= 0)
        srv->entries[i].remove_on_exit = true;
    pthread_mutex_unlock(&srv->mu);
}

/* Lists every session: rows are copied out under the lock (names and commands into one
 * buffer), then handed to cb with no lock held, so building a reply blocks no worker. */
void hub_list(struct server *srv, void (*cb)(void *ctx, const struct hub_row *row), void *ctx)
{
    pthread_mutex_lock(&srv->mu);
    size_t n = 0, bytes = 0;
    for (size_t i = 0; i < srv->nentries; i++) {
        if (!srv->entries[i].s)
            continue;
        n++;
        size_t cl = strlen(session_command(srv->entries[i].s));
        bytes +=
            strlen(srv->entries[i].name) + 1 + (cl > HUB_COMMAND_MAX ? HUB_COMMAND_MAX : cl) + 1;
    }
    struct hub_row *rows = xcalloc(n ? n : 1, sizeof *rows);
    char *text = xmalloc(bytes ? bytes : 1), *p = text;
    size_t k = 0;
    for (size_t i = 0; i < srv->nentries; i++) {
        struct entry *e = &srv->entries[i];
        if (!e->s)
            continue;
        session_summary(e->s, &rows[k].sum);
        size_t nl = strlen(e->name), cl = strlen(session_command(e->s));
        if (cl > HUB_COMMAND_MAX)
            cl = HUB_COMMAND_MAX;
        memcpy(p, e->name, nl + 1);
        rows[k].name = p;
        p += nl + 1;
        memcpy(p, session_command(e->s), cl);
        p[cl] = '\0';
        rows[k].command = p;
        p += cl + 1;
        k++;
    }
    pthread_mutex_unlock(&srv->mu);
    for (size_t i = 0; i < n; i++)
        cb(ctx, &rows[i]);
    free(rows);
    free(text);
}

struct evict {
    struct server *srv;
    uint32_t id;
};

/* Removes an exited session that fell off the --keep-exited list (on its owner). */
static int evict_post(void *arg)
{
    struct evict *ev = arg;
    struct session *s;
    struct worker *owner;
    if (hub_find(ev->srv, ev->id, &s, &owner) == 0 && session_exited(s))
        hub_remove(owner, s);
    free(ev);
    return 0;
}

/* Checks whether shutdown can finish: every session has exited. Runs on worker 0. */
int shutdown_check_post(void *arg)
{
    struct server *srv = arg;
    if (atomic_load(&srv->running) != 0 || srv->stopping)
        return 0;
    srv->stopping = true;
    log_info("all sessions ended; exiting");
    for (unsigned i = 0; i < srv->nworkers; i++)
        reactor_stop(srv->workers[i].r);
    return 0;
}

/* A session's exit was reported: update the table, keep at most --keep-exited exited
 * sessions, and let a pending shutdown finish. Runs on the session's owner. */
static void session_exited_cb(struct session *s, void *arg)
{
    struct worker *w = arg;
    struct server *srv = w->srv;
    int code, sig;
    session_exit_status(s, &code, &sig);
    if (sig)
        log_info("session %u exited on signal %d", session_id(s), sig);
    else
        log_info("session %u exited with code %d", session_id(s), code);
    struct wire_event exited = {.kind = WIRE_EV_EXITED,
                                .sid = session_id(s),
                                .code = code,
                                .signal = sig,
                                .end = session_end(s)};
    hub_publish(srv, &exited);
    struct evict *ev = NULL;
    pthread_mutex_lock(&srv->mu);
    ssize_t i = table_index(srv, session_id(s));
    if (i >= 0 && !srv->entries[i].exited) {
        srv->entries[i].exited = true;
        srv->entries[i].exit_seq = srv->exit_seq++;
        srv->nexited++;
        atomic_fetch_sub(&srv->running, 1);
        atomic_fetch_sub(&w->nsessions, 1);
    }
    if (i >= 0 && srv->entries[i].remove_on_exit) {
        /* Removed a turn later: we are inside the session's own exit report. */
        ev = xmalloc(sizeof *ev);
        *ev = (struct evict){srv, session_id(s)};
        reactor_post(w->r, evict_post, ev);
        ev = NULL;
    } else if (srv->nexited > srv->cfg.keep_exited) {
        struct entry *oldest = NULL;
        for (size_t j = 0; j < srv->nentries; j++) {
            struct entry *e = &srv->entries[j];
            if (e->exited && e->s && (!oldest || e->exit_seq < oldest->exit_seq))
                oldest = e;
        }
        if (oldest) {
            ev = xmalloc(sizeof *ev);
            *ev = (struct evict){srv, oldest->id};
            reactor_post(oldest->owner->r, evict_post, ev);
        }
    }
    pthread_mutex_unlock(&srv->mu);
    if (atomic_load(&srv->shutting_down))
        reactor_post(srv->workers[0].r, shutdown_check_post, srv);
}

/* ---- connections ------------------------------------------------------------------- */

/* Takes a slot in a class's budget; false (and counted as shed) when it is full. */
bool hub_conn_admit(struct server *srv, enum hub_class cls)
{
    unsigned n = atomic_fetch_add(&srv->nconns[cls], 1);
    if (n >= srv->cfg.max_clients) {
        atomic_fetch_sub(&srv->nconns[cls], 1);
        atomic_fetch_add(&srv->sheds[cls], 1);
        return false;
    }
    return true;
}

void hub_conn_release(struct server *srv, enum hub_class cls)
{
    atomic_fetch_sub(&srv->nconns[cls], 1);
}

bool hub_preauth_add(struct server *srv)
{
    return atomic_fetch_add(&srv->npreauth, 1) >= HUB_PREAUTH_MAX;
}

void hub_preauth_remove(struct server *srv)
{
    atomic_fetch_sub(&srv->npreauth, 1);
}

void hub_preauth_evicted(struct server *srv)
{
    atomic_fetch_add(&srv->preauth_evictions, 1);
}

/* An HTTP connection showed the token: it leaves the pre-auth pool. */
void hub_http_authed(struct worker *w)
{
    hub_preauth_remove(w->srv);
}

/* Adds a link to (or takes it out of) its worker's list. */
void hub_link_track(struct worker *w, struct list_node *node, bool add)
{
    if (add)
        list_push(&w->links, node);
    else
        list_remove(&w->links, node);
}

struct list_node *hub_link_list(struct worker *w)
{
    return w->links;
}

struct metrics_acc {
    unsigned running, exited, attached, bulk;
    uint64_t bytes_out, pauses, reclassified, answered;
};

/* Sums the per-session numbers for /metrics. */
static void metrics_row(void *ctx, const struct hub_row *row)
{
    struct metrics_acc *m = ctx;
    if (row->sum.exited)
        m->exited++;
    else
        m->running++;
    m->attached += row->sum.clients;
    m->bytes_out += row->sum.bytes_out;
    m->pauses += row->sum.pauses;
    if (!row->sum.exited && row->sum.cls == SESSION_BULK)
        m->bulk++;
    m->reclassified += row->sum.reclassified;
    m->answered += row->sum.answered;
}

/* Writes the Prometheus text exposition. */
void hub_metrics(struct server *srv, char **text, size_t *len)
{
    struct metrics_acc m = {0};
    hub_list(srv, metrics_row, &m);
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    fprintf(f,
            "# HELP ptyhub_sessions Sessions by state.\n# TYPE ptyhub_sessions gauge\n"
            "ptyhub_sessions{state=\"running\"} %u\nptyhub_sessions{state=\"exited\"} %u\n"
            "# HELP ptyhub_connections Client connections (Unix socket, stdio, HTTP, "
            "WebSocket).\n# TYPE ptyhub_connections gauge\nptyhub_connections %u\n"
            "# HELP ptyhub_attached_clients Subscriptions to sessions.\n"
            "# TYPE ptyhub_attached_clients gauge\nptyhub_attached_clients %u\n"
            "# HELP ptyhub_session_output_bytes Output bytes of the listed sessions.\n"
            "# TYPE ptyhub_session_output_bytes gauge\nptyhub_session_output_bytes %llu\n"
            "# HELP ptyhub_backpressure_pauses Times a listed session's reading was suspended "
            "for a lossless client.\n# TYPE ptyhub_backpressure_pauses gauge\n"
            "ptyhub_backpressure_pauses %llu\n",
            m.running, m.exited,
            atomic_load(&srv->nconns[HUB_UNIX]) + atomic_load(&srv->nconns[HUB_HTTP]), m.attached,
            (unsigned long long)m.bytes_out, (unsigned long long)m.pauses);
    fprintf(f,
            "# HELP ptyhub_connections_by_class Client connections per budget class.\n"
            "# TYPE ptyhub_connections_by_class gauge\n"
            "ptyhub_connections_by_class{class=\"unix\"} %u\n"
            "ptyhub_connections_by_class{class=\"http\"} %u\n"
            "ptyhub_connections_by_class{class=\"http_preauth\"} %u\n"
            "# HELP ptyhub_connections_shed_total Connections refused at a class's budget.\n"
            "# TYPE ptyhub_connections_shed_total counter\n"
            "ptyhub_connections_shed_total{class=\"unix\"} %llu\n"
            "ptyhub_connections_shed_total{class=\"http\"} %llu\n"
            "# HELP ptyhub_preauth_evictions_total Unauthenticated HTTP connections closed to "
            "make room for new ones.\n# TYPE ptyhub_preauth_evictions_total counter\n"
            "ptyhub_preauth_evictions_total %llu\n"
            "# HELP ptyhub_log_lines_dropped_total Log lines dropped because stderr was not "
            "being read.\n# TYPE ptyhub_log_lines_dropped_total counter\n"
            "ptyhub_log_lines_dropped_total %llu\n"
            "# HELP ptyhub_sessions_by_class Running sessions by scheduling class.\n"
            "# TYPE ptyhub_sessions_by_class gauge\n"
            "ptyhub_sessions_by_class{class=\"interactive\"} %u\n"
            "ptyhub_sessions_by_class{class=\"bulk\"} %u\n"
            "# HELP ptyhub_session_reclassifications Class changes of the listed sessions.\n"
            "# TYPE ptyhub_session_reclassifications gauge\n"
            "ptyhub_session_reclassifications %llu\n"
            "# HELP ptyhub_terminal_queries_answered Terminal queries of the listed sessions "
            "the daemon answered (no interactive client attached).\n"
            "# TYPE ptyhub_terminal_queries_answered gauge\n"
            "ptyhub_terminal_queries_answered %llu\n",
            atomic_load(&srv->nconns[HUB_UNIX]), atomic_load(&srv->nconns[HUB_HTTP]),
            atomic_load(&srv->npreauth), (unsigned long long)atomic_load(&srv->sheds[HUB_UNIX]),
            (unsigned long long)atomic_load(&srv->sheds[HUB_HTTP]),
            (unsigned long long)atomic_load(&srv->preauth_evictions),
            (unsigned long long)log_dropped_total(), m.running - m.bulk, m.bulk,
            (unsigned long long)m.reclassified, (unsigned long long)m.answered);
    struct sched_totals sch;
    sched_totals_get(&sch);
    uint64_t deferred = 0;
    for (unsigned i = 0; i < srv->nworkers; i++) {
        reactor_stats st;
        reactor_stats_get(srv->workers[i].r, &st);
        deferred += st.bulk_deferred;
    }
    fprintf(f,
            "# HELP ptyhub_sched_read_seconds_total Time reactors spent reading PTY output, by "
            "the session's scheduling class.\n# TYPE ptyhub_sched_read_seconds_total counter\n"
            "ptyhub_sched_read_seconds_total{class=\"interactive\"} %.6f\n"
            "ptyhub_sched_read_seconds_total{class=\"bulk\"} %.6f\n"
            "# HELP ptyhub_sched_read_bytes_total PTY output bytes read, by class.\n"
            "# TYPE ptyhub_sched_read_bytes_total counter\n"
            "ptyhub_sched_read_bytes_total{class=\"interactive\"} %llu\n"
            "ptyhub_sched_read_bytes_total{class=\"bulk\"} %llu\n"
            "# HELP ptyhub_sched_deferrals_total Bulk sessions' readiness events run after the "
            "turn's interactive work (--dispatch interactive).\n"
            "# TYPE ptyhub_sched_deferrals_total counter\nptyhub_sched_deferrals_total %llu\n",
            (double)sch.read_ns[SCHED_CLASS_INTERACTIVE] / 1e9,
            (double)sch.read_ns[SCHED_CLASS_BULK] / 1e9,
            (unsigned long long)sch.read_bytes[SCHED_CLASS_INTERACTIVE],
            (unsigned long long)sch.read_bytes[SCHED_CLASS_BULK], (unsigned long long)deferred);
    static const struct {
        const char *name, *help;
        size_t off;
    } counters[] = {
#define C(f, h) {#f, h, offsetof(reactor_stats, f)}
        C(turns, "Reactor loop iterations."),
        C(wakes, "Returns from a blocking wait in the kernel."),
        C(completions, "Kernel events handled (CQEs or epoll events)."),
        C(io_events, "Watcher callbacks invoked."),
        C(posts, "Callbacks posted across threads."),
        C(post_wakes, "Eventfd writes made by posters."),
        C(rearms, "Multishot polls re-armed after the kernel ended them."),
        C(cq_overflows, "Completion queue overflows handled."),
        C(sq_full, "Times the submission queue was full."),
        C(timers_fired, "Timer callbacks run."),
        C(tasks_run, "End-of-turn tasks run."),
        C(callback_errors, "Callbacks that failed."),
        C(bulk_deferred, "Bulk readiness events run after the turn's interactive work."),
        C(bulk_peeks, "Completions found and run between bulk callbacks (io_uring)."),
#undef C
    };
    for (size_t k = 0; k < sizeof counters / sizeof counters[0]; k++) {
        fprintf(f, "# HELP ptyhub_reactor_%s_total %s\n# TYPE ptyhub_reactor_%s_total counter\n",
                counters[k].name, counters[k].help, counters[k].name);
        for (unsigned i = 0; i < srv->nworkers; i++) {
            reactor_stats st;
            reactor_stats_get(srv->workers[i].r, &st);
            fprintf(f, "ptyhub_reactor_%s_total{reactor=\"%u\",backend=\"%s\"} %llu\n",
                    counters[k].name, i, reactor_backend_name(srv->workers[i].r),
                    (unsigned long long)*(uint64_t *)((char *)&st + counters[k].off));
        }
    }
    fprintf(f, "# HELP ptyhub_reactor_sessions Running sessions living on each reactor "
               "(--placement).\n# TYPE ptyhub_reactor_sessions gauge\n");
    for (unsigned i = 0; i < srv->nworkers; i++)
        fprintf(f, "ptyhub_reactor_sessions{reactor=\"%u\"} %u\n", i,
                atomic_load(&srv->workers[i].nsessions));
    fprintf(f, "# HELP ptyhub_bytes_received_total Bytes read from clients.\n"
               "# TYPE ptyhub_bytes_received_total counter\n");
    for (unsigned i = 0; i < srv->nworkers; i++)
        fprintf(f, "ptyhub_bytes_received_total{reactor=\"%u\"} %llu\n", i,
                (unsigned long long)atomic_load(&srv->workers[i].bytes_in));
    fprintf(f, "# HELP ptyhub_bytes_sent_total Bytes written to clients.\n"
               "# TYPE ptyhub_bytes_sent_total counter\n");
    for (unsigned i = 0; i < srv->nworkers; i++)
        fprintf(f, "ptyhub_bytes_sent_total{reactor=\"%u\"} %llu\n", i,
                (unsigned long long)atomic_load(&srv->workers[i].bytes_out));
    fclose(f);
    *text = buf;
    *len = n;
}

/* Frees every session and the table (teardown: the reactors have stopped). */
void hub_table_free(struct server *srv)
{
    for (size_t i = 0; i < srv->nentries; i++) {
        session_free(srv->entries[i].s);
        free(srv->entries[i].name);
    }
    free(srv->entries);
    srv->entries = NULL;
    srv->nentries = 0;
}
