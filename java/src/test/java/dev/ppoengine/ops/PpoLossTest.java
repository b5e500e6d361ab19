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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

import static dev.ppoengine.ops.LossTestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * ppo_loss (SPEC): total = policy + vf_coef·value − entropy_coef·agg(entropy), with the value part on value_mask and
 * its own aggregation. Hand-computed cases for every switch (vf_coef, entropy_coef, value_mask ≠ mask, value
 * token_count, the policy aggregation of the entropy term, the ratio_threshold guard), agreement with the separate
 * policy_loss / value_loss ops, gradients of the total against central finite differences for all three inputs,
 * edge cases, bad input, and every host backend against the reference.
 */
class PpoLossTest extends ReferenceSweepTest {
    private static final PpoKernels REF = new ReferenceKernels();

    private Arena arena;

    @BeforeEach
    void open() { arena = Arena.ofConfined(); }

    @AfterEach
    void close() { arena.close(); }

    private static PpoLossOptions opts(PolicyLossOptions p, ValueLossOptions v, double vf, double ce) {
        return new PpoLossOptions(p, v, vf, ce);
    }

    private static PolicyLossOptions trl(Aggregation agg, double ratioThreshold) {
        return new PolicyLossOptions(0.2, 0.2, 0, 0, agg, ratioThreshold);
    }

    /**
     * The 1×2 hand case. t0 is a response token, t1 the score slot after it (in value_mask only):
     * logprobs [0, 0], old [0, −1000] (t1 would overflow ρ if it were read), A [2, 5], mask [1, 0];
     * values [0.5, 0.125], old_values [0, 0], returns [1, 0]; entropy [1.5, 9].
     */
    private PpoLossInputs handInputs(double[] valueMask, boolean withEntropy) {
        return new PpoLossInputs(f32(arena, 1, 2, 0, 0), f32(arena, 1, 2, 0, -1000), f32(arena, 1, 2, 2, 5),
                f32(arena, 1, 2, 0.5, 0.125), f32(arena, 1, 2, 0, 0), f32(arena, 1, 2, 1, 0),
                mask(arena, DType.U8, 1, 2, 1, 0), valueMask == null ? null : mask(arena, DType.BOOL, 1, 2, valueMask),
                withEntropy ? f32(arena, 1, 2, 1.5, 9) : null);
    }

    @Test
    void handCaseWithValueMaskAndEntropy() {
        // policy over mask (1 token): x = 0, ρ = 1, A = 2 → L = −2, dL/dlp = −2 → policy_loss −2, grad_lp [−2, 0]
        // value over value_mask [1, 1], ε = 0.25, token-mean over 2:
        //   t0: V 0.5, R 1: Vc 0.25, a² = 0.25 < b² = 0.5625 → L = 0.28125, d = 0 (clipped)
        //   t1: V 0.125, R 0: inside, a = 0.125 → L = ½·0.015625 = 0.0078125, d = 0.125
        //   value_loss = (0.28125 + 0.0078125)/2 = 0.14453125; grad_values = vf·d/2 = 0.5·[0, 0.0625] = [0, 0.03125]
        //   vf_clipfrac = 1/2
        // entropy over mask: entropy_loss = 1.5; grad_entropy = −0.01·[1, 0]
        // loss = −2 + 0.5·0.14453125 − 0.01·1.5 = −1.942734375
        Tensor gl = zeros(arena, 1, 2), gv = zeros(arena, 1, 2), ge = zeros(arena, 1, 2);
        PpoLossResult r = REF.ppoLoss(handInputs(new double[] {1, 1}, true),
                opts(trl(Aggregation.TOKEN_MEAN, 0), new ValueLossOptions(0.25, Aggregation.TOKEN_MEAN), 0.5, 0.01), gl, gv, ge);
        assertEquals(-2.0, r.policyLoss());
        assertEquals(0.14453125, r.valueLoss());
        assertEquals(1.5, r.entropyLoss());
        assertEquals(-2 + 0.5 * 0.14453125 - 0.01 * 1.5, r.loss(), 1e-15);
        assertValues("grad_logprobs", new double[] {-2, 0}, gl, 0);
        assertValues("grad_values", new double[] {0, 0.03125}, gv, 0);
        assertValues("grad_entropy", new double[] {-0.01, 0}, ge, 1e-9);
        assertEquals(0.5, r.value().clipfrac());
        assertEquals(0.14453125, r.value().loss());
        assertEquals(new PolicyLossResult(-2, 0, 0, 0, 0, 1, false), r.policy());
    }

