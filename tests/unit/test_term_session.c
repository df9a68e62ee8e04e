/* test_term_session: the session's terminal API (session.h, "terminal state") with a real
 * program on a real PTY, under both reactor backends: session_terminal catches up and says
 * which offset it represents, watchers are told from a task after output and once more at
 * exit, modes and the summary's title/cwd/bells/last output time follow the program. */
#include <stddef.h>
#include <time.h>

#include "harness.h"
#include "pty/session.h"
#include "term/vt.h"

struct ctx {
    reactor *r;
    struct session *s;
    bool exited;
    unsigned changed, titles;
    struct session_watch w;
};

static void on_exit_cb(struct session *s, void *arg)
{
    (void)s;
    ((struct ctx *)arg)->exited = true;
}

static void on_title(struct session *s, void *arg)
{
    (void)s;
    ((struct ctx *)arg)->titles++;
}

static void on_changed(struct session_watch *w)
{
    struct ctx *c = (struct ctx *)((char *)w - offsetof(struct ctx, w));
    c->changed++;
}

/* Starts sh -c script with terminal state as asked. */
static void start(struct ctx *c, enum reactor_backend_kind backend, const char *script, bool state)
{
    reactor_config cfg = {.backend = backend};
    CHECK_EQ(reactor_new(&c->r, &cfg), 0);
    const char *argv[] = {"sh", "-c", script, NULL};
    struct session_opts o = {.id = 1,
                             .argv = argv,
                             .cols = 40,
                             .rows = 5,
                             .scrollback = 1 << 16,
                             .kill_grace_ms = 100,
                             .terminal_state = state,
                             .on_title = on_title};
    char err[256];
    CHECK_EQ(session_new(c->r, &o, on_exit_cb, c, &c->s, err, sizeof err), 0);
}

/* Runs the reactor until pred(c) or 10 s. */
static void run_until(struct ctx *c, bool (*pred)(struct ctx *))
{
    for (int i = 0; i < 1000 && !pred(c); i++)
        reactor_run_once(c->r, 10);
    CHECK(pred(c));
}

static bool has_exited(struct ctx *c)
{
    return c->exited;
}

TEST_BACKENDS(term_session_screen_watchers_summary)
{
    struct ctx c = {0};
    start(
        &c, backend,
        "printf '\\033]2;my title\\007\\033]7;file:///tmp\\007\\033[?2004h\\007hello\\r\\nworld'; "
        "read x",
        true);
    CHECK(session_has_terminal(c.s));
    c.w.changed = on_changed;
    session_watch(c.s, &c.w);
    session_watch(c.s, &c.w); /* already watching: no double entry */
    for (int i = 0; i < 1000; i++) {
        reactor_run_once(c.r, 10);
        struct session_summary sum;
        session_summary(c.s, &sum);
        if (sum.bytes_out >= 40 && c.changed)
            break;
    }
    CHECK(c.changed >= 1);
    uint64_t off = 0;
    const struct vt *vt = session_terminal(c.s, &off);
    CHECK(vt != NULL);
    CHECK_U64_EQ(off, session_end(c.s));
    char text[512];
    vt_text(vt, text, sizeof text);
    CHECK(strncmp(text, "hello\nworld", 11) == 0);
    CHECK(session_modes(c.s) & VT_MODE_BRACKETED_PASTE);
    struct session_summary sum;
    session_summary(c.s, &sum);
    CHECK_STR_EQ(sum.title, "my title");
    CHECK_STR_EQ(sum.cwd, "file:///tmp");
    CHECK_U64_EQ(sum.bells, 1);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    CHECK(sum.last_output_ms > 0 && sum.last_output_ms <= ms);
    CHECK_U64_EQ(session_last_output_ms(c.s), sum.last_output_ms);
    CHECK_EQ(c.titles, 1);
    /* The exit is told to watchers too. */
    unsigned before = c.changed;
    CHECK_EQ(session_write_input(c.s, (const uint8_t *)"\r", 1), 0);
    run_until(&c, has_exited);
    for (int i = 0; i < 10; i++)
        reactor_run_once(c.r, 30);
    CHECK(c.changed > before);
    session_unwatch(&c.w);
    session_unwatch(&c.w); /* accepted */
    session_free(c.s);
    reactor_free(c.r);
}

/* A watcher that unwatches itself when told. */
static void unwatch_self(struct session_watch *w)
{
    struct ctx *c = (struct ctx *)((char *)w - offsetof(struct ctx, w));
    c->changed++;
    session_unwatch(w);
}

TEST_BACKENDS(term_session_watcher_rate_limited_and_self_removal)
{
    struct ctx c = {0};
    /* A flood for a while: watchers are told at most every SESSION_WATCH_MS. */
    start(&c, backend, "i=0; while [ $i -lt 3000 ]; do echo line $i; i=$((i+1)); done", true);
    struct session_watch other = {.changed = on_changed};
    c.w.changed = unwatch_self;
    session_watch(c.s, &c.w);
    run_until(&c, has_exited);
    CHECK_EQ(c.changed, 1); /* it left at its first call */
    /* The final screen shows the last line. */
    const struct vt *vt = session_terminal(c.s, NULL);
    char text[512];
    vt_text(vt, text, sizeof text);
    CHECK_MSG(strstr(text, "line 2999") != NULL, "screen: %s", text);
    session_free(c.s);
    reactor_free(c.r);

    /* Again with a watcher that stays: told at most once per SESSION_WATCH_MS (counted
     * against the time between its first and last call, so a slow machine cannot fail it). */
    struct ctx d = {0};
    start(&d, backend, "i=0; while [ $i -lt 20000 ]; do echo line $i; i=$((i+1)); done", true);
    d.w.changed = on_changed;
    session_watch(d.s, &d.w);
    session_watch(d.s, &other);
    session_unwatch(&other);
    struct timespec t0 = {0}, t1;
    unsigned seen = 0;
    while (!d.exited) {
        reactor_run_once(d.r, 10);
        if (d.changed != seen) {
            seen = d.changed;
            clock_gettime(CLOCK_MONOTONIC, t0.tv_sec ? &t1 : &t0);
        }
    }
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK_MSG(d.changed >= 2 && d.changed <= ms / SESSION_WATCH_MS + 3, "%u calls in %.0f ms",
              d.changed, ms);
    session_unwatch(&d.w);
    session_free(d.s);
    reactor_free(d.r);
    return;
}

TEST_BACKENDS(term_session_state_off)
{
    struct ctx c = {0};
    start(&c, backend, "printf '\\033]2;t\\007x'", false);
    run_until(&c, has_exited);
    CHECK(!session_has_terminal(c.s));
    uint64_t off = 99;
    CHECK(session_terminal(c.s, &off) == NULL);
    CHECK_EQ(session_modes(c.s), 0);
    struct session_summary sum;
    session_summary(c.s, &sum);
    CHECK_STR_EQ(sum.title, "");
    CHECK(session_last_output_ms(c.s) > 0);
    session_free(c.s);
    reactor_free(c.r);
}
