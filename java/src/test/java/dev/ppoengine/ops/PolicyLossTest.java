package dev.ppoengine.ops;

import dev.ppoengine.kernels.Aggregation;
import dev.ppoengine.kernels.LossAgg;
import dev.ppoengine.kernels.PolicyLossOptions;
import dev.ppoengine.kernels.PolicyLossResult;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.reference.ReferenceKernels;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;
import dev.ppoengine.testing.Rand;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static dev.ppoengine.ops.LossTestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * policy_loss (SPEC): hand-computed cases for every switch, gradients against central finite differences, edge cases
 * (empty rows, one token, T = 1, exp overflow, every mask dtype), bad input, and every host backend against the
 * reference. Aggregation modes against direct sums over a test-side oracle: {@link LossAggregationTest}.
 */
class PolicyLossTest extends ReferenceSweepTest {
    private static final PpoKernels REF = new ReferenceKernels();
    /** Hand cases feed ln(ρ) rounded to f32, so ρ is off by ~1e-7 relative; 1e-6 still catches any wrong branch. */
    private static final double HAND_TOL = 1e-6;

    private Arena arena;

    @BeforeEach
    void open() { arena = Arena.ofConfined(); }

    @AfterEach
    void close() { arena.close(); }

    private static PolicyLossOptions opts(double clipLow, double clipHigh, double clamp, double dual, Aggregation agg,
                                          double ratioThreshold) {
        return new PolicyLossOptions(clipLow, clipHigh, clamp, dual, agg, ratioThreshold);
    }

    private static PolicyLossOptions trl() { return opts(0.2, 0.2, 0, 0, Aggregation.TOKEN_MEAN, 0); }

    /** Runs the reference with old_logprobs = 0, i.e. logprobs = x. */
    private PolicyLossResult run(double[] x, double[] adv, double[] mask, long b, long t, PolicyLossOptions o,
                                 Tensor grad) {
        double[] zero = new double[x.length];
        return REF.policyLoss(f32(arena, b, t, x), f32(arena, b, t, zero), f32(arena, b, t, adv),
                mask(arena, DType.F32, b, t, mask), o, grad);
    }

    private static double ln(double v) { return Math.log(v); }

    // ------------------------------------------------------------------ hand-computed cases

    @Test
    void positiveAdvantageBelowInsideAboveTheClipRange() {
        // A = 2, ρ = 0.5, 1.1, 1.5, clip range [0.8, 1.2]:
        //   ρ=0.5: L1 = −2·0.5 = −1.0, L2 = −2·0.8 = −1.6 → L = −1.0 (L1), dL/dx = −Aρ = −1.0
        //   ρ=1.1: L1 = L2 = −2.2 (inside)             → L = −2.2,      dL/dx = −2.2
        //   ρ=1.5: L1 = −3.0, L2 = −2·1.2 = −2.4        → L = −2.4 (L2), dL/dx = 0 (clipped)
        // token-mean over 3: loss = (−1.0 − 2.2 − 2.4)/3, grad = dL/dx / 3; clipfrac = 1/3 (only ρ=1.5 has L2 > L1)
        Tensor g = zeros(arena, 1, 3);
        PolicyLossResult r = run(new double[] {ln(0.5), ln(1.1), ln(1.5)}, new double[] {2, 2, 2},
                new double[] {1, 1, 1}, 1, 3, trl(), g);
        assertEquals((-1.0 - 2.2 - 2.4) / 3, r.loss(), HAND_TOL);
        assertValues("grad", new double[] {-1.0 / 3, -2.2 / 3, 0}, g, HAND_TOL);
        assertEquals(1.0 / 3, r.clipfrac(), 1e-12);
        assertEquals(0.0, r.clipfracLower());
        // ppo_kl = mean(−x) = −(ln 0.5 + ln 1.1 + ln 1.5)/3 = −ln(0.825)/3; approx_kl = mean(½x²); mean ρ = 3.1/3
        assertEquals(-ln(0.825) / 3, r.ppoKl(), HAND_TOL);
        assertEquals(0.5 * (ln(0.5) * ln(0.5) + ln(1.1) * ln(1.1) + ln(1.5) * ln(1.5)) / 3, r.approxKl(), HAND_TOL);
        assertEquals(3.1 / 3, r.meanRatio(), HAND_TOL);
        assertFalse(r.skipped());
    }

    @Test
    void negativeAdvantageBelowInsideAboveTheClipRange() {
        // A = −1, ρ = 0.5, 1.1, 1.5, clip range [0.8, 1.2]:
        //   ρ=0.5: L1 = 0.5, L2 = 0.8 → L = 0.8 (L2, clipped), dL/dx = 0
        //   ρ=1.1: L1 = L2 = 1.1       → L = 1.1,             dL/dx = −Aρ = 1.1
        //   ρ=1.5: L1 = 1.5, L2 = 1.2  → L = 1.5 (L1),         dL/dx = 1.5
        // loss = (0.8 + 1.1 + 1.5)/3; clipfrac = 1/3
        Tensor g = zeros(arena, 1, 3);
        PolicyLossResult r = run(new double[] {ln(0.5), ln(1.1), ln(1.5)}, new double[] {-1, -1, -1},
                new double[] {1, 1, 1}, 1, 3, trl(), g);
        assertEquals((0.8 + 1.1 + 1.5) / 3, r.loss(), HAND_TOL);
        assertValues("grad", new double[] {0, 1.1 / 3, 1.5 / 3}, g, HAND_TOL);
        assertEquals(1.0 / 3, r.clipfrac(), 1e-12);
    }

