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
 *
 * <p>Threading: OpenBLAS is set to one thread and {@link #sgemm} splits a large product into column (or row) blocks
 * of C that run on the model's {@link Parallel} pool, one single-threaded OpenBLAS call each. The model's own loops
 * use the same pool, so OpenBLAS's worker threads never spin on the cores those loops need (on a small machine that
 * contention costs more than the GEMMs). Every element of C is still one dot product over the full K in OpenBLAS's
 * order, and the split depends only on the shape, so results are the same run to run.
 */
public final class Blas {
    private Blas() {}

    static {
        openblas.blas_set_num_threads(1);
    }

    /** Below this many multiply-adds a GEMM is not worth splitting. */
    private static final long SPLIT_MIN_MACS = 1L << 20;

    /** A FloatPointer viewing native memory the JVM owns through a MemorySegment; never deallocates it. */
    private static final class View extends FloatPointer {
        View(MemorySegment seg, long offsetElems, long count) {
            super((Pointer) null);
            this.address = seg.address() + offsetElems * 4L;
            this.capacity = count;
            this.limit = count;
        }
    }

    /** C = alpha·op(A)·op(B) + beta·C, split across the pool when large (call from outside parallel loops). */
    public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                             MemorySegment a, long aOff, int lda,
                             MemorySegment b, long bOff, int ldb,
                             float beta, MemorySegment c, long cOff, int ldc) {
        if (m < 0 || n < 0 || k < 0) throw new IllegalArgumentException("negative GEMM size m=" + m + " n=" + n + " k=" + k);
        if (m == 0 || n == 0) return;
        int threads = Parallel.threads();
        if (threads == 1 || (long) m * n * k < SPLIT_MIN_MACS || k == 0) {
            sgemmSerial(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        // Validate the whole product once so a bad call fails before any block runs.
        validate(transA, transB, m, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc);
        if (n >= m) {
            // Column blocks of C: B's columns (rows of Bᵀ) and C's columns move; A is shared. Blocks of 16 columns.
            long blocks = (n + 15) / 16;
            Parallel.forChunks(blocks, 1, threads, (ch, lo, hi) -> {
                // Block bounds are ≤ n, an int: the narrowing is exact.
                int j0 = (int) (lo * 16), j1 = (int) Math.min(n, hi * 16);
                sgemmSerial(transA, transB, m, j1 - j0, k, alpha, a, aOff, lda,
                        b, bOff + (transB ? (long) j0 * ldb : j0), ldb, beta, c, cOff + j0, ldc);
            });
        } else {
            long blocks = (m + 15) / 16;
            Parallel.forChunks(blocks, 1, threads, (ch, lo, hi) -> {
                int i0 = (int) (lo * 16), i1 = (int) Math.min(m, hi * 16);
                sgemmSerial(transA, transB, i1 - i0, n, k, alpha, a, aOff + (transA ? i0 : (long) i0 * lda), lda,
                        b, bOff, ldb, beta, c, cOff + (long) i0 * ldc, ldc);
            });
        }
    }

    private static void validate(boolean transA, boolean transB, int m, int n, int k,
                                 MemorySegment a, long aOff, int lda, MemorySegment b, long bOff, int ldb,
                                 MemorySegment c, long cOff, int ldc) {
        check(a, aOff, span(transA ? k : m, transA ? m : k, lda, "A"), "A");
        check(b, bOff, span(transB ? n : k, transB ? k : n, ldb, "B"), "B");
        check(c, cOff, span(m, n, ldc, "C"), "C");
    }

    /** One single-threaded OpenBLAS call (safe inside parallel loops). */
    static void sgemmSerial(boolean transA, boolean transB, int m, int n, int k, float alpha,
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
