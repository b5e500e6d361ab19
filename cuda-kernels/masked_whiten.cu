/*
 * masked_whiten.cu — normalise the valid entries of a [B, T] batch (SPEC "masked_whiten").
 *
 * Shapes: values, mask [B, T] → whitened [B, T] f32 (0 at masked positions).
 *   N = Σ m,  μ = Σ m·x / N,  σ² = Σ m·(x − μ)² / N  (· N/(N − 1) when unbiased: trl / verl; biased: OpenRLHF)
 *   out = (x − μ)·rsqrt(σ² + ε)  (eps add)  or  (x − μ)·rsqrt(max(σ², ε))  (eps clamp);  + μ when shift_mean=false
 * N < 2 (unbiased) or N < 1 (biased) is an error.
 * Deterministic two-stage reduction (no float atomics): stage 1, each block reduces its grid-stride share to a
 * (count, mean, M2) triple — per-thread Welford updates, then Chan et al.'s pairwise merge in a fixed shuffle tree;
 * stage 2, one warp merges the block triples in a fixed order (in f64) into μ and the scale; stage 3 whitens
 * elementwise. x is read twice; the launcher reads N back to report too few tokens.
 */
#include "ppo_cuda_host.h"

namespace {
using namespace ppo;

constexpr unsigned WH_THREADS = 256;

struct Moments {
    float n, mean, m2;
};

/* Chan et al. (1979) pairwise merge of two (count, mean, M2) triples; a then b in a fixed order. */
template <class T>
__device__ __forceinline__ void merge(T &n, T &mean, T &m2, T nb, T meanb, T m2b) {
    const T tot = n + nb;
    if (tot == T(0)) return;
    const T d = meanb - mean;
    const T fb = nb / tot;
    mean = mean + d * fb;
    m2 = m2 + m2b + d * d * n * fb;
    n = tot;
}

/* Stage 1: block partial moments. */
__global__ void __launch_bounds__(WH_THREADS)
whiten_partials(const float *__restrict__ x, MaskRef mask, int64_t total, float *__restrict__ partials) {
    __shared__ float sh[3][32];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nw = blockDim.x >> 5;
    float n = 0.0f, mean = 0.0f, m2 = 0.0f;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + tid; i < total; i += stride) {
        if (!valid(mask, i)) continue;
        const float v = x[i];
        n += 1.0f;  // per-thread counts stay far below 2^24: exact
        const float d = v - mean;
        mean += d / n;
        m2 += d * (v - mean);  // Welford
    }
    for (int o = 1; o < 32; o <<= 1) {  // lane l merges lane l+o: a fixed tree rooted at lane 0
        const float nb = __shfl_down_sync(FULL, n, (unsigned)o);
        const float2 mb = shfl_down2(make_float2(mean, m2), (unsigned)o);
        if (lane + o < 32) merge(n, mean, m2, nb, mb.x, mb.y);
    }
    if (lane == 0) {
        sh[0][warp] = n;
        sh[1][warp] = mean;
        sh[2][warp] = m2;
    }
    __syncthreads();  // every warp's triple is visible to thread 0
    if (tid == 0) {
        for (int w = 1; w < nw; w++) merge(n, mean, m2, sh[0][w], sh[1][w], sh[2][w]);
        partials[3 * blockIdx.x] = n;
        partials[3 * blockIdx.x + 1] = mean;
        partials[3 * blockIdx.x + 2] = m2;
    }
}

struct WhitenParams {
    int unbiased, eps_clamp, shift_mean;
    double eps;
    double min_count;
};

/* Whitening coefficients, computed once on the device by whiten_stats. */
struct WhitenCoef {
    double count;      // N (read back by the launcher)
    float mu_hi, mu_lo;  // μ as a float pair: (x − hi) − lo keeps the centred value accurate when |μ| ≫ σ
    float scale;       // rsqrt(σ² + ε) or rsqrt(max(σ², ε)); 0 when that is 0 (every valid x equals μ)
    int ok;            // N is large enough
};

/* Stage 2: one warp merges the block partials in f64 (counts stay exact, M2 keeps its precision), lane-strided then
 * a fixed shuffle tree, and derives μ and the scale. */
