/*
 * kl_shaped_rewards.c — KL-shaped per-token rewards (SPEC "kl_shaped_rewards"; Ziegler et al. 2019, as in trl and
 * DeepSpeed-Chat).
 *
 * logprobs, ref_logprobs, mask [b, t], scores [b] -> rewards, kl, reward_mask [b, t] (f32). Per row:
 *   last = the last valid position; a row without one gets all-zero rewards, kl and reward_mask;
 *   t* = last (score_position=last) or min(last + 1, t − 1) (after_last);
 *   region = mask, plus t* for after_last; reward_mask = region (1/0);
 *   kl = kl_penalty estimate on the region, except that with after_last and kl_at_score_slot=zero the KL at t* is
 *        dropped when t* is not itself a valid position (trl PPOv2 fills logprobs only past the sequence end);
 *   rewards = −kl_coef·kl + [t = t*]·clip(score, ±score_clip)  (score_clip 0 = off; the t* entry in f64).
 * Rows in parallel; no reduction.
 */
#include "ppo_kl.h"
#include "ppo_parallel.h"

#include <math.h>

typedef struct {
    const float *lp, *ref;
    const void *mask;
    int32_t mask_dtype;
    const float *scores;
    int64_t t;
    ppo_kl_opts o;
    double kl_coef;
    int32_t after_last, drop_slot_kl;
    double score_clip;
    float *rewards, *kl, *reward_mask;
} rw_args;

PPO_INLINE void reward_row(const rw_args *a, int64_t r, const int dt) {
    const int64_t t = a->t, off = r * t;
    int64_t last = -1;
    for (int64_t j = t - 1; j >= 0; j--) {
        if (ppo_mask_at(a->mask, dt, off + j)) {
            last = j;
            break;
        }
    }
    if (last < 0) {
        memset(a->rewards + off, 0, (size_t)t * sizeof(float));
        memset(a->kl + off, 0, (size_t)t * sizeof(float));
        memset(a->reward_mask + off, 0, (size_t)t * sizeof(float));
        return;
    }
    int64_t ts = a->after_last ? (last + 1 < t ? last + 1 : t - 1) : last;
    int slot_valid = ppo_mask_at(a->mask, dt, off + ts);
    int drop = a->drop_slot_kl && !slot_valid;
    const float nkc = (float)(-a->kl_coef);   /* narrowing: rewards are f32 */
    for (int64_t j = 0; j < t; j += VW) {
        int n = t - j < VW ? (int)(t - j) : VW;
        vi m = vi_mask_n(a->mask, dt, off + j, n);
        int64_t ds = ts - j;
        if (ds >= 0 && ds < VW) {
            vi slot = vi_iota() == (int32_t)ds;
            m = drop ? (m & ~slot) : (m | slot);   /* the KL region: mask ± the score slot */
        }
        vf k = vf_and(m, ppo_kl_vec(vf_load_n(a->lp + off + j, n), vf_load_n(a->ref + off + j, n), &a->o));
        vi region = vi_mask_n(a->mask, dt, off + j, n);
        if (ds >= 0 && ds < VW) region |= vi_iota() == (int32_t)ds;
        vf_store_n(a->kl + off + j, n, k);
        vf_store_n(a->rewards + off + j, n, nkc * k);
        vf_store_n(a->reward_mask + off + j, n, vf_and(region, vf_set1(1.0f)));
    }
    double s = a->scores[r];
    if (a->score_clip > 0) s = s > a->score_clip ? a->score_clip : s < -a->score_clip ? -a->score_clip : s;
    a->rewards[off + ts] = (float)(-a->kl_coef * (double)a->kl[off + ts] + s);   /* narrowing: f32 output */
}

void PPO_ISA_FN(kl_shaped_rewards_rows)(void *args, int64_t begin, int64_t end) {
    const rw_args *a = (const rw_args *)args;
    for (int64_t r = begin; r < end; r++) {
        switch (a->mask_dtype) {
        case PPO_F32: reward_row(a, r, PPO_F32); break;
        case PPO_U8: reward_row(a, r, PPO_U8); break;
        case PPO_I32: reward_row(a, r, PPO_I32); break;
        default: reward_row(a, r, PPO_I64); break;
        }
    }
}

#if PPO_ISA == 0

PPO_DECLARE_VARIANTS(kl_shaped_rewards_rows);

int32_t kl_shaped_rewards(void *ctx, const float *logprobs, const float *ref_logprobs, const void *mask,
                          int32_t mask_dtype, const float *scores, int64_t b, int64_t t, int32_t estimator,
                          double input_clamp, double output_clamp, double kl_coef, int32_t score_position,
                          double score_clip, int32_t kl_at_score_slot, float *rewards, float *kl, float *reward_mask) {
    ppo_clear_error();
    int32_t st = ppo_kl_check("kl_shaped_rewards", estimator, input_clamp, output_clamp);
    if (st != PPO_OK) return st;
    if (b < 0 || t < 0) {
        return ppo_fail(PPO_ERR_INVALID, "kl_shaped_rewards: negative shape [%lld, %lld]", (long long)b, (long long)t);
    }
    if (!ppo_mask_dtype_ok(mask_dtype)) {
        return ppo_fail(PPO_ERR_INVALID, "kl_shaped_rewards: mask: bad dtype code %d", mask_dtype);
    }
    if (score_position != PPO_SCORE_LAST && score_position != PPO_SCORE_AFTER_LAST) {
        return ppo_fail(PPO_ERR_INVALID, "kl_shaped_rewards: score_position: unknown code %d", score_position);
    }
    if (kl_at_score_slot != PPO_SLOT_KEEP && kl_at_score_slot != PPO_SLOT_ZERO) {
        return ppo_fail(PPO_ERR_INVALID, "kl_shaped_rewards: kl_at_score_slot: unknown code %d", kl_at_score_slot);
    }
    if (!isfinite(kl_coef) || !(score_clip >= 0)) {
        return ppo_fail(PPO_ERR_INVALID, "kl_shaped_rewards: kl_coef must be finite and score_clip >= 0, got %g, %g",
                        kl_coef, score_clip);
    }
    if (b * t == 0) return PPO_OK;
    if (logprobs == NULL || ref_logprobs == NULL || mask == NULL || scores == NULL || rewards == NULL || kl == NULL ||
        reward_mask == NULL) {
        return ppo_fail(PPO_ERR_INVALID, "kl_shaped_rewards: a required pointer is NULL");
    }
    rw_args a = {logprobs, ref_logprobs, mask, mask_dtype, scores, t,
                 {estimator, (float)input_clamp, (float)output_clamp},   /* narrowing: f32 clamps */
                 kl_coef, score_position == PPO_SCORE_AFTER_LAST,
                 score_position == PPO_SCORE_AFTER_LAST && kl_at_score_slot == PPO_SLOT_ZERO, score_clip,
                 rewards, kl, reward_mask};
    ppo_parallel_for(ppo_threads_for(ppo_ctx_threads(ctx), b * t), b, ppo_grain(t, 1 << 14),
                     kl_shaped_rewards_rows_table[ppo_ctx_isa(ctx)], &a);
    return PPO_OK;
}

#endif /* PPO_ISA == 0 */
