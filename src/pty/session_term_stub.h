/* session_term_stub: the hooks session.c calls for the stand-in terminal API in
 * session_term_api.c (branch term-surface only: TERM-CORE's implementation replaces both
 * files at merge). Private to src/pty. */
#ifndef PTYHUB_SESSION_TERM_STUB_H
#define PTYHUB_SESSION_TERM_STUB_H

#include "pty/session.h"

struct session_term_stub;

/* The session's vt (NULL with terminal state off) and stub state: accessors session.c
 * provides. */
struct vt *session_vt_(const struct session *s);
struct session_term_stub *session_ts_(const struct session *s);

/* Created with the session (also with terminal state off: last output time is kept). */
struct session_term_stub *session_term_stub_new(struct session *s);
/* New output was fed to the vt this turn. */
void session_term_stub_output(struct session *s);
/* The session has exited (after its last output). */
void session_term_stub_exit(struct session *s);
/* Fills title, cwd, bells, last_output_ms; any thread. */
void session_term_stub_summary(const struct session *s, struct session_summary *out);
/* Unwatches everything and frees. */
void session_term_stub_free(struct session *s);

#endif