    @Test
    void asymmetricClipRangeUsesClipLowBelowAndClipHighAbove() {
        // clip_low 0.1, clip_high 0.3 → range [0.9, 1.3] (swapped it would be [0.7, 1.1] and clip ρ = 1.25)
        // row 0, A = +1: ρ=0.85: L1 = −0.85, L2 = −0.9 → −0.85, d = −0.85
        //                ρ=1.25: inside             → −1.25, d = −1.25
        //                ρ=1.35: L1 = −1.35, L2 = −1.3 → −1.3 (clipped), d = 0
        // row 1, A = −1: ρ=0.85: L1 = 0.85, L2 = 0.9 → 0.9 (clipped), d = 0
        //                ρ=1.25: inside             → 1.25, d = 1.25
        //                ρ=1.35: L1 = 1.35, L2 = 1.3 → 1.35, d = 1.35
        // token-mean over 6: loss = (−0.85 − 1.25 − 1.3 + 0.9 + 1.25 + 1.35)/6 = 0.1/6; clipfrac = 2/6
        double[] x = {ln(0.85), ln(1.25), ln(1.35), ln(0.85), ln(1.25), ln(1.35)};
        Tensor g = zeros(arena, 2, 3);
        PolicyLossResult r = run(x, new double[] {1, 1, 1, -1, -1, -1}, new double[] {1, 1, 1, 1, 1, 1}, 2, 3,
                opts(0.1, 0.3, 0, 0, Aggregation.TOKEN_MEAN, 0), g);
        assertEquals(0.1 / 6, r.loss(), HAND_TOL);
        assertValues("grad", new double[] {-0.85 / 6, -1.25 / 6, 0, 0, 1.25 / 6, 1.35 / 6}, g, HAND_TOL);
        assertEquals(2.0 / 6, r.clipfrac(), 1e-12);
    }

    @Test
    void clipBoundsAreClosedIntervals() {
        // clip_low = clip_high = 0 → range [1, 1]. x = 0: ρ = 1 is inside (torch.clamp passes the gradient at its
        // bounds): L = −A = −3, d = −3. x = ln 1.5, A = 3: L1 = −4.5, L2 = −3 → −3 clipped, d = 0.
        // loss = (−3 − 3)/2 = −3, grad = [−3/2, 0], clipfrac = 1/2
        Tensor g = zeros(arena, 1, 2);
        PolicyLossResult r = run(new double[] {0, ln(1.5)}, new double[] {3, 3}, new double[] {1, 1}, 1, 2,
                opts(0, 0, 0, 0, Aggregation.TOKEN_MEAN, 0), g);
        assertEquals(-3.0, r.loss(), HAND_TOL);
        assertValues("grad", new double[] {-1.5, 0}, g, HAND_TOL);
        assertEquals(0.5, r.clipfrac(), 1e-12);
    }

    @Test
    void logRatioClampOnAndOff() {
        // raw x = 0.7, −0.7, 0.1 with A = −1, +1, +1; clip range [0.8, 1.2]
        // clamp 0.5: x = 0.5, −0.5, 0.1
        //   t0: ρ = e^0.5 = 1.6487, L1 = 1.6487 > L2 = 1.2 → L = e^0.5, d = 0 (x clamped)
        //   t1: ρ = e^−0.5 = 0.6065, L1 = −0.6065 > L2 = −0.8 → L = −e^−0.5, d = 0 (x clamped)
        //   t2: ρ = e^0.1 = 1.1052 inside → L = −e^0.1, d = −e^0.1
        //   loss = (e^0.5 − e^−0.5 − e^0.1)/3; ppo_kl = −(0.5 − 0.5 + 0.1)/3; approx_kl = ½(0.25 + 0.25 + 0.01)/3
        double[] x = {0.7, -0.7, 0.1};
        double[] adv = {-1, 1, 1};
        Tensor g = zeros(arena, 1, 3);
        PolicyLossResult on = run(x, adv, new double[] {1, 1, 1}, 1, 3, opts(0.2, 0.2, 0.5, 0, Aggregation.TOKEN_MEAN, 0), g);
        assertEquals((Math.exp(0.5) - Math.exp(-0.5) - Math.exp(0.1)) / 3, on.loss(), HAND_TOL);
        assertValues("grad (clamp on)", new double[] {0, 0, -Math.exp(0.1) / 3}, g, HAND_TOL);
        assertEquals(-0.1 / 3, on.ppoKl(), HAND_TOL);
        assertEquals(0.5 * (0.25 + 0.25 + 0.01) / 3, on.approxKl(), HAND_TOL);
        assertEquals(0.0, on.clipfrac());
        // clamp off: t0: ρ = e^0.7 = 2.0138 → L = e^0.7, d = e^0.7; t1: ρ = e^−0.7 = 0.4966, L1 = −0.4966 > −0.8 → d = −e^−0.7
        PolicyLossResult off = run(x, adv, new double[] {1, 1, 1}, 1, 3, trl(), g);
        assertEquals((Math.exp(0.7) - Math.exp(-0.7) - Math.exp(0.1)) / 3, off.loss(), HAND_TOL);
        assertValues("grad (clamp off)", new double[] {Math.exp(0.7) / 3, -Math.exp(-0.7) / 3, -Math.exp(0.1) / 3}, g,
                HAND_TOL);
        assertEquals(-0.1 / 3, off.ppoKl(), HAND_TOL);
    }

