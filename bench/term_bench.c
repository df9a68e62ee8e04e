/* term_bench: how fast the headless terminal model (src/term/vt.c) consumes output, and
 * what a screen costs in memory — the numbers issue 9 asks a design to be chosen by.
 *
 * Three inputs, each a buffer repeated until 256 MiB or 2 s of feeding (whichever first),
 * into an 80x24 vt, in 64 KiB chunks as a PTY read would deliver them:
 *   lines       `y\r\n` repeated (every line scrolls the full screen)
 *   colour-ls   ls-like lines with SGR colours, 16/256/true colour
 *   fullscreen  cursor-addressed redraws of every row (an editor or top repainting)
 * Reported: MB/s fed per input, on the process's CPU clock (the machine is shared; wall
 * time would count other processes' turns). Then the same input as a flooding session's
 * lazily fed model sees it (src/pty/term_state.c: ring_append of each 64 KiB chunk, then
 * term_state_output with bulk set, a catch-up every 16 MiB as a 20 ms screen watcher under
 * a flood would cause at most), next to ring_append alone: the model's own cost is the
 * difference. Then the vt's own memory accounting for a blank and for
 * an active (full of coloured text) 80x24 screen, and for an idle 10000x10000 one, next
 * to the heap the allocator reports in use for it (mallinfo2, so with malloc overhead).
 * Usage: term_bench [seconds_per_input]
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pty/ring.h"
#include "pty/term_state.h"
#include "term/vt.h"

#define CHUNK (64 * 1024)
#define MAX_BYTES (256ull << 20)

/* Seconds on the monotonic clock. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Fills buf (CHUNK bytes) by repeating the generator's output; returns bytes used. */
static size_t fill_lines(char *buf)
{
    size_t n = 0;
    while (n + 3 <= CHUNK) {
        memcpy(buf + n, "y\r\n", 3);
        n += 3;
    }
    return n;
}

/* `y\n` repeated: a raw-mode `yes` (no ONLCR), each line feed scrolls and the column
 * creeps right, so every row holds one character further along than the last. */
static size_t fill_raw_lines(char *buf)
{
    size_t n = 0;
    while (n + 2 <= CHUNK) {
        memcpy(buf + n, "y\n", 2);
        n += 2;
    }
    return n;
}

/* ls-like coloured lines: names in blue/green/256-colour/true colour, padded columns. */
static size_t fill_colour_ls(char *buf)
{
    size_t n = 0;
    char line[256];
    for (unsigned i = 0;; i++) {
        int k = snprintf(line, sizeof line,
                         "drwxr-xr-x 2 user user %6u Jan %2u 12:%02u \x1b[01;34mdir%u\x1b[0m  "
                         "\x1b[01;32mrun%u.sh\x1b[0m  \x1b[38;5;%um%u.log\x1b[0m  "
                         "\x1b[38;2;%u;%u;200mfile%u.c\x1b[0m\r\n",
                         i * 37 % 100000, i % 28 + 1, i % 60, i, i, i % 256, i, i % 256,
                         i * 7 % 256, i);
        if (n + (size_t)k > CHUNK)
            break;
        memcpy(buf + n, line, (size_t)k);
        n += (size_t)k;
    }
    return n;
}

/* Full-screen updates: CUP to each row, an SGR, 78 columns of text, erase to end. */
static size_t fill_fullscreen(char *buf)
{
    size_t n = 0;
    char line[256];
    for (unsigned i = 0;; i++) {
        unsigned row = i % 24 + 1;
        int k =
            snprintf(line, sizeof line,
                     "\x1b[%u;1H\x1b[%u;%um%-10u top - load average: 0.%02u, 0.%02u, "
                     "Tasks: %3u total, %2u running  \x1b[0m\x1b[K",
                     row, 30 + i % 8, 40 + (i / 8) % 8, i, i % 100, i * 3 % 100, i % 400, i % 9);
        if (n + (size_t)k > CHUNK)
            break;
        memcpy(buf + n, line, (size_t)k);
        n += (size_t)k;
    }
    return n;
}

