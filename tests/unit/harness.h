/* harness: a tiny unit-test framework in the libuv mould.
 *
 * Each TEST registers itself at start-up; the runner (harness.c) forks every case into
 * its own process with a timeout, so a crash or a hang fails one case, not the suite.
 * A case passes by returning, fails through CHECK*, and skips with SKIP("reason") —
 * a skip is reported separately from a pass, with its reason.
 *
 * TEST_BACKENDS(name) defines one body run twice, as name[uring] and name[epoll]; the
 * body reads the backend under test from `backend`.
 */
#ifndef PTYHUB_TEST_HARNESS_H
#define PTYHUB_TEST_HARNESS_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/reactor.h"

#define HARNESS_SKIP_STATUS 77

typedef void (*harness_fn)(enum reactor_backend_kind backend);

void harness_register(const char *name, harness_fn fn, enum reactor_backend_kind backend,
                      int timeout_s);
void harness_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
void harness_skip(const char *reason) __attribute__((noreturn));

#define HARNESS_DEFINE(name, timeout, ...)                                                         \
    static void test_##name(enum reactor_backend_kind backend);                                    \
    __attribute__((constructor)) static void register_##name(void)                                 \
    {                                                                                              \
        enum reactor_backend_kind kinds[] = {__VA_ARGS__};                                         \
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)                                \
            harness_register(#name, test_##name, kinds[i], timeout);                               \
    }                                                                                              \
    static void test_##name(enum reactor_backend_kind backend __attribute__((unused)))

/* A plain test (backend is REACTOR_AUTO and means nothing). Timeout 30 s. */
#define TEST(name) HARNESS_DEFINE(name, 30, REACTOR_AUTO)
/* A test run under both reactor backends. */
#define TEST_BACKENDS(name) HARNESS_DEFINE(name, 60, REACTOR_URING, REACTOR_EPOLL)
/* Same, with a custom timeout in seconds. */
#define TEST_BACKENDS_TIMEOUT(name, secs) HARNESS_DEFINE(name, secs, REACTOR_URING, REACTOR_EPOLL)
#define TEST_TIMEOUT(name, secs) HARNESS_DEFINE(name, secs, REACTOR_AUTO)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            harness_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                                  \
    } while (0)
#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond))                                                                               \
            harness_fail(__FILE__, __LINE__, __VA_ARGS__);                                         \
    } while (0)
#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                            \
        if (check_a_ != check_b_)                                                                  \
            harness_fail(__FILE__, __LINE__, "CHECK_EQ(%s, %s): %lld != %lld", #a, #b, check_a_,   \
                         check_b_);                                                                \
    } while (0)
#define CHECK_U64_EQ(a, b)                                                                         \
    do {                                                                                           \
        uint64_t check_a_ = (uint64_t)(a), check_b_ = (uint64_t)(b);                               \
        if (check_a_ != check_b_)                                                                  \
            harness_fail(__FILE__, __LINE__, "CHECK_U64_EQ(%s, %s): %" PRIu64 " != %" PRIu64, #a,  \
                         #b, check_a_, check_b_);                                                  \
    } while (0)
#define CHECK_MEM_EQ(a, b, n)                                                                      \
    do {                                                                                           \
        if (memcmp((a), (b), (n)) != 0)                                                            \
            harness_fail(__FILE__, __LINE__, "CHECK_MEM_EQ(%s, %s, %s)", #a, #b, #n);              \
    } while (0)
#define CHECK_STR_EQ(a, b)                                                                         \
    do {                                                                                           \
        const char *check_a_ = (a), *check_b_ = (b);                                               \
        if (strcmp(check_a_, check_b_) != 0)                                                       \
            harness_fail(__FILE__, __LINE__, "CHECK_STR_EQ(%s, %s): \"%s\" != \"%s\"", #a, #b,     \
                         check_a_, check_b_);                                                      \
    } while (0)
#define SKIP(reason) harness_skip(reason)

#endif
