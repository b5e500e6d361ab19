package dev.ppoengine.testing;

import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

/** Seeded random tensors for tests (always pass a fixed seed so failures reproduce). */
public final class Rand {
    private final SplittableRandom rnd;
    private final Arena arena;

    public Rand(Arena arena, long seed) {
        this.arena = arena;
        this.rnd = new SplittableRandom(seed);
    }

    public double uniform(double lo, double hi) { return lo + (hi - lo) * rnd.nextDouble(); }

    public double normal() {
        double u = Math.max(rnd.nextDouble(), 1e-300), v = rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }

    public int nextInt(int bound) { return rnd.nextInt(bound); }

    /** f32 (or bf16/f16) tensor with N(0, scale²) entries. */
    public Tensor normal(DType dtype, double scale, long... shape) {
        Tensor t = Tensor.allocate(arena, dtype, shape);
        long n = t.numel();
        for (long i = 0; i < n; i++) t.setFloat(i, scale * normal());
        return t;
    }

    public Tensor uniform(double lo, double hi, long... shape) {
        Tensor t = Tensor.allocate(arena, DType.F32, shape);
        long n = t.numel();
        for (long i = 0; i < n; i++) t.setFloat(i, uniform(lo, hi));
        return t;
    }

    /** Right-padded mask [B, T]: row b has a random length in [0, T] (row 0 always full). */
    public Tensor rightPaddedMask(DType dtype, long b, long t) {
        Tensor m = Tensor.allocate(arena, dtype, b, t);
        for (long r = 0; r < b; r++) {
            long len = r == 0 ? t : rnd.nextLong(t + 1);
            for (long c = 0; c < len; c++) m.setFloat(r * t + c, 1);
        }
        return m;
    }

    /** Mask [B, T] with each entry valid with probability p (interior gaps). */
    public Tensor randomMask(DType dtype, double p, long b, long t) {
        Tensor m = Tensor.allocate(arena, dtype, b, t);
        for (long i = 0; i < b * t; i++) m.setFloat(i, rnd.nextDouble() < p ? 1 : 0);
        return m;
    }

    /** Labels in [0, v). */
    public Tensor labels(DType dtype, long v, long... shape) {
        Tensor t = Tensor.allocate(arena, dtype, shape);
        long n = t.numel();
        for (long i = 0; i < n; i++) t.setFloat(i, rnd.nextLong(v));
        return t;
    }
}
