package dev.ppoengine.bench;

import dev.ppoengine.bench.torch.TorchPpoLoss;
import dev.ppoengine.bench.torch.TorchRuntime;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.kernels.PpoLossInputs;
import dev.ppoengine.kernels.PpoLossOptions;
import dev.ppoengine.kernels.Preset;
import dev.ppoengine.kernels.Settings;
import dev.ppoengine.tensor.Tensor;
import org.openjdk.jmh.annotations.*;
import org.openjdk.jmh.infra.Blackhole;

import java.lang.foreign.Arena;
import java.util.concurrent.TimeUnit;

/**
 * ppo_loss, the shared-backbone step: policy loss + vf_coef · value loss forward and backward in one call (preset
 * trl-ppov2: clip 0.2, value clip 0.2, vf_coef 0.1, token-mean, no entropy term; value mask = mask) → the losses,
 * grad_logprobs and grad_values [B, T], every statistic. torch = trl PPOv2's combined loss with one autograd backward
 * ({@link TorchPpoLoss}); size 512×1024.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {BenchConfig.NATIVE_ACCESS, BenchConfig.UNSAFE_ACCESS, BenchConfig.HEAP})
public class PpoLossBenchmark {
    @Param({"cpu", "torch", "reference"})
    public String backend;

    /** B×T. */
    @Param({"512x1024"})
    public String size;

    private Arena arena;
    private PpoLossInputs inputs;
    private Tensor gradLogprobs;
    private Tensor gradValues;
    private final PpoLossOptions options = Settings.of(Preset.TRL_PPOV2).ppoLossOptions();
    private PpoKernels kernels;
    private TorchPpoLoss torch;

    @Setup(Level.Trial)
    public void setup() {
        arena = Arena.ofShared();
        PpoBatch batch = PpoBatch.generate(arena, size);
        inputs = new PpoLossInputs(batch.logprobs(), batch.oldLogprobs(), batch.advantages(), batch.values(),
                batch.oldValues(), batch.returns(), batch.mask(), null, null);
        gradLogprobs = BenchData.zeros(arena, batch.b(), batch.t());
        gradValues = BenchData.zeros(arena, batch.b(), batch.t());
        if (BenchBackends.isTorch(backend)) {
            torch = new TorchPpoLoss(batch.logprobs(), batch.oldLogprobs(), batch.advantages(), batch.values(),
                    batch.oldValues(), batch.returns(), batch.mask(), options);
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
    public void ppoLoss(Blackhole bh) {
        if (torch != null) {
            TorchRuntime.run(bh, torch::run);
            return;
        }
        bh.consume(kernels.ppoLoss(inputs, options, gradLogprobs, gradValues, null));
        bh.consume(gradLogprobs);
        bh.consume(gradValues);
    }
}
