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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * token_logprobs forward (SPEC "token_logprobs"): logprob = z'[y] − lse(z'), z' = z/τ;
 * entropy = lse(z_e) − Σ softmax(z_e)·z_e with z_e = z' (scaled) or z (raw); saved = (lse, lse_e, mean_e).
 * The reference is checked against hand arithmetic and against {@link #oracle}, an independent f64 two-pass
 * (max, then sum) evaluation of the formula on double[] rows; other backends are checked against the reference.
 */
class TokenLogprobsTest {

    private static final LogprobOptions TAU1 = LogprobOptions.DEFAULT;

    private final PpoKernels ref = new ReferenceKernels();

    // ------------------------------------------------------------------ hand-computed cases

    @Test
    void handComputedTemperatureOne() {
        try (Arena arena = Arena.ofConfined()) {
            // z = [1, 2, 3], y = 2, τ = 1.
            // lse = 3 + log(1 + e^-1 + e^-2) = 3 + log(1 + 0.36787944 + 0.13533528) = 3 + log(1.50321472)
            //     = 3 + 0.40760596 = 3.40760596
            // logprob = z[2] − lse = 3 − 3.40760596 = −0.40760596
            // p = [e^-2, e^-1, 1] / 1.50321472 = [0.09003057, 0.24472847, 0.66524096]
            // mean = Σ p z = 0.09003057 + 0.48945694 + 1.99572287 = 2.57521038
            // entropy = lse − mean = 3.40760596 − 2.57521038 = 0.83239558
            Tensor logits = Tensor.ofFloats(arena, new float[] {1, 2, 3}, 1, 3);
            Tensor labels = Tensor.ofInts(arena, new int[] {2}, 1);
            Tensor[] out = run(arena, logits, labels, TAU1);
            assertNear(-0.40760596, out[0].getDouble(0));
            assertNear(0.83239558, out[1].getDouble(0));
            assertNear(3.40760596, out[2].getDouble(0));   // lse
            assertNear(3.40760596, out[2].getDouble(1));   // lse_e == lse when scaled
            assertNear(2.57521038, out[2].getDouble(2));   // mean
        }
    }

    @Test
    void handComputedTemperatureTwoScaledAndRaw() {
        try (Arena arena = Arena.ofConfined()) {
            // z = [1, 2, 3], y = 0, τ = 2 → z' = [0.5, 1, 1.5].
            // lse = 1.5 + log(1 + e^-0.5 + e^-1) = 1.5 + log(1 + 0.60653066 + 0.36787944) = 1.5 + log(1.97441010)
            //     = 1.5 + 0.68026967 = 2.18026967
            // logprob = 0.5 − 2.18026967 = −1.68026967
            // scaled: p = [e^-1, e^-0.5, 1] / 1.97441010 = [0.18632372, 0.30719589, 0.50648039]
            //         mean = 0.5·0.18632372 + 1·0.30719589 + 1.5·0.50648039 = 0.09316186 + 0.30719589 + 0.75972059
            //              = 1.16007834;  entropy = 2.18026967 − 1.16007834 = 1.02019133
            // raw:    entropy of softmax(z) = the τ = 1 case above: lse_e = 3.40760596, mean = 2.57521038,
            //         entropy = 0.83239558; the logprob is unchanged (it is always at τ).
            Tensor logits = Tensor.ofFloats(arena, new float[] {1, 2, 3}, 1, 3);
            Tensor labels = Tensor.ofLongs(arena, new long[] {0}, 1);

            Tensor[] scaled = run(arena, logits, labels, new LogprobOptions(2.0, EntropyLogits.SCALED));
            assertNear(-1.68026967, scaled[0].getDouble(0));
            assertNear(1.02019133, scaled[1].getDouble(0));
            assertNear(2.18026967, scaled[2].getDouble(0));
            assertNear(2.18026967, scaled[2].getDouble(1));
            assertNear(1.16007834, scaled[2].getDouble(2));

            Tensor[] raw = run(arena, logits, labels, new LogprobOptions(2.0, EntropyLogits.RAW));
            assertNear(-1.68026967, raw[0].getDouble(0));
            assertNear(0.83239558, raw[1].getDouble(0));
            assertNear(2.18026967, raw[2].getDouble(0));
            assertNear(3.40760596, raw[2].getDouble(1));
            assertNear(2.57521038, raw[2].getDouble(2));
        }
    }

    @Test
    void handComputedSeveralRowsAndUniformRow() {
        try (Arena arena = Arena.ofConfined()) {
            // row 0: z = [0, 0, 0, 0] (uniform), y = 1: lse = log 4 = 1.38629436, logprob = −1.38629436,
            //        entropy = log 4 − 0 = 1.38629436
            // row 1: z = [2, 0, 0, 0], y = 0: lse = 2 + log(1 + 3e^-2) = 2 + 0.34075295 = 2.34075295,
            //        logprob = 2 − 2.34075295 = −0.34075295; p0 = 1/1.40600585 = 0.71123459,
            //        mean = 2·0.71123459 = 1.42246919, entropy = 2.34075295 − 1.42246919 = 0.91828376
            Tensor logits = Tensor.ofFloats(arena, new float[] {0, 0, 0, 0, 2, 0, 0, 0}, 2, 4);
            Tensor labels = Tensor.ofInts(arena, new int[] {1, 0}, 2);
            Tensor[] out = run(arena, logits, labels, TAU1);
            assertNear(-1.38629436, out[0].getDouble(0));
            assertNear(1.38629436, out[1].getDouble(0));
            assertNear(-0.34075295, out[0].getDouble(1));
            assertNear(0.91828376, out[1].getDouble(1));
        }
    }

    @Test
    void temperatureEpsFromSettingsIsAdded() {
        try (Arena arena = Arena.ofConfined()) {
            // temperature 1.5 + temperature_eps 0.5 → τ = 2: the τ = 2 hand case (logprob −1.68026967).
            LogprobOptions o = Settings.of(Preset.TRL, Map.of("temperature", "1.5", "temperature_eps", "0.5"))
                    .logprobOptions();
            assertEquals(2.0, o.temperature());
            Tensor logits = Tensor.ofFloats(arena, new float[] {1, 2, 3}, 1, 3);
            Tensor labels = Tensor.ofInts(arena, new int[] {0}, 1);
            assertNear(-1.68026967, run(arena, logits, labels, o)[0].getDouble(0));
        }
    }

    // ------------------------------------------------------------------ presets

    @Test
    void presetsResolveLogprobOptions() {
        // SPEC preset table: temperature_eps 1e-7 only for trl-ppov2; entropy from raw logits only for openrlhf.
        assertEquals(new LogprobOptions(1.0, EntropyLogits.SCALED), Settings.of(Preset.TRL).logprobOptions());
        assertEquals(new LogprobOptions(1.0 + 1e-7, EntropyLogits.SCALED), Settings.of(Preset.TRL_PPOV2).logprobOptions());
        assertEquals(new LogprobOptions(1.0, EntropyLogits.SCALED), Settings.of(Preset.DEEPSPEED_CHAT).logprobOptions());
        assertEquals(new LogprobOptions(1.0, EntropyLogits.SCALED), Settings.of(Preset.VERL).logprobOptions());
        assertEquals(new LogprobOptions(1.0, EntropyLogits.RAW), Settings.of(Preset.OPENRLHF).logprobOptions());
        // An explicit temperature is applied by every preset (trl / deepspeed-chat simply never pass one).
        assertEquals(0.7 + 1e-7, Settings.of(Preset.TRL_PPOV2, Map.of("temperature", "0.7")).logprobOptions().temperature());
        assertEquals(0.7, Settings.of(Preset.TRL, Map.of("temperature", "0.7")).logprobOptions().temperature());
        assertEquals(0.7, Settings.of(Preset.DEEPSPEED_CHAT, Map.of("temperature", "0.7")).logprobOptions().temperature());
        assertEquals(EntropyLogits.RAW,
                Settings.of(Preset.TRL, Map.of("entropy_logits", "raw")).logprobOptions().entropyLogits());
    }

    @ParameterizedTest
    @EnumSource(Preset.class)
    void everyPresetMatchesTheOracle(Preset preset) {
        try (Arena arena = Arena.ofConfined()) {
            LogprobOptions o = Settings.of(preset, Map.of("temperature", "0.8")).logprobOptions();
            Rand r = new Rand(arena, 11 + preset.ordinal());
            Tensor logits = r.normal(DType.F32, 3.0, 6, 9);
            Tensor labels = r.labels(DType.I64, 9, 6);
            checkAgainstOracle(arena, logits, labels, o);
        }
    }

    // ------------------------------------------------------------------ seeded random vs the f64 oracle

    @Test
    void randomCasesMatchTheF64Oracle() {
        try (Arena arena = Arena.ofConfined()) {
            Rand r = new Rand(arena, 2024);
            long[][] shapes = {{1, 1}, {17, 5}, {41, 401}, {3, 1000}};
            double[] taus = {1.0, 0.7, 1.9};
            for (long[] s : shapes) {
                for (double tau : taus) {
                    for (EntropyLogits e : EntropyLogits.values()) {
                        Tensor logits = r.normal(DType.F32, 4.0, s[0], s[1]);
                        Tensor labels = r.labels(DType.I32, s[1], s[0]);
                        checkAgainstOracle(arena, logits, labels, new LogprobOptions(tau, e));
                    }
                }
            }
        }
    }

    @Test
    void rank3LogitsWithBatchTimeLabels() {
        try (Arena arena = Arena.ofConfined()) {
            // [B, T, V] = [2, 3, 7] logits, [2, 3] labels: the same numbers as the flattened [6, 7] call.
            Rand r = new Rand(arena, 5);
            Tensor logits = r.normal(DType.F32, 2.0, 2, 3, 7);
            Tensor labels = r.labels(DType.I64, 7, 2, 3);
            Tensor lp = Tensor.allocate(arena, DType.F32, 2, 3);
            Tensor ent = Tensor.allocate(arena, DType.F32, 2, 3);
            Tensor saved = Tensor.allocate(arena, DType.F32, 6, 3);
            ref.tokenLogprobs(logits, labels, TAU1, lp, ent, saved);
            Tensor[] flat = run(arena, logits.reshape(6, 7), labels.reshape(6), TAU1);
            assertArrayEquals(bits(flat[0]), bits(lp));
            assertArrayEquals(bits(flat[1]), bits(ent));
            assertArrayEquals(bits(flat[2]), bits(saved));
        }
    }

    // ------------------------------------------------------------------ edge cases

    @Test
    void vocabularyOfOneGivesZeroLogprobAndEntropy() {
        try (Arena arena = Arena.ofConfined()) {
            // V = 1: lse = z'[0], logprob = z'[0] − lse = 0, p = 1, entropy = lse − z'[0] = 0, for any z and τ.
            Tensor logits = Tensor.ofFloats(arena, new float[] {-3.5f, 0f, 1234.5f}, 3, 1);
            Tensor labels = Tensor.ofInts(arena, new int[] {0, 0, 0}, 3);
            for (EntropyLogits e : EntropyLogits.values()) {
                Tensor[] out = run(arena, logits, labels, new LogprobOptions(0.3, e));
                for (int i = 0; i < 3; i++) {
                    assertEquals(0.0, out[0].getDouble(i), 0.0);
                    assertEquals(0.0, out[1].getDouble(i), 0.0);
                }
                // saved lse of row 2 = 1234.5 / 0.3 (scaled) = 4115.0
                assertNear(1234.5 / 0.3, out[2].getDouble(6));
            }
        }
    }

    @Test
    void largeLogitsDoNotOverflow() {
        try (Arena arena = Arena.ofConfined()) {
            // z = [1e4, −1e4, 0]: exp(1e4) overflows f64, the running max does not.
            // lse = 1e4 + log(1 + e^-2e4 + e^-1e4) = 1e4 (the tail is below f64 precision)
            // y = 0: logprob = 0; y = 1: logprob = −2e4; y = 2: logprob = −1e4; entropy = 0 (p = one-hot).
            // Row 3 at τ = 0.5 (×2) is [2e4, 2e4, −2e4]: lse = 2e4 + log 2, y = 1: logprob = −log 2 = −0.69314718,
            // entropy = log 2 = 0.69314718.
            Tensor logits = Tensor.ofFloats(arena, new float[] {1e4f, -1e4f, 0f, 1e4f, -1e4f, 0f, 1e4f, -1e4f, 0f,
                    1e4f, 1e4f, -1e4f}, 4, 3);
            Tensor labels = Tensor.ofInts(arena, new int[] {0, 1, 2, 1}, 4);
            Tensor[] out = run(arena, logits, labels, TAU1);
            assertEquals(0.0, out[0].getDouble(0), 1e-9);
            assertEquals(-2e4, out[0].getDouble(1), 1e-9);
            assertEquals(-1e4, out[0].getDouble(2), 1e-9);
            for (int i = 0; i < 3; i++) assertEquals(0.0, out[1].getDouble(i), 1e-9);
            assertNear(-0.69314718, out[0].getDouble(3));
            assertNear(0.69314718, out[1].getDouble(3));

            Tensor[] half = run(arena, logits, labels, new LogprobOptions(0.5, EntropyLogits.SCALED));
            assertNear(-0.69314718, half[0].getDouble(3));
            assertNear(0.69314718, half[1].getDouble(3));
            for (Tensor t : half) for (double x : t.toDoubleArray()) assertTrue(Double.isFinite(x));
        }
    }

    @Test
    void negativeInfinityLogitIsAZeroProbabilityEntry() {
        try (Arena arena = Arena.ofConfined()) {
            // A −inf logit (a masked vocabulary entry) has p = 0 and must give the same results as dropping it:
            // [1, 2, −inf, 3] with y = 3 equals [1, 2, 3] with y = 2 (logprob −0.40760596, entropy 0.83239558).
            Tensor logits = Tensor.ofFloats(arena, new float[] {1, 2, Float.NEGATIVE_INFINITY, 3}, 1, 4);
            Tensor labels = Tensor.ofInts(arena, new int[] {3}, 1);
            for (EntropyLogits e : EntropyLogits.values()) {
                Tensor[] out = run(arena, logits, labels, new LogprobOptions(1.0, e));
                assertNear(-0.40760596, out[0].getDouble(0));
                assertNear(0.83239558, out[1].getDouble(0));
            }
            // A leading −inf must not poison the running max either.
            Tensor lead = Tensor.ofFloats(arena, new float[] {Float.NEGATIVE_INFINITY, 1, 2, 3}, 1, 4);
            assertNear(-0.40760596, run(arena, lead, labels, TAU1)[0].getDouble(0));
        }
    }

    @Test
    void labelsInI32AndI64GiveTheSameBits() {
        try (Arena arena = Arena.ofConfined()) {
            Rand r = new Rand(arena, 3);
            Tensor logits = r.normal(DType.F32, 2.0, 17, 5);
            Tensor l64 = r.labels(DType.I64, 5, 17);
            Tensor l32 = Tensor.allocate(arena, DType.I32, 17);
            for (int i = 0; i < 17; i++) l32.setFloat(i, l64.getLong(i));
            Tensor[] a = run(arena, logits, l32, TAU1);
            Tensor[] b = run(arena, logits, l64, TAU1);
            for (int k = 0; k < 3; k++) assertArrayEquals(bits(a[k]), bits(b[k]));
        }
    }

    @Test
    void stridedLogitsEqualTheDenseCopy() {
        try (Arena arena = Arena.ofConfined()) {
            // [3, 1000] rows inside a [3, 1003] buffer; the 3 extra columns hold junk that must not be read.
            for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16}) {
                Tensor strided = stridedRandom(arena, dt, 3, 1000, 1003, 77);
                Tensor dense = denseCopy(arena, strided);
                Tensor labels = new Rand(arena, 8).labels(DType.I32, 1000, 3);
                for (EntropyLogits e : EntropyLogits.values()) {
                    LogprobOptions o = new LogprobOptions(0.9, e);
                    Tensor[] a = run(arena, strided, labels, o);
                    Tensor[] b = run(arena, dense, labels, o);
                    for (int k = 0; k < 3; k++) assertArrayEquals(bits(b[k]), bits(a[k]), dt + " output " + k);
                }
            }
        }
    }

    @Test
    void halfPrecisionLogitsEqualF32LogitsWithTheSameRoundedValues() {
        try (Arena arena = Arena.ofConfined()) {
            for (DType dt : new DType[] {DType.BF16, DType.F16}) {
                Rand r = new Rand(arena, 19);
                Tensor half = r.normal(dt, 3.0, 41, 401);
                Tensor f32 = Tensor.allocate(arena, DType.F32, 41, 401);
                for (long i = 0; i < half.numel(); i++) f32.setFloat(i, half.getDouble(i));   // exact widening
                Tensor labels = r.labels(DType.I64, 401, 41);
                LogprobOptions o = new LogprobOptions(1.1, EntropyLogits.SCALED);
                Tensor[] a = run(arena, half, labels, o);
                Tensor[] b = run(arena, f32, labels, o);
                for (int k = 0; k < 3; k++) assertArrayEquals(bits(b[k]), bits(a[k]), dt + " output " + k);
                checkAgainstOracle(arena, half, labels, o);
            }
        }
    }

    @Test
    void entropyAndSavedAreOptional() {
        try (Arena arena = Arena.ofConfined()) {
            Rand r = new Rand(arena, 4);
            Tensor logits = r.normal(DType.F32, 2.0, 17, 5);
            Tensor labels = r.labels(DType.I32, 5, 17);
            Tensor full = run(arena, logits, labels, TAU1)[0];
            Tensor only = Tensor.allocate(arena, DType.F32, 17);
            ref.tokenLogprobs(logits, labels, TAU1, only, null, null);
            assertArrayEquals(bits(full), bits(only));
        }
    }

    @Test
    void repeatableBitForBit() {
        try (Arena arena = Arena.ofConfined()) {
            Rand r = new Rand(arena, 6);
            Tensor logits = r.normal(DType.BF16, 5.0, 41, 401);
            Tensor labels = r.labels(DType.I64, 401, 41);
            LogprobOptions o = new LogprobOptions(0.7, EntropyLogits.RAW);
            Tensor[] a = run(arena, logits, labels, o);
            Tensor[] b = run(arena, logits, labels, o);
            for (int k = 0; k < 3; k++) assertArrayEquals(bits(a[k]), bits(b[k]));
        }
    }

    // ------------------------------------------------------------------ bad input

    @Test
    void labelOutOfRangeNamesRowAndValue() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor logits = Tensor.ofFloats(arena, new float[12], 4, 3);
            Tensor lp = Tensor.allocate(arena, DType.F32, 4);
            var tooBig = assertThrows(IllegalArgumentException.class,
                    () -> ref.tokenLogprobs(logits, Tensor.ofInts(arena, new int[] {0, 1, 2, 3}, 4), TAU1, lp, null, null));
            assertTrue(tooBig.getMessage().contains("row 3") && tooBig.getMessage().contains("label 3"), tooBig.getMessage());
            var negative = assertThrows(IllegalArgumentException.class,
                    () -> ref.tokenLogprobs(logits, Tensor.ofLongs(arena, new long[] {0, -1, 2, 0}, 4), TAU1, lp, null, null));
            assertTrue(negative.getMessage().contains("row 1") && negative.getMessage().contains("label -1"),
                    negative.getMessage());
        }
    }

    @Test
    void wrongShapesAndDtypesAreRejected() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor logits = Tensor.ofFloats(arena, new float[12], 4, 3);
            Tensor labels = Tensor.ofInts(arena, new int[4], 4);
            Tensor lp = Tensor.allocate(arena, DType.F32, 4);
            Tensor ent = Tensor.allocate(arena, DType.F32, 4);
            Tensor saved = Tensor.allocate(arena, DType.F32, 4, 3);
            // labels [5] for logits [4, 3]
            assertRejected("labels", () -> ref.tokenLogprobs(logits, Tensor.ofInts(arena, new int[5], 5), TAU1, lp, ent, saved));
            // labels as f32
            assertRejected("labels", () -> ref.tokenLogprobs(logits, Tensor.ofFloats(arena, new float[4], 4), TAU1, lp, ent, saved));
            // logits as i32
            assertRejected("logits", () -> ref.tokenLogprobs(Tensor.ofInts(arena, new int[12], 4, 3), labels, TAU1, lp, ent, saved));
            // logits of rank 1
            assertRejected("logits", () -> ref.tokenLogprobs(Tensor.ofFloats(arena, new float[3], 3), labels, TAU1, lp, ent, saved));
            // outputs of the wrong shape or dtype
            assertRejected("logprobs", () -> ref.tokenLogprobs(logits, labels, TAU1, Tensor.allocate(arena, DType.F32, 3), ent, saved));
            assertRejected("logprobs", () -> ref.tokenLogprobs(logits, labels, TAU1, Tensor.allocate(arena, DType.BF16, 4), ent, saved));
            assertRejected("entropy", () -> ref.tokenLogprobs(logits, labels, TAU1, lp, Tensor.allocate(arena, DType.F32, 4, 1), saved));
            assertRejected("saved", () -> ref.tokenLogprobs(logits, labels, TAU1, lp, ent, Tensor.allocate(arena, DType.F32, 4, 2)));
            assertRejected("logprobs", () -> ref.tokenLogprobs(logits, labels, TAU1, null, ent, saved));
            assertRejected("options", () -> ref.tokenLogprobs(logits, labels, null, lp, ent, saved));
            // τ must be > 0, directly and through Settings
            assertRejected("temperature", () -> new LogprobOptions(0.0, EntropyLogits.SCALED));
            assertRejected("temperature", () -> Settings.of(Preset.TRL, Map.of("temperature", "-1")));
        }
    }

    // ------------------------------------------------------------------ other backends vs the reference

    /** The reference runs through the same harness (trivially equal to itself, but its repeatability is checked). */
    static Stream<String> backends() {
        return Stream.concat(Stream.of("reference"), TestBackends.hostBackends());
    }

    @ParameterizedTest
    @MethodSource("backends")
    void backendMatchesReference(String backend) {
        try (PpoKernels k = TestBackends.open(backend); Arena arena = Arena.ofConfined()) {
            long[][] shapes = {{1, 1, 1}, {17, 5, 5}, {41, 401, 401}, {3, 1000, 1037}};   // N, V, row stride
            int seed = 100;
            for (long[] s : shapes) {
                for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16}) {
                    for (EntropyLogits e : EntropyLogits.values()) {
                        Tensor logits = stridedRandom(arena, dt, s[0], s[1], s[2], seed++);
                        Tensor labels = new Rand(arena, seed++).labels(DType.I32, s[1], s[0]);
                        LogprobOptions o = new LogprobOptions(e == EntropyLogits.RAW ? 1.3 : 0.7, e);
                        Tensor[] want = run(arena, ref, logits, labels, o);
                        Tensor[] got = run(arena, k, logits, labels, o);
                        String what = backend + " " + dt + " " + s[0] + "x" + s[1] + " " + e;
                        Tolerance.assertClose(what + " logprobs", want[0].toDoubleArray(), got[0].toDoubleArray());
                        Tolerance.assertClose(what + " entropy", want[1].toDoubleArray(), got[1].toDoubleArray());
                        Tolerance.assertClose(what + " saved", want[2].toDoubleArray(), got[2].toDoubleArray());
                        Tensor[] again = run(arena, k, logits, labels, o);
                        for (int i = 0; i < 3; i++) assertArrayEquals(bits(got[i]), bits(again[i]), what + " repeatable");
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    /**
     * Independent f64 evaluation of SPEC on one row (two passes: max, then the sum; not the running max of the
     * reference): returns {logprob, entropy, lse, lse_e, mean_e}.
     */
    static double[] oracle(double[] z, long y, double tau, EntropyLogits e) {
        double[] zs = new double[z.length];
        for (int j = 0; j < z.length; j++) zs[j] = z[j] / tau;
        double[] ze = e == EntropyLogits.RAW ? z : zs;
        double lse = logSumExp(zs);
        double lseE = logSumExp(ze);
        double mean = 0;
        for (double x : ze) mean += Math.exp(x - lseE) * x;
        return new double[] {zs[(int) y] - lse, lseE - mean, lse, lseE, mean};
    }

    static double logSumExp(double[] x) {
        double m = Double.NEGATIVE_INFINITY;
        for (double v : x) m = Math.max(m, v);
        double s = 0;
        for (double v : x) s += Math.exp(v - m);
        return m + Math.log(s);
    }

    private void checkAgainstOracle(Arena arena, Tensor logits, Tensor labels, LogprobOptions o) {
        Tensor[] out = run(arena, logits, labels, o);
        int n = (int) logits.rows(), v = (int) logits.cols();
        double[] wantLp = new double[n], wantEnt = new double[n], wantSaved = new double[n * 3];
        for (int i = 0; i < n; i++) {
            double[] z = new double[v];
            for (int j = 0; j < v; j++) z[j] = logits.getDouble((long) i * v + j);
            double[] w = oracle(z, labels.getLong(i), o.temperature(), o.entropyLogits());
            wantLp[i] = w[0];
            wantEnt[i] = w[1];
            System.arraycopy(w, 2, wantSaved, i * 3, 3);
        }
        // The outputs are f32: the reference's only error is the final rounding (relative 6e-8).
        Tolerance.assertClose("logprobs", wantLp, out[0].toDoubleArray(), 1e-6, 1e-6);
        Tolerance.assertClose("entropy", wantEnt, out[1].toDoubleArray(), 1e-6, 1e-6);
        Tolerance.assertClose("saved", wantSaved, out[2].toDoubleArray(), 1e-6, 1e-6);
    }

    private Tensor[] run(Arena arena, Tensor logits, Tensor labels, LogprobOptions o) {
        return run(arena, ref, logits, labels, o);
    }

    /** Runs the forward; returns {logprobs, entropy, saved}. */
    static Tensor[] run(Arena arena, PpoKernels k, Tensor logits, Tensor labels, LogprobOptions o) {
        Tensor lp = Tensor.allocate(arena, DType.F32, labels.shape());
        Tensor ent = Tensor.allocate(arena, DType.F32, labels.shape());
        Tensor saved = Tensor.allocate(arena, DType.F32, logits.rows(), 3);
        k.tokenLogprobs(logits, labels, o, lp, ent, saved);
        return new Tensor[] {lp, ent, saved};
    }

    /** [n, v] logits of dtype dt, N(0, 3²), inside rows of `stride` elements whose tail holds junk (1e30 / NaN). */
    static Tensor stridedRandom(Arena arena, DType dt, long n, long v, long stride, long seed) {
        MemorySegment seg = arena.allocate(n * stride * dt.byteSize(), 64);
        Tensor all = Tensor.of(seg, dt, n, stride);
        Rand r = new Rand(arena, seed);
        for (long i = 0; i < n * stride; i++) {
            long col = i % stride;
            all.setFloat(i, col < v ? 3.0 * r.normal() : (col % 2 == 0 ? 1e30 : Double.NaN));
        }
        return Tensor.strided(seg, dt, stride, n, v);
    }

    static Tensor denseCopy(Arena arena, Tensor t) {
        Tensor d = Tensor.allocate(arena, t.dtype(), t.shape());
        for (long i = 0; i < t.numel(); i++) d.setFloat(i, t.getDouble(i));
        return d;
    }

    static int[] bits(Tensor t) {
        float[] f = t.toFloatArray();
        int[] b = new int[f.length];
        for (int i = 0; i < f.length; i++) b[i] = Float.floatToRawIntBits(f[i]);
        return b;
    }

    static void assertNear(double expected, double actual) {
        // Hand values carry 8 decimals; the output is f32.
        assertEquals(expected, actual, 2e-7 + 2e-7 * Math.abs(expected));
    }

    static void assertRejected(String name, org.junit.jupiter.api.function.Executable call) {
        var e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(name), "message should name " + name + ": " + e.getMessage());
    }
}
