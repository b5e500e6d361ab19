package dev.ppoengine.bench;

import dev.ppoengine.bench.torch.TorchPolicyLoss;
import dev.ppoengine.bench.torch.TorchRuntime;
import dev.ppoengine.kernels.PolicyLossOptions;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.kernels.Preset;
import dev.ppoengine.kernels.Settings;
import dev.ppoengine.tensor.Tensor;
import org.openjdk.jmh.annotations.*;
import org.openjdk.jmh.infra.Blackhole;

import java.lang.foreign.Arena;
import java.util.concurrent.TimeUnit;

/**
 * policy_loss forward + backward on logprobs, old_logprobs, advantages, mask [B, T] (clip 0.2, token-mean: preset
 * trl-ppov2) → loss, grad_logprobs [B, T] and the statistics. torch = trl PPOv2's clipped surrogate with autograd
 * backward and its no-grad statistics ({@link TorchPolicyLoss}); size 512×1024.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {BenchConfig.NATIVE_ACCESS, BenchConfig.UNSAFE_ACCESS, BenchConfig.HEAP})
public class PolicyLossBenchmark {
    @Param({"cpu", "torch", "reference"})
    public String backend;

    /** B×T. */
    @Param({"512x1024"})
    public String size;

    private Arena arena;
    private PpoBatch batch;
    private Tensor gradLogprobs;
    private final PolicyLossOptions options = Settings.of(Preset.TRL_PPOV2).policyLossOptions();
    private PpoKernels kernels;
    private TorchPolicyLoss torch;

    @Setup(Level.Trial)
    public void setup() {
        arena = Arena.ofShared();
        batch = PpoBatch.generate(arena, size);
        gradLogprobs = BenchData.zeros(arena, batch.b(), batch.t());
        if (BenchBackends.isTorch(backend)) {
            torch = new TorchPolicyLoss(batch.logprobs(), batch.oldLogprobs(), batch.advantages(), batch.mask(), options);
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
    public void policyLoss(Blackhole bh) {
        if (torch != null) {
            TorchRuntime.run(bh, torch::run);
            return;
        }
        bh.consume(kernels.policyLoss(batch.logprobs(), batch.oldLogprobs(), batch.advantages(), batch.mask(), options,
                gradLogprobs));
        bh.consume(gradLogprobs);
    }
}
