package dev.ppoengine.bench;

import dev.ppoengine.bench.torch.TorchPolicyLoss;
import dev.ppoengine.kernels.PolicyLossOptions;
import dev.ppoengine.kernels.Preset;
import dev.ppoengine.kernels.Settings;
import dev.ppoengine.tensor.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.infra.Blackhole;

import java.util.function.Supplier;

/**
 * policy_loss forward + backward on logprobs, old_logprobs, advantages, mask [B, T] (clip 0.2, token-mean: preset
 * trl-ppov2) → loss, grad_logprobs [B, T] and the statistics. torch = trl PPOv2's clipped surrogate with autograd
 * backward and its no-grad statistics ({@link TorchPolicyLoss}); size 512×1024.
 */
public class PolicyLossBenchmark extends PerTokenBenchmark {
    /** B×T. */
    @Param({"512x1024"})
    public String size;

    private Tensor gradLogprobs;
    private final PolicyLossOptions options = Settings.of(Preset.TRL_PPOV2).policyLossOptions();

    @Override
    protected String batchSize() {
        return size;
    }

    @Override
    protected void prepare() {
        gradLogprobs = perToken();
    }

    @Override
    protected Supplier<org.bytedeco.pytorch.Tensor[]> torchBaseline() {
        return new TorchPolicyLoss(batch.logprobs(), batch.oldLogprobs(), batch.advantages(), batch.mask(), options)::run;
    }

    @Benchmark
    public void policyLoss(Blackhole bh) {
        if (ranTorch(bh)) return;
        bh.consume(kernels.policyLoss(batch.logprobs(), batch.oldLogprobs(), batch.advantages(), batch.mask(), options,
                gradLogprobs));
        bh.consume(gradLogprobs);
    }
}
