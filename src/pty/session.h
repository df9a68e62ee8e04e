/* session: one program on one PTY, living on one reactor.
 *
 * Output is read straight into the session's scrollback ring; each output byte has a
 * u64 offset. Subscribers are cursors into that ring: the session only tells them (at
 * the end of the reactor turn, once) that there is something new, and they pull bytes
 * with session_peek() and report progress with sub_consumed(). A lossless subscriber
 * holds the PTY back: reading stops when its unread backlog nears the ring's capacity
 * and resumes, with hysteresis, once it has drained to half. A viewer never slows the
 * program: when it falls out of the ring it gets a gap and jumps to the live edge.
 *
 * Exit is reported only after the child has exited (pidfd) and its output has been
 * drained to EIO — or, when a grandchild keeps the slave open, a short drain period
 * after the child's exit — so EXIT always follows the last output byte.
 *
 * Everything here runs on the session's reactor thread, except the summary fields read
 * by session_summary(), which are atomics. */
#ifndef PTYHUB_SESSION_H
#define PTYHUB_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "core/reactor.h"

struct session;
struct sub;

enum session_level { LEVEL_NONE, LEVEL_LIGHT, LEVEL_MODERATE, LEVEL_HEAVY, LEVEL_BLOCKED };

/* Scheduling class (see session_sched_*): a session typed into recently or with a low
 * output rate is interactive; one that floods output is bulk. */
enum session_class { SESSION_INTERACTIVE, SESSION_BULK };
/* How the daemon treats bulk sessions: SCHED_FIFO_MODE changes nothing (the old
 * behaviour); SCHED_INTERACTIVE lowers a bulk session's CPU weight (its autogroup's nice
 * value, with kernel.sched_autogroup_enabled) so a keystroke's path — the daemon, the
 * typed-into program, the tty flush — is not queued behind flooding producers. */
enum session_sched { SCHED_FIFO_MODE, SCHED_INTERACTIVE };

struct sub_ops {
    /* New output, a gap, or the exit is ready for this subscriber. Called at the end of
     * the reactor turn in which it happened. */
    void (*notify)(struct sub *sub);
    /* The session is being freed: forget the subscription (it is already detached).
     * s is still readable during the call (output, exit status), so the owner can
     * deliver what this subscriber had not received yet. */
    void (*gone)(struct sub *sub, struct session *s);
    /* The terminal size changed (may be NULL). Called during session_resize: it may only
     * queue something for later, never call back into the session. */
    void (*resized)(struct sub *sub, uint16_t cols, uint16_t rows);
};

/* A subscriber: caller storage, attached with session_attach(). */
struct sub {
    struct session *s; /* NULL when detached */
    uint64_t cursor;   /* next offset this subscriber will get */
    bool lossless;     /* holds the PTY back instead of losing bytes */
    /* A lossless subscriber that acknowledges what it consumed (the page: what xterm.js
     * rendered) may hold the PTY back by its acknowledged offset instead of its cursor,
     * with a smaller limit than the ring: a program then runs at most `limit` bytes ahead
     * of what was rendered, so a Ctrl-C stops the screen quickly. 0: cursor and ring. */
    uint64_t hold;
    uint64_t limit;
    bool interactive; /* may type and resize */
    bool notified;    /* queued for notify this turn */
    bool exit_sent;   /* the owner has delivered EXIT */
    const struct sub_ops *ops;
    void *owner;
    struct sub *prev, *next;
};

/* Someone waiting on the input queue: for room (SESSION_WAIT_ROOM: `amount` bytes free)
 * or for queued input to reach the PTY (SESSION_WAIT_WRITTEN: session_input_written()
 * >= `amount`). ready() is called from an end-of-turn task, never from inside another
 * session call, and also when the session ends (check session_exited/the counters). It
 * must not run a request loop inline: schedule a task. */
enum session_wait_kind { SESSION_WAIT_ROOM, SESSION_WAIT_WRITTEN };
struct session_waiter {
    void (*ready)(struct session_waiter *w);
    struct session_waiter *prev, *next;
    struct session *s;
    enum session_wait_kind kind;
    uint64_t amount;
};

