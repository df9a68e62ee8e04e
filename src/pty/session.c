/* session: a program on a PTY, its scrollback ring, its subscribers, its input queue.
 * See session.h for the model; the comments here are about ordering and lifetimes. */
#include "pty/session.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/time.h>
#include <sys/wait.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "pty/ring.h"
#include "pty/sched.h"
#include "pty/spawn.h"
#include "pty/term_state.h"
#include "term/vt.h"

/* Bytes one readiness callback may read before yielding to other sessions. */
#define SESSION_READ_QUANTUM (64u * 1024)
/* A read is never smaller than this, so pausing happens when less room is left. */
#define SESSION_MIN_READ 4096u
/* New bulk output that tells the subscribers at once, batching or not. */
#define SESSION_BATCH_BYTES (64u * 1024)
/* How long to wait for EIO after the child exited (a grandchild may hold the slave). */
#define SESSION_DRAIN_NS (1000ull * 1000 * 1000)

/* A session's terminal state and what hangs off it (see the section at the end). */
struct session_term {
    struct term_state *ts; /* NULL with --terminal-state off */
    struct session_watch *watchers;
    struct session_watch *watch_next; /* the walk in progress, kept valid by unwatch */
    reactor_task watch_task, title_task;
    reactor_timer watch_timer; /* rate limit under a flood */
    reactor_timer sleep_timer; /* hibernation of an idle model */
    uint64_t watch_ns;         /* when watchers were last told */
    uint64_t meta_seq;         /* the title/cwd the summary holds */
    void (*on_title)(struct session *s, void *arg);
    bool replying;        /* our own answer is being queued: not filtered */
    pthread_mutex_t lock; /* title and cwd, read by session_summary from any thread */
    char *title, *cwd;
};

struct session {
    uint32_t id;
    char *name;
    char *command;
    reactor *r;
    struct ring ring;
    int master;
    reactor_io *mio;
    pid_t pid;
    int pidfd;
    reactor_io *pidio;
    bool child_exited; /* waitid has the status */
    bool eof;          /* the master said EIO: all output is in the ring */
    bool finished;     /* exit reported */
    bool paused;       /* reading suspended for a lossless subscriber */
    bool held;         /* hold_output: nothing read until the first attach */
    bool hup;          /* the master reported hang-up: the next empty read gives EIO */
    bool killing;
    bool removed;              /* forgotten by the table: freed once no subscriber is left */
    bool group_gone;           /* kill(-pgid) said ESRCH after the leader exited */
    char key[40];              /* PTYHUB_SESSION_KEY=...: finds descendants that left the group */
    struct session *hunt_next; /* on this thread's straggler hunt (session_hunt_add) */
    reactor_task hunt_task;    /* runs the hunt: one /proc walk for every hunting session */
    bool hunting;
    unsigned kill_grace_ms;
    int exit_code, exit_signal;
    struct sub *subs;
    uint8_t *in_buf;
    size_t in_alloc, in_cap, in_head, in_len;
    uint64_t in_queued, in_written; /* input offsets: accepted, and written to the PTY */
    struct session_waiter *waiters;
    reactor_timer kill_timer, drain_timer;
    reactor_task notify_task, input_task, free_task, exit_task;
    session_exit_cb on_exit;
    void *exit_arg;
    void (*on_resize)(struct session *s, void *arg);
    uint64_t created_ms;
    struct {
        _Atomic bool exited;
        _Atomic int exit_code, exit_signal;
        _Atomic unsigned clients, level;
        _Atomic uint16_t cols, rows;
        _Atomic uint64_t bytes_out, pauses, reclassified, answered;
        _Atomic unsigned cls;
        _Atomic uint64_t bells, last_output_ms;
    } sum;
    enum session_sched sched;
    struct session_term term;         /* terminal state, watchers, summary strings */
    uint64_t win_start_ns, win_bytes; /* output in the current classification window */
    uint64_t last_input_ns;
    bool bulk_read_one;        /* a bulk session reads once per readiness */
    uint64_t bulk_flush_ns;    /* a bulk session's new output waits this long at most (0: off) */
    size_t batch_bytes;        /* output read since the subscribers were last told */
    reactor_timer batch_timer; /* tells them when bulk_flush_ns is over */
    uint64_t latency_slice_ns; /* the program's slice while interactive (0: untouched) */
};

#define SUM_SET(s, f, v) atomic_store_explicit(&(s)->sum.f, (v), memory_order_relaxed)
#define SUM_GET(s, f) atomic_load_explicit(&(s)->sum.f, memory_order_relaxed)

/* CLOCK_MONOTONIC in ns (the vDSO: tens of ns), for the scheduler's time per class. */
static uint64_t monotonic_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int session_master_cb(reactor_io *io, unsigned events, void *arg);
static int session_pidfd_cb(reactor_io *io, unsigned events, void *arg);
static int session_kill_timer_cb(reactor_timer *t, void *arg);
static int session_drain_timer_cb(reactor_timer *t, void *arg);
static int session_batch_timer_cb(reactor_timer *t, void *arg);
static int session_hunt_task(reactor_task *t, void *arg);
static void session_batch_flush(struct session *s);
static int session_notify_task(reactor_task *t, void *arg);
static int session_input_task(reactor_task *t, void *arg);
static int session_free_task(reactor_task *t, void *arg);
static int session_exit_task(reactor_task *t, void *arg);
static void session_reaper_start(reactor *r, pid_t pid, int pidfd);
static void session_term_init(struct session *s, const struct session_opts *o, uint16_t cols,
                              uint16_t rows);
static void session_term_output(struct session *s, const uint8_t *p, size_t n);
static void session_term_after_read(struct session *s);
static void session_term_deinit(struct session *s);
static void session_term_answerers(struct session *s);
static void session_term_changed(struct session *s);
static void session_term_summary(const struct session *s, struct session_summary *out);
static size_t session_term_filter(struct session *s, const uint8_t **p, size_t n);

/* Joins argv with spaces for listings. */
static char *join_argv(const char *const *argv)
{
    size_t len = 1;
    for (size_t i = 0; argv[i]; i++)
        len += strlen(argv[i]) + 1;
    char *out = xmalloc(len), *p = out;
    for (size_t i = 0; argv[i]; i++) {
        size_t n = strlen(argv[i]);
        if (i)
            *p++ = ' ';
        memcpy(p, argv[i], n);
        p += n;
    }
    *p = '\0';
    return out;
}

