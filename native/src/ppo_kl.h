/*
 * ppo_kl.h — the per-token KL estimators of SPEC "kl_penalty", shared by kl_penalty.c and kl_shaped_rewards.c
 * (include after ppo_simd.h). δ = logprobs − ref_logprobs, clamped to ±in_clamp first (0 = off);
 *   k1 = δ, abs = |δ|, k2 = ½δ², k3 = e^{−δ} − 1 + δ (Schulman, "Approximating KL divergence", 2020);
 * the result clamped to ±out_clamp (0 = off). f32 throughout (vf_exp for k3).
 */
#ifndef PPO_KL_H
#define PPO_KL_H

#include "ppo_simd.h"

typedef struct {
    int32_t estimator;
    float in_clamp, out_clamp;   /* 0 = off */
} ppo_kl_opts;

PPO_INLINE vf ppo_kl_vec(vf lp, vf ref, const ppo_kl_opts *o) {
    vf d = lp - ref;
    if (o->in_clamp > 0) d = vf_min(vf_set1(o->in_clamp), vf_max(vf_set1(-o->in_clamp), d));
    vf k;
    switch (o->estimator) {
    case PPO_KL_K1: k = d; break;
    case PPO_KL_ABS: k = vf_abs(d); break;
    case PPO_KL_K2: k = 0.5f * d * d; break;
    default: k = (vf_exp(-d) - 1.0f) + d; break;
    }
    if (o->out_clamp > 0) k = vf_min(vf_set1(o->out_clamp), vf_max(vf_set1(-o->out_clamp), k));
    return k;
}

/* Validates the shared KL arguments; returns PPO_OK or a failure status (message set). */
PPO_INLINE int32_t ppo_kl_check(const char *op, int32_t estimator, double input_clamp, double output_clamp) {
    if (estimator < PPO_KL_K1 || estimator > PPO_KL_K3) {
        return ppo_fail(PPO_ERR_INVALID, "%s: kl_estimator: unknown code %d", op, estimator);
    }
    if (!(input_clamp >= 0) || !(output_clamp >= 0)) {
        return ppo_fail(PPO_ERR_INVALID, "%s: kl_input_clamp and kl_output_clamp must be >= 0, got %g and %g", op,
                        input_clamp, output_clamp);
    }
    return PPO_OK;
}

#endif /* PPO_KL_H */
