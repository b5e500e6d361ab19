package dev.ppoengine.model;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * GPT-2's tanh-approximated GELU (Hendrycks & Gimpel 2016; HF "gelu_new"):
 * {@code y = ½·x·(1 + tanh(u))}, {@code u = sqrt(2/π)·(x + 0.044715·x³)}, and its derivative
 * {@code dy/dx = ½(1 + tanh u) + ½·x·(1 − tanh² u)·sqrt(2/π)·(1 + 3·0.044715·x²)}.
 * tanh is evaluated as {@code 1 − 2/(exp(2u) + 1)} in double (Math.exp is an intrinsic, Math.tanh is not), exact
 * to double rounding and saturating correctly to ±1 for large |u|.
 */
final class Gelu {
    private Gelu() {}

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final double K = Math.sqrt(2.0 / Math.PI);
    private static final double A = 0.044715;

    static double tanh(double u) {
        return 1.0 - 2.0 / (Math.exp(2.0 * u) + 1.0);
    }

    /** y[i] = gelu(x[i]) for i in [0, n); x and y may be the same segment. */
    static void forward(MemorySegment x, MemorySegment y, long n) {
        for (long i = 0; i < n; i++) {
            double v = x.getAtIndex(F, i);
            double t = tanh(K * (v + A * v * v * v));
            y.setAtIndex(F, i, (float) (0.5 * v * (1.0 + t)));
        }
    }

    /** d[i] ← d[i]·gelu'(x[i]) in place. */
    static void backward(MemorySegment x, MemorySegment d, long n) {
        for (long i = 0; i < n; i++) {
            double v = x.getAtIndex(F, i);
            double t = tanh(K * (v + A * v * v * v));
            double dudx = K * (1.0 + 3.0 * A * v * v);
            double grad = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * dudx;
            d.setAtIndex(F, i, (float) (d.getAtIndex(F, i) * grad));
        }
    }
}
