/*
 * token_logprobs.cu — token_logprobs forward and backward on the GPU (SPEC "token_logprobs").
 *
 * Shapes: logits z [N, V] in f32/bf16/f16, rows `row_stride` elements apart (a [B, T, V] window read in place);
 * labels y [N] i32/i64; logprobs, entropy [N] f32; saved [N, 3] f32 = (lse of z/τ, lse of the entropy logits,
 * mean Σ q·z_e of the entropy logits); grad_logits [N, V] in f32 or the logits' dtype (may be the logits themselves).
 *
 * Forward, per row, z' = z/τ, z_e = z' (entropy_logits=scaled) or z (raw):
 *   lse = log Σ_j exp z'_j,  logprob = z'_y − lse,  entropy = lse_e − Σ_j q_j z_e_j,  q = softmax(z_e)
 * Backward: grad_j = g·(1[j=y] − p_j)/τ − h·q_j·(z_e_j − mean)·s,  p = softmax(z'), s = 1/τ (scaled) or 1 (raw).
 * This is the softmax-cross-entropy gradient plus d entropy/d z = −q(z_e − mean) (the two terms of Liger-Kernel's
 * fused cross entropy and llm.c's crossentropy_softmax_backward); the temperature switch is trl PPOv2 / verl /
 * OpenRLHF's logits / τ, raw-logit entropy is OpenRLHF's.
 *
 * Design: one block per row (32..256 threads, by V). Each thread streams its share of the row with 16-byte loads
 * (bf16/f16 widened in registers) and keeps an online softmax state in base 2 relative to its running max:
 * m = max z, s = Σ 2^(u−m·c), t = Σ 2^(u−m·c)·(u − m·c), u = z·c, c = log2(e)/τ — so one exp2 per element and the
 * entropy comes from (s, t) without a second pass and without cancellation (H = ln2·(log2 s − t/s)). States merge
 * commutatively (butterfly shuffles give every lane the same bits), then across warps through shared memory.
 * The rows' unaligned head and tail elements are read one by one; the label logit is one extra load by thread 0.
 * Nothing of size [N, V] is written by the forward; the backward is one more streaming pass (O(N) extra memory).
 * Labels outside [0, V) set a device flag (atomicMin of the row: integer, order-independent) that the launcher
 * turns into PPO_ERR_LABEL naming the row and value.
 */
#include <math.h>

#include "online_softmax.cuh"
#include "ppo_cuda_host.h"

