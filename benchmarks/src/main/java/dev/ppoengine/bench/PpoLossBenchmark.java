package dev.ppoengine.bench;

import dev.ppoengine.bench.torch.TorchPpoLoss;
import dev.ppoengine.kernels.PpoLossInputs;
import dev.ppoengine.kernels.PpoLossOptions;
import dev.ppoengine.kernels.Preset;
import dev.ppoengine.kernels.Settings;
import dev.ppoengine.tensor.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.infra.Blackhole;

import java.util.function.Supplier;

/**
 * ppo_loss, the shared-backbone step: policy loss + vf_coef · value loss forward and backward in one call (preset
 * trl-ppov2: clip 0.2, value clip 0.2, vf_coef 0.1, token-mean, no entropy term; value mask = mask) → the losses,
 * grad_logprobs and grad_values [B, T], every statistic. torch = trl PPOv2's combined loss with one autograd backward
 * ({@link TorchPpoLoss}); size 512×1024.
 */
public class PpoLossBenchmark extends PerTokenBenchmark {
    /** B×T. */
    @Param({"512x1024"})
    public String size;

    private PpoLossInputs inputs;
    private Tensor gradLogprobs, gradValues;
    private final PpoLossOptions options = Settings.of(Preset.TRL_PPOV2).ppoLossOptions();

    @Override
    protected String batchSize() {
        return size;
    }

    @Override
    protected void prepare() {
        inputs = new PpoLossInputs(batch.logprobs(), batch.oldLogprobs(), batch.advantages(), batch.values(),
                batch.oldValues(), batch.returns(), batch.mask(), null, null);
        gradLogprobs = perToken();
        gradValues = perToken();
    }

    @Override
    protected Supplier<org.bytedeco.pytorch.Tensor[]> torchBaseline() {
        return new TorchPpoLoss(batch.logprobs(), batch.oldLogprobs(), batch.advantages(), batch.values(),
                batch.oldValues(), batch.returns(), batch.mask(), options)::run;
    }

    @Benchmark
    public void ppoLoss(Blackhole bh) {
        if (ranTorch(bh)) return;
        bh.consume(kernels.ppoLoss(inputs, options, gradLogprobs, gradValues, null));
        bh.consume(gradLogprobs);
        bh.consume(gradValues);
    }
}
