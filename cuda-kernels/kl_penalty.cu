/*
 * kl_penalty.cu — per-token KL penalty (SPEC "kl_penalty").
 *
 * Shapes: logprobs, ref_logprobs [B, T] f32, mask [B, T] (any mask dtype, nullable = all valid) → kl [B, T] f32.
 *   kl[i] = mask[i] ? kl_estimate(logprobs[i], ref_logprobs[i]) : 0        (kl_estimate.cuh: k1 / abs / k2 / k3)
 * A purely elementwise, memory-bound sweep: a grid-stride loop over the B·T tokens (coalesced 4-byte loads), with a
 * masked position never read into the arithmetic.
 */
#include "kl_estimate.cuh"
#include "ppo_cuda_host.h"

namespace {
using namespace ppo;

constexpr unsigned KL_MAX_THREADS = 256;

__global__ void __launch_bounds__(KL_MAX_THREADS)
kl_penalty_kernel(const float *__restrict__ lp, const float *__restrict__ ref, MaskRef mask, int64_t n, KlParams p,
                  float *__restrict__ kl) {
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        kl[i] = valid(mask, i) ? kl_estimate(lp[i], ref[i], p) : 0.0f;
    }
}

}  // namespace

extern "C" int32_t kl_penalty(void *ctx, const float *logprobs, const float *ref_logprobs, const void *mask,
                              int32_t mask_dtype, int64_t b, int64_t t, int32_t estimator, double input_clamp,
                              double output_clamp, float *kl) {
    const char *op = "kl_penalty";
    if (b < 0 || t < 0) return fail(PPO_ERR_INVALID, "%s: bad shape [%lld, %lld]", op, (long long)b, (long long)t);
    const int64_t n = b * t;
    if (n == 0) return PPO_OK;
    if (logprobs == nullptr || ref_logprobs == nullptr || kl == nullptr) return fail(PPO_ERR_INVALID, "%s: NULL tensor", op);
    KlParams p{estimator, (float)input_clamp, (float)output_clamp};  // f32 device arithmetic: clamps rounded once
    cudaStream_t s = static_cast<cudaStream_t>(ctx);
    const unsigned threads = sweep_threads(n, KL_MAX_THREADS);
    SIMT_LAUNCH(kl_penalty_kernel, dim3(grid_for(n, threads)), dim3(threads), 0, s, logprobs, ref_logprobs,
                MaskRef{mask, mask_dtype}, n, p, kl);
    return check_launch(op, "kl_penalty_kernel");
}
