/*
 * value_loss.cu — the clipped value (critic) loss, forward and backward in one call (SPEC "value_loss").
 *
 * Shapes: values, old_values, returns, mask [B, T] → grad_values [B, T] f32 and stats[PPO_VSTAT_COUNT]
 * (loss, clipfrac) in host memory. L = ½·max((V − R)², (clamp(V, old ± ε_v) − R)²), trl / DeepSpeed-Chat / verl /
 * OpenRLHF's clipped critic loss; the per-token math and the deterministic reduction are in loss_common.cuh.
 */
#include "loss_common.cuh"

extern "C" int32_t value_loss(void *ctx, const float *values, const float *old_values, const float *returns,
                              const void *mask, int32_t mask_dtype, int64_t b, int64_t t, const ppo_value_params *p,
                              float *grad_values, double *stats) {
    const char *op = "value_loss";
    if (b < 0 || t < 0 || p == nullptr || stats == nullptr) {
        return fail(PPO_ERR_INVALID, "%s: bad arguments (shape [%lld, %lld])", op, (long long)b, (long long)t);
    }
    for (int k = 0; k < PPO_VSTAT_COUNT; k++) stats[k] = 0.0;
    if (b * t == 0) return PPO_OK;
    if (values == nullptr || old_values == nullptr || returns == nullptr || mask == nullptr || grad_values == nullptr) {
        return fail(PPO_ERR_INVALID, "%s: NULL tensor", op);
    }
    cudaStream_t s = static_cast<cudaStream_t>(ctx);
    LossJob job = loss_job(op, false, true, false, b, t, mask, mask_dtype);
    job.args.val = values;
    job.args.old_val = old_values;
    job.args.ret = returns;
    job.args.vclip = (float)p->value_clip;  // f32 device arithmetic: rounded once
    job.args.vagg = agg_dev(p->agg, p->token_count, p->agg_norm);
    job.args.grad_val = grad_values;
    job.args.vscale = 1.0f;
    LossSums r = {};
    int32_t rc = run_losses(job, s, r);
    if (rc != PPO_OK) return rc;
    value_stats(r, stats);
    return PPO_OK;
}
