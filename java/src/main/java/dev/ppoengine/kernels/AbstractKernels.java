package dev.ppoengine.kernels;

import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;

import java.util.EnumSet;

/**
 * Validates every op's arguments (SPEC "Bad input") and then calls the backend's implementation.
 * Backends implement the protected {@code *Impl} methods and may assume: shapes agree, dtypes are accepted,
 * per-token tensors are dense [B, T] f32, outputs are dense f32, labels are in range (host), options are valid.
 */
public abstract class AbstractKernels implements PpoKernels {
    private final boolean device;

    /** @param device whether this backend takes device tensors (cuda) or host tensors */
    protected AbstractKernels(boolean device) {
        this.device = device;
    }

    private void where(String name, Tensor t) { Checks.location(name(), device, name, t); }

    // ---------------- token_logprobs ----------------

    @Override
    public final void tokenLogprobs(Tensor logits, Tensor labels, LogprobOptions options, Tensor logprobs,
                                    Tensor entropy, Tensor saved) {
        long[] nv = checkLogits(logits, labels);
        Params.notNull("options", options);
        Checks.output("logprobs", logprobs, labels.shape());
        if (entropy != null) Checks.output("entropy", entropy, labels.shape());
        if (saved != null) Checks.output("saved", saved, nv[0], 3);
        where("logprobs", logprobs); where("entropy", entropy); where("saved", saved);
        tokenLogprobsImpl(logits, labels, options, logprobs, entropy, saved);
    }

    @Override
    public final void tokenLogprobsBackward(Tensor logits, Tensor labels, Tensor saved, Tensor gradLogprobs,
                                            Tensor gradEntropy, LogprobOptions options, Tensor gradLogits) {
        long[] nv = checkLogits(logits, labels);
        Params.notNull("options", options);
        Checks.output("saved", saved, nv[0], 3);
        Checks.output("grad_logprobs", gradLogprobs, labels.shape());
        if (gradEntropy != null) Checks.output("grad_entropy", gradEntropy, labels.shape());
        Checks.present("grad_logits", gradLogits);
        Checks.shape("grad_logits", gradLogits, logits.shape());
        boolean inPlace = gradLogits.address() == logits.address();
        if (inPlace) {
            if (gradLogits.dtype() != logits.dtype() || gradLogits.rowStride() != logits.rowStride()) {
                throw new IllegalArgumentException("grad_logits: in place on logits requires the same dtype and row stride, got "
                        + gradLogits.dtype() + " stride " + gradLogits.rowStride() + " vs " + logits.dtype() + " stride " + logits.rowStride());
            }
        } else if (gradLogits.dtype() != DType.F32 && gradLogits.dtype() != logits.dtype()) {
            throw new IllegalArgumentException("grad_logits: expected dtype f32 or the logits' dtype " + logits.dtype()
                    + ", got " + gradLogits.dtype());
        }
        where("saved", saved); where("grad_logprobs", gradLogprobs); where("grad_entropy", gradEntropy);
        where("grad_logits", gradLogits);
        tokenLogprobsBackwardImpl(logits, labels, saved, gradLogprobs, gradEntropy, options, gradLogits);
    }

    /** Checks logits [.., V] against labels [..]; returns {N, V}. */
    private long[] checkLogits(Tensor logits, Tensor labels) {
        Checks.present("logits", logits);
        Checks.present("labels", labels);
        Checks.dtype("logits", logits, Checks.LOGIT_TYPES);
        Checks.dtype("labels", labels, Checks.LABEL_TYPES);
        if (logits.rank() < 2) {
            throw new IllegalArgumentException("logits: expected rank >= 2 ([N, V] or [B, T, V]), got shape " + logits.shapeString());
        }
        long[] ls = logits.shape();
        long[] expectLabels = java.util.Arrays.copyOf(ls, ls.length - 1);
        Checks.shape("labels", labels, expectLabels);
        Checks.dense("labels", labels);
        long v = logits.cols();
        if (v < 1) throw new IllegalArgumentException("logits: vocabulary size must be >= 1, got " + v);
        where("logits", logits); where("labels", labels);
        Checks.labelRange(labels, v);
        return new long[] {logits.rows(), v};
    }

    // ---------------- KL ----------------

    @Override
    public final void klPenalty(Tensor logprobs, Tensor refLogprobs, Tensor mask, KlOptions options, Tensor kl) {
        long[] bt = Checks.batchShape("logprobs", logprobs);
        Checks.tokens("logprobs", logprobs, bt[0], bt[1]);
        Checks.tokens("ref_logprobs", refLogprobs, bt[0], bt[1]);
        if (mask != null) Checks.mask("mask", mask, bt[0], bt[1]);
        Params.notNull("options", options);
        Checks.output("kl", kl, bt);
        where("logprobs", logprobs); where("ref_logprobs", refLogprobs); where("mask", mask); where("kl", kl);
        klPenaltyImpl(logprobs, refLogprobs, mask, options, kl);
    }

