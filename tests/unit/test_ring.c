/* test_ring: the scrollback ring against a reference model.
 *
 * Bytes written are a pattern of their own offset (high bits included), so a byte found
 * at the wrong place or an offset truncated to 32 bits shows. Cases cover lazy growth
 * (nothing, 1 KiB, doubling, then wrapping), the iovec split at the wrap point, -ERANGE
 * outside [start, end], random span/commit/append sequences checked at every retained
 * offset, starts near 2^32 and 2^63, and 64 MiB of reads through a 4 KiB ring. */
#include <errno.h>
#include <stdbool.h>

#include "harness.h"
#include "pty/ring.h"

/* The byte written at offset o. */
static uint8_t pattern(uint64_t o)
{
    return (uint8_t)(o % 251 + 7 * (o >> 32) + 13 * (o >> 56));
}

/* A small deterministic PRNG (xorshift64). */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Fills p with the pattern for offsets [from, from + n). */
static void fill(uint8_t *p, uint64_t from, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pattern(from + i);
}

/* Appends the pattern for the next n offsets. */
static void append_pattern(struct ring *r, size_t n)
{
    uint8_t *tmp = malloc(n ? n : 1);
    CHECK(tmp != NULL);
    fill(tmp, ring_end(r), n);
    ring_append(r, tmp, n);
    free(tmp);
}

/* Checks that peek(from, max) describes exactly the expected bytes. */
static void check_peek(const struct ring *r, uint64_t from, size_t max, const uint8_t *expect,
                       size_t expect_len)
{
    struct iovec iov[2];
    int cnt = -1;
    ssize_t n = ring_peek(r, from, max, iov, &cnt);
    CHECK_EQ(n, (ssize_t)expect_len);
    CHECK(cnt >= 0 && cnt <= 2);
    CHECK_EQ(cnt == 0, n == 0);
    size_t got = 0;
    for (int i = 0; i < cnt; i++) {
        CHECK(iov[i].iov_len > 0);
        CHECK((uint8_t *)iov[i].iov_base >= r->buf);
        CHECK((uint8_t *)iov[i].iov_base + iov[i].iov_len <= r->buf + r->alloc);
        CHECK_MEM_EQ(iov[i].iov_base, expect + got, iov[i].iov_len);
        got += iov[i].iov_len;
    }
    CHECK_EQ(got, expect_len);
    if (cnt == 2)
        CHECK(iov[1].iov_base == r->buf); /* the second piece starts at the buffer's start */
}

/* Checks the retained bytes against the pattern, from every offset in [start, end]. */
static void check_all_offsets(const struct ring *r)
{
    size_t len = (size_t)(ring_end(r) - ring_start(r));
    uint8_t *expect = calloc(1, len ? len : 1);
    CHECK(expect != NULL);
    fill(expect, ring_start(r), len);
    for (size_t i = 0; i <= len; i++)
        check_peek(r, ring_start(r) + i, SIZE_MAX, expect + i, len - i);
    free(expect);
}

TEST(ring_capacity_rounds_up)
{
    static const struct {
        size_t in, out;
    } cases[] = {
        {0, 4096},
        {1, 4096},
        {4096, 4096},
        {4097, 8192},
        {5000, 8192},
        {1 << 20, 1 << 20},
        {(1 << 20) + 1, 1 << 21},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ring r;
        ring_init(&r, cases[i].in);
        CHECK_EQ(r.capacity, cases[i].out);
        CHECK(r.buf == NULL);
        CHECK_EQ(r.alloc, 0);
        CHECK_U64_EQ(ring_start(&r), 0);
        CHECK_U64_EQ(ring_end(&r), 0);
        ring_deinit(&r);
    }
}

TEST(ring_grows_from_nothing_by_doubling)
{
    struct ring r;
    ring_init(&r, 8192);
    struct iovec iov[2];
    int cnt;
    CHECK_EQ(ring_peek(&r, 0, 100, iov, &cnt), 0);
    CHECK_EQ(cnt, 0);
    CHECK_EQ(r.alloc, 0);

    static const struct {
        size_t total, alloc;
    } steps[] = {{10, 1024},   {1024, 1024}, {1025, 2048}, {2048, 2048},
                 {2049, 4096}, {4097, 8192}, {8192, 8192}, {8193, 8192}};
    size_t written = 0;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        append_pattern(&r, steps[i].total - written);
        written = steps[i].total;
        CHECK_EQ(r.alloc, steps[i].alloc);
        CHECK_U64_EQ(ring_end(&r), written);
        CHECK_U64_EQ(ring_start(&r), written > 8192 ? written - 8192 : 0);
        if (r.alloc < r.capacity) { /* linear while growing */
            uint8_t expect[8192];
            fill(expect, 0, written);
            CHECK_MEM_EQ(r.buf, expect, written);
        }
        check_all_offsets(&r);
    }
    ring_deinit(&r);
    CHECK(r.buf == NULL);
    CHECK_EQ(r.alloc, 0);
}

