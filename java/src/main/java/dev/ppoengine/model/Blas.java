package dev.ppoengine.model;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.openblas.global.openblas;

import java.lang.foreign.MemorySegment;

/**
 * Row-major single-precision GEMM through OpenBLAS (the JavaCPP preset):
 * {@code C[M, N] = alpha · op(A)[M, K] · op(B)[K, N] + beta · C}, op = identity or transpose.
 *
 * <p>Operands are off-heap {@link MemorySegment}s plus an element offset and a leading dimension; they are handed
 * to OpenBLAS as pointers at the segment's address (no copy). Because a wrong extent would make native code read or
 * write out of bounds, every operand's span is checked against its segment in Java first.
 */
public final class Blas {
    private Blas() {}

    /** A FloatPointer viewing native memory the JVM owns through a MemorySegment; never deallocates it. */
    private static final class View extends FloatPointer {
        View(MemorySegment seg, long offsetElems, long count) {
            super((Pointer) null);
            this.address = seg.address() + offsetElems * 4L;
            this.capacity = count;
            this.limit = count;
        }
    }

    /** OpenBLAS worker threads (OpenBLAS's own default is the core count). */
    public static void setThreads(int n) {
        if (n < 1) throw new IllegalArgumentException("threads must be >= 1, got " + n);
        openblas.blas_set_num_threads(n);
    }

    public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                             MemorySegment a, long aOff, int lda,
                             MemorySegment b, long bOff, int ldb,
                             float beta, MemorySegment c, long cOff, int ldc) {
        if (m < 0 || n < 0 || k < 0) throw new IllegalArgumentException("negative GEMM size m=" + m + " n=" + n + " k=" + k);
        if (m == 0 || n == 0) return;
        // Stored shapes: A is [m, k] (or [k, m] transposed), B is [k, n] (or [n, k]), C is [m, n].
        long aSpan = span(transA ? k : m, transA ? m : k, lda, "A");
        long bSpan = span(transB ? n : k, transB ? k : n, ldb, "B");
        long cSpan = span(m, n, ldc, "C");
        check(a, aOff, aSpan, "A");
        check(b, bOff, bSpan, "B");
        check(c, cOff, cSpan, "C");
        if (k == 0) {
            // OpenBLAS handles k = 0 as C = beta·C; spelled out so the pointers of empty A/B are never formed.
            scale(c, cOff, m, n, ldc, beta);
            return;
        }
        openblas.cblas_sgemm(openblas.CblasRowMajor,
                transA ? openblas.CblasTrans : openblas.CblasNoTrans,
                transB ? openblas.CblasTrans : openblas.CblasNoTrans,
                m, n, k, alpha,
                new View(a, aOff, aSpan), lda,
                new View(b, bOff, bSpan), ldb,
                beta, new View(c, cOff, cSpan), ldc);
    }

    private static long span(int rows, int cols, int ld, String name) {
        if (ld < Math.max(1, cols)) {
            throw new IllegalArgumentException("GEMM operand " + name + ": leading dimension " + ld + " < columns " + cols);
        }
        return rows == 0 || cols == 0 ? 0 : (long) (rows - 1) * ld + cols;
    }

    private static void check(MemorySegment seg, long off, long span, String name) {
        if (!seg.isNative()) {
            // A heap segment has no stable native address to hand to OpenBLAS.
            throw new IllegalArgumentException("GEMM operand " + name + ": expected an off-heap (native) segment, got a heap segment");
        }
        if (off < 0 || (off + span) * 4L > seg.byteSize()) {
            throw new IllegalArgumentException("GEMM operand " + name + ": elements [" + off + ", " + (off + span)
                    + ") exceed the segment of " + seg.byteSize() / 4 + " floats");
        }
    }

    private static void scale(MemorySegment c, long off, int m, int n, int ldc, float beta) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                long idx = off + (long) i * ldc + j;
                float v = beta == 0f ? 0f : beta * c.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, idx);
                c.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, idx, v);
            }
        }
    }
}
