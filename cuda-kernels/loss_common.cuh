/*
 * loss_common.cuh — the per-token PPO losses and their aggregation, shared by policy_loss.cu, value_loss.cu and
 * ppo_loss.cu (SPEC "policy_loss", "value_loss", "ppo_loss", loss_agg).
 *
 * Per valid token (A = advantage, x = logprob − old_logprob clamped to ±log_ratio_clamp, ρ = exp x):
 *   policy: L1 = −A·ρ, L2 = −A·clip(ρ, 1 − clip_low, 1 + clip_high), L = max(L1, L2); dual clip c, A < 0:
 *           L = min(L, −A·c). dL/dlogprob = dL/dx: −A·ρ on the unclipped branch, 0 on a clipped one, halved at a
 *           dual-clip tie (torch.minimum splits it), 0 where |raw x| > clamp; A = 0 gives L = 0 and 0 (never 0·inf).
 *           (Schulman et al. 2017 as in trl's pg_losses/pg_losses2; dual clip: Ye et al. 2020 / verl.)
 *   value:  Vc = clamp(V, old ± ε_v), L = ½·max((V − R)², (Vc − R)²); dL/dV = (V − R) or (Vc − R)·[V inside the
 *           closed clip interval], ½ + ½ of both at a tie (torch.maximum).
 * Aggregation (verl's agg_loss modes) is linear in L: loss = Σ_t w_b·m_t·L_t with, for n_b valid tokens in row b,
 * R non-empty rows and N valid tokens: token-mean w = 1/(token_count or N); seq-mean-token-sum w = 1/R;
 * seq-mean-token-mean w = 1/(n_b·R); seq-mean-token-sum-norm w = 1/(loss_agg_norm or T); N = 0 gives 0.
 * So d loss/d input_t = w_b·dL_t, written in the same elementwise pass.
 *
 * GPU shape of the computation (a memset, two launches, then one small copy to the host and one sync):
 *   1. loss_row_counts: a warp per row (a thread per row for short rows) counts its valid tokens (n_b); a block's
 *      counts go to integer totals (N, R) with integer atomics — exact, so order-independent (no float atomics);
 *   2. loss_tokens: one grid-stride pass over the B·T tokens (4 tokens per thread step with 16-byte loads and stores
 *      when the tensors are aligned, every block resident at once) reads the inputs once, writes the gradients and
 *      keeps per-thread partial sums of the loss and of every statistic; a fixed shuffle tree reduces them to one
 *      partial per block; the block that takes the last done-ticket (integer atomic) then sums the block partials
 *      in f64, each column lane-strided in block order and then a fixed shuffle tree — the same order whichever
 *      block is last, so the sums repeat bit for bit (a deterministic two-stage reduction in one launch; on the
 *      emulator blocks run one after another and the last one finishes).
 * Statistics are means over the valid tokens (N, not token_count), so they are the sums divided by N on the host.
 */
#ifndef PPO_LOSS_COMMON_CUH
#define PPO_LOSS_COMMON_CUH

#include <string.h>

#include "ppo_cuda_host.h"

