package dev.ppoengine.bench;

import dev.ppoengine.bench.torch.TorchMaskedWhiten;
import dev.ppoengine.kernels.Preset;
import dev.ppoengine.kernels.Settings;
import dev.ppoengine.kernels.WhitenOptions;
import dev.ppoengine.tensor.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.infra.Blackhole;

import java.util.function.Supplier;

/**
 * masked_whiten of the advantages [B, T] over the whole batch (unbiased variance, eps 1e-8 added, mean removed:
 * preset trl-ppov2) → whitened [B, T], 0 at padding. torch = trl's masked_whiten + masked_fill
 * ({@link TorchMaskedWhiten}); size 512×1024.
 */
public class MaskedWhitenBenchmark extends PerTokenBenchmark {
    /** B×T. */
    @Param({"512x1024"})
    public String size;

    private Tensor whitened;
    private final WhitenOptions options = Settings.of(Preset.TRL_PPOV2).whitenOptions();

    @Override
    protected String batchSize() {
        return size;
    }

    @Override
    protected void prepare() {
        whitened = perToken();
    }

    @Override
    protected Supplier<org.bytedeco.pytorch.Tensor[]> torchBaseline() {
        return new TorchMaskedWhiten(batch.advantages(), batch.mask(), options)::run;
    }

    @Benchmark
    public void maskedWhiten(Blackhole bh) {
        if (ranTorch(bh)) return;
        kernels.maskedWhiten(batch.advantages(), batch.mask(), options, whitened);
        bh.consume(whitened);
    }
}
