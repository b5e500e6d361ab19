package dev.ppoengine.reference;

import dev.ppoengine.kernels.PolicyLossOptions;
import dev.ppoengine.kernels.PolicyLossResult;
import dev.ppoengine.tensor.Tensor;

/**
 * policy_loss, forward and backward (SPEC "policy_loss"). Shapes: logprobs, old_logprobs, advantages, mask [B, T]
 * → grad_logprobs [B, T] and scalars. Per valid token, with A the advantage:
 * <pre>
 *   x   = logprobs − old_logprobs, clamped to ±log_ratio_clamp when that is &gt; 0   (dx/dlogprobs = 0 where |x| &gt; clamp)
 *   ρ   = exp(x)
 *   L1  = −A·ρ,   L2 = −A·clip(ρ, 1 − clip_low, 1 + clip_high),   L = max(L1, L2)
 *   dual clip c &gt; 1, A &lt; 0:  L = min(L, −A·c)
 *   loss = loss_agg(L)  (LossAggregationReference),  grad_logprobs = w_b · dL/dlogprobs
 * </pre>
 * This is the clipped surrogate of Schulman et al. 2017 as written in trl's PPO trainers ({@code pg_losses},
 * {@code pg_losses2}, their max), with verl's dual clip (Ye et al. 2020) and OpenRLHF/verl's log-ratio clamp.
 * <p>Derivative: dL1/dx = −A·ρ; dL2/dx = −A·ρ where 1 − clip_low ≤ ρ ≤ 1 + clip_high (torch.clamp passes the
 * gradient on the closed interval) and 0 outside; max picks the larger branch — a tie inside the range has equal
 * branch gradients, outside it needs A = 0. At a dual-clip tie L = −A·c the gradient is halved (torch.minimum
 * splits it between its equal arguments). The clamp of x is a clamp too: gradient 0 only where |raw x| &gt; clamp.
 * <p>Overflow (clamp off, or a clamp above ~709): ρ = exp(x) becomes +inf in f64. Then A &gt; 0 gives the clipped
 * branch (L = −A·(1 + clip_high), gradient 0); A &lt; 0 gives L = +inf and gradient +inf without a dual clip (the
 * true limit, not a NaN) and L = −A·c, gradient 0 with it; A = 0 gives L = 0 and gradient 0 — the loss is
 * identically 0 in x for A = 0, whereas IEEE would turn −0·inf into NaN. x → −inf gives ρ = 0, which is finite.
 * <p>Statistics are means over the valid tokens (0 when there are none), computed whether or not
 * {@code ratio_threshold} fires: clipfrac = mean[L2 &gt; L1], clipfrac_lower = mean[A &lt; 0 ∧ max(L1, L2) &gt; −A·c]
 * (0 without dual clip), ppo_kl = mean(−x), approx_kl = mean(½x²), mean ratio = mean(ρ). trl's guard:
 * ratio_threshold r &gt; 0 and mean ratio &gt; r → loss 0 and gradient 0.
 * <p>Masked positions are never read into the arithmetic and get gradient 0. Two passes over the inputs (forward and
 * statistics, then the gradient once the weights and the guard are known) keep the extra memory O(B).
 */
final class PolicyLossReference {
    private PolicyLossReference() {}

    /**
     * One valid token: its loss L, dL/dlogprobs, the log ratio x after the clamp, ρ, and its two clip indicators.
     */
    record Token(double loss, double grad, double x, double ratio, boolean clipped, boolean dualClipped) {}

    static Token token(double logprob, double oldLogprob, double advantage, PolicyLossOptions o) {
        double x = logprob - oldLogprob;
        boolean clamped = false;
        if (o.logRatioClamp() > 0 && Math.abs(x) > o.logRatioClamp()) {
            x = Math.copySign(o.logRatioClamp(), x);
            clamped = true;
        }
        double ratio = Math.exp(x);
        if (advantage == 0.0) {
            // L1 = L2 = −0·ρ = 0 for every finite ρ, so the loss is 0 and flat; this also keeps ρ = inf from giving NaN.
            return new Token(0.0, 0.0, x, ratio, false, false);
        }
        double lo = 1.0 - o.clipLow(), hi = 1.0 + o.clipHigh();
        double l1 = -advantage * ratio;
        double l2 = -advantage * Math.min(Math.max(ratio, lo), hi);
        double d1 = -advantage * ratio;                          // dL1/dx
        double d2 = (ratio >= lo && ratio <= hi) ? d1 : 0.0;     // dL2/dx
        boolean clipped = l2 > l1;
        double loss = clipped ? l2 : l1;
        double dLoss = clipped ? d2 : d1;
        boolean dualClipped = false;
        if (o.dualClip() > 0 && advantage < 0) {
            double l3 = -advantage * o.dualClip();
            if (loss > l3) {
                loss = l3;
                dLoss = 0.0;
                dualClipped = true;
            } else if (loss == l3) {
                dLoss *= 0.5;
            }
        }
        // The clamp's zero gradient is applied as a choice, not a product: with a clamp above ~709, ρ = inf and 0·inf = NaN.
        return new Token(loss, clamped ? 0.0 : dLoss, x, ratio, clipped, dualClipped);
    }

    static PolicyLossResult run(Tensor logprobs, Tensor oldLogprobs, Tensor advantages, Tensor mask,
                                PolicyLossOptions o, Tensor gradLogprobs) {
        LossAggregationReference agg = new LossAggregationReference(mask, o.agg());
        int rows = agg.rows();
        long cols = agg.cols();

        // Pass 1: per-row loss sums and the statistics over valid tokens.
        double[] rowSums = new double[rows];
        double sumRatio = 0, sumNegX = 0, sumHalfX2 = 0;
        long clipped = 0, dualClipped = 0;
        for (int b = 0; b < rows; b++) {
            for (long t = 0; t < cols; t++) {
                long i = b * cols + t;
                if (!agg.valid(i)) continue;
                Token k = token(logprobs.getDouble(i), oldLogprobs.getDouble(i), advantages.getDouble(i), o);
                rowSums[b] += k.loss();
                sumRatio += k.ratio();
                sumNegX += -k.x();
                sumHalfX2 += 0.5 * k.x() * k.x();
                if (k.clipped()) clipped++;
                if (k.dualClipped()) dualClipped++;
            }
        }
        double meanRatio = agg.mean(sumRatio);
        boolean skipped = o.ratioThreshold() > 0 && meanRatio > o.ratioThreshold();
        double loss = skipped ? 0.0 : agg.value(rowSums);

        // Pass 2: grad_logprobs = w_b · dL/dlogprobs at valid tokens, 0 elsewhere and when the guard fired.
        for (int b = 0; b < rows; b++) {
            double w = agg.weight(b);
            for (long t = 0; t < cols; t++) {
                long i = b * cols + t;
                double g = 0.0;
                if (!skipped && agg.valid(i)) {
                    g = w * token(logprobs.getDouble(i), oldLogprobs.getDouble(i), advantages.getDouble(i), o).grad();
                }
                gradLogprobs.setFloat(i, g);
            }
        }
        return new PolicyLossResult(loss, agg.mean(clipped), agg.mean(dualClipped), agg.mean(sumNegX),
                agg.mean(sumHalfX2), meanRatio, skipped);
    }
}
