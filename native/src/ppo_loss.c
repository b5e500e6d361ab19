/*
 * ppo_loss.c — the shared-backbone PPO step as in trl (SPEC "ppo_loss").
 *
 * loss = policy_loss + vf_coef·value_loss − entropy_coef·entropy_loss, entropy_loss = agg(entropy) with the policy
 * aggregation over `mask`; the value part aggregates over `value_mask` (default: mask) with its own options.
 * Gradients: grad_logprobs = d policy/d logprobs, grad_values = vf_coef·d value/d values,
 * grad_entropy = −entropy_coef·d agg/d entropy. The policy pass (policy_loss.c) reads logprobs, old_logprobs,
 * advantages and entropy once; the value pass (value_loss.c) reads values, old_values and returns once.
 * When trl's ratio_threshold guard fires, every loss and gradient is 0 and the statistics are still reported.
 * stats: [0] total, [1] policy, [2] value, [3] entropy_loss, [4..10] policy stats, [11..12] value stats.
 */
#include "ppo_losses.h"

#include <math.h>

#if PPO_ISA == 0

int32_t ppo_loss(void *ctx, const float *logprobs, const float *old_logprobs, const float *advantages,
                 const float *values, const float *old_values, const float *returns, const void *mask,
                 const void *value_mask, int32_t mask_dtype, int32_t value_mask_dtype, const float *entropy,
                 int64_t b, int64_t t, const ppo_policy_params *pp, const ppo_value_params *vp, double vf_coef,
                 double entropy_coef, float *grad_logprobs, float *grad_values, float *grad_entropy,
                 double *stats) {
    ppo_clear_error();
    int32_t st = ppo_check_policy_params("ppo_loss", pp);
    if (st == PPO_OK) st = ppo_check_value_params("ppo_loss", vp);
    if (st != PPO_OK) return st;
    if (value_mask == NULL) {
        value_mask = mask;
        value_mask_dtype = mask_dtype;
    }
    if (b < 0 || t < 0) return ppo_fail(PPO_ERR_INVALID, "ppo_loss: negative shape [%lld, %lld]", (long long)b,
                                        (long long)t);
    if (!ppo_mask_dtype_ok(mask_dtype) || !ppo_mask_dtype_ok(value_mask_dtype)) {
        return ppo_fail(PPO_ERR_INVALID, "ppo_loss: mask: bad dtype codes %d / %d", mask_dtype, value_mask_dtype);
    }
    if (!(vf_coef >= 0) || !isfinite(vf_coef) || !isfinite(entropy_coef)) {
        return ppo_fail(PPO_ERR_INVALID, "ppo_loss: vf_coef must be finite and >= 0, entropy_coef finite; got %g, %g",
                        vf_coef, entropy_coef);
    }
    if (stats == NULL || (b * t > 0 && (logprobs == NULL || old_logprobs == NULL || advantages == NULL ||
                                        values == NULL || old_values == NULL || returns == NULL || mask == NULL ||
                                        grad_logprobs == NULL || grad_values == NULL ||
                                        (entropy != NULL && grad_entropy == NULL)))) {
        return ppo_fail(PPO_ERR_INVALID, "ppo_loss: a required pointer is NULL");
    }
    ppo_policy_job pj = {logprobs, old_logprobs, advantages, entropy, mask, mask_dtype, b, t, pp, entropy_coef,
                         grad_logprobs, grad_entropy};
    ppo_policy_result pr;
    st = ppo_policy_pass(ctx, "ppo_loss", &pj, &pr);
    if (st != PPO_OK) return st;
    int skipped = pr.stats[PPO_PSTAT_SKIPPED] != 0;
    ppo_value_job vj = {values, old_values, returns, value_mask, value_mask_dtype, b, t, vp, vf_coef, grad_values};
    double vs[PPO_VSTAT_COUNT];
    st = ppo_value_pass(ctx, "ppo_loss", &vj, vs);
    if (st != PPO_OK) return st;
    if (skipped) {
        vs[PPO_VSTAT_LOSS] = 0.0;
        memset(grad_values, 0, (size_t)(b * t) * sizeof(float));
    }
    double policy = pr.stats[PPO_PSTAT_LOSS], value = vs[PPO_VSTAT_LOSS], ent = pr.entropy_loss;
    stats[PPO_LSTAT_TOTAL] = policy + vf_coef * value - entropy_coef * ent;
    stats[PPO_LSTAT_POLICY] = policy;
    stats[PPO_LSTAT_VALUE] = value;
    stats[PPO_LSTAT_ENTROPY] = ent;
    for (int k = 0; k < PPO_PSTAT_COUNT; k++) stats[PPO_LSTAT_PSTATS + k] = pr.stats[k];
    for (int k = 0; k < PPO_VSTAT_COUNT; k++) stats[PPO_LSTAT_VSTATS + k] = vs[k];
    return PPO_OK;
}

#endif /* PPO_ISA == 0 */