    @Test
    void valueMaskDefaultsToMask() {
        // value over mask only: t0 → L = 0.28125 (clipped, d = 0), value_loss 0.28125, grad_values [0, 0], clipfrac 1
        // loss = −2 + 0.5·0.28125 − 0.01·1.5 = −1.874375
        Tensor gl = zeros(arena, 1, 2), gv = zeros(arena, 1, 2), ge = zeros(arena, 1, 2);
        PpoLossResult r = REF.ppoLoss(handInputs(null, true),
                opts(trl(Aggregation.TOKEN_MEAN, 0), new ValueLossOptions(0.25, Aggregation.TOKEN_MEAN), 0.5, 0.01), gl, gv, ge);
        assertEquals(0.28125, r.valueLoss());
        assertEquals(-2 + 0.5 * 0.28125 - 0.01 * 1.5, r.loss(), 1e-15);
        assertAllZero("grad_values", gv);
        assertEquals(1.0, r.value().clipfrac());
    }

    @Test
    void valueTokenCountAndVfCoef() {
        // value agg token-mean with token_count 4: value_loss = (0.28125 + 0.0078125)/4 = 0.072265625
        // vf_coef 2: grad_values = 2·[0, 0.125/4] = [0, 0.0625]; loss = −2 + 2·0.072265625 − 0.01·1.5
        Tensor gl = zeros(arena, 1, 2), gv = zeros(arena, 1, 2), ge = zeros(arena, 1, 2);
        PpoLossResult r = REF.ppoLoss(handInputs(new double[] {1, 1}, true),
                opts(trl(Aggregation.TOKEN_MEAN, 0), new ValueLossOptions(0.25, new Aggregation(LossAgg.TOKEN_MEAN, 4, 0)), 2, 0.01),
                gl, gv, ge);
        assertEquals(0.072265625, r.valueLoss());
        assertValues("grad_values", new double[] {0, 0.0625}, gv, 0);
        assertEquals(-2 + 2 * 0.072265625 - 0.01 * 1.5, r.loss(), 1e-15);
        // the policy part keeps its own token-mean over mask: −2
        assertEquals(-2.0, r.policyLoss());
    }

    @Test
    void entropyUsesThePolicyAggregationAndItsCoefficient() {
        // policy agg seq-mean-token-sum-norm (norm T = 2): policy_loss = −2/2 = −1, grad_lp = [−1, 0]
        // entropy_loss = 1.5/2 = 0.75; entropy_coef −0.5 (a bonus turned penalty): grad_entropy = 0.5·[1/2, 0]
        // loss = −1 + 0.5·0.14453125 + 0.5·0.75
        Tensor gl = zeros(arena, 1, 2), gv = zeros(arena, 1, 2), ge = zeros(arena, 1, 2);
        PpoLossResult r = REF.ppoLoss(handInputs(new double[] {1, 1}, true),
                opts(trl(Aggregation.of(LossAgg.SEQ_MEAN_TOKEN_SUM_NORM), 0), new ValueLossOptions(0.25, Aggregation.TOKEN_MEAN), 0.5, -0.5),
                gl, gv, ge);
        assertEquals(-1.0, r.policyLoss());
        assertEquals(0.75, r.entropyLoss());
        assertEquals(-1 + 0.5 * 0.14453125 + 0.5 * 0.75, r.loss(), 1e-15);
        assertValues("grad_logprobs", new double[] {-1, 0}, gl, 0);
        assertValues("grad_entropy", new double[] {0.25, 0}, ge, 0);
    }

    @Test
    void withoutEntropyOrWithZeroCoefficients() {
        // no entropy: entropy_loss 0, grad_entropy may be null; vf_coef 0: grad_values all 0, value_loss still reported
        Tensor gl = zeros(arena, 1, 2), gv = zeros(arena, 1, 2);
        for (int i = 0; i < 2; i++) gv.setFloat(i, 7);
        PpoLossResult r = REF.ppoLoss(handInputs(new double[] {1, 1}, false),
                opts(trl(Aggregation.TOKEN_MEAN, 0), new ValueLossOptions(0.25, Aggregation.TOKEN_MEAN), 0, 0.01), gl, gv, null);
        assertEquals(0.0, r.entropyLoss());
        assertEquals(0.14453125, r.valueLoss());
        assertEquals(-2.0, r.loss());
        assertAllZero("grad_values (vf_coef 0)", gv);
        // entropy_coef 0: entropy_loss reported (1.5) but not in the total, grad_entropy 0
        Tensor ge = zeros(arena, 1, 2);
        ge.setFloat(0, 7);
        PpoLossResult r0 = REF.ppoLoss(handInputs(new double[] {1, 1}, true),
                opts(trl(Aggregation.TOKEN_MEAN, 0), new ValueLossOptions(0.25, Aggregation.TOKEN_MEAN), 0.5, 0), gl, gv, ge);
        assertEquals(1.5, r0.entropyLoss());
        assertEquals(-2 + 0.5 * 0.14453125, r0.loss(), 1e-15);
        assertAllZero("grad_entropy (entropy_coef 0)", ge);
    }