/* Feeds one kind of input for up to secs seconds or MAX_BYTES; prints MB/s. */
static void run(const char *name, size_t (*gen)(char *), double secs)
{
    char *buf = malloc(CHUNK);
    size_t len = gen(buf);
    struct vt *vt = vt_new(80, 24);
    unsigned long long fed = 0;
    double t0 = now(), t = t0;
    while (fed < MAX_BYTES) {
        for (int i = 0; i < 64; i++) {
            vt_feed(vt, (const uint8_t *)buf, len);
            fed += len;
        }
        t = now();
        if (t - t0 >= secs)
            break;
    }
    printf("  %-12s %9.1f MB/s  (%llu MiB in %.2f s)\n", name, (double)fed / (t - t0) / 1e6,
           fed >> 20, t - t0);
    vt_free(vt);
    free(buf);
}

/* The daemon's answers go nowhere here. */
static void no_reply(void *arg, const uint8_t *p, size_t n)
{
    (void)arg;
    (void)p;
    (void)n;
}

/* One input through a ring alone (model NULL) or through the ring and the lazy model. */
static double run_lazy(size_t (*gen)(char *), double secs, bool model)
{
    char *buf = malloc(CHUNK);
    size_t len = gen(buf);
    struct ring r;
    ring_init(&r, 1u << 20);
    struct term_state *ts = term_state_new(80, 24, TERM_FEED_SKIM, no_reply, NULL);
    unsigned long long fed = 0, since_sync = 0;
    double t0 = now(), t = t0;
    while (fed < MAX_BYTES) {
        for (int i = 0; i < 64; i++) {
            ring_append(&r, buf, len);
            if (model)
                term_state_output(ts, &r, (const uint8_t *)buf, len, true);
            fed += len;
            since_sync += len;
            if (model && since_sync >= (16u << 20)) {
                term_state_sync(ts, &r);
                since_sync = 0;
            }
        }
        t = now();
        if (t - t0 >= secs)
            break;
    }
    term_state_free(ts);
    ring_deinit(&r);
    free(buf);
    return (double)fed / (t - t0) / 1e6;
}

/* Heap bytes in use: small blocks plus mmap'd ones. */
static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    printf("term_bench: vt_feed throughput, 80x24, 64 KiB chunks, %.1f s or 256 MiB each\n", secs);
    run("lines", fill_lines, secs);
    run("raw-lines", fill_raw_lines, secs);
    run("colour-ls", fill_colour_ls, secs);
    run("fullscreen", fill_fullscreen, secs);
    printf(
        "lazy model (term_state, bulk session): ring_append + term_state_output vs ring alone\n");
    static const struct {
        const char *name;
        size_t (*gen)(char *);
    } in[] = {{"lines", fill_lines},
              {"raw-lines", fill_raw_lines},
              {"colour-ls", fill_colour_ls},
              {"fullscreen", fill_fullscreen}};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        double lazy = run_lazy(in[i].gen, secs, true), ring = run_lazy(in[i].gen, secs, false);
        printf("  %-12s %9.1f MB/s  (ring alone %.1f MB/s)\n", in[i].name, lazy, ring);
    }

    char *buf = malloc(CHUNK);
    printf("memory: vt_memory (own accounting) / heap in use (mallinfo2, with overhead)\n");
    size_t heap0 = heap_in_use();
    struct vt *vt = vt_new(80, 24);
    printf("  blank 80x24          %7zu / %7zu bytes\n", vt_memory(vt), heap_in_use() - heap0);
    size_t len = fill_colour_ls(buf);
    vt_feed(vt, (const uint8_t *)buf, len);
    len = fill_fullscreen(buf);
    vt_feed(vt, (const uint8_t *)buf, len);
    vt_feed(vt, (const uint8_t *)"\x1b]2;vim main.c\x07", 16);
    printf("  active 80x24         %7zu / %7zu bytes\n", vt_memory(vt), heap_in_use() - heap0);
    vt_free(vt);
    heap0 = heap_in_use();
    vt = vt_new(10000, 10000);
    vt_feed(vt, (const uint8_t *)"$ ls\r\n", 6);
    printf("  10000x10000, 1 line  %7zu / %7zu bytes\n", vt_memory(vt), heap_in_use() - heap0);
    vt_free(vt);
    free(buf);
    return 0;
}
