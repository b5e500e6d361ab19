/*
 * parallel.c — the persistent thread pool behind ppo_parallel_for (see ppo_parallel.h for the contract).
 *
 * Workers are created lazily (up to the largest thread count asked for) and never exit. A job is published by
 * bumping `generation` (release) after the job fields are written; every worker acknowledges every generation
 * by decrementing `pending`, so the caller knows when no worker can still read the job fields and the next job
 * may overwrite them. Workers spin briefly before sleeping on a condition variable, because the kernels are
 * short (tens of microseconds for gae) and a futex wake-up costs about as much.
 * Items are handed out from an atomic counter in steps of `grain`; no float is ever combined here, so the
 * scheduling cannot change results.
 */
#define _GNU_SOURCE
#include "ppo_parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PPO_PAUSE() _mm_pause()
#else
#define PPO_PAUSE() ((void)0)
#endif

#define PPO_MAX_WORKERS 255
#define PPO_SPIN 4000   /* ~0.1 ms of pause instructions before sleeping */

static pthread_mutex_t job_lock = PTHREAD_MUTEX_INITIALIZER;   /* one job on the pool at a time */
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;  /* guards sleeping on the two condvars */
static pthread_cond_t wake_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;

static int n_workers;                    /* created so far; written only under job_lock */
static uint64_t start_generation[PPO_MAX_WORKERS]; /* the generation a worker treats as already seen */
static _Atomic uint64_t generation;      /* bumped once per published job */
static _Atomic int pending;              /* workers that have not yet acknowledged the current job */

static struct {
    ppo_range_fn fn;
    void *args;
    int64_t n, grain;
    int participants;                    /* workers with index < participants take ranges */
    _Atomic int64_t next;                /* next unclaimed item */
} job;

static void run_ranges(void) {
    for (;;) {
        int64_t begin = atomic_fetch_add_explicit(&job.next, job.grain, memory_order_relaxed);
        if (begin >= job.n) return;
        int64_t end = job.n - begin < job.grain ? job.n : begin + job.grain;
        job.fn(job.args, begin, end);
    }
}

static void *worker_main(void *arg) {
    int index = (int)(intptr_t)arg;
    /* Not a fresh load of `generation`: the job being set up when this worker was created may already be
     * published by the time it runs, and it must take part in it (pending counts it). */
    uint64_t seen = start_generation[index];
    for (;;) {
        uint64_t g = seen;
        for (int i = 0; i < PPO_SPIN && (g = atomic_load_explicit(&generation, memory_order_acquire)) == seen; i++) {
            PPO_PAUSE();
        }
        if (g == seen) {
            pthread_mutex_lock(&wake_lock);
            while ((g = atomic_load_explicit(&generation, memory_order_acquire)) == seen) {
                pthread_cond_wait(&wake_cv, &wake_lock);
            }
            pthread_mutex_unlock(&wake_lock);
        }
        seen = g;
        if (index < job.participants) run_ranges();
        /* acq_rel: our writes to the kernel outputs happen-before the caller's read of pending == 0 */
        if (atomic_fetch_sub_explicit(&pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&wake_lock);
            pthread_cond_signal(&done_cv);
            pthread_mutex_unlock(&wake_lock);
        }
    }
    return NULL;
}

/* Creates workers until `want` exist (fewer if the system refuses); called with job_lock held. */
static void grow_pool(int want) {
    if (want > PPO_MAX_WORKERS) want = PPO_MAX_WORKERS;
    while (n_workers < want) {
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        /* No job is published while we hold job_lock, so this is the generation before the next job;
         * pthread_create orders the store before the worker's read. */
        start_generation[n_workers] = atomic_load_explicit(&generation, memory_order_relaxed);
        int rc = pthread_create(&th, &attr, worker_main, (void *)(intptr_t)n_workers);
        pthread_attr_destroy(&attr);
        if (rc != 0) break;
        n_workers++;
    }
}

void ppo_parallel_for(int threads, int64_t n, int64_t grain, ppo_range_fn fn, void *args) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    int64_t ranges = (n + grain - 1) / grain;
    if (threads > ranges) threads = (int)ranges;
    if (threads <= 1 || pthread_mutex_trylock(&job_lock) != 0) {
        /* single-threaded, or another job owns the pool: same ranges, on this thread */
        for (int64_t b = 0; b < n; b += grain) fn(args, b, n - b < grain ? n : b + grain);
        return;
    }
    grow_pool(threads - 1);
    job.fn = fn;
    job.args = args;
    job.n = n;
    job.grain = grain;
    job.participants = threads - 1;
    atomic_store_explicit(&job.next, 0, memory_order_relaxed);
    atomic_store_explicit(&pending, n_workers, memory_order_relaxed);
    pthread_mutex_lock(&wake_lock);
    /* release: the job fields above are visible to a worker that sees the new generation */
    atomic_fetch_add_explicit(&generation, 1, memory_order_release);
    pthread_cond_broadcast(&wake_cv);
    pthread_mutex_unlock(&wake_lock);

    run_ranges();

    for (int i = 0; i < PPO_SPIN && atomic_load_explicit(&pending, memory_order_acquire) != 0; i++) PPO_PAUSE();
    if (atomic_load_explicit(&pending, memory_order_acquire) != 0) {
        pthread_mutex_lock(&wake_lock);
        while (atomic_load_explicit(&pending, memory_order_acquire) != 0) pthread_cond_wait(&done_cv, &wake_lock);
        pthread_mutex_unlock(&wake_lock);
    }
    pthread_mutex_unlock(&job_lock);
}
