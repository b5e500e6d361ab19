/*
 * gae.c — generalised advantage estimation (SPEC "gae"; Schulman et al. 2016, "High-Dimensional Continuous Control
 * Using Generalized Advantage Estimation", eq. 16).
 *
 * rewards r, values V, mask [b, t] -> advantages A, returns [b, t] (f32). Backwards over t, V_T = A_T = 0:
 *   δ_t = r_t + γ·V_{t+1} − V_t,  A_t = δ_t + γλ·A_{t+1},  returns = A + V.
 *   masked_steps=zero: r and V are multiplied by the mask first and every step runs (trl, OpenRLHF);
 *   masked_steps=skip: a masked step carries the running next value and advantage through unchanged (verl).
 * Outputs at masked positions are 0 in both modes.
 * One pass per row, rows in parallel; the recurrence runs in f64 (a λ = γ = 1 row is a suffix sum of t terms,
 * which f32 would not keep within the SPEC tolerance for long rows). Rows are independent: no reduction.
 */
#include "ppo_internal.h"
#include "ppo_parallel.h"

typedef struct {
    const float *r, *v;
    const void *mask;
    int32_t mask_dtype;
    int64_t t;
    double gamma, gl;   /* γ, γ·λ */
    int32_t skip;
    float *adv, *ret;
} gae_args;

PPO_INLINE void gae_row(const gae_args *a, int64_t row, const int dt, const int skip) {
    const int64_t t = a->t, off = row * t;
    const float *r = a->r + off, *v = a->v + off;
    float *adv = a->adv + off, *ret = a->ret + off;
    const double gamma = a->gamma, gl = a->gl;
    double next_v = 0.0, run = 0.0;
    for (int64_t j = t - 1; j >= 0; j--) {
        int m = ppo_mask_at(a->mask, dt, off + j);
        if (skip && !m) {
            adv[j] = 0.0f;
            ret[j] = 0.0f;
            continue;
        }
        double vj = m ? (double)v[j] : 0.0, rj = m ? (double)r[j] : 0.0;
        run = (rj + gamma * next_v - vj) + gl * run;
        next_v = vj;
        /* narrowing: f32 outputs */
        adv[j] = m ? (float)run : 0.0f;
        ret[j] = m ? (float)(run + vj) : 0.0f;
    }
}

static void gae_rows(void *args, int64_t begin, int64_t end) {
    const gae_args *a = (const gae_args *)args;
    for (int64_t row = begin; row < end; row++) {
#define GAE_CASE(DT)                                              \
    case DT:                                                      \
        if (a->skip) gae_row(a, row, DT, 1);                      \
        else gae_row(a, row, DT, 0);                              \
        break;
        switch (a->mask_dtype) {
            GAE_CASE(PPO_F32)
            GAE_CASE(PPO_U8)
            GAE_CASE(PPO_I32)
            GAE_CASE(PPO_I64)
        }
#undef GAE_CASE
    }
}

#if PPO_ISA == 0

int32_t gae(void *ctx, const float *rewards, const float *values, const void *mask, int32_t mask_dtype, int64_t b,
            int64_t t, double gamma, double lam, int32_t masked_steps, float *advantages, float *returns) {
    ppo_clear_error();
    if (b < 0 || t < 0) return ppo_fail(PPO_ERR_INVALID, "gae: negative shape [%lld, %lld]", (long long)b, (long long)t);
    if (!(gamma >= 0 && gamma <= 1) || !(lam >= 0 && lam <= 1)) {
        return ppo_fail(PPO_ERR_INVALID, "gae: gamma and lam must lie in [0, 1], got %g and %g", gamma, lam);
    }
    if (masked_steps != PPO_GAE_ZERO && masked_steps != PPO_GAE_SKIP) {
        return ppo_fail(PPO_ERR_INVALID, "gae: gae_masked_steps: unknown code %d", masked_steps);
    }
    if (!ppo_mask_dtype_ok(mask_dtype)) return ppo_fail(PPO_ERR_INVALID, "gae: mask: bad dtype code %d", mask_dtype);
    if (b * t == 0) return PPO_OK;
    if (rewards == NULL || values == NULL || mask == NULL || advantages == NULL || returns == NULL) {
        return ppo_fail(PPO_ERR_INVALID, "gae: a required pointer is NULL");
    }
    gae_args a = {rewards, values, mask, mask_dtype, t, gamma, gamma * lam, masked_steps == PPO_GAE_SKIP,
                  advantages, returns};
    ppo_parallel_for(ppo_threads_for(ppo_ctx_threads(ctx), b * t), b, ppo_grain(t, 1 << 13), gae_rows, &a);
    return PPO_OK;
}

#endif /* PPO_ISA == 0 */