__global__ void __launch_bounds__(32)
whiten_stats(const float *__restrict__ partials, int nparts, WhitenParams p, WhitenCoef *__restrict__ coef) {
    const int lane = threadIdx.x;
    double n = 0.0, mean = 0.0, m2 = 0.0;
    for (int j = lane; j < nparts; j += 32) {
        merge<double>(n, mean, m2, partials[3 * j], partials[3 * j + 1], partials[3 * j + 2]);
    }
    for (int o = 1; o < 32; o <<= 1) {
        const double nb = __shfl_down_sync(FULL, n, (unsigned)o);
        const double meanb = __shfl_down_sync(FULL, mean, (unsigned)o);
        const double m2b = __shfl_down_sync(FULL, m2, (unsigned)o);
        if (lane + o < 32) merge<double>(n, mean, m2, nb, meanb, m2b);
    }
    if (lane == 0) {
        double var = n > 0.0 ? m2 / n : 0.0;
        if (p.unbiased && n > 1.0) var = m2 / (n - 1.0);
        const double denom = p.eps_clamp ? (var > p.eps ? var : p.eps) : var + p.eps;
        WhitenCoef c;
        c.count = n;
        c.mu_hi = (float)mean;
        c.mu_lo = (float)(mean - (double)c.mu_hi);
        c.scale = denom > 0.0 ? (float)(1.0 / sqrt(denom)) : 0.0f;  // computed in f64, rounded once
        c.ok = n >= p.min_count;
        *coef = c;
    }
}

/* Stage 3: elementwise. With too few tokens nothing is written (the launcher reports the error). */
__global__ void __launch_bounds__(WH_THREADS)
whiten_apply(const float *__restrict__ x, MaskRef mask, int64_t total, const WhitenCoef *__restrict__ coef,
             int shift_mean, float *__restrict__ out) {
    const WhitenCoef c = *coef;
    if (!c.ok) return;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        float r = 0.0f;
        if (valid(mask, i)) {
            r = ((x[i] - c.mu_hi) - c.mu_lo) * c.scale;
            if (!shift_mean) r += c.mu_hi;
        }
        out[i] = r;
    }
}

}  // namespace

extern "C" int32_t masked_whiten(void *ctx, const float *values, const void *mask, int32_t mask_dtype, int64_t b,
                                 int64_t t, int32_t unbiased, int32_t eps_clamp, double eps, int32_t shift_mean,
                                 float *whitened) {
    const char *op = "masked_whiten";
    if (b < 0 || t < 0) return fail(PPO_ERR_INVALID, "%s: bad shape [%lld, %lld]", op, (long long)b, (long long)t);
    const int64_t total = b * t;
    const double need = unbiased ? 2.0 : 1.0;
    if (total == 0) {
        return fail(PPO_ERR_INVALID, "%s: needs at least %d valid tokens for the %s variance, got 0", op, (int)need,
                    unbiased ? "unbiased" : "biased");
    }
    if (values == nullptr || mask == nullptr || whitened == nullptr) return fail(PPO_ERR_INVALID, "%s: NULL tensor", op);
    cudaStream_t s = static_cast<cudaStream_t>(ctx);
    const unsigned threads = sweep_threads(total, WH_THREADS);
    const unsigned blocks = grid_for(total, threads);
    Scratch scratch;
    int32_t rc = scratch.reserve(op, align256(sizeof(WhitenCoef)) + (size_t)blocks * 3 * sizeof(float));
    if (rc != PPO_OK) return rc;
    WhitenCoef *coef = scratch.at<WhitenCoef>(0);
    float *partials = scratch.at<float>(align256(sizeof(WhitenCoef)));
    const MaskRef m{mask, mask_dtype};
    SIMT_LAUNCH(whiten_partials, dim3(blocks), dim3(threads), 0, s, values, m, total, partials);
    if ((rc = check_launch(op, "whiten_partials")) != PPO_OK) return rc;
    WhitenParams p{unbiased != 0, eps_clamp != 0, shift_mean != 0, eps, need};
    SIMT_LAUNCH(whiten_stats, dim3(1), dim3(32), 0, s, (const float *)partials, (int)blocks, p, coef);
    if ((rc = check_launch(op, "whiten_stats")) != PPO_OK) return rc;
    SIMT_LAUNCH(whiten_apply, dim3(blocks), dim3(threads), 0, s, values, m, total, (const WhitenCoef *)coef,
                shift_mean != 0, whitened);
    if ((rc = check_launch(op, "whiten_apply")) != PPO_OK) return rc;
    double n = 0.0;
    PPO_CUDA_CHECK(op, "copy of the token count", cudaMemcpyAsync(&n, &coef->count, sizeof n, cudaMemcpyDeviceToHost, s));
    if ((rc = sync(op, s)) != PPO_OK) return rc;
    if (n < need) {
        return fail(PPO_ERR_INVALID, "%s: needs at least %d valid tokens for the %s variance, got %.0f", op, (int)need,
                    unbiased ? "unbiased" : "biased", n);
    }
    return PPO_OK;
}
