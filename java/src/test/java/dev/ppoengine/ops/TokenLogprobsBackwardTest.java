package dev.ppoengine.ops;

import dev.ppoengine.kernels.EntropyLogits;
import dev.ppoengine.kernels.LogprobOptions;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.kernels.Preset;
import dev.ppoengine.kernels.Settings;
import dev.ppoengine.reference.ReferenceKernels;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;
import dev.ppoengine.testing.Rand;
import dev.ppoengine.testing.TestBackends;
import dev.ppoengine.testing.Tolerance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Map;
import java.util.stream.Stream;

import static dev.ppoengine.ops.TokenLogprobsTest.assertNear;
import static dev.ppoengine.ops.TokenLogprobsTest.assertRejected;
import static dev.ppoengine.ops.TokenLogprobsTest.bits;
import static dev.ppoengine.ops.TokenLogprobsTest.oracle;
import static dev.ppoengine.ops.TokenLogprobsTest.stridedRandom;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * token_logprobs_backward (SPEC): grad_logits_ij = g_i (1[j = y] − p_ij)/τ − h_i q_ij (z_e_ij − mean_i)·s,
 * s = 1/τ (entropy_logits=scaled, z_e = z/τ) or 1 (raw, z_e = z). The gradient is checked against hand arithmetic
 * and against central finite differences of F(z) = Σ_i g_i·logprob_i + h_i·entropy_i, where F is evaluated in f64
 * by {@link TokenLogprobsTest#oracle} directly on double[] rows (the f32 outputs of the forward would drown the
 * difference quotient in rounding).
 */
class TokenLogprobsBackwardTest {

    private final PpoKernels ref = new ReferenceKernels();

    // ------------------------------------------------------------------ hand-computed cases

    @Test
    void handComputedTemperatureOne() {
        try (Arena arena = Arena.ofConfined()) {
            // z = [1, 2, 3], y = 2, τ = 1: p = q = [0.09003057, 0.24472847, 0.66524096], mean = 2.57521038.
            // logprob part  (g = 1, h = 0): onehot − p = [−0.09003057, −0.24472847, 1 − 0.66524096 = 0.33475904]
            // entropy part  (g = 0, h = 1): −q (z − mean), z − mean = [−1.57521038, −0.57521038, 0.42478962]
            //   = [0.09003057·1.57521038, 0.24472847·0.57521038, −0.66524096·0.42478962]
            //   = [0.14181709, 0.14077036, −0.28258745]
            // mixed (g = 2, h = −0.5): 2·[logprob part] − 0.5·[entropy part]
            //   = [−0.18006115 − 0.07090855, −0.48945694 − 0.07038518, 0.66951809 + 0.14129373]
            //   = [−0.25096970, −0.55984212, 0.81081182]
            Tensor logits = Tensor.ofFloats(arena, new float[] {1, 2, 3}, 1, 3);
            Tensor labels = Tensor.ofInts(arena, new int[] {2}, 1);
            LogprobOptions o = LogprobOptions.DEFAULT;
            assertRow(new double[] {-0.09003057, -0.24472847, 0.33475904}, grad(arena, logits, labels, o, 1, 0));
            assertRow(new double[] {0.14181709, 0.14077036, -0.28258745}, grad(arena, logits, labels, o, 0, 1));
            assertRow(new double[] {-0.25096970, -0.55984212, 0.81081182}, grad(arena, logits, labels, o, 2, -0.5));
        }
    }

