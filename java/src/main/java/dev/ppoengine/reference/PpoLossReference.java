package dev.ppoengine.reference;

import dev.ppoengine.kernels.PolicyLossResult;
import dev.ppoengine.kernels.PpoLossInputs;
import dev.ppoengine.kernels.PpoLossOptions;
import dev.ppoengine.kernels.PpoLossResult;
import dev.ppoengine.kernels.ValueLossResult;
import dev.ppoengine.tensor.Tensor;

/**
 * ppo_loss, the shared-backbone step (SPEC "ppo_loss", as in trl where actor and critic share one model).
 * Inputs [B, T]: logprobs, old_logprobs, advantages, values, old_values, returns, mask, value_mask (null = mask),
 * entropy (null = no entropy term). Outputs grad_logprobs, grad_values, grad_entropy [B, T] and scalars:
 * <pre>
 *   policy_loss  = policy_loss(logprobs, old_logprobs, advantages; mask, policy options)   (PolicyLossReference)
 *   value_loss   = value_loss(values, old_values, returns; value_mask, value options)      (ValueLossReference)
 *   entropy_loss = loss_agg(entropy) over mask with the policy's aggregation               (LossAggregationReference)
 *   loss = policy_loss + vf_coef·value_loss − entropy_coef·entropy_loss
 *   grad_logprobs = d policy_loss/d logprobs,  grad_values = vf_coef·d value_loss/d values,
 *   grad_entropy  = −entropy_coef·w_b at valid tokens (0 elsewhere)
 * </pre>
 * trl's ratio_threshold guard (policy options) zeroes every loss and every gradient, as trl zeroes pg, vf and the
 * total; the statistics of both parts are still reported.
 */
final class PpoLossReference {
    private PpoLossReference() {}

    static PpoLossResult run(PpoLossInputs in, PpoLossOptions o, Tensor gradLogprobs, Tensor gradValues,
                             Tensor gradEntropy) {
        PolicyLossResult policy = PolicyLossReference.run(in.logprobs(), in.oldLogprobs(), in.advantages(), in.mask(),
                o.policy(), gradLogprobs);
        boolean skipped = policy.skipped();
        ValueLossResult value = ValueLossReference.run(in.values(), in.oldValues(), in.returns(),
                in.effectiveValueMask(), o.value(), gradValues, skipped ? 0.0 : o.vfCoef());
        if (skipped) value = new ValueLossResult(0.0, value.clipfrac());

        double entropyLoss = 0.0;
        if (in.entropy() != null) {
            entropyLoss = entropyTerm(in.entropy(), in.mask(), o, skipped, gradEntropy);
        }
        double loss = policy.loss() + o.vfCoef() * value.loss() - o.entropyCoef() * entropyLoss;
        return new PpoLossResult(loss, policy.loss(), value.loss(), entropyLoss, policy, value);
    }

    /** entropy_loss = loss_agg(entropy) over mask; writes grad_entropy = −entropy_coef·w_b (0 when skipped). */
    private static double entropyTerm(Tensor entropy, Tensor mask, PpoLossOptions o, boolean skipped,
                                      Tensor gradEntropy) {
        LossAggregationReference agg = new LossAggregationReference(mask, o.policy().agg());
        int rows = agg.rows();
        long cols = agg.cols();
        double[] rowSums = new double[rows];
        for (int b = 0; b < rows; b++) {
            for (long t = 0; t < cols; t++) {
                long i = b * cols + t;
                if (agg.valid(i)) rowSums[b] += entropy.getDouble(i);
            }
        }
        for (int b = 0; b < rows; b++) {
            double g = skipped || o.entropyCoef() == 0 ? 0.0 : -o.entropyCoef() * agg.weight(b);
            for (long t = 0; t < cols; t++) {
                long i = b * cols + t;
                gradEntropy.setFloat(i, agg.valid(i) ? g : 0.0);
            }
        }
        return skipped ? 0.0 : agg.value(rowSums);
    }
}