/* Spawns the program and wires the master and pidfd into the reactor. */
int session_new(reactor *r, const struct session_opts *o, session_exit_cb on_exit, void *arg,
                struct session **out, char *err, size_t errlen)
{
    char idbuf[16];
    snprintf(idbuf, sizeof idbuf, "%u", o->id);
    /* A key no other process has, inherited by every descendant: what a kill uses to find
     * those that left the session's process group or session (setsid, set -m). */
    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
        rnd = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^ ((uint64_t)o->id << 16);
    char key[40];
    snprintf(key, sizeof key, "PTYHUB_SESSION_KEY=%016llx", (unsigned long long)rnd);
    size_t nextra = 0;
    while (o->env_extra && o->env_extra[nextra])
        nextra++;
    const char **env = xcalloc(nextra + 2, sizeof *env);
    for (size_t i = 0; i < nextra; i++)
        env[i] = o->env_extra[i];
    env[nextra] = key;
    struct spawn_opts so = {
        .argv = o->argv,
        .cwd = o->cwd,
        .env_extra = env,
        .cols = o->cols ? o->cols : 80,
        .rows = o->rows ? o->rows : 24,
        .session_id = idbuf,
    };
    struct spawn_result sr;
    int rc = spawn_pty(&so, &sr, err, errlen);
    free(env);
    if (rc < 0)
        return rc;
    struct session *s = xcalloc(1, sizeof *s);
    memcpy(s->key, key, sizeof key);
    s->id = o->id;
    s->name = xstrdup(o->name ? o->name : "");
    s->command = join_argv(o->argv);
    s->r = r;
    ring_init(&s->ring, o->scrollback ? o->scrollback : (1u << 20));
    s->master = sr.master;
    s->pid = sr.pid;
    s->pidfd = sr.pidfd;
    s->kill_grace_ms = o->kill_grace_ms;
    s->sched = o->sched;
    s->bulk_read_one = o->bulk_read_one;
    s->bulk_flush_ns = o->bulk_flush_ns;
    s->latency_slice_ns = o->latency_slice_ns;
    session_term_init(s, o, so.cols, so.rows);
    s->exit_code = -1;
    s->in_cap = o->input_queue ? o->input_queue : 1u << 20;
    s->on_exit = on_exit;
    s->exit_arg = arg;
    s->on_resize = o->on_resize;
    s->held = o->hold_output;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    s->created_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    SUM_SET(s, exit_code, -1);
    SUM_SET(s, cols, so.cols);
    SUM_SET(s, rows, so.rows);
    reactor_timer_init(&s->kill_timer, session_kill_timer_cb, s);
    reactor_timer_init(&s->drain_timer, session_drain_timer_cb, s);
    reactor_timer_init(&s->batch_timer, session_batch_timer_cb, s);
    reactor_task_init(&s->hunt_task, session_hunt_task, s);
    reactor_task_init(&s->notify_task, session_notify_task, s);
    reactor_task_init(&s->input_task, session_input_task, s);
    reactor_task_init(&s->free_task, session_free_task, s);
    reactor_task_init(&s->exit_task, session_exit_task, s);
    rc = reactor_io_new(r, s->master, s->held ? 0 : REACTOR_READ, session_master_cb, s, &s->mio);
    if (rc == 0)
        rc = reactor_io_new(r, s->pidfd, REACTOR_READ, session_pidfd_cb, s, &s->pidio);
    if (rc < 0) {
        snprintf(err, errlen, "cannot watch the new session: %s", strerror(-rc));
        kill(-s->pid, SIGKILL);
        reactor_io_free(s->mio);
        close(s->master);
        /* Reaped when it is gone, without waiting here. */
        session_reaper_start(r, s->pid, s->pidfd);
        ring_deinit(&s->ring);
        session_term_deinit(s);
        free(s->name);
        free(s->command);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

uint32_t session_id(const struct session *s)
{
    return s->id;
}

const char *session_name(const struct session *s)
{
    return s->name;
}

const char *session_command(const struct session *s)
{
    return s->command;
}

reactor *session_reactor(const struct session *s)
{
    return s->r;
}

bool session_exited(const struct session *s)
{
    return s->finished;
}

void session_exit_status(const struct session *s, int *code, int *sig)
{
    *code = s->exit_code;
    *sig = s->exit_signal;
}

uint64_t session_start(const struct session *s)
{
    return ring_start(&s->ring);
}

uint64_t session_end(const struct session *s)
{
    return ring_end(&s->ring);
}

void session_size(const struct session *s, uint16_t *cols, uint16_t *rows)
{
    *cols = SUM_GET(s, cols);
    *rows = SUM_GET(s, rows);
}

/* Fills a snapshot from the atomics; safe from any thread while s is alive. */
void session_summary(const struct session *s, struct session_summary *out)
{
    out->id = s->id;
    out->pid = s->pid;
    out->exited = SUM_GET(s, exited);
    out->exit_code = SUM_GET(s, exit_code);
    out->exit_signal = SUM_GET(s, exit_signal);
    out->clients = SUM_GET(s, clients);
    out->level = (enum session_level)SUM_GET(s, level);
    out->cols = SUM_GET(s, cols);
    out->rows = SUM_GET(s, rows);
    out->bytes_out = SUM_GET(s, bytes_out);
    out->created_ms = s->created_ms;
    out->pauses = SUM_GET(s, pauses);
    out->cls = (enum session_class)SUM_GET(s, cls);
    out->reclassified = SUM_GET(s, reclassified);
    out->answered = SUM_GET(s, answered);
    out->bells = SUM_GET(s, bells);
    out->last_output_ms = SUM_GET(s, last_output_ms);
    session_term_summary(s, out);
}

/* ---- scheduling class ---------------------------------------------------------------- */

/* Output over this much per window makes a session bulk; under the low mark, or a
 * keystroke, makes it interactive again (hysteresis). 256 KiB per 250 ms is 1 MiB/s:
 * no person reads that; every flood writes far more. */
#define SESSION_WINDOW_NS (250ull * 1000 * 1000)
#define SESSION_BULK_BYTES (256u * 1024)
#define SESSION_CALM_BYTES (16u * 1024)
/* Output in the current window past which a session's plain drawing may wait for whoever
 * needs its screen (src/pty/term_state.h), before the window ends and classifies it. */
#define SESSION_TERM_LAG_BYTES (64u * 1024)

/* Sets the CPU weight of the session's autogroup (every process of its session): nice
 * 19 for bulk, 0 for interactive. A write to procfs, no disk; ignored where autogroups
 * are off or the file is missing. Lowering is allowed to the owner; raising back to 0
 * is too, as it was 0 before (only going below the original needs CAP_SYS_NICE). */
static void session_set_weight(struct session *s, bool low)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/autogroup", (int)s->pid);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t w = write(fd, low ? "19" : "0", low ? 2 : 1);
    (void)w;
    close(fd);
}

/* Moves the session to a class. */
static void session_set_class(struct session *s, enum session_class cls)
{
    if ((enum session_class)SUM_GET(s, cls) == cls)
        return;
    SUM_SET(s, cls, (unsigned)cls);
    SUM_SET(s, reclassified, SUM_GET(s, reclassified) + 1);
    if (s->sched == SCHED_INTERACTIVE && s->mio)
        reactor_io_set_bulk(s->mio, cls == SESSION_BULK);
    if (cls != SESSION_BULK && s->batch_bytes)
        session_batch_flush(s);
    if (s->sched == SCHED_INTERACTIVE && !s->child_exited) {
        session_set_weight(s, cls == SESSION_BULK);
        if (s->latency_slice_ns)
            (void)sched_set_slice(s->pid, cls == SESSION_BULK ? 0 : s->latency_slice_ns);
    }
}

/* Accounts n output bytes and reclassifies at window boundaries. */
static void session_account_output(struct session *s, size_t n)
{
    uint64_t now = reactor_now_ns(s->r);
    if (now - s->win_start_ns >= SESSION_WINDOW_NS) {
        bool recent_input = now - s->last_input_ns < 2 * SESSION_WINDOW_NS;
        if (s->win_bytes < SESSION_CALM_BYTES || recent_input)
            session_set_class(s, SESSION_INTERACTIVE);
        s->win_start_ns = now;
        s->win_bytes = 0;
    }
    s->win_bytes += n;
    if (s->win_bytes >= SESSION_BULK_BYTES && now - s->last_input_ns >= 2 * SESSION_WINDOW_NS)
        session_set_class(s, SESSION_BULK);
}

/* ---- output and backpressure ------------------------------------------------------- */

/* Unread bytes of the slowest lossless subscriber (0 when there is none). */
/* Bytes a lossless subscriber holds back, and how many it allows at most. */
static uint64_t sub_backlog(const struct sub *u, uint64_t end)
{
    return end - (u->limit ? u->hold : u->cursor);
}

static uint64_t sub_limit(const struct session *s, const struct sub *u)
{
    return u->limit && u->limit < s->ring.capacity ? u->limit : s->ring.capacity;
}

/* Bytes that may be read before the tightest lossless subscriber's limit. */
static uint64_t session_room(const struct session *s)
{
    uint64_t end = ring_end(&s->ring), room = s->ring.capacity;
    for (const struct sub *u = s->subs; u; u = u->next) {
        if (!u->lossless)
            continue;
        uint64_t b = sub_backlog(u, end), l = sub_limit(s, u);
        uint64_t r = b >= l ? 0 : l - b;
        if (r < room)
            room = r;
    }
    return room;
}

/* The fullest lossless subscriber's backlog, scaled to the ring's capacity (so pausing,
 * resuming at half and the levels work the same for every limit). */
static uint64_t session_backlog(const struct session *s)
{
    uint64_t end = ring_end(&s->ring), worst = 0, cap = s->ring.capacity;
    for (const struct sub *u = s->subs; u; u = u->next) {
        if (!u->lossless)
            continue;
        uint64_t b = sub_backlog(u, end), l = sub_limit(s, u);
        uint64_t scaled = b >= l ? cap : b * cap / l;
        if (scaled > worst)
            worst = scaled;
    }
    return worst;
}

/* Recomputes the published backpressure level. */
static void session_update_level(struct session *s, uint64_t backlog)
{
    enum session_level lv;
    uint64_t cap = s->ring.capacity;
    if (s->paused)
        lv = LEVEL_BLOCKED;
    else if (backlog * 4 < cap)
        lv = LEVEL_NONE;
    else if (backlog * 2 < cap)
        lv = LEVEL_LIGHT;
    else if (backlog * 4 < cap * 3)
        lv = LEVEL_MODERATE;
    else
        lv = LEVEL_HEAVY;
    SUM_SET(s, level, (unsigned)lv);
}

/* Recomputes which events the master is watched for. */
static void session_update_interest(struct session *s)
{
    if (!s->mio)
        return;
    unsigned ev = 0;
    if (!s->paused && !s->held && !s->eof)
        ev |= REACTOR_READ;
    if (s->in_len)
        ev |= REACTOR_WRITE;
    reactor_io_set(s->mio, ev);
}

/* Suspends reading: the program blocks in write(), as on a real terminal. */
static void session_pause(struct session *s)
{
    if (s->paused)
        return;
    s->paused = true;
    SUM_SET(s, pauses, SUM_GET(s, pauses) + 1);
    session_update_interest(s);
    log_debug("session %u: paused for a lossless subscriber", s->id);
}

/* Resumes reading once the slowest lossless subscriber is down to half the ring. */
static void session_maybe_resume(struct session *s, uint64_t backlog)
{
    if (!s->paused || backlog > s->ring.capacity / 2)
        return;
    s->paused = false;
    session_update_interest(s);
}

/* Queues subscriber notification for the end of this turn. */
static void session_schedule_notify(struct session *s)
{
    reactor_task_schedule(s->r, &s->notify_task);
}

/* Tells each subscriber with something new (output, gap, exit) once per turn. */
static int session_notify_task(reactor_task *t, void *arg)
{
    (void)t;
    struct session *s = arg;
    uint64_t end = ring_end(&s->ring);
    for (struct sub *u = s->subs, *next; u; u = next) {
        next = u->next; /* notify may detach u */
        /* A removed session is also told to subscribers that have everything: they
         * let go then (a relay on another reactor has no other reason to look). */
        if (u->cursor < end || (s->finished && !u->exit_sent) || s->removed)
            u->ops->notify(u);
    }
    return 0;
}

/* Marks the output complete; reports the exit if the child is gone too. */
static void session_finish_if_done(struct session *s);

/* Stops reading for good: the master is at EIO, or the drain period ran out. */
static void session_close_master(struct session *s)
{
    if (s->eof)
        return;
    s->eof = true;
    reactor_io_free(s->mio);
    s->mio = NULL;
    close(s->master);
    s->master = -1;
    s->in_len = 0;
    session_finish_if_done(s);
}

/* Tells the subscribers at the end of this turn, and forgets any batch. */
static void session_batch_flush(struct session *s)
{
    s->batch_bytes = 0;
    reactor_timer_stop(s->r, &s->batch_timer);
    session_schedule_notify(s);
}

static int session_batch_timer_cb(reactor_timer *t, void *arg)
{
    (void)t;
    session_batch_flush(arg);
    return 0;
}

/* New output: the subscribers are told at the end of this turn, except a bulk session's
 * under SCHED_INTERACTIVE with bulk_flush_ns, which waits until SESSION_BATCH_BYTES are
 * new or bulk_flush_ns has passed since the first of them. Its clients then get a few
 * large writes instead of one per 4 KiB read, each waking the client and the daemon's
 * send path: CPU that typing elsewhere and the floods themselves get back. Nothing is
 * held once the session pauses, ends or turns interactive. */
static void session_output_notify(struct session *s, size_t n)
{
    /* A subscriber that holds the program by what it has drawn (the page) is not
     * batched: it is paced by its renderer, and a batch only fills its window in larger
     * steps, which Ctrl-C then has to wait out (bench/web_ctrlc.py: 77 against 107 ms). */
    bool renderer = false;
    for (const struct sub *u = s->subs; u && !renderer; u = u->next)
        renderer = u->limit != 0;
    if (!s->bulk_flush_ns || s->sched != SCHED_INTERACTIVE || SUM_GET(s, cls) != SESSION_BULK ||
        s->paused || s->eof || s->hup || renderer) {
        session_batch_flush(s);
        return;
    }
    s->batch_bytes += n;
    if (s->batch_bytes >= SESSION_BATCH_BYTES) {
        session_batch_flush(s);
        return;
    }
    if (!reactor_timer_active(&s->batch_timer))
        reactor_timer_start(s->r, &s->batch_timer, s->bulk_flush_ns);
}

/* Reads up to a quantum of output into the ring, as room for lossless subscribers
 * allows; yields with reactor_io_again when the quantum is used up.
 *
 * Reads are sized with FIONREAD and the loop stops when nothing is queued, instead of
 * reading until EAGAIN: on an empty PTY master, n_tty_read waits for the tty's pending
 * flush work (a kworker) before it says EAGAIN, even with O_NONBLOCK, and under a flood
 * that parks the whole reactor thread in D state. Data that the flush work delivers
 * later wakes the poll again. Only after a hang-up is the empty read made, to see EIO.
 *
 * A bulk session under SCHED_INTERACTIVE with bulk_read_one reads once per readiness (the
 * FIONREAD check stays, against a stale readiness): a tty read returns at most its 4 KiB
 * line buffer however much is asked for, and the kworker refills that buffer only after
 * the read, so a second read in the same callback finds little or nothing. One read
 * keeps every turn short for the keystrokes that share the thread; the poll reports the
 * refill. */
static void session_read(struct session *s)
{
    struct sched_thread *st = sched_thread();
    unsigned cls = SUM_GET(s, cls);
    size_t budget = SESSION_READ_QUANTUM;
    uint64_t t0 = monotonic_now_ns();
    bool has_lossless = false;
    for (struct sub *u = s->subs; u; u = u->next)
        has_lossless |= u->lossless;
    uint64_t start_end = ring_end(&s->ring);
    bool one = s->bulk_read_one && cls == SESSION_BULK && s->sched == SCHED_INTERACTIVE && !s->hup;
    while (budget > 0 && !s->eof) {
        /* Until the ring has wrapped once, one read per turn while anyone is attached:
         * subscribers are told before the first byte is overwritten, so a viewer that
         * OPENed a session (or attached from 0) starts with byte 0 however fast the
         * program writes and however small the ring. Later, viewers may fall behind. */
        if (s->subs && ring_end(&s->ring) != start_end && ring_end(&s->ring) < s->ring.capacity) {
            if (s->mio && !s->paused)
                reactor_io_again(s->mio, REACTOR_READ);
            break;
        }
        size_t want = budget;
        if (has_lossless) {
            uint64_t room = session_room(s);
            if (room < SESSION_MIN_READ) {
                session_pause(s);
                break;
            }
            if (room < want)
                want = (size_t)room;
        }
        int queued = 0;
        if (ioctl(s->master, FIONREAD, &queued) < 0)
            queued = -1; /* unknown: fall back to reading until EAGAIN */
        if (queued == 0 && !s->hup)
            break;
        if (queued > 0 && (size_t)queued < want && !one)
            want = (size_t)queued;
        uint8_t *p;
        size_t span = ring_write_span(&s->ring, want, &p);
        if (span > want)
            span = want;
        ssize_t n = read(s->master, p, span);
        if (n > 0) {
            ring_commit(&s->ring, (size_t)n);
            session_term_output(s, p, (size_t)n);
            budget -= (size_t)n;
            if (one)
                break;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        /* 0 or EIO: every slave fd is closed and the queue is drained. */
        session_close_master(s);
        break;
    }
    uint64_t end = ring_end(&s->ring);
    atomic_fetch_add_explicit(&st->read_ns[cls], monotonic_now_ns() - t0, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->read_bytes[cls], end - start_end, memory_order_relaxed);
    if (end != start_end) {
        session_account_output(s, (size_t)(end - start_end));
        SUM_SET(s, bytes_out, end);
        session_output_notify(s, (size_t)(end - start_end));
        session_term_after_read(s);
    }
    if (budget == 0 && s->mio && !s->paused)
        reactor_io_again(s->mio, REACTOR_READ);
    session_update_level(s, session_backlog(s));
}

/* Writes queued input without blocking; wakes input waiters once half is free. */
static void session_flush_input(struct session *s)
{
    while (s->in_len && !s->eof) {
        ssize_t n = write(s->master, s->in_buf + s->in_head, s->in_len);
        if (n > 0) {
            s->in_head += (size_t)n;
            s->in_len -= (size_t)n;
            s->in_written += (uint64_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        /* EIO: the slave side is gone; the exit path will follow. */
        s->in_len = 0;
        break;
    }
    if (!s->in_len) {
        s->in_head = 0;
        /* A drained queue gives its memory back beyond a small buffer. */
        if (s->in_alloc > 4096) {
            free(s->in_buf);
            s->in_buf = NULL;
            s->in_alloc = 0;
        }
    }
    session_update_interest(s);
    if (s->waiters)
        reactor_task_schedule(s->r, &s->input_task);
}

/* Master readiness: output to read, input to write, or hang-up. */
static int session_master_cb(reactor_io *io, unsigned events, void *arg)
{
    (void)io;
    struct session *s = arg;
    if (events & REACTOR_ERR)
        s->hup = true;
    if (events & REACTOR_WRITE)
        session_flush_input(s);
    if ((events & (REACTOR_READ | REACTOR_ERR)) && !s->paused && !s->held && !s->eof)
        session_read(s);
    return 0;
}

/* The child exited: collect its status, then wait for the output to drain. */
static int session_pidfd_cb(reactor_io *io, unsigned events, void *arg)
{
    (void)io;
    (void)events;
    struct session *s = arg;
    int code, sig;
    int rc = spawn_reap(s->pidfd, &code, &sig);
    if (rc == -EAGAIN)
        return 0;
    if (rc < 0) {
        code = -1;
        sig = 0;
    }
    s->child_exited = true;
    s->exit_code = code;
    s->exit_signal = sig;
    reactor_io_free(s->pidio);
    s->pidio = NULL;
    close(s->pidfd);
    s->pidfd = -1;
    /* A kill in progress goes on: members of the group that ignore SIGHUP still get the
     * SIGKILL when the grace period is over. */
    if (!s->killing)
        reactor_timer_stop(s->r, &s->kill_timer);
    if (!s->eof) {
        /* Read what is left now; EIO normally follows at once. */
        if (!s->paused && !s->held)
            session_read(s);
        if (!s->eof)
            reactor_timer_start(s->r, &s->drain_timer, SESSION_DRAIN_NS);
    }
    session_finish_if_done(s);
    return rc < 0 ? rc : 0;
}

/* The child is gone but something still holds the slave: stop waiting for EIO, unless
 * a lossless subscriber is still holding output back (then it is not our delay). */
static int session_drain_timer_cb(reactor_timer *t, void *arg)
{
    (void)t;
    struct session *s = arg;
    if (s->paused || s->held) {
        reactor_timer_start(s->r, &s->drain_timer, SESSION_DRAIN_NS);
        return 0;
    }
    session_read(s);
    session_close_master(s);
    return 0;
}

static void session_finish_if_done(struct session *s)
{
    if (s->finished || !s->eof || !s->child_exited)
        return;
    s->finished = true;
    reactor_timer_stop(s->r, &s->drain_timer);
    if (!s->killing)
        reactor_timer_stop(s->r, &s->kill_timer);
    SUM_SET(s, exit_code, s->exit_code);
    SUM_SET(s, exit_signal, s->exit_signal);
    SUM_SET(s, exited, true);
    s->paused = false;
    session_update_level(s, 0);
    /* Everyone learns of the end from tasks at the end of this turn, never from inside
     * the call that noticed it (a waiter or the exit report may remove the session). */
    reactor_task_schedule(s->r, &s->input_task);
    session_schedule_notify(s);
    reactor_task_schedule(s->r, &s->exit_task);
    session_term_changed(s); /* watchers hear of the exit too */
}

/* Reports the exit to the owner (the table), from a task. */
static int session_exit_task(reactor_task *t, void *arg)
{
    (void)t;
    struct session *s = arg;
    if (s->on_exit)
        s->on_exit(s, s->exit_arg);
    return 0;
}

/* ---- subscribers ------------------------------------------------------------------- */

/* Starts reading a held session's output (its first attach, or a kill). */
static void session_release_hold(struct session *s)
{
    if (!s->held)
        return;
    s->held = false;
    session_update_interest(s);
}

bool session_held(const struct session *s)
{
    return s->held;
}

/* Attaches a subscriber at `from`. */
void session_attach(struct session *s, struct sub *sub, uint64_t from)
{
    sub->s = s;
    sub->cursor = from;
    sub->notified = false;
    sub->exit_sent = false;
    sub->prev = NULL;
    sub->next = s->subs;
    if (s->subs)
        s->subs->prev = sub;
    s->subs = sub;
    SUM_SET(s, clients, SUM_GET(s, clients) + 1);
    session_term_answerers(s);
    if (from < ring_end(&s->ring) || s->finished)
        session_schedule_notify(s);
    if (sub->lossless && !s->paused && s->mio && session_room(s) < SESSION_MIN_READ)
        session_pause(s);
    session_release_hold(s);
    session_update_level(s, session_backlog(s));
}

/* Detaches a subscriber; its backlog no longer holds the PTY. */
void session_detach(struct sub *sub)
{
    struct session *s = sub->s;
    if (!s)
        return;
    if (sub->prev)
        sub->prev->next = sub->next;
    else
        s->subs = sub->next;
    if (sub->next)
        sub->next->prev = sub->prev;
    sub->s = NULL;
    sub->prev = sub->next = NULL;
    SUM_SET(s, clients, SUM_GET(s, clients) - 1);
    session_term_answerers(s);
    uint64_t backlog = session_backlog(s);
    session_maybe_resume(s, backlog);
    session_update_level(s, backlog);
    if (s->removed && !s->subs)
        reactor_defer(s->r, &s->free_task);
}

/* Describes retained bytes from `from`. */
ssize_t session_peek(const struct session *s, uint64_t from, size_t max, struct iovec iov[2],
                     int *iovcnt)
{
    return ring_peek(&s->ring, from, max, iov, iovcnt);
}

/* Records a subscriber's progress and resumes the PTY when the backlog allows. */
void sub_consumed(struct sub *sub, uint64_t cursor)
{
    struct session *s = sub->s;
    if (!s || cursor <= sub->cursor)
        return;
    sub->cursor = cursor;
    if (!sub->lossless)
        return;
    uint64_t backlog = session_backlog(s);
    session_maybe_resume(s, backlog);
    session_update_level(s, backlog);
}

/* Records an acknowledgement and resumes the PTY when the backlog allows. */
void sub_hold(struct sub *sub, uint64_t offset)
{
    struct session *s = sub->s;
    if (!s || !sub->limit || offset <= sub->hold)
        return;
    sub->hold = offset;
    if (!sub->lossless)
        return;
    uint64_t backlog = session_backlog(s);
    session_maybe_resume(s, backlog);
    session_update_level(s, backlog);
}

/* ---- input, size, signals ---------------------------------------------------------- */

/* Bytes the queue can take now. */
size_t session_input_room(const struct session *s)
{
    return s->finished || s->eof ? 0 : s->in_cap - s->in_len;
}

size_t session_input_capacity(const struct session *s)
{
    return s->in_cap;
}

uint64_t session_input_queued(const struct session *s)
{
    return s->in_queued;
}

uint64_t session_input_written(const struct session *s)
{
    return s->in_written;
}

/* Queues input, all or nothing, and writes what the PTY takes right away. */
int session_write_input(struct session *s, const uint8_t *p, size_t n)
{
    if (s->finished || s->eof)
        return -EPIPE;
    n = session_term_filter(s, &p, n);
    if (n > s->in_cap - s->in_len)
        return -EAGAIN;
    if (n == 0)
        return 0;
    if (s->in_head + s->in_len + n > s->in_alloc) {
        if (s->in_head) {
            memmove(s->in_buf, s->in_buf + s->in_head, s->in_len);
            s->in_head = 0;
        }
        if (s->in_len + n > s->in_alloc) {
            size_t a = s->in_alloc ? s->in_alloc : 4096;
            while (a < s->in_len + n)
                a *= 2;
            if (a > s->in_cap)
                a = s->in_cap;
            s->in_buf = xrealloc(s->in_buf, a);
            s->in_alloc = a;
        }
    }
    memcpy(s->in_buf + s->in_head + s->in_len, p, n);
    s->in_len += n;
    s->in_queued += n;
    /* Typed into: interactive at once (a Ctrl-C into a flood must not wait behind it).
     * The daemon's own answer to a terminal query is not typing. */
    if (!s->term.replying) {
        s->last_input_ns = reactor_now_ns(s->r);
        session_set_class(s, SESSION_INTERACTIVE);
    }
    session_flush_input(s);
    return 0;
}

/* True when w's condition holds (or can no longer change). */
static bool waiter_ready(const struct session *s, const struct session_waiter *w)
{
    if (s->finished || s->eof)
        return true;
    if (w->kind == SESSION_WAIT_ROOM)
        return s->in_cap - s->in_len >= w->amount;
    return s->in_written >= w->amount;
}

/* Adds a waiter; it is woken from a task, even when its condition holds already. */
void session_wait_input(struct session *s, struct session_waiter *w)
{
    if (w->s)
        return;
    w->s = s;
    w->prev = NULL;
    w->next = s->waiters;
    if (s->waiters)
        s->waiters->prev = w;
    s->waiters = w;
    if (waiter_ready(s, w))
        reactor_task_schedule(s->r, &s->input_task);
}

/* Wakes the waiters whose condition holds (end-of-turn task). They are unlinked first,
 * so a ready() that adds or cancels waiters cannot upset the walk. */
static int session_input_task(reactor_task *t, void *arg)
{
    (void)t;
    struct session *s = arg;
    struct session_waiter *woken = NULL, **tail = &woken;
    for (struct session_waiter *w = s->waiters, *next; w; w = next) {
        next = w->next;
        if (!waiter_ready(s, w))
            continue;
        session_waiter_cancel(w);
        w->s = s; /* still names its session while being woken */
        *tail = w;
        tail = &w->next;
    }
    /* Oldest first: waiters were pushed at the front. */
    struct session_waiter *rev = NULL;
    while (woken) {
        struct session_waiter *w = woken;
        woken = w->next;
        w->next = rev;
        rev = w;
    }
    while (rev) {
        struct session_waiter *w = rev;
        rev = w->next;
        w->next = NULL;
        w->s = NULL;
        w->ready(w);
    }
    return 0;
}

/* Removes a waiter. */
void session_waiter_cancel(struct session_waiter *w)
{
    struct session *s = w->s;
    if (!s)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        s->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->s = NULL;
    w->prev = w->next = NULL;
}

/* Sets the terminal size. */
int session_resize(struct session *s, uint16_t cols, uint16_t rows)
{
    if (s->eof)
        return -EPIPE;
    int rc = spawn_set_size(s->master, cols, rows);
    if (rc == 0) {
        SUM_SET(s, cols, cols);
        SUM_SET(s, rows, rows);
        if (s->term.ts) {
            term_state_resize(s->term.ts, &s->ring, cols, rows);
            session_term_changed(s);
        }
        for (struct sub *u = s->subs; u; u = u->next)
            if (u->ops->resized)
                u->ops->resized(u, cols, rows);
        if (s->on_resize)
            s->on_resize(s, s->exit_arg);
    }
    return rc;
}

/* Signals the session's process group (the child leads its own session). After the
 * leader exited, the group may still have members (a grandchild ignoring SIGHUP): they
 * are reached through the group id, which the kernel does not reuse while it exists. */
int session_signal(struct session *s, int sig)
{
    if (s->group_gone)
        return -ESRCH;
    if (kill(-s->pid, sig) == 0)
        return 0;
    int err = errno;
    if (!s->child_exited && kill(s->pid, sig) == 0)
        return 0;
    if (s->child_exited && err == ESRCH)
        s->group_gone = true;
    return -err;
}

/* True when the NUL-separated environment in buf holds the entry `entry`. */
static bool environ_has(const char *buf, size_t len, const char *entry)
{
    size_t n = strlen(entry);
    for (size_t i = 0; i < len;) {
        const char *e = memchr(buf + i, '\0', len - i);
        size_t elen = e ? (size_t)(e - (buf + i)) : len - i;
        if (elen == n && memcmp(buf + i, entry, n) == 0)
            return true;
        i += elen + 1;
    }
    return false;
}

/* Reads at most cap bytes of a small /proc file. */
static ssize_t proc_read(int dirfd, const char *name, char *buf, size_t cap)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap);
    close(fd);
    return n;
}

/* Sends sig to every process of the n sessions that left their process group: those
 * still in a session's kernel session (a job of its shell: set -m), and any carrying a
 * session's key in their environment (a setsid'ed grandchild). Returns how many were
 * signalled. One walk of /proc (no disk, bounded by the process count) serves all n. */
static unsigned session_signal_stragglers_of(struct session *const *ss, size_t nss, int sig)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    unsigned n = 0;
    size_t envcap = 64 * 1024;
    char *env = xmalloc(envcap), stat[512];
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 1 || pid == getpid())
            continue;
        int dfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            continue;
        bool ours = false, zombie = false;
        ssize_t k = proc_read(dfd, "stat", stat, sizeof stat - 1);
        if (k > 0) {
            stat[k] = '\0';
            const char *p = strrchr(stat, ')');
            char state;
            int ppid, pgrp, sid;
            if (p && sscanf(p + 1, " %c %d %d %d", &state, &ppid, &pgrp, &sid) == 4) {
                zombie = state == 'Z';
                for (size_t i = 0; i < nss && !zombie && !ours; i++)
                    ours = sid == ss[i]->pid;
            }
        }
        if (!ours && !zombie) {
            k = proc_read(dfd, "environ", env, envcap);
            for (size_t i = 0; i < nss && k > 0 && !ours; i++)
                ours = environ_has(env, (size_t)k, ss[i]->key);
        }
        close(dfd);
        if (ours && kill((pid_t)pid, sig) == 0)
            n++;
    }
    closedir(d);
    free(env);
    return n;
}

