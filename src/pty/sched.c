/* sched: per-thread scheduling state; see sched.h. */
#include "pty/sched.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/xalloc.h"

/* The kernel's struct sched_attr (linux/sched/types.h clashes with glibc's sched.h). */
struct sched_attr {
    uint32_t size, sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime, sched_deadline, sched_period;
    uint32_t sched_util_min, sched_util_max;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sched_thread *registry;
static _Thread_local struct sched_thread *mine;

struct sched_thread *sched_thread(void)
{
    if (mine)
        return mine;
    struct sched_thread *t = xcalloc(1, sizeof *t);
    pthread_mutex_lock(&registry_lock);
    t->next = registry;
    registry = t;
    pthread_mutex_unlock(&registry_lock);
    mine = t;
    return t;
}

void sched_totals_get(struct sched_totals *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&registry_lock);
    for (struct sched_thread *t = registry; t; t = t->next) {
        for (int c = 0; c < SCHED_NCLASS; c++) {
            out->read_ns[c] += atomic_load_explicit(&t->read_ns[c], memory_order_relaxed);
            out->read_bytes[c] += atomic_load_explicit(&t->read_bytes[c], memory_order_relaxed);
        }
    }
    pthread_mutex_unlock(&registry_lock);
}

int sched_set_slice(pid_t tid, uint64_t ns)
{
    /* Read the current attributes first so that only the slice changes (the flag that
     * keeps parameters would keep the slice too). */
    struct sched_attr a;
    memset(&a, 0, sizeof a);
    if (syscall(SYS_sched_getattr, tid, &a, sizeof a, 0) < 0)
        return -errno;
    if (a.sched_policy != 0) /* not SCHED_OTHER: leave it alone */
        return -EPERM;
    a.size = sizeof a;
    a.sched_flags = 0;
    a.sched_runtime = ns;
    if (syscall(SYS_sched_setattr, tid, &a, 0) < 0)
        return -errno;
    return 0;
}
