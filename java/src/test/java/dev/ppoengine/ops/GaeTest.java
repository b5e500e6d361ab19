package dev.ppoengine.ops;

import dev.ppoengine.kernels.GaeMaskedSteps;
import dev.ppoengine.kernels.GaeOptions;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.kernels.Preset;
import dev.ppoengine.kernels.Settings;
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
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * gae (SPEC): δ_t = r_t + γ·V_{t+1} − V_t, A_t = δ_t + γλ·A_{t+1}, returns = A + V·m, 0 at masked positions.
 * Hand-computed cases, both masked-step modes against a literal per-timestep loop written here (trl PPOv2 for
 * zero, verl compute_gae_advantage_return for skip), mask dtypes, parameter checks, and every host backend
 * against the reference.
 */
class GaeTest {
    private static final DType[] MASK_TYPES = {DType.F32, DType.U8, DType.BOOL, DType.I32, DType.I64};

    private Arena arena;
    private final PpoKernels ref = new ReferenceKernels();

    @BeforeEach
    void open() { arena = Arena.ofConfined(); }

    @AfterEach
    void close() { arena.close(); }

    // ---------------- helpers ----------------

    /** Runs gae on {@code k}; outputs are pre-filled with NaN so an unwritten position shows. Returns {A, R}. */
    private float[][] run(PpoKernels k, Tensor r, Tensor v, Tensor m, GaeOptions o) {
        long[] shape = r.shape();
        Tensor adv = nanFilled(shape), ret = nanFilled(shape);
        k.gae(r, v, m, o, adv, ret);
        return new float[][] {adv.toFloatArray(), ret.toFloatArray()};
    }

