package dev.ppoengine.ops;

import dev.ppoengine.kernels.GroupEstimator;
import dev.ppoengine.kernels.GroupOptions;
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
 * group_advantages (SPEC): scores [B] in consecutive groups of n; grpo (s − μ_g)/(σ_g + ε) with σ unbiased,
 * dr_grpo s − μ_g, rloo s − mean of the other n − 1; [B, T] = value × mask when a mask is given.
 */
class GroupAdvantagesTest {
    private static final DType[] MASK_TYPES = {DType.F32, DType.U8, DType.BOOL, DType.I32, DType.I64};

    private Arena arena;
    private final PpoKernels ref = new ReferenceKernels();

    @BeforeEach
    void open() { arena = Arena.ofConfined(); }

    @AfterEach
    void close() { arena.close(); }

    private float[] run(PpoKernels k, Tensor scores, Tensor mask, GroupOptions o) {
        Tensor out = mask == null ? Tensor.allocate(arena, DType.F32, scores.dim(0))
                : Tensor.allocate(arena, DType.F32, mask.shape());
        for (long i = 0; i < out.numel(); i++) out.setFloat(i, Float.NaN); // an unwritten position shows
        k.groupAdvantages(scores, mask, o, out);
        return out.toFloatArray();
    }

    private float[] run(Tensor scores, GroupOptions o) { return run(ref, scores, null, o); }

    private Tensor scores(float... s) { return Tensor.ofFloats(arena, s, s.length); }

    private static double[] d(float[] x) {
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = x[i];
        return out;
    }

    /** Each estimator written directly from its definition, f64, per group. */
    private static double[] direct(double[] s, int n, GroupEstimator est, double eps) {
        double[] out = new double[s.length];
        for (int g = 0; g < s.length; g += n) {
            double mu = 0;
            for (int j = g; j < g + n; j++) mu += s[j] / n;
            double var = 0;
            for (int j = g; j < g + n; j++) var += (s[j] - mu) * (s[j] - mu) / (n - 1);
            for (int i = g; i < g + n; i++) {
                double others = 0;
                for (int j = g; j < g + n; j++) if (j != i) others += s[j];
                out[i] = switch (est) {
                    case GRPO -> (s[i] - mu) / (Math.sqrt(var) + eps);
                    case DR_GRPO -> s[i] - mu;
                    case RLOO -> s[i] - others / (n - 1);
                };
            }
        }
        return out;
    }

    // ---------------- hand-computed ----------------
    // scores = [1, 2, 3 | 4, 4, 10], n = 3.
    // group 1: μ = 2, deviations −1, 0, 1, σ² = (1 + 0 + 1)/2 = 1, σ = 1.
    // group 2: μ = 6, deviations −2, −2, 4, σ² = (4 + 4 + 16)/2 = 12, σ = √12 = 3.4641016.

    @Test
    void handGrpo() {
        // ε = 0: [−1/1, 0, 1/1 | −2/√12, −2/√12, 4/√12] = [−1, 0, 1 | −0.5773503, −0.5773503, 1.1547005]
        float[] e0 = run(scores(1, 2, 3, 4, 4, 10), new GroupOptions(3, GroupEstimator.GRPO, 0));
        double r12 = Math.sqrt(12);
        Tolerance.assertClose("grpo ε=0", new double[] {-1, 0, 1, -2 / r12, -2 / r12, 4 / r12}, d(e0), 1e-7, 0);
        assertEquals(-0.5773503, e0[3], 1e-6);
        // ε = 1: [−1/2, 0, 1/2 | −2/4.4641016, −2/4.4641016, 4/4.4641016] = [.. | −0.4480185, −0.4480185, 0.8960369]
        float[] e1 = run(scores(1, 2, 3, 4, 4, 10), new GroupOptions(3, GroupEstimator.GRPO, 1));
        Tolerance.assertClose("grpo ε=1", new double[] {-0.5, 0, 0.5, -2 / (r12 + 1), -2 / (r12 + 1), 4 / (r12 + 1)},
                d(e1), 1e-7, 0);
        assertEquals(0.8960369, e1[5], 1e-6);
    }

    @Test
    void handDrGrpo() {
        // s − μ: [1−2, 2−2, 3−2 | 4−6, 4−6, 10−6] = [−1, 0, 1 | −2, −2, 4]
        assertArrayEquals(new float[] {-1, 0, 1, -2, -2, 4},
                run(scores(1, 2, 3, 4, 4, 10), new GroupOptions(3, GroupEstimator.DR_GRPO, 1e-6)));
    }

