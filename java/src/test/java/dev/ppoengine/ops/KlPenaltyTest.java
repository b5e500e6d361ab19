package dev.ppoengine.ops;

import dev.ppoengine.kernels.KlEstimator;
import dev.ppoengine.kernels.KlOptions;
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
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static dev.ppoengine.ops.TokenLogprobsTest.assertRejected;
import static dev.ppoengine.ops.TokenLogprobsTest.bits;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * kl_penalty (SPEC): δ = logprobs − ref_logprobs (clamped to ±kl_input_clamp when &gt; 0), estimator
 * k1 = δ, abs = |δ|, k2 = ½δ², k3 = exp(−δ) − 1 + δ, result clamped to ±kl_output_clamp when &gt; 0; masked → 0.
 */
class KlPenaltyTest {

    private final PpoKernels ref = new ReferenceKernels();

    // One [2, 2] batch for the hand cases: δ = logprobs − ref = [−1 + 1.5, −2 + 1, −0.5 + 0.5, −3 + 3.25]
    //                                                       = [0.5, −1, 0, 0.25]
    private static final float[] LP = {-1.0f, -2.0f, -0.5f, -3.0f};
    private static final float[] REF = {-1.5f, -1.0f, -0.5f, -3.25f};

    // ------------------------------------------------------------------ hand-computed cases

    @Test
    void everyEstimatorWithoutClamps() {
        // k1  = δ = [0.5, −1, 0, 0.25]
        // abs = |δ| = [0.5, 1, 0, 0.25]
        // k2  = ½δ² = [0.125, 0.5, 0, 0.03125]
        // k3  = e^−δ − 1 + δ = [e^−0.5 − 0.5, e^1 − 2, 1 − 1 + 0, e^−0.25 − 0.75]
        //     = [0.60653066 − 0.5, 2.71828183 − 2, 0, 0.77880078 − 0.75] = [0.10653066, 0.71828183, 0, 0.02880078]
        expect(KlEstimator.K1, 0, 0, 0.5, -1, 0, 0.25);
        expect(KlEstimator.ABS, 0, 0, 0.5, 1, 0, 0.25);
        expect(KlEstimator.K2, 0, 0, 0.125, 0.5, 0, 0.03125);
        expect(KlEstimator.K3, 0, 0, 0.10653066, 0.71828183, 0, 0.02880078);
    }

    @Test
    void inputClampLimitsDeltaFirst() {
        // kl_input_clamp 0.3: δ = [0.3, −0.3, 0, 0.25]
        // k1 = [0.3, −0.3, 0, 0.25]; abs = [0.3, 0.3, 0, 0.25]; k2 = [0.045, 0.045, 0, 0.03125]
        // k3 = [e^−0.3 − 0.7, e^0.3 − 1.3, 0, 0.02880078] = [0.74081822 − 0.7, 1.34985881 − 1.3, 0, 0.02880078]
        //    = [0.04081822, 0.04985881, 0, 0.02880078]
        expect(KlEstimator.K1, 0.3, 0, 0.3, -0.3, 0, 0.25);
        expect(KlEstimator.ABS, 0.3, 0, 0.3, 0.3, 0, 0.25);
        expect(KlEstimator.K2, 0.3, 0, 0.045, 0.045, 0, 0.03125);
        expect(KlEstimator.K3, 0.3, 0, 0.04081822, 0.04985881, 0, 0.02880078);
    }