    private Tensor nanFilled(long... shape) {
        Tensor t = Tensor.allocate(arena, DType.F32, shape);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, Float.NaN);
        return t;
    }

    private Tensor f32(float[] x, long b, long t) { return Tensor.ofFloats(arena, x, b, t); }

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

    /**
     * The literal per-timestep loop, written as the trainers write it (not as the reference does).
     * zero (trl PPOv2): r, V masked first, then for t = T−1..0: nextvalues = V[t+1] (0 at the end),
     * delta = r[t] + γ·nextvalues − V[t], lastgaelam = delta + γλ·lastgaelam.
     * skip (verl): delta = r[t] + γ·nextvalues − V[t]; lastgaelam_ = delta + γλ·lastgaelam;
     * nextvalues = V[t]·m + (1−m)·nextvalues; lastgaelam = lastgaelam_·m + (1−m)·lastgaelam.
     * Then the engine's output convention: A·m and (A + V·m)·m. Returns {A, R} as f64 [B·T].
     */
    private static double[][] literal(double[] r, double[] v, double[] mask, int b, int t, double gamma, double lam,
                                      GaeMaskedSteps mode) {
        double[] adv = new double[b * t], ret = new double[b * t];
        for (int row = 0; row < b; row++) {
            double[] rr = new double[t], vv = new double[t], mm = new double[t];
            for (int c = 0; c < t; c++) {
                mm[c] = mask[row * t + c] != 0 ? 1 : 0;
                rr[c] = r[row * t + c];
                vv[c] = v[row * t + c];
            }
            double[] a = new double[t];
            if (mode == GaeMaskedSteps.ZERO) {
                for (int c = 0; c < t; c++) { rr[c] *= mm[c]; vv[c] *= mm[c]; }
                double lastgaelam = 0;
                for (int c = t - 1; c >= 0; c--) {
                    double nextvalues = c < t - 1 ? vv[c + 1] : 0.0;
                    double delta = rr[c] + gamma * nextvalues - vv[c];
                    lastgaelam = delta + gamma * lam * lastgaelam;
                    a[c] = lastgaelam;
                }
            } else {
                double nextvalues = 0, lastgaelam = 0;
                for (int c = t - 1; c >= 0; c--) {
                    double delta = rr[c] + gamma * nextvalues - vv[c];
                    double lastgaelamNew = delta + gamma * lam * lastgaelam;
                    nextvalues = vv[c] * mm[c] + (1 - mm[c]) * nextvalues;
                    lastgaelam = lastgaelamNew * mm[c] + (1 - mm[c]) * lastgaelam;
                    a[c] = lastgaelam;
                }
            }
            for (int c = 0; c < t; c++) {
                adv[row * t + c] = a[c] * mm[c];
                ret[row * t + c] = (a[c] + v[row * t + c] * mm[c]) * mm[c];
            }
        }
        return new double[][] {adv, ret};
    }

    /** The reference agrees with the literal loop up to the final f32 rounding (one ulp). */
    private void assertMatchesLiteral(String what, Tensor r, Tensor v, Tensor m, GaeOptions o) {
        int b = (int) r.dim(0), t = (int) r.dim(1);
        float[][] got = run(ref, r, v, m, o);
        double[][] want = literal(r.toDoubleArray(), v.toDoubleArray(), m.toDoubleArray(), b, t, o.gamma(), o.lam(),
                o.maskedSteps());
        Tolerance.assertClose(what + " advantages", want[0], d(got[0]), 1e-12, 2.5e-7);
        Tolerance.assertClose(what + " returns", want[1], d(got[1]), 1e-12, 2.5e-7);
        for (int i = 0; i < b * t; i++) {
            if (m.getDouble(i) == 0) {
                assertEquals(0f, got[0][i], what + " advantages must be 0 at masked " + i);
                assertEquals(0f, got[1][i], what + " returns must be 0 at masked " + i);
            }
        }
    }

    // ---------------- hand-computed ----------------

    @ParameterizedTest
    @EnumSource(GaeMaskedSteps.class)
    void handComputedFullMask(GaeMaskedSteps mode) {
        // r = [1, 0, 2], V = [0.5, 1, 1.5], all valid, γ = 0.9, λ = 0.5 (γλ = 0.45); both modes agree.
        // t=2: δ = 2 + 0.9·0   − 1.5 = 0.5        A2 = 0.5
        // t=1: δ = 0 + 0.9·1.5 − 1   = 0.35       A1 = 0.35 + 0.45·0.5   = 0.575
        // t=0: δ = 1 + 0.9·1   − 0.5 = 1.4        A0 = 1.4  + 0.45·0.575 = 1.65875
        // returns = A + V = [2.15875, 1.575, 2.0]
        Tensor r = f32(new float[] {1, 0, 2}, 1, 3), v = f32(new float[] {0.5f, 1, 1.5f}, 1, 3);
        Tensor m = f32(new float[] {1, 1, 1}, 1, 3);
        float[][] out = run(ref, r, v, m, new GaeOptions(0.9, 0.5, mode));
        Tolerance.assertClose("A", new double[] {1.65875, 0.575, 0.5}, d(out[0]), 1e-7, 0);
        Tolerance.assertClose("R", new double[] {2.15875, 1.575, 2.0}, d(out[1]), 1e-7, 0);
    }

    @Test
    void handComputedInteriorGapZero() {
        // mask = [1, 0, 1], r = [1, 5, 2], V = [0.5, 7, 1.5], γ = 0.9, λ = 0.5. zero: r·m = [1, 0, 2], V·m = [0.5, 0, 1.5].
        // t=2: δ = 2 + 0.9·0   − 1.5 = 0.5        A2 = 0.5
        // t=1: δ = 0 + 0.9·1.5 − 0   = 1.35       A1 = 1.35 + 0.45·0.5   = 1.575  (runs, output 0)
        // t=0: δ = 1 + 0.9·0   − 0.5 = 0.5        A0 = 0.5  + 0.45·1.575 = 1.20875
        // advantages = [1.20875, 0, 0.5], returns = [1.70875, 0, 2.0]
        Tensor r = f32(new float[] {1, 5, 2}, 1, 3), v = f32(new float[] {0.5f, 7, 1.5f}, 1, 3);
        Tensor m = f32(new float[] {1, 0, 1}, 1, 3);
        float[][] out = run(ref, r, v, m, new GaeOptions(0.9, 0.5, GaeMaskedSteps.ZERO));
        Tolerance.assertClose("A", new double[] {1.20875, 0, 0.5}, d(out[0]), 1e-7, 0);
        Tolerance.assertClose("R", new double[] {1.70875, 0, 2.0}, d(out[1]), 1e-7, 0);
    }

    @Test
    void handComputedInteriorGapSkip() {
        // Same inputs, skip: the masked t=1 is skipped, t=0 sees nextvalue = V2 and the running A = A2.
        // t=2: δ = 2 + 0.9·0   − 1.5 = 0.5        A2 = 0.5;  carried: nextvalue = 1.5, A = 0.5
        // t=1: masked → nothing changes, output 0
        // t=0: δ = 1 + 0.9·1.5 − 0.5 = 1.85       A0 = 1.85 + 0.45·0.5 = 2.075
        // advantages = [2.075, 0, 0.5], returns = [2.575, 0, 2.0]
        Tensor r = f32(new float[] {1, 5, 2}, 1, 3), v = f32(new float[] {0.5f, 7, 1.5f}, 1, 3);
        Tensor m = f32(new float[] {1, 0, 1}, 1, 3);
        float[][] out = run(ref, r, v, m, new GaeOptions(0.9, 0.5, GaeMaskedSteps.SKIP));
        Tolerance.assertClose("A", new double[] {2.075, 0, 0.5}, d(out[0]), 1e-7, 0);
        Tolerance.assertClose("R", new double[] {2.575, 0, 2.0}, d(out[1]), 1e-7, 0);
    }

    @ParameterizedTest
    @EnumSource(GaeMaskedSteps.class)
    void gammaAndLambdaLimits(GaeMaskedSteps mode) {
        // r = [1, 2, 3], V = [4, 5, 6], all valid.
        Tensor r = f32(new float[] {1, 2, 3}, 1, 3), v = f32(new float[] {4, 5, 6}, 1, 3);
        Tensor m = f32(new float[] {1, 1, 1}, 1, 3);
        // γ = 0: A_t = r_t − V_t = [−3, −3, −3].
        Tolerance.assertClose("γ=0", new double[] {-3, -3, -3}, d(run(ref, r, v, m, new GaeOptions(0, 0.7, mode))[0]), 0, 0);
        // γ = 1, λ = 0 (one-step TD): A_t = r_t + V_{t+1} − V_t = [1+5−4, 2+6−5, 3+0−6] = [2, 3, −3].
        Tolerance.assertClose("λ=0", new double[] {2, 3, -3}, d(run(ref, r, v, m, new GaeOptions(1, 0, mode))[0]), 0, 0);
        // γ = λ = 1 (Monte Carlo): A_t = Σ_{k≥t} r_k − V_t = [6−4, 5−5, 3−6] = [2, 0, −3]; returns = [6, 5, 3].
        float[][] mc = run(ref, r, v, m, new GaeOptions(1, 1, mode));
        Tolerance.assertClose("λ=1 A", new double[] {2, 0, -3}, d(mc[0]), 0, 0);
        Tolerance.assertClose("λ=1 R", new double[] {6, 5, 3}, d(mc[1]), 0, 0);
    }

    @ParameterizedTest
    @EnumSource(GaeMaskedSteps.class)
    void singleStep(GaeMaskedSteps mode) {
        // T = 1: A = r − V = 2.5 − 1 = 1.5, R = A + V = 2.5; masked → 0, 0.
        Tensor r = f32(new float[] {2.5f, 2.5f}, 2, 1), v = f32(new float[] {1, 1}, 2, 1);
        float[][] out = run(ref, r, v, f32(new float[] {1, 0}, 2, 1), new GaeOptions(0.99, 0.95, mode));
        assertArrayEquals(new float[] {1.5f, 0f}, out[0]);
        assertArrayEquals(new float[] {2.5f, 0f}, out[1]);
    }

    // ---------------- seeded random vs the literal loop ----------------

    @ParameterizedTest
    @EnumSource(GaeMaskedSteps.class)
    void randomRightPaddedAgainstLiteral(GaeMaskedSteps mode) {
        Rand rnd = new Rand(arena, 101);
        for (long[] bt : new long[][] {{1, 1}, {1, 17}, {7, 1}, {5, 33}, {41, 401}}) {
            Tensor r = rnd.normal(DType.F32, 1.0, bt), v = rnd.normal(DType.F32, 2.0, bt);
            Tensor m = rnd.rightPaddedMask(DType.F32, bt[0], bt[1]);
            assertMatchesLiteral(mode + " " + bt[0] + "x" + bt[1], r, v, m, new GaeOptions(0.99, 0.95, mode));
        }
    }

    @ParameterizedTest
    @EnumSource(GaeMaskedSteps.class)
    void randomInteriorGapsAgainstLiteral(GaeMaskedSteps mode) {
        Rand rnd = new Rand(arena, 202);
        double[][] gl = {{1, 0.95}, {0.9, 0.5}, {1, 1}, {0.5, 0}};
        for (double[] p : gl) {
            for (long[] bt : new long[][] {{1, 29}, {13, 64}, {17, 33}}) {
                Tensor r = rnd.normal(DType.F32, 1.0, bt), v = rnd.normal(DType.F32, 1.0, bt);
                Tensor m = rnd.randomMask(DType.F32, 0.6, bt[0], bt[1]);
                assertMatchesLiteral(mode + " γ=" + p[0] + " λ=" + p[1], r, v, m, new GaeOptions(p[0], p[1], mode));
            }
        }
    }

    @Test
    void interiorGapsMakeTheModesDiffer() {
        // Guards the test above: with interior gaps zero and skip must not coincide (else the modes are not tested).
        Rand rnd = new Rand(arena, 303);
        Tensor r = rnd.normal(DType.F32, 1.0, 4, 50), v = rnd.normal(DType.F32, 1.0, 4, 50);
        Tensor m = rnd.randomMask(DType.F32, 0.5, 4, 50);
        float[] zero = run(ref, r, v, m, new GaeOptions(1, 0.95, GaeMaskedSteps.ZERO))[0];
        float[] skip = run(ref, r, v, m, new GaeOptions(1, 0.95, GaeMaskedSteps.SKIP))[0];
        assertTrue(!java.util.Arrays.equals(zero, skip), "zero and skip should differ with interior gaps");
    }

    @ParameterizedTest
    @EnumSource(GaeMaskedSteps.class)
    void allMaskedRowsGiveZeros(GaeMaskedSteps mode) {
        // Row 1 fully masked (with non-finite garbage in r and V there): zeros, not NaN; other rows unaffected.
        Rand rnd = new Rand(arena, 404);
        Tensor r = rnd.normal(DType.F32, 1.0, 3, 9), v = rnd.normal(DType.F32, 1.0, 3, 9);
        Tensor m = rnd.rightPaddedMask(DType.F32, 3, 9);
        for (int c = 0; c < 9; c++) {
            m.setFloat(9 + c, 0);
            r.setFloat(9 + c, c % 2 == 0 ? Float.NaN : Float.POSITIVE_INFINITY);
            v.setFloat(9 + c, Float.NaN);
        }
        float[][] out = run(ref, r, v, m, new GaeOptions(1, 0.95, mode));
        for (int c = 0; c < 9; c++) {
            assertEquals(0f, out[0][9 + c], "advantages row 1 col " + c);
            assertEquals(0f, out[1][9 + c], "returns row 1 col " + c);
        }
        for (float x : out[0]) assertTrue(Float.isFinite(x));
        for (float x : out[1]) assertTrue(Float.isFinite(x));
        Tensor mAll = Tensor.allocate(arena, DType.U8, 1, 5);
        float[][] none = run(ref, f32(new float[5], 1, 5), f32(new float[5], 1, 5), mAll, new GaeOptions(1, 1, mode));
        assertArrayEquals(new float[5], none[0]);
        assertArrayEquals(new float[5], none[1]);
    }

    @Test
    void skipEqualsZeroOnRightPaddedMasks() {
        // SPEC: skip equals zero for right padding. Bitwise: trailing padded steps in zero mode have δ = 0, A = 0.
        Rand rnd = new Rand(arena, 505);
        for (long[] bt : new long[][] {{1, 1}, {9, 17}, {41, 401}}) {
            Tensor r = rnd.normal(DType.F32, 1.0, bt), v = rnd.normal(DType.F32, 1.0, bt);
            Tensor m = rnd.rightPaddedMask(DType.I64, bt[0], bt[1]);
            float[][] zero = run(ref, r, v, m, new GaeOptions(0.97, 0.9, GaeMaskedSteps.ZERO));
            float[][] skip = run(ref, r, v, m, new GaeOptions(0.97, 0.9, GaeMaskedSteps.SKIP));
            assertArrayEquals(zero[0], skip[0], "advantages " + bt[0] + "x" + bt[1]);
            assertArrayEquals(zero[1], skip[1], "returns " + bt[0] + "x" + bt[1]);
        }
    }

    // ---------------- dtypes and parameters ----------------

    @ParameterizedTest
    @EnumSource(GaeMaskedSteps.class)
    void everyMaskDtypeGivesTheSameBits(GaeMaskedSteps mode) {
        Rand rnd = new Rand(arena, 606);
        Tensor r = rnd.normal(DType.F32, 1.0, 6, 23), v = rnd.normal(DType.F32, 1.0, 6, 23);
        Tensor m = rnd.randomMask(DType.F32, 0.7, 6, 23);
        GaeOptions o = new GaeOptions(0.99, 0.95, mode);
        float[][] base = run(ref, r, v, m, o);
        for (DType dt : MASK_TYPES) {
            float[][] out = run(ref, r, v, convert(m, dt), o);
            assertArrayEquals(base[0], out[0], "advantages with a " + dt + " mask");
            assertArrayEquals(base[1], out[1], "returns with a " + dt + " mask");
        }
        // Any nonzero value is valid: 7 (i32) and 0.25 (f32) act as 1.
        Tensor m7 = Tensor.allocate(arena, DType.I32, 6, 23), mq = Tensor.allocate(arena, DType.F32, 6, 23);
        for (long i = 0; i < m.numel(); i++) {
            m7.setFloat(i, m.isSet(i) ? 7 : 0);
            mq.setFloat(i, m.isSet(i) ? 0.25 : 0);
        }
        assertArrayEquals(base[0], run(ref, r, v, m7, o)[0], "i32 mask of 7s");
        assertArrayEquals(base[0], run(ref, r, v, mq, o)[0], "f32 mask of 0.25s");
    }

    @Test
    void gammaAndLambdaOutsideUnitIntervalAreRejected() {
        for (double bad : new double[] {-0.1, 1.0000001, 2, Double.NaN, Double.POSITIVE_INFINITY}) {
            var eg = assertThrows(IllegalArgumentException.class, () -> new GaeOptions(bad, 0.95, GaeMaskedSteps.ZERO));
            assertTrue(eg.getMessage().contains("gamma"), eg.getMessage());
            var el = assertThrows(IllegalArgumentException.class, () -> new GaeOptions(1, bad, GaeMaskedSteps.SKIP));
            assertTrue(el.getMessage().contains("lam"), el.getMessage());
        }
        var es = assertThrows(IllegalArgumentException.class, () -> Settings.of(Preset.TRL, Map.of("gamma", "1.5")));
        assertTrue(es.getMessage().contains("gamma") && es.getMessage().contains("1.5"), es.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new GaeOptions(1, 1, null));
    }

    @Test
    void badShapesAndDtypesAreRejected() {
        Tensor r = Tensor.allocate(arena, DType.F32, 2, 5), v = Tensor.allocate(arena, DType.F32, 2, 5);
        Tensor m = Tensor.allocate(arena, DType.U8, 2, 5), a = Tensor.allocate(arena, DType.F32, 2, 5);
        Tensor ret = Tensor.allocate(arena, DType.F32, 2, 5);
        GaeOptions o = new GaeOptions(1, 0.95, GaeMaskedSteps.ZERO);
        var e1 = assertThrows(IllegalArgumentException.class,
                () -> ref.gae(r, Tensor.allocate(arena, DType.F32, 2, 4), m, o, a, ret));
        assertTrue(e1.getMessage().contains("values"), e1.getMessage());
        var e2 = assertThrows(IllegalArgumentException.class,
                () -> ref.gae(r, v, Tensor.allocate(arena, DType.BF16, 2, 5), o, a, ret));
        assertTrue(e2.getMessage().contains("mask"), e2.getMessage());
        var e3 = assertThrows(IllegalArgumentException.class, () -> ref.gae(r, v, m, o, a, null));
        assertTrue(e3.getMessage().contains("returns"), e3.getMessage());
    }

    // ---------------- every host backend against the reference ----------------

    @ParameterizedTest
    @MethodSource("dev.ppoengine.testing.TestBackends#hostBackends")
    void backendMatchesReference(String backend) {
        try (PpoKernels k = TestBackends.open(backend)) {
            Rand rnd = new Rand(arena, 707);
            long[][] shapes = {{1, 1}, {17, 33}, {41, 401}, {3, 1000}, {64, 1027}};
            for (long[] bt : shapes) {
                Tensor r = rnd.normal(DType.F32, 1.0, bt), v = rnd.normal(DType.F32, 1.0, bt);
                Tensor[] masks = {rnd.rightPaddedMask(DType.F32, bt[0], bt[1]), rnd.randomMask(DType.F32, 0.7, bt[0], bt[1])};
                for (int mi = 0; mi < masks.length; mi++) {
                    for (GaeMaskedSteps mode : GaeMaskedSteps.values()) {
                        GaeOptions o = new GaeOptions(0.99, 0.95, mode);
                        float[][] want = run(ref, r, v, masks[mi], o);
                        for (DType dt : MASK_TYPES) {
                            String what = backend + " " + mode + " " + dt + " mask" + mi + " " + bt[0] + "x" + bt[1];
                            Tensor m = convert(masks[mi], dt);
                            float[][] got = run(k, r, v, m, o);
                            Tolerance.assertClose(what + " advantages", d(want[0]), d(got[0]));
                            Tolerance.assertClose(what + " returns", d(want[1]), d(got[1]));
                            float[][] again = run(k, r, v, m, o);
                            assertArrayEquals(got[0], again[0], what + " advantages: two runs differ");
                            assertArrayEquals(got[1], again[1], what + " returns: two runs differ");
                        }
                    }
                }
            }
        }
    }
}
