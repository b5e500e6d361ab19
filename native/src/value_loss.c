/*
 * value_loss.c — the clipped value loss, forward and backward in one pass (SPEC "value_loss").
 *
 * Inputs [b, t] f32: values V, old_values Vo, returns R; mask [b, t]. Outputs grad_values [b, t] and
 * stats[PPO_VSTAT_COUNT]. Per token (PPO value clipping as in trl / OpenAI baselines ppo2):
 *   Vc = clamp(V, Vo − ε, Vo + ε) (ε = value_clip, 0 = no clipping: Vc = V),
 *   u1 = (V − R)², u2 = (Vc − R)², L = ½·max(u1, u2).
 *   dL/dV = V − R where u1 > u2; 0 where u2 > u1 (then V lies outside the clip range, where Vc is flat);
 *   at u1 = u2: V − R when Vc = V, else ½(V − R) (torch.max splits a tie evenly; the clipped side is flat).
 *   grad_values = grad_scale · w_row · dL/dV (0 at masked positions), loss = Σ_rows w_row Σ_t m·L,
 *   clipfrac = mean over valid tokens of [u2 > u1].
 * L and the gradient are f32; sums are f64 per row, rows summed in row order afterwards (deterministic).
 */
#include "ppo_losses.h"
#include "ppo_parallel.h"
#include "ppo_simd.h"

#include <stdlib.h>

typedef struct {
    const ppo_value_job *job;
    const double *row_w;
    double *row_stats;   /* [b, 2]: Σ w·m·L, clip count */
} val_args;

PPO_INLINE void value_row(const val_args *a, int64_t r, const int dt) {
    const ppo_value_job *jb = a->job;
    const int64_t t = jb->t, off = r * t;
    const double w = a->row_w[r];
    const float gw = (float)(jb->grad_scale * w);   /* narrowing: gradients are f32 */
    const float eps = (float)jb->p->value_clip;
    vd s_loss = vd_set1(0);
    vi n_clip = vi_set1(0);
    for (int64_t j = 0; j < t; j += VW) {
        int n = t - j < VW ? (int)(t - j) : VW;
        vi m = vi_mask_n(jb->mask, dt, off + j, n);
        vf v = vf_load_n(jb->values + off + j, n);
        vf ret = vf_load_n(jb->returns + off + j, n);
        vf d1 = v - ret, u1 = d1 * d1;
        vf vc = v, u2 = u1;
        if (eps > 0) {
            vf vo = vf_load_n(jb->old_values + off + j, n);
            vc = vf_min(vo + eps, vf_max(vo - eps, v));
            vf d2 = vc - ret;
            u2 = d2 * d2;
        }
        vi c1 = u1 > u2, c2 = u2 > u1;
        vf tie = vf_sel(vc == v, d1, 0.5f * d1);
        vf g = vf_sel(c1, d1, vf_and(~c2, tie));
        vf_store_n(jb->grad + off + j, n, vf_and(m, gw * g));
        s_loss += vd_from(vf_and(m, 0.5f * vf_max(u1, u2)));
        n_clip -= c2 & m;
    }
    a->row_stats[2 * r] = w * vd_hsum(s_loss);
    a->row_stats[2 * r + 1] = (double)vi_hsum(n_clip);
}

void PPO_ISA_FN(ppo_value_rows)(void *args, int64_t begin, int64_t end) {
    val_args *a = (val_args *)args;
    for (int64_t r = begin; r < end; r++) {
        switch (a->job->mask_dtype) {
        case PPO_F32: value_row(a, r, PPO_F32); break;
        case PPO_U8: value_row(a, r, PPO_U8); break;
        case PPO_I32: value_row(a, r, PPO_I32); break;
        default: value_row(a, r, PPO_I64); break;
        }
    }
}

#if PPO_ISA == 0

PPO_DECLARE_VARIANTS(ppo_value_rows);

int32_t ppo_check_value_params(const char *op, const ppo_value_params *p) {
    if (p == NULL) return ppo_fail(PPO_ERR_INVALID, "%s: value params must not be NULL", op);
    if (!(p->value_clip >= 0) || !(p->token_count >= 0) || !(p->agg_norm >= 0)) {
        return ppo_fail(PPO_ERR_INVALID, "%s: value_clip, token_count and agg_norm must be >= 0", op);
    }
    if (p->agg < PPO_AGG_TOKEN_MEAN || p->agg > PPO_AGG_SEQ_MEAN_TOKEN_SUM_NORM) {
        return ppo_fail(PPO_ERR_INVALID, "%s: loss_agg: unknown code %lld", op, (long long)p->agg);
    }
    return PPO_OK;
}

int32_t ppo_value_pass(void *ctx, const char *op, const ppo_value_job *job, double stats[PPO_VSTAT_COUNT]) {
    memset(stats, 0, PPO_VSTAT_COUNT * sizeof(double));
    const int64_t b = job->b, t = job->t;
    if (b == 0 || t == 0) return PPO_OK;
    ppo_row_scratch sc;
    int32_t st = ppo_row_scratch_init(ctx, op, job->mask, job->mask_dtype, b, t, job->p->agg, job->p->token_count,
                                      job->p->agg_norm, 2, &sc);
    if (st != PPO_OK) return st;
    val_args va = {job, sc.w, sc.rs};
    ppo_parallel_for(ppo_threads_for(ppo_ctx_threads(ctx), b * t), b, ppo_grain(t, 1 << 14),
                     ppo_value_rows_table[ppo_ctx_isa(ctx)], &va);
    double loss = 0, clip = 0;
    for (int64_t r = 0; r < b; r++) {
        loss += sc.rs[2 * r];
        clip += sc.rs[2 * r + 1];
    }
    const int64_t n_valid = sc.n_valid;
    ppo_row_scratch_free(&sc);
    stats[PPO_VSTAT_LOSS] = loss;
    stats[PPO_VSTAT_CLIPFRAC] = n_valid > 0 ? clip / (double)n_valid : 0.0;
    return PPO_OK;
}

int32_t value_loss(void *ctx, const float *values, const float *old_values, const float *returns, const void *mask,
                   int32_t mask_dtype, int64_t b, int64_t t, const ppo_value_params *p, float *grad_values,
                   double *stats) {
    ppo_clear_error();
    int32_t st = ppo_check_value_params("value_loss", p);
    if (st != PPO_OK) return st;
    if (b < 0 || t < 0) return ppo_fail(PPO_ERR_INVALID, "value_loss: negative shape [%lld, %lld]", (long long)b,
                                        (long long)t);
    if (!ppo_mask_dtype_ok(mask_dtype)) return ppo_fail(PPO_ERR_INVALID, "value_loss: mask: bad dtype code %d",
                                                        mask_dtype);
    if (stats == NULL || (b * t > 0 && (values == NULL || old_values == NULL || returns == NULL || mask == NULL ||
                                        grad_values == NULL))) {
        return ppo_fail(PPO_ERR_INVALID, "value_loss: a required pointer is NULL");
    }
    ppo_value_job job = {values, old_values, returns, mask, mask_dtype, b, t, p, 1.0, grad_values};
    return ppo_value_pass(ctx, "value_loss", &job, stats);
}

#endif /* PPO_ISA == 0 */
