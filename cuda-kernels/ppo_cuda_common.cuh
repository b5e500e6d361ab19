/*
 * ppo_cuda_common.cuh — device helpers shared by every ppo-engine CUDA kernel (cuda-kernels/<op>.cu).
 *
 * Compiles two ways: with nvcc against the CUDA headers (libppo_cuda.so), and with g++ against the project's
 * emulator simt/simt.h, which is force-included first and defines SIMT_EMULATION (libppo_cuda_sim.so).
 * Launches go through SIMT_LAUNCH(kernel, grid, block, shmem, stream, args...) so both builds share one source.
 *
 * Kernel rules (DESIGN.md "CUDA without a GPU"): warp collectives use the full mask with all 32 lanes present (every
 * block size here is a multiple of 32 and no thread leaves before the block's last collective); __syncthreads only
 * where the whole block arrives; no block ever waits for another inside a kernel (reductions are two-stage: block
 * partials, then a final pass in a fixed order — a second launch, or the block that takes the last integer
 * done-ticket — so results are bitwise repeatable); no inline PTX, CUB, cooperative
 * groups or tensor-core intrinsics; 64-bit element offsets; bf16/f16 converted to f32 in registers.
 */
#ifndef PPO_CUDA_COMMON_CUH
#define PPO_CUDA_COMMON_CUH

#include <stdint.h>

#include "ppo_kernels.h"

#ifndef SIMT_EMULATION
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#define SIMT_LAUNCH(kernel, grid, block, shmem, stream, ...) (kernel)<<<(grid), (block), (shmem), (stream)>>>(__VA_ARGS__)
#endif

namespace ppo {

constexpr unsigned FULL = 0xffffffffu;
constexpr float LOG2E = 1.4426950408889634f;  // log2(e): exp(x) = exp2(x·log2e)
constexpr float LN2 = 0.69314718055994531f;    // ln(2):   ln(x) = log2(x)·ln2

/* ------------------------------------------------------------------ element loads / stores */

/* Element type of a PPO_* float dtype: bytes per element, f32 conversion of raw bits. */
template <int DT> struct Elem;
template <> struct Elem<PPO_F32> {
    static constexpr int SIZE = 4;
    __device__ __forceinline__ static float load(const void *p, int64_t j) { return static_cast<const float *>(p)[j]; }
    /* a 16-byte vector holds 4 floats */
    __device__ __forceinline__ static void unpack(uint4 q, float *z) {
        z[0] = __uint_as_float(q.x); z[1] = __uint_as_float(q.y); z[2] = __uint_as_float(q.z); z[3] = __uint_as_float(q.w);
    }
    __device__ __forceinline__ static void store(void *p, int64_t j, float x) { static_cast<float *>(p)[j] = x; }
};
template <> struct Elem<PPO_BF16> {
    static constexpr int SIZE = 2;
    __device__ __forceinline__ static float cvt(unsigned bits) { return __uint_as_float(bits << 16); }  // bf16 = top half of f32
    __device__ __forceinline__ static float load(const void *p, int64_t j) {
        return cvt(static_cast<const unsigned short *>(p)[j]);
    }
    /* a 16-byte vector holds 8 bf16: the low half of each 32-bit word is the lower-addressed element */
    __device__ __forceinline__ static void unpack(uint4 q, float *z) {
        unsigned w[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
        for (int k = 0; k < 4; k++) {
            z[2 * k] = __uint_as_float(w[k] << 16);
            z[2 * k + 1] = __uint_as_float(w[k] & 0xffff0000u);
        }
    }
    __device__ __forceinline__ static unsigned short bits(float x) { return __bfloat16_as_ushort(__float2bfloat16_rn(x)); }
    __device__ __forceinline__ static void store(void *p, int64_t j, float x) { static_cast<unsigned short *>(p)[j] = bits(x); }
};
template <> struct Elem<PPO_F16> {
    static constexpr int SIZE = 2;
    __device__ __forceinline__ static float cvt(unsigned bits) { return __half2float(__ushort_as_half((unsigned short)bits)); }
    __device__ __forceinline__ static float load(const void *p, int64_t j) {
        return cvt(static_cast<const unsigned short *>(p)[j]);
    }
    __device__ __forceinline__ static void unpack(uint4 q, float *z) {
        unsigned w[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
        for (int k = 0; k < 4; k++) {
            z[2 * k] = cvt(w[k] & 0xffffu);
            z[2 * k + 1] = cvt(w[k] >> 16);
        }
    }
    __device__ __forceinline__ static unsigned short bits(float x) { return __half_as_ushort(__float2half_rn(x)); }
    __device__ __forceinline__ static void store(void *p, int64_t j, float x) { static_cast<unsigned short *>(p)[j] = bits(x); }
};

/* Mask of any PPO_* mask dtype; nullptr = every position valid. Any nonzero value is valid (SPEC). */
struct MaskRef {
    const void *p;
    int dtype;
};
__device__ __forceinline__ bool valid(MaskRef m, int64_t i) {
    if (m.p == nullptr) return true;
    switch (m.dtype) {
        case PPO_F32: return static_cast<const float *>(m.p)[i] != 0.0f;
        case PPO_U8: return static_cast<const unsigned char *>(m.p)[i] != 0;
        case PPO_I32: return static_cast<const int32_t *>(m.p)[i] != 0;
        case PPO_I64: return static_cast<const long long *>(m.p)[i] != 0;
        default: return false;
    }
}

/* Label of row i (I32 or I64). */
__device__ __forceinline__ long long label_at(const void *labels, int label_i64, int64_t i) {
    return label_i64 ? static_cast<const long long *>(labels)[i] : (long long)static_cast<const int32_t *>(labels)[i];
}

/* ------------------------------------------------------------------ warp collectives
 * Pairs of floats travel as one 64-bit shuffle: the same two SHFL instructions on the GPU as two 32-bit shuffles,
 * and one exchange instead of two in the emulator. */
__device__ __forceinline__ unsigned long long pack2(float a, float b) {
    return ((unsigned long long)__float_as_uint(b) << 32) | (unsigned long long)__float_as_uint(a);
}
__device__ __forceinline__ float2 unpack2(unsigned long long u) {
    return make_float2(__uint_as_float((unsigned)(u & 0xffffffffull)), __uint_as_float((unsigned)(u >> 32)));
}
__device__ __forceinline__ float2 shfl_xor2(float2 v, int m) {
    return unpack2(__shfl_xor_sync(FULL, pack2(v.x, v.y), m));
}
__device__ __forceinline__ float2 shfl_down2(float2 v, unsigned d) {
    return unpack2(__shfl_down_sync(FULL, pack2(v.x, v.y), d));
}

/* Butterfly sum: every lane gets the same bits (a + b == b + a in IEEE, so both partners compute the same value). */
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL, v, o);
    return v;
}
__device__ __forceinline__ int warp_sum_int(int v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL, v, o);
    return v;
}
__device__ __forceinline__ long long warp_max_ll(long long v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        long long w = __shfl_xor_sync(FULL, v, o);
        v = w > v ? w : v;
    }
    return v;
}

