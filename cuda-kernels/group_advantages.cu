/*
 * group_advantages.cu — critic-free advantages from groups of sampled completions (SPEC "group_advantages").
 *
 * Shapes: scores [B] f32 in consecutive groups of n = group_size (B divisible by n, n ≥ 2), optional mask [B, T]
 * → advantages [B], or [B, T] = value_b · [mask ≠ 0] with a mask.
 *   μ_g = Σ s / n,  σ_g = sqrt(Σ (s − μ_g)² / (n − 1))            (unbiased, as torch.std)
 *   grpo:    (s − μ_g) / (σ_g + ε)   (0 when σ_g + ε = 0)         (DeepSeekMath GRPO; verl, OpenRLHF, trl)
 *   dr_grpo: s − μ_g                                              (Dr. GRPO, Liu et al. 2025)
 *   rloo:    s − (Σ s − s) / (n − 1)                              (RLOO, Ahmadian et al. 2024)
 * One warp per group: lanes stride over the members, butterfly sums give every lane the same μ and σ (two passes:
 * the mean, then the centred squares). With a mask, a second grid-stride kernel broadcasts the values over [B, T].
 */
#include "ppo_cuda_host.h"

namespace {
using namespace ppo;

constexpr unsigned GA_THREADS = 256;  // at most 8 groups per block

__global__ void __launch_bounds__(GA_THREADS)
group_values_kernel(const float *__restrict__ scores, int64_t groups, int64_t n, int estimator, float eps,
                    float *__restrict__ out) {
    const int lane = threadIdx.x & 31;
    const int64_t g = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (g >= groups) return;  // whole warps leave together; no barrier in this kernel
    const float *s = scores + g * n;
    float sum = 0.0f;
    for (int64_t j = lane; j < n; j += 32) sum += s[j];
    sum = warp_sum(sum);
    const float mean = sum / (float)n;  // group sizes are far below 2^24: exact in f32
    float sq = 0.0f;
    for (int64_t j = lane; j < n; j += 32) {
        const float d = s[j] - mean;
        sq += d * d;
    }
    sq = warp_sum(sq);
    const float sd = sqrtf(sq / (float)(n - 1));
    for (int64_t j = lane; j < n; j += 32) {
        const float x = s[j];
        float a;
        if (estimator == PPO_GROUP_GRPO) {
            const float denom = sd + eps;
            a = denom > 0.0f ? (x - mean) / denom : 0.0f;
        } else if (estimator == PPO_GROUP_DR_GRPO) {
            a = x - mean;
        } else {
            a = x - (sum - x) / (float)(n - 1);
        }
        out[g * n + j] = a;
    }
}

__global__ void __launch_bounds__(GA_THREADS)
group_broadcast_kernel(const float *__restrict__ values, MaskRef mask, int64_t total, int64_t T,
                       float *__restrict__ out) {
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        out[i] = valid(mask, i) ? values[i / T] : 0.0f;
    }
}

}  // namespace

extern "C" int32_t group_advantages(void *ctx, const float *scores, int64_t b, int64_t group_size, int32_t estimator,
                                    double std_eps, const void *mask, int32_t mask_dtype, int64_t t, float *advantages) {
    const char *op = "group_advantages";
    if (b < 0 || group_size < 2 || b % group_size != 0 || (mask != nullptr && t < 0)) {
        return fail(PPO_ERR_INVALID, "%s: batch %lld is not a whole number of groups of %lld (group size >= 2)", op,
                    (long long)b, (long long)group_size);
    }
    if (b == 0 || (mask != nullptr && t == 0)) return PPO_OK;
    if (scores == nullptr || advantages == nullptr) return fail(PPO_ERR_INVALID, "%s: NULL tensor", op);
    cudaStream_t s = static_cast<cudaStream_t>(ctx);
    const int64_t groups = b / group_size;
    const unsigned threads = pick_threads(groups * 32, 1, GA_THREADS);  // a warp per group
    const unsigned blocks = (unsigned)((groups + (threads / 32) - 1) / (threads / 32));
    if (mask == nullptr) {
        // ε rounded once to the f32 the kernel computes in
        SIMT_LAUNCH(group_values_kernel, dim3(blocks), dim3(threads), 0, s, scores, groups, group_size, estimator,
                    (float)std_eps, advantages);
        return check_launch(op, "group_values_kernel");
    }
    Scratch scratch;
    int32_t rc = scratch.reserve(op, (size_t)b * sizeof(float));
    if (rc != PPO_OK) return rc;
    float *values = scratch.at<float>(0);
    SIMT_LAUNCH(group_values_kernel, dim3(blocks), dim3(threads), 0, s, scores, groups, group_size, estimator,
                (float)std_eps, values);
    if ((rc = check_launch(op, "group_values_kernel")) != PPO_OK) return rc;
    const int64_t total = b * t;
    const unsigned bthreads = sweep_threads(total, GA_THREADS);
    SIMT_LAUNCH(group_broadcast_kernel, dim3(grid_for(total, bthreads)), dim3(bthreads), 0, s, values,
                MaskRef{mask, mask_dtype}, total, t, advantages);
    if ((rc = check_launch(op, "group_broadcast_kernel")) != PPO_OK) return rc;
    return sync(op, s);  // the scratch returns to the pool: its kernels must be done
}