struct session_opts {
    uint32_t id;
    const char *name; /* may be NULL */
    const char *const *argv;
    const char *cwd;              /* NULL: the daemon's cwd */
    const char *const *env_extra; /* NULL-terminated "K=V", may be NULL */
    uint16_t cols, rows;          /* 0: 80x24 */
    size_t scrollback;            /* ring capacity in bytes */
    unsigned kill_grace_ms;       /* SIGHUP → SIGKILL */
    size_t input_queue;           /* bytes of input queued at most (0: 1 MiB) */
    /* With SCHED_INTERACTIVE: a bulk session reads once per readiness (what the tty
     * holds, at most its 4 KiB line buffer) instead of FIONREAD-sized reads up to the
     * quantum, and its watcher is marked bulk (reactor_io_set_bulk). */
    bool bulk_read_one;
    /* With SCHED_INTERACTIVE: how long a bulk session's new output may wait before its
     * subscribers are told (they are told at once past 64 KiB); 0: every turn. */
    uint64_t bulk_flush_ns;
    /* With SCHED_INTERACTIVE: the scheduler slice the program gets while interactive
     * (src/pty/sched.h); bulk programs get the kernel's default. 0: never changed. */
    uint64_t latency_slice_ns;
    enum session_sched sched; /* what a bulk classification does */
    bool terminal_state;      /* keep a headless terminal (src/term/vt.h) of the output */
    /* Called from an end-of-turn task on the session's reactor after the program set its
     * title (OSC 0/2) or working directory (OSC 7), with session_new's arg; may be NULL. It
     * must only queue work (session_summary has the new title). */
    void (*on_title)(struct session *s, void *arg);
    /* Read no output until the first session_attach (OPEN's HOLD): the program blocks
     * once the PTY buffer fills, and a client attaching from 0 misses nothing however
     * late it comes. A kill releases the hold (the output drains, the exit is reported). */
    bool hold_output;
    /* Called on the session's reactor after its size changed (session_size has it), with
     * session_new's arg; may be NULL. It must only queue work. */
    void (*on_resize)(struct session *s, void *arg);
};

/* Called on the session's reactor when the session has exited (after its output). */
typedef void (*session_exit_cb)(struct session *s, void *arg);

/* Thread-safe snapshot for listings. */
struct session_summary {
    uint32_t id;
    pid_t pid;
    bool exited;
    int exit_code;   /* -1 if killed by a signal or still running */
    int exit_signal; /* 0 if none */
    unsigned clients;
    enum session_level level;
    uint16_t cols, rows;
    uint64_t bytes_out;
    uint64_t created_ms;
    uint64_t pauses; /* times reading was suspended for a lossless subscriber */
    enum session_class cls;
    uint64_t reclassified; /* class changes */
    uint64_t answered;     /* terminal queries the daemon answered */
    /* From the terminal state (empty / 0 with --terminal-state off): */
    char title[256];         /* OSC 0/2, UTF-8, truncated */
    char cwd[256];           /* OSC 7 (a file:// URL as the program sent it), truncated */
    uint64_t bells;          /* BEL characters the program wrote */
    uint64_t last_output_ms; /* unix ms of the last output byte, 0 = none yet */
};

/* Spawns the program and starts reading its output on r. Returns 0, or a negative errno
 * with a one-line reason in err (the program could not be started). */
int session_new(reactor *r, const struct session_opts *o, session_exit_cb on_exit, void *arg,
                struct session **out, char *err, size_t errlen);
/* Teardown only (the reactors have stopped): kills a running child and waits for it,
 * then frees. Every subscriber still attached gets ops->gone. */
void session_free(struct session *s);
/* Forgets an exited session: it is freed at the end of the turn once no subscriber is
 * attached. Subscribers attached now keep draining what they had not received (then
 * the EXIT) and detach; nothing is copied. Survivors of its process group are killed. */
void session_remove(struct session *s);
/* True once session_remove was called. */
bool session_removed(const struct session *s);

uint32_t session_id(const struct session *s);
const char *session_name(const struct session *s);
/* argv joined by spaces, for display. */
const char *session_command(const struct session *s);
reactor *session_reactor(const struct session *s);
bool session_exited(const struct session *s);
/* Exit code (-1 when signalled) and signal (0 when exited normally). */
void session_exit_status(const struct session *s, int *code, int *sig);
uint64_t session_start(const struct session *s);
uint64_t session_end(const struct session *s);
void session_size(const struct session *s, uint16_t *cols, uint16_t *rows);
/* Thread-safe snapshot (atomics). */
void session_summary(const struct session *s, struct session_summary *out);
/* True while output is held (session_opts.hold_output, no attach yet). */
bool session_held(const struct session *s);