static unsigned session_signal_stragglers(struct session *s, int sig)
{
    return session_signal_stragglers_of(&s, 1, sig);
}

/* Sessions of this reactor thread whose kill grace ran out, for one /proc walk at the end
 * of the turn. At shutdown thousands of sessions reach their grace at once, and a walk
 * each (every process's stat and environ, per session) took minutes with 4,000 sessions
 * on one reactor, the reactor doing nothing else meanwhile. Only pointers live here:
 * each session's own task runs the walk (the first to run takes everyone), and a
 * session leaves the list when freed. */
static __thread struct session *hunt_head;

static int session_hunt_task(reactor_task *t, void *arg)
{
    (void)t;
    struct session *self = arg;
    if (!self->hunting)
        return 0; /* an earlier session's task of this turn walked for it */
    size_t n = 0, cap = 0;
    struct session **ss = NULL;
    for (struct session *s = hunt_head; s; s = s->hunt_next) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            ss = xrealloc(ss, cap * sizeof *ss);
        }
        ss[n++] = s;
    }
    unsigned killed = n ? session_signal_stragglers_of(ss, n, SIGKILL) : 0;
    if (killed)
        log_info("killed %u process(es) that had left the process group of %zu killed "
                 "session(s)",
                 killed, n);
    for (size_t i = 0; i < n; i++) {
        ss[i]->hunting = false;
        ss[i]->hunt_next = NULL;
    }
    hunt_head = NULL;
    free(ss);
    return 0;
}

