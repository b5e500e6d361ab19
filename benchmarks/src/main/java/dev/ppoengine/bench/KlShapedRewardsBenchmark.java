package dev.ppoengine.bench;

import dev.ppoengine.bench.torch.TorchKlShapedRewards;
import dev.ppoengine.kernels.Preset;
import dev.ppoengine.kernels.RewardOptions;
import dev.ppoengine.kernels.Settings;
import dev.ppoengine.tensor.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.infra.Blackhole;

import java.util.function.Supplier;

/**
 * kl_shaped_rewards on logprobs, ref_logprobs, mask [B, T] and scores [B] with the trl-ppov2 preset (k1, kl_coef 0.05,
 * score after the last token, KL dropped at the score slot) → rewards, kl, reward_mask [B, T].
 * torch = trl PPOv2's reward shaping ({@link TorchKlShapedRewards}); size 512×1024.
 */
public class KlShapedRewardsBenchmark extends PerTokenBenchmark {
    /** B×T. */
    @Param({"512x1024"})
    public String size;

    private Tensor rewards, kl, rewardMask;
    private final RewardOptions options = Settings.of(Preset.TRL_PPOV2).rewardOptions();

    @Override
    protected String batchSize() {
        return size;
    }

    @Override
    protected void prepare() {
        rewards = perToken();
        kl = perToken();
        rewardMask = perToken();
    }

    @Override
    protected Supplier<org.bytedeco.pytorch.Tensor[]> torchBaseline() {
        return new TorchKlShapedRewards(batch.logprobs(), batch.refLogprobs(), batch.mask(), batch.scores(), options)::run;
    }

    @Benchmark
    public void klShapedRewards(Blackhole bh) {
        if (ranTorch(bh)) return;
        kernels.klShapedRewards(batch.logprobs(), batch.refLogprobs(), batch.mask(), batch.scores(), options,
                rewards, kl, rewardMask);
        bh.consume(rewards);
        bh.consume(kl);
        bh.consume(rewardMask);
    }
}
