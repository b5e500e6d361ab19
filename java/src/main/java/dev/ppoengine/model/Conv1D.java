package dev.ppoengine.model;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * HF GPT-2's Conv1D, i.e. a linear layer whose weight is stored [in, out]:
 * {@code y[N, out] = x[N, in] · W[in, out] + b}. Backward:
 * {@code dx = dy · Wᵀ}, {@code dW += xᵀ · dy}, {@code db += Σ_rows dy}. The three products are OpenBLAS GEMMs.
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
        for (int n = 0; n < rows; n++) {
            long base = (long) n * out;
            for (int j = 0; j < out; j++) {
                y.setAtIndex(F, base + j, y.getAtIndex(F, base + j) + p.getAtIndex(F, bOff + j));
            }
        }
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
        double[] db = new double[out];
        for (int n = 0; n < rows; n++) {
            long base = (long) n * out;
            for (int j = 0; j < out; j++) db[j] += dy.getAtIndex(F, base + j);
        }
        for (int j = 0; j < out; j++) g.setAtIndex(F, bOff + j, (float) (g.getAtIndex(F, bOff + j) + db[j]));
    }
}