TEST(ring_write_span_contract)
{
    struct ring r;
    ring_init(&r, 65536);
    uint8_t *p;
    /* Growing: the span holds `want` when the capacity allows it. */
    size_t n = ring_write_span(&r, 0, &p);
    CHECK_EQ(n, 1024); /* want 0 still gives a span, from the first 1 KiB */
    n = ring_write_span(&r, 5000, &p);
    CHECK(n >= 5000);
    CHECK_EQ(r.alloc, 8192);
    CHECK(p == r.buf);
    fill(p, 0, 5000);
    ring_commit(&r, 5000);
    n = ring_write_span(&r, 100, &p);
    CHECK_EQ(n, 8192 - 5000);
    CHECK(p == r.buf + 5000);
    /* More than the capacity: grows to full size, gives what is left before the end. */
    n = ring_write_span(&r, 1 << 20, &p);
    CHECK_EQ(r.alloc, 65536);
    CHECK_EQ(n, 65536 - 5000);
    CHECK(p == r.buf + 5000);
    fill(p, 5000, n);
    ring_commit(&r, n);
    CHECK_U64_EQ(ring_end(&r), 65536);
    CHECK_U64_EQ(ring_start(&r), 0);
    /* Full, at the buffer's end: the span restarts at buf[0] and overlays the oldest. */
    n = ring_write_span(&r, 10, &p);
    CHECK_EQ(n, 65536);
    CHECK(p == r.buf);
    fill(p, 65536, 10);
    ring_commit(&r, 10);
    CHECK_U64_EQ(ring_start(&r), 10);
    n = ring_write_span(&r, 65536, &p);
    CHECK_EQ(n, 65536 - 10); /* cannot hold `want` without wrapping: less, never 0 */
    ring_commit(&r, 0);
    CHECK_U64_EQ(ring_end(&r), 65546);
    check_all_offsets(&r);
    ring_deinit(&r);
}

TEST(ring_wraps_and_splits_iov)
{
    struct ring r;
    ring_init(&r, 4096);
    append_pattern(&r, 4096 + 100);
    CHECK_U64_EQ(ring_start(&r), 100);
    CHECK_U64_EQ(ring_end(&r), 4196);
    CHECK_EQ(r.alloc, 4096);

    struct iovec iov[2];
    int cnt;
    CHECK_EQ(ring_peek(&r, 100, SIZE_MAX, iov, &cnt), 4096);
    CHECK_EQ(cnt, 2);
    CHECK(iov[0].iov_base == r.buf + 100);
    CHECK_EQ(iov[0].iov_len, 3996);
    CHECK(iov[1].iov_base == r.buf);
    CHECK_EQ(iov[1].iov_len, 100);
    /* max stops at the wrap point: one piece. */
    CHECK_EQ(ring_peek(&r, 100, 3996, iov, &cnt), 3996);
    CHECK_EQ(cnt, 1);
    /* max stops one byte past it: the second piece holds that byte. */
    CHECK_EQ(ring_peek(&r, 100, 3997, iov, &cnt), 3997);
    CHECK_EQ(cnt, 2);
    CHECK_EQ(iov[1].iov_len, 1);
    /* From exactly the wrap point. */
    CHECK_EQ(ring_peek(&r, 4096, SIZE_MAX, iov, &cnt), 100);
    CHECK_EQ(cnt, 1);
    CHECK(iov[0].iov_base == r.buf);
    check_all_offsets(&r);
    ring_deinit(&r);
}

TEST(ring_peek_out_of_range)
{
    struct ring r;
    ring_init(&r, 4096);
    struct iovec iov[2];
    int cnt = 7;
    CHECK_EQ(ring_peek(&r, 1, 10, iov, &cnt), -ERANGE); /* empty: only 0 is valid */
    CHECK_EQ(cnt, 0);
    append_pattern(&r, 10000);
    CHECK_EQ(ring_peek(&r, 10000 - 4096 - 1, 10, iov, &cnt), -ERANGE); /* aged out */
    CHECK_EQ(ring_peek(&r, 0, 10, iov, &cnt), -ERANGE);
    CHECK_EQ(ring_peek(&r, 10001, 10, iov, &cnt), -ERANGE); /* not written yet */
    CHECK_EQ(ring_peek(&r, UINT64_MAX, 10, iov, &cnt), -ERANGE);
    CHECK_EQ(ring_peek(&r, 10000, 10, iov, &cnt), 0); /* the live edge */
    CHECK_EQ(cnt, 0);
    CHECK_EQ(ring_peek(&r, 10000 - 4096, 0, iov, &cnt), 0); /* max 0 */
    CHECK_EQ(cnt, 0);
    CHECK_EQ(ring_peek(&r, 10000 - 4096, 10, iov, &cnt), 10);
    ring_deinit(&r);
}