    @Test
    void outputClampLimitsTheEstimate() {
        // kl_output_clamp 0.4 on the unclamped estimates above:
        // k1 [0.5, −1, 0, 0.25] → [0.4, −0.4, 0, 0.25]; abs → [0.4, 0.4, 0, 0.25]; k2 [0.125, 0.5, ..] → [0.125, 0.4, 0, 0.03125]
        // k3 [0.10653066, 0.71828183, 0, 0.02880078] → [0.10653066, 0.4, 0, 0.02880078]
        expect(KlEstimator.K1, 0, 0.4, 0.4, -0.4, 0, 0.25);
        expect(KlEstimator.ABS, 0, 0.4, 0.4, 0.4, 0, 0.25);
        expect(KlEstimator.K2, 0, 0.4, 0.125, 0.4, 0, 0.03125);
        expect(KlEstimator.K3, 0, 0.4, 0.10653066, 0.4, 0, 0.02880078);
        // both: input 0.3 then output 0.045 on k3: [0.04081822, 0.04985881 → 0.045, 0, 0.02880078]
        expect(KlEstimator.K3, 0.3, 0.045, 0.04081822, 0.045, 0, 0.02880078);
    }

    @Test
    void maskedPositionsAreZeroInEveryMaskDtype() {
        // mask [1, 0, 1, 0]: k2 at valid positions = [0.125, ·, 0, ·], masked → 0.
        // Nonzero values other than 1 are valid too (SPEC: any nonzero value).
        Map<DType, float[]> masks = Map.of(
                DType.F32, new float[] {0.5f, 0, -2, 0},
                DType.U8, new float[] {7, 0, 1, 0},
                DType.BOOL, new float[] {1, 0, 1, 0},
                DType.I32, new float[] {-3, 0, 1, 0},
                DType.I64, new float[] {1L << 40, 0, 1, 0});
        for (var e : masks.entrySet()) {
            expectMasked(KlEstimator.K2, 0, 0, e.getKey(), e.getValue(), 0.125, 0, 0, 0);
        }
    }

    @Test
    void nonFiniteValuesAtMaskedPositionsDoNotLeak() {
        try (Arena arena = Arena.ofConfined()) {
            // trl fills padded logprobs with a constant; here masked slots hold NaN / +inf / −inf.
            Tensor lp = Tensor.ofFloats(arena, new float[] {Float.NaN, -1, Float.POSITIVE_INFINITY, -2}, 2, 2);
            Tensor rf = Tensor.ofFloats(arena, new float[] {0, -1.5f, 0, Float.NEGATIVE_INFINITY}, 2, 2);
            Tensor mask = Tensor.ofFloats(arena, DType.U8, new float[] {0, 1, 0, 0}, 2, 2);
            for (KlEstimator est : KlEstimator.values()) {
                double[] kl = run(arena, ref, lp, rf, mask, new KlOptions(est, 0, 0));
                assertEquals(0.0, kl[0]);
                assertEquals(0.0, kl[2]);
                assertEquals(0.0, kl[3]);
                assertTrue(Double.isFinite(kl[1]));
            }
        }
    }

    @Test
    void hugeDeltaWithAndWithoutClamps() {
        try (Arena arena = Arena.ofConfined()) {
            // δ = [−100, 100].
            // k3 unclamped: e^100 − 101 = 2.7e43 overflows f32 → +inf (the estimator's own value); e^−100 − 1 + 100 = 99.
            // verl k3 (input ±20, output ±10): δ → [−20, 20]: e^20 − 21 = 4.85e8 → 10; e^−20 + 19 = 19.000000002 → 10.
            // openrlhf k1 (output ±10): [−100, 100] → [−10, 10].
            Tensor lp = Tensor.ofFloats(arena, new float[] {-100, 0}, 1, 2);
            Tensor rf = Tensor.ofFloats(arena, new float[] {0, -100}, 1, 2);
            double[] raw = run(arena, ref, lp, rf, null, new KlOptions(KlEstimator.K3, 0, 0));
            assertEquals(Double.POSITIVE_INFINITY, raw[0]);
            assertEquals(99.0, raw[1], 1e-5);
            KlOptions verl = Settings.of(Preset.VERL, Map.of("kl_estimator", "k3")).klOptions();
            assertArrayEquals(new double[] {10, 10}, run(arena, ref, lp, rf, null, verl));
            // 20 + e^-20 − 1 without the output clamp: 19.000000002
            assertEquals(19.0, run(arena, ref, lp, rf, null, new KlOptions(KlEstimator.K3, 20, 0))[1], 1e-5);
            KlOptions openrlhf = Settings.of(Preset.OPENRLHF).klOptions();
            assertArrayEquals(new double[] {-10, 10}, run(arena, ref, lp, rf, null, openrlhf));
        }
    }

