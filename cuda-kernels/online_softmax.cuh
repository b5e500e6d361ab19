/*
 * online_softmax.cuh — the online softmax state of a row of logits, in base 2, shared by the token_logprobs and
 * linear_token_logprobs kernels: adding logits, merging two states, a warp butterfly and a block merge.
 *
 * State: m = running max of the raw logits z; with mu = m·c (c = log2(e)/τ, or log2(e) for the raw logits),
 * s = Σ 2^(z·c − mu), t = Σ 2^(z·c − mu)·(z·c − mu). Then lse = (mu + log2 s)·ln 2 and Σ p·(z·c − mu) = t / s:
 * the entropy without a second pass (Milakov & Gimelshein 2018, online softmax, extended to Σ p·x).
 * Every merge is symmetric bit for bit, and the trees are fixed: results repeat bit for bit.
 */
#ifndef PPO_ONLINE_SOFTMAX_CUH
#define PPO_ONLINE_SOFTMAX_CUH

#include "ppo_cuda_common.cuh"

namespace ppo {

/* Online softmax state in base 2: m = running max of the raw logits z; with mu = m·c,
 * s = Σ 2^(z·c − mu), t = Σ 2^(z·c − mu)·(z·c − mu). Empty: m = −inf, s = t = 0. */
struct Online {
    float m, s, t;
};

__device__ __forceinline__ Online online_empty() {
    Online o;
    o.m = -INFINITY;
    o.s = 0.0f;
    o.t = 0.0f;
    return o;
}

/* Adds K logits: one max over the batch, at most one rescale, then one exp2 per element.
 * A −inf logit contributes 0 to s and to t (the limit of p·log p), never 0·inf. */
template <int K, bool NEED_T>
__device__ __forceinline__ void online_add(Online &o, const float *z, float c) {
    float mz = z[0];
#pragma unroll
    for (int k = 1; k < K; k++) mz = fmaxf(mz, z[k]);
    if (mz > o.m) {
        if (o.s > 0.0f) {
            const float dm = o.m * c - mz * c;  // ≤ 0: old offset minus new offset
            const float f = exp2f(dm);
            if (NEED_T) o.t = f * fmaf(dm, o.s, o.t);  // Σ e·(d + dm) scaled by f
            o.s *= f;
        }
        o.m = mz;
    }
    if (o.m == -INFINITY) return;  // everything so far is −inf
    const float mu = o.m * c;
#pragma unroll
    for (int k = 0; k < K; k++) {
        const float d = fmaf(z[k], c, -mu);
        const float e = exp2f(d);
        o.s += e;
        if (NEED_T) o.t += e > 0.0f ? e * d : 0.0f;
    }
}

/* Merge of two states; symmetric in its arguments bit for bit (fmaxf and + are commutative). */
__device__ __forceinline__ Online online_merge(Online a, Online b, float c) {
    Online r;
    r.m = fmaxf(a.m, b.m);
    if (r.m == -INFINITY) return online_empty();
    const float mu = r.m * c;
    float sa = 0.0f, ta = 0.0f, sb = 0.0f, tb = 0.0f;
    if (a.s > 0.0f) {
        const float d = a.m * c - mu;
        const float f = exp2f(d);
        sa = a.s * f;
        ta = f * fmaf(d, a.s, a.t);
    }
    if (b.s > 0.0f) {
        const float d = b.m * c - mu;
        const float f = exp2f(d);
        sb = b.s * f;
        tb = f * fmaf(d, b.s, b.t);
    }
    r.s = sa + sb;
    r.t = ta + tb;
    return r;
}

/* Butterfly merge over lanes [0, width) groups: every lane ends with the same state. */
__device__ __forceinline__ Online warp_merge(Online o, float c, int width) {
    for (int off = width >> 1; off > 0; off >>= 1) {
        Online p;
        p.m = __shfl_xor_sync(FULL, o.m, off);
        const float2 st = shfl_xor2(make_float2(o.s, o.t), off);
        p.s = st.x;
        p.t = st.y;
        o = online_merge(o, p, c);
    }
    return o;
}

/* Block-wide merge of the scaled state (and of the raw one when RAW); the results are valid in warp 0 (every lane).
 * Warps 1.. get false and must not touch shared memory afterwards. One barrier, reached by the whole block. */
template <bool RAW>
__device__ __forceinline__ bool block_merge(Online &a, float ca, Online &b, float cb, float (*sh)[32]) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    a = warp_merge(a, ca, 32);
    if (RAW) b = warp_merge(b, cb, 32);
    if (lane == 0) {
        sh[0][warp] = a.m;
        sh[1][warp] = a.s;
        sh[2][warp] = a.t;
        if (RAW) {
            sh[3][warp] = b.m;
            sh[4][warp] = b.s;
            sh[5][warp] = b.t;
        }
    }
    __syncthreads();  // every warp's state is in shared memory before warp 0 merges them
    if (warp != 0) return false;
    a = lane < nw ? Online{sh[0][lane], sh[1][lane], sh[2][lane]} : online_empty();
    a = warp_merge(a, ca, nw);  // nw is a power of two: lanes < nw exchange only among themselves
    if (RAW) {
        b = lane < nw ? Online{sh[3][lane], sh[4][lane], sh[5][lane]} : online_empty();
        b = warp_merge(b, cb, nw);
    }
    return true;
}

}  // namespace ppo

#endif /* PPO_ONLINE_SOFTMAX_CUH */
