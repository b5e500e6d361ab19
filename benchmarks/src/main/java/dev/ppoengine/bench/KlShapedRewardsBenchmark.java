package dev.ppoengine.bench;

import dev.ppoengine.bench.torch.TorchKlShapedRewards;
import dev.ppoengine.bench.torch.TorchRuntime;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.kernels.Preset;
import dev.ppoengine.kernels.RewardOptions;
import dev.ppoengine.kernels.Settings;
import dev.ppoengine.tensor.Tensor;
import org.openjdk.jmh.annotations.*;
import org.openjdk.jmh.infra.Blackhole;

import java.lang.foreign.Arena;
import java.util.concurrent.TimeUnit;

/**
 * kl_shaped_rewards on logprobs, ref_logprobs, mask [B, T] and scores [B] with the trl-ppov2 preset (k1, kl_coef 0.05,
 * score after the last token, KL dropped at the score slot) → rewards, kl, reward_mask [B, T].
 * torch = trl PPOv2's reward shaping ({@link TorchKlShapedRewards}); size 512×1024.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {BenchConfig.NATIVE_ACCESS, BenchConfig.UNSAFE_ACCESS, BenchConfig.HEAP})
public class KlShapedRewardsBenchmark {
    @Param({"cpu", "torch", "reference"})
    public String backend;

    /** B×T. */
    @Param({"512x1024"})
    public String size;

    private Arena arena;
    private PpoBatch batch;
    private Tensor rewards;
    private Tensor kl;
    private Tensor rewardMask;
    private final RewardOptions options = Settings.of(Preset.TRL_PPOV2).rewardOptions();
    private PpoKernels kernels;
    private TorchKlShapedRewards torch;

    @Setup(Level.Trial)
    public void setup() {
        arena = Arena.ofShared();
        batch = PpoBatch.generate(arena, size);
        rewards = BenchData.zeros(arena, batch.b(), batch.t());
        kl = BenchData.zeros(arena, batch.b(), batch.t());
        rewardMask = BenchData.zeros(arena, batch.b(), batch.t());
        if (BenchBackends.isTorch(backend)) {
            torch = new TorchKlShapedRewards(batch.logprobs(), batch.refLogprobs(), batch.mask(), batch.scores(), options);
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
    public void klShapedRewards(Blackhole bh) {
        if (torch != null) {
            TorchRuntime.run(bh, torch::run);
            return;
        }
        kernels.klShapedRewards(batch.logprobs(), batch.refLogprobs(), batch.mask(), batch.scores(), options,
                rewards, kl, rewardMask);
        bh.consume(rewards);
        bh.consume(kl);
        bh.consume(rewardMask);
    }
}
