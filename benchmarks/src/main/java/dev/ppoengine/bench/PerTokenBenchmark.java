package dev.ppoengine.bench;

import dev.ppoengine.bench.torch.TorchRuntime;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.tensor.Tensor;
import org.openjdk.jmh.annotations.*;
import org.openjdk.jmh.infra.Blackhole;

import java.lang.foreign.Arena;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * What the per-token op benchmarks share (gae, kl_shaped_rewards, masked_whiten, policy_loss, value_loss, ppo_loss):
 * the JMH settings, the {@code backend} parameter, one seeded {@link PpoBatch} per trial, and either an engine backend
 * or the op's PyTorch baseline. A subclass declares its {@code size} parameter (B×T), allocates its outputs in
 * {@link #prepare}, builds its baseline in {@link #torchBaseline} (called for backend torch only), and starts its
 * {@code @Benchmark} method with {@code if (ranTorch(bh)) return;}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {BenchConfig.NATIVE_ACCESS, BenchConfig.UNSAFE_ACCESS, BenchConfig.HEAP})
public abstract class PerTokenBenchmark {
    @Param({"cpu", "torch", "reference"})
    public String backend;

    protected Arena arena;
    protected PpoBatch batch;
    /** The engine backend (null for backend torch). */
    protected PpoKernels kernels;
    private Supplier<org.bytedeco.pytorch.Tensor[]> torch;

    /** B×T of the batch: the subclass's {@code size} parameter. */
    protected abstract String batchSize();

    /** Allocates the outputs (and anything else the op needs) once {@link #batch} exists. */
    protected abstract void prepare();

    /** The PyTorch baseline on {@link #batch}: one invocation returns its outputs. */
    protected abstract Supplier<org.bytedeco.pytorch.Tensor[]> torchBaseline();

    @Setup(Level.Trial)
    public void setup() {
        arena = Arena.ofShared();
        batch = PpoBatch.generate(arena, batchSize());
        prepare();
        if (BenchBackends.isTorch(backend)) torch = torchBaseline();
        else kernels = BenchBackends.open(backend);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (kernels != null) kernels.close();
        arena.close();
    }

    /** A zeroed f32 [B, T] output in the trial's arena. */
    protected Tensor perToken() {
        return BenchData.zeros(arena, batch.b(), batch.t());
    }

    /** For backend torch: runs the baseline once (its temporaries freed) and returns true; false otherwise. */
    protected final boolean ranTorch(Blackhole bh) {
        if (torch == null) return false;
        TorchRuntime.run(bh, torch);
        return true;
    }
}
