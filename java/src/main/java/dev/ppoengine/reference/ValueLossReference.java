package dev.ppoengine.reference;

import dev.ppoengine.kernels.ValueLossOptions;
import dev.ppoengine.kernels.ValueLossResult;
import dev.ppoengine.tensor.Tensor;

/**
 * value_loss, forward and backward (SPEC "value_loss"). Shapes: values, old_values, returns, mask [B, T]
 * → grad_values [B, T] and scalars. Per valid token, with V the value, R the return, ε = value_clip:
 * <pre>
 *   Vc = clamp(V, old − ε, old + ε)   (ε = 0: no clipping, Vc = V)
 *   L  = ½·max((V − R)², (Vc − R)²)
 *   loss = loss_agg(L)  (LossAggregationReference),  grad_values = w_b · dL/dV
 * </pre>
 * The clipped critic loss of trl's PPO trainers ({@code vf_losses1}, {@code vf_losses2}, ½·max), also used by
 * DeepSpeed-Chat, verl and OpenRLHF.
 * <p>Derivative with a = V − R, b = Vc − R, dVc/dV = 1 on the closed interval [old − ε, old + ε] (torch.clamp) and
 * 0 outside: dL/dV = a where a² &gt; b², b·dVc/dV where b² &gt; a², and ½·a + ½·b·dVc/dV at a tie (torch.maximum
 * splits the gradient between equal arguments; with Vc = V this is just a, with Vc ≠ V it is a/2).
 * clipfrac = mean[(Vc − R)² &gt; (V − R)²] over the valid tokens (0 when there are none).
 * Masked positions are never read into the arithmetic and get gradient 0.
 */
final class ValueLossReference {
    private ValueLossReference() {}

    /** One valid token: its loss L, dL/dV, and whether the clipped branch is the strictly larger one. */
    record Token(double loss, double grad, boolean clipped) {}

    static Token token(double value, double oldValue, double ret, double valueClip) {
        double clippedValue = value;
        boolean passes = true;   // dVc/dV = 1 (else 0)
        if (valueClip > 0) {
            double lo = oldValue - valueClip, hi = oldValue + valueClip;
            clippedValue = Math.min(Math.max(value, lo), hi);
            passes = value >= lo && value <= hi;
        }
        double a = value - ret, b = clippedValue - ret;
        double dClippedBranch = passes ? b : 0.0;   // b·dVc/dV, as a choice so a clipped branch gives +0, not −0
        double a2 = a * a, b2 = b * b;
        if (a2 > b2) return new Token(0.5 * a2, a, false);
        if (b2 > a2) return new Token(0.5 * b2, dClippedBranch, true);
        return new Token(0.5 * a2, 0.5 * a + 0.5 * dClippedBranch, false);
    }

    static ValueLossResult run(Tensor values, Tensor oldValues, Tensor returns, Tensor mask, ValueLossOptions o,
                               Tensor gradValues) {
        return run(values, oldValues, returns, mask, o, gradValues, 1.0);
    }

    /**
     * The same, with the written gradient scaled by {@code gradScale} (ppo_loss passes vf_coef, applied in f64
     * before the single rounding to f32); gradScale = 0 writes zeros (ppo_loss's ratio_threshold guard).
     */
    static ValueLossResult run(Tensor values, Tensor oldValues, Tensor returns, Tensor mask, ValueLossOptions o,
                               Tensor gradValues, double gradScale) {
        LossAggregationReference agg = new LossAggregationReference(mask, o.agg());
        int rows = agg.rows();
        long cols = agg.cols();

        // Pass 1: per-row loss sums and the clip count.
        double[] rowSums = new double[rows];
        long clipped = 0;
        for (int b = 0; b < rows; b++) {
            for (long t = 0; t < cols; t++) {
                long i = b * cols + t;
                if (!agg.valid(i)) continue;
                Token k = token(values.getDouble(i), oldValues.getDouble(i), returns.getDouble(i), o.valueClip());
                rowSums[b] += k.loss();
                if (k.clipped()) clipped++;
            }
        }

        // Pass 2: grad_values = gradScale · w_b · dL/dV at valid tokens, 0 elsewhere.
        for (int b = 0; b < rows; b++) {
            double w = gradScale * agg.weight(b);
            for (long t = 0; t < cols; t++) {
                long i = b * cols + t;
                double g = 0.0;
                if (gradScale != 0 && agg.valid(i)) {
                    g = w * token(values.getDouble(i), oldValues.getDouble(i), returns.getDouble(i), o.valueClip()).grad();
                }
                gradValues.setFloat(i, g);
            }
        }
        return new ValueLossResult(agg.value(rowSums), agg.mean(clipped));
    }
}
