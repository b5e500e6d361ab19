package dev.ppoengine.cuda;

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
 * The {@code cuda} backend for host tensors (what {@code Backends.select("cuda")} returns, so {@code ppo compute
 * --backend cuda} and the host-tensor test suites run on the GPU): each call copies its inputs to device memory,
 * runs the {@link CudaKernels} op on the device, and copies the outputs back. The copies cost PCIe time; a trainer
 * whose tensors already live on the GPU uses {@link CudaKernels} directly.
 */
public final class CudaStagedKernels extends AbstractKernels {
    private final CudaKernels device;

    public CudaStagedKernels(CudaRuntime runtime) {
        super(false);
        this.device = new CudaKernels(runtime);
    }

    @Override
    public String name() { return device.name(); }

    /** The device kernels this backend stages for. */
    public CudaKernels deviceKernels() { return device; }

    private HostStaging staging() {
        return new HostStaging(device.runtime(), device.stream(), true);
    }

    @Override
    protected void tokenLogprobsImpl(Tensor logits, Tensor labels, LogprobOptions o, Tensor logprobs, Tensor entropy,
                                     Tensor saved) {
        try (HostStaging s = staging()) {
            device.tokenLogprobs(s.in(logits), s.in(labels), o, s.out(logprobs), s.out(entropy), s.out(saved));
            s.finish();
        }
    }

    @Override
    protected void tokenLogprobsBackwardImpl(Tensor logits, Tensor labels, Tensor saved, Tensor gradLogprobs,
                                             Tensor gradEntropy, LogprobOptions o, Tensor gradLogits) {
        try (HostStaging s = staging()) {
            Tensor dLogits = s.in(logits);
            // In place (grad_logits is the logits' memory): the device copy of the logits is overwritten and copied back.
            Tensor dGrad = gradLogits.address() == logits.address() ? dLogits : null;
            if (dGrad != null) s.outputAt(gradLogits, dGrad);
            else dGrad = s.out(gradLogits);
            device.tokenLogprobsBackward(dLogits, s.in(labels), s.in(saved), s.in(gradLogprobs), s.in(gradEntropy), o,
                    dGrad);
            s.finish();
        }
    }

    @Override
    protected void klPenaltyImpl(Tensor logprobs, Tensor refLogprobs, Tensor mask, KlOptions o, Tensor kl) {
        try (HostStaging s = staging()) {
            device.klPenalty(s.in(logprobs), s.in(refLogprobs), s.in(mask), o, s.out(kl));
            s.finish();
        }
    }

    @Override
    protected void klShapedRewardsImpl(Tensor logprobs, Tensor refLogprobs, Tensor mask, Tensor scores, RewardOptions o,
                                       Tensor rewards, Tensor kl, Tensor rewardMask) {
        try (HostStaging s = staging()) {
            device.klShapedRewards(s.in(logprobs), s.in(refLogprobs), s.in(mask), s.in(scores), o, s.out(rewards),
                    s.out(kl), s.out(rewardMask));
            s.finish();
        }
    }

    @Override
    protected void gaeImpl(Tensor rewards, Tensor values, Tensor mask, GaeOptions o, Tensor advantages, Tensor returns) {
        try (HostStaging s = staging()) {
            device.gae(s.in(rewards), s.in(values), s.in(mask), o, s.out(advantages), s.out(returns));
            s.finish();
        }
    }

    @Override
    protected void maskedWhitenImpl(Tensor values, Tensor mask, WhitenOptions o, Tensor whitened) {
        try (HostStaging s = staging()) {
            device.maskedWhiten(s.in(values), s.in(mask), o, s.out(whitened));
            s.finish();
        }
    }

    @Override
    protected PolicyLossResult policyLossImpl(Tensor logprobs, Tensor oldLogprobs, Tensor advantages, Tensor mask,
                                              PolicyLossOptions o, Tensor gradLogprobs) {
        try (HostStaging s = staging()) {
            PolicyLossResult r = device.policyLoss(s.in(logprobs), s.in(oldLogprobs), s.in(advantages), s.in(mask), o,
                    s.out(gradLogprobs));
            s.finish();
            return r;
        }
    }

    @Override
    protected ValueLossResult valueLossImpl(Tensor values, Tensor oldValues, Tensor returns, Tensor mask,
                                            ValueLossOptions o, Tensor gradValues) {
        try (HostStaging s = staging()) {
            ValueLossResult r = device.valueLoss(s.in(values), s.in(oldValues), s.in(returns), s.in(mask), o,
                    s.out(gradValues));
            s.finish();
            return r;
        }
    }

    @Override
    protected PpoLossResult ppoLossImpl(PpoLossInputs in, PpoLossOptions o, Tensor gradLogprobs, Tensor gradValues,
                                        Tensor gradEntropy) {
        try (HostStaging s = staging()) {
            PpoLossInputs d = new PpoLossInputs(s.in(in.logprobs()), s.in(in.oldLogprobs()), s.in(in.advantages()),
                    s.in(in.values()), s.in(in.oldValues()), s.in(in.returns()), s.in(in.mask()), s.in(in.valueMask()),
                    s.in(in.entropy()));
            PpoLossResult r = device.ppoLoss(d, o, s.out(gradLogprobs), s.out(gradValues), s.out(gradEntropy));
            s.finish();
            return r;
        }
    }

    @Override
    protected void groupAdvantagesImpl(Tensor scores, Tensor mask, GroupOptions o, Tensor advantages) {
        try (HostStaging s = staging()) {
            device.groupAdvantages(s.in(scores), s.in(mask), o, s.out(advantages));
            s.finish();
        }
    }

    @Override
    public void close() { device.close(); }
}