    @Test
    void handComputedTemperatureTwoScaledAndRaw() {
        try (Arena arena = Arena.ofConfined()) {
            // z = [1, 2, 3], y = 0, τ = 2, g = h = 1. z' = [0.5, 1, 1.5], p = [0.18632372, 0.30719589, 0.50648039].
            // logprob part: (onehot − p)/τ = [0.81367628, −0.30719589, −0.50648039]/2
            //             = [0.40683814, −0.15359794, −0.25324020]
            // scaled entropy part: −p (z' − mean)/τ, mean = 1.16007834, z' − mean = [−0.66007834, −0.16007834, 0.33992166]
            //   = [0.18632372·0.66007834, 0.30719589·0.16007834, −0.50648039·0.33992166]/2
            //   = [0.12298825, 0.04917541, −0.17216366]/2 = [0.06149413, 0.02458770, −0.08608183]
            //   total = [0.46833227, −0.12901024, −0.33932203]
            // raw entropy part: −q (z − mean_raw) with q, mean_raw of the τ = 1 case, not divided by τ
            //   = [0.14181709, 0.14077036, −0.28258745]; total = [0.54865523, −0.01282758, −0.53582765]
            Tensor logits = Tensor.ofFloats(arena, new float[] {1, 2, 3}, 1, 3);
            Tensor labels = Tensor.ofLongs(arena, new long[] {0}, 1);
            assertRow(new double[] {0.46833227, -0.12901024, -0.33932203},
                    grad(arena, logits, labels, new LogprobOptions(2.0, EntropyLogits.SCALED), 1, 1));
            assertRow(new double[] {0.54865523, -0.01282758, -0.53582765},
                    grad(arena, logits, labels, new LogprobOptions(2.0, EntropyLogits.RAW), 1, 1));
        }
    }

    // ------------------------------------------------------------------ finite differences

    @ParameterizedTest
    @EnumSource(EntropyLogits.class)
    void matchesCentralFiniteDifferences(EntropyLogits mode) {
        for (double tau : new double[] {0.7, 1.0, 1.6}) {
            checkFiniteDifferences(new LogprobOptions(tau, mode), true, 31 + (long) (tau * 10));
            checkFiniteDifferences(new LogprobOptions(tau, mode), false, 57 + (long) (tau * 10));
        }
    }

    @ParameterizedTest
    @EnumSource(Preset.class)
    void everyPresetMatchesFiniteDifferences(Preset preset) {
        checkFiniteDifferences(Settings.of(preset, Map.of("temperature", "0.9")).logprobOptions(), true, 71);
    }

    /**
     * N = 5 rows of V = 7 f32 logits; central differences with step 1e-5 on the f64 objective: truncation error
     * ~ε²·F''' ≈ 1e-10, cancellation ~1e-16·|F|/ε ≈ 1e-11. The backward reads lse from the f32 saved row
     * (|lse| ≲ 10 → p off by ≲ 1e-6 relative), hence the 2e-6 bound.
     */
    private void checkFiniteDifferences(LogprobOptions o, boolean withEntropy, long seed) {
        try (Arena arena = Arena.ofConfined()) {
            final int n = 5, v = 7;
            final double eps = 1e-5;
            Rand r = new Rand(arena, seed);
            Tensor logits = r.normal(DType.F32, 2.0, n, v);
            Tensor labels = r.labels(DType.I64, v, n);
            Tensor g = r.normal(DType.F32, 1.0, n);
            Tensor h = withEntropy ? r.normal(DType.F32, 1.0, n) : null;
            Tensor gradLogits = backward(arena, ref, logits, labels, forwardSaved(arena, logits, labels, o), g, h, o,
                    DType.F32);

            double[] want = new double[n * v];
            for (int i = 0; i < n; i++) {
                double[] z = new double[v];
                for (int j = 0; j < v; j++) z[j] = logits.getDouble((long) i * v + j);
                for (int j = 0; j < v; j++) {
                    double keep = z[j];
                    z[j] = keep + eps;
                    double up = objective(z, labels.getLong(i), g.getDouble(i), h == null ? 0 : h.getDouble(i), o);
                    z[j] = keep - eps;
                    double down = objective(z, labels.getLong(i), g.getDouble(i), h == null ? 0 : h.getDouble(i), o);
                    z[j] = keep;
                    want[i * v + j] = (up - down) / (2 * eps);
                }
            }
            Tolerance.assertClose("grad_logits " + o + (withEntropy ? " with h" : " h=null"), want,
                    gradLogits.toDoubleArray(), 2e-6, 2e-6);
        }
    }

