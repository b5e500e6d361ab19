package dev.ppoengine.bench;

import dev.ppoengine.bench.torch.TorchValueLoss;
import dev.ppoengine.kernels.Preset;
import dev.ppoengine.kernels.Settings;
import dev.ppoengine.kernels.ValueLossOptions;
import dev.ppoengine.tensor.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.infra.Blackhole;

import java.util.function.Supplier;

/**
 * value_loss forward + backward on values, old_values, returns, mask [B, T] (value clip 0.2, token-mean: preset
 * trl-ppov2) → loss, grad_values [B, T], clipfrac. torch = trl PPOv2's clipped value loss with autograd backward
 * ({@link TorchValueLoss}); size 512×1024.
 */
public class ValueLossBenchmark extends PerTokenBenchmark {
    /** B×T. */
    @Param({"512x1024"})
    public String size;

    private Tensor gradValues;
    private final ValueLossOptions options = Settings.of(Preset.TRL_PPOV2).valueLossOptions();

    @Override
    protected String batchSize() {
        return size;
    }

    @Override
    protected void prepare() {
        gradValues = perToken();
    }

    @Override
    protected Supplier<org.bytedeco.pytorch.Tensor[]> torchBaseline() {
        return new TorchValueLoss(batch.values(), batch.oldValues(), batch.returns(), batch.mask(), options)::run;
    }

    @Benchmark
    public void valueLoss(Blackhole bh) {
        if (ranTorch(bh)) return;
        bh.consume(kernels.valueLoss(batch.values(), batch.oldValues(), batch.returns(), batch.mask(), options, gradValues));
        bh.consume(gradValues);
    }
}