namespace {
using namespace ppo;

constexpr unsigned TL_MAX_THREADS = 256;
constexpr int ITEM = 16;      // backward: logits per thread that size its blocks
constexpr int FWD_LOADS = 4;  // forward: sixteen-byte loads per thread per sweep step, all in flight at once
                              // (16 f32 or 32 bf16/f16 logits; 2 loads of bf16 left the H100 at 81% of its HBM peak)

template <int DT> struct NegInf;  // a 32-bit word of −inf elements (pads a partial sweep step: exp2(−inf) = 0)
template <> struct NegInf<PPO_F32> { static constexpr unsigned WORD = 0xff800000u; };
template <> struct NegInf<PPO_BF16> { static constexpr unsigned WORD = 0xff80ff80u; };
template <> struct NegInf<PPO_F16> { static constexpr unsigned WORD = 0xfc00fc00u; };

/* Forward. MODE 0: lse only (no entropy, no saved); 1: entropy of z/τ; 2: entropy of the raw logits. */
template <int DT, int MODE>
__global__ void __launch_bounds__(TL_MAX_THREADS)
token_logprobs_fwd(const void *__restrict__ logits, int64_t v, int64_t stride, const void *__restrict__ labels,
                   int label_i64, float c, float inv_tau, float *__restrict__ logprobs, float *__restrict__ entropy,
                   float *__restrict__ saved, unsigned long long *__restrict__ bad_row) {
    typedef Elem<DT> E;
    constexpr int VEC = 16 / E::SIZE;   // elements per 16-byte load
    constexpr int LOADS = FWD_LOADS;    // loads per sweep step
    constexpr int STEP = LOADS * VEC;   // logits per sweep step
    constexpr bool NEED_T = MODE != 0;
    constexpr bool RAW = MODE == 2;
    __shared__ float sh[6][32];

    const int64_t row = blockIdx.x;
    const int tid = threadIdx.x, nt = blockDim.x;
    const char *base = static_cast<const char *>(logits) + row * stride * E::SIZE;

    // The label logit, loaded first by thread 0 so its latency overlaps the sweep.
    bool bad = false;
    float zy = 0.0f;
    if (tid == 0) {
        const long long y = label_at(labels, label_i64, row);
        bad = y < 0 || y >= v;
        if (bad) {
            atomicMin(bad_row, (unsigned long long)row);  // integer min: the first bad row, whatever the order
        } else {
            zy = E::load(base, y);
        }
    }

    Online st = online_empty(), sr = online_empty();
    // Head: elements before the first 16-byte boundary of the row.
    int64_t head = (int64_t)(((16u - ((uintptr_t)base & 15u)) & 15u) / E::SIZE);
    if (head > v) head = v;
    for (int64_t j = tid; j < head; j += nt) {
        const float z = E::load(base, j);
        online_add<1, NEED_T>(st, &z, c);
        if (RAW) online_add<1, true>(sr, &z, LOG2E);
    }
    // Body: 16-byte vectors; each sweep step takes LOADS vectors nt apart (coalesced across the warp).
    const uint4 *vb = reinterpret_cast<const uint4 *>(base + head * E::SIZE);
    const int64_t nvec = (v - head) / VEC;
    const unsigned pad = NegInf<DT>::WORD;
    for (int64_t g = tid; g < nvec; g += (int64_t)LOADS * nt) {
        uint4 q[LOADS];
#pragma unroll
        for (int u = 0; u < LOADS; u++) {
            const int64_t idx = g + (int64_t)u * nt;
            q[u] = idx < nvec ? __ldg(vb + idx) : make_uint4(pad, pad, pad, pad);
        }
        float z[STEP];
#pragma unroll
        for (int u = 0; u < LOADS; u++) E::unpack(q[u], z + u * VEC);
        online_add<STEP, NEED_T>(st, z, c);
        if (RAW) online_add<STEP, true>(sr, z, LOG2E);
    }
    // Tail: the last (v − head) mod VEC elements.
    for (int64_t j = head + nvec * VEC + tid; j < v; j += nt) {
        const float z = E::load(base, j);
        online_add<1, NEED_T>(st, &z, c);
        if (RAW) online_add<1, true>(sr, &z, LOG2E);
    }

    if (!block_merge<RAW>(st, c, sr, LOG2E, sh)) return;  // warps 1..: done (no barrier follows)
    if (tid != 0) return;

    // Natural units: z'_max = m/τ, ln s = ln2·log2 s; relative to the max, so z'_y − lse has no large cancellation.
    const float log2s = log2f(st.s);
    logprobs[row] = bad ? 0.0f : (zy - st.m) * inv_tau - LN2 * log2s;
    if (MODE != 0) {
        const Online e = RAW ? sr : st;
        const float e_inv = RAW ? 1.0f : inv_tau;  // entropy logits: z (raw) or z/τ (scaled)
        const float l2 = log2f(e.s);
        const float tm = e.t / e.s;                // Σ q·(u − mu) in base 2
        if (entropy != nullptr) entropy[row] = LN2 * (l2 - tm);
        if (saved != nullptr) {
            saved[3 * row] = st.m * inv_tau + LN2 * log2s;
            saved[3 * row + 1] = e.m * e_inv + LN2 * l2;
            saved[3 * row + 2] = e.m * e_inv + LN2 * tm;
        }
    }
}

/* Stores VEC consecutive outputs at a 16-byte aligned address. */
template <int ODT, int VEC>
__device__ __forceinline__ void store_vec(char *p, const float *o) {
    if constexpr (ODT == PPO_F32) {
#pragma unroll
        for (int k = 0; k < VEC; k += 4) {
            reinterpret_cast<float4 *>(p)[k / 4] = make_float4(o[k], o[k + 1], o[k + 2], o[k + 3]);
        }
    } else {
        typedef Elem<ODT> O;
#pragma unroll
        for (int k = 0; k < VEC; k += 8) {
            uint4 q;
            q.x = (unsigned)O::bits(o[k]) | ((unsigned)O::bits(o[k + 1]) << 16);
            q.y = (unsigned)O::bits(o[k + 2]) | ((unsigned)O::bits(o[k + 3]) << 16);
            q.z = (unsigned)O::bits(o[k + 4]) | ((unsigned)O::bits(o[k + 5]) << 16);
            q.w = (unsigned)O::bits(o[k + 6]) | ((unsigned)O::bits(o[k + 7]) << 16);
            reinterpret_cast<uint4 *>(p)[k / 8] = q;
        }
    }
}

/* Per-row constants of the backward. */
struct BwdRow {
    float c, inv_tau, lse2, lse_e2, mean, cg, h;
    long long y;
    int raw;
};

/* d loss / d z_j for one logit (SPEC backward); the entropy term is skipped where q = 0 (its limit), never 0·inf. */
__device__ __forceinline__ float grad_one(const BwdRow &r, float z, int64_t j) {
    const float p = exp2f(fmaf(z, r.c, -r.lse2));
    float out = r.cg * ((j == r.y ? 1.0f : 0.0f) - p);
    if (r.h != 0.0f) {
        if (r.raw) {
            const float q = exp2f(fmaf(z, LOG2E, -r.lse_e2));
            out -= q > 0.0f ? r.h * q * (z - r.mean) : 0.0f;
        } else {
            const float q = exp2f(fmaf(z, r.c, -r.lse_e2));
            out -= q > 0.0f ? r.h * q * (z * r.inv_tau - r.mean) * r.inv_tau : 0.0f;
        }
    }
    return out;
}

/* Backward: one streaming pass per row; reads z, writes grad (possibly over z: each element is read before the same
 * thread writes it). No reductions, so no barriers. */
template <int DT, int ODT>
__global__ void __launch_bounds__(TL_MAX_THREADS)
token_logprobs_bwd(const void *logits, int64_t v, int64_t stride, const void *__restrict__ labels, int label_i64,
                   const float *__restrict__ saved, const float *__restrict__ grad_lp, const float *__restrict__ grad_ent,
                   float c, float inv_tau, int raw, void *grad, int64_t gstride,
                   unsigned long long *__restrict__ bad_row) {
    typedef Elem<DT> E;
    typedef Elem<ODT> O;
    constexpr int VEC = 16 / E::SIZE;
    const int64_t row = blockIdx.x;
    const int tid = threadIdx.x, nt = blockDim.x;
    const char *base = static_cast<const char *>(logits) + row * stride * E::SIZE;
    char *obase = static_cast<char *>(grad) + row * gstride * O::SIZE;

    BwdRow r;
    r.c = c;
    r.inv_tau = inv_tau;
    r.raw = raw;
    r.lse2 = saved[3 * row] * LOG2E;
    r.lse_e2 = saved[3 * row + 1] * LOG2E;
    r.mean = saved[3 * row + 2];
    r.cg = grad_lp[row] * inv_tau;
    r.h = grad_ent != nullptr ? grad_ent[row] : 0.0f;
    r.y = label_at(labels, label_i64, row);
    if (r.y < 0 || r.y >= v) {
        if (tid == 0) atomicMin(bad_row, (unsigned long long)row);  // integer min: order-independent
        r.y = -1;
    }

    int64_t head = (int64_t)(((16u - ((uintptr_t)base & 15u)) & 15u) / E::SIZE);
    if (head > v) head = v;
    for (int64_t j = tid; j < head; j += nt) O::store(obase, j, grad_one(r, E::load(base, j), j));

    const uint4 *vb = reinterpret_cast<const uint4 *>(base + head * E::SIZE);
    char *ob = obase + head * O::SIZE;
    const bool ovec = ((uintptr_t)ob & 15u) == 0;  // same for the whole row: vector or element stores
    const int64_t nvec = (v - head) / VEC;
    for (int64_t g = tid; g < nvec; g += nt) {
        float z[VEC], o[VEC];
        E::unpack(__ldg(vb + g), z);
        const int64_t j0 = head + g * VEC;
#pragma unroll
        for (int k = 0; k < VEC; k++) o[k] = grad_one(r, z[k], j0 + k);
        if (ovec) {
            store_vec<ODT, VEC>(ob + g * VEC * O::SIZE, o);
        } else {
#pragma unroll
            for (int k = 0; k < VEC; k++) O::store(obase, j0 + k, o[k]);
        }
    }
    for (int64_t j = head + nvec * VEC + tid; j < v; j += nt) O::store(obase, j, grad_one(r, E::load(base, j), j));
}

struct FwdArgs {
    const void *logits;
    int64_t n, v, stride;
    const void *labels;
    int label_i64;
    float c, inv_tau;
    float *logprobs, *entropy, *saved;
    unsigned long long *flag;
};

template <int DT, int MODE>
void launch_fwd(const FwdArgs &a, unsigned threads, cudaStream_t s) {
    auto kernel = token_logprobs_fwd<DT, MODE>;
    SIMT_LAUNCH(kernel, dim3((unsigned)a.n), dim3(threads), 0, s, a.logits, a.v, a.stride, a.labels, a.label_i64, a.c,
                a.inv_tau, a.logprobs, a.entropy, a.saved, a.flag);
}

template <int DT>
void launch_fwd_mode(const FwdArgs &a, int mode, unsigned threads, cudaStream_t s) {
    if (mode == 0) launch_fwd<DT, 0>(a, threads, s);
    else if (mode == 1) launch_fwd<DT, 1>(a, threads, s);
    else launch_fwd<DT, 2>(a, threads, s);
}

struct BwdArgs {
    const void *logits;
    int64_t n, v, stride;
    const void *labels;
    int label_i64;
    const float *saved, *grad_lp, *grad_ent;
    float c, inv_tau;
    int raw;
    void *grad;
    int64_t gstride;
    unsigned long long *flag;
};

template <int DT, int ODT>
void launch_bwd(const BwdArgs &a, unsigned threads, cudaStream_t s) {
    auto kernel = token_logprobs_bwd<DT, ODT>;
    SIMT_LAUNCH(kernel, dim3((unsigned)a.n), dim3(threads), 0, s, a.logits, a.v, a.stride, a.labels, a.label_i64, a.saved,
                a.grad_lp, a.grad_ent, a.c, a.inv_tau, a.raw, a.grad, a.gstride, a.flag);
}

bool float_dtype(int32_t dt) { return dt == PPO_F32 || dt == PPO_BF16 || dt == PPO_F16; }

/* Checks shared by both directions (Java validates first; this guards direct C callers). */
int32_t check_common(const char *op, const void *logits, int32_t dt, int64_t n, int64_t v, int64_t stride,
                     const void *labels, int32_t ldt, double temperature) {
    if (!float_dtype(dt)) return fail(PPO_ERR_INVALID, "%s: logits dtype %d is not f32/bf16/f16", op, dt);
    if (ldt != PPO_I32 && ldt != PPO_I64) return fail(PPO_ERR_INVALID, "%s: labels dtype %d is not i32/i64", op, ldt);
    if (n < 0 || n > 2147483647LL || v < 1 || stride < v) {
        return fail(PPO_ERR_INVALID, "%s: bad shape n=%lld v=%lld row_stride=%lld", op, (long long)n, (long long)v,
                    (long long)stride);
    }
    if (!(temperature > 0.0)) return fail(PPO_ERR_INVALID, "%s: temperature must be > 0, got %g", op, temperature);
    if (n > 0 && (logits == nullptr || labels == nullptr)) return fail(PPO_ERR_INVALID, "%s: NULL logits or labels", op);
    return PPO_OK;
}

}  // namespace

