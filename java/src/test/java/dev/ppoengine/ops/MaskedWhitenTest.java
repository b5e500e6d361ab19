package dev.ppoengine.ops;

import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.kernels.WhitenEpsMode;
import dev.ppoengine.kernels.WhitenOptions;
import dev.ppoengine.kernels.WhitenVariance;
import dev.ppoengine.reference.ReferenceKernels;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;
import dev.ppoengine.testing.Rand;
import dev.ppoengine.testing.TestBackends;
import dev.ppoengine.testing.Tolerance;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * masked_whiten (SPEC): N = Σ m, μ = Σ m·x / N, σ² = Σ m·(x − μ)² / N (× N/(N−1) unbiased),
 * out = (x − μ)·rsqrt(σ² + ε) (add) or rsqrt(max(σ², ε)) (clamp), + μ when shift_mean=false, 0 where masked.
 */
class MaskedWhitenTest {
    private static final DType[] MASK_TYPES = {DType.F32, DType.U8, DType.BOOL, DType.I32, DType.I64};

    private Arena arena;
    private final PpoKernels ref = new ReferenceKernels();

    @BeforeEach
    void open() { arena = Arena.ofConfined(); }

    @AfterEach
    void close() { arena.close(); }

    /** Every combination of the three switches, with an ε. */
    static List<WhitenOptions> allOptions() {
        List<WhitenOptions> out = new ArrayList<>();
        for (WhitenVariance var : WhitenVariance.values()) {
            for (WhitenEpsMode mode : WhitenEpsMode.values()) {
                for (boolean shift : new boolean[] {true, false}) {
                    out.add(new WhitenOptions(var, mode, 1e-8, shift));
                    out.add(new WhitenOptions(var, mode, 0.3, shift));
                }
            }
        }
        return out;
    }

    private float[] run(PpoKernels k, Tensor x, Tensor m, WhitenOptions o) {
        Tensor out = Tensor.allocate(arena, DType.F32, x.shape());
        for (long i = 0; i < out.numel(); i++) out.setFloat(i, Float.NaN); // an unwritten position shows
        k.maskedWhiten(x, m, o, out);
        return out.toFloatArray();
    }

    private Tensor convert(Tensor mask, DType dtype) {
        Tensor out = Tensor.allocate(arena, dtype, mask.shape());
        for (long i = 0; i < mask.numel(); i++) out.setFloat(i, mask.getDouble(i));
        return out;
    }

    private static double[] d(float[] x) {
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = x[i];
        return out;
    }