    @Test
    void logRatioExactlyAtTheClampKeepsItsGradient() {
        // x = 0.5 (exact in f32), A = −1: ρ = e^0.5 > 1.2 → L = L1 = e^0.5, dL/dx = e^0.5.
        // clamp 0.5: |x| = clamp is not "clamped" (torch.clamp's closed interval) → grad e^0.5; clamp 0.25 → grad 0.
        Tensor g = zeros(arena, 1, 1);
        run(new double[] {0.5}, new double[] {-1}, new double[] {1}, 1, 1, opts(0.2, 0.2, 0.5, 0, Aggregation.TOKEN_MEAN, 0), g);
        assertEquals(Math.exp(0.5), g.getDouble(0), HAND_TOL);
        PolicyLossResult r = run(new double[] {0.5}, new double[] {-1}, new double[] {1}, 1, 1,
                opts(0.2, 0.2, 0.25, 0, Aggregation.TOKEN_MEAN, 0), g);
        assertEquals(0.0, g.getDouble(0));
        assertEquals(Math.exp(0.25), r.loss(), HAND_TOL);
    }

    @Test
    void dualClipBoundsNegativeAdvantagesOnly() {
        // c = 3, clip range [0.8, 1.2]
        //   t0: A = −1, ρ = 4: max(L1 = 4, L2 = 1.2) = 4 > −A·c = 3 → L = 3, d = 0, counts in clipfrac_lower
        //   t1: A = −1, ρ = 2: max(2, 1.2) = 2 ≤ 3            → L = 2, d = −Aρ = 2
        //   t2: A = +1, ρ = 4: max(−4, −1.2) = −1.2 (no dual clip for A > 0) → L = −1.2, d = 0, counts in clipfrac
        // loss = (3 + 2 − 1.2)/3, grad = [0, 2/3, 0], clipfrac = 1/3, clipfrac_lower = 1/3
        double[] x = {ln(4), ln(2), ln(4)};
        double[] adv = {-1, -1, 1};
        Tensor g = zeros(arena, 1, 3);
        PolicyLossResult r = run(x, adv, new double[] {1, 1, 1}, 1, 3, opts(0.2, 0.2, 0, 3, Aggregation.TOKEN_MEAN, 0), g);
        assertEquals((3 + 2 - 1.2) / 3, r.loss(), HAND_TOL);
        assertValues("grad (dual)", new double[] {0, 2.0 / 3, 0}, g, HAND_TOL);
        assertEquals(1.0 / 3, r.clipfrac(), 1e-12);
        assertEquals(1.0 / 3, r.clipfracLower(), 1e-12);
        // off: t0 keeps L = 4, d = 4; loss = (4 + 2 − 1.2)/3; clipfrac_lower = 0
        PolicyLossResult off = run(x, adv, new double[] {1, 1, 1}, 1, 3, trl(), g);
        assertEquals((4 + 2 - 1.2) / 3, off.loss(), HAND_TOL);
        assertValues("grad (no dual)", new double[] {4.0 / 3, 2.0 / 3, 0}, g, HAND_TOL);
        assertEquals(0.0, off.clipfracLower());
    }

