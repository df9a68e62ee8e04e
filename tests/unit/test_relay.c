/* test_relay: the cross-reactor pieces of src/server/relay.c — the single-producer/
 * single-consumer byte buffer (every byte, in order, across threads, at every wrap), and
 * ports: calls to another reactor run in order and their replies come back, also after
 * the caller closed. Run under TSan (tests/run_all.sh: the relay_ tests). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "server/relay.h"

/* The byte at stream position i (not a multiple of anything the buffer uses). */
static uint8_t pattern(uint64_t i)
{
    return (uint8_t)((i * 2654435761u) >> 13);
}

TEST(relay_buf_single_thread_wraps)
{
    struct relay_buf b;
    relay_buf_init(&b, 1000); /* rounded up to 1024 */
    CHECK_EQ(b.cap, 1024);
    CHECK_EQ(relay_buf_room(&b), 1024);
    uint8_t src[700];
    uint64_t wpos = 0, rpos = 0;
    for (int round = 0; round < 50; round++) {
        for (size_t i = 0; i < sizeof src; i++)
            src[i] = pattern(wpos + i);
        /* Two iovecs, so a put can also split its source. */
        struct iovec in[2] = {{src, 300}, {src + 300, 400}};
        size_t put = relay_buf_put(&b, in, 2, sizeof src);
        CHECK(put <= sizeof src);
        wpos += put;
        CHECK_EQ(relay_buf_used(&b), wpos - rpos);
        struct iovec out[2];
        int cnt;
        size_t n = relay_buf_peek(&b, 512, out, &cnt);
        CHECK_EQ(n, wpos - rpos < 512 ? wpos - rpos : 512);
        size_t k = 0;
        for (int v = 0; v < cnt; v++)
            for (size_t j = 0; j < out[v].iov_len; j++, k++)
                CHECK_EQ(((uint8_t *)out[v].iov_base)[j], pattern(rpos + k));
        CHECK_EQ(k, n);
        relay_buf_consume(&b, n);
        rpos += n;
    }
    CHECK(wpos > 10 * 1024); /* it wrapped many times */
    relay_buf_deinit(&b);
}

struct spsc_run {
    struct relay_buf b;
    uint64_t total;
};

/* Producer: the pattern in chunks of varying size, spinning (yielding) when full. */
static void *spsc_producer(void *arg)
{
    struct spsc_run *r = arg;
    uint8_t chunk[5000];
    uint64_t pos = 0;
    unsigned seed = 7;
    while (pos < r->total) {
        size_t want = 1 + (size_t)(rand_r(&seed) % sizeof chunk);
        if (want > r->total - pos)
            want = (size_t)(r->total - pos);
        for (size_t i = 0; i < want; i++)
            chunk[i] = pattern(pos + i);
        size_t done = 0;
        while (done < want) {
            struct iovec iov = {chunk + done, want - done};
            size_t n = relay_buf_put(&r->b, &iov, 1, want - done);
            done += n;
            if (!n)
                sched_yield();
        }
        pos += want;
    }
    return NULL;
}

TEST_TIMEOUT(relay_buf_two_threads_every_byte_in_order, 120)
{
    struct spsc_run r = {.total = 24u << 20};
    relay_buf_init(&r.b, 64 * 1024);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, spsc_producer, &r), 0);
    uint64_t pos = 0;
    unsigned seed = 3;
    while (pos < r.total) {
        struct iovec iov[2];
        int cnt;
        size_t max = 1 + (size_t)(rand_r(&seed) % 70000);
        size_t n = relay_buf_peek(&r.b, max, iov, &cnt);
        if (!n) {
            sched_yield();
            continue;
        }
        size_t k = 0;
        for (int v = 0; v < cnt; v++)
            for (size_t j = 0; j < iov[v].iov_len; j++, k++)
                if (((uint8_t *)iov[v].iov_base)[j] != pattern(pos + k))
                    CHECK_MSG(0, "byte %llu is wrong", (unsigned long long)(pos + k));
        relay_buf_consume(&r.b, n);
        pos += n;
    }
    pthread_join(t, NULL);
    CHECK_EQ(relay_buf_used(&r.b), 0);
    relay_buf_deinit(&r.b);
}

