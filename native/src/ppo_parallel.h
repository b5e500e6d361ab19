/*
 * ppo_parallel.h — a small persistent pthread pool for row/chunk-parallel loops.
 *
 * ppo_parallel_for(threads, n, grain, fn, args) calls fn(args, begin, end) on disjoint ranges covering [0, n),
 * each at most `grain` items long, on up to `threads` threads (the caller is one of them). Ranges are handed out
 * dynamically, so WHICH thread runs a range varies; every kernel therefore writes each item's outputs (and each
 * fixed chunk's partial sums) from that item alone, and reductions over the partials run afterwards on the
 * caller in a fixed order: results are bitwise the same for every thread count.
 * One job runs on the pool at a time; a concurrent caller runs its job on its own thread instead of waiting.
 */
#ifndef PPO_PARALLEL_H
#define PPO_PARALLEL_H

#include <stdint.h>

typedef void (*ppo_range_fn)(void *args, int64_t begin, int64_t end);

void ppo_parallel_for(int threads, int64_t n, int64_t grain, ppo_range_fn fn, void *args);

/* Items per range so that one range holds about `work_per_range` units when one item costs `item_cost` units
 * (at least 1). Used to keep tiny rows from being dealt out one by one. */
static inline int64_t ppo_grain(int64_t item_cost, int64_t work_per_range) {
    if (item_cost < 1) item_cost = 1;
    int64_t g = work_per_range / item_cost;
    return g < 1 ? 1 : g;
}

/* Threads worth using for `work` units (one unit ~ one element): 1 below ~32k units, where waking threads costs
 * more than it saves. Only a scheduling choice — results do not depend on it. */
static inline int ppo_threads_for(int threads, int64_t work) {
    if (work < 32768) return 1;
    int64_t most = work / 16384;
    return most < threads ? (int)most : threads;
}

#endif /* PPO_PARALLEL_H */
