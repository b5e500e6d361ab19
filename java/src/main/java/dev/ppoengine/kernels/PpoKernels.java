package dev.ppoengine.kernels;

import dev.ppoengine.tensor.Tensor;

/**
 * One method per SPEC op. Inputs and outputs are caller-owned tensors (host segments for the
 * {@code reference} and {@code cpu} backends, device addresses for {@code cuda}); outputs are f32 and
 * dense. Every implementation extends {@link AbstractKernels}, which validates shapes, dtypes, strides,
 * label ranges and parameters before the backend runs, so bad input is an {@link IllegalArgumentException}
 * naming the argument, the expected and the actual value.
 *
 * <p>Shapes: per-token tensors are [B, T]; logits are [N, V] (or [B, T, V]: leading dims flattened)
 * with a row stride; labels have the logits' shape without V; mask is f32/u8/bool/i32/i64, nonzero = valid.
 */
public interface PpoKernels extends AutoCloseable {

    /** Backend name: reference, cpu, cuda, cuda-sim. */
    String name();

    /**
     * token_logprobs forward. logits [N, V] f32/bf16/f16 (row stride allowed), labels [N] i32/i64 →
     * logprobs [N] f32, entropy [N] f32 (nullable = not wanted), saved [N, 3] f32 (nullable) holding per row
     * (lse of z/τ, lse of the entropy logits, mean Σ p·z of the entropy logits) for the backward.
     */
    void tokenLogprobs(Tensor logits, Tensor labels, LogprobOptions options, Tensor logprobs, Tensor entropy, Tensor saved);

    /**
     * token_logprobs_backward: grad_logits[i,j] = (g_i(1[j=y] − p_ij) − h_i p_ij (z'_ij − mean_i)) / τ (SPEC).
     * {@code saved} comes from the forward with the same options; gradEntropy is nullable (= 0);
     * gradLogits has the logits' shape, f32 or the logits' dtype, and may be the logits tensor itself (in place).
     */
    void tokenLogprobsBackward(Tensor logits, Tensor labels, Tensor saved, Tensor gradLogprobs, Tensor gradEntropy,
                               LogprobOptions options, Tensor gradLogits);

    /** kl_penalty: logprobs, ref_logprobs [B, T], mask [B, T] nullable (= all valid) → kl [B, T]. */
    void klPenalty(Tensor logprobs, Tensor refLogprobs, Tensor mask, KlOptions options, Tensor kl);

    /** kl_shaped_rewards: logprobs, ref_logprobs, mask [B, T], scores [B] → rewards, kl, reward_mask [B, T]. */
    void klShapedRewards(Tensor logprobs, Tensor refLogprobs, Tensor mask, Tensor scores, RewardOptions options,
                         Tensor rewards, Tensor kl, Tensor rewardMask);

    /** gae: rewards, values, mask [B, T] → advantages (not whitened), returns [B, T]. */
    void gae(Tensor rewards, Tensor values, Tensor mask, GaeOptions options, Tensor advantages, Tensor returns);

    /** masked_whiten over the whole batch: values, mask [B, T] → whitened [B, T]. */
    void maskedWhiten(Tensor values, Tensor mask, WhitenOptions options, Tensor whitened);

    /** policy_loss forward + backward: logprobs, old_logprobs, advantages, mask [B, T] → scalars and grad_logprobs [B, T]. */
    PolicyLossResult policyLoss(Tensor logprobs, Tensor oldLogprobs, Tensor advantages, Tensor mask,
                                PolicyLossOptions options, Tensor gradLogprobs);

    /** value_loss forward + backward: values, old_values, returns, mask [B, T] → scalars and grad_values [B, T]. */
    ValueLossResult valueLoss(Tensor values, Tensor oldValues, Tensor returns, Tensor mask, ValueLossOptions options,
                              Tensor gradValues);

    /** ppo_loss: the shared-backbone step. gradEntropy is required iff inputs.entropy() is given. */
    PpoLossResult ppoLoss(PpoLossInputs inputs, PpoLossOptions options, Tensor gradLogprobs, Tensor gradValues,
                          Tensor gradEntropy);

    /** group_advantages: scores [B] in consecutive groups → advantages [B], or [B, T] (value × mask) with a mask. */
    void groupAdvantages(Tensor scores, Tensor mask, GroupOptions options, Tensor advantages);

    /** Releases native resources; idempotent. */
    @Override
    default void close() {}
}
