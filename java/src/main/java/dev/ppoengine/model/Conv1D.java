package dev.ppoengine.model;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * HF GPT-2's Conv1D, i.e. a linear layer whose weight is stored [in, out]:
 * {@code y[N, out] = x[N, in] · W[in, out] + b}. Backward:
 * {@code dx = dy · Wᵀ}, {@code dW += xᵀ · dy}, {@code db += Σ_rows dy}. The three products are OpenBLAS GEMMs;
 * the bias loops run rows (forward) or columns (backward, rows summed in order) in parallel.
 */
final class Conv1D {
    private Conv1D() {}

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    /**
     * y = x·W + b when {@code accumulate} is false; y += x·W + b when true (residual connections write straight
     * into the residual stream this way).
     */
    static void forward(MemorySegment x, MemorySegment y, MemorySegment p, long wOff, long bOff,
                        int rows, int in, int out, boolean accumulate) {
        Blas.sgemm(false, false, rows, out, in, 1f, x, 0, in, p, wOff, out, accumulate ? 1f : 0f, y, 0, out);
        Parallel.forRange(rows, Math.max(1, 16384 / out), (lo, hi) -> {
            for (long n = lo; n < hi; n++) {
                long base = n * out;
                for (int j = 0; j < out; j++) {
                    y.setAtIndex(F, base + j, y.getAtIndex(F, base + j) + p.getAtIndex(F, bOff + j));
                }
            }
        });
    }

    /**
     * dx (= or +=, per {@code accumulateDx}) dy·Wᵀ; dW += xᵀ·dy; db += Σ dy. {@code dx} may be null when the input
     * gradient is not needed.
     */
    static void backward(MemorySegment x, MemorySegment dy, MemorySegment dx, boolean accumulateDx,
                         MemorySegment p, MemorySegment g, long wOff, long bOff, int rows, int in, int out) {
        if (dx != null) {
            Blas.sgemm(false, true, rows, in, out, 1f, dy, 0, out, p, wOff, out, accumulateDx ? 1f : 0f, dx, 0, in);
        }
        Blas.sgemm(true, false, in, out, rows, 1f, x, 0, in, dy, 0, out, 1f, g, wOff, out);
        columnSums(dy, rows, out, g, bOff);
    }

    /** g[off + j] += Σ_n m[n, j] for an [rows, cols] block, in row order per column. */
    static void columnSums(MemorySegment m, int rows, int cols, MemorySegment g, long off) {
        Parallel.forRange(cols, 16, (lo, hi) -> {
            int w = (int) (hi - lo);   // a chunk of the cols (an int) columns: exact
            double[] acc = new double[w];
            for (long n = 0; n < rows; n++) {
                long base = n * cols + lo;
                for (int k = 0; k < w; k++) acc[k] += m.getAtIndex(F, base + k);
            }
            for (int k = 0; k < w; k++) g.setAtIndex(F, off + lo + k, (float) (g.getAtIndex(F, off + lo + k) + acc[k]));
        });
    }
}
