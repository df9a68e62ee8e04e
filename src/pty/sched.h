/* sched: what the sessions of one reactor thread share for scheduling (issue 8).
 *
 * A session is classified on its own (session.c: interactive or bulk by output rate and
 * input). What a bulk session may do in a turn depends on its neighbours: while an
 * interactive session on the same thread was active recently (typed into, or echoing),
 * a bulk session reads a smaller quantum per turn, so a turn — which a keystroke waits
 * for twice, on its way in and on its echo's way out — stays short. The bulk session
 * loses nothing: it is read again next turn (round-robin with the other bulk sessions),
 * and meanwhile its producer blocks in write(), which is what frees the CPU.
 *
 * One struct per thread, created on first use and never freed (a few dozen bytes per
 * reactor thread). Only the owning thread writes the plain fields; the counters are
 * atomics that /metrics sums from any thread. */
#ifndef PTYHUB_SCHED_H
#define PTYHUB_SCHED_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

enum { SCHED_CLASS_INTERACTIVE, SCHED_CLASS_BULK, SCHED_NCLASS };

struct sched_thread {
    _Atomic uint64_t read_ns[SCHED_NCLASS];    /* time spent reading PTY output, per class */
    _Atomic uint64_t read_bytes[SCHED_NCLASS]; /* output bytes read, per class */
    struct sched_thread *next;                 /* registry of every thread's state */
};

/* Asks the kernel's fair scheduler (EEVDF, Linux 6.12+) for a time slice of ns for thread
 * or process tid (0: the caller); 0 ns restores the default. A short slice gives a woken
 * task an early virtual deadline, so it preempts a CPU-bound one at once instead of
 * waiting out that task's slice: the reactor threads and an interactive session's program
 * get it, bulk programs do not. Unprivileged; returns 0 or a negative errno (older kernels
 * ignore the value or say -EINVAL; nothing else changes then). */
int sched_set_slice(pid_t tid, uint64_t ns);

/* This thread's state (registered on first call). */
struct sched_thread *sched_thread(void);

struct sched_totals {
    uint64_t read_ns[SCHED_NCLASS];
    uint64_t read_bytes[SCHED_NCLASS];
};
/* Sums every thread's counters; callable from any thread. */
void sched_totals_get(struct sched_totals *out);

#endif
