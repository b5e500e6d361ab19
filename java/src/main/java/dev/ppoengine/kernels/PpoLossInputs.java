package dev.ppoengine.kernels;

import dev.ppoengine.tensor.Tensor;

/**
 * Inputs of ppo_loss, all [B, T]. {@code valueMask} (null = mask) is the critic's mask (trl PPOv2 and
 * DeepSpeed-Chat train it on the reward mask); {@code entropy} is optional (null = no entropy term).
 */
public record PpoLossInputs(Tensor logprobs, Tensor oldLogprobs, Tensor advantages, Tensor values,
                            Tensor oldValues, Tensor returns, Tensor mask, Tensor valueMask, Tensor entropy) {
    public PpoLossInputs {
        Params.notNull("logprobs", logprobs);
        Params.notNull("old_logprobs", oldLogprobs);
        Params.notNull("advantages", advantages);
        Params.notNull("values", values);
        Params.notNull("old_values", oldValues);
        Params.notNull("returns", returns);
        Params.notNull("mask", mask);
    }

    public Tensor effectiveValueMask() { return valueMask != null ? valueMask : mask; }
}