/* Attaches sub with its cursor at `from` (clamped to the retained range by the caller:
 * from must be within [start, end]). */
void session_attach(struct session *s, struct sub *sub, uint64_t from);
/* Detaches; may resume reading the PTY. Accepts a detached sub. */
void session_detach(struct sub *sub);
/* Describes retained output from `from` (at most max bytes) in up to two iovecs.
 * Returns the byte count, or -ERANGE when from is outside [start, end]. */
ssize_t session_peek(const struct session *s, uint64_t from, size_t max, struct iovec iov[2],
                     int *iovcnt);
/* The subscriber has taken everything below `cursor`. */
void sub_consumed(struct sub *sub, uint64_t cursor);
/* The subscriber (one with a limit) has acknowledged everything below `offset`. */
void sub_hold(struct sub *sub, uint64_t offset);

/* Queues n bytes of input for the PTY, all or nothing. Returns 0 when queued, -EAGAIN
 * when the queue cannot take all of it now (nothing queued; see session_input_room),
 * or -EPIPE when the session has exited. Input is never reordered or dropped once
 * accepted. */
int session_write_input(struct session *s, const uint8_t *p, size_t n);
/* Bytes the input queue can take now. */
size_t session_input_room(const struct session *s);
/* The queue's capacity (--input-queue). */
size_t session_input_capacity(const struct session *s);
/* Bytes queued so far in the session's life (the input offset after the last accepted
 * byte) and bytes written to the PTY so far. Written catches up with queued. */
uint64_t session_input_queued(const struct session *s);
uint64_t session_input_written(const struct session *s);
/* Calls w->ready (from a task) once w's condition holds or the session ends. */
void session_wait_input(struct session *s, struct session_waiter *w);
/* Cancels a wait. Accepts a waiter that is not waiting. */
void session_waiter_cancel(struct session_waiter *w);
/* TIOCSWINSZ; the most recent resize wins. */
int session_resize(struct session *s, uint16_t cols, uint16_t rows);
/* ---- terminal state (--terminal-state on): see src/pty/term_state.h ---------------- */

struct vt;

/* True when this session keeps terminal state (--terminal-state on). */
bool session_has_terminal(const struct session *s);
/* Brings the model up to the session's current end offset (synchronously, bounded by the
 * ring: see term_state.h for what a model that fell behind a flood keeps) and returns it,
 * or NULL when terminal state is off. *offset = the output offset the model represents
 * (== the session's end offset after this call). The pointer is valid until the session
 * next reads output (do not keep it across turns). */
const struct vt *session_terminal(struct session *s, uint64_t *offset);
/* Screen watchers: changed() is called from an end-of-turn task (never inline in a session
 * call) after new output reached the session (at most once per turn per session, rate
 * limited under a flood to every SESSION_WATCH_MS), after a resize, and once more when the
 * session exits. It must not call back into a request loop inline (schedule a task).
 * When a removed session is freed, its remaining watchers are unlinked silently (w->s
 * becomes NULL): owners learn of removal where they learn of it for subscribers. */
#define SESSION_WATCH_MS 20
struct session_watch {
    void (*changed)(struct session_watch *w);
    struct session_watch *prev, *next;
    struct session *s;
};
void session_watch(struct session *s, struct session_watch *w);
/* Accepts an unwatched w; safe from inside changed(). */
void session_unwatch(struct session_watch *w);
/* Unix ms of the last output byte (0 = none yet). */
uint64_t session_last_output_ms(const struct session *s);
/* VT_MODE_* bits now (0 with terminal state off); cheap, no catching up needed. */
unsigned session_modes(struct session *s);

/* Sends a signal to the process group (also after the leader exited, while members of
 * its group remain). -ESRCH when no process is left. */
int session_signal(struct session *s, int sig);
/* SIGHUP to the process group now, SIGKILL to the whole group after the grace period
 * (even when the leader exited and a member ignoring SIGHUP remains). Returns 0, or
 * -ESRCH when no process of the session is left. */
int session_kill(struct session *s);

#endif
