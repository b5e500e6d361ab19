package dev.ppoengine.model;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * LayerNorm over the last dimension of [N, C] rows (Ba, Kiros, Hinton 2016; GPT-2 uses it pre-attention and pre-MLP):
 * {@code μ = mean(x), σ² = mean((x − μ)²), r = 1/sqrt(σ² + ε), x̂ = (x − μ)·r, y = x̂·w + b}.
 * Backward (as in llm.c's layernorm_backward): with {@code g = dy·w},
 * {@code dx = r·(g − mean(g) − x̂·mean(g·x̂))}, {@code dw += Σ_rows dy·x̂}, {@code db += Σ_rows dy}.
 * Statistics accumulate in double; μ and r are saved per row for the backward, x̂ is recomputed from x.
 * Rows run in parallel; dw/db are summed per column over the rows in row order (deterministic).
 */
final class LayerNorm {
    private LayerNorm() {}

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    static void forward(MemorySegment x, MemorySegment y, MemorySegment mean, MemorySegment rstd,
                        MemorySegment p, long wOff, long bOff, int rows, int c, double eps) {
        Parallel.forRange(rows, Math.max(1, 8192 / c), (lo, hi) -> {
            for (long n = lo; n < hi; n++) {
                long base = n * c;
                double sum = 0;
                for (int i = 0; i < c; i++) sum += x.getAtIndex(F, base + i);
                double mu = sum / c;
                double var = 0;
                for (int i = 0; i < c; i++) {
                    double d = x.getAtIndex(F, base + i) - mu;
                    var += d * d;
                }
                double r = 1.0 / Math.sqrt(var / c + eps);
                float muF = (float) mu, rF = (float) r;
                for (int i = 0; i < c; i++) {
                    float xhat = (x.getAtIndex(F, base + i) - muF) * rF;
                    y.setAtIndex(F, base + i, xhat * p.getAtIndex(F, wOff + i) + p.getAtIndex(F, bOff + i));
                }
                mean.setAtIndex(F, n, muF);
                rstd.setAtIndex(F, n, rF);
            }
        });
    }

    /** Adds the input gradient into {@code dx} and the parameter gradients into {@code g} at wOff/bOff. */
    static void backward(MemorySegment x, MemorySegment mean, MemorySegment rstd, MemorySegment dy, MemorySegment dx,
                         MemorySegment p, MemorySegment g, long wOff, long bOff, int rows, int c) {
        Parallel.forRange(rows, Math.max(1, 8192 / c), (lo, hi) -> {
            for (long n = lo; n < hi; n++) {
                long base = n * c;
                float mu = mean.getAtIndex(F, n), r = rstd.getAtIndex(F, n);
                double meanG = 0, meanGx = 0;
                for (int i = 0; i < c; i++) {
                    float xhat = (x.getAtIndex(F, base + i) - mu) * r;
                    float gi = dy.getAtIndex(F, base + i) * p.getAtIndex(F, wOff + i);
                    meanG += gi;
                    meanGx += gi * xhat;
                }
                float mg = (float) (meanG / c), mgx = (float) (meanGx / c);
                for (int i = 0; i < c; i++) {
                    float xhat = (x.getAtIndex(F, base + i) - mu) * r;
                    float gi = dy.getAtIndex(F, base + i) * p.getAtIndex(F, wOff + i);
                    dx.setAtIndex(F, base + i, dx.getAtIndex(F, base + i) + r * (gi - mg - xhat * mgx));
                }
            }
        });
        // Columns in parallel, rows in order within a column: a fixed summation order.
        Parallel.forRange(c, 16, (lo, hi) -> {
            int w = (int) (hi - lo);   // a chunk of the c (an int) columns: exact
            double[] dw = new double[w], db = new double[w];
            for (long n = 0; n < rows; n++) {
                long base = n * c;
                float mu = mean.getAtIndex(F, n), r = rstd.getAtIndex(F, n);
                for (int k = 0; k < w; k++) {
                    long i = lo + k;
                    float d = dy.getAtIndex(F, base + i);
                    dw[k] += d * ((x.getAtIndex(F, base + i) - mu) * r);
                    db[k] += d;
                }
            }
            for (int k = 0; k < w; k++) {
                long i = lo + k;
                g.setAtIndex(F, wOff + i, (float) (g.getAtIndex(F, wOff + i) + dw[k]));
                g.setAtIndex(F, bOff + i, (float) (g.getAtIndex(F, bOff + i) + db[k]));
            }
        });
    }
}
