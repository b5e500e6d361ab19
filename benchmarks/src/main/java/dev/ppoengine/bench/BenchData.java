package dev.ppoengine.bench;

import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * Seeded benchmark inputs, written once per trial into off-heap tensors that every backend reads in place
 * (the torch baseline wraps the same memory with from_blob, so all backends see bit-identical data).
 *
 * <p>Shapes and distributions (chosen to look like a PPO batch, not tuned for speed):
 * logits [N, V] uniform in [−8, 8) (f32 or rounded to bf16), labels [N] i64 uniform in [0, V);
 * masks [B, T] bool, right padded: row b holds its first L_b tokens, L_b uniform in [⌈T/2⌉, T];
 * logprobs uniform in [−6, 0); old/ref logprobs = logprobs + uniform(−0.3, 0.3) (so some ratios leave the clip range);
 * advantages, values, returns, scores uniform in [−2, 2); old values = values + uniform(−0.3, 0.3).
 */
public final class BenchData {
    private BenchData() {}

    /** Rows per generator block: each block gets its own seeded stream, so parallel filling is deterministic. */
    private static final int BLOCK_ROWS = 16;

    private static long streamSeed(long seed, long stream) {
        return seed ^ (stream * 0x9E3779B97F4A7C15L);
    }

    /** Logits [n, v] in f32, bf16 or f16, uniform in [−8, 8) before rounding; filled in parallel, same bits every run. */
    public static Tensor logits(Arena arena, DType dtype, int n, int v, long seed) {
        if (dtype != DType.F32 && dtype != DType.BF16 && dtype != DType.F16) {
            throw new IllegalArgumentException("logits dtype must be f32, bf16 or f16, got " + dtype);
        }
        Tensor t = Tensor.allocate(arena, dtype, n, v);
        MemorySegment seg = t.segment();
        int blocks = (n + BLOCK_ROWS - 1) / BLOCK_ROWS;
        IntStream.range(0, blocks).parallel().forEach(blk -> {
            SplittableRandom rng = new SplittableRandom(streamSeed(seed, blk));
            int r1 = Math.min(n, (blk + 1) * BLOCK_ROWS);
            for (int r = blk * BLOCK_ROWS; r < r1; r++) {
                long base = (long) r * v;   // 64-bit element offset: n·v exceeds 2^31 at v = 151936 in bf16 bytes
                for (int j = 0; j < v; j++) {
                    float x = (float) (rng.nextDouble() * 16.0 - 8.0);
                    switch (dtype) {
                        case F32 -> seg.setAtIndex(ValueLayout.JAVA_FLOAT, base + j, x);
                        case BF16 -> seg.setAtIndex(ValueLayout.JAVA_SHORT, base + j, DType.floatToBf16(x));
                        default -> seg.setAtIndex(ValueLayout.JAVA_SHORT, base + j, DType.floatToF16(x));   // F16
                    }
                }
            }
        });
        return t;
    }

    /** Labels [n] i64 uniform in [0, v). */
    public static Tensor labels(Arena arena, int n, int v, long seed) {
        SplittableRandom rng = new SplittableRandom(streamSeed(seed, -1));
        long[] y = new long[n];
        for (int i = 0; i < n; i++) y[i] = rng.nextInt(v);
        return Tensor.ofLongs(arena, y, n);
    }

    /** Right-padded bool mask [b, t]: row r valid on its first L_r positions, L_r uniform in [⌈t/2⌉, t]. */
    public static Tensor mask(Arena arena, int b, int t, long seed) {
        SplittableRandom rng = new SplittableRandom(streamSeed(seed, -2));
        Tensor m = Tensor.allocate(arena, DType.BOOL, b, t);
        int lo = (t + 1) / 2;
        for (int r = 0; r < b; r++) {
            int len = lo + rng.nextInt(t - lo + 1);
            for (int c = 0; c < len; c++) m.setFloat((long) r * t + c, 1);
        }
        return m;
    }

    /** f32 tensor of the given shape, uniform in [lo, hi). */
    public static Tensor uniform(Arena arena, double lo, double hi, long seed, long... shape) {
        SplittableRandom rng = new SplittableRandom(seed);
        Tensor x = Tensor.allocate(arena, DType.F32, shape);
        long n = x.numel();
        for (long i = 0; i < n; i++) x.setFloat(i, lo + (hi - lo) * rng.nextDouble());
        return x;
    }

    /** base + uniform(−spread, spread), elementwise (old/ref logprobs, old values). */
    public static Tensor perturbed(Arena arena, Tensor base, double spread, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        Tensor x = Tensor.allocate(arena, DType.F32, base.shape());
        long n = x.numel();
        for (long i = 0; i < n; i++) x.setFloat(i, base.getDouble(i) + spread * (2 * rng.nextDouble() - 1));
        return x;
    }

    /** A zeroed f32 output tensor. */
    public static Tensor zeros(Arena arena, long... shape) {
        return Tensor.allocate(arena, DType.F32, shape);
    }
}