    @Test
    void ratioThresholdGuardZeroesEveryLossAndGradient() {
        // masked mean ρ = 1 (t0 only; t1's ρ = e^1000 is masked) > r = 0.5 → all losses 0, all grads 0
        // statistics still reported: mean ratio 1, vf_clipfrac 1/2
        Tensor gl = zeros(arena, 1, 2), gv = zeros(arena, 1, 2), ge = zeros(arena, 1, 2);
        for (int i = 0; i < 2; i++) { gl.setFloat(i, 7); gv.setFloat(i, 7); ge.setFloat(i, 7); }
        PpoLossResult r = REF.ppoLoss(handInputs(new double[] {1, 1}, true),
                opts(trl(Aggregation.TOKEN_MEAN, 0.5), new ValueLossOptions(0.25, Aggregation.TOKEN_MEAN), 0.5, 0.01), gl, gv, ge);
        assertTrue(r.policy().skipped());
        assertEquals(0.0, r.loss());
        assertEquals(0.0, r.policyLoss());
        assertEquals(0.0, r.valueLoss());
        assertEquals(0.0, r.entropyLoss());
        assertEquals(0.0, r.value().loss());
        assertAllZero("grad_logprobs", gl);
        assertAllZero("grad_values", gv);
        assertAllZero("grad_entropy", ge);
        assertEquals(1.0, r.policy().meanRatio());
        assertEquals(0.5, r.value().clipfrac());
        // r = 1.5 > 1: not fired, the hand case's numbers come back
        PpoLossResult kept = REF.ppoLoss(handInputs(new double[] {1, 1}, true),
                opts(trl(Aggregation.TOKEN_MEAN, 1.5), new ValueLossOptions(0.25, Aggregation.TOKEN_MEAN), 0.5, 0.01), gl, gv, ge);
        assertFalse(kept.policy().skipped());
        assertEquals(-2 + 0.5 * 0.14453125 - 0.01 * 1.5, kept.loss(), 1e-15);
    }

    // ------------------------------------------------------------------ random: parts, finite differences

    private record Case(PpoLossInputs in, PolicyInputs p, ValueInputs v, Tensor entropy) {}

    /** Random policy + value inputs; value_mask is an independent mask (so it differs from mask). */
    private static Case randomCase(Arena arena, Rand rnd, long b, long t, PolicyLossOptions po, double eps, DType maskType,
                                   boolean separateValueMask) {
        PolicyInputs p = policyInputs(arena, rnd, b, t, po, 0.45, maskType);
        ValueInputs v = valueInputs(arena, rnd, b, t, eps, DType.U8);
        Tensor entropy = Tensor.allocate(arena, DType.F32, b, t);
        for (long i = 0; i < b * t; i++) entropy.setFloat(i, grid(rnd.uniform(0, 4)));
        PpoLossInputs in = new PpoLossInputs(p.logprobs(), p.oldLogprobs(), p.advantages(), v.values(), v.oldValues(),
                v.returns(), p.mask(), separateValueMask ? v.mask() : null, entropy);
        return new Case(in, p, v, entropy);
    }

