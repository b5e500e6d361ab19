package dev.ppoengine.model;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;

/**
 * The model's CPU parallelism, one pool for everything: [0, n) is cut into contiguous chunks, chunk 0 runs on the
 * caller, the others on a dedicated pool with one worker per core (the common pool has one fewer). OpenBLAS runs
 * single-threaded inside these chunks (see {@link Blas}), so no second thread pool spins against this one.
 * Bodies write disjoint elements and reduce nothing across chunks, so results do not depend on scheduling.
 * Chunk bodies must not start parallel loops themselves.
 */
final class Parallel {
    private Parallel() {}

    /** The loop body over [lo, hi) of chunk {@code chunk}. */
    interface Body {
        void run(int chunk, long lo, long hi);
    }

    /** A loop body that ignores which chunk it is. */
    interface RangeBody {
        void run(long lo, long hi);
    }

    private static final int THREADS = Math.max(1, Runtime.getRuntime().availableProcessors());
    private static final ForkJoinPool POOL = new ForkJoinPool(THREADS);

    static int threads() { return THREADS; }

    /**
     * Runs body over [0, n) in at most {@code maxChunks} chunks of at least {@code grain} iterations (serially when
     * that leaves one chunk); returns nothing until every chunk is done. Chunk indices are below maxChunks.
     */
    static void forChunks(long n, long grain, int maxChunks, Body body) {
        long chunks = Math.min(maxChunks, Math.max(1, n / Math.max(1, grain)));
        if (chunks <= 1 || n <= 1) {
            body.run(0, 0, n);
            return;
        }
        // chunks ≤ maxChunks, an int: the narrowing is exact.
        ForkJoinTask<?>[] tasks = new ForkJoinTask<?>[(int) chunks - 1];
        for (int c = 1; c < chunks; c++) {
            long lo = n * c / chunks, hi = n * (c + 1) / chunks;
            int idx = c;
            tasks[c - 1] = POOL.submit(() -> body.run(idx, lo, hi));
        }
        body.run(0, 0, n / chunks);
        for (ForkJoinTask<?> t : tasks) t.join();
    }

    /** One chunk per core, each at least {@code grain} iterations. */
    static void forRange(long n, long grain, RangeBody body) {
        forChunks(n, grain, THREADS, (c, lo, hi) -> body.run(lo, hi));
    }
}
