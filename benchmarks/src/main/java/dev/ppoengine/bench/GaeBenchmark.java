package dev.ppoengine.bench;

import dev.ppoengine.bench.torch.TorchGae;
import dev.ppoengine.bench.torch.TorchRuntime;
import dev.ppoengine.kernels.GaeOptions;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.kernels.Preset;
import dev.ppoengine.kernels.Settings;
import dev.ppoengine.tensor.Tensor;
import org.openjdk.jmh.annotations.*;
import org.openjdk.jmh.infra.Blackhole;

import java.lang.foreign.Arena;
import java.util.concurrent.TimeUnit;

/**
 * gae on rewards, values, mask [B, T] (γ = 1, λ = 0.95, masked steps zeroed: preset trl-ppov2) → advantages and
 * returns [B, T]. torch = trl's per-timestep loop over T ({@link TorchGae}); sizes 64×1024 and 512×4096.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {BenchConfig.NATIVE_ACCESS, BenchConfig.UNSAFE_ACCESS, BenchConfig.HEAP})
public class GaeBenchmark {
    @Param({"cpu", "torch", "reference"})
    public String backend;

    /** B×T. */
    @Param({"64x1024", "512x4096"})
    public String size;

    private Arena arena;
    private PpoBatch batch;
    private Tensor advantages;
    private Tensor returns;
    private final GaeOptions options = Settings.of(Preset.TRL_PPOV2).gaeOptions();
    private PpoKernels kernels;
    private TorchGae torch;

    @Setup(Level.Trial)
    public void setup() {
        arena = Arena.ofShared();
        batch = PpoBatch.generate(arena, size);
        advantages = BenchData.zeros(arena, batch.b(), batch.t());
        returns = BenchData.zeros(arena, batch.b(), batch.t());
        if (BenchBackends.isTorch(backend)) torch = new TorchGae(batch.rewards(), batch.values(), batch.mask(), options);
        else kernels = BenchBackends.open(backend);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (kernels != null) kernels.close();
        arena.close();
    }

    @Benchmark
    public void gae(Blackhole bh) {
        if (torch != null) {
            TorchRuntime.run(bh, torch::run);
            return;
        }
        kernels.gae(batch.rewards(), batch.values(), batch.mask(), options, advantages, returns);
        bh.consume(advantages);
        bh.consume(returns);
    }
}