namespace {
using namespace ppo;

constexpr unsigned LOSS_THREADS = 256;  // the most threads per block of the token pass

/* Statistic slots of the final sums (LossSums::s). */
enum {
    S_PLOSS = 0, S_CLIP = 1, S_DUAL = 2, S_NEGX = 3, S_HALFX2 = 4, S_RATIO = 5,  // policy
    S_VLOSS = 6, S_VCLIP = 7,                                                 // value
    S_ENT = 8,                                                                // entropy term
    S_COUNT = 9
};

/* Where each part's sums sit in the compact per-block partials of one loss_tokens instantiation: only the parts
 * that run are reduced (fewer shuffles), policy first, then value, then entropy. */
struct Slots {
    int po, vo, eo, ns;
};
__host__ __device__ constexpr Slots slots_for(bool p, bool v, bool e) {
    return Slots{0, p ? 6 : 0, (p ? 6 : 0) + (v ? 2 : 0), (p ? 6 : 0) + (v ? 2 : 0) + (e ? 1 : 0)};
}

struct AggDev {
    int mode;             // PPO_AGG_*
    double token_count;   // token-mean divisor, 0 = N
    double norm;          // seq-mean-token-sum-norm divisor, 0 = T
};

/* Row weight w_b of the aggregation; n_tok = N, n_rows = R. Uniform modes are computed once per thread. */
__device__ __forceinline__ float agg_weight(const AggDev &a, unsigned long long n_tok, unsigned long long n_rows,
                                            int row_len, int64_t T) {
    if (n_tok == 0) return 0.0f;
    switch (a.mode) {
        case PPO_AGG_SEQ_MEAN_TOKEN_SUM: return (float)(1.0 / (double)n_rows);
        case PPO_AGG_SEQ_MEAN_TOKEN_MEAN:
            return row_len > 0 ? 1.0f / ((float)row_len * (float)n_rows) : 0.0f;
        case PPO_AGG_SEQ_MEAN_TOKEN_SUM_NORM: return (float)(1.0 / (a.norm > 0.0 ? a.norm : (double)T));
        default: return (float)(1.0 / (a.token_count > 0.0 ? a.token_count : (double)n_tok));
    }
}

struct PolicyDev {
    float lo, hi;       // ratio clip interval [1 − clip_low, 1 + clip_high]
    float clamp;        // log-ratio clamp, 0 = off
    float dual;         // dual clip c, 0 = off
};

struct PolicyTok {
    float loss, grad, x, ratio;
    bool clipped, dual;
};

__device__ __forceinline__ PolicyTok policy_token(float lp, float old, float A, const PolicyDev &p) {
    PolicyTok r;
    float x = lp - old;
    bool clamped = false;
    if (p.clamp > 0.0f && fabsf(x) > p.clamp) {
        x = copysignf(p.clamp, x);
        clamped = true;
    }
    r.x = x;
    r.ratio = expf(x);
    r.clipped = false;
    r.dual = false;
    if (A == 0.0f) {  // L1 = L2 = 0 for every finite ρ: flat, and no −0·inf when ρ overflows
        r.loss = 0.0f;
        r.grad = 0.0f;
        return r;
    }
    const float l1 = -A * r.ratio;
    const float l2 = -A * fminf(fmaxf(r.ratio, p.lo), p.hi);
    const float d1 = -A * r.ratio;                                // dL1/dx
    const float d2 = (r.ratio >= p.lo && r.ratio <= p.hi) ? d1 : 0.0f;  // dL2/dx: clamp passes the closed interval
    r.clipped = l2 > l1;
    float loss = r.clipped ? l2 : l1;
    float dl = r.clipped ? d2 : d1;
    if (p.dual > 0.0f && A < 0.0f) {
        const float l3 = -A * p.dual;
        if (loss > l3) {
            loss = l3;
            dl = 0.0f;
            r.dual = true;
        } else if (loss == l3) {
            dl *= 0.5f;
        }
    }
    r.loss = loss;
    r.grad = clamped ? 0.0f : dl;  // a choice, not a product: ρ may be inf
    return r;
}

struct ValueTok {
    float loss, grad;
    bool clipped;
};

__device__ __forceinline__ ValueTok value_token(float v, float old, float ret, float clip) {
    float vc = v;
    bool passes = true;  // dVc/dV = 1
    if (clip > 0.0f) {
        const float lo = old - clip, hi = old + clip;
        vc = fminf(fmaxf(v, lo), hi);
        passes = v >= lo && v <= hi;
    }
    const float a = v - ret, b = vc - ret;
    const float db = passes ? b : 0.0f;
    const float a2 = a * a, b2 = b * b;
    ValueTok r;
    if (a2 > b2) {
        r.loss = 0.5f * a2;
        r.grad = a;
        r.clipped = false;
    } else if (b2 > a2) {
        r.loss = 0.5f * b2;
        r.grad = db;
        r.clipped = true;
    } else {
        r.loss = 0.5f * a2;
        r.grad = 0.5f * a + 0.5f * db;
        r.clipped = false;
    }
    return r;
}

struct LossArgs {
    int64_t n, T;
    // policy part (and the entropy term, which uses the policy's mask and aggregation)
    const float *lp, *old_lp, *adv;
    MaskRef pmask;
    PolicyDev pp;
    AggDev pagg;
    const int *prow;
    const unsigned long long *ptot;  // [N, R] of the policy mask
    float *grad_lp;
    // value part
    const float *val, *old_val, *ret;
    MaskRef vmask;
    float vclip;
    AggDev vagg;
    const int *vrow;
    const unsigned long long *vtot;
    float *grad_val;
    float vscale;                    // 1 (value_loss) or vf_coef (ppo_loss)
    // entropy term
    const float *ent;
    float *grad_ent;
    float ent_coef;
    float *partials;                 // [gridDim.x][NS]
    unsigned *done;                  // blocks finished (zeroed before the launch)
    double *sums;                    // [NS] final sums, written by the last block
    int pmask_vec, vmask_vec;        // the mask is f32 and 16-byte aligned: 4 tokens per load
    int same_mask;                   // the value part uses the policy mask
};

/* 1. Valid tokens per row and the totals (N, R). Long rows: a warp per row (coalesced loads, 16-byte ones for an
 * aligned f32 mask, a shuffle sum), then the block's warps are summed in shared memory and one thread adds them to
 * the totals with integer atomics — exact, so order-independent, and two per block rather than two per row (a few
 * thousand atomics on one address serialise in L2). */
__global__ void __launch_bounds__(LOSS_THREADS)
loss_row_counts(MaskRef mask, int64_t B, int64_t T, int *__restrict__ row_len, unsigned long long *__restrict__ totals) {
    __shared__ int wcount[LOSS_THREADS / 32], wrows[LOSS_THREADS / 32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t row = (int64_t)blockIdx.x * (blockDim.x >> 5) + warp;
    int count = 0;
    if (row < B) {  // no early return: every thread reaches the barrier below
        if (mask.dtype == PPO_F32 && T % 4 == 0 && ((uintptr_t)mask.p & 15u) == 0) {
            const float4 *m4 = reinterpret_cast<const float4 *>(static_cast<const float *>(mask.p) + row * T);
#pragma unroll 8
            for (int64_t t = lane; t < T / 4; t += 32) {
                const float4 q = m4[t];
                count += (q.x != 0.0f ? 1 : 0) + (q.y != 0.0f ? 1 : 0) + (q.z != 0.0f ? 1 : 0) + (q.w != 0.0f ? 1 : 0);
            }
        } else {
#pragma unroll 4
            for (int64_t t = lane; t < T; t += 32) count += valid(mask, row * T + t) ? 1 : 0;
        }
    }
    count = warp_sum_int(count);
    if (lane == 0) {
        if (row < B) row_len[row] = count;
        wcount[warp] = count;
        wrows[warp] = count > 0 ? 1 : 0;
    }
    __syncthreads();  // every warp's count is in shared memory before thread 0 adds them up
    if (threadIdx.x == 0) {
        unsigned long long n = 0, r = 0;
        for (int w = 0; w < (int)(blockDim.x >> 5); w++) {
            n += (unsigned long long)wcount[w];
            r += (unsigned long long)wrows[w];
        }
        // integer atomics: exact, so the totals do not depend on the order the blocks finish in
        if (n > 0) atomicAdd(&totals[0], n);
        if (r > 0) atomicAdd(&totals[1], r);
    }
}

/* Short rows (T ≤ SHORT_ROW): a thread per row reading its row in order (consecutive threads' rows are adjacent, so
 * the loads stay in L1), no collectives at all. */
constexpr int64_t SHORT_ROW = 256;
__global__ void __launch_bounds__(LOSS_THREADS)
loss_row_counts_short(MaskRef mask, int64_t B, int64_t T, int *__restrict__ row_len,
                      unsigned long long *__restrict__ totals) {
    const int64_t row = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= B) return;
    int count = 0;
    for (int64_t t = 0; t < T; t++) count += valid(mask, row * T + t) ? 1 : 0;
    row_len[row] = count;
    // integer atomics: exact, so the totals do not depend on the order the rows finish in
    atomicAdd(&totals[0], (unsigned long long)count);
    if (count > 0) atomicAdd(&totals[1], 1ull);
}

/* Launches the row count that suits T. */
int32_t launch_counts(const char *op, MaskRef m, int64_t B, int64_t T, int *row_len, unsigned long long *tot,
                      cudaStream_t s) {
    if (T <= SHORT_ROW) {
        const unsigned threads = pick_threads(B, 1, LOSS_THREADS);
        SIMT_LAUNCH(loss_row_counts_short, dim3((unsigned)((B + threads - 1) / threads)), dim3(threads), 0, s, m, B, T,
                    row_len, tot);
        return check_launch(op, "loss_row_counts_short");
    }
    const unsigned threads = pick_threads(B * 32, 1, LOSS_THREADS);  // a warp per row
    const unsigned blocks = (unsigned)((B + (threads / 32) - 1) / (threads / 32));
    SIMT_LAUNCH(loss_row_counts, dim3(blocks), dim3(threads), 0, s, m, B, T, row_len, tot);
    return check_launch(op, "loss_row_counts");
}

/* Inputs of one token (read unconditionally; a masked token's values are never used, only selected away). */
struct TokIn {
    float lp, old, adv, val, oval, ret, ent;
    bool okp, okv;
};

/* The per-token part of loss_tokens: accumulates the token's sums and returns its three gradients. */
template <bool P, bool V, bool E>
struct TokenMath {
    static constexpr Slots SL = slots_for(P, V, E);
    const LossArgs &a;
    bool prow_w, vrow_w;
    unsigned long long pn, pr, vn, vr;
    float pw0, vw0;