    @Test
    void partsEqualTheSeparateOps() {
        Rand rnd = new Rand(arena, 0x5eed_0301L);
        long b = 6, t = 13;
        PolicyLossOptions po = new PolicyLossOptions(0.2, 0.28, 0.6, 1.5, Aggregation.of(LossAgg.SEQ_MEAN_TOKEN_MEAN), 0);
        ValueLossOptions vo = new ValueLossOptions(0.2, new Aggregation(LossAgg.TOKEN_MEAN, 50, 0));
        Case c = randomCase(arena, rnd, b, t, po, 0.2, DType.F32, true);
        Tensor gl = zeros(arena, b, t), gv = zeros(arena, b, t), ge = zeros(arena, b, t);
        PpoLossResult r = REF.ppoLoss(c.in(), opts(po, vo, 0.3, 0.02), gl, gv, ge);
        Tensor pl = zeros(arena, b, t), vl = zeros(arena, b, t);
        PolicyLossResult pr = REF.policyLoss(c.p().logprobs(), c.p().oldLogprobs(), c.p().advantages(), c.p().mask(), po, pl);
        ValueLossResult vr = REF.valueLoss(c.v().values(), c.v().oldValues(), c.v().returns(), c.v().mask(), vo, vl);
        assertEquals(pr, r.policy());
        assertEquals(vr, r.value());
        assertEquals(pr.loss(), r.policyLoss());
        assertEquals(vr.loss(), r.valueLoss());
        assertBitwise("grad_logprobs", pl, gl);
        for (int i = 0; i < b * t; i++) {
            // grad_values = f32(vf · g) in f64 before the one rounding; the separate op gives f32(g)
            assertEquals(0.3 * vl.getDouble(i), gv.getDouble(i), 3e-7 * Math.abs(gv.getDouble(i)), "grad_values[" + i + "]");
        }
        assertEquals(pr.loss() + 0.3 * vr.loss() - 0.02 * r.entropyLoss(), r.loss(), 1e-15);
        // the value mask really differs from the mask here, and changes the value part
        PpoLossResult sameMask = REF.ppoLoss(new PpoLossInputs(c.in().logprobs(), c.in().oldLogprobs(), c.in().advantages(),
                c.in().values(), c.in().oldValues(), c.in().returns(), c.in().mask(), null, c.in().entropy()),
                opts(po, vo, 0.3, 0.02), zeros(arena, b, t), zeros(arena, b, t), zeros(arena, b, t));
        assertNotEquals(r.valueLoss(), sameMask.valueLoss());
        assertEquals(r.policyLoss(), sameMask.policyLoss());
        assertEquals(r.entropyLoss(), sameMask.entropyLoss());
    }

    /**
     * The total loss's gradients against central differences (h = 2^-12, f64) for every element of logprobs, values
     * and entropy; inputs on the 2^-12 grid, away from the kinks of both losses (see LossTestSupport).
     */
    @Test
    void gradientsOfTheTotalMatchCentralDifferences() {
        Rand rnd = new Rand(arena, 0x5eed_0302L);
        long b = 4, t = 9;
        PolicyLossOptions po = new PolicyLossOptions(0.2, 0.28, 0.5, 1.5, Aggregation.of(LossAgg.SEQ_MEAN_TOKEN_SUM), 0);
        ValueLossOptions vo = new ValueLossOptions(0.2, Aggregation.of(LossAgg.SEQ_MEAN_TOKEN_MEAN));
        PpoLossOptions o = opts(po, vo, 0.7, 0.05);
        Case c = randomCase(arena, rnd, b, t, po, 0.2, DType.I32, true);
        Tensor gl = zeros(arena, b, t), gv = zeros(arena, b, t), ge = zeros(arena, b, t);
        PpoLossResult base = REF.ppoLoss(c.in(), o, gl, gv, ge);
        assertTrue(base.policy().clipfrac() > 0 && base.value().clipfrac() > 0, "both clips must be exercised");
        Tensor s1 = zeros(arena, b, t), s2 = zeros(arena, b, t), s3 = zeros(arena, b, t);
        Tensor[] inputs = {c.in().logprobs(), c.in().values(), c.in().entropy()};
        Tensor[] grads = {gl, gv, ge};
        String[] names = {"logprobs", "values", "entropy"};
        double h = FD_STEP;
        for (int k = 0; k < 3; k++) {
            for (int i = 0; i < b * t; i++) {
                double x = inputs[k].getDouble(i);
                inputs[k].setFloat(i, x + h);
                double plus = REF.ppoLoss(c.in(), o, s1, s2, s3).loss();
                inputs[k].setFloat(i, x - h);
                double minus = REF.ppoLoss(c.in(), o, s1, s2, s3).loss();
                inputs[k].setFloat(i, x);
                double fd = (plus - minus) / (2 * h);
                assertEquals(fd, grads[k].getDouble(i), 1e-8 + 1e-6 * Math.abs(fd), "d loss / d " + names[k] + "[" + i + "]");
            }
        }
    }

    // ------------------------------------------------------------------ edge cases