    @Test
    void handRloo() {
        // s − mean(others): [1−(2+3)/2, 2−(1+3)/2, 3−(1+2)/2 | 4−(4+10)/2, 4−(4+10)/2, 10−(4+4)/2]
        //                 = [−1.5, 0, 1.5 | −3, −3, 6]   (= n/(n−1)·(s − μ) = 1.5·dr_grpo)
        assertArrayEquals(new float[] {-1.5f, 0, 1.5f, -3, -3, 6},
                run(scores(1, 2, 3, 4, 4, 10), new GroupOptions(3, GroupEstimator.RLOO, 1e-6)));
    }

    @Test
    void handGroupOfTwo() {
        // [3, 5], n = 2: μ = 4, σ² = (1 + 1)/1 = 2 → grpo ε=0 [−1/√2, 1/√2]; rloo [3−5, 5−3] = [−2, 2]; dr [−1, 1]
        double h = 1 / Math.sqrt(2);
        Tolerance.assertClose("grpo n=2", new double[] {-h, h},
                d(run(scores(3, 5), new GroupOptions(2, GroupEstimator.GRPO, 0))), 1e-7, 0);
        assertArrayEquals(new float[] {-2, 2}, run(scores(3, 5), new GroupOptions(2, GroupEstimator.RLOO, 0)));
        assertArrayEquals(new float[] {-1, 1}, run(scores(3, 5), new GroupOptions(2, GroupEstimator.DR_GRPO, 0)));
    }

    @ParameterizedTest
    @EnumSource(GroupEstimator.class)
    void constantGroupGivesZeroNotNaN(GroupEstimator est) {
        // All scores of a group equal: every centred score is 0; grpo with ε = 0 is 0, not 0/0.
        assertArrayEquals(new float[] {0, 0, 0, 0}, run(scores(0.7f, 0.7f, 0.7f, 0.7f), new GroupOptions(4, est, 0)));
    }

    // ---------------- seeded random vs the direct formulas ----------------

    @ParameterizedTest
    @EnumSource(GroupEstimator.class)
    void randomGroupsAgainstDirectFormulas(GroupEstimator est) {
        Rand rnd = new Rand(arena, 31);
        for (int n : new int[] {2, 3, 4, 5, 8, 16, 64}) {
            for (int groups : new int[] {1, 3, 17}) {
                Tensor s = rnd.normal(DType.F32, 2.0, (long) n * groups);
                for (double eps : new double[] {0, 1e-6, 0.5}) {
                    double[] want = direct(s.toDoubleArray(), n, est, eps);
                    float[] got = run(s, new GroupOptions(n, est, eps));
                    Tolerance.assertClose(est + " n=" + n + " groups=" + groups + " ε=" + eps, want, d(got), 1e-12, 2.5e-7);
                }
            }
        }
    }

    // ---------------- mask output ----------------

    @ParameterizedTest
    @EnumSource(GroupEstimator.class)
    void maskedOutputIsValueTimesMask(GroupEstimator est) {
        Rand rnd = new Rand(arena, 32);
        Tensor s = rnd.normal(DType.F32, 1.0, 12);
        GroupOptions o = new GroupOptions(4, est, 1e-6);
        float[] flat = run(s, o);
        Tensor base = rnd.rightPaddedMask(DType.F32, 12, 17);
        for (long c = 0; c < 17; c++) base.setFloat(5 * 17 + c, 0);     // row 5 fully masked
        for (DType dt : MASK_TYPES) {
            Tensor m = Tensor.allocate(arena, dt, 12, 17);
            for (long i = 0; i < m.numel(); i++) m.setFloat(i, base.getDouble(i) != 0 ? (dt == DType.I32 ? 5 : 1) : 0);
            float[] out = run(ref, s, m, o);
            for (int b = 0; b < 12; b++) {
                for (int t = 0; t < 17; t++) {
                    float want = base.getDouble(b * 17 + t) != 0 ? flat[b] : 0f;
                    assertEquals(want, out[b * 17 + t], dt + " mask at [" + b + ", " + t + "]");
                }
            }
        }
    }

    // ---------------- bad input ----------------

