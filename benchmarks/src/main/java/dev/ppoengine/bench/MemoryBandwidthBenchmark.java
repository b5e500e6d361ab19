package dev.ppoengine.bench;

import org.openjdk.jmh.annotations.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * The memory roofline for token_logprobs: how fast this machine can stream the same number of bytes as the
 * 4096 × 32000 f32 logits (524,288,000 bytes), with the same thread count as the cpu backend (BenchConfig.threads()).
 *
 * <ul>
 *   <li>{@code read}: sums the buffer as 64-bit integers (four independent accumulators per thread, so the adds are
 *       not the bottleneck); bandwidth = bytes / time. This is the figure token_logprobs forward is compared with:
 *       its one pass reads every logit once.</li>
 *   <li>{@code copy}: copies the buffer into a second one ({@link MemorySegment#copy}); bytes moved = 2 × bytes
 *       (read + write, plus the write-allocate reads the CPU may add).</li>
 * </ul>
 * The buffer is split into one contiguous slice per thread; both buffers are written once in setup so every page is
 * mapped before timing.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {BenchConfig.NATIVE_ACCESS, BenchConfig.UNSAFE_ACCESS, BenchConfig.HEAP})
public class MemoryBandwidthBenchmark {
    /** Bytes per pass: 4096 × 32000 × 4 by default. A multiple of 32 (four longs per loop step). */
    @Param({"524288000"})
    public long bytes;

    private Arena arena;
    private MemorySegment src;
    private MemorySegment dst;
    private ExecutorService pool;
    private int threads;

    @Setup(Level.Trial)
    public void setup() {
        if (bytes <= 0 || bytes % 32 != 0) throw new IllegalArgumentException("bytes must be a positive multiple of 32, got " + bytes);
        threads = BenchConfig.threads();
        arena = Arena.ofShared();
        src = arena.allocate(bytes, 4096);
        dst = arena.allocate(bytes, 4096);
        for (long i = 0; i < bytes / 8; i++) src.setAtIndex(ValueLayout.JAVA_LONG, i, i * 0x9E3779B97F4A7C15L);
        dst.fill((byte) 1);
        pool = Executors.newFixedThreadPool(threads);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        pool.shutdownNow();
        arena.close();
    }

    /** [lo, hi) byte range of slice k, aligned to 32 bytes. */
    private long sliceStart(int k) {
        return (bytes / 32 * k / threads) * 32;
    }

    private static long sum(MemorySegment s, long lo, long hi) {
        long a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (long off = lo; off < hi; off += 32) {
            a0 += s.get(ValueLayout.JAVA_LONG, off);
            a1 += s.get(ValueLayout.JAVA_LONG, off + 8);
            a2 += s.get(ValueLayout.JAVA_LONG, off + 16);
            a3 += s.get(ValueLayout.JAVA_LONG, off + 24);
        }
        return a0 + a1 + a2 + a3;
    }

    @Benchmark
    public long read() throws InterruptedException, ExecutionException {
        List<Future<Long>> parts = new ArrayList<>(threads);
        for (int k = 0; k < threads; k++) {
            long lo = sliceStart(k), hi = sliceStart(k + 1);
            parts.add(pool.submit(() -> sum(src, lo, hi)));
        }
        long total = 0;
        for (Future<Long> f : parts) total += f.get();
        return total;
    }

    @Benchmark
    public MemorySegment copy() throws InterruptedException, ExecutionException {
        List<Future<?>> parts = new ArrayList<>(threads);
        for (int k = 0; k < threads; k++) {
            long lo = sliceStart(k), hi = sliceStart(k + 1);
            parts.add(pool.submit(() -> MemorySegment.copy(src, lo, dst, lo, hi - lo)));
        }
        for (Future<?> f : parts) f.get();
        return dst;
    }
}