    /** One row's share of F = g·logprob + h·entropy, in f64. */
    private static double objective(double[] z, long y, double g, double h, LogprobOptions o) {
        double[] w = oracle(z, y, o.temperature(), o.entropyLogits());
        return g * w[0] + h * w[1];
    }

    // ------------------------------------------------------------------ edge cases

    @Test
    void vocabularyOfOneHasZeroGradient() {
        try (Arena arena = Arena.ofConfined()) {
            // V = 1: p = q = 1, so onehot − p = 0 and q (z − mean) = q (z − z) = 0. The backward takes lse and mean
            // from the f32 saved row (12.083333 = 7.25/0.6 rounded), so p = exp(z' − lse) is 1 only to ~1e-7.
            Tensor logits = Tensor.ofFloats(arena, new float[] {-3.5f, 0f, 7.25f}, 3, 1);
            Tensor labels = Tensor.ofInts(arena, new int[] {0, 0, 0}, 3);
            Tensor g = Tensor.ofFloats(arena, new float[] {1, -2, 3}, 3);
            Tensor h = Tensor.ofFloats(arena, new float[] {0.5f, 4, -1}, 3);
            for (EntropyLogits e : EntropyLogits.values()) {
                LogprobOptions o = new LogprobOptions(0.6, e);
                Tensor out = backward(arena, ref, logits, labels, forwardSaved(arena, logits, labels, o), g, h, o, DType.F32);
                for (double x : out.toDoubleArray()) assertEquals(0.0, x, 2e-6);
            }
        }
    }

    @Test
    void gradEntropyNullEqualsZeros() {
        try (Arena arena = Arena.ofConfined()) {
            Rand r = new Rand(arena, 9);
            Tensor logits = r.normal(DType.F32, 2.0, 17, 5);
            Tensor labels = r.labels(DType.I32, 5, 17);
            Tensor g = r.normal(DType.F32, 1.0, 17);
            LogprobOptions o = new LogprobOptions(0.8, EntropyLogits.SCALED);
            Tensor saved = forwardSaved(arena, logits, labels, o);
            Tensor a = backward(arena, ref, logits, labels, saved, g, null, o, DType.F32);
            Tensor b = backward(arena, ref, logits, labels, saved, g, Tensor.allocate(arena, DType.F32, 17), o, DType.F32);
            assertArrayEquals(bits(a), bits(b));
        }
    }

    @Test
    void largeLogitsGiveFiniteGradients() {
        try (Arena arena = Arena.ofConfined()) {
            // Row 0: z = [1e4, −1e4, 0], y = 1, g = h = 1: lse = 1e4 (exact in f32), p = q = [1, 0, 0],
            //        mean = 1e4 → entropy part q (z − mean) = [1·0, 0, 0]; grad = onehot − p = [−1, 1, 0].
            // Row 1: z = [1e4, 1e4, −1e4], y = 1: p = [½, ½, 0], mean = 1e4 → grad = [−½, ½, 0]. Here lse = 1e4 + log 2
            //        is stored in f32 (ulp 2^-10 near 1e4), so p carries up to 5e-4 relative error: the bound is 1e-3.
            Tensor logits = Tensor.ofFloats(arena, new float[] {1e4f, -1e4f, 0f, 1e4f, 1e4f, -1e4f}, 2, 3);
            Tensor labels = Tensor.ofInts(arena, new int[] {1, 1}, 2);
            Tensor ones = Tensor.ofFloats(arena, new float[] {1, 1}, 2);
            for (EntropyLogits e : EntropyLogits.values()) {
                LogprobOptions o = new LogprobOptions(1.0, e);
                Tensor out = backward(arena, ref, logits, labels, forwardSaved(arena, logits, labels, o), ones, ones, o,
                        DType.F32);
                double[] got = out.toDoubleArray();
                for (double x : got) assertTrue(Double.isFinite(x), "finite: " + x);
                Tolerance.assertClose("row 0", new double[] {-1, 1, 0}, java.util.Arrays.copyOfRange(got, 0, 3), 0, 0);
                Tolerance.assertClose("row 1", new double[] {-0.5, 0.5, 0}, java.util.Arrays.copyOfRange(got, 3, 6), 1e-3, 0);
            }
        }
    }