    @Test
    void emptyMaskWithAValueMask() {
        // mask all 0, value_mask [0, 1]: policy and entropy parts 0 (no NaN from the masked ρ = e^1000),
        // value part on t1 alone: V 0.125, R 0 → L = 0.0078125, d = 0.125; vf 0.5 → grad_values [0, 0.0625]
        PpoLossInputs hand = handInputs(new double[] {0, 1}, true);
        PpoLossInputs in = new PpoLossInputs(hand.logprobs(), hand.oldLogprobs(), hand.advantages(), hand.values(),
                hand.oldValues(), hand.returns(), mask(arena, DType.I64, 1, 2, 0, 0), hand.valueMask(), hand.entropy());
        Tensor gl = zeros(arena, 1, 2), gv = zeros(arena, 1, 2), ge = zeros(arena, 1, 2);
        PpoLossResult r = REF.ppoLoss(in, opts(trl(Aggregation.TOKEN_MEAN, 10), new ValueLossOptions(0.25, Aggregation.TOKEN_MEAN), 0.5, 0.01),
                gl, gv, ge);
        assertEquals(new PolicyLossResult(0, 0, 0, 0, 0, 0, false), r.policy());
        assertEquals(0.0, r.entropyLoss());
        assertEquals(0.0078125, r.valueLoss());
        assertEquals(0.5 * 0.0078125, r.loss());
        assertAllZero("grad_logprobs", gl);
        assertAllZero("grad_entropy", ge);
        assertValues("grad_values", new double[] {0, 0.0625}, gv, 0);
        // both masks empty: everything 0
        PpoLossResult none = REF.ppoLoss(new PpoLossInputs(in.logprobs(), in.oldLogprobs(), in.advantages(), in.values(),
                in.oldValues(), in.returns(), in.mask(), in.mask(), in.entropy()),
                opts(trl(Aggregation.of(LossAgg.SEQ_MEAN_TOKEN_MEAN), 0), new ValueLossOptions(0.25, Aggregation.of(LossAgg.SEQ_MEAN_TOKEN_SUM)), 0.5, 0.01),
                gl, gv, ge);
        assertEquals(0.0, none.loss());
        assertEquals(new ValueLossResult(0, 0), none.value());
        assertAllZero("grad_values", gv);
    }

    @Test
    void badInputIsAnIllegalArgumentNamingTheArgument() {
        PpoLossInputs ok = handInputs(new double[] {1, 1}, true);
        PpoLossOptions o = opts(trl(Aggregation.TOKEN_MEAN, 0), new ValueLossOptions(0.2, Aggregation.TOKEN_MEAN), 0.1, 0.01);
        Tensor g = zeros(arena, 1, 2);
        Tensor bad = zeros(arena, 2, 1);
        List<Object[]> cases = new ArrayList<>();
        cases.add(new Object[] {"grad_entropy", (Executable) () -> REF.ppoLoss(ok, o, g, zeros(arena, 1, 2), null)});
        cases.add(new Object[] {"grad_values", (Executable) () -> REF.ppoLoss(ok, o, g, bad, zeros(arena, 1, 2))});
        cases.add(new Object[] {"grad_logprobs", (Executable) () -> REF.ppoLoss(ok, o, Tensor.allocate(arena, DType.F16, 1, 2), zeros(arena, 1, 2), zeros(arena, 1, 2))});
        cases.add(new Object[] {"value_mask", (Executable) () -> REF.ppoLoss(new PpoLossInputs(ok.logprobs(), ok.oldLogprobs(),
                ok.advantages(), ok.values(), ok.oldValues(), ok.returns(), ok.mask(), mask(arena, DType.U8, 2, 1), ok.entropy()), o, g, zeros(arena, 1, 2), zeros(arena, 1, 2))});
        cases.add(new Object[] {"entropy", (Executable) () -> REF.ppoLoss(new PpoLossInputs(ok.logprobs(), ok.oldLogprobs(),
                ok.advantages(), ok.values(), ok.oldValues(), ok.returns(), ok.mask(), null, Tensor.allocate(arena, DType.BF16, 1, 2)), o, g, zeros(arena, 1, 2), zeros(arena, 1, 2))});
        cases.add(new Object[] {"values", (Executable) () -> REF.ppoLoss(new PpoLossInputs(ok.logprobs(), ok.oldLogprobs(),
                ok.advantages(), bad, ok.oldValues(), ok.returns(), ok.mask(), null, null), o, g, zeros(arena, 1, 2), null)});
        cases.add(new Object[] {"old_values", (Executable) () -> REF.ppoLoss(new PpoLossInputs(ok.logprobs(), ok.oldLogprobs(),
                ok.advantages(), ok.values(), Tensor.allocate(arena, DType.I32, 1, 2), ok.returns(), ok.mask(), null, null), o, g, zeros(arena, 1, 2), null)});
        cases.add(new Object[] {"returns", (Executable) () -> new PpoLossInputs(ok.logprobs(), ok.oldLogprobs(),
                ok.advantages(), ok.values(), ok.oldValues(), null, ok.mask(), null, null)});
        cases.add(new Object[] {"inputs", (Executable) () -> REF.ppoLoss(null, o, g, g, g)});
        cases.add(new Object[] {"options", (Executable) () -> REF.ppoLoss(ok, null, g, zeros(arena, 1, 2), zeros(arena, 1, 2))});
        cases.add(new Object[] {"vf_coef", (Executable) () -> opts(o.policy(), o.value(), -1, 0)});
        cases.add(new Object[] {"entropy_coef", (Executable) () -> opts(o.policy(), o.value(), 1, Double.NaN)});
        cases.add(new Object[] {"value options", (Executable) () -> opts(o.policy(), null, 1, 0)});
        assertEachNamesItsArgument(cases);
    }