/* Queues the session for this turn's straggler walk. */
static void session_hunt_add(struct session *s)
{
    if (s->hunting)
        return;
    s->hunting = true;
    s->hunt_next = hunt_head;
    hunt_head = s;
    reactor_task_schedule(s->r, &s->hunt_task);
}

/* Takes the session off the walk (it is being freed). */
static void session_hunt_remove(struct session *s)
{
    if (!s->hunting)
        return;
    for (struct session **pp = &hunt_head; *pp; pp = &(*pp)->hunt_next) {
        if (*pp == s) {
            *pp = s->hunt_next;
            break;
        }
    }
    s->hunting = false;
    s->hunt_next = NULL;
}

/* SIGKILL to the whole group, and to descendants that left it, once the grace period
 * is over. */
static int session_kill_timer_cb(reactor_timer *t, void *arg)
{
    (void)t;
    struct session *s = arg;
    if (session_signal(s, 0) == 0) {
        log_info("session %u: processes left %u ms after SIGHUP, sending SIGKILL", s->id,
                 s->kill_grace_ms);
        session_signal(s, SIGKILL);
    }
    session_hunt_add(s); /* descendants that left the group: one walk per turn */
    return 0;
}

/* SIGHUP now, SIGKILL to the group (and its strays) after the grace period. */
int session_kill(struct session *s)
{
    /* A held session that is killed must still drain and report its exit. */
    session_release_hold(s);
    if (session_signal(s, 0) < 0) {
        /* The group is gone; descendants that left it may not be. */
        return session_signal_stragglers(s, SIGKILL) ? 0 : -ESRCH;
    }
    if (s->kill_grace_ms == 0 || s->killing) {
        if (s->killing && reactor_timer_active(&s->kill_timer))
            return 0;
        s->killing = true;
        session_signal(s, SIGKILL);
        session_signal_stragglers(s, SIGKILL);
        return 0;
    }
    s->killing = true;
    session_signal(s, SIGHUP);
    session_signal(s, SIGCONT); /* a stopped job must run to see the hang-up */
    reactor_timer_start(s->r, &s->kill_timer, (uint64_t)s->kill_grace_ms * 1000000);
    return 0;
}

