/*
 * policy_loss.c — the clipped PPO policy loss, forward and backward in one pass (SPEC "policy_loss").
 *
 * Inputs [b, t] f32: logprobs, old_logprobs, advantages; mask [b, t] (any mask dtype). Outputs grad_logprobs [b, t]
 * and stats[PPO_PSTAT_COUNT] (host f64). Per token (Schulman et al. 2017, eq. 7; dual clip: Ye et al. 2020):
 *   x = clamp(logprobs − old_logprobs, ±log_ratio_clamp) (clamp 0 = off; dx/dlogprobs = 0 where |x_raw| > clamp),
 *   ρ = e^x, L1 = −A·ρ, L2 = −A·clip(ρ, 1 − clip_low, 1 + clip_high), L = max(L1, L2),
 *   dual clip c > 1: where A < 0, L = min(L, −A·c).
 *   dL/dρ = −A, except 0 where L2 > L1 (ρ outside the clip range: clip is flat there) or where the dual cap binds.
 *   (At L1 = L2 inside the clip range both branches have the gradient −A.)
 *   grad_logprobs = w_row · dL/dρ · ρ · dx, loss = Σ_rows w_row Σ_t m·L (weights: loss_agg.c).
 * Statistics are means over valid tokens: clipfrac = mean[L2 > L1], clipfrac_lower = mean[A < 0 ∧ max(L1,L2) > −A·c],
 * ppo_kl = mean(−x), approx_kl = mean(½x²), mean_ratio = mean(ρ). ratio_threshold r > 0 (trl): when mean_ratio > r
 * the loss and every gradient are 0 (SKIPPED = 1), the statistics are still reported.
 * ρ, L and the gradient are f32 (vf_exp); every sum is f64 per row, rows summed in row order afterwards.
 */
#include "ppo_losses.h"
#include "ppo_parallel.h"
#include "ppo_simd.h"

#include <math.h>
#include <stdlib.h>

enum { RS_LOSS, RS_CLIP, RS_LOWER, RS_NEGX, RS_HALFX2, RS_RHO, RS_ENT, RS_COUNT };

typedef struct {
    const ppo_policy_job *job;
    const double *row_w;
    double *row_stats;   /* [b, RS_COUNT] */
} pol_args;

PPO_INLINE void policy_row(const pol_args *a, int64_t r, const int dt, const int has_ent) {
    const ppo_policy_job *jb = a->job;
    const ppo_policy_params *p = jb->p;
    const int64_t t = jb->t, off = r * t;
    const double w = a->row_w[r];
    const float wf = (float)w;                                   /* narrowing: gradients are f32 */
    const float ent_g = (float)(-jb->entropy_coef * w);          /* narrowing: as above */
    const float lo = (float)(1.0 - p->clip_low), hi = (float)(1.0 + p->clip_high);
    const float clamp = (float)p->log_ratio_clamp, dual = (float)p->dual_clip;
    vd s_loss = vd_set1(0), s_negx = vd_set1(0), s_hx2 = vd_set1(0), s_rho = vd_set1(0), s_ent = vd_set1(0);
    vi n_clip = vi_set1(0), n_lower = vi_set1(0);
    for (int64_t j = 0; j < t; j += VW) {
        int n = t - j < VW ? (int)(t - j) : VW;
        vi m = vi_mask_n(jb->mask, dt, off + j, n);
        vf lp = vf_load_n(jb->logprobs + off + j, n);
        vf old = vf_load_n(jb->old_logprobs + off + j, n);
        vf A = vf_load_n(jb->advantages + off + j, n);
        vf x = lp - old, dx = vf_set1(1.0f);
        if (clamp > 0) {
            dx = vf_and(vf_abs(x) <= clamp, dx);
            x = vf_min(vf_set1(clamp), vf_max(vf_set1(-clamp), x));
        }
        vf rho = vf_exp(x);
        vf l1 = -A * rho;
        vf l2 = -A * vf_min(vf_set1(hi), vf_max(vf_set1(lo), rho));
        vi use2 = l2 > l1;
        vf loss = vf_max(l1, l2);
        vf dl = vf_sel(use2, vf_set1(0.0f), -A);
        if (dual > 0) {
            vf l3 = -A * dual;
            vi cap = (A < 0.0f) & (loss > l3);
            loss = vf_sel(cap, l3, loss);
            dl = vf_and(~cap, dl);
            n_lower -= cap & m;
        }
        vf_store_n(jb->grad + off + j, n, vf_and(m, wf * dl * rho * dx));
        s_loss += vd_from(vf_and(m, loss));
        s_negx += vd_from(vf_and(m, -x));
        s_hx2 += vd_from(vf_and(m, 0.5f * x * x));
        s_rho += vd_from(vf_and(m, rho));
        n_clip -= use2 & m;
        if (has_ent) {
            s_ent += vd_from(vf_and(m, vf_load_n(jb->entropy + off + j, n)));
            vf_store_n(jb->grad_entropy + off + j, n, vf_and(m, vf_set1(ent_g)));
        }
    }
    double *st = a->row_stats + r * RS_COUNT;
    st[RS_LOSS] = w * vd_hsum(s_loss);
    st[RS_CLIP] = (double)vi_hsum(n_clip);
    st[RS_LOWER] = (double)vi_hsum(n_lower);
    st[RS_NEGX] = vd_hsum(s_negx);
    st[RS_HALFX2] = vd_hsum(s_hx2);
    st[RS_RHO] = vd_hsum(s_rho);
    st[RS_ENT] = w * vd_hsum(s_ent);
}

