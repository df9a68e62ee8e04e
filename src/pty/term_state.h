/* term_state: a session's terminal model (src/term/vt.h), cheap enough to be always on.
 *
 * Fed every output byte inline, even a fast emulator halves a text flood: a raw-mode
 * `yes` moves ~100 MB/s through a PTY and about as much through the model. So the model
 * may lag behind the session's ring, under one invariant: the bytes it has not seen yet
 * only draw. A scanner runs over every chunk of a flooding (bulk) session — memchr to each
 * ESC, a glance at the sequence, memchr for BEL to keep the bell count — and a chunk may
 * wait only when its escape sequences are all SGR, cursor motion (CUP, HVP, CUU..CUB, CHA,
 * VPA) or erase (ED, EL, ECH). Anything else — every query, mode change, title, scroll
 * region, charset, reset — brings the model up to date at once, in stream order, so
 * queries are answered with the state right after them (CPR: the cursor right after the
 * query) and modes, title and cwd are never stale. The waiting bytes are fed when someone
 * needs the screen (term_state_sync: a screen or snapshot request, a watcher, a resize, the
 * next chunk that cannot wait, the next chunk of a calm session).
 *
 * Catching up reads the unfed bytes back from the ring. When the flood outran the ring
 * (or the lag is above TERM_CATCHUP_MAX, to bound the time a catch-up takes), the bytes
 * are gone: the model then "resyncs" — it takes a carriage return and the retained bytes
 * of the last TERM_RESYNC_BYTES (at least 4 per cell), from their first line feed or ESC.
 * Because the lost bytes only drew, modes, title, cwd, charsets, the scroll region and the
 * alternate screen are exact; the rows are exact once the kept tail rewrote them (a
 * screenful of lines ending in CR LF, or a full repaint); what can differ is the cursor
 * column of LF-only (raw) text, the pen until the next SGR, and rows the tail did not
 * rewrite. Each resync is counted (term_state_losses).
 *
 * With term_state_hibernate an idle model is replaced by its snapshot (vt_snapshot, a
 * few hundred bytes for a shell prompt) and rebuilt from it on the next use.
 *
 * The reply filter: the daemon answers every query itself; a terminal attached to the
 * session (xterm.js, the CLI's terminal) may answer too. For TERM_FILTER_MS after an
 * answer, input that is exactly one reply of the same kind (CPR, DA1, DA2, DSR, OSC 10/11,
 * XTVERSION, DECRPM) — the whole chunk, or a clean prefix or suffix of it — is dropped,
 * at most once per interactive client attached when the query was answered.
 *
 * Runs on the session's reactor; not thread-safe. */
#ifndef PTYHUB_TERM_STATE_H
#define PTYHUB_TERM_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pty/ring.h"
#include "term/vt.h"

#define TERM_CATCHUP_MAX (1u << 20) /* a larger lag resyncs instead of feeding it all */
#define TERM_RESYNC_BYTES (64u << 10)
#define TERM_FILTER_MS 2000
#define TERM_ANSWERS_MAX 16 /* answers remembered for the filter */

/* How output reaches the model (PTYHUB_TERM_FEED=skim|text|inline, for benchmarks). */
enum term_feed {
    TERM_FEED_SKIM,   /* a bulk session's chunks that only draw wait (the default) */
    TERM_FEED_LAZY,   /* only plain text (no ESC at all) of a bulk session waits */
    TERM_FEED_INLINE, /* every chunk is fed as it is read */
};

/* The reply to a query, to be queued as the program's input. */
typedef void (*term_reply_cb)(void *arg, const uint8_t *p, size_t n);

struct term_state;

/* The feeding mode from the environment (PTYHUB_TERM_FEED), lazy when unset. */
enum term_feed term_feed_from_env(void);
/* A blank model of cols x rows; replies go to cb(arg, ...). */
struct term_state *term_state_new(uint16_t cols, uint16_t rows, enum term_feed feed,
                                  term_reply_cb cb, void *arg);
/* Frees; NULL is fine. */
void term_state_free(struct term_state *ts);
/* n new bytes p were committed to ring r (they end at ring_end(r)); bulk: the session is
 * flooding, so plain text may wait. Returns true when the model changed (it was fed). */
bool term_state_output(struct term_state *ts, const struct ring *r, const uint8_t *p, size_t n,
                       bool bulk);
/* Brings the model up to ring_end(r) (waking it from hibernation) and returns it. */
struct vt *term_state_sync(struct term_state *ts, const struct ring *r);
/* Resizes after catching up (the bytes before the resize are laid out at the old size). */
void term_state_resize(struct term_state *ts, const struct ring *r, uint16_t cols, uint16_t rows);
/* VT_MODE_* bits now: exact without catching up (the lag holds no ESC). */
unsigned term_state_modes(const struct term_state *ts);
/* Bell count, including BELs of the unfed lag. */
uint64_t term_state_bells(const struct term_state *ts);
/* Title and cwd (exact without catching up). */
const char *term_state_title(const struct term_state *ts);
const char *term_state_cwd(const struct term_state *ts);
/* Changes whenever the title or cwd may have changed. */
uint64_t term_state_meta_seq(const struct term_state *ts);
/* The output offset the model has consumed. */
uint64_t term_state_offset(const struct term_state *ts);
/* Resyncs so far, and output bytes the model never saw. */
void term_state_losses(const struct term_state *ts, uint64_t *resyncs, uint64_t *lost);
/* Replaces an idle model by its snapshot; false when it cannot now (mid-sequence, or the
 * snapshot would not be smaller). The model must be in sync (call term_state_sync). */
bool term_state_hibernate(struct term_state *ts);
/* True while hibernating. */
bool term_state_sleeping(const struct term_state *ts);
/* Heap bytes held (model or snapshot, and this struct). */
size_t term_state_memory(const struct term_state *ts);
/* Sets how many interactive clients may answer the next queries themselves. */
void term_state_set_answerers(struct term_state *ts, unsigned n);
/* Filters terminal replies out of client input p[0..n) at time now_ms (monotonic): sets
 * *start and returns the length of the part to keep (n and 0 when nothing is dropped). */
size_t term_state_filter(struct term_state *ts, uint64_t now_ms, const uint8_t *p, size_t n,
                         size_t *start);
/* The length of the terminal reply at the start of p[0..n), or 0; *q gets its kind.
 * Exposed for tests and the fuzzer. */
size_t term_reply_match(const uint8_t *p, size_t n, enum vt_query *q);

#endif
