/*
 * ppo_loss.cu — the shared-backbone PPO step (SPEC "ppo_loss", as in trl where actor and critic share one model).
 *
 * Shapes: logprobs, old_logprobs, advantages, values, old_values, returns, mask [B, T]; value_mask [B, T] (nullable
 * = mask; trl PPOv2 / DeepSpeed-Chat train the critic on the reward mask); entropy [B, T] (nullable) →
 * grad_logprobs, grad_values, grad_entropy [B, T] and stats[PPO_LSTAT_COUNT] in host memory:
 *   loss = policy_loss + vf_coef·value_loss − entropy_coef·entropy_loss,  entropy_loss = agg(entropy) over the mask
 *   with the policy's aggregation; grad_values = vf_coef·d value_loss/dV; grad_entropy = −entropy_coef·w_b.
 * trl's ratio_threshold guard zeroes every loss and every gradient (statistics are still reported).
 * One fused elementwise pass reads all inputs once and writes the three gradients (loss_common.cuh).
 */
#include "loss_common.cuh"

extern "C" int32_t ppo_loss(void *ctx, const float *logprobs, const float *old_logprobs, const float *advantages,
                            const float *values, const float *old_values, const float *returns, const void *mask,
                            const void *value_mask, int32_t mask_dtype, int32_t value_mask_dtype, const float *entropy,
                            int64_t b, int64_t t, const ppo_policy_params *pp, const ppo_value_params *vp, double vf_coef,
                            double entropy_coef, float *grad_logprobs, float *grad_values, float *grad_entropy,
                            double *stats) {
    const char *op = "ppo_loss";
    if (b < 0 || t < 0 || pp == nullptr || vp == nullptr || stats == nullptr) {
        return fail(PPO_ERR_INVALID, "%s: bad arguments (shape [%lld, %lld])", op, (long long)b, (long long)t);
    }
    for (int k = 0; k < PPO_LSTAT_COUNT; k++) stats[k] = 0.0;
    if (b * t == 0) return PPO_OK;
    if (logprobs == nullptr || old_logprobs == nullptr || advantages == nullptr || values == nullptr ||
        old_values == nullptr || returns == nullptr || mask == nullptr || grad_logprobs == nullptr ||
        grad_values == nullptr || (entropy != nullptr && grad_entropy == nullptr)) {
        return fail(PPO_ERR_INVALID, "%s: NULL tensor", op);
    }
    cudaStream_t s = static_cast<cudaStream_t>(ctx);
    LossJob job = loss_job(op, true, true, entropy != nullptr, b, t, mask, mask_dtype);
    if (value_mask != nullptr) {
        job.vmask_ptr = value_mask;
        job.vmask_dtype = value_mask_dtype;
    }
    LossArgs &a = job.args;
    a.lp = logprobs;
    a.old_lp = old_logprobs;
    a.adv = advantages;
    a.pp = policy_dev(pp);
    a.pagg = agg_dev(pp->agg, pp->token_count, pp->agg_norm);
    a.grad_lp = grad_logprobs;
    a.val = values;
    a.old_val = old_values;
    a.ret = returns;
    a.vclip = (float)vp->value_clip;  // f32 device arithmetic: parameters rounded once (also vscale, ent_coef)
    a.vagg = agg_dev(vp->agg, vp->token_count, vp->agg_norm);
    a.grad_val = grad_values;
    a.vscale = (float)vf_coef;
    a.ent = entropy;
    a.grad_ent = grad_entropy;
    a.ent_coef = (float)entropy_coef;
    LossSums r = {};
    int32_t rc = run_losses(job, s, r);
    if (rc != PPO_OK) return rc;
    const bool skipped = policy_stats(r, pp, stats + PPO_LSTAT_PSTATS);
    value_stats(r, stats + PPO_LSTAT_VSTATS);
    const double policy = skipped ? 0.0 : r.s[S_PLOSS];
    const double value = skipped ? 0.0 : r.s[S_VLOSS];
    const double ent = skipped || entropy == nullptr ? 0.0 : r.s[S_ENT];
    stats[PPO_LSTAT_VSTATS + PPO_VSTAT_LOSS] = value;
    stats[PPO_LSTAT_POLICY] = policy;
    stats[PPO_LSTAT_VALUE] = value;
    stats[PPO_LSTAT_ENTROPY] = ent;
    stats[PPO_LSTAT_TOTAL] = policy + vf_coef * value - entropy_coef * ent;
    if (skipped) {
        if ((rc = zero_grad(op, grad_logprobs, b * t, s)) != PPO_OK) return rc;
        if ((rc = zero_grad(op, grad_values, b * t, s)) != PPO_OK) return rc;
        if (entropy != nullptr && (rc = zero_grad(op, grad_entropy, b * t, s)) != PPO_OK) return rc;
        return sync(op, s);
    }
    return PPO_OK;
}