    /** The SPEC formula written directly (one-pass sums, then the definition) in f64. */
    private static double[] direct(double[] x, double[] m, WhitenOptions o) {
        double n = 0, sum = 0;
        for (int i = 0; i < x.length; i++) if (m[i] != 0) { n += 1; sum += x[i]; }
        double mu = sum / n;
        double ss = 0;
        for (int i = 0; i < x.length; i++) if (m[i] != 0) ss += (x[i] - mu) * (x[i] - mu);
        double var = o.variance() == WhitenVariance.UNBIASED ? ss / (n - 1) : ss / n;
        double denom = o.epsMode() == WhitenEpsMode.ADD ? var + o.eps() : Math.max(var, o.eps());
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            if (m[i] == 0) continue;
            out[i] = (x[i] - mu) / Math.sqrt(denom) + (o.shiftMean() ? 0 : mu);
        }
        return out;
    }

    // ---------------- hand-computed ----------------

    // x = [2, 4, 4, 4, 5, 5, 7, 9] at the valid positions of a [2, 5] batch; masked slots hold 100 and −50.
    // μ = 40/8 = 5; deviations −3, −1, −1, −1, 0, 0, 2, 4; Σd² = 9+1+1+1+0+0+4+16 = 32.
    // biased σ² = 32/8 = 4 (σ = 2); unbiased σ² = 32/7.
    private static final float[] X = {2, 4, 100, 4, 4, 5, 5, -50, 7, 9};
    private static final float[] M = {1, 1, 0, 1, 1, 1, 1, 0, 1, 1};

    private float[] hand(WhitenOptions o) {
        return run(ref, Tensor.ofFloats(arena, X, 2, 5), Tensor.ofFloats(arena, M, 2, 5), o);
    }

    @Test
    void handBiasedAddNoEps() {
        // (x − 5)/sqrt(4 + 0) = (x − 5)/2 → −1.5, −0.5, [0], −0.5, −0.5, 0, 0, [0], 1, 2
        float[] out = hand(new WhitenOptions(WhitenVariance.BIASED, WhitenEpsMode.ADD, 0, true));
        assertArrayEquals(new float[] {-1.5f, -0.5f, 0, -0.5f, -0.5f, 0, 0, 0, 1, 2}, out);
    }

    @Test
    void handBiasedAddEps() {
        // ε = 5: (x − 5)/sqrt(4 + 5) = (x − 5)/3 → −1, −1/3, [0], −1/3, −1/3, 0, 0, [0], 2/3, 4/3
        float[] out = hand(new WhitenOptions(WhitenVariance.BIASED, WhitenEpsMode.ADD, 5, true));
        double t = 1.0 / 3;
        Tolerance.assertClose("add ε", new double[] {-1, -t, 0, -t, -t, 0, 0, 0, 2 * t, 4 * t}, d(out), 1e-7, 0);
    }

    @Test
    void handClampModes() {
        // clamp ε = 1e-8 < σ² = 4: max(4, 1e-8) = 4 → (x − 5)/2, the same as add with ε = 0.
        float[] small = hand(new WhitenOptions(WhitenVariance.BIASED, WhitenEpsMode.CLAMP, 1e-8, true));
        assertArrayEquals(new float[] {-1.5f, -0.5f, 0, -0.5f, -0.5f, 0, 0, 0, 1, 2}, small);
        // clamp ε = 9 > σ² = 4: max(4, 9) = 9 → (x − 5)/3 (add with ε = 9 would give /sqrt(13)).
        float[] big = hand(new WhitenOptions(WhitenVariance.BIASED, WhitenEpsMode.CLAMP, 9, true));
        double t = 1.0 / 3;
        Tolerance.assertClose("clamp ε=9", new double[] {-1, -t, 0, -t, -t, 0, 0, 0, 2 * t, 4 * t}, d(big), 1e-7, 0);
        // unbiased σ² = 32/7 ≈ 4.571 < 9: clamp still gives /3.
        float[] unb = hand(new WhitenOptions(WhitenVariance.UNBIASED, WhitenEpsMode.CLAMP, 9, true));
        Tolerance.assertClose("unbiased clamp ε=9", d(big), d(unb), 0, 0);
    }

    @Test
    void handUnbiased() {
        // (x − 5)/sqrt(32/7): −3/2.13809 = −1.40312, −1/2.13809 = −0.46771, 2/2.13809 = 0.93541, 4/2.13809 = 1.87083
        float[] out = hand(new WhitenOptions(WhitenVariance.UNBIASED, WhitenEpsMode.ADD, 0, true));
        double s = Math.sqrt(32.0 / 7);
        Tolerance.assertClose("unbiased", new double[] {-3 / s, -1 / s, 0, -1 / s, -1 / s, 0, 0, 0, 2 / s, 4 / s}, d(out), 1e-7, 0);
        assertEquals(-1.40312, out[0], 1e-5);
        assertEquals(1.87083, out[9], 1e-5);
    }

    @Test
    void handNoShiftAddsTheMeanBack() {
        // shift_mean=false: (x − 5)/2 + 5 → 3.5, 4.5, [0], 4.5, 4.5, 5, 5, [0], 6, 7 (masked stays 0)
        float[] out = hand(new WhitenOptions(WhitenVariance.BIASED, WhitenEpsMode.ADD, 0, false));
        assertArrayEquals(new float[] {3.5f, 4.5f, 0, 4.5f, 4.5f, 5, 5, 0, 6, 7}, out);
    }

    // ---------------- N < 2 / N < 1 and degenerate inputs ----------------

    @Test
    void tooFewValidTokensIsAnError() {
        Tensor x = Tensor.ofFloats(arena, new float[] {1, 2, 3}, 1, 3);
        Tensor one = Tensor.ofFloats(arena, new float[] {0, 1, 0}, 1, 3);
        Tensor none = Tensor.allocate(arena, DType.BOOL, 1, 3);
        Tensor out = Tensor.allocate(arena, DType.F32, 1, 3);
        WhitenOptions unbiased = new WhitenOptions(WhitenVariance.UNBIASED, WhitenEpsMode.ADD, 1e-8, true);
        WhitenOptions biased = new WhitenOptions(WhitenVariance.BIASED, WhitenEpsMode.CLAMP, 1e-8, true);
        var e1 = assertThrows(IllegalArgumentException.class, () -> ref.maskedWhiten(x, one, unbiased, out));
        assertTrue(e1.getMessage().contains("at least 2") && e1.getMessage().contains("got 1")
                && e1.getMessage().contains("unbiased"), e1.getMessage());
        var e0 = assertThrows(IllegalArgumentException.class, () -> ref.maskedWhiten(x, none, unbiased, out));
        assertTrue(e0.getMessage().contains("at least 2") && e0.getMessage().contains("got 0"), e0.getMessage());
        var eb = assertThrows(IllegalArgumentException.class, () -> ref.maskedWhiten(x, none, biased, out));
        assertTrue(eb.getMessage().contains("at least 1") && eb.getMessage().contains("got 0")
                && eb.getMessage().contains("biased"), eb.getMessage());
        // Biased with N = 1 is allowed: σ² = 0, x − μ = 0 → 0 (shift) or μ = 2 (no shift).
        assertArrayEquals(new float[] {0, 0, 0}, run(ref, x, one, biased));
        assertArrayEquals(new float[] {0, 2, 0},
                run(ref, x, one, new WhitenOptions(WhitenVariance.BIASED, WhitenEpsMode.ADD, 0, false)));
    }

    @ParameterizedTest
    @MethodSource("dev.ppoengine.testing.TestBackends#hostBackends")
    void tooFewValidTokensIsAnErrorOnEveryBackend(String backend) {
        try (PpoKernels k = TestBackends.open(backend)) {
            Tensor x = Tensor.ofFloats(arena, new float[] {1, 2, 3}, 1, 3);
            Tensor one = Tensor.ofFloats(arena, new float[] {0, 1, 0}, 1, 3);
            Tensor out = Tensor.allocate(arena, DType.F32, 1, 3);
            WhitenOptions unbiased = new WhitenOptions(WhitenVariance.UNBIASED, WhitenEpsMode.ADD, 1e-8, true);
            var e = assertThrows(IllegalArgumentException.class, () -> k.maskedWhiten(x, one, unbiased, out));
            assertTrue(e.getMessage().contains("at least 2") && e.getMessage().contains("got 1"), e.getMessage());
        }
    }

    @Test
    void constantValuesWithZeroEpsGiveZeroNotNaN() {
        // σ² = 0 and ε = 0: rsqrt(0) = ∞ but every x − μ is exactly 0, so the result is 0 (μ without shift).
        Tensor x = Tensor.ofFloats(arena, new float[] {0.1f, 0.1f, 0.1f, 7}, 2, 2);
        Tensor m = Tensor.ofFloats(arena, new float[] {1, 1, 1, 0}, 2, 2);
        for (WhitenEpsMode mode : WhitenEpsMode.values()) {
            assertArrayEquals(new float[] {0, 0, 0, 0},
                    run(ref, x, m, new WhitenOptions(WhitenVariance.UNBIASED, mode, 0, true)), mode.key());
            assertArrayEquals(new float[] {0.1f, 0.1f, 0.1f, 0},
                    run(ref, x, m, new WhitenOptions(WhitenVariance.BIASED, mode, 0, false)), mode.key());
        }
    }

    @Test
    void negativeOrNonFiniteEpsIsRejected() {
        for (double bad : new double[] {-1e-8, Double.NaN, Double.POSITIVE_INFINITY}) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> new WhitenOptions(WhitenVariance.BIASED, WhitenEpsMode.ADD, bad, true));
            assertTrue(e.getMessage().contains("whiten_eps"), e.getMessage());
        }
    }

    // ---------------- seeded random ----------------

    @ParameterizedTest
    @MethodSource("allOptions")
    void randomAgainstDirectFormula(WhitenOptions o) {
        Rand rnd = new Rand(arena, 11);
        for (long[] bt : new long[][] {{1, 2}, {1, 17}, {17, 33}, {41, 401}}) {
            Tensor x = rnd.normal(DType.F32, 3.0, bt);
            for (long i = 0; i < x.numel(); i++) x.setFloat(i, x.getDouble(i) + 1.5); // nonzero mean
            Tensor[] masks = {rnd.rightPaddedMask(DType.F32, bt[0], bt[1]), rnd.randomMask(DType.F32, 0.6, bt[0], bt[1])};
            for (Tensor m : masks) {
                if (validCount(m) < 2) continue; // N < 2 is the error case tested above
                double[] want = direct(x.toDoubleArray(), m.toDoubleArray(), o);
                Tolerance.assertClose(o + " " + bt[0] + "x" + bt[1], want, d(run(ref, x, m, o)), 1e-12, 2.5e-7);
            }
        }
    }

    @Test
    void whitenedStatisticsAreZeroMeanUnitVariance() {
        // Over the valid entries: mean 0, unbiased variance 1 (ε negligible) — independent of the formula above.
        Rand rnd = new Rand(arena, 12);
        Tensor x = rnd.normal(DType.F32, 5.0, 23, 57);
        Tensor m = rnd.randomMask(DType.U8, 0.5, 23, 57);
        float[] out = run(ref, x, m, new WhitenOptions(WhitenVariance.UNBIASED, WhitenEpsMode.ADD, 1e-8, true));
        double n = 0, s = 0, ss = 0;
        for (int i = 0; i < out.length; i++) {
            if (!m.isSet(i)) { assertEquals(0f, out[i], "masked " + i); continue; }
            n++; s += out[i]; ss += (double) out[i] * out[i];
        }
        assertEquals(0, s / n, 1e-6);
        assertEquals(1, (ss - s * s / n) / (n - 1), 1e-5);
    }

    @Test
    void everyMaskDtypeGivesTheSameBits() {
        Rand rnd = new Rand(arena, 13);
        Tensor x = rnd.normal(DType.F32, 1.0, 5, 19);
        Tensor m = rnd.randomMask(DType.F32, 0.6, 5, 19);
        WhitenOptions o = new WhitenOptions(WhitenVariance.UNBIASED, WhitenEpsMode.ADD, 1e-8, true);
        float[] base = run(ref, x, m, o);
        for (DType dt : MASK_TYPES) assertArrayEquals(base, run(ref, x, convert(m, dt), o), dt + " mask");
        Tensor m3 = Tensor.allocate(arena, DType.I64, 5, 19);
        for (long i = 0; i < m.numel(); i++) m3.setFloat(i, m.isSet(i) ? -3 : 0);
        assertArrayEquals(base, run(ref, x, m3, o), "i64 mask of −3s (any nonzero is valid)");
    }

    // ---------------- every host backend against the reference ----------------

    @ParameterizedTest
    @MethodSource("dev.ppoengine.testing.TestBackends#hostBackends")
    void backendMatchesReference(String backend) {
        try (PpoKernels k = TestBackends.open(backend)) {
            Rand rnd = new Rand(arena, 14);
            for (long[] bt : new long[][] {{1, 2}, {17, 33}, {41, 401}, {3, 1000}, {64, 1027}}) {
                Tensor x = rnd.normal(DType.F32, 2.0, bt);
                Tensor[] masks = {rnd.rightPaddedMask(DType.F32, bt[0], bt[1]), rnd.randomMask(DType.F32, 0.7, bt[0], bt[1])};
                for (Tensor mask : masks) {
                    if (validCount(mask) < 2) continue;
                    // Every switch combination with an f32 mask, then every mask dtype with the trl options.
                    for (WhitenOptions o : allOptions()) check(k, backend, x, mask, o, bt);
                    WhitenOptions trl = new WhitenOptions(WhitenVariance.UNBIASED, WhitenEpsMode.ADD, 1e-8, true);
                    for (DType dt : MASK_TYPES) check(k, backend, x, convert(mask, dt), trl, bt);
                }
            }
        }
    }

    private void check(PpoKernels k, String backend, Tensor x, Tensor m, WhitenOptions o, long[] bt) {
        String what = backend + " " + o + " " + m.dtype() + " mask " + bt[0] + "x" + bt[1];
        float[] got = run(k, x, m, o);
        Tolerance.assertClose(what, d(run(ref, x, m, o)), d(got));
        assertArrayEquals(got, run(k, x, m, o), what + ": two runs differ");
    }

    /** Counts valid mask entries (test-side, independent of the kernels' own count). */
    private static long validCount(Tensor m) {
        long n = 0;
        for (long i = 0; i < m.numel(); i++) if (m.getDouble(i) != 0) n++;
        return n;
    }
}
