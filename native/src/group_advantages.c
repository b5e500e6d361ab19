/*
 * group_advantages.c — critic-free advantages from grouped scores (SPEC "group_advantages").
 *
 * scores [b] in consecutive groups of n = group_size (b divisible by n, n >= 2) -> advantages [b], or [b, t] with
 * a mask (the row's value where the mask is set, 0 elsewhere). Per group, in f64:
 *   grpo (Shao et al. 2024, DeepSeekMath): (s − μ)/(σ + ε), σ the unbiased (n − 1) standard deviation;
 *   dr_grpo (Liu et al. 2025, "Understanding R1-Zero-Like Training"): s − μ;
 *   rloo (Ahmadian et al. 2024): s − (Σ_g s − s)/(n − 1), the mean of the other n − 1.
 * b is the number of sequences (small): sequential, fixed summation order.
 */
#include "ppo_internal.h"

#include <math.h>

#if PPO_ISA == 0

int32_t group_advantages(void *ctx, const float *scores, int64_t b, int64_t group_size, int32_t estimator,
                         double std_eps, const void *mask, int32_t mask_dtype, int64_t t, float *advantages) {
    ppo_clear_error();
    if (b < 0 || group_size < 2 || b % group_size != 0) {
        return ppo_fail(PPO_ERR_INVALID, "group_advantages: batch size %lld must be a multiple of group_size %lld "
                        "(>= 2)", (long long)b, (long long)group_size);
    }
    if (estimator < PPO_GROUP_GRPO || estimator > PPO_GROUP_RLOO) {
        return ppo_fail(PPO_ERR_INVALID, "group_advantages: group_estimator: unknown code %d", estimator);
    }
    if (!(std_eps >= 0)) return ppo_fail(PPO_ERR_INVALID, "group_advantages: group_std_eps must be >= 0, got %g", std_eps);
    if (mask != NULL && (!ppo_mask_dtype_ok(mask_dtype) || t < 0)) {
        return ppo_fail(PPO_ERR_INVALID, "group_advantages: mask: bad dtype code %d or t %lld", mask_dtype,
                        (long long)t);
    }
    if (b > 0 && (scores == NULL || advantages == NULL)) {
        return ppo_fail(PPO_ERR_INVALID, "group_advantages: scores and advantages must not be NULL");
    }
    const int64_t n = group_size;
    for (int64_t g0 = 0; g0 < b; g0 += n) {
        double sum = 0;
        for (int64_t i = 0; i < n; i++) sum += scores[g0 + i];
        double mu = sum / (double)n, ss = 0;
        for (int64_t i = 0; i < n; i++) {
            double d = scores[g0 + i] - mu;
            ss += d * d;
        }
        double sd = sqrt(ss / (double)(n - 1));
        for (int64_t i = g0; i < g0 + n; i++) {
            double s = scores[i], a;
            switch (estimator) {
            case PPO_GROUP_GRPO: a = (s - mu) / (sd + std_eps); break;
            case PPO_GROUP_DR_GRPO: a = s - mu; break;
            default: a = s - (sum - s) / (double)(n - 1); break;
            }
            float af = (float)a;   /* narrowing: f32 output */
            if (mask == NULL) {
                advantages[i] = af;
            } else {
                for (int64_t j = 0; j < t; j++) advantages[i * t + j] = ppo_mask_at(mask, mask_dtype, i * t + j) ? af : 0.0f;
            }
        }
    }
    return PPO_OK;
}

#endif /* PPO_ISA == 0 */