/* Random spans, partial commits and appends from `base`, checked against a model of the
 * last capacity bytes: bounds after every step, every offset every few steps. */
static void model_run(size_t capacity, uint64_t base, int steps, uint64_t seed)
{
    struct ring r;
    ring_init(&r, capacity);
    r.start = r.end = base; /* an empty ring may be placed at any offset */
    size_t cap = r.capacity;
    uint64_t end = base;
    uint8_t *tmp = malloc(3 * cap);
    CHECK(tmp != NULL);
    for (int i = 0; i < steps; i++) {
        uint64_t op = rnd(&seed) % 8;
        if (op < 6) {
            size_t want = (size_t)(rnd(&seed) % (cap + cap / 2));
            uint8_t *p;
            size_t span = ring_write_span(&r, want, &p);
            CHECK(span > 0);
            CHECK(p >= r.buf && p + span <= r.buf + r.alloc);
            if (r.alloc < r.capacity)
                CHECK(span >= want);
            /* read(2) returns anything up to the span, often all of it. */
            size_t k = rnd(&seed) % 3 ? span : (size_t)(rnd(&seed) % (span + 1));
            fill(p, end, k);
            ring_commit(&r, k);
            end += k;
        } else {
            size_t n = (size_t)(rnd(&seed) % (rnd(&seed) % 4 ? 300 : 3 * cap));
            fill(tmp, end, n);
            ring_append(&r, tmp, n);
            end += n;
        }
        CHECK_U64_EQ(ring_end(&r), end);
        CHECK_U64_EQ(ring_start(&r), end - base > cap ? end - cap : base);
        CHECK(r.alloc <= r.capacity);
        /* A few random windows every step, everything every 16 steps. */
        size_t len = (size_t)(end - ring_start(&r));
        for (int j = 0; j < 8; j++) {
            size_t at = (size_t)(rnd(&seed) % (len + 1));
            size_t max = (size_t)(rnd(&seed) % 64);
            size_t n = len - at < max ? len - at : max;
            fill(tmp, ring_start(&r) + at, n);
            check_peek(&r, ring_start(&r) + at, max, tmp, n);
        }
        struct iovec iov[2];
        int cnt;
        CHECK_EQ(ring_peek(&r, ring_start(&r) - 1, 1, iov, &cnt), -ERANGE);
        CHECK_EQ(ring_peek(&r, end + 1, 1, iov, &cnt), -ERANGE);
        if (i % 16 == 15 || i == steps - 1)
            check_all_offsets(&r);
    }
    free(tmp);
    ring_deinit(&r);
}

TEST(ring_matches_model_from_zero)
{
    model_run(4096, 0, 400, 0x9e3779b97f4a7c15ull);
    model_run(8192, 0, 400, 0x0123456789abcdefull);
}

TEST(ring_matches_model_across_4gib)
{
    /* Unaligned to the capacity, so the switch to wrapping has to move the data. */
    model_run(4096, (1ull << 32) - 3000, 400, 0x1234567ull);
    model_run(8192, (1ull << 32) - 1, 400, 0x7654321ull);
    model_run(8192, (1ull << 32) - 8192, 400, 0xabcdefull);
}

TEST(ring_matches_model_near_2_pow_63)
{
    model_run(4096, (1ull << 63) - 5000, 400, 0x5555aaaa5555ull);
    model_run(16384, (1ull << 63) - 1000, 300, 0xfeedfaceull);
}

/* Reads 64 MiB through a 4 KiB ring in read(2)-sized pieces from base, checking the
 * offsets every step and the newest bytes as it goes. */
static void stream_run(uint64_t base)
{
    struct ring r;
    ring_init(&r, 4096);
    r.start = r.end = base;
    uint64_t seed = 42 + base, end = base;
    const uint64_t total = 64ull << 20;
    while (end - base < total) {
        uint8_t *p;
        size_t span = ring_write_span(&r, 4096, &p);
        size_t k = 1 + (size_t)(rnd(&seed) % span);
        fill(p, end, k);
        ring_commit(&r, k);
        end += k;
        CHECK_U64_EQ(ring_end(&r), end);
        CHECK_U64_EQ(ring_start(&r), end - base > 4096 ? end - 4096 : base);
        if (rnd(&seed) % 64 == 0) {
            uint8_t expect[100];
            size_t n = end - ring_start(&r) < 100 ? (size_t)(end - ring_start(&r)) : 100;
            fill(expect, end - n, n);
            check_peek(&r, end - n, SIZE_MAX, expect, n);
        }
    }
    check_all_offsets(&r);
    ring_deinit(&r);
}

TEST(ring_stream_64mib_through_4kib)
{
    stream_run(0);
}

TEST(ring_stream_crossing_4gib)
{
    stream_run((1ull << 32) - (32ull << 20) - 123);
}