extern "C" int32_t token_logprobs(void *ctx, const void *logits, int32_t logits_dtype, int64_t n, int64_t v,
                                  int64_t row_stride, const void *labels, int32_t label_dtype, double temperature,
                                  int32_t entropy_logits, float *logprobs, float *entropy, float *saved) {
    const char *op = "token_logprobs";
    int32_t rc = check_common(op, logits, logits_dtype, n, v, row_stride, labels, label_dtype, temperature);
    if (rc != PPO_OK) return rc;
    if (n > 0 && logprobs == nullptr) return fail(PPO_ERR_INVALID, "%s: NULL logprobs", op);
    if (n == 0) return PPO_OK;
    cudaStream_t s = static_cast<cudaStream_t>(ctx);
    FwdArgs a;
    a.logits = logits;
    a.n = n;
    a.v = v;
    a.stride = row_stride;
    a.labels = labels;
    a.label_i64 = label_dtype == PPO_I64;
    a.c = (float)(1.4426950408889634 / temperature);  // log2(e)/τ in f64, rounded once to the f32 of the kernel
    a.inv_tau = (float)(1.0 / temperature);
    a.logprobs = logprobs;
    a.entropy = entropy;
    a.saved = saved;
    if ((rc = thread_label_flag(op, s, &a.flag)) != PPO_OK) return rc;  // no memset per call
    const int mode = (entropy == nullptr && saved == nullptr) ? 0 : (entropy_logits == PPO_ENTROPY_RAW ? 2 : 1);
    const int64_t fwd_item = (int64_t)FWD_LOADS * (logits_dtype == PPO_F32 ? 4 : 8);  // logits per sweep step
    const unsigned threads = pick_threads(v, fwd_item, TL_MAX_THREADS);
    switch (logits_dtype) {
        case PPO_F32: launch_fwd_mode<PPO_F32>(a, mode, threads, s); break;
        case PPO_BF16: launch_fwd_mode<PPO_BF16>(a, mode, threads, s); break;
        default: launch_fwd_mode<PPO_F16>(a, mode, threads, s); break;
    }
    if ((rc = check_launch(op, "token_logprobs_fwd")) != PPO_OK) return rc;
    return report_label_flag(op, a.flag, labels, label_dtype, v, s);  // synchronises the stream
}