    @Test
    void batchNotDivisibleByGroupSizeIsAnError() {
        Tensor s = scores(1, 2, 3, 4, 5);
        Tensor out = Tensor.allocate(arena, DType.F32, 5);
        var e = assertThrows(IllegalArgumentException.class,
                () -> ref.groupAdvantages(s, null, new GroupOptions(2, GroupEstimator.GRPO, 1e-6), out));
        assertTrue(e.getMessage().contains("5") && e.getMessage().contains("group_size 2"), e.getMessage());
    }

    @Test
    void groupSizeBelowTwoIsAnError() {
        for (int n : new int[] {1, 0, -4}) {
            var e = assertThrows(IllegalArgumentException.class, () -> new GroupOptions(n, GroupEstimator.RLOO, 1e-6));
            assertTrue(e.getMessage().contains("group_size") && e.getMessage().contains(String.valueOf(n)), e.getMessage());
        }
        var unset = assertThrows(IllegalArgumentException.class, () -> Settings.of(Preset.VERL).groupOptions());
        assertTrue(unset.getMessage().contains("group_size"), unset.getMessage());
        var one = assertThrows(IllegalArgumentException.class,
                () -> Settings.of(Preset.VERL, Map.of("group_size", "1")).groupOptions());
        assertTrue(one.getMessage().contains("group_size"), one.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new GroupOptions(2, GroupEstimator.GRPO, -1));
        assertThrows(IllegalArgumentException.class, () -> new GroupOptions(2, null, 0));
    }

    @Test
    void badShapesAreRejected() {
        Tensor s = scores(1, 2, 3, 4);
        GroupOptions o = new GroupOptions(2, GroupEstimator.DR_GRPO, 0);
        var e1 = assertThrows(IllegalArgumentException.class,
                () -> ref.groupAdvantages(Tensor.ofFloats(arena, new float[] {1, 2, 3, 4}, 2, 2), null, o,
                        Tensor.allocate(arena, DType.F32, 4)));
        assertTrue(e1.getMessage().contains("scores"), e1.getMessage());
        var e2 = assertThrows(IllegalArgumentException.class,
                () -> ref.groupAdvantages(s, Tensor.allocate(arena, DType.U8, 3, 5), o, Tensor.allocate(arena, DType.F32, 4, 5)));
        assertTrue(e2.getMessage().contains("mask"), e2.getMessage());
        var e3 = assertThrows(IllegalArgumentException.class,
                () -> ref.groupAdvantages(s, Tensor.allocate(arena, DType.U8, 4, 5), o, Tensor.allocate(arena, DType.F32, 4)));
        assertTrue(e3.getMessage().contains("advantages"), e3.getMessage());
    }

    // ---------------- every host backend against the reference ----------------

    @ParameterizedTest
    @MethodSource("dev.ppoengine.testing.TestBackends#hostBackends")
    void backendMatchesReference(String backend) {
        try (PpoKernels k = TestBackends.open(backend)) {
            Rand rnd = new Rand(arena, 33);
            int[][] cases = {{2, 1}, {3, 17}, {4, 41}, {16, 64}, {5, 200}};   // {n, groups}
            for (int[] c : cases) {
                Tensor s = rnd.normal(DType.F32, 1.0, (long) c[0] * c[1]);
                Tensor mask = rnd.rightPaddedMask(DType.F32, (long) c[0] * c[1], 33);
                for (GroupEstimator est : GroupEstimator.values()) {
                    GroupOptions o = new GroupOptions(c[0], est, 1e-6);
                    String what = backend + " " + est + " n=" + c[0] + " groups=" + c[1];
                    float[] got = run(k, s, null, o);
                    Tolerance.assertClose(what, d(run(ref, s, null, o)), d(got));
                    assertArrayEquals(got, run(k, s, null, o), what + ": two runs differ");
                    float[] want = run(ref, s, mask, o);
                    for (DType dt : MASK_TYPES) {
                        Tensor m = Tensor.allocate(arena, dt, mask.shape());
                        for (long i = 0; i < m.numel(); i++) m.setFloat(i, mask.getDouble(i));
                        float[] gotMasked = run(k, s, m, o);
                        Tolerance.assertClose(what + " " + dt + " mask", d(want), d(gotMasked));
                        assertArrayEquals(gotMasked, run(k, s, m, o), what + " " + dt + " mask: two runs differ");
                    }
                }
            }
        }
    }
}