/* Fixed-order down-sweep: lane 0 ends with ((x0 + x16) + (x8 + x24)) + ..., the same tree every run. */
__device__ __forceinline__ double warp_sum_down(double v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(FULL, v, (unsigned)o);
    return v;
}

/* Sum of NS per-thread float accumulators over the block, in a fixed tree; the result is valid in thread 0.
 * Pairs go through 64-bit shuffles. `red` is shared scratch of at least NS * 32 floats. Contains one barrier:
 * every thread of the block must call it. Blocks are multiples of 32 threads (full warps). */
template <int NS>
__device__ __forceinline__ void block_sum_to_thread0(float (&acc)[NS], float *red) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
#pragma unroll
        for (int k = 0; k + 1 < NS; k += 2) {
            float2 other = shfl_down2(make_float2(acc[k], acc[k + 1]), (unsigned)o);
            acc[k] += other.x;
            acc[k + 1] += other.y;
        }
        if (NS % 2 == 1) acc[NS - 1] += __shfl_down_sync(FULL, acc[NS - 1], (unsigned)o);
    }
    if (lane == 0) {
#pragma unroll
        for (int k = 0; k < NS; k++) red[k * 32 + warp] = acc[k];
    }
    __syncthreads();  // every warp's partial is in `red` before warp 0 combines them
    if (warp == 0) {
#pragma unroll
        for (int k = 0; k < NS; k++) acc[k] = lane < nw ? red[k * 32 + lane] : 0.0f;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
#pragma unroll
            for (int k = 0; k + 1 < NS; k += 2) {
                float2 other = shfl_down2(make_float2(acc[k], acc[k + 1]), (unsigned)o);
                acc[k] += other.x;
                acc[k + 1] += other.y;
            }
            if (NS % 2 == 1) acc[NS - 1] += __shfl_down_sync(FULL, acc[NS - 1], (unsigned)o);
        }
    }
}

/* Number of threads for a block that sweeps `work` items with `per_thread` items per thread: a power of two in
 * [32, max_threads]. Small rows get small blocks (no idle warps; fewer emulated threads). */
inline unsigned pick_threads(int64_t work, int64_t per_thread, unsigned max_threads) {
    int64_t want = (work + per_thread - 1) / per_thread;
    unsigned t = 32;
    while (t < max_threads && (int64_t)t < want) t *= 2;
    return t;
}

}  // namespace ppo

#endif /* PPO_CUDA_COMMON_CUH */
