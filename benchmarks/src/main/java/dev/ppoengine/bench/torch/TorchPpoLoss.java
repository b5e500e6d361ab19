package dev.ppoengine.bench.torch;

import dev.ppoengine.kernels.PpoLossOptions;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;

/**
 * ppo_loss (the shared-backbone step) as trl's PPOv2 trainer computes it: the policy graph of
 * {@link TorchPolicyLoss} and the value graph of {@link TorchValueLoss} built together,
 * {@code loss = pg_loss + vf_coef * vf_loss}, one {@code loss.backward()} giving the gradients of both heads,
 * then trl's no-grad statistics of both. No entropy term (trl PPOv2 has none: entropy_coef = 0).
 */
public final class TorchPpoLoss {
    private final TorchPolicyLoss policy;
    private final TorchValueLoss value;
    private final double vfCoef;

    public TorchPpoLoss(dev.ppoengine.tensor.Tensor logprobs, dev.ppoengine.tensor.Tensor oldLogprobs,
                        dev.ppoengine.tensor.Tensor advantages, dev.ppoengine.tensor.Tensor values,
                        dev.ppoengine.tensor.Tensor oldValues, dev.ppoengine.tensor.Tensor returns,
                        dev.ppoengine.tensor.Tensor mask, PpoLossOptions options) {
        if (options.entropyCoef() != 0) {
            throw new IllegalArgumentException("the torch ppo_loss baseline is trl PPOv2's, which has no entropy term: "
                    + "entropy_coef must be 0, got " + options.entropyCoef());
        }
        this.policy = new TorchPolicyLoss(logprobs, oldLogprobs, advantages, mask, options.policy());
        this.value = new TorchValueLoss(values, oldValues, returns, mask, options.value());
        this.vfCoef = options.vfCoef();
    }

    /**
     * {loss, policy_loss, value_loss, grad_logprobs, grad_values, clipfrac, approxkl, vf_clipfrac}.
     * Call inside a PointerScope (TorchRuntime.run).
     */
    public Tensor[] run() {
        TorchPolicyLoss.Graph pg = policy.build();
        TorchValueLoss.Graph vf = value.build();
        Tensor loss = pg.loss().add(vf.loss().mul(new Scalar(vfCoef)));
        loss.backward();
        Tensor[] ps = policy.stats(pg);
        Tensor[] vs = value.stats(vf);
        return new Tensor[] {loss, pg.loss(), vf.loss(), pg.leaf().grad(), vf.leaf().grad(), ps[0], ps[1], vs[0]};
    }
}
