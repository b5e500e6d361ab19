/*
 * kl_estimate.cuh — the per-token KL estimate shared by kl_penalty.cu and kl_shaped_rewards.cu (SPEC "kl_penalty").
 *
 *   δ = logprob − ref_logprob, clamped to ±input_clamp when > 0
 *   k1 = δ,  abs = |δ|,  k2 = ½δ²,  k3 = exp(−δ) − 1 + δ   (Schulman's estimators; verl low_var_kl, OpenRLHF k1/k2/k3)
 *   result clamped to ±output_clamp when > 0
 * k3 is evaluated as expm1(−δ) + δ: the same value without the cancellation of exp(−δ) − 1 at small δ.
 */
#ifndef PPO_KL_ESTIMATE_CUH
#define PPO_KL_ESTIMATE_CUH

#include "ppo_cuda_common.cuh"

namespace ppo {

struct KlParams {
    int estimator;     // PPO_KL_*
    float in_clamp;    // 0 = off
    float out_clamp;   // 0 = off
};

__device__ __forceinline__ float kl_estimate(float logprob, float ref, const KlParams &p) {
    float d = logprob - ref;
    if (p.in_clamp > 0.0f) d = fminf(fmaxf(d, -p.in_clamp), p.in_clamp);
    float k;
    switch (p.estimator) {
        case PPO_KL_ABS: k = fabsf(d); break;
        case PPO_KL_K2: k = 0.5f * d * d; break;
        case PPO_KL_K3: k = expm1f(-d) + d; break;
        default: k = d; break;
    }
    if (p.out_clamp > 0.0f) k = fminf(fmaxf(k, -p.out_clamp), p.out_clamp);
    return k;
}

}  // namespace ppo

#endif /* PPO_KL_ESTIMATE_CUH */
