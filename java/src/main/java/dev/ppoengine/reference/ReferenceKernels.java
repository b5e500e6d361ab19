package dev.ppoengine.reference;

import dev.ppoengine.kernels.AbstractKernels;
import dev.ppoengine.kernels.GaeOptions;
import dev.ppoengine.kernels.GroupOptions;
import dev.ppoengine.kernels.KlOptions;
import dev.ppoengine.kernels.LogprobOptions;
import dev.ppoengine.kernels.PolicyLossOptions;
import dev.ppoengine.kernels.PolicyLossResult;
import dev.ppoengine.kernels.PpoLossInputs;
import dev.ppoengine.kernels.PpoLossOptions;
import dev.ppoengine.kernels.PpoLossResult;
import dev.ppoengine.kernels.RewardOptions;
import dev.ppoengine.kernels.ValueLossOptions;
import dev.ppoengine.kernels.ValueLossResult;
import dev.ppoengine.kernels.WhitenOptions;
import dev.ppoengine.tensor.Tensor;

/**
 * The reference backend: every SPEC op as plain Java loops with f64 accumulation, one op per file
 * ({@code *Reference} classes in this package). It is the oracle every other backend is tested against,
 * so it favours the literal formula over speed.
 */
public final class ReferenceKernels extends AbstractKernels {

    public ReferenceKernels() {
        super(false);
    }

    @Override
    public String name() { return "reference"; }

    @Override
    protected void tokenLogprobsImpl(Tensor logits, Tensor labels, LogprobOptions o, Tensor logprobs, Tensor entropy,
                                     Tensor saved) {
        TokenLogprobsReference.forward(logits, labels, o, logprobs, entropy, saved);
    }

    @Override
    protected void tokenLogprobsBackwardImpl(Tensor logits, Tensor labels, Tensor saved, Tensor gradLogprobs,
                                             Tensor gradEntropy, LogprobOptions o, Tensor gradLogits) {
        TokenLogprobsReference.backward(logits, labels, saved, gradLogprobs, gradEntropy, o, gradLogits);
    }

    @Override
    protected void klPenaltyImpl(Tensor logprobs, Tensor refLogprobs, Tensor mask, KlOptions o, Tensor kl) {
        KlPenaltyReference.run(logprobs, refLogprobs, mask, o, kl);
    }

    @Override
    protected void klShapedRewardsImpl(Tensor logprobs, Tensor refLogprobs, Tensor mask, Tensor scores,
                                       RewardOptions o, Tensor rewards, Tensor kl, Tensor rewardMask) {
        KlShapedRewardsReference.run(logprobs, refLogprobs, mask, scores, o, rewards, kl, rewardMask);
    }

    @Override
    protected void gaeImpl(Tensor rewards, Tensor values, Tensor mask, GaeOptions o, Tensor advantages, Tensor returns) {
        GaeReference.run(rewards, values, mask, o, advantages, returns);
    }

    @Override
    protected void maskedWhitenImpl(Tensor values, Tensor mask, WhitenOptions o, Tensor whitened) {
        MaskedWhitenReference.run(values, mask, o, whitened);
    }

    @Override
    protected PolicyLossResult policyLossImpl(Tensor logprobs, Tensor oldLogprobs, Tensor advantages, Tensor mask,
                                              PolicyLossOptions o, Tensor gradLogprobs) {
        return PolicyLossReference.run(logprobs, oldLogprobs, advantages, mask, o, gradLogprobs);
    }

    @Override
    protected ValueLossResult valueLossImpl(Tensor values, Tensor oldValues, Tensor returns, Tensor mask,
                                            ValueLossOptions o, Tensor gradValues) {
        return ValueLossReference.run(values, oldValues, returns, mask, o, gradValues);
    }

    @Override
    protected PpoLossResult ppoLossImpl(PpoLossInputs in, PpoLossOptions o, Tensor gradLogprobs, Tensor gradValues,
                                        Tensor gradEntropy) {
        return PpoLossReference.run(in, o, gradLogprobs, gradValues, gradEntropy);
    }

    @Override
    protected void groupAdvantagesImpl(Tensor scores, Tensor mask, GroupOptions o, Tensor advantages) {
        GroupAdvantagesReference.run(scores, mask, o, advantages);
    }
}
