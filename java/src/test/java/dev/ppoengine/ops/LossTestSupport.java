package dev.ppoengine.ops;

import dev.ppoengine.kernels.Aggregation;
import dev.ppoengine.kernels.LossAgg;
import dev.ppoengine.kernels.PolicyLossOptions;
import dev.ppoengine.kernels.PolicyLossResult;
import dev.ppoengine.kernels.PpoLossResult;
import dev.ppoengine.kernels.ValueLossResult;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;
import dev.ppoengine.testing.Rand;
import dev.ppoengine.testing.Tolerance;

import org.junit.jupiter.api.function.Executable;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Shared pieces of the loss tests (policy_loss, value_loss, ppo_loss, loss aggregation):
 * <ul>
 *   <li>test-side oracles of the per-token forward losses, written literally in the style of trl / verl
 *       (independently of the reference's branch-by-branch form), and the four aggregations as direct sums;</li>
 *   <li>seeded random inputs on a 2^-12 grid kept a margin away from every kink of the loss, so that a central
 *       finite difference with step {@link #FD_STEP} never straddles a kink and the inputs ± the step stay exactly
 *       representable in f32 (grid values below 8 in magnitude need at most 15 significant bits);</li>
 *   <li>the awkward shapes and the aggregation variants every test sweeps.</li>
 * </ul>
 */
final class LossTestSupport {
    private LossTestSupport() {}

    /** Central-difference step: a power of two so x ± h is exact on the input grid. */
    static final double FD_STEP = 0x1p-12;
    /** Distance kept from every kink: 4 FD steps, also far above the f32-vs-f64 rounding of a kink's position. */
    static final double KINK_MARGIN = 4 * FD_STEP;

    /** Mask dtypes the sweeps cycle through (SPEC: f32, u8/bool, i32, i64). */
    static final DType[] MASK_TYPES = {DType.F32, DType.U8, DType.BOOL, DType.I32, DType.I64};

    /**
     * Each case {argument name, call} throws an IllegalArgumentException whose message names the argument (SPEC "Bad
     * input").
     */
    static void assertEachNamesItsArgument(List<Object[]> cases) {
        for (Object[] c : cases) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, (Executable) c[1], (String) c[0]);
            assertTrue(e.getMessage().contains((String) c[0]), "message should name " + c[0] + ": " + e.getMessage());
        }
    }

    /** Shapes of the cross-backend sweep (SPEC: 1, sizes that are no multiple of a vector/block width). */
    static final long[][] AWKWARD_SHAPES = {{1, 1}, {17, 33}, {41, 401}, {512, 129}};

    /** Every loss_agg mode, and token-mean / sum-norm with an explicit token_count / loss_agg_norm. */
    static List<Aggregation> aggregations() {
        List<Aggregation> out = new ArrayList<>();
        for (var mode : LossAgg.values()) out.add(Aggregation.of(mode));
        out.add(new Aggregation(LossAgg.TOKEN_MEAN, 4096, 0));
        out.add(new Aggregation(LossAgg.SEQ_MEAN_TOKEN_SUM_NORM, 0, 333));
        return out;
    }

    // ------------------------------------------------------------------ tensors

    static Tensor f32(Arena arena, long b, long t, double... v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) f[i] = (float) v[i];
        return Tensor.ofFloats(arena, f, b, t);
    }

    static Tensor mask(Arena arena, DType dtype, long b, long t, double... v) {
        Tensor m = Tensor.allocate(arena, dtype, b, t);
        for (int i = 0; i < v.length; i++) m.setFloat(i, v[i]);
        return m;
    }

    static Tensor zeros(Arena arena, long b, long t) { return Tensor.allocate(arena, DType.F32, b, t); }

    /** Random mask with interior gaps (p = 0.8) and, when B ≥ 3, one all-masked row; [1, 1] stays valid. */
    static Tensor randomMask(Rand rnd, DType dtype, long b, long t) {
        Tensor m = rnd.randomMask(dtype, 0.8, b, t);
        if (b * t == 1) m.setFloat(0, 1);
        if (b >= 3) for (long c = 0; c < t; c++) m.setFloat((b / 2) * t + c, 0);
        return m;
    }

    static double grid(double v) { return Math.rint(v / FD_STEP) * FD_STEP; }

    static boolean[] valid(Tensor mask) {
        boolean[] v = new boolean[(int) mask.numel()];
        for (int i = 0; i < v.length; i++) v[i] = mask.isSet(i);
        return v;
    }

    // ------------------------------------------------------------------ policy inputs and oracle

    record PolicyInputs(Tensor logprobs, Tensor oldLogprobs, Tensor advantages, Tensor mask) {}

    /** log-ratio values where the policy loss has a kink under {@code o}. */
    static double[] policyKinks(PolicyLossOptions o) {
        List<Double> k = new ArrayList<>();
        if (o.clipLow() < 1) k.add(Math.log(1 - o.clipLow()));
        k.add(Math.log1p(o.clipHigh()));
        if (o.logRatioClamp() > 0) { k.add(o.logRatioClamp()); k.add(-o.logRatioClamp()); }
        if (o.dualClip() > 0) k.add(Math.log(o.dualClip()));
        return k.stream().mapToDouble(Double::doubleValue).toArray();
    }

    /**
     * logprobs ~ U(−6, 0), log ratio x ~ N(0, xScale²), A ~ N(0, 1), all on the 2^-12 grid, x at least
     * KINK_MARGIN from every kink of {@code o} (x is redrawn until it is), so old = logprobs − x exactly.
     */
    static PolicyInputs policyInputs(Arena arena, Rand rnd, long b, long t, PolicyLossOptions o, double xScale,
                                     DType maskType) {
        double[] kinks = policyKinks(o);
        double[] lp = new double[(int) (b * t)], old = new double[lp.length], adv = new double[lp.length];
        for (int i = 0; i < lp.length; i++) {
            lp[i] = grid(rnd.uniform(-6, 0));
            double x;
            do { x = grid(xScale * rnd.normal()); } while (near(x, kinks));
            old[i] = lp[i] - x;
            adv[i] = grid(rnd.normal());
        }
        return new PolicyInputs(f32(arena, b, t, lp), f32(arena, b, t, old), f32(arena, b, t, adv),
                randomMask(rnd, maskType, b, t));
    }

    static boolean near(double x, double[] kinks) {
        for (double k : kinks) if (Math.abs(x - k) < KINK_MARGIN) return true;
        return false;
    }

    /** Per-token policy loss, written as the trainers write it (pg_losses, pg_losses2, max, dual-clip min). */
    static double policyOracle(double logprob, double oldLogprob, double adv, PolicyLossOptions o) {
        double logRatio = logprob - oldLogprob;
        if (o.logRatioClamp() > 0) logRatio = Math.clamp(logRatio, -o.logRatioClamp(), o.logRatioClamp());
        double ratio = Math.exp(logRatio);
        double pgLosses = -adv * ratio;
        double pgLosses2 = -adv * Math.clamp(ratio, 1 - o.clipLow(), 1 + o.clipHigh());
        double pg = Math.max(pgLosses, pgLosses2);
        if (o.dualClip() > 0 && adv < 0) pg = Math.min(pg, -adv * o.dualClip());
        return pg;
    }

    // ------------------------------------------------------------------ value inputs and oracle

    record ValueInputs(Tensor values, Tensor oldValues, Tensor returns, Tensor mask) {}

    /** Whether V is within KINK_MARGIN of a kink of ½·max((V−R)², (Vc−R)²): |V − old| = ε or a branch tie. */
    static boolean nearValueKink(double v, double old, double ret, double eps) {
        if (eps == 0) return false;
        if (Math.abs(Math.abs(v - old) - eps) < KINK_MARGIN) return true;
        double vc = Math.clamp(v, old - eps, old + eps);
        return vc != v && Math.abs(Math.abs(v - ret) - Math.abs(vc - ret)) < KINK_MARGIN;
    }

    /** old ~ N(0,1), V = old + N(0, 0.4²), R = old + N(0, 0.6²), on the grid, V redrawn away from the kinks. */
    static ValueInputs valueInputs(Arena arena, Rand rnd, long b, long t, double eps, DType maskType) {
        double[] v = new double[(int) (b * t)], old = new double[v.length], ret = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            old[i] = grid(rnd.normal());
            ret[i] = grid(old[i] + 0.6 * rnd.normal());
            do { v[i] = grid(old[i] + 0.4 * rnd.normal()); } while (nearValueKink(v[i], old[i], ret[i], eps));
        }
        return new ValueInputs(f32(arena, b, t, v), f32(arena, b, t, old), f32(arena, b, t, ret),
                randomMask(rnd, maskType, b, t));
    }

    /** Per-token value loss as trl writes it: ½·max(square(V − R), square(clamp(V, old ± ε) − R)). */
    static double valueOracle(double v, double old, double ret, double eps) {
        double vc = eps > 0 ? Math.clamp(v, old - eps, old + eps) : v;
        return 0.5 * Math.max((v - ret) * (v - ret), (vc - ret) * (vc - ret));
    }

    // ------------------------------------------------------------------ aggregation as direct sums

    /** loss_agg of the per-token values {@code l} over {@code valid} [B·T], each mode written out directly. */
    static double directAggregate(Aggregation agg, boolean[] valid, double[] l, int b, int t) {
        int n = 0;
        for (boolean v : valid) if (v) n++;
        if (n == 0) return 0;
        switch (agg.mode()) {
            case TOKEN_MEAN -> {
                double s = 0;
                for (int i = 0; i < l.length; i++) if (valid[i]) s += l[i];
                return s / (agg.tokenCount() > 0 ? agg.tokenCount() : n);
            }
            case SEQ_MEAN_TOKEN_SUM, SEQ_MEAN_TOKEN_MEAN -> {
                double sumOfRows = 0;
                int rows = 0;
                for (int r = 0; r < b; r++) {
                    double rowSum = 0;
                    int rowCount = 0;
                    for (int c = 0; c < t; c++) {
                        if (valid[r * t + c]) { rowSum += l[r * t + c]; rowCount++; }
                    }
                    if (rowCount == 0) continue;
                    rows++;
                    sumOfRows += agg.mode() == LossAgg.SEQ_MEAN_TOKEN_SUM ? rowSum : rowSum / rowCount;
                }
                return sumOfRows / rows;
            }
            case SEQ_MEAN_TOKEN_SUM_NORM -> {
                double s = 0;
                for (int i = 0; i < l.length; i++) if (valid[i]) s += l[i];
                return s / (agg.norm() > 0 ? agg.norm() : t);
            }
        }
        throw new AssertionError(agg);
    }

    /**
     * d directAggregate / d l[i] for every position: the modes are linear in l, so the weight of token i is the
     * aggregate of the indicator of i. It is the same for all valid tokens of a row, so it is found once per row.
     */
    static double[] directWeights(Aggregation agg, boolean[] valid, int b, int t) {
        double[] w = new double[valid.length];
        for (int r = 0; r < b; r++) {
            double rowWeight = Double.NaN;
            for (int c = 0; c < t; c++) {
                int i = r * t + c;
                if (!valid[i]) continue;
                if (Double.isNaN(rowWeight)) {
                    double[] unit = new double[valid.length];
                    unit[i] = 1;
                    rowWeight = directAggregate(agg, valid, unit, b, t);
                }
                w[i] = rowWeight;
            }
        }
        return w;
    }

    // ------------------------------------------------------------------ assertions

    static void assertFinite(String what, double v) {
        assertTrue(Double.isFinite(v), what + " is not finite: " + v);
    }

    static void assertAllZero(String what, Tensor t) {
        float[] f = t.toFloatArray();
        for (int i = 0; i < f.length; i++) {
            if (f[i] != 0f) fail(what + "[" + i + "] = " + f[i] + ", expected 0");
        }
    }

    /** Elementwise |actual − expected| ≤ tol (a plain absolute bound, for hand-computed values). */
    static void assertValues(String what, double[] expected, Tensor actual, double tol) {
        double[] a = actual.toDoubleArray();
        assertEquals(expected.length, a.length, what + " length");
        for (int i = 0; i < a.length; i++) {
            if (!(Math.abs(a[i] - expected[i]) <= tol)) {
                fail(what + "[" + i + "]: expected " + expected[i] + " got " + a[i] + " (tol " + tol + ")");
            }
        }
    }

    static void assertClose(String what, Tensor expected, Tensor actual) {
        Tolerance.assertClose(what, expected.toDoubleArray(), actual.toDoubleArray());
    }

    static void assertBitwise(String what, Tensor expected, Tensor actual) {
        assertArrayEquals(expected.toFloatArray(), actual.toFloatArray(), what + " differs between two identical runs");
    }

    static void assertPolicyStats(String what, PolicyLossResult ref, PolicyLossResult act) {
        Tolerance.assertClose(what + " loss", ref.loss(), act.loss());
        Tolerance.assertClose(what + " clipfrac", ref.clipfrac(), act.clipfrac());
        Tolerance.assertClose(what + " clipfrac_lower", ref.clipfracLower(), act.clipfracLower());
        Tolerance.assertClose(what + " ppo_kl", ref.ppoKl(), act.ppoKl());
        Tolerance.assertClose(what + " approx_kl", ref.approxKl(), act.approxKl());
        Tolerance.assertClose(what + " mean ratio", ref.meanRatio(), act.meanRatio());
        assertEquals(ref.skipped(), act.skipped(), what + " skipped");
    }

    static void assertValueStats(String what, ValueLossResult ref, ValueLossResult act) {
        Tolerance.assertClose(what + " loss", ref.loss(), act.loss());
        Tolerance.assertClose(what + " clipfrac", ref.clipfrac(), act.clipfrac());
    }

    static void assertPpoStats(String what, PpoLossResult ref, PpoLossResult act) {
        Tolerance.assertClose(what + " loss", ref.loss(), act.loss());
        Tolerance.assertClose(what + " policy_loss", ref.policyLoss(), act.policyLoss());
        Tolerance.assertClose(what + " value_loss", ref.valueLoss(), act.valueLoss());
        Tolerance.assertClose(what + " entropy_loss", ref.entropyLoss(), act.entropyLoss());
        assertPolicyStats(what + " policy", ref.policy(), act.policy());
        assertValueStats(what + " vf", ref.value(), act.value());
    }

    static String shape(long[] s) { return Arrays.toString(s); }
}