/* ---- removal, reaping, freeing ------------------------------------------------------ */

struct reaper {
    pid_t pid;
    int pidfd;
    reactor_io *io;
};

/* A killed child is gone: reap it, free the watcher. */
static int reaper_cb(reactor_io *io, unsigned events, void *arg)
{
    (void)events;
    struct reaper *rp = arg;
    int code, sig;
    if (spawn_reap(rp->pidfd, &code, &sig) == -EAGAIN)
        return 0;
    reactor_io_free(io);
    close(rp->pidfd);
    free(rp);
    return 0;
}

/* Reaps a SIGKILLed child asynchronously: a reactor thread never waits for a process. */
static void session_reaper_start(reactor *r, pid_t pid, int pidfd)
{
    struct reaper *rp = xcalloc(1, sizeof *rp);
    rp->pid = pid;
    rp->pidfd = pidfd;
    if (reactor_io_new(r, pidfd, REACTOR_READ, reaper_cb, rp, &rp->io) < 0) {
        /* Cannot watch it: leave the pidfd open rather than block; it is reaped at exit. */
        log_warn("cannot watch pid %d to reap it", (int)pid);
        free(rp);
    }
}

/* Frees a removed session whose last subscriber left (deferred to the turn's end). */
static int session_free_task(reactor_task *t, void *arg)
{
    (void)t;
    struct session *s = arg;
    if (s->subs)
        return 0; /* someone attached again in between: freed when it leaves */
    session_free(s);
    return 0;
}

