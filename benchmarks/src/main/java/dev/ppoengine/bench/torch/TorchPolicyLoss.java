package dev.ppoengine.bench.torch;

import dev.ppoengine.kernels.LossAgg;
import dev.ppoengine.kernels.PolicyLossOptions;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * policy_loss forward + autograd backward as trl's PPOv2 trainer computes it (preset {@code trl-ppov2}: ratio clip
 * [1 − 0.2, 1 + 0.2], token-mean, no log-ratio clamp, no dual clip, no ratio guard):
 * <pre>
 *   new_logprobs = masked_fill(new_logprobs, padding_mask, INVALID_LOGPROB)
 *   logprobs_diff = new_logprobs - mb_logprobs
 *   ratio = exp(logprobs_diff)
 *   pg_losses  = -mb_advantage * ratio
 *   pg_losses2 = -mb_advantage * clamp(ratio, 1 - cliprange, 1 + cliprange)
 *   pg_loss_max = max(pg_losses, pg_losses2)
 *   pg_loss = masked_mean(pg_loss_max, ~padding_mask)
 *   loss.backward()
 *   with no_grad: pg_clipfrac = masked_mean((pg_losses2 &gt; pg_losses).float(), ~padding_mask)
 *                 approxkl = 0.5 * (logprobs_diff ** 2).mean()
 * </pre>
 * new_logprobs is a fresh autograd leaf over the benchmark's logprobs each call (in trl it is the output of the
 * policy forward; its gradient here is d loss / d logprobs, what the engine's policy_loss returns).
 */
public final class TorchPolicyLoss {
    static final double INVALID_LOGPROB = 1.0;

    private final Tensor logprobs;     // [B, T] f32
    private final Tensor oldLogprobs;  // [B, T] f32
    private final Tensor advantages;   // [B, T] f32
    private final Tensor mask;         // [B, T] bool, true = valid (~padding_mask)
    private final Tensor paddingMask;  // [B, T] bool, built once in setup
    private final double clipLow;
    private final double clipHigh;

    /** The graph pieces trl keeps for its statistics. */
    record Graph(Tensor leaf, Tensor loss, Tensor pgLosses, Tensor pgLosses2, Tensor logprobsDiff) {}

    public TorchPolicyLoss(dev.ppoengine.tensor.Tensor logprobs, dev.ppoengine.tensor.Tensor oldLogprobs,
                           dev.ppoengine.tensor.Tensor advantages, dev.ppoengine.tensor.Tensor mask, PolicyLossOptions options) {
        checkOptions(options);
        TorchRuntime.init();
        this.logprobs = TorchRuntime.wrap(logprobs);
        this.oldLogprobs = TorchRuntime.wrap(oldLogprobs);
        this.advantages = TorchRuntime.wrap(advantages);
        this.mask = TorchRuntime.wrap(mask);
        this.paddingMask = this.mask.logical_not();
        this.clipLow = options.clipLow();
        this.clipHigh = options.clipHigh();
    }

    static void checkOptions(PolicyLossOptions o) {
        if (o.logRatioClamp() != 0 || o.dualClip() != 0 || o.ratioThreshold() != 0
                || o.agg().mode() != LossAgg.TOKEN_MEAN || o.agg().tokenCount() != 0) {
            throw new IllegalArgumentException("the torch policy_loss baseline is trl PPOv2's: it needs no log-ratio clamp, "
                    + "no dual clip, no ratio threshold and token-mean over the mask, got " + o);
        }
    }

    static Tensor maskedMean(Tensor v, Tensor m) {
        return TorchMaskedWhiten.maskedMean(v, m);
    }

    /** Builds trl's policy-loss graph on a fresh leaf over the logprobs. */
    Graph build() {
        Tensor leaf = logprobs.detach().requires_grad_(true);
        Tensor newLogprobs = torch.masked_fill(leaf, paddingMask, new Scalar(INVALID_LOGPROB));
        Tensor diff = newLogprobs.sub(oldLogprobs);
        Tensor ratio = torch.exp(diff);
        Tensor pgLosses = advantages.neg().mul(ratio);
        Tensor clamped = torch.clamp(ratio, new ScalarOptional(new Scalar(1.0 - clipLow)),
                new ScalarOptional(new Scalar(1.0 + clipHigh)));
        Tensor pgLosses2 = advantages.neg().mul(clamped);
        Tensor pgLossMax = torch.max(pgLosses, pgLosses2);
        Tensor pgLoss = maskedMean(pgLossMax, mask);
        return new Graph(leaf, pgLoss, pgLosses, pgLosses2, diff);
    }

    /** trl's no-grad statistics: {clipfrac, approxkl}. */
    Tensor[] stats(Graph g) {
        try (NoGradGuard noGrad = new NoGradGuard()) {
            Tensor clipfrac = maskedMean(g.pgLosses2().gt(g.pgLosses()).toType(ScalarType.Float), mask);
            Tensor approxkl = g.logprobsDiff().pow(new Scalar(2)).mean().mul(new Scalar(0.5));
            return new Tensor[] {clipfrac, approxkl};
        }
    }

    /** {loss, grad_logprobs [B, T], clipfrac, approxkl}. Call inside a PointerScope (TorchRuntime.run). */
    public Tensor[] run() {
        Graph g = build();
        g.loss().backward();
        Tensor[] s = stats(g);
        return new Tensor[] {g.loss(), g.leaf().grad(), s[0], s[1]};
    }
}