    @Override
    public final void klShapedRewards(Tensor logprobs, Tensor refLogprobs, Tensor mask, Tensor scores,
                                      RewardOptions options, Tensor rewards, Tensor kl, Tensor rewardMask) {
        long[] bt = Checks.batchShape("logprobs", logprobs);
        Checks.tokens("logprobs", logprobs, bt[0], bt[1]);
        Checks.tokens("ref_logprobs", refLogprobs, bt[0], bt[1]);
        Checks.mask("mask", mask, bt[0], bt[1]);
        Checks.present("scores", scores);
        Checks.dtype("scores", scores, EnumSet.of(DType.F32));
        Checks.shape("scores", scores, bt[0]);
        Params.notNull("options", options);
        Checks.output("rewards", rewards, bt);
        Checks.output("kl", kl, bt);
        Checks.output("reward_mask", rewardMask, bt);
        where("logprobs", logprobs); where("ref_logprobs", refLogprobs); where("mask", mask); where("scores", scores);
        where("rewards", rewards); where("kl", kl); where("reward_mask", rewardMask);
        klShapedRewardsImpl(logprobs, refLogprobs, mask, scores, options, rewards, kl, rewardMask);
    }

    // ---------------- GAE / whitening ----------------

    @Override
    public final void gae(Tensor rewards, Tensor values, Tensor mask, GaeOptions options, Tensor advantages, Tensor returns) {
        long[] bt = Checks.batchShape("rewards", rewards);
        Checks.tokens("rewards", rewards, bt[0], bt[1]);
        Checks.tokens("values", values, bt[0], bt[1]);
        Checks.mask("mask", mask, bt[0], bt[1]);
        Params.notNull("options", options);
        Checks.output("advantages", advantages, bt);
        Checks.output("returns", returns, bt);
        where("rewards", rewards); where("values", values); where("mask", mask);
        where("advantages", advantages); where("returns", returns);
        gaeImpl(rewards, values, mask, options, advantages, returns);
    }

    @Override
    public final void maskedWhiten(Tensor values, Tensor mask, WhitenOptions options, Tensor whitened) {
        long[] bt = Checks.batchShape("values", values);
        Checks.tokens("values", values, bt[0], bt[1]);
        Checks.mask("mask", mask, bt[0], bt[1]);
        Params.notNull("options", options);
        Checks.output("whitened", whitened, bt);
        where("values", values); where("mask", mask); where("whitened", whitened);
        // N < 2 (unbiased) / N < 1 (biased) depends on the data: each backend counts N in its own first pass
        // (no extra pass over the mask here) and fails with an IllegalArgumentException before writing anything.
        maskedWhitenImpl(values, mask, options, whitened);
    }

    // ---------------- losses ----------------

    @Override
    public final PolicyLossResult policyLoss(Tensor logprobs, Tensor oldLogprobs, Tensor advantages, Tensor mask,
                                             PolicyLossOptions options, Tensor gradLogprobs) {
        long[] bt = Checks.batchShape("logprobs", logprobs);
        Checks.tokens("logprobs", logprobs, bt[0], bt[1]);
        Checks.tokens("old_logprobs", oldLogprobs, bt[0], bt[1]);
        Checks.tokens("advantages", advantages, bt[0], bt[1]);
        Checks.mask("mask", mask, bt[0], bt[1]);
        Params.notNull("options", options);
        Checks.output("grad_logprobs", gradLogprobs, bt);
        where("logprobs", logprobs); where("old_logprobs", oldLogprobs); where("advantages", advantages);
        where("mask", mask); where("grad_logprobs", gradLogprobs);
        return policyLossImpl(logprobs, oldLogprobs, advantages, mask, options, gradLogprobs);
    }

    @Override
    public final ValueLossResult valueLoss(Tensor values, Tensor oldValues, Tensor returns, Tensor mask,
                                           ValueLossOptions options, Tensor gradValues) {
        long[] bt = Checks.batchShape("values", values);
        Checks.tokens("values", values, bt[0], bt[1]);
        Checks.tokens("old_values", oldValues, bt[0], bt[1]);
        Checks.tokens("returns", returns, bt[0], bt[1]);
        Checks.mask("mask", mask, bt[0], bt[1]);
        Params.notNull("options", options);
        Checks.output("grad_values", gradValues, bt);
        where("values", values); where("old_values", oldValues); where("returns", returns);
        where("mask", mask); where("grad_values", gradValues);
        return valueLossImpl(values, oldValues, returns, mask, options, gradValues);
    }