bool session_removed(const struct session *s)
{
    return s->removed;
}

/* Forgets the session: subscribers drain, then it is freed at the end of a turn. */
void session_remove(struct session *s)
{
    if (s->removed)
        return;
    s->removed = true;
    if (s->killing || !s->finished)
        session_signal(s, SIGKILL);
    reactor_timer_stop(s->r, &s->kill_timer);
    if (!s->subs)
        reactor_defer(s->r, &s->free_task);
    else
        session_schedule_notify(s);
}

/* Frees the session. A running child is killed; it is reaped by a watcher when the
 * session was removed at run time, or waited for at teardown. */
void session_free(struct session *s)
{
    if (!s)
        return;
    if (!s->child_exited && s->pidfd >= 0) {
        kill(-s->pid, SIGKILL);
        kill(s->pid, SIGKILL);
        if (s->removed) {
            /* On a running reactor: reap it later, never wait here. */
            reactor_io_free(s->pidio);
            s->pidio = NULL;
            session_reaper_start(s->r, s->pid, s->pidfd);
            s->pidfd = -1;
        } else {
            /* Teardown: the reactors have stopped, so waiting blocks nobody. */
            siginfo_t si;
            while (waitid((idtype_t)P_PIDFD, (id_t)s->pidfd, &si, WEXITED) < 0 && errno == EINTR)
                ;
        }
    }
    while (s->subs) {
        struct sub *u = s->subs;
        session_detach(u);
        u->ops->gone(u, s);
    }
    while (s->waiters)
        session_waiter_cancel(s->waiters);
    reactor_timer_stop(s->r, &s->kill_timer);
    reactor_timer_stop(s->r, &s->drain_timer);
    reactor_timer_stop(s->r, &s->batch_timer);
    reactor_task_cancel(s->r, &s->notify_task);
    reactor_task_cancel(s->r, &s->input_task);
    reactor_task_cancel(s->r, &s->free_task);
    reactor_task_cancel(s->r, &s->exit_task);
    reactor_task_cancel(s->r, &s->hunt_task);
    session_hunt_remove(s);
    session_term_deinit(s);
    reactor_io_free(s->mio);
    reactor_io_free(s->pidio);
    if (s->master >= 0)
        close(s->master);
    if (s->pidfd >= 0)
        close(s->pidfd);
    ring_deinit(&s->ring);
    free(s->in_buf);
    free(s->name);
    free(s->command);
    free(s);
}