void PPO_ISA_FN(ppo_policy_rows)(void *args, int64_t begin, int64_t end) {
    pol_args *a = (pol_args *)args;
    int has_ent = a->job->entropy != NULL;
    for (int64_t r = begin; r < end; r++) {
        switch (a->job->mask_dtype) {
        case PPO_F32: has_ent ? policy_row(a, r, PPO_F32, 1) : policy_row(a, r, PPO_F32, 0); break;
        case PPO_U8: has_ent ? policy_row(a, r, PPO_U8, 1) : policy_row(a, r, PPO_U8, 0); break;
        case PPO_I32: has_ent ? policy_row(a, r, PPO_I32, 1) : policy_row(a, r, PPO_I32, 0); break;
        default: has_ent ? policy_row(a, r, PPO_I64, 1) : policy_row(a, r, PPO_I64, 0); break;
        }
    }
}

#if PPO_ISA == 0

PPO_DECLARE_VARIANTS(ppo_policy_rows);

int32_t ppo_check_policy_params(const char *op, const ppo_policy_params *p) {
    if (p == NULL) return ppo_fail(PPO_ERR_INVALID, "%s: policy params must not be NULL", op);
    if (!(p->clip_low >= 0) || !(p->clip_high >= 0) || !(p->log_ratio_clamp >= 0) || !(p->ratio_threshold >= 0) ||
        !(p->token_count >= 0) || !(p->agg_norm >= 0)) {
        return ppo_fail(PPO_ERR_INVALID, "%s: clip_low, clip_high, log_ratio_clamp, token_count, agg_norm and "
                        "ratio_threshold must be >= 0", op);
    }
    if (!(p->dual_clip == 0 || p->dual_clip > 1)) {
        return ppo_fail(PPO_ERR_INVALID, "%s: dual_clip must be > 1 (or 0 = off), got %g", op, p->dual_clip);
    }
    if (p->agg < PPO_AGG_TOKEN_MEAN || p->agg > PPO_AGG_SEQ_MEAN_TOKEN_SUM_NORM) {
        return ppo_fail(PPO_ERR_INVALID, "%s: loss_agg: unknown code %lld", op, (long long)p->agg);
    }
    return PPO_OK;
}