    __device__ __forceinline__ void step(int64_t i, const TokIn &in, float (&acc)[SL.ns], float &glp, float &gval,
                                         float &gent) const {
        const int64_t row = (prow_w || vrow_w) ? i / a.T : 0;
        glp = 0.0f;
        gval = 0.0f;
        gent = 0.0f;
        if (P || E) {
            const float w = !in.okp ? 0.0f : (prow_w ? agg_weight(a.pagg, pn, pr, a.prow[row], a.T) : pw0);
            if (P && in.okp) {
                const PolicyTok k = policy_token(in.lp, in.old, in.adv, a.pp);
                acc[SL.po + 0] += w * k.loss;
                acc[SL.po + 1] += k.clipped ? 1.0f : 0.0f;
                acc[SL.po + 2] += k.dual ? 1.0f : 0.0f;
                acc[SL.po + 3] -= k.x;
                acc[SL.po + 4] += 0.5f * k.x * k.x;
                acc[SL.po + 5] += k.ratio;
                glp = w * k.grad;
            }
            if (E) {
                if (in.okp) acc[SL.eo] += w * in.ent;
                gent = in.okp ? -a.ent_coef * w : 0.0f;
            }
        }
        if (V && in.okv) {
            const float w = vrow_w ? agg_weight(a.vagg, vn, vr, a.vrow[row], a.T) : vw0;
            const ValueTok k = value_token(in.val, in.oval, in.ret, a.vclip);
            acc[SL.vo + 0] += w * k.loss;
            acc[SL.vo + 1] += k.clipped ? 1.0f : 0.0f;
            gval = (a.vscale * w) * k.grad;
        }
    }
};

__device__ __forceinline__ float4 ld4(const float *p, int64_t j) { return reinterpret_cast<const float4 *>(p)[j]; }
__device__ __forceinline__ void st4(float *p, int64_t j, const float *x) {
    reinterpret_cast<float4 *>(p)[j] = make_float4(x[0], x[1], x[2], x[3]);
}
__device__ __forceinline__ void unpack4(float4 q, float *x) {
    x[0] = q.x; x[1] = q.y; x[2] = q.z; x[3] = q.w;
}
/* Validity of the 4 tokens at 4j..4j+3: one 16-byte load for an f32 mask (a.vec_mask), else element loads. */
__device__ __forceinline__ void mask4(MaskRef m, bool vec, int64_t j, bool *ok) {
    if (vec) {
        const float4 q = ld4(static_cast<const float *>(m.p), j);
        ok[0] = q.x != 0.0f; ok[1] = q.y != 0.0f; ok[2] = q.z != 0.0f; ok[3] = q.w != 0.0f;
    } else {
#pragma unroll
        for (int k = 0; k < 4; k++) ok[k] = valid(m, 4 * j + k);
    }
}

/*
 * 2. The elementwise pass: gradients + one partial per block of every sum the losses and statistics need, then the
 * final sums by the block that finishes last (a done-counter ticket: integer atomic; that block reads every block's
 * partial in block order, so the sums do not depend on which block is last or on the order the blocks ran).
 * VEC (every tensor 16-byte aligned): 4 consecutive tokens per thread per step with 16-byte loads and stores, all
 * loads of a step issued before any arithmetic; the n mod 4 last tokens, or every token without VEC, one by one.
 */
/* Resident blocks per multiprocessor of loss_tokens (registers: the fused ppo_loss with entropy needs more than 64). */
constexpr int loss_blocks_per_sm(bool e) { return e ? 3 : 4; }

template <bool P, bool V, bool E, bool VEC>
__global__ void __launch_bounds__(LOSS_THREADS, loss_blocks_per_sm(E)) loss_tokens(LossArgs a) {
    typedef TokenMath<P, V, E> TM;
    constexpr Slots SL = slots_for(P, V, E);
    constexpr int NS = SL.ns;
    __shared__ float red[NS * 32];
    __shared__ bool last;
    float acc[NS];
#pragma unroll
    for (int k = 0; k < NS; k++) acc[k] = 0.0f;
    TM tm{a, a.pagg.mode == PPO_AGG_SEQ_MEAN_TOKEN_MEAN, a.vagg.mode == PPO_AGG_SEQ_MEAN_TOKEN_MEAN, 0, 0, 0, 0, 0.0f,
          0.0f};
    tm.pn = (P || E) ? a.ptot[0] : 0ull;
    tm.pr = (P || E) ? a.ptot[1] : 0ull;
    tm.vn = V ? a.vtot[0] : 0ull;
    tm.vr = V ? a.vtot[1] : 0ull;
    tm.pw0 = (P || E) ? agg_weight(a.pagg, tm.pn, tm.pr, 0, a.T) : 0.0f;  // uniform modes
    tm.vw0 = V ? agg_weight(a.vagg, tm.vn, tm.vr, 0, a.T) : 0.0f;
    const int64_t gtid = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    int64_t tail = 0;  // first token of the element loop
    if (VEC) {
        const int64_t n4 = a.n / 4;
        for (int64_t j = gtid; j < n4; j += stride) {
            float lp[4], old[4], adv[4], val[4], ov[4], ret[4], ent[4];
            bool okp[4], okv[4];
            if (P) {
                unpack4(ld4(a.lp, j), lp);
                unpack4(ld4(a.old_lp, j), old);
                unpack4(ld4(a.adv, j), adv);
            }
            if (E) unpack4(ld4(a.ent, j), ent);
            if (P || E) mask4(a.pmask, a.pmask_vec, j, okp);
            if (V) {
                unpack4(ld4(a.val, j), val);
                unpack4(ld4(a.old_val, j), ov);
                unpack4(ld4(a.ret, j), ret);
                if (a.same_mask) {
#pragma unroll
                    for (int k = 0; k < 4; k++) okv[k] = okp[k];
                } else {
                    mask4(a.vmask, a.vmask_vec, j, okv);
                }
            }
            float glp[4], gval[4], gent[4];
#pragma unroll
            for (int k = 0; k < 4; k++) {
                TokIn in;
                in.lp = P ? lp[k] : 0.0f;
                in.old = P ? old[k] : 0.0f;
                in.adv = P ? adv[k] : 0.0f;
                in.ent = E ? ent[k] : 0.0f;
                in.okp = (P || E) ? okp[k] : false;
                in.val = V ? val[k] : 0.0f;
                in.oval = V ? ov[k] : 0.0f;
                in.ret = V ? ret[k] : 0.0f;
                in.okv = V ? okv[k] : false;
                tm.step(4 * j + k, in, acc, glp[k], gval[k], gent[k]);
            }
            if (P) st4(a.grad_lp, j, glp);
            if (E) st4(a.grad_ent, j, gent);
            if (V) st4(a.grad_val, j, gval);
        }
        tail = n4 * 4;
    }
    for (int64_t i = tail + gtid; i < a.n; i += stride) {
        TokIn in;
        in.okp = (P || E) && valid(a.pmask, i);
        in.okv = V && valid(a.vmask, i);
        // element loads only where valid (this loop also serves unaligned tensors of any size)
        in.lp = P && in.okp ? a.lp[i] : 0.0f;
        in.old = P && in.okp ? a.old_lp[i] : 0.0f;
        in.adv = P && in.okp ? a.adv[i] : 0.0f;
        in.ent = E && in.okp ? a.ent[i] : 0.0f;
        in.val = V && in.okv ? a.val[i] : 0.0f;
        in.oval = V && in.okv ? a.old_val[i] : 0.0f;
        in.ret = V && in.okv ? a.ret[i] : 0.0f;
        float glp, gval, gent;
        tm.step(i, in, acc, glp, gval, gent);
        if (P) a.grad_lp[i] = glp;
        if (E) a.grad_ent[i] = gent;
        if (V) a.grad_val[i] = gval;
    }
    block_sum_to_thread0(acc, red);  // one barrier, reached by every thread
    if (threadIdx.x == 0) {
#pragma unroll
        for (int k = 0; k < NS; k++) a.partials[(int64_t)blockIdx.x * NS + k] = acc[k];
        __threadfence();  // the partials are visible device-wide before this block takes its ticket
        last = atomicAdd(a.done, 1u) == gridDim.x - 1;  // integer ticket: exact
    }
    __syncthreads();  // `last` is visible to the block (reached by every thread)
    if (!last) return;
    // 3. The last block: f64 sums of the NS columns of the partials, a warp per column (columns warp, warp + nw, ...),
    // each lane-strided over the blocks in block order then a fixed shuffle tree: the order does not depend on the
    // grid's timing. Loads are batched (8 in flight per lane) before the additions, which stay in order.
    __threadfence();  // every other block's partials (fenced before their tickets) are read after this block's ticket
    const volatile float *part = a.partials;  // written by other blocks during this launch: not through the L1
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    const int nb = (int)gridDim.x;
    for (int k = warp; k < NS; k += nw) {
        double sum = 0.0;
        for (int j0 = lane; j0 < nb; j0 += 8 * 32) {
            float x[8];
#pragma unroll
            for (int u = 0; u < 8; u++) {
                const int j = j0 + 32 * u;
                x[u] = j < nb ? part[(int64_t)j * NS + k] : 0.0f;
            }
#pragma unroll
            for (int u = 0; u < 8; u++) sum += (double)x[u];  // + 0.0 past the end: exact, so the same bits
        }
        sum = warp_sum_down(sum);
        if (lane == 0) a.sums[k] = sum;
    }
}

/* Host: what to run and where the results go. */
struct LossJob {
    const char *op;
    bool policy, value, entropy;
    int64_t b, t;
    LossArgs args;              // pointers and parameters (counts/partials filled in by run_losses)
    const void *pmask_ptr, *vmask_ptr;
    int32_t pmask_dtype, vmask_dtype;
};

/* A job of op over [b, t] with which terms it computes; both masks start as `mask` (ppo_loss may give the value
 * part its own). */
inline LossJob loss_job(const char *op, bool policy, bool value, bool entropy, int64_t b, int64_t t, const void *mask,
                        int32_t mask_dtype) {
    LossJob job = {};
    job.op = op;
    job.policy = policy;
    job.value = value;
    job.entropy = entropy;
    job.b = b;
    job.t = t;
    job.pmask_ptr = mask;
    job.pmask_dtype = mask_dtype;
    job.vmask_ptr = mask;
    job.vmask_dtype = mask_dtype;
    return job;
}

/* Results of run_losses: the f64 sums of every slot and the mask totals. */
struct LossSums {
    double s[S_COUNT];
    unsigned long long p_tok, p_rows, v_tok, v_rows;
};

template <bool P, bool V, bool E>
void launch_tokens(const LossArgs &a, bool vec, unsigned blocks, unsigned threads, cudaStream_t s) {
    if (vec) {
        auto kernel = loss_tokens<P, V, E, true>;
        SIMT_LAUNCH(kernel, dim3(blocks), dim3(threads), 0, s, a);
    } else {
        auto kernel = loss_tokens<P, V, E, false>;
        SIMT_LAUNCH(kernel, dim3(blocks), dim3(threads), 0, s, a);
    }
}

/* Blocks of the token pass: every block resident at once (loss_blocks_per_sm, the __launch_bounds__ of
 * loss_tokens), at least MIN_ITEMS_PER_THREAD tokens per thread. Depends only on n and the device: the partials, and
 * so the sums, repeat bit for bit. */
inline unsigned loss_blocks(int64_t n, unsigned threads, bool entropy) {
    const int64_t per_block = (int64_t)threads * MIN_ITEMS_PER_THREAD;
    int64_t want = (n + per_block - 1) / per_block;
    const int64_t cap = (int64_t)loss_blocks_per_sm(entropy) * sm_count();
    if (want > cap) want = cap;
    return (unsigned)(want < 1 ? 1 : want);
}

/* Runs the launches (row counts, then the token pass, whose last block also finishes the sums) and copies the sums
 * and the counts back with one copy (synchronises the stream). */
int32_t run_losses(LossJob &job, cudaStream_t s, LossSums &out) {
    const char *op = job.op;
    const int64_t n = job.b * job.t;
    const unsigned threads = sweep_threads(n, LOSS_THREADS);
    const unsigned blocks = loss_blocks(n, threads, job.entropy);
    const bool need_p = job.policy || job.entropy;
    const bool same_mask = !need_p || !job.value ||
                           (job.vmask_ptr == job.pmask_ptr && job.vmask_dtype == job.pmask_dtype);
    // scratch layout: head = totals [4] u64 | done u32 (both zeroed by one memset) | sums [S_COUNT] f64 at HEAD_SUMS
    // (the head is copied back at once); then p row_len [B] | v row_len [B] | partials [blocks][S_COUNT]
    constexpr size_t HEAD_DONE = 4 * sizeof(unsigned long long), HEAD_SUMS = 64;
    constexpr size_t HEAD = HEAD_SUMS + S_COUNT * sizeof(double);
    const size_t off_prow = align256(HEAD);
    const size_t off_vrow = off_prow + align256((size_t)job.b * sizeof(int));
    const size_t off_part = off_vrow + align256((size_t)job.b * sizeof(int));
    const size_t bytes = off_part + (size_t)blocks * S_COUNT * sizeof(float);  // room for the widest layout
    Scratch scratch;
    int32_t rc = scratch.reserve(op, bytes);
    if (rc != PPO_OK) return rc;
    unsigned long long *tot = scratch.at<unsigned long long>(0);
    int *prow = scratch.at<int>(off_prow), *vrow = scratch.at<int>(off_vrow);
    PPO_CUDA_CHECK(op, "cudaMemsetAsync of the counters", cudaMemsetAsync(tot, 0, HEAD_SUMS, s));

    LossArgs &a = job.args;
    a.n = n;
    a.T = job.t;
    a.pmask = MaskRef{job.pmask_ptr, job.pmask_dtype};
    a.vmask = MaskRef{job.vmask_ptr, job.vmask_dtype};
    a.prow = prow;
    a.ptot = tot;
    a.vrow = same_mask && need_p ? prow : vrow;
    a.vtot = same_mask && need_p ? tot : tot + 2;
    a.partials = scratch.at<float>(off_part);
    a.done = scratch.at<unsigned>(HEAD_DONE);
    a.sums = scratch.at<double>(HEAD_SUMS);
    a.same_mask = need_p && job.value && same_mask;
    const auto aligned = [](const void *p) { return ((uintptr_t)p & 15u) == 0; };  // nullptr: aligned, never read
    a.pmask_vec = job.pmask_dtype == PPO_F32 && aligned(job.pmask_ptr);
    a.vmask_vec = job.vmask_dtype == PPO_F32 && aligned(job.vmask_ptr);
    const bool vec = aligned(a.lp) && aligned(a.old_lp) && aligned(a.adv) && aligned(a.grad_lp) && aligned(a.val) &&
                     aligned(a.old_val) && aligned(a.ret) && aligned(a.grad_val) && aligned(a.ent) &&
                     aligned(a.grad_ent);
    if (need_p && (rc = launch_counts(op, a.pmask, job.b, job.t, prow, tot, s)) != PPO_OK) return rc;
    if (job.value && !(same_mask && need_p) && (rc = launch_counts(op, a.vmask, job.b, job.t, vrow, tot + 2, s)) != PPO_OK) {
        return rc;
    }
    if (job.policy && job.value && job.entropy) launch_tokens<true, true, true>(a, vec, blocks, threads, s);
    else if (job.policy && job.value) launch_tokens<true, true, false>(a, vec, blocks, threads, s);
    else if (job.policy) launch_tokens<true, false, false>(a, vec, blocks, threads, s);
    else launch_tokens<false, true, false>(a, vec, blocks, threads, s);
    if ((rc = check_launch(op, "loss_tokens")) != PPO_OK) return rc;
    const Slots sl = slots_for(job.policy, job.value, job.entropy);

    unsigned char head[HEAD];
    void *pinned = host_staging(HEAD);
    PPO_CUDA_CHECK(op, "copy of the sums",
                   cudaMemcpyAsync(pinned != nullptr ? pinned : head, tot, HEAD, cudaMemcpyDeviceToHost, s));
    if ((rc = sync(op, s)) != PPO_OK) return rc;
    if (pinned != nullptr) memcpy(head, pinned, HEAD);
    unsigned long long host_tot[4];
    double compact[S_COUNT];
    memcpy(host_tot, head, sizeof host_tot);
    memcpy(compact, head + HEAD_SUMS, sizeof compact);
    for (int k = 0; k < S_COUNT; k++) out.s[k] = 0.0;
    if (job.policy) {
        for (int k = 0; k < 6; k++) out.s[S_PLOSS + k] = compact[sl.po + k];
    }
    if (job.value) {
        out.s[S_VLOSS] = compact[sl.vo];
        out.s[S_VCLIP] = compact[sl.vo + 1];
    }
    if (job.entropy) out.s[S_ENT] = compact[sl.eo];
    out.p_tok = host_tot[0];
    out.p_rows = host_tot[1];
    out.v_tok = same_mask && need_p ? host_tot[0] : host_tot[2];
    out.v_rows = same_mask && need_p ? host_tot[1] : host_tot[3];
    return PPO_OK;
}

/* Parameters of the C ABI as device structs: the kernels compute in f32, so the f64 parameters are rounded once. */
inline PolicyDev policy_dev(const ppo_policy_params *p) {
    return PolicyDev{(float)(1.0 - p->clip_low), (float)(1.0 + p->clip_high), (float)p->log_ratio_clamp,
                     (float)p->dual_clip};
}
inline AggDev agg_dev(int64_t mode, double token_count, double norm) {
    return AggDev{(int)mode, token_count, norm};
}

/* Fills the policy statistics (PPO_PSTAT_*) from the sums; returns whether trl's ratio_threshold guard fired. */
inline bool policy_stats(const LossSums &r, const ppo_policy_params *p, double *stats) {
    const double n = (double)r.p_tok;
    const double mean_ratio = n > 0 ? r.s[S_RATIO] / n : 0.0;
    const bool skipped = p->ratio_threshold > 0 && mean_ratio > p->ratio_threshold;
    stats[PPO_PSTAT_LOSS] = skipped ? 0.0 : r.s[S_PLOSS];
    stats[PPO_PSTAT_CLIPFRAC] = n > 0 ? r.s[S_CLIP] / n : 0.0;
    stats[PPO_PSTAT_CLIPFRAC_LOWER] = n > 0 ? r.s[S_DUAL] / n : 0.0;
    stats[PPO_PSTAT_PPO_KL] = n > 0 ? r.s[S_NEGX] / n : 0.0;
    stats[PPO_PSTAT_APPROX_KL] = n > 0 ? r.s[S_HALFX2] / n : 0.0;
    stats[PPO_PSTAT_MEAN_RATIO] = mean_ratio;
    stats[PPO_PSTAT_SKIPPED] = skipped ? 1.0 : 0.0;
    return skipped;
}

inline void value_stats(const LossSums &r, double *stats) {
    const double n = (double)r.v_tok;
    stats[PPO_VSTAT_LOSS] = r.s[S_VLOSS];
    stats[PPO_VSTAT_CLIPFRAC] = n > 0 ? r.s[S_VCLIP] / n : 0.0;
}

/* Zeroes a gradient (the guard fired) and waits for it. */
inline int32_t zero_grad(const char *op, float *g, int64_t n, cudaStream_t s) {
    if (g == nullptr || n == 0) return PPO_OK;
    PPO_CUDA_CHECK(op, "cudaMemsetAsync of a gradient", cudaMemsetAsync(g, 0, (size_t)n * sizeof(float), s));
    return PPO_OK;
}

}  // namespace

#endif /* PPO_LOSS_COMMON_CUH */