    @Override
    public final PpoLossResult ppoLoss(PpoLossInputs in, PpoLossOptions options, Tensor gradLogprobs, Tensor gradValues,
                                       Tensor gradEntropy) {
        Params.notNull("inputs", in);
        long[] bt = Checks.batchShape("logprobs", in.logprobs());
        Checks.tokens("logprobs", in.logprobs(), bt[0], bt[1]);
        Checks.tokens("old_logprobs", in.oldLogprobs(), bt[0], bt[1]);
        Checks.tokens("advantages", in.advantages(), bt[0], bt[1]);
        Checks.tokens("values", in.values(), bt[0], bt[1]);
        Checks.tokens("old_values", in.oldValues(), bt[0], bt[1]);
        Checks.tokens("returns", in.returns(), bt[0], bt[1]);
        Checks.mask("mask", in.mask(), bt[0], bt[1]);
        if (in.valueMask() != null) Checks.mask("value_mask", in.valueMask(), bt[0], bt[1]);
        if (in.entropy() != null) Checks.tokens("entropy", in.entropy(), bt[0], bt[1]);
        Params.notNull("options", options);
        Checks.output("grad_logprobs", gradLogprobs, bt);
        Checks.output("grad_values", gradValues, bt);
        if (in.entropy() != null) Checks.output("grad_entropy", gradEntropy, bt);
        for (var e : java.util.Map.of("logprobs", in.logprobs(), "old_logprobs", in.oldLogprobs(),
                "advantages", in.advantages(), "values", in.values(), "old_values", in.oldValues(),
                "returns", in.returns(), "mask", in.mask()).entrySet()) {
            where(e.getKey(), e.getValue());
        }
        where("value_mask", in.valueMask()); where("entropy", in.entropy());
        where("grad_logprobs", gradLogprobs); where("grad_values", gradValues); where("grad_entropy", gradEntropy);
        return ppoLossImpl(in, options, gradLogprobs, gradValues, in.entropy() != null ? gradEntropy : null);
    }

    // ---------------- group advantages ----------------

    @Override
    public final void groupAdvantages(Tensor scores, Tensor mask, GroupOptions options, Tensor advantages) {
        Checks.present("scores", scores);
        Checks.dtype("scores", scores, EnumSet.of(DType.F32));
        if (scores.rank() != 1) throw new IllegalArgumentException("scores: expected shape [B], got " + scores.shapeString());
        long b = scores.dim(0);
        Params.notNull("options", options);
        if (b % options.groupSize() != 0) {
            throw new IllegalArgumentException("scores: batch size " + b + " is not divisible by group_size " + options.groupSize());
        }
        if (mask != null) {
            long[] bt = Checks.batchShape("mask", mask);
            Checks.mask("mask", mask, b, bt[1]);
            Checks.output("advantages", advantages, b, bt[1]);
        } else {
            Checks.output("advantages", advantages, b);
        }
        where("scores", scores); where("mask", mask); where("advantages", advantages);
        groupAdvantagesImpl(scores, mask, options, advantages);
    }

    // ---------------- backend hooks ----------------

    protected abstract void tokenLogprobsImpl(Tensor logits, Tensor labels, LogprobOptions o, Tensor logprobs,
                                              Tensor entropy, Tensor saved);

    protected abstract void tokenLogprobsBackwardImpl(Tensor logits, Tensor labels, Tensor saved, Tensor gradLogprobs,
                                                      Tensor gradEntropy, LogprobOptions o, Tensor gradLogits);

    protected abstract void klPenaltyImpl(Tensor logprobs, Tensor refLogprobs, Tensor mask, KlOptions o, Tensor kl);

    protected abstract void klShapedRewardsImpl(Tensor logprobs, Tensor refLogprobs, Tensor mask, Tensor scores,
                                                RewardOptions o, Tensor rewards, Tensor kl, Tensor rewardMask);

    protected abstract void gaeImpl(Tensor rewards, Tensor values, Tensor mask, GaeOptions o, Tensor advantages,
                                    Tensor returns);

    protected abstract void maskedWhitenImpl(Tensor values, Tensor mask, WhitenOptions o, Tensor whitened);

    protected abstract PolicyLossResult policyLossImpl(Tensor logprobs, Tensor oldLogprobs, Tensor advantages,
                                                       Tensor mask, PolicyLossOptions o, Tensor gradLogprobs);

    protected abstract ValueLossResult valueLossImpl(Tensor values, Tensor oldValues, Tensor returns, Tensor mask,
                                                     ValueLossOptions o, Tensor gradValues);

    protected abstract PpoLossResult ppoLossImpl(PpoLossInputs in, PpoLossOptions o, Tensor gradLogprobs,
                                                 Tensor gradValues, Tensor gradEntropy);

    protected abstract void groupAdvantagesImpl(Tensor scores, Tensor mask, GroupOptions o, Tensor advantages);
}