    @Test
    void inPlaceEqualsOutOfPlace() {
        try (Arena arena = Arena.ofConfined()) {
            for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16}) {
                for (EntropyLogits e : EntropyLogits.values()) {
                    // [17, 33] rows inside a buffer with row stride 40 (the junk tail must survive).
                    Tensor logits = stridedRandom(arena, dt, 17, 33, 40, 13);
                    Rand r = new Rand(arena, 14);
                    Tensor labels = r.labels(DType.I64, 33, 17);
                    Tensor g = r.normal(DType.F32, 1.0, 17);
                    Tensor h = r.normal(DType.F32, 1.0, 17);
                    LogprobOptions o = new LogprobOptions(1.4, e);
                    Tensor saved = forwardSaved(arena, logits, labels, o);

                    Tensor outOfPlace = Tensor.allocate(arena, dt, 17, 33);
                    ref.tokenLogprobsBackward(logits, labels, saved, g, h, o, outOfPlace);

                    Tensor buffer = copyWithStride(arena, logits);
                    ref.tokenLogprobsBackward(buffer, labels, saved, g, h, o, buffer);
                    assertArrayEquals(bits(outOfPlace), bits(buffer), dt + " " + e);
                    for (long i = 0; i < 17; i++) {
                        for (long c = 33; c < 40; c++) {
                            long off = (i * 40 + c) * dt.byteSize();
                            assertEquals(logits.segment().get(java.lang.foreign.ValueLayout.JAVA_BYTE, off),
                                    buffer.segment().get(java.lang.foreign.ValueLayout.JAVA_BYTE, off), "junk tail kept");
                        }
                    }
                }
            }
        }
    }

    @Test
    void outputInTheLogitsDtypeIsTheF32ResultRounded() {
        try (Arena arena = Arena.ofConfined()) {
            for (DType dt : new DType[] {DType.BF16, DType.F16}) {
                Rand r = new Rand(arena, 21);
                Tensor logits = r.normal(dt, 3.0, 41, 401);
                Tensor labels = r.labels(DType.I32, 401, 41);
                Tensor g = r.normal(DType.F32, 1.0, 41);
                Tensor h = r.normal(DType.F32, 1.0, 41);
                LogprobOptions o = new LogprobOptions(0.9, EntropyLogits.RAW);
                Tensor saved = forwardSaved(arena, logits, labels, o);
                Tensor f32 = backward(arena, ref, logits, labels, saved, g, h, o, DType.F32);
                Tensor half = backward(arena, ref, logits, labels, saved, g, h, o, dt);
                for (long i = 0; i < f32.numel(); i++) {
                    Tensor one = Tensor.allocate(arena, dt, 1);
                    one.setFloat(0, f32.getDouble(i));
                    assertEquals(one.getDouble(0), half.getDouble(i), 0.0, dt + " at " + i);
                }
            }
        }
    }

    @Test
    void halfPrecisionAndStridedLogitsEqualTheDenseF32Logits() {
        try (Arena arena = Arena.ofConfined()) {
            for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16}) {
                Tensor strided = stridedRandom(arena, dt, 3, 1000, 1003, 33);
                Tensor dense = Tensor.allocate(arena, DType.F32, 3, 1000);   // the same rounded values, widened to f32
                for (long i = 0; i < dense.numel(); i++) dense.setFloat(i, strided.getDouble(i));
                Rand r = new Rand(arena, 34);
                Tensor labels = r.labels(DType.I32, 1000, 3);
                Tensor g = r.normal(DType.F32, 1.0, 3);
                Tensor h = r.normal(DType.F32, 1.0, 3);
                for (EntropyLogits e : EntropyLogits.values()) {
                    LogprobOptions o = new LogprobOptions(0.75, e);
                    Tensor saved = forwardSaved(arena, dense, labels, o);
                    assertArrayEquals(bits(saved), bits(forwardSaved(arena, strided, labels, o)), dt + " saved");
                    assertArrayEquals(bits(backward(arena, ref, dense, labels, saved, g, h, o, DType.F32)),
                            bits(backward(arena, ref, strided, labels, saved, g, h, o, DType.F32)), dt + " " + e);
                }
            }
        }
    }

    @Test
    void labelsInI32AndI64GiveTheSameBits() {
        try (Arena arena = Arena.ofConfined()) {
            Rand r = new Rand(arena, 41);
            Tensor logits = r.normal(DType.F32, 2.0, 17, 5);
            Tensor l64 = r.labels(DType.I64, 5, 17);
            Tensor l32 = Tensor.allocate(arena, DType.I32, 17);
            for (int i = 0; i < 17; i++) l32.setFloat(i, l64.getLong(i));
            Tensor g = r.normal(DType.F32, 1.0, 17);
            LogprobOptions o = LogprobOptions.DEFAULT;
            Tensor saved = forwardSaved(arena, logits, l64, o);
            assertArrayEquals(bits(backward(arena, ref, logits, l64, saved, g, null, o, DType.F32)),
                    bits(backward(arena, ref, logits, l32, saved, g, null, o, DType.F32)));
        }
    }

    // ------------------------------------------------------------------ bad input

    @Test
    void badInputIsRejected() {
        try (Arena arena = Arena.ofConfined()) {
            LogprobOptions o = LogprobOptions.DEFAULT;
            Tensor logits = Tensor.ofFloats(arena, new float[12], 4, 3);
            Tensor labels = Tensor.ofInts(arena, new int[4], 4);
            Tensor saved = Tensor.allocate(arena, DType.F32, 4, 3);
            Tensor g = Tensor.allocate(arena, DType.F32, 4);
            Tensor out = Tensor.allocate(arena, DType.F32, 4, 3);

            var range = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> ref.tokenLogprobsBackward(logits, Tensor.ofInts(arena, new int[] {0, 0, 5, 0}, 4), saved, g, null, o, out));
            assertTrue(range.getMessage().contains("row 2") && range.getMessage().contains("label 5"), range.getMessage());

            assertRejected("saved", () -> ref.tokenLogprobsBackward(logits, labels, Tensor.allocate(arena, DType.F32, 4, 2), g, null, o, out));
            assertRejected("saved", () -> ref.tokenLogprobsBackward(logits, labels, null, g, null, o, out));
            assertRejected("grad_logprobs", () -> ref.tokenLogprobsBackward(logits, labels, saved, Tensor.allocate(arena, DType.F32, 5), null, o, out));
            assertRejected("grad_logprobs", () -> ref.tokenLogprobsBackward(logits, labels, saved, Tensor.allocate(arena, DType.BF16, 4), null, o, out));
            assertRejected("grad_entropy", () -> ref.tokenLogprobsBackward(logits, labels, saved, g, Tensor.allocate(arena, DType.F32, 3), o, out));
            assertRejected("grad_logits", () -> ref.tokenLogprobsBackward(logits, labels, saved, g, null, o, Tensor.allocate(arena, DType.F32, 4, 4)));
            assertRejected("grad_logits", () -> ref.tokenLogprobsBackward(logits, labels, saved, g, null, o, Tensor.allocate(arena, DType.F16, 4, 3)));
            assertRejected("grad_logits", () -> ref.tokenLogprobsBackward(logits, labels, saved, g, null, o, Tensor.allocate(arena, DType.I32, 4, 3)));
            assertRejected("grad_logits", () -> ref.tokenLogprobsBackward(logits, labels, saved, g, null, o, null));
            assertRejected("options", () -> ref.tokenLogprobsBackward(logits, labels, saved, g, null, null, out));

            // In place needs the same dtype: bf16 logits and an f32 view of the same memory.
            MemorySegment seg = arena.allocate(4 * 3 * 4, 64);
            Tensor bf = Tensor.of(seg, DType.BF16, 4, 3);
            Tensor f32View = Tensor.of(seg, DType.F32, 4, 3);
            assertRejected("grad_logits", () -> ref.tokenLogprobsBackward(bf, labels, saved, g, null, o, f32View));
        }
    }

    // ------------------------------------------------------------------ other backends vs the reference

    static Stream<String> backends() {
        return TokenLogprobsTest.backends();
    }

    @ParameterizedTest
    @MethodSource("backends")
    void backendMatchesReference(String backend) {
        try (PpoKernels k = TestBackends.open(backend); Arena arena = Arena.ofConfined()) {
            long[][] shapes = {{1, 1, 1}, {17, 5, 5}, {41, 401, 401}, {3, 1000, 1037}};   // N, V, row stride
            long seed = 300;
            for (long[] s : shapes) {
                for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16}) {
                    for (EntropyLogits e : EntropyLogits.values()) {
                        Tensor logits = stridedRandom(arena, dt, s[0], s[1], s[2], seed++);
                        Rand r = new Rand(arena, seed++);
                        Tensor labels = r.labels(DType.I64, s[1], s[0]);
                        Tensor g = r.normal(DType.F32, 1.0, s[0]);
                        Tensor h = e == EntropyLogits.RAW ? r.normal(DType.F32, 1.0, s[0]) : null;
                        LogprobOptions o = new LogprobOptions(e == EntropyLogits.RAW ? 1.3 : 0.7, e);
                        // Both backends get the reference's saved statistics, so they see identical inputs.
                        Tensor saved = forwardSaved(arena, logits, labels, o);
                        String what = backend + " " + dt + " " + s[0] + "x" + s[1] + " " + e;

                        Tensor want = backward(arena, ref, logits, labels, saved, g, h, o, DType.F32);
                        Tensor got = backward(arena, k, logits, labels, saved, g, h, o, DType.F32);
                        Tolerance.assertClose(what + " grad_logits", want.toDoubleArray(), got.toDoubleArray());
                        Tensor again = backward(arena, k, logits, labels, saved, g, h, o, DType.F32);
                        assertArrayEquals(bits(got), bits(again), what + " repeatable");

                        Tensor inPlace = copyWithStride(arena, logits);
                        k.tokenLogprobsBackward(inPlace, labels, saved, g, h, o, inPlace);
                        Tensor sameDtype = backward(arena, k, logits, labels, saved, g, h, o, dt);
                        assertArrayEquals(bits(sameDtype), bits(inPlace), what + " in place");
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    private Tensor forwardSaved(Arena arena, Tensor logits, Tensor labels, LogprobOptions o) {
        return TokenLogprobsTest.run(arena, ref, logits, labels, o)[2];
    }

    private static Tensor backward(Arena arena, PpoKernels k, Tensor logits, Tensor labels, Tensor saved, Tensor g,
                                   Tensor h, LogprobOptions o, DType outType) {
        Tensor out = Tensor.allocate(arena, outType, logits.shape());
        k.tokenLogprobsBackward(logits, labels, saved, g, h, o, out);
        return out;
    }

    /** Forward + backward on one row with scalar g and h; returns the row of grad_logits. */
    private double[] grad(Arena arena, Tensor logits, Tensor labels, LogprobOptions o, double g, double h) {
        Tensor saved = forwardSaved(arena, logits, labels, o);
        Tensor gt = Tensor.ofFloats(arena, new float[] {(float) g}, 1);
        Tensor ht = Tensor.ofFloats(arena, new float[] {(float) h}, 1);
        return backward(arena, ref, logits, labels, saved, gt, ht, o, DType.F32).toDoubleArray();
    }

    private static void assertRow(double[] expected, double[] actual) {
        assertEquals(expected.length, actual.length);
        for (int j = 0; j < expected.length; j++) assertNear(expected[j], actual[j]);
    }

    /** A byte copy of a (possibly strided) tensor's whole span, viewed with the same row stride. */
    private static Tensor copyWithStride(Arena arena, Tensor t) {
        long bytes = t.rows() * t.rowStride() * t.dtype().byteSize();
        MemorySegment seg = arena.allocate(bytes, 64);
        seg.copyFrom(t.segment().asSlice(0, bytes));
        return Tensor.strided(seg, t.dtype(), t.rowStride(), t.shape());
    }
}
