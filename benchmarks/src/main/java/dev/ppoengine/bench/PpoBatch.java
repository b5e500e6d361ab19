package dev.ppoengine.bench;

import dev.ppoengine.tensor.Tensor;

import java.lang.foreign.Arena;

/**
 * One seeded PPO batch of per-token tensors [B, T] (f32, mask bool, scores [B]) as the per-token benchmarks read
 * it; distributions in {@link BenchData}. Every backend of a benchmark reads these same bytes.
 */
public record PpoBatch(int b, int t, Tensor mask, Tensor logprobs, Tensor oldLogprobs, Tensor refLogprobs,
                       Tensor advantages, Tensor values, Tensor oldValues, Tensor returns, Tensor rewards, Tensor scores) {

    /** Generates the batch for a "BxT" size parameter. */
    public static PpoBatch generate(Arena arena, String size) {
        int[] bt = BenchConfig.parseSize(size);
        return generate(arena, bt[0], bt[1], BenchConfig.SEED);
    }

    public static PpoBatch generate(Arena arena, int b, int t, long seed) {
        Tensor mask = BenchData.mask(arena, b, t, seed);
        Tensor logprobs = BenchData.uniform(arena, -6, 0, seed + 11, b, t);
        Tensor oldLogprobs = BenchData.perturbed(arena, logprobs, 0.3, seed + 12);
        Tensor refLogprobs = BenchData.perturbed(arena, logprobs, 0.3, seed + 13);
        Tensor advantages = BenchData.uniform(arena, -2, 2, seed + 14, b, t);
        Tensor values = BenchData.uniform(arena, -2, 2, seed + 15, b, t);
        Tensor oldValues = BenchData.perturbed(arena, values, 0.3, seed + 16);
        Tensor returns = BenchData.uniform(arena, -2, 2, seed + 17, b, t);
        Tensor rewards = BenchData.uniform(arena, -2, 2, seed + 18, b, t);
        Tensor scores = BenchData.uniform(arena, -2, 2, seed + 19, b);
        return new PpoBatch(b, t, mask, logprobs, oldLogprobs, refLogprobs, advantages, values, oldValues, returns,
                rewards, scores);
    }
}
