package dev.ppoengine.model;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;

/**
 * Parallel loops for the model's non-GEMM work (GELU, LayerNorm, softmax rows): [0, n) is cut into contiguous
 * chunks, one runs on the caller, the others on a dedicated pool with one worker per core (the common pool has one
 * fewer). Bodies write disjoint elements and reduce nothing across chunks, so results are bitwise identical for any
 * thread count or split.
 */
final class Parallel {
    private Parallel() {}

    /** The loop body over [lo, hi). */
    interface Body {
        void run(long lo, long hi);
    }

    private static final ForkJoinPool POOL = new ForkJoinPool(Math.max(1, Runtime.getRuntime().availableProcessors()));

    /**
     * Runs body over [0, n) in at most {@code chunksPerThread}·threads chunks of at least {@code grain} iterations
     * (serially when that leaves one chunk).
     */
    static void forRange(long n, long grain, int chunksPerThread, Body body) {
        int threads = POOL.getParallelism();
        long chunks = Math.min((long) threads * chunksPerThread, Math.max(1, n / Math.max(1, grain)));
        if (chunks <= 1 || n <= 1) {
            body.run(0, n);
            return;
        }
        // chunks ≤ threads·chunksPerThread, a small int: the narrowing is exact.
        ForkJoinTask<?>[] tasks = new ForkJoinTask<?>[(int) chunks - 1];
        for (int c = 1; c < chunks; c++) {
            long lo = n * c / chunks, hi = n * (c + 1) / chunks;
            tasks[c - 1] = POOL.submit(() -> body.run(lo, hi));
        }
        body.run(0, n / chunks);
        for (ForkJoinTask<?> t : tasks) t.join();
    }

    static void forRange(long n, long grain, Body body) {
        forRange(n, grain, 1, body);
    }
}