int32_t ppo_policy_pass(void *ctx, const char *op, const ppo_policy_job *job, ppo_policy_result *res) {
    memset(res, 0, sizeof *res);
    const int64_t b = job->b, t = job->t;
    if (b == 0 || t == 0) return PPO_OK;
    ppo_row_scratch sc;
    int32_t st = ppo_row_scratch_init(ctx, op, job->mask, job->mask_dtype, b, t, job->p->agg, job->p->token_count,
                                      job->p->agg_norm, RS_COUNT, &sc);
    if (st != PPO_OK) return st;
    pol_args pa = {job, sc.w, sc.rs};
    ppo_parallel_for(ppo_threads_for(ppo_ctx_threads(ctx), b * t), b, ppo_grain(t, 1 << 14),
                     ppo_policy_rows_table[ppo_ctx_isa(ctx)], &pa);
    double sum[RS_COUNT] = {0};
    for (int64_t r = 0; r < b; r++) {
        for (int k = 0; k < RS_COUNT; k++) sum[k] += sc.rs[r * RS_COUNT + k];
    }
    const int64_t n_valid = sc.n_valid;
    ppo_row_scratch_free(&sc);
    double inv = n_valid > 0 ? 1.0 / (double)n_valid : 0.0;
    double mean_ratio = sum[RS_RHO] * inv;
    int skipped = job->p->ratio_threshold > 0 && mean_ratio > job->p->ratio_threshold;
    res->stats[PPO_PSTAT_LOSS] = skipped ? 0.0 : sum[RS_LOSS];
    res->stats[PPO_PSTAT_CLIPFRAC] = sum[RS_CLIP] * inv;
    res->stats[PPO_PSTAT_CLIPFRAC_LOWER] = sum[RS_LOWER] * inv;
    res->stats[PPO_PSTAT_PPO_KL] = sum[RS_NEGX] * inv;
    res->stats[PPO_PSTAT_APPROX_KL] = sum[RS_HALFX2] * inv;
    res->stats[PPO_PSTAT_MEAN_RATIO] = mean_ratio;
    res->stats[PPO_PSTAT_SKIPPED] = skipped;
    res->entropy_loss = skipped ? 0.0 : sum[RS_ENT];
    if (skipped) {
        memset(job->grad, 0, (size_t)(b * t) * sizeof(float));
        if (job->entropy != NULL) memset(job->grad_entropy, 0, (size_t)(b * t) * sizeof(float));
    }
    return PPO_OK;
}

int32_t policy_loss(void *ctx, const float *logprobs, const float *old_logprobs, const float *advantages,
                    const void *mask, int32_t mask_dtype, int64_t b, int64_t t, const ppo_policy_params *p,
                    float *grad_logprobs, double *stats) {
    ppo_clear_error();
    int32_t st = ppo_check_policy_params("policy_loss", p);
    if (st != PPO_OK) return st;
    if (b < 0 || t < 0) return ppo_fail(PPO_ERR_INVALID, "policy_loss: negative shape [%lld, %lld]", (long long)b,
                                        (long long)t);
    if (!ppo_mask_dtype_ok(mask_dtype)) return ppo_fail(PPO_ERR_INVALID, "policy_loss: mask: bad dtype code %d",
                                                        mask_dtype);
    if (stats == NULL || (b * t > 0 && (logprobs == NULL || old_logprobs == NULL || advantages == NULL ||
                                        mask == NULL || grad_logprobs == NULL))) {
        return ppo_fail(PPO_ERR_INVALID, "policy_loss: a required pointer is NULL");
    }
    ppo_policy_job job = {logprobs, old_logprobs, advantages, NULL, mask, mask_dtype, b, t, p, 0.0, grad_logprobs,
                          NULL};
    ppo_policy_result res;
    st = ppo_policy_pass(ctx, "policy_loss", &job, &res);
    if (st != PPO_OK) return st;
    memcpy(stats, res.stats, sizeof res.stats);
    return PPO_OK;
}

#endif /* PPO_ISA == 0 */