    @Test
    void smallDeltaK3IsAccurate() {
        try (Arena arena = Arena.ofConfined()) {
            // δ = 1e-4: k3 = e^−δ − 1 + δ = δ²/2 − δ³/6 + … = 5e-9 − 1.7e-13 = 4.99983e-9 (relative accuracy kept).
            Tensor lp = Tensor.ofFloats(arena, new float[] {1e-4f}, 1, 1);
            Tensor rf = Tensor.ofFloats(arena, new float[] {0f}, 1, 1);
            double d = (double) 1e-4f;
            double want = d * d / 2 - d * d * d / 6 + d * d * d * d / 24;
            assertEquals(want, run(arena, ref, lp, rf, null, new KlOptions(KlEstimator.K3, 0, 0))[0], 1e-7 * want);
        }
    }

    @Test
    void allMaskedAndSingleElement() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor lp = Tensor.ofFloats(arena, new float[] {-1, -2, -3}, 1, 3);
            Tensor rf = Tensor.ofFloats(arena, new float[] {-2, -2, -2}, 1, 3);
            Tensor none = Tensor.ofFloats(arena, DType.BOOL, new float[] {0, 0, 0}, 1, 3);
            assertArrayEquals(new double[] {0, 0, 0}, run(arena, ref, lp, rf, none, new KlOptions(KlEstimator.K3, 0, 0)));
            // 1×1: δ = −1 − (−2) = 1, k2 = 0.5
            Tensor one = Tensor.ofFloats(arena, new float[] {-1}, 1, 1);
            Tensor oneRef = Tensor.ofFloats(arena, new float[] {-2}, 1, 1);
            assertArrayEquals(new double[] {0.5}, run(arena, ref, one, oneRef, null, new KlOptions(KlEstimator.K2, 0, 0)));
        }
    }

    // ------------------------------------------------------------------ presets

    @Test
    void presetsResolveKlOptions() {
        KlOptions none = new KlOptions(KlEstimator.K1, 0, 0);
        assertEquals(none, Settings.of(Preset.TRL).klOptions());
        assertEquals(none, Settings.of(Preset.TRL_PPOV2).klOptions());
        assertEquals(none, Settings.of(Preset.DEEPSPEED_CHAT).klOptions());
        assertEquals(none, Settings.of(Preset.VERL).klOptions());                       // verl k1: 0 / 0
        assertEquals(new KlOptions(KlEstimator.K1, 0, 10), Settings.of(Preset.OPENRLHF).klOptions());
        // verl clamps only its k3 (low_var_kl): 20 / 10, unless set explicitly
        assertEquals(new KlOptions(KlEstimator.K3, 20, 10), Settings.of(Preset.VERL, Map.of("kl_estimator", "k3")).klOptions());
        assertEquals(new KlOptions(KlEstimator.K2, 0, 0), Settings.of(Preset.VERL, Map.of("kl_estimator", "k2")).klOptions());
        assertEquals(new KlOptions(KlEstimator.K3, 5, 10),
                Settings.of(Preset.VERL, Map.of("kl_estimator", "k3", "kl_input_clamp", "5")).klOptions());
        assertEquals(new KlOptions(KlEstimator.K3, 0, 10), Settings.of(Preset.OPENRLHF, Map.of("kl_estimator", "k3")).klOptions());
        assertEquals(new KlOptions(KlEstimator.ABS, 0, 0), Settings.of(Preset.TRL, Map.of("kl_estimator", "abs")).klOptions());
    }

    @ParameterizedTest
    @EnumSource(Preset.class)
    void everyPresetOnTheHandBatch(Preset preset) {
        // Every preset resolves to k1 without binding clamps here: kl = δ = [0.5, −1, 0, 0.25] (openrlhf's ±10 is loose).
        // With kl_estimator=k3 the hand k3 values hold too (verl's 20/10 clamps are loose on this batch).
        try (Arena arena = Arena.ofConfined()) {
            Tensor lp = Tensor.ofFloats(arena, LP, 2, 2);
            Tensor rf = Tensor.ofFloats(arena, REF, 2, 2);
            assertClose(new double[] {0.5, -1, 0, 0.25}, run(arena, ref, lp, rf, null, Settings.of(preset).klOptions()));
            assertClose(new double[] {0.10653066, 0.71828183, 0, 0.02880078}, run(arena, ref, lp, rf, null,
                    Settings.of(preset, Map.of("kl_estimator", "k3")).klOptions()));
        }
    }

    // ------------------------------------------------------------------ seeded random vs the literal formula

    @Test
    void randomCasesMatchTheLiteralFormula() {
        try (Arena arena = Arena.ofConfined()) {
            Rand r = new Rand(arena, 7);
            for (long[] s : new long[][] {{1, 1}, {17, 33}, {41, 401}}) {
                for (KlOptions o : optionGrid()) {
                    Tensor lp = r.normal(DType.F32, 2.0, s[0], s[1]);
                    Tensor rf = r.normal(DType.F32, 2.0, s[0], s[1]);
                    Tensor mask = r.randomMask(DType.I32, 0.7, s[0], s[1]);
                    double[] got = run(arena, ref, lp, rf, mask, o);
                    double[] want = new double[got.length];
                    for (int i = 0; i < want.length; i++) {
                        if (!mask.isSet(i)) continue;
                        double d = lp.getDouble(i) - rf.getDouble(i);
                        if (o.inputClamp() > 0) d = Math.clamp(d, -o.inputClamp(), o.inputClamp());
                        double k = switch (o.estimator()) {
                            case K1 -> d;
                            case ABS -> Math.abs(d);
                            case K2 -> d * d / 2;
                            case K3 -> Math.exp(-d) - 1 + d;   // the literal SPEC form
                        };
                        want[i] = o.outputClamp() > 0 ? Math.clamp(k, -o.outputClamp(), o.outputClamp()) : k;
                    }
                    Tolerance.assertClose("kl " + o, want, got, 1e-6, 1e-6);
                }
            }
        }
    }

    // ------------------------------------------------------------------ bad input

    @Test
    void badInputIsRejected() {
        try (Arena arena = Arena.ofConfined()) {
            KlOptions o = KlOptions.DEFAULT;
            Tensor lp = Tensor.allocate(arena, DType.F32, 2, 3);
            Tensor rf = Tensor.allocate(arena, DType.F32, 2, 3);
            Tensor kl = Tensor.allocate(arena, DType.F32, 2, 3);
            assertRejected("ref_logprobs", () -> ref.klPenalty(lp, Tensor.allocate(arena, DType.F32, 2, 4), null, o, kl));
            assertRejected("ref_logprobs", () -> ref.klPenalty(lp, null, null, o, kl));
            assertRejected("logprobs", () -> ref.klPenalty(Tensor.allocate(arena, DType.BF16, 2, 3), rf, null, o, kl));
            assertRejected("logprobs", () -> ref.klPenalty(Tensor.allocate(arena, DType.F32, 2, 3, 1), rf, null, o, kl));
            assertRejected("mask", () -> ref.klPenalty(lp, rf, Tensor.allocate(arena, DType.U8, 3, 2), o, kl));
            assertRejected("mask", () -> ref.klPenalty(lp, rf, Tensor.allocate(arena, DType.F16, 2, 3), o, kl));
            assertRejected("kl", () -> ref.klPenalty(lp, rf, null, o, Tensor.allocate(arena, DType.F32, 2, 2)));
            assertRejected("kl", () -> ref.klPenalty(lp, rf, null, o, Tensor.allocate(arena, DType.I32, 2, 3)));
            assertRejected("kl", () -> ref.klPenalty(lp, rf, null, o, null));
            assertRejected("options", () -> ref.klPenalty(lp, rf, null, null, kl));
            assertRejected("kl_input_clamp", () -> new KlOptions(KlEstimator.K3, -1, 0));
            assertRejected("kl_output_clamp", () -> new KlOptions(KlEstimator.K3, 0, Double.NaN));
            assertRejected("kl_estimator", () -> Settings.of(Preset.TRL, Map.of("kl_estimator", "k4")));
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
            DType[] maskTypes = {DType.F32, DType.U8, DType.BOOL, DType.I32, DType.I64};
            long seed = 500;
            for (long[] s : new long[][] {{1, 1}, {17, 33}, {41, 401}}) {
                for (KlOptions o : optionGrid()) {
                    Rand r = new Rand(arena, seed++);
                    Tensor lp = r.normal(DType.F32, 3.0, s[0], s[1]);
                    Tensor rf = r.normal(DType.F32, 3.0, s[0], s[1]);
                    DType mt = maskTypes[(int) (seed % maskTypes.length)];
                    Tensor mask = seed % 3 == 0 ? null : r.randomMask(mt, 0.8, s[0], s[1]);
                    String what = backend + " " + s[0] + "x" + s[1] + " " + o + " mask " + (mask == null ? "none" : mt);
                    double[] want = run(arena, ref, lp, rf, mask, o);
                    Tensor got = Tensor.allocate(arena, DType.F32, s[0], s[1]);
                    k.klPenalty(lp, rf, mask, o, got);
                    Tolerance.assertClose(what, want, got.toDoubleArray());
                    Tensor again = Tensor.allocate(arena, DType.F32, s[0], s[1]);
                    k.klPenalty(lp, rf, mask, o, again);
                    assertArrayEquals(bits(got), bits(again), what + " repeatable");
                }
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    /** Every estimator with clamps off, input only, output only and both (0.7 / 1.5 bind on N(0, 2²) inputs). */
    static List<KlOptions> optionGrid() {
        List<KlOptions> grid = new java.util.ArrayList<>();
        for (KlEstimator e : KlEstimator.values()) {
            grid.add(new KlOptions(e, 0, 0));
            grid.add(new KlOptions(e, 0.7, 0));
            grid.add(new KlOptions(e, 0, 1.5));
            grid.add(new KlOptions(e, 20, 10));
        }
        return grid;
    }

    static double[] run(Arena arena, PpoKernels k, Tensor lp, Tensor rf, Tensor mask, KlOptions o) {
        Tensor kl = Tensor.allocate(arena, DType.F32, lp.shape());
        k.klPenalty(lp, rf, mask, o, kl);
        return kl.toDoubleArray();
    }

    /** Runs the hand batch without a mask. */
    private void expect(KlEstimator est, double inClamp, double outClamp, double... want) {
        expectMasked(est, inClamp, outClamp, null, null, want);
    }

    /** Runs the hand batch with the given estimator/clamps and mask (null mask dtype = no mask). */
    private void expectMasked(KlEstimator est, double inClamp, double outClamp, DType maskType, float[] maskValues,
                              double... want) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor lp = Tensor.ofFloats(arena, LP, 2, 2);
            Tensor rf = Tensor.ofFloats(arena, REF, 2, 2);
            Tensor mask = maskType == null ? null : Tensor.ofFloats(arena, maskType, maskValues, 2, 2);
            assertClose(want, run(arena, ref, lp, rf, mask, new KlOptions(est, inClamp, outClamp)));
        }
    }

    private static void assertClose(double[] want, double[] got) {
        // Hand values carry 8 decimals; the output is f32.
        Tolerance.assertClose("kl", want, got, 2e-8, 2e-7);
    }
}
