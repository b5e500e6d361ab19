/*
 * kl_shaped_rewards.cu — per-token rewards = score at one slot minus the scaled KL penalty (SPEC "kl_shaped_rewards").
 *
 * Shapes: logprobs, ref_logprobs, mask [B, T]; scores [B] → rewards, kl, reward_mask [B, T] f32.
 * Per row, L = the last valid position (none: the whole row is 0):
 *   t*        = L (score_position=last: trl PPOTrainer, verl, OpenRLHF) or min(L + 1, T − 1) (after_last: trl PPOv2,
 *               DeepSpeed-Chat)
 *   region    = mask ∪ {t*} for after_last, the mask for last
 *   kl[t]     = region[t] ? kl_estimate(t) : 0, except kl[t*] = 0 when kl_at_score_slot=zero and t* is not valid
 *               (trl PPOv2's logprobs there are a fill value; a t* capped onto a valid token keeps its real KL)
 *   rewards   = −kl_coef·kl + [t = t*]·clip(score, ±score_clip)
 *   reward_mask = region as 0/1
 * One block per row: the last valid position is an integer max over the row (butterfly shuffles, then the warps'
 * maxima through shared memory — exact, so order-free), then one elementwise pass writes the three outputs.
 */
#include "kl_estimate.cuh"
#include "ppo_cuda_host.h"

namespace {
using namespace ppo;

constexpr unsigned KSR_MAX_THREADS = 256;

struct RewardParams {
    KlParams kl;
    float kl_coef, score_clip;
    int after_last, drop_slot_kl;
};

__global__ void __launch_bounds__(KSR_MAX_THREADS)
kl_shaped_rewards_kernel(const float *__restrict__ lp, const float *__restrict__ ref, MaskRef mask,
                         const float *__restrict__ scores, int64_t T, RewardParams p, float *__restrict__ rewards,
                         float *__restrict__ kl, float *__restrict__ reward_mask) {
    __shared__ long long wlast[32];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nw = blockDim.x >> 5;
    const int64_t row = blockIdx.x, off = row * T;

    long long last = -1;
    for (int64_t t = tid; t < T; t += blockDim.x) {
        if (valid(mask, off + t)) last = t;  // positions grow along the stride: the last hit is this thread's max
    }
    last = warp_max_ll(last);
    if (lane == 0) wlast[warp] = last;
    __syncthreads();  // every warp's maximum is visible
    for (int w = 0; w < nw; w++) last = wlast[w] > last ? wlast[w] : last;

    if (last < 0) {  // no valid token: no score, no KL
        for (int64_t t = tid; t < T; t += blockDim.x) {
            rewards[off + t] = 0.0f;
            kl[off + t] = 0.0f;
            reward_mask[off + t] = 0.0f;
        }
        return;
    }
    const int64_t slot = p.after_last ? (last + 1 < T ? last + 1 : T - 1) : last;
    float score = scores[row];
    if (p.score_clip > 0.0f) score = fminf(fmaxf(score, -p.score_clip), p.score_clip);
    for (int64_t t = tid; t < T; t += blockDim.x) {
        const bool ok = valid(mask, off + t);
        const bool at_slot = t == slot;
        const bool region = ok || (p.after_last && at_slot);
        const bool dropped = p.after_last && p.drop_slot_kl && at_slot && !ok;
        const float k = region && !dropped ? kl_estimate(lp[off + t], ref[off + t], p.kl) : 0.0f;
        rewards[off + t] = (at_slot ? score : 0.0f) - p.kl_coef * k;
        kl[off + t] = k;
        reward_mask[off + t] = region ? 1.0f : 0.0f;
    }
}

}  // namespace

extern "C" int32_t kl_shaped_rewards(void *ctx, const float *logprobs, const float *ref_logprobs, const void *mask,
                                     int32_t mask_dtype, const float *scores, int64_t b, int64_t t, int32_t estimator,
                                     double input_clamp, double output_clamp, double kl_coef, int32_t score_position,
                                     double score_clip, int32_t kl_at_score_slot, float *rewards, float *kl,
                                     float *reward_mask) {
    const char *op = "kl_shaped_rewards";
    if (b < 0 || t < 0 || b > 2147483647LL) {
        return fail(PPO_ERR_INVALID, "%s: bad shape [%lld, %lld]", op, (long long)b, (long long)t);
    }
    if (b * t == 0) return PPO_OK;
    if (logprobs == nullptr || ref_logprobs == nullptr || mask == nullptr || scores == nullptr || rewards == nullptr ||
        kl == nullptr || reward_mask == nullptr) {
        return fail(PPO_ERR_INVALID, "%s: NULL tensor", op);
    }
    RewardParams p;
    // f32 device arithmetic (DESIGN numerics): the parameters are rounded once here
    p.kl = KlParams{estimator, (float)input_clamp, (float)output_clamp};
    p.kl_coef = (float)kl_coef;
    p.score_clip = (float)score_clip;
    p.after_last = score_position == PPO_SCORE_AFTER_LAST;
    p.drop_slot_kl = kl_at_score_slot == PPO_SLOT_ZERO;
    cudaStream_t s = static_cast<cudaStream_t>(ctx);
    const unsigned threads = pick_threads(t, MIN_ITEMS_PER_THREAD, KSR_MAX_THREADS);
    // one block per row: b ≤ 2^31 − 1 was checked above
    SIMT_LAUNCH(kl_shaped_rewards_kernel, dim3((unsigned)b), dim3(threads), 0, s, logprobs, ref_logprobs,
                MaskRef{mask, mask_dtype}, scores, t, p, rewards, kl, reward_mask);
    return check_launch(op, "kl_shaped_rewards_kernel");
}
