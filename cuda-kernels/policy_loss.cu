/*
 * policy_loss.cu — the clipped PPO policy loss, forward and backward in one call (SPEC "policy_loss").
 *
 * Shapes: logprobs, old_logprobs, advantages, mask [B, T] → grad_logprobs [B, T] f32 and stats[PPO_PSTAT_COUNT]
 * (loss, clipfrac, clipfrac_lower, ppo_kl, approx_kl, mean ratio, skipped) in host memory.
 * The per-token math, the aggregation weights and the three-launch deterministic reduction are in loss_common.cuh.
 * trl's ratio_threshold guard (mean ρ over valid tokens > threshold) is decided on the host from the reduced sums:
 * the loss is reported as 0 and the gradient is zeroed, the statistics are kept.
 */
#include "loss_common.cuh"

extern "C" int32_t policy_loss(void *ctx, const float *logprobs, const float *old_logprobs, const float *advantages,
                               const void *mask, int32_t mask_dtype, int64_t b, int64_t t, const ppo_policy_params *p,
                               float *grad_logprobs, double *stats) {
    const char *op = "policy_loss";
    if (b < 0 || t < 0 || p == nullptr || stats == nullptr) {
        return fail(PPO_ERR_INVALID, "%s: bad arguments (shape [%lld, %lld])", op, (long long)b, (long long)t);
    }
    for (int k = 0; k < PPO_PSTAT_COUNT; k++) stats[k] = 0.0;
    if (b * t == 0) return PPO_OK;
    if (logprobs == nullptr || old_logprobs == nullptr || advantages == nullptr || mask == nullptr ||
        grad_logprobs == nullptr) {
        return fail(PPO_ERR_INVALID, "%s: NULL tensor", op);
    }
    cudaStream_t s = static_cast<cudaStream_t>(ctx);
    LossJob job = loss_job(op, true, false, false, b, t, mask, mask_dtype);
    job.args.lp = logprobs;
    job.args.old_lp = old_logprobs;
    job.args.adv = advantages;
    job.args.pp = policy_dev(p);
    job.args.pagg = agg_dev(p->agg, p->token_count, p->agg_norm);
    job.args.grad_lp = grad_logprobs;
    LossSums r = {};
    int32_t rc = run_losses(job, s, r);
    if (rc != PPO_OK) return rc;
    if (policy_stats(r, p, stats)) {
        if ((rc = zero_grad(op, grad_logprobs, b * t, s)) != PPO_OK) return rc;
        return sync(op, s);
    }
    return PPO_OK;
}
