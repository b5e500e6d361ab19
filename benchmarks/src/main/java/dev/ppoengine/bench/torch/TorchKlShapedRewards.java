package dev.ppoengine.bench.torch;

import dev.ppoengine.kernels.KlAtScoreSlot;
import dev.ppoengine.kernels.KlEstimator;
import dev.ppoengine.kernels.RewardOptions;
import dev.ppoengine.kernels.ScorePosition;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorOptionalList;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * kl_shaped_rewards as trl's PPOv2 trainer computes it (preset {@code trl-ppov2}: k1, score after the last token,
 * KL dropped at the score slot), in PyTorch on the CPU:
 * <pre>
 *   sequence_lengths = (last valid index per row)            # trl: first_true_indices(response == pad) - 1
 *   padding_mask = response_idxs &gt; sequence_lengths[:, None]
 *   logprobs = masked_fill(logprobs, padding_mask, INVALID_LOGPROB)
 *   ref_logprobs = masked_fill(ref_logprobs, padding_mask, INVALID_LOGPROB)
 *   sequence_lengths_p1 = sequence_lengths + 1
 *   padding_mask_p1 = response_idxs &gt; sequence_lengths_p1[:, None]
 *   kl = logprobs - ref_logprobs
 *   non_score_reward = -kl_coef * kl
 *   rewards = non_score_reward.clone()
 *   actual_end = where(sequence_lengths_p1 &lt; T, sequence_lengths_p1, sequence_lengths)
 *   rewards[[arange(B), actual_end]] += scores
 * </pre>
 * The last valid index comes from the bool mask ({@code mask.sum(1) - 1}: one reduction, as trl's
 * first_true_indices is one); response_idxs and arange(B) are built once in setup as trl builds them once per batch.
 * Outputs: rewards, kl, and the reward mask {@code ~padding_mask_p1}.
 */
public final class TorchKlShapedRewards {
    /** trl's fill value for logprobs at padding. */
    private static final double INVALID_LOGPROB = 1.0;

    private final Tensor logprobs;     // [B, T] f32
    private final Tensor refLogprobs;  // [B, T] f32
    private final Tensor mask;         // [B, T] bool
    private final Tensor scores;       // [B] f32
    private final Tensor responseIdxs; // [B, T] i64: arange(T) repeated over the rows
    private final Tensor actualStart;  // [B] i64: arange(B)
    private final double klCoef;
    private final long t;

    public TorchKlShapedRewards(dev.ppoengine.tensor.Tensor logprobs, dev.ppoengine.tensor.Tensor refLogprobs,
                                dev.ppoengine.tensor.Tensor mask, dev.ppoengine.tensor.Tensor scores, RewardOptions options) {
        if (options.kl().estimator() != KlEstimator.K1 || options.kl().inputClamp() != 0 || options.kl().outputClamp() != 0
                || options.scorePosition() != ScorePosition.AFTER_LAST || options.klAtScoreSlot() != KlAtScoreSlot.ZERO
                || options.scoreClip() != 0) {
            throw new IllegalArgumentException("the torch kl_shaped_rewards baseline is trl PPOv2's: it needs the trl-ppov2 "
                    + "reward options (k1, no clamps, after_last, zero, no score clip), got " + options);
        }
        TorchRuntime.init();
        this.logprobs = TorchRuntime.wrap(logprobs);
        this.refLogprobs = TorchRuntime.wrap(refLogprobs);
        this.mask = TorchRuntime.wrap(mask);
        this.scores = TorchRuntime.wrap(scores);
        long b = logprobs.dim(0);
        this.t = logprobs.dim(1);
        TensorOptions i64 = new TensorOptions(ScalarType.Long);
        this.responseIdxs = torch.arange(new Scalar(t), i64).repeat(b, 1);
        this.actualStart = torch.arange(new Scalar(b), i64);
        this.klCoef = options.klCoef();
    }

    /** {rewards [B, T], kl [B, T], reward_mask [B, T] bool}. Call inside a PointerScope (TorchRuntime.run). */
    public Tensor[] run() {
        Tensor seqLen = mask.sum(1).sub(new Scalar(1));
        Tensor paddingMask = responseIdxs.gt(seqLen.unsqueeze(1));
        Tensor lp = torch.masked_fill(logprobs, paddingMask, new Scalar(INVALID_LOGPROB));
        Tensor ref = torch.masked_fill(refLogprobs, paddingMask, new Scalar(INVALID_LOGPROB));
        Tensor seqLenP1 = seqLen.add(new Scalar(1));
        Tensor paddingMaskP1 = responseIdxs.gt(seqLenP1.unsqueeze(1));
        Tensor kl = lp.sub(ref);
        Tensor nonScoreReward = kl.mul(new Scalar(-klCoef));
        Tensor rewards = nonScoreReward.clone();
        Tensor actualEnd = torch.where(seqLenP1.lt(new Scalar(t)), seqLenP1, seqLen);
        TensorOptionalList index = new TensorOptionalList();
        index.push_back(new TensorOptional(actualStart));
        index.push_back(new TensorOptional(actualEnd));
        // rewards[idx] += scores is Python's getitem, in-place add, setitem
        rewards.index_put_(index, rewards.index(index).add_(scores));
        return new Tensor[] {rewards, kl, paddingMaskP1.logical_not()};
    }
}
