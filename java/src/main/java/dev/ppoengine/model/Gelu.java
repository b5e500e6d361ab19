package dev.ppoengine.model;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * GPT-2's tanh-approximated GELU (Hendrycks & Gimpel 2016; HF "gelu_new"):
 * {@code y = ½·x·(1 + t)}, {@code t = tanh(u)}, {@code u = sqrt(2/π)·(x + 0.044715·x³)}, and its derivative
 * {@code dy/dx = ½(1 + t) + ½·x·(1 − t²)·sqrt(2/π)·(1 + 3·0.044715·x²)}.
 * tanh is evaluated as {@code 1 − 2/(exp(2u) + 1)} in double (Math.exp is an intrinsic, Math.tanh is not), exact
 * to double rounding and saturating correctly to ±1 for large |u|. The training forward keeps t so that the
 * backward (and the recomputation of y it needs) costs no exponential.
 */
final class Gelu {
    private Gelu() {}

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final double K = Math.sqrt(2.0 / Math.PI);
    private static final double A = 0.044715;
    private static final long GRAIN = 1 << 14;

    static double tanh(double u) {
        return 1.0 - 2.0 / (Math.exp(2.0 * u) + 1.0);
    }

    /** y[i] = gelu(x[i]) for i in [0, n), and t[i] = tanh(u(x[i])) unless t is null; x and y may be the same segment. */
    static void forward(MemorySegment x, MemorySegment y, MemorySegment t, long n) {
        Parallel.forRange(n, GRAIN, (lo, hi) -> {
            for (long i = lo; i < hi; i++) {
                float v = x.getAtIndex(F, i);
                double vd = v;
                // t is rounded to f32 before use so that recompute() reproduces y bit for bit.
                float th = (float) tanh(K * (vd + A * vd * vd * vd));
                if (t != null) t.setAtIndex(F, i, th);
                y.setAtIndex(F, i, 0.5f * v * (1f + th));
            }
        });
    }

    /** y[i] = ½·x[i]·(1 + t[i]): the forward output again, from the saved tanh. */
    static void recompute(MemorySegment x, MemorySegment t, MemorySegment y, long n) {
        Parallel.forRange(n, GRAIN, (lo, hi) -> {
            for (long i = lo; i < hi; i++) {
                float v = x.getAtIndex(F, i);
                y.setAtIndex(F, i, 0.5f * v * (1f + t.getAtIndex(F, i)));
            }
        });
    }

    /** d[i] ← d[i]·gelu'(x[i]) in place, with t the saved tanh. */
    static void backward(MemorySegment x, MemorySegment t, MemorySegment d, long n) {
        Parallel.forRange(n, GRAIN, (lo, hi) -> {
            for (long i = lo; i < hi; i++) {
                double v = x.getAtIndex(F, i);
                double th = t.getAtIndex(F, i);
                double dudx = K * (1.0 + 3.0 * A * v * v);
                double grad = 0.5 * (1.0 + th) + 0.5 * v * (1.0 - th * th) * dudx;
                d.setAtIndex(F, i, (float) (d.getAtIndex(F, i) * grad));
            }
        });
    }
}