/* ---- terminal state --------------------------------------------------------------------
 * The model (term_state.c) is fed from the read loop, answers queries itself as input,
 * filters terminals' duplicate replies out of client input, tells watchers, publishes the
 * title, cwd and bells for listings, and hibernates when the session has been quiet. */

/* A model untouched for this long is replaced by its snapshot. */
#define SESSION_SLEEP_NS (10ull * 1000 * 1000 * 1000)

static int session_watch_task(reactor_task *t, void *arg);
static int session_title_task(reactor_task *t, void *arg);
static int session_watch_timer_cb(reactor_timer *t, void *arg);
static int session_sleep_timer_cb(reactor_timer *t, void *arg);

/* Queues the daemon's answer to a query as the program's input (never filtered). */
static void session_term_reply(void *arg, const uint8_t *p, size_t n)
{
    struct session *s = arg;
    s->term.replying = true;
    if (session_write_input(s, p, n) == 0)
        SUM_SET(s, answered, SUM_GET(s, answered) + 1);
    s->term.replying = false;
}

/* Sets up terminal state when the options ask for it. */
static void session_term_init(struct session *s, const struct session_opts *o, uint16_t cols,
                              uint16_t rows)
{
    struct session_term *t = &s->term;
    pthread_mutex_init(&t->lock, NULL);
    reactor_task_init(&t->watch_task, session_watch_task, s);
    reactor_task_init(&t->title_task, session_title_task, s);
    reactor_timer_init(&t->watch_timer, session_watch_timer_cb, s);
    reactor_timer_init(&t->sleep_timer, session_sleep_timer_cb, s);
    t->on_title = o->on_title;
    if (!o->terminal_state)
        return;
    t->ts = term_state_new(cols, rows, term_feed_from_env(), session_term_reply, s);
    reactor_timer_start(s->r, &t->sleep_timer, SESSION_SLEEP_NS);
}

/* Frees terminal state and cancels its tasks and timers; watchers are forgotten. */
static void session_term_deinit(struct session *s)
{
    struct session_term *t = &s->term;
    while (t->watchers)
        session_unwatch(t->watchers);
    reactor_task_cancel(s->r, &t->watch_task);
    reactor_task_cancel(s->r, &t->title_task);
    reactor_timer_stop(s->r, &t->watch_timer);
    reactor_timer_stop(s->r, &t->sleep_timer);
    term_state_free(t->ts);
    t->ts = NULL;
    free(t->title);
    free(t->cwd);
    t->title = t->cwd = NULL;
    pthread_mutex_destroy(&t->lock);
}

/* Counts the clients whose terminals may answer queries too (interactive ones). */
static void session_term_answerers(struct session *s)
{
    if (!s->term.ts)
        return;
    unsigned n = 0;
    for (const struct sub *u = s->subs; u; u = u->next)
        n += u->interactive;
    term_state_set_answerers(s->term.ts, n);
}

/* New output in the ring: to the model (now, or later for plain text of a flood). */
static void session_term_output(struct session *s, const uint8_t *p, size_t n)
{
    if (!s->term.ts)
        return;
    /* Counted again right before the model may answer: attach and detach keep it, and a
     * client's `interactive` flag may have been set after session_attach. */
    session_term_answerers(s);
    /* A flood may lag from its first 64 KiB on, not only once its class turned bulk at
     * the end of a 250 ms window: until then it was fed inline, which cost coloured and
     * full-screen floods 12-24 % of their throughput (bench/terminal.py). */
    bool flood = (enum session_class)SUM_GET(s, cls) == SESSION_BULK ||
                 s->win_bytes >= SESSION_TERM_LAG_BYTES;
    term_state_output(s->term.ts, &s->ring, p, n, flood);
}

