package dev.ppoengine.bench;

import dev.ppoengine.bench.torch.TorchRuntime;
import dev.ppoengine.bench.torch.TorchValueLoss;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.kernels.Preset;
import dev.ppoengine.kernels.Settings;
import dev.ppoengine.kernels.ValueLossOptions;
import dev.ppoengine.tensor.Tensor;
import org.openjdk.jmh.annotations.*;
import org.openjdk.jmh.infra.Blackhole;

import java.lang.foreign.Arena;
import java.util.concurrent.TimeUnit;

/**
 * value_loss forward + backward on values, old_values, returns, mask [B, T] (value clip 0.2, token-mean: preset
 * trl-ppov2) → loss, grad_values [B, T], clipfrac. torch = trl PPOv2's clipped value loss with autograd backward
 * ({@link TorchValueLoss}); size 512×1024.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {BenchConfig.NATIVE_ACCESS, BenchConfig.UNSAFE_ACCESS, BenchConfig.HEAP})
public class ValueLossBenchmark {
    @Param({"cpu", "torch", "reference"})
    public String backend;

    /** B×T. */
    @Param({"512x1024"})
    public String size;

    private Arena arena;
    private PpoBatch batch;
    private Tensor gradValues;
    private final ValueLossOptions options = Settings.of(Preset.TRL_PPOV2).valueLossOptions();
    private PpoKernels kernels;
    private TorchValueLoss torch;

    @Setup(Level.Trial)
    public void setup() {
        arena = Arena.ofShared();
        batch = PpoBatch.generate(arena, size);
        gradValues = BenchData.zeros(arena, batch.b(), batch.t());
        if (BenchBackends.isTorch(backend)) {
            torch = new TorchValueLoss(batch.values(), batch.oldValues(), batch.returns(), batch.mask(), options);
        } else {
            kernels = BenchBackends.open(backend);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (kernels != null) kernels.close();
        arena.close();
    }

    @Benchmark
    public void valueLoss(Blackhole bh) {
        if (torch != null) {
            TorchRuntime.run(bh, torch::run);
            return;
        }
        bh.consume(kernels.valueLoss(batch.values(), batch.oldValues(), batch.returns(), batch.mask(), options, gradValues));
        bh.consume(gradValues);
    }
}
