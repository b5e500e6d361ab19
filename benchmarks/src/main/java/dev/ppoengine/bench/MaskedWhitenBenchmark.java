package dev.ppoengine.bench;

import dev.ppoengine.bench.torch.TorchMaskedWhiten;
import dev.ppoengine.bench.torch.TorchRuntime;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.kernels.Preset;
import dev.ppoengine.kernels.Settings;
import dev.ppoengine.kernels.WhitenOptions;
import dev.ppoengine.tensor.Tensor;
import org.openjdk.jmh.annotations.*;
import org.openjdk.jmh.infra.Blackhole;

import java.lang.foreign.Arena;
import java.util.concurrent.TimeUnit;

/**
 * masked_whiten of the advantages [B, T] over the whole batch (unbiased variance, eps 1e-8 added, mean removed:
 * preset trl-ppov2) → whitened [B, T], 0 at padding. torch = trl's masked_whiten + masked_fill
 * ({@link TorchMaskedWhiten}); size 512×1024.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {BenchConfig.NATIVE_ACCESS, BenchConfig.UNSAFE_ACCESS, BenchConfig.HEAP})
public class MaskedWhitenBenchmark {
    @Param({"cpu", "torch", "reference"})
    public String backend;

    /** B×T. */
    @Param({"512x1024"})
    public String size;

    private Arena arena;
    private PpoBatch batch;
    private Tensor whitened;
    private final WhitenOptions options = Settings.of(Preset.TRL_PPOV2).whitenOptions();
    private PpoKernels kernels;
    private TorchMaskedWhiten torch;

    @Setup(Level.Trial)
    public void setup() {
        arena = Arena.ofShared();
        batch = PpoBatch.generate(arena, size);
        whitened = BenchData.zeros(arena, batch.b(), batch.t());
        if (BenchBackends.isTorch(backend)) torch = new TorchMaskedWhiten(batch.advantages(), batch.mask(), options);
        else kernels = BenchBackends.open(backend);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (kernels != null) kernels.close();
        arena.close();
    }

    @Benchmark
    public void maskedWhiten(Blackhole bh) {
        if (torch != null) {
            TorchRuntime.run(bh, torch::run);
            return;
        }
        kernels.maskedWhiten(batch.advantages(), batch.mask(), options, whitened);
        bh.consume(whitened);
    }
}
