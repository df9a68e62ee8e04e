/* qfilter: removes terminal queries from a program's output before it reaches a real
 * terminal, so that terminal never answers them (the daemon answers each query exactly
 * once from its own terminal state; a second answer would arrive as typed input).
 *
 * Removed: CPR (CSI 6n, CSI ?6n), DSR (CSI 5n), DA1 (CSI c, CSI 0c), DA2 (CSI >c,
 * CSI >0c), DA3 (CSI =c, CSI =0c), XTVERSION (CSI >q, CSI >0q), DECRQM (CSI Ps $p,
 * CSI ?Ps $p) and the OSC 10/11 colour queries (OSC 10;? and OSC 11;?, ended by BEL or
 * ST). Everything else passes unchanged, byte for byte, in order.
 *
 * Each removed query leaves one CAN (0x18) in its place, which a terminal ignores in the
 * ground state and which cancels a sequence left open by the bytes before, as the
 * query's own ESC would have. C0 controls inside a CSI are passed at once (a terminal
 * executes them there); an OSC query with a control byte inside is not recognised.
 *
 * A stateful scanner: a sequence split across chunks is held (at most QFILTER_HOLD bytes)
 * until it is known to be a query or not, so the result never depends on how the stream
 * was cut. Pure: no I/O, no allocation. */
#ifndef PTYHUB_CLI_QFILTER_H
#define PTYHUB_CLI_QFILTER_H

#include <stddef.h>
#include <stdint.h>

/* Longest sequence held while undecided; a longer one cannot be a query and passes. */
#define QFILTER_HOLD 32

struct qfilter {
    uint8_t held[QFILTER_HOLD];
    size_t len;
    int state; /* private */
};

/* Starts in the ground state. */
void qfilter_init(struct qfilter *f);

/* Filters n bytes of output into out, which must hold n + QFILTER_HOLD + 1 bytes. Returns how
 * many bytes were written. Bytes of an undecided sequence at the end are held. */
size_t qfilter_feed(struct qfilter *f, const uint8_t *in, size_t n, uint8_t *out);

/* Writes the held bytes (at most QFILTER_HOLD) as they are, and starts over (end of the
 * stream). Returns how many. */
size_t qfilter_flush(struct qfilter *f, uint8_t *out);

#endif