/* ---- ports ------------------------------------------------------------------------- */

struct port_run {
    reactor *a, *b; /* a: the caller's; b: the "session's" */
    _Atomic unsigned seen_on_b;
    unsigned replies; /* on a */
    unsigned last;    /* on b: calls run in order */
    bool in_order;
    int owner_tag;
};

struct port_msg {
    struct port_run *run;
    unsigned n;
};

/* On a: a reply; counts it while the owner is there. */
static void port_reply_fn(struct relay_port *p, void *arg)
{
    struct port_msg *m = arg;
    if (relay_port_owner(p))
        m->run->replies++;
    free(m);
}

/* On b: checks the order, then answers. */
static void port_call_fn(struct relay_port *p, void *arg)
{
    struct port_msg *m = arg;
    if (m->n != m->run->last + 1)
        m->run->in_order = false;
    m->run->last = m->n;
    atomic_fetch_add(&m->run->seen_on_b, 1);
    relay_port_reply(p, port_reply_fn, m);
}

static void *run_reactor(void *arg)
{
    reactor_run(arg);
    return NULL;
}

TEST_BACKENDS(relay_port_calls_in_order_and_replies_back)
{
    struct port_run run = {.in_order = true};
    reactor_config cfg = {.backend = backend};
    CHECK_EQ(reactor_new(&run.a, &cfg), 0);
    CHECK_EQ(reactor_new(&run.b, &cfg), 0);
    pthread_t tb;
    CHECK_EQ(pthread_create(&tb, NULL, run_reactor, run.b), 0);
    struct relay_port *p = relay_port_new(run.a, &run.owner_tag);
    enum { CALLS = 20000 };
    for (unsigned i = 1; i <= CALLS; i++) {
        struct port_msg *m = malloc(sizeof *m);
        *m = (struct port_msg){&run, i};
        relay_port_call(p, run.b, port_call_fn, m);
        if (i % 1000 == 0)
            reactor_run_once(run.a, 0);
    }
    while (run.replies < CALLS)
        reactor_run_once(run.a, 100);
    CHECK(run.in_order);
    /* Calls made after the owner closed still run there; their replies see no owner. */
    for (unsigned i = CALLS + 1; i <= CALLS + 100; i++) {
        struct port_msg *m = malloc(sizeof *m);
        *m = (struct port_msg){&run, i};
        relay_port_call(p, run.b, port_call_fn, m);
    }
    relay_port_close(p);
    while (atomic_load(&run.seen_on_b) < CALLS + 100)
        reactor_run_once(run.a, 10);
    for (int i = 0; i < 10; i++)
        reactor_run_once(run.a, 10);
    CHECK_EQ(run.replies, CALLS);
    reactor_stop(run.b);
    pthread_join(tb, NULL);
    /* Nothing is left: the port went with its last reply. */
    relay_free_all();
    reactor_free(run.a);
    reactor_free(run.b);
}

TEST(relay_free_all_runs_what_never_ran)
{
    struct port_run run = {.in_order = true};
    reactor_config cfg = {.backend = REACTOR_EPOLL};
    CHECK_EQ(reactor_new(&run.a, &cfg), 0);
    CHECK_EQ(reactor_new(&run.b, &cfg), 0);
    struct relay_port *p = relay_port_new(run.a, &run.owner_tag);
    for (unsigned i = 1; i <= 10; i++) {
        struct port_msg *m = malloc(sizeof *m);
        *m = (struct port_msg){&run, i};
        relay_port_call(p, run.b, port_call_fn, m);
    }
    relay_port_close(p);
    /* b never runs: teardown runs the calls (which reply, and those run too) and frees
     * every message and the port (LeakSanitizer checks). */
    relay_free_all();
    CHECK_EQ(atomic_load(&run.seen_on_b), 10);
    CHECK_EQ(run.replies, 0);
    reactor_free(run.a);
    reactor_free(run.b);
}
