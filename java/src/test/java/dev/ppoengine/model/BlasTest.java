package dev.ppoengine.model;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The OpenBLAS wrapper against a literal triple loop: transposes, offsets, padded leading dimensions, beta, and
 * products large enough to be split into row or column blocks across threads.
 */
class BlasTest {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private static MemorySegment random(Arena a, long n, SplittableRandom rng) {
        MemorySegment s = a.allocate(n * 4, 64);
        for (long i = 0; i < n; i++) s.setAtIndex(F, i, (float) rng.nextDouble(-1, 1));
        return s;
    }

    @ParameterizedTest(name = "tA={0} tB={1} m={2} n={3} k={4} beta={5}")
    @CsvSource({
            "false, false, 1, 1, 1, 0",
            "false, true, 17, 5, 3, 0",
            "true, false, 4, 41, 7, 1",
            "true, true, 9, 2, 33, 0.5",
            "false, false, 41, 40, 1, 1",
            "false, true, 3, 7, 0, 0.5",
            "true, false, 300, 70, 64, 1",
            "false, true, 70, 301, 64, 0.5",
            "true, true, 129, 257, 40, 0",
    })
    void matchesTheTripleLoop(boolean ta, boolean tb, int m, int n, int k, float beta) {
        SplittableRandom rng = new SplittableRandom(m * 31L + n * 7L + k);
        int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2;
        long aOff = 5, bOff = 2, cOff = 7;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment A = random(a, aOff + (long) (ta ? k : m) * lda + 1, rng);
            MemorySegment B = random(a, bOff + (long) (tb ? n : k) * ldb + 1, rng);
            MemorySegment C = random(a, cOff + (long) m * ldc, rng);
            double[][] expect = new double[m][n];
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double acc = 0;
                    for (int p = 0; p < k; p++) {
                        double av = A.getAtIndex(F, aOff + (ta ? (long) p * lda + i : (long) i * lda + p));
                        double bv = B.getAtIndex(F, bOff + (tb ? (long) j * ldb + p : (long) p * ldb + j));
                        acc += av * bv;
                    }
                    expect[i][j] = 0.75 * acc + beta * C.getAtIndex(F, cOff + (long) i * ldc + j);
                }
            }
            Blas.sgemm(ta, tb, m, n, k, 0.75f, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    assertEquals(expect[i][j], C.getAtIndex(F, cOff + (long) i * ldc + j), 1e-5 + 1e-5 * Math.abs(expect[i][j]));
                }
            }
        }
    }

    @Test
    void outOfBoundsOperandsAreRejectedBeforeTheNativeCall() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(16 * 4, 64);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Blas.sgemm(false, false, 4, 4, 4, 1f, s, 1, 4, s, 0, 4, 0f, s, 0, 4));
            assertTrue(e.getMessage().contains("operand A"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Blas.sgemm(false, false, 2, 2, 4, 1f, s, 0, 3, s, 0, 2, 0f, s, 0, 2));
            assertTrue(e.getMessage().contains("leading dimension"), e.getMessage());
            MemorySegment heap = MemorySegment.ofArray(new float[16]);
            e = assertThrows(IllegalArgumentException.class, () -> Blas.sgemm(false, false, 2, 2, 2, 1f, heap, 0, 2, s, 0, 2, 0f, s, 0, 2));
            assertTrue(e.getMessage().contains("heap"), e.getMessage());
        }
    }
}
