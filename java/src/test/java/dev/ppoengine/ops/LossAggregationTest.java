package dev.ppoengine.ops;

import dev.ppoengine.kernels.Aggregation;
import dev.ppoengine.kernels.LossAgg;
import dev.ppoengine.kernels.PolicyLossOptions;
import dev.ppoengine.kernels.PolicyLossResult;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.kernels.PpoLossInputs;
import dev.ppoengine.kernels.PpoLossOptions;
import dev.ppoengine.kernels.PpoLossResult;
import dev.ppoengine.kernels.ValueLossOptions;
import dev.ppoengine.kernels.ValueLossResult;
import dev.ppoengine.reference.ReferenceKernels;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;
import dev.ppoengine.testing.Rand;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;

import static dev.ppoengine.ops.LossTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * SPEC loss_agg for all three losses, seeded random inputs on awkward shapes (with interior gaps and an all-masked
 * row): each loss equals the direct sum, written in {@link LossTestSupport#directAggregate}, of the per-token
 * losses of a test-side oracle; each gradient equals the direct weight d loss/d L_i times the per-token gradient,
 * the latter read from a run with unit weights (seq-mean-token-sum-norm with loss_agg_norm = 1, i.e. loss = Σ m·L).
 * The hand-computed aggregation cases are in {@link PolicyLossTest#everyAggregationByHand}.
 */
class LossAggregationTest {
    private static final PpoKernels REF = new ReferenceKernels();
    private static final Aggregation UNIT = new Aggregation(LossAgg.SEQ_MEAN_TOKEN_SUM_NORM, 0, 1);
    private static final long[][] SHAPES = {{1, 1}, {3, 5}, {17, 33}, {41, 401}};

    private Arena arena;

    @BeforeEach
    void open() { arena = Arena.ofConfined(); }

    @AfterEach
    void close() { arena.close(); }

    /** Loss scalars in f64: the reference sums in another order than the direct sum, nothing more. */
    private static void assertLoss(String what, double expected, double actual) {
        assertEquals(expected, actual, 1e-12 + 1e-12 * Math.abs(expected), what);
    }

    /** Gradients are f32: expected = w · (f32 per-token gradient), so both sides carry one f32 rounding. */
    private static void assertGrad(String what, double[] weights, Tensor unitGrad, Tensor grad, double scale) {
        for (int i = 0; i < weights.length; i++) {
            double expected = scale * weights[i] * unitGrad.getDouble(i);
            double actual = grad.getDouble(i);
            if (!(Math.abs(actual - expected) <= 1e-30 + 1e-6 * Math.abs(expected))) {
                fail(what + "[" + i + "]: expected " + expected + " got " + actual);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.ppoengine.ops.LossTestSupport#aggregations")
    void policyLossEqualsDirectSums(Aggregation agg) {
        Rand rnd = new Rand(arena, 0x5eed_0101L);
        for (long[] s : SHAPES) {
            int b = (int) s[0], t = (int) s[1];
            String what = "policy " + shape(s) + " " + agg;
            PolicyLossOptions o = new PolicyLossOptions(0.2, 0.28, 0.6, 1.5, agg, 0);
            PolicyInputs in = policyInputs(arena, rnd, b, t, o, 0.4, DType.BOOL);
            boolean[] valid = valid(in.mask());
            double[] l = new double[valid.length];
            for (int i = 0; i < l.length; i++) {
                if (valid[i]) {
                    l[i] = policyOracle(in.logprobs().getDouble(i), in.oldLogprobs().getDouble(i),
                            in.advantages().getDouble(i), o);
                }
            }
            Tensor g = zeros(arena, b, t), gUnit = zeros(arena, b, t);
            PolicyLossResult r = REF.policyLoss(in.logprobs(), in.oldLogprobs(), in.advantages(), in.mask(), o, g);
            PolicyLossOptions unit = new PolicyLossOptions(0.2, 0.28, 0.6, 1.5, UNIT, 0);
            REF.policyLoss(in.logprobs(), in.oldLogprobs(), in.advantages(), in.mask(), unit, gUnit);
            assertLoss(what, directAggregate(agg, valid, l, b, t), r.loss());
            assertGrad(what + " grad", directWeights(agg, valid, b, t), gUnit, g, 1.0);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.ppoengine.ops.LossTestSupport#aggregations")
    void valueLossEqualsDirectSums(Aggregation agg) {
        Rand rnd = new Rand(arena, 0x5eed_0102L);
        double eps = 0.2;
        for (long[] s : SHAPES) {
            int b = (int) s[0], t = (int) s[1];
            String what = "value " + shape(s) + " " + agg;
            ValueInputs in = valueInputs(arena, rnd, b, t, eps, DType.I32);
            boolean[] valid = valid(in.mask());
            double[] l = new double[valid.length];
            for (int i = 0; i < l.length; i++) {
                if (valid[i]) l[i] = valueOracle(in.values().getDouble(i), in.oldValues().getDouble(i), in.returns().getDouble(i), eps);
            }
            Tensor g = zeros(arena, b, t), gUnit = zeros(arena, b, t);
            ValueLossResult r = REF.valueLoss(in.values(), in.oldValues(), in.returns(), in.mask(), new ValueLossOptions(eps, agg), g);
            REF.valueLoss(in.values(), in.oldValues(), in.returns(), in.mask(), new ValueLossOptions(eps, UNIT), gUnit);
            assertLoss(what, directAggregate(agg, valid, l, b, t), r.loss());
            assertGrad(what + " grad", directWeights(agg, valid, b, t), gUnit, g, 1.0);
        }
    }

    /**
     * ppo_loss: the policy and entropy terms use the policy aggregation over mask, the value term its own
     * aggregation (here token-mean with token_count 1000) over value_mask; total = p + vf·v − c_e·e,
     * grad_values = vf · w_v · dL_v, grad_entropy = −c_e · w.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.ppoengine.ops.LossTestSupport#aggregations")
    void ppoLossTermsEqualDirectSums(Aggregation agg) {
        Rand rnd = new Rand(arena, 0x5eed_0103L);
        double eps = 0.3, vf = 0.1, ce = 0.01;
        Aggregation valueAgg = new Aggregation(LossAgg.TOKEN_MEAN, 1000, 0);
        for (long[] s : SHAPES) {
            int b = (int) s[0], t = (int) s[1];
            String what = "ppo " + shape(s) + " " + agg;
            PolicyLossOptions po = new PolicyLossOptions(0.2, 0.2, 0, 0, agg, 0);
            PolicyInputs p = policyInputs(arena, rnd, b, t, po, 0.4, DType.I64);
            ValueInputs v = valueInputs(arena, rnd, b, t, eps, DType.F32);
            Tensor entropy = Tensor.allocate(arena, DType.F32, b, t);
            for (int i = 0; i < b * t; i++) entropy.setFloat(i, grid(rnd.uniform(0, 4)));
            PpoLossInputs in = new PpoLossInputs(p.logprobs(), p.oldLogprobs(), p.advantages(), v.values(),
                    v.oldValues(), v.returns(), p.mask(), v.mask(), entropy);
            Tensor gl = zeros(arena, b, t), gv = zeros(arena, b, t), ge = zeros(arena, b, t);
            PpoLossResult r = REF.ppoLoss(in, new PpoLossOptions(po, new ValueLossOptions(eps, valueAgg), vf, ce), gl, gv, ge);

            boolean[] pValid = valid(p.mask()), vValid = valid(v.mask());
            double[] lp = new double[pValid.length], lv = new double[pValid.length], le = new double[pValid.length];
            for (int i = 0; i < lp.length; i++) {
                if (pValid[i]) {
                    lp[i] = policyOracle(p.logprobs().getDouble(i), p.oldLogprobs().getDouble(i), p.advantages().getDouble(i), po);
                    le[i] = entropy.getDouble(i);
                }
                if (vValid[i]) lv[i] = valueOracle(v.values().getDouble(i), v.oldValues().getDouble(i), v.returns().getDouble(i), eps);
            }
            double policy = directAggregate(agg, pValid, lp, b, t);
            double value = directAggregate(valueAgg, vValid, lv, b, t);
            double ent = directAggregate(agg, pValid, le, b, t);
            assertLoss(what + " policy_loss", policy, r.policyLoss());
            assertLoss(what + " value_loss", value, r.valueLoss());
            assertLoss(what + " entropy_loss", ent, r.entropyLoss());
            assertLoss(what + " loss", policy + vf * value - ce * ent, r.loss());

            Tensor unitLp = zeros(arena, b, t), unitV = zeros(arena, b, t);
            REF.policyLoss(p.logprobs(), p.oldLogprobs(), p.advantages(), p.mask(), new PolicyLossOptions(0.2, 0.2, 0, 0, UNIT, 0), unitLp);
            REF.valueLoss(v.values(), v.oldValues(), v.returns(), v.mask(), new ValueLossOptions(eps, UNIT), unitV);
            Tensor ones = zeros(arena, b, t);
            for (int i = 0; i < b * t; i++) ones.setFloat(i, 1);
            double[] w = directWeights(agg, pValid, b, t);
            assertGrad(what + " grad_logprobs", w, unitLp, gl, 1.0);
            assertGrad(what + " grad_values", directWeights(valueAgg, vValid, b, t), unitV, gv, vf);
            assertGrad(what + " grad_entropy", w, ones, ge, -ce);
        }
    }
}