    // ------------------------------------------------------------------ other backends

    /**
     * Awkward shapes × every aggregation (policy and entropy; the value part alternates token-mean and
     * seq-mean-token-mean) × {trl with value_mask, verl-like without entropy, guard firing}: every loss, gradient
     * and statistic within the SPEC tolerance of the reference, and two runs bitwise identical.
     */
    @Override
    protected void sweepAgainstReference(PpoKernels other) {
        Rand rnd = new Rand(arena, 0x5eed_0303L);
        int k = 0;
        for (long[] s : AWKWARD_SHAPES) {
            try (Arena local = Arena.ofConfined()) {
                for (Aggregation agg : aggregations()) {
                    Aggregation valueAgg = (k % 2 == 0) ? Aggregation.TOKEN_MEAN : Aggregation.of(LossAgg.SEQ_MEAN_TOKEN_MEAN);
                    PpoLossOptions[] variants = {
                            opts(new PolicyLossOptions(0.2, 0.2, 0, 0, agg, 10), new ValueLossOptions(0.2, valueAgg), 0.1, 0.01),
                            opts(new PolicyLossOptions(0.2, 0.28, 0.6, 1.5, agg, 0), new ValueLossOptions(0.5, valueAgg), 1, 0),
                            opts(new PolicyLossOptions(0.2, 0.2, 0, 0, agg, 0.5), new ValueLossOptions(0.2, valueAgg), 0.1, 0.01)};
                    for (int v = 0; v < variants.length; v++) {
                        PpoLossOptions o = variants[v];
                        String what = other.name() + " " + shape(s) + " " + agg + " variant " + v;
                        Case c = randomCase(local, rnd, s[0], s[1], o.policy(), o.value().valueClip(),
                                MASK_TYPES[k++ % MASK_TYPES.length], v != 1);
                        PpoLossInputs in = v == 1 ? withoutEntropy(c.in()) : c.in();
                        Tensor[] ref = outputs(local, s, in), a = outputs(local, s, in), b = outputs(local, s, in);
                        PpoLossResult rr = REF.ppoLoss(in, o, ref[0], ref[1], ref[2]);
                        PpoLossResult r1 = other.ppoLoss(in, o, a[0], a[1], a[2]);
                        PpoLossResult r2 = other.ppoLoss(in, o, b[0], b[1], b[2]);
                        assertPpoStats(what, rr, r1);
                        assertEquals(r1, r2, what + ": statistics differ between two identical runs");
                        String[] names = {"grad_logprobs", "grad_values", "grad_entropy"};
                        for (int j = 0; j < 3; j++) {
                            if (ref[j] == null) continue;
                            assertClose(what + " " + names[j], ref[j], a[j]);
                            assertBitwise(what + " " + names[j], a[j], b[j]);
                        }
                    }
                }
            }
        }
    }

    private static PpoLossInputs withoutEntropy(PpoLossInputs in) {
        return new PpoLossInputs(in.logprobs(), in.oldLogprobs(), in.advantages(), in.values(), in.oldValues(),
                in.returns(), in.mask(), in.valueMask(), null);
    }

    private static Tensor[] outputs(Arena arena, long[] s, PpoLossInputs in) {
        return new Tensor[] {zeros(arena, s[0], s[1]), zeros(arena, s[0], s[1]),
                in.entropy() == null ? null : zeros(arena, s[0], s[1])};
    }
}