extern "C" int32_t token_logprobs_backward(void *ctx, const void *logits, int32_t logits_dtype, int64_t n, int64_t v,
                                           int64_t row_stride, const void *labels, int32_t label_dtype,
                                           const float *saved, const float *grad_logprobs, const float *grad_entropy,
                                           double temperature, int32_t entropy_logits, void *grad_logits,
                                           int32_t grad_dtype, int64_t grad_row_stride) {
    const char *op = "token_logprobs_backward";
    int32_t rc = check_common(op, logits, logits_dtype, n, v, row_stride, labels, label_dtype, temperature);
    if (rc != PPO_OK) return rc;
    if (grad_dtype != PPO_F32 && grad_dtype != logits_dtype) {
        return fail(PPO_ERR_INVALID, "%s: grad_logits dtype %d must be f32 or the logits' dtype %d", op, grad_dtype,
                    logits_dtype);
    }
    if (grad_row_stride < v) return fail(PPO_ERR_INVALID, "%s: grad row stride %lld < v", op, (long long)grad_row_stride);
    if (grad_logits == logits && (grad_dtype != logits_dtype || grad_row_stride != row_stride)) {
        return fail(PPO_ERR_INVALID, "%s: in place needs the logits' dtype and row stride", op);
    }
    if (n > 0 && (saved == nullptr || grad_logprobs == nullptr || grad_logits == nullptr)) {
        return fail(PPO_ERR_INVALID, "%s: NULL saved, grad_logprobs or grad_logits", op);
    }
    if (n == 0) return PPO_OK;
    cudaStream_t s = static_cast<cudaStream_t>(ctx);
    Scratch scratch;
    if ((rc = scratch.reserve(op, sizeof(unsigned long long))) != PPO_OK) return rc;
    BwdArgs a;
    a.logits = logits;
    a.n = n;
    a.v = v;
    a.stride = row_stride;
    a.labels = labels;
    a.label_i64 = label_dtype == PPO_I64;
    a.saved = saved;
    a.grad_lp = grad_logprobs;
    a.grad_ent = grad_entropy;
    a.c = (float)(1.4426950408889634 / temperature);
    a.inv_tau = (float)(1.0 / temperature);
    a.raw = entropy_logits == PPO_ENTROPY_RAW;
    a.grad = grad_logits;
    a.gstride = grad_row_stride;
    a.flag = scratch.at<unsigned long long>(0);
    if ((rc = reset_label_flag(op, a.flag, s)) != PPO_OK) return rc;
    const unsigned threads = pick_threads(v, ITEM, TL_MAX_THREADS);
    const bool f32_out = grad_dtype == PPO_F32;
    switch (logits_dtype) {
        case PPO_F32: launch_bwd<PPO_F32, PPO_F32>(a, threads, s); break;
        case PPO_BF16:
            if (f32_out) launch_bwd<PPO_BF16, PPO_F32>(a, threads, s);
            else launch_bwd<PPO_BF16, PPO_BF16>(a, threads, s);
            break;
        default:
            if (f32_out) launch_bwd<PPO_F16, PPO_F32>(a, threads, s);
            else launch_bwd<PPO_F16, PPO_F16>(a, threads, s);
            break;
    }
    if ((rc = check_launch(op, "token_logprobs_bwd")) != PPO_OK) return rc;
    return report_label_flag(op, a.flag, labels, label_dtype, v, s);
}
