/* screen: what clients see of a session's terminal state — the screen rendered as text or
 * as a snapshot, and waits for text on it or for quiet (WAIT, POST .../wait).
 *
 * A wait hangs off the session's screen watchers (session_watch): it costs nothing while
 * the session writes nothing, and is evaluated once per screen change. All the waits on one
 * session share one rendering of the screen as text per change. Everything runs on the
 * session's reactor. */
#ifndef PTYHUB_SCREEN_H
#define PTYHUB_SCREEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct session;
struct vt;
struct screen_wait;

/* Renders vt as UTF-8 text (rows joined by '\n', trailing blanks trimmed) or, with ansi,
 * as the snapshot byte sequence. Returns a malloc'd buffer (caller frees) and its length. */
uint8_t *screen_render(const struct vt *vt, bool ansi, size_t *len);

/* What a wait waits for (mirrors WAIT, docs/protocol.md). */
struct screen_wait_params {
    bool text, idle;     /* at least one */
    const char *regex;   /* POSIX ERE, with text; need not be NUL-terminated */
    size_t regex_len;    /* 1..WIRE_WAIT_REGEX_MAX */
    uint64_t after;      /* only screens from output beyond this offset count */
    uint32_t idle_ms;    /* >= 1 with idle */
    uint32_t timeout_ms; /* 0: none */
};

/* Why a wait ended: the WAITED reasons. */
enum screen_wait_reason {
    SCREEN_WAIT_TEXT = 1,
    SCREEN_WAIT_IDLE = 2,
    SCREEN_WAIT_TIMEOUT = 3,
    SCREEN_WAIT_EXITED = 4,
};

/* Called once when a wait ends (from a task or a timer, never inside screen_wait_start).
 * The wait is finished and may be freed with screen_wait_free from inside the call. */
typedef void (*screen_wait_cb)(struct screen_wait *w, void *arg, enum screen_wait_reason why,
                               uint64_t offset);

/* Starts a wait on s. Returns:
 *   1        already satisfied: *why and *offset are set, nothing was created;
 *   0        waiting: *out is set, cb(arg) will be called once;
 *   -EINVAL  the regex does not compile (err says why);
 *   -ENOTSUP a text wait on a session without terminal state. */
int screen_wait_start(struct session *s, const struct screen_wait_params *p, screen_wait_cb cb,
                      void *arg, struct screen_wait **out, enum screen_wait_reason *why,
                      uint64_t *offset, char *err, size_t errlen);
/* Cancels (if still waiting) and frees a wait; NULL is fine. */
void screen_wait_free(struct screen_wait *w);
/* The reason's name: "text", "idle", "timeout", "exited". */
const char *screen_wait_reason_name(enum screen_wait_reason why);

#endif
