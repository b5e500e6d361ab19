package dev.ppoengine.bench;

import dev.ppoengine.bench.torch.TorchGae;
import dev.ppoengine.kernels.GaeOptions;
import dev.ppoengine.kernels.Preset;
import dev.ppoengine.kernels.Settings;
import dev.ppoengine.tensor.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.infra.Blackhole;

import java.util.function.Supplier;

/**
 * gae on rewards, values, mask [B, T] (γ = 1, λ = 0.95, masked steps zeroed: preset trl-ppov2) → advantages and
 * returns [B, T]. torch = trl's per-timestep loop over T ({@link TorchGae}); sizes 64×1024 and 512×4096.
 */
public class GaeBenchmark extends PerTokenBenchmark {
    /** B×T. */
    @Param({"64x1024", "512x4096"})
    public String size;

    private Tensor advantages, returns;
    private final GaeOptions options = Settings.of(Preset.TRL_PPOV2).gaeOptions();

    @Override
    protected String batchSize() {
        return size;
    }

    @Override
    protected void prepare() {
        advantages = perToken();
        returns = perToken();
    }

    @Override
    protected Supplier<org.bytedeco.pytorch.Tensor[]> torchBaseline() {
        return new TorchGae(batch.rewards(), batch.values(), batch.mask(), options)::run;
    }

    @Benchmark
    public void gae(Blackhole bh) {
        if (ranTorch(bh)) return;
        kernels.gae(batch.rewards(), batch.values(), batch.mask(), options, advantages, returns);
        bh.consume(advantages);
        bh.consume(returns);
    }
}