    /**
     * 3×4 batch with x = 0 (ρ = 1, so L = −A and dL/dlogprobs = −A at a valid token). Mask rows [1,1,0,0], [1,0,0,0],
     * [0,0,0,0]; A row 0 = [1, 2, 50, 60], row 1 = [4, 70, 80, 90], row 2 = [5, 6, 7, 8]. Valid losses: row 0 −1, −2;
     * row 1 −4. N = 3 valid tokens, R = 2 non-empty rows, T = 4.
     */
    static Stream<Arguments> handAggregations() {
        return Stream.of(
                // token-mean: (−1 − 2 − 4)/3, w = 1/3
                Arguments.of(Aggregation.of(LossAgg.TOKEN_MEAN), -7.0 / 3, 1.0 / 3, 1.0 / 3),
                // token_count 10: (−7)/10, w = 1/10
                Arguments.of(new Aggregation(LossAgg.TOKEN_MEAN, 10, 0), -7.0 / 10, 0.1, 0.1),
                // seq-mean-token-sum: ((−1 − 2) + (−4))/2 = −3.5, w = 1/2
                Arguments.of(Aggregation.of(LossAgg.SEQ_MEAN_TOKEN_SUM), -3.5, 0.5, 0.5),
                // seq-mean-token-mean: ((−3)/2 + (−4)/1)/2 = −2.75, w row 0 = 1/(2·2), row 1 = 1/(1·2)
                Arguments.of(Aggregation.of(LossAgg.SEQ_MEAN_TOKEN_MEAN), -2.75, 0.25, 0.5),
                // seq-mean-token-sum-norm, default norm T = 4: −7/4, w = 1/4
                Arguments.of(Aggregation.of(LossAgg.SEQ_MEAN_TOKEN_SUM_NORM), -7.0 / 4, 0.25, 0.25),
                // loss_agg_norm 2: −7/2, w = 1/2
                Arguments.of(new Aggregation(LossAgg.SEQ_MEAN_TOKEN_SUM_NORM, 0, 2), -3.5, 0.5, 0.5));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("handAggregations")
    void everyAggregationByHand(Aggregation agg, double loss, double wRow0, double wRow1) {
        double[] x = {0, 0, 3, 3, 0, 3, 3, 3, 3, 3, 3, 3};   // masked positions hold x = 3: must not matter
        double[] adv = {1, 2, 50, 60, 4, 70, 80, 90, 5, 6, 7, 8};
        double[] mask = {1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
        Tensor g = zeros(arena, 3, 4);
        PolicyLossResult r = run(x, adv, mask, 3, 4, opts(0.2, 0.2, 0, 0, agg, 0), g);
        assertEquals(loss, r.loss(), 1e-12);
        assertValues("grad", new double[] {-1 * wRow0, -2 * wRow0, 0, 0, -4 * wRow1, 0, 0, 0, 0, 0, 0, 0}, g, 1e-7);
        // statistics ignore the aggregation: means over the 3 valid tokens (all ρ = 1, x = 0)
        assertEquals(1.0, r.meanRatio(), 1e-12);
        assertEquals(0.0, r.ppoKl());
        assertEquals(0.0, r.clipfrac());
    }

    @Test
    void ratioThresholdGuard() {
        // x = [0, ln 1.5, 5 (masked)], A = 1, mask [1, 1, 0]: masked mean ρ = (1 + 1.5)/2 = 1.25
        // (counting the masked e^5 = 148.4 would give ~50). clip range [0.8, 1.2]: ρ = 1.5 is clipped → clipfrac 1/2.
        double[] x = {0, ln(1.5), 5};
        double[] adv = {1, 1, 1};
        double[] mask = {1, 1, 0};
        Tensor g = zeros(arena, 1, 3);
        // r = 1.2 < 1.25: guard fires → loss 0, grad 0, statistics still reported
        PolicyLossResult fired = run(x, adv, mask, 1, 3, opts(0.2, 0.2, 0, 0, Aggregation.TOKEN_MEAN, 1.2), g);
        assertTrue(fired.skipped());
        assertEquals(0.0, fired.loss());
        assertAllZero("grad (guard fired)", g);
        assertEquals(1.25, fired.meanRatio(), HAND_TOL);
        assertEquals(0.5, fired.clipfrac(), 1e-12);
        assertEquals(-ln(1.5) / 2, fired.ppoKl(), HAND_TOL);
        // r = 1.3 > 1.25: normal — L = [−1, −1.2 (clipped)], loss = −2.2/2, grad = [−1/2, 0, 0]
        PolicyLossResult kept = run(x, adv, mask, 1, 3, opts(0.2, 0.2, 0, 0, Aggregation.TOKEN_MEAN, 1.3), g);
        assertFalse(kept.skipped());
        assertEquals(-1.1, kept.loss(), HAND_TOL);
        assertValues("grad (guard not fired)", new double[] {-0.5, 0, 0}, g, HAND_TOL);
    }

    // ------------------------------------------------------------------ finite differences

    static Stream<Arguments> gradientConfigs() {
        return Stream.of(
                Arguments.of("trl token-mean", opts(0.2, 0.2, 0, 0, Aggregation.TOKEN_MEAN, 0)),
                Arguments.of("clip-higher token_count guard-off", opts(0.1, 0.3, 0, 0, new Aggregation(LossAgg.TOKEN_MEAN, 100, 0), 10)),
                Arguments.of("clamp seq-mean-token-mean", opts(0.2, 0.2, 0.25, 0, Aggregation.of(LossAgg.SEQ_MEAN_TOKEN_MEAN), 0)),
                Arguments.of("dual seq-mean-token-sum", opts(0.2, 0.28, 0, 1.3, Aggregation.of(LossAgg.SEQ_MEAN_TOKEN_SUM), 0)),
                Arguments.of("clamp dual sum-norm", opts(0.2, 0.2, 0.5, 1.5, new Aggregation(LossAgg.SEQ_MEAN_TOKEN_SUM_NORM, 0, 7), 0)),
                Arguments.of("guard fired", opts(0.2, 0.2, 0, 0, Aggregation.TOKEN_MEAN, 0.5)));
    }

    /**
     * grad_logprobs[i] against (loss(lp_i + h) − loss(lp_i − h)) / 2h, h = 2^-12, in f64 (the loss scalar is f64).
     * The inputs lie on the 2^-12 grid with every log ratio at least 4h from a kink, so no difference straddles one
     * and lp ± h is exact in f32; the truncation error is ~h²/6·|L'''| ≈ 1e-8·|g|. Masked positions must give a
     * difference of exactly 0 and a gradient of exactly 0.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("gradientConfigs")
    void gradientMatchesCentralDifferences(String name, PolicyLossOptions o) {
        Rand rnd = new Rand(arena, 0x5eed_0001L);
        long b = 5, t = 11;
        PolicyInputs in = policyInputs(arena, rnd, b, t, o, 0.5, DType.U8);
        Tensor g = zeros(arena, b, t);
        PolicyLossResult base = REF.policyLoss(in.logprobs(), in.oldLogprobs(), in.advantages(), in.mask(), o, g);
        Tensor scratch = zeros(arena, b, t);
        double h = FD_STEP;
        int clamped = 0;
        for (int i = 0; i < b * t; i++) {
            double lp = in.logprobs().getDouble(i);
            if (in.mask().isSet(i) && o.logRatioClamp() > 0
                    && Math.abs(lp - in.oldLogprobs().getDouble(i)) > o.logRatioClamp()) clamped++;
            in.logprobs().setFloat(i, lp + h);
            double plus = REF.policyLoss(in.logprobs(), in.oldLogprobs(), in.advantages(), in.mask(), o, scratch).loss();
            in.logprobs().setFloat(i, lp - h);
            double minus = REF.policyLoss(in.logprobs(), in.oldLogprobs(), in.advantages(), in.mask(), o, scratch).loss();
            in.logprobs().setFloat(i, lp);
            double fd = (plus - minus) / (2 * h);
            double gi = g.getDouble(i);
            if (!in.mask().isSet(i)) {
                assertEquals(0.0, fd, name + ": masked position " + i + " changes the loss");
                assertEquals(0.0, gi, 0.0, name + ": masked position " + i + " has a gradient");
            } else {
                assertEquals(fd, gi, 1e-8 + 1e-6 * Math.abs(fd), name + ": d loss / d logprobs[" + i + "]");
            }
        }
        // each configuration must actually exercise the switch it names
        if (o.ratioThreshold() > 0 && o.ratioThreshold() < 1) {
            assertTrue(base.skipped());
            assertAllZero("grad (guard fired)", g);
        } else {
            assertTrue(base.clipfrac() > 0, name + ": no clipped token");
            if (o.dualClip() > 0) assertTrue(base.clipfracLower() > 0, name + ": no dual-clipped token");
            if (o.logRatioClamp() > 0) assertTrue(clamped > 0, name + ": no clamped log ratio");
        }
    }

    // ------------------------------------------------------------------ edge cases

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.ppoengine.ops.LossTestSupport#aggregations")
    void noValidTokenGivesZerosNotNaN(Aggregation agg) {
        // Every position masked, holding NaN and overflowing ratios: nothing may leak into the outputs.
        double[] x = {Double.NaN, 1000, -1000, 0, 3, Double.NaN};
        double[] adv = {1, -1, Double.NaN, 0, 2, 5};
        Tensor g = zeros(arena, 2, 3);
        for (int i = 0; i < 6; i++) g.setFloat(i, 7);   // stale values must be overwritten
        PolicyLossResult r = run(x, adv, new double[6], 2, 3, opts(0.2, 0.2, 0, 3, agg, 10), g);
        assertEquals(new PolicyLossResult(0, 0, 0, 0, 0, 0, false), r);
        assertAllZero("grad", g);
    }

    @Test
    void emptyRowsNextToValidRowsStayFinite() {
        // rows 0 and 2 are fully masked and hold NaN; row 1 has two valid tokens x = 0, ln 1.5, A = −1, 2
        // L = [1 (x=0: −A·1), −2.4 (clipped: L1 = −3, L2 = −2.4)]; seq-mean-token-mean: ((1 − 2.4)/2)/1 = −0.7
        double n = Double.NaN;
        double[] x = {n, n, n, 0, ln(1.5), n, n, n, n};
        double[] adv = {n, n, n, -1, 2, n, n, n, n};
        double[] mask = {0, 0, 0, 1, 1, 0, 0, 0, 0};
        Tensor g = zeros(arena, 3, 3);
        PolicyLossResult r = run(x, adv, mask, 3, 3, opts(0.2, 0.2, 0, 0, Aggregation.of(LossAgg.SEQ_MEAN_TOKEN_MEAN), 0), g);
        assertEquals(-0.7, r.loss(), HAND_TOL);
        // grad: token (1,0): dL/dx = −Aρ = 1, w = 1/(2·1) → 0.5; token (1,1) clipped → 0
        assertValues("grad", new double[] {0, 0, 0, 0.5, 0, 0, 0, 0, 0}, g, HAND_TOL);
        assertEquals((1 + 1.5) / 2, r.meanRatio(), HAND_TOL);
    }

    @Test
    void oneValidTokenAndTEqualsOne() {
        // 1×5, only t = 2 valid: x = ln 1.1, A = 2 → L = −2.2, dL/dx = −2.2
        // token-mean, seq-mean-token-sum, seq-mean-token-mean: −2.2 (w = 1); sum-norm: −2.2/5 (w = 1/5)
        double[] x = {9, 9, ln(1.1), 9, 9};
        double[] adv = {1, 1, 2, 1, 1};
        double[] mask = {0, 0, 1, 0, 0};
        for (Aggregation agg : aggregations()) {
            if (agg.tokenCount() > 0 || agg.norm() > 0) continue;
            double w = agg.mode() == LossAgg.SEQ_MEAN_TOKEN_SUM_NORM ? 0.2 : 1.0;
            Tensor g = zeros(arena, 1, 5);
            PolicyLossResult r = run(x, adv, mask, 1, 5, opts(0.2, 0.2, 0, 0, agg, 0), g);
            assertEquals(-2.2 * w, r.loss(), HAND_TOL, agg.toString());
            assertValues("grad " + agg, new double[] {0, 0, -2.2 * w, 0, 0}, g, HAND_TOL);
        }
        // T = 1: 3×1, mask [1, 0, 1], x = 0, A = [1, 9, 3] → L = [−1, −3]
        // token-mean −4/2, seq-mean-token-mean (−1 + −3)/2, sum-norm with T = 1: −4
        double[] x1 = {0, 0, 0};
        double[] adv1 = {1, 9, 3};
        double[] mask1 = {1, 0, 1};
        Tensor g = zeros(arena, 3, 1);
        assertEquals(-2.0, run(x1, adv1, mask1, 3, 1, opts(0.2, 0.2, 0, 0, Aggregation.TOKEN_MEAN, 0), g).loss(), 1e-12);
        assertValues("grad T=1", new double[] {-0.5, 0, -1.5}, g, 1e-7);
        assertEquals(-2.0, run(x1, adv1, mask1, 3, 1, opts(0.2, 0.2, 0, 0, Aggregation.of(LossAgg.SEQ_MEAN_TOKEN_MEAN), 0), g).loss(), 1e-12);
        assertEquals(-4.0, run(x1, adv1, mask1, 3, 1, opts(0.2, 0.2, 0, 0, Aggregation.of(LossAgg.SEQ_MEAN_TOKEN_SUM_NORM), 0), g).loss(), 1e-12);
        assertValues("grad T=1 sum-norm", new double[] {-1, 0, -3}, g, 1e-7);
    }

    @Test
    void ratioOverflowWithClampOff() {
        // x = 0 − (−1000) = 1000: ρ = exp(1000) = +inf in f64. A = [2, −1, 0], clip range [0.8, 1.2]
        //   A = 2:  L1 = −inf, L2 = −2.4 → L = −2.4, d = 0 (clipped)
        //   A = −1: L1 = +inf → L = +inf, d = −Aρ = +inf (the true limit; no NaN)
        //   A = 0:  L = 0, d = 0 (L is identically 0 for A = 0; IEEE's −0·inf = NaN must not leak)
        double[] lp = {0, 0, 0};
        double[] old = {-1000, -1000, -1000};
        double[] adv = {2, -1, 0};
        double[] all = {1, 1, 1};
        Tensor g = zeros(arena, 1, 3);
        PolicyLossResult r = REF.policyLoss(f32(arena, 1, 3, lp), f32(arena, 1, 3, old), f32(arena, 1, 3, adv),
                mask(arena, DType.F32, 1, 3, all), trl(), g);
        assertEquals(Double.POSITIVE_INFINITY, r.loss());
        assertEquals(0.0, g.getDouble(0));
        assertEquals(Double.POSITIVE_INFINITY, g.getDouble(1));
        assertEquals(0.0, g.getDouble(2));
        assertEquals(Double.POSITIVE_INFINITY, r.meanRatio());
        assertEquals(-1000.0, r.ppoKl(), 1e-9);
        assertEquals(0.5 * 1000 * 1000, r.approxKl(), 1e-6);
        assertEquals(1.0 / 3, r.clipfrac(), 1e-12);   // only A = 2 has L2 > L1
        // dual clip c = 3 bounds the A = −1 token: L = 3, d = 0 → loss = (−2.4 + 3 + 0)/3 = 0.2, all grads 0
        PolicyLossResult dual = REF.policyLoss(f32(arena, 1, 3, lp), f32(arena, 1, 3, old), f32(arena, 1, 3, adv),
                mask(arena, DType.F32, 1, 3, all), opts(0.2, 0.2, 0, 3, Aggregation.TOKEN_MEAN, 0), g);
        assertEquals(0.2, dual.loss(), 1e-12);
        assertAllZero("grad (dual)", g);
        assertEquals(1.0 / 3, dual.clipfracLower(), 1e-12);
        // trl's guard sees mean ρ = inf > 10: loss 0 and grad 0, no inf or NaN
        PolicyLossResult guarded = REF.policyLoss(f32(arena, 1, 3, lp), f32(arena, 1, 3, old), f32(arena, 1, 3, adv),
                mask(arena, DType.F32, 1, 3, all), opts(0.2, 0.2, 0, 0, Aggregation.TOKEN_MEAN, 10), g);
        assertTrue(guarded.skipped());
        assertEquals(0.0, guarded.loss());
        assertAllZero("grad (guard)", g);
        // x = −1000: ρ = 0, finite: A = 2: L1 = 0 > L2 = −1.6 → 0; A = −1: L1 = 0 < L2 = 0.8 → 0.8 (clipped); A = 0: 0
        PolicyLossResult under = REF.policyLoss(f32(arena, 1, 3, old), f32(arena, 1, 3, lp), f32(arena, 1, 3, adv),
                mask(arena, DType.F32, 1, 3, all), trl(), g);
        assertEquals(0.8 / 3, under.loss(), 1e-12);
        assertAllZero("grad (ρ = 0)", g);
        assertEquals(0.0, under.meanRatio());
    }

    @Test
    void ratioOverflowWithClampOn() {
        // clamp 20: x = 1000 → 20, ρ = e^20 = 4.85e8 (finite)
        //   A = 2: L = −2.4, d = 0; A = −1: L = e^20, d = 0 (x clamped); A = 0: 0
        //   loss = (−2.4 + e^20)/3, ppo_kl = −20, approx_kl = ½·400, mean ρ = e^20 (all three tokens have x = 20)
        Tensor g = zeros(arena, 1, 3);
        PolicyLossResult r = REF.policyLoss(f32(arena, 1, 3, 0, 0, 0), f32(arena, 1, 3, -1000, -1000, -1000),
                f32(arena, 1, 3, 2, -1, 0), mask(arena, DType.F32, 1, 3, 1, 1, 1),
                opts(0.2, 0.2, 20, 0, Aggregation.TOKEN_MEAN, 0), g);
        assertEquals((-2.4 + Math.exp(20)) / 3, r.loss(), 1e-6 * Math.exp(20));
        assertAllZero("grad", g);
        assertEquals(-20.0, r.ppoKl(), 1e-12);
        assertEquals(200.0, r.approxKl(), 1e-9);
        assertEquals(Math.exp(20), r.meanRatio(), 1e-6 * Math.exp(20));
        // a clamp above f64's exp range (800): ρ = e^800 = inf even though x is clamped; A = −1 → L = inf, but the
        // gradient is still the clamp's 0, never 0·inf = NaN
        PolicyLossResult wide = REF.policyLoss(f32(arena, 1, 3, 0, 0, 0), f32(arena, 1, 3, -1000, -1000, -1000),
                f32(arena, 1, 3, 2, -1, 0), mask(arena, DType.F32, 1, 3, 1, 1, 1),
                opts(0.2, 0.2, 800, 0, Aggregation.TOKEN_MEAN, 0), g);
        assertEquals(Double.POSITIVE_INFINITY, wide.loss());
        assertAllZero("grad (clamp 800)", g);
    }

    @Test
    void everyMaskDtypeGivesTheSameResult() {
        Rand rnd = new Rand(arena, 0x5eed_0002L);
        long b = 4, t = 6;
        PolicyLossOptions o = opts(0.2, 0.28, 0.6, 1.5, Aggregation.of(LossAgg.SEQ_MEAN_TOKEN_MEAN), 0);
        PolicyInputs in = policyInputs(arena, rnd, b, t, o, 0.5, DType.F32);
        Tensor gBase = zeros(arena, b, t);
        PolicyLossResult base = REF.policyLoss(in.logprobs(), in.oldLogprobs(), in.advantages(), in.mask(), o, gBase);
        // any nonzero value is valid: f32 0.5 / −2, u8 7, bool 1, i32 −3, i64 2^40
        DType[] types = {DType.F32, DType.F32, DType.U8, DType.BOOL, DType.I32, DType.I64};
        double[] on = {0.5, -2, 7, 1, -3, 0x1p40};
        for (int k = 0; k < types.length; k++) {
            Tensor m = Tensor.allocate(arena, types[k], b, t);
            for (long i = 0; i < b * t; i++) if (in.mask().isSet(i)) m.setFloat(i, on[k]);
            Tensor g = zeros(arena, b, t);
            PolicyLossResult r = REF.policyLoss(in.logprobs(), in.oldLogprobs(), in.advantages(), m, o, g);
            assertEquals(base, r, types[k] + " mask " + on[k]);
            assertBitwise(types[k] + " mask grad", gBase, g);
        }
    }

    @Test
    void badInputIsAnIllegalArgumentNamingTheArgument() {
        Tensor ok = zeros(arena, 2, 3);
        Tensor m = mask(arena, DType.U8, 2, 3, 1, 1, 1, 1, 1, 1);
        Tensor g = zeros(arena, 2, 3);
        PolicyLossOptions o = trl();
        List<Object[]> cases = new ArrayList<>();
        cases.add(new Object[] {"logprobs", (Executable) () -> REF.policyLoss(zeros(arena, 1, 6).reshape(6), ok, ok, m, o, g)});
        cases.add(new Object[] {"old_logprobs", (Executable) () -> REF.policyLoss(ok, zeros(arena, 2, 4), ok, m, o, g)});
        cases.add(new Object[] {"advantages", (Executable) () -> REF.policyLoss(ok, ok, Tensor.allocate(arena, DType.BF16, 2, 3), m, o, g)});
        cases.add(new Object[] {"mask", (Executable) () -> REF.policyLoss(ok, ok, ok, Tensor.allocate(arena, DType.F16, 2, 3), o, g)});
        cases.add(new Object[] {"mask", (Executable) () -> REF.policyLoss(ok, ok, ok, mask(arena, DType.BOOL, 3, 2), o, g)});
        cases.add(new Object[] {"mask", (Executable) () -> REF.policyLoss(ok, ok, ok, null, o, g)});
        cases.add(new Object[] {"grad_logprobs", (Executable) () -> REF.policyLoss(ok, ok, ok, m, o, Tensor.allocate(arena, DType.I32, 2, 3))});
        cases.add(new Object[] {"grad_logprobs", (Executable) () -> REF.policyLoss(ok, ok, ok, m, o, zeros(arena, 3, 2))});
        cases.add(new Object[] {"grad_logprobs", (Executable) () -> REF.policyLoss(ok, ok, ok, m, o, null)});
        cases.add(new Object[] {"logprobs", (Executable) () -> REF.policyLoss(
                Tensor.strided(Tensor.allocate(arena, DType.F32, 2, 4).segment(), DType.F32, 4, 2, 3), ok, ok, m, o, g)});
        cases.add(new Object[] {"options", (Executable) () -> REF.policyLoss(ok, ok, ok, m, null, g)});
        cases.add(new Object[] {"clip_low", (Executable) () -> opts(-0.1, 0.2, 0, 0, Aggregation.TOKEN_MEAN, 0)});
        cases.add(new Object[] {"clip_high", (Executable) () -> opts(0.2, Double.NaN, 0, 0, Aggregation.TOKEN_MEAN, 0)});
        cases.add(new Object[] {"log_ratio_clamp", (Executable) () -> opts(0.2, 0.2, -1, 0, Aggregation.TOKEN_MEAN, 0)});
        cases.add(new Object[] {"dual_clip", (Executable) () -> opts(0.2, 0.2, 0, 0.5, Aggregation.TOKEN_MEAN, 0)});
        cases.add(new Object[] {"ratio_threshold", (Executable) () -> opts(0.2, 0.2, 0, 0, Aggregation.TOKEN_MEAN, -1)});
        cases.add(new Object[] {"loss_agg", (Executable) () -> opts(0.2, 0.2, 0, 0, null, 0)});
        cases.add(new Object[] {"token_count", (Executable) () -> new Aggregation(LossAgg.TOKEN_MEAN, -4, 0)});
        cases.add(new Object[] {"loss_agg_norm", (Executable) () -> new Aggregation(LossAgg.SEQ_MEAN_TOKEN_SUM_NORM, 0, Double.POSITIVE_INFINITY)});
        assertEachNamesItsArgument(cases);
    }

    // ------------------------------------------------------------------ random cases and other backends

    private static List<PolicyLossOptions> sweepOptions(Aggregation agg) {
        return List.of(
                opts(0.2, 0.2, 0, 0, agg, 10),        // trl (guard on, not firing)
                opts(0.2, 0.28, 0.6, 1.5, agg, 0),   // verl-like: clip-higher, log-ratio clamp, dual clip
                opts(0.2, 0.2, 0, 0, agg, 0.5));     // guard firing (mean ρ ≈ 1 > 0.5)
    }

    /**
     * Awkward shapes × every aggregation × {trl, verl-like, guard firing}, each mask dtype in turn: every output and
     * statistic within the SPEC tolerance of the reference, and two runs of {@code other} bitwise identical.
     */
    @Override
    protected void sweepAgainstReference(PpoKernels other) {
        Rand rnd = new Rand(arena, 0x5eed_0004L);
        int k = 0;
        for (long[] s : AWKWARD_SHAPES) {
            try (Arena local = Arena.ofConfined()) {
                for (Aggregation agg : aggregations()) {
                    for (PolicyLossOptions o : sweepOptions(agg)) {
                        String what = other.name() + " " + shape(s) + " " + agg + " " + o;
                        PolicyInputs in = policyInputs(local, rnd, s[0], s[1], o, 0.35, MASK_TYPES[k++ % MASK_TYPES.length]);
                        Tensor gRef = zeros(local, s[0], s[1]), g1 = zeros(local, s[0], s[1]), g2 = zeros(local, s[0], s[1]);
                        PolicyLossResult ref = REF.policyLoss(in.logprobs(), in.oldLogprobs(), in.advantages(), in.mask(), o, gRef);
                        PolicyLossResult r1 = other.policyLoss(in.logprobs(), in.oldLogprobs(), in.advantages(), in.mask(), o, g1);
                        PolicyLossResult r2 = other.policyLoss(in.logprobs(), in.oldLogprobs(), in.advantages(), in.mask(), o, g2);
                        assertPolicyStats(what, ref, r1);
                        assertClose(what + " grad_logprobs", gRef, g1);
                        assertEquals(r1, r2, what + ": statistics differ between two identical runs");
                        assertBitwise(what + " grad_logprobs", g1, g2);
                    }
                }
            }
        }
    }
}