/* Copies at most cap-1 bytes of v into a fresh string, cut at a UTF-8 boundary. */
static char *dup_trunc(const char *v, size_t cap)
{
    size_t n = strlen(v);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((uint8_t)v[n] & 0xc0) == 0x80)
            n--;
    }
    char *out = xmalloc(n + 1);
    memcpy(out, v, n);
    out[n] = 0;
    return out;
}

/* After a read with output: last output time, summary, watchers, title, hibernation. */
static void session_term_after_read(struct session *s)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    SUM_SET(s, last_output_ms, (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000);
    struct session_term *t = &s->term;
    if (!t->ts)
        return;
    SUM_SET(s, bells, term_state_bells(t->ts));
    if (term_state_meta_seq(t->ts) != t->meta_seq) {
        t->meta_seq = term_state_meta_seq(t->ts);
        char *title =
            dup_trunc(term_state_title(t->ts), sizeof(((struct session_summary *)0)->title));
        char *cwd = dup_trunc(term_state_cwd(t->ts), sizeof(((struct session_summary *)0)->cwd));
        pthread_mutex_lock(&t->lock);
        char *old_title = t->title, *old_cwd = t->cwd;
        t->title = title;
        t->cwd = cwd;
        pthread_mutex_unlock(&t->lock);
        free(old_title);
        free(old_cwd);
        if (t->on_title)
            reactor_task_schedule(s->r, &t->title_task);
    }
    session_term_changed(s);
    if (!reactor_timer_active(&t->sleep_timer))
        reactor_timer_start(s->r, &t->sleep_timer, SESSION_SLEEP_NS);
}

/* Copies title and cwd into a summary (any thread). */
static void session_term_summary(const struct session *s, struct session_summary *out)
{
    struct session_term *t = (struct session_term *)&s->term;
    pthread_mutex_lock(&t->lock);
    snprintf(out->title, sizeof out->title, "%s", t->title ? t->title : "");
    snprintf(out->cwd, sizeof out->cwd, "%s", t->cwd ? t->cwd : "");
    pthread_mutex_unlock(&t->lock);
}

/* Drops terminals' replies to queries the daemon answered from client input. */
static size_t session_term_filter(struct session *s, const uint8_t **p, size_t n)
{
    if (!s->term.ts || s->term.replying)
        return n;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    size_t start;
    size_t kept = term_state_filter(s->term.ts, ms, *p, n, &start);
    *p += start;
    return kept;
}

/* Tells watchers at the end of this turn, or when the rate limit allows. */
static void session_term_changed(struct session *s)
{
    struct session_term *t = &s->term;
    if (!t->watchers || reactor_timer_active(&t->watch_timer))
        return;
    uint64_t now = reactor_now_ns(s->r), gap = SESSION_WATCH_MS * 1000000ull;
    if (s->finished || now - t->watch_ns >= gap)
        reactor_task_schedule(s->r, &t->watch_task);
    else
        reactor_timer_start(s->r, &t->watch_timer, gap - (now - t->watch_ns));
}

/* The rate limit is over: tell the watchers (from a task, like every notification). */
static int session_watch_timer_cb(reactor_timer *tm, void *arg)
{
    (void)tm;
    struct session *s = arg;
    reactor_task_schedule(s->r, &s->term.watch_task);
    return 0;
}

/* Calls every watcher's changed(); a watcher may unwatch itself or another meanwhile. */
static int session_watch_task(reactor_task *tk, void *arg)
{
    (void)tk;
    struct session *s = arg;
    struct session_term *t = &s->term;
    t->watch_ns = reactor_now_ns(s->r);
    for (struct session_watch *w = t->watchers; w; w = t->watch_next) {
        t->watch_next = w->next;
        w->changed(w);
    }
    t->watch_next = NULL;
    return 0;
}

/* Tells the owner the title changed (from a task). */
static int session_title_task(reactor_task *tk, void *arg)
{
    (void)tk;
    struct session *s = arg;
    if (s->term.on_title)
        s->term.on_title(s, s->exit_arg);
    return 0;
}

/* Hibernates a model that has been quiet for SESSION_SLEEP_NS and nobody watches. */
static int session_sleep_timer_cb(reactor_timer *tm, void *arg)
{
    (void)tm;
    struct session *s = arg;
    struct session_term *t = &s->term;
    if (!t->ts || term_state_sleeping(t->ts))
        return 0;
    uint64_t quiet_ns = 0, last = SUM_GET(s, last_output_ms);
    if (last) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        uint64_t ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
        quiet_ns = ms > last ? (ms - last) * 1000000ull : 0;
    } else {
        quiet_ns = SESSION_SLEEP_NS;
    }
    if (quiet_ns < SESSION_SLEEP_NS) {
        reactor_timer_start(s->r, &t->sleep_timer, SESSION_SLEEP_NS - quiet_ns);
        return 0;
    }
    if (t->watchers)
        return 0; /* someone reads the screen: re-armed by the next output */
    term_state_sync(t->ts, &s->ring);
    if (term_state_hibernate(t->ts)) {
        /* Give the freed cells back to the kernel, at most once a second per thread
         * (malloc_trim walks the arena): thousands of idle screens are the point. */
        static _Thread_local uint64_t last_trim;
        uint64_t now = reactor_now_ns(s->r);
        if (now - last_trim >= 1000000000ull) {
            last_trim = now;
            malloc_trim(0);
        }
    }
    return 0;
}

bool session_has_terminal(const struct session *s)
{
    return s->term.ts != NULL;
}

const struct vt *session_terminal(struct session *s, uint64_t *offset)
{
    struct session_term *t = &s->term;
    if (offset)
        *offset = ring_end(&s->ring);
    if (!t->ts)
        return NULL;
    const struct vt *vt = term_state_sync(t->ts, &s->ring);
    SUM_SET(s, bells, term_state_bells(t->ts));
    if (!reactor_timer_active(&t->sleep_timer))
        reactor_timer_start(s->r, &t->sleep_timer, SESSION_SLEEP_NS);
    return vt;
}

void session_watch(struct session *s, struct session_watch *w)
{
    if (w->s)
        return;
    w->s = s;
    w->prev = NULL;
    w->next = s->term.watchers;
    if (w->next)
        w->next->prev = w;
    s->term.watchers = w;
}

void session_unwatch(struct session_watch *w)
{
    struct session *s = w->s;
    if (!s)
        return;
    struct session_term *t = &s->term;
    if (t->watch_next == w)
        t->watch_next = w->next;
    if (w->prev)
        w->prev->next = w->next;
    else
        t->watchers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->s = NULL;
    w->prev = w->next = NULL;
}

uint64_t session_last_output_ms(const struct session *s)
{
    return SUM_GET(s, last_output_ms);
}

unsigned session_modes(struct session *s)
{
    return s->term.ts ? term_state_modes(s->term.ts) : 0;
}
