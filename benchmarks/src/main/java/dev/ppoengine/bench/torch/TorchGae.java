package dev.ppoengine.bench.torch;

import dev.ppoengine.kernels.GaeMaskedSteps;
import dev.ppoengine.kernels.GaeOptions;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * gae as trl computes it (PPOv2 trainer, "compute advantages and returns"): a Python-level loop over the T
 * timesteps, each step a handful of PyTorch ops on one [B] column:
 * <pre>
 *   lastgaelam = 0
 *   for t in reversed(range(T)):
 *       nextvalues = values[:, t + 1] if t &lt; T - 1 else 0.0
 *       delta = rewards[:, t] + gamma * nextvalues - values[:, t]
 *       lastgaelam = delta + gamma * lam * lastgaelam
 *       advantages_reversed.append(lastgaelam)
 *   advantages = torch.stack(advantages_reversed[::-1], axis=1)
 *   returns = advantages + values
 * </pre>
 * The same ops are issued here one by one from Java (a JNI call per op is cheaper than a Python dispatch, so this
 * baseline is if anything faster than trl's loop). Before the loop, values are masked_fill'ed with 0 at padding as
 * trl does; rewards are masked the same way (trl's rewards are already 0 there because its KL uses filled logprobs;
 * the engine's gae_masked_steps=zero masks them explicitly, so the baseline does too: one [B, T] op).
 * With right padding this gives 0 advantages and returns at padded positions, as the engine does.
 */
public final class TorchGae {
    private final Tensor rewards;      // [B, T] f32
    private final Tensor values;       // [B, T] f32
    private final Tensor paddingMask;  // [B, T] bool, true = padding (trl's padding_mask), built once in setup
    private final double gamma;
    private final double lam;
    private final long t;

    public TorchGae(dev.ppoengine.tensor.Tensor rewards, dev.ppoengine.tensor.Tensor values,
                    dev.ppoengine.tensor.Tensor mask, GaeOptions options) {
        if (options.maskedSteps() != GaeMaskedSteps.ZERO) {
            throw new IllegalArgumentException("the torch gae baseline is trl's loop: gae_masked_steps must be zero, got "
                    + options.maskedSteps());
        }
        TorchRuntime.init();
        this.rewards = TorchRuntime.wrap(rewards);
        this.values = TorchRuntime.wrap(values);
        this.paddingMask = TorchRuntime.wrap(mask).logical_not();
        this.gamma = options.gamma();
        this.lam = options.lam();
        this.t = rewards.dim(1);
    }

    /** {advantages [B, T], returns [B, T]}. Call inside a PointerScope (TorchRuntime.run). */
    public Tensor[] run() {
        Scalar zero = new Scalar(0.0);
        Tensor v = torch.masked_fill(values, paddingMask, zero);
        Tensor r = torch.masked_fill(rewards, paddingMask, zero);
        Tensor[] reversed = new Tensor[(int) t];
        Tensor lastgaelam = null;                            // Python's int 0 before the first step
        Scalar gammaS = new Scalar(gamma);
        Scalar gammaLam = new Scalar(gamma * lam);
        for (long s = t - 1; s >= 0; s--) {
            Tensor delta = (s < t - 1)
                    ? r.select(1, s).add(v.select(1, s + 1).mul(gammaS)).sub(v.select(1, s))
                    : r.select(1, s).add(new Scalar(gamma * 0.0)).sub(v.select(1, s));   // nextvalues = 0.0
            lastgaelam = (lastgaelam == null)
                    ? delta.add(new Scalar(gamma * lam * 0))                            // gamma * lam * 0
                    : delta.add(lastgaelam.mul(gammaLam));
            reversed[(int) (t - 1 - s)] = lastgaelam;
        }
        TensorVector forward = new TensorVector();
        for (int i = reversed.length - 1; i >= 0; i--) forward.push_back(reversed[i]);
        Tensor advantages = torch.stack(forward, 1);
        Tensor returns = advantages.add(v);
        return new Tensor[] {advantages, returns};
    }
}
