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
 * GPU shape of the computation (three launches, then one small copy to the host):
 *   1. loss_row_counts: a warp per row (a thread per row for short rows) counts its valid tokens (n_b) and adds
 *      them to integer totals (N, R) with integer atomics — exact, so order-independent (no float atomics anywhere);
 *   2. loss_tokens: one grid-stride pass over the B·T tokens reads the inputs once, writes the gradients and keeps
 *      per-thread partial sums of the loss and of every statistic; a fixed shuffle tree reduces them to one
 *      partial per block;
 *   3. loss_final: one warp sums the block partials in f64 in a fixed order.
 * Statistics are means over the valid tokens (N, not token_count), so they are the sums divided by N on the host.
 */
#ifndef PPO_LOSS_COMMON_CUH
#define PPO_LOSS_COMMON_CUH

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
};

/* 1. Valid tokens per row and the totals (N, R). Long rows: a warp per row (coalesced loads, a shuffle sum); whole
 * warps leave together and there is no barrier. Totals use integer atomics: exact and order-independent. */
__global__ void __launch_bounds__(LOSS_THREADS)
loss_row_counts(MaskRef mask, int64_t B, int64_t T, int *__restrict__ row_len, unsigned long long *__restrict__ totals) {
    const int lane = threadIdx.x & 31;
    const int64_t row = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= B) return;
    int count = 0;
    for (int64_t t = lane; t < T; t += 32) count += valid(mask, row * T + t) ? 1 : 0;
    count = warp_sum_int(count);
    if (lane == 0) {
        row_len[row] = count;
        // integer atomics: exact, so the totals do not depend on the order the rows finish in
        atomicAdd(&totals[0], (unsigned long long)count);
        if (count > 0) atomicAdd(&totals[1], 1ull);
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

/* 2. The elementwise pass: gradients + one partial per block of every sum the losses and statistics need. */
template <bool P, bool V, bool E>
__global__ void __launch_bounds__(LOSS_THREADS) loss_tokens(LossArgs a) {
    constexpr Slots SL = slots_for(P, V, E);
    constexpr int NS = SL.ns;
    __shared__ float red[NS * 32];
    float acc[NS];
#pragma unroll
    for (int k = 0; k < NS; k++) acc[k] = 0.0f;
    const bool prow_w = a.pagg.mode == PPO_AGG_SEQ_MEAN_TOKEN_MEAN;
    const bool vrow_w = a.vagg.mode == PPO_AGG_SEQ_MEAN_TOKEN_MEAN;
    const unsigned long long pn = (P || E) ? a.ptot[0] : 0ull, pr = (P || E) ? a.ptot[1] : 0ull;
    const unsigned long long vn = V ? a.vtot[0] : 0ull, vr = V ? a.vtot[1] : 0ull;
    const float pw0 = (P || E) ? agg_weight(a.pagg, pn, pr, 0, a.T) : 0.0f;  // uniform modes
    const float vw0 = V ? agg_weight(a.vagg, vn, vr, 0, a.T) : 0.0f;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < a.n; i += stride) {
        const int64_t row = (prow_w || vrow_w) ? i / a.T : 0;
        if (P || E) {
            const bool ok = valid(a.pmask, i);
            const float w = !ok ? 0.0f : (prow_w ? agg_weight(a.pagg, pn, pr, a.prow[row], a.T) : pw0);
            if (P) {
                float g = 0.0f;
                if (ok) {
                    const PolicyTok k = policy_token(a.lp[i], a.old_lp[i], a.adv[i], a.pp);
                    acc[SL.po + 0] += w * k.loss;
                    acc[SL.po + 1] += k.clipped ? 1.0f : 0.0f;
                    acc[SL.po + 2] += k.dual ? 1.0f : 0.0f;
                    acc[SL.po + 3] -= k.x;
                    acc[SL.po + 4] += 0.5f * k.x * k.x;
                    acc[SL.po + 5] += k.ratio;
                    g = w * k.grad;
                }
                a.grad_lp[i] = g;
            }
            if (E) {
                if (ok) acc[SL.eo] += w * a.ent[i];
                a.grad_ent[i] = ok ? -a.ent_coef * w : 0.0f;
            }
        }
        if (V) {
            float g = 0.0f;
            if (valid(a.vmask, i)) {
                const float w = vrow_w ? agg_weight(a.vagg, vn, vr, a.vrow[row], a.T) : vw0;
                const ValueTok k = value_token(a.val[i], a.old_val[i], a.ret[i], a.vclip);
                acc[SL.vo + 0] += w * k.loss;
                acc[SL.vo + 1] += k.clipped ? 1.0f : 0.0f;
                g = (a.vscale * w) * k.grad;
            }
            a.grad_val[i] = g;
        }
    }
    block_sum_to_thread0(acc, red);  // one barrier, reached by every thread
    if (threadIdx.x == 0) {
#pragma unroll
        for (int k = 0; k < NS; k++) a.partials[(int64_t)blockIdx.x * NS + k] = acc[k];
    }
}

/* 3. One warp: f64 sums of the ns columns of the block partials, lane-strided then a fixed shuffle tree. */
__global__ void __launch_bounds__(32)
loss_final(const float *__restrict__ partials, int nblocks, int ns, double *__restrict__ sums) {
    const int lane = threadIdx.x;
    for (int k = 0; k < ns; k++) {
        double s = 0.0;
        for (int j = lane; j < nblocks; j += 32) s += (double)partials[(int64_t)j * ns + k];
        s = warp_sum_down(s);
        if (lane == 0) sums[k] = s;
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

/* Results of run_losses: the f64 sums of every slot and the mask totals. */
struct LossSums {
    double s[S_COUNT];
    unsigned long long p_tok, p_rows, v_tok, v_rows;
};

template <bool P, bool V, bool E>
void launch_tokens(const LossArgs &a, unsigned blocks, unsigned threads, cudaStream_t s) {
    auto kernel = loss_tokens<P, V, E>;
    SIMT_LAUNCH(kernel, dim3(blocks), dim3(threads), 0, s, a);
}

/* Runs the three launches and copies the sums back (synchronises the stream). */
int32_t run_losses(LossJob &job, cudaStream_t s, LossSums &out) {
    const char *op = job.op;
    const int64_t n = job.b * job.t;
    const unsigned threads = sweep_threads(n, LOSS_THREADS);
    const unsigned blocks = grid_for(n, threads);
    const bool need_p = job.policy || job.entropy;
    const bool same_mask = !need_p || !job.value ||
                           (job.vmask_ptr == job.pmask_ptr && job.vmask_dtype == job.pmask_dtype);
    // scratch layout: totals [4] | sums [S_COUNT] | p row_len [B] | v row_len [B] | partials [blocks][S_COUNT]
    const size_t off_sums = align256(4 * sizeof(unsigned long long));
    const size_t off_prow = off_sums + align256(S_COUNT * sizeof(double));
    const size_t off_vrow = off_prow + align256((size_t)job.b * sizeof(int));
    const size_t off_part = off_vrow + align256((size_t)job.b * sizeof(int));
    const size_t bytes = off_part + (size_t)blocks * S_COUNT * sizeof(float);  // room for the widest layout
    Scratch scratch;
    int32_t rc = scratch.reserve(op, bytes);
    if (rc != PPO_OK) return rc;
    unsigned long long *tot = scratch.at<unsigned long long>(0);
    double *sums = scratch.at<double>(off_sums);
    int *prow = scratch.at<int>(off_prow), *vrow = scratch.at<int>(off_vrow);
    PPO_CUDA_CHECK(op, "cudaMemsetAsync of the counters", cudaMemsetAsync(tot, 0, 4 * sizeof(unsigned long long), s));

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
    if (need_p && (rc = launch_counts(op, a.pmask, job.b, job.t, prow, tot, s)) != PPO_OK) return rc;
    if (job.value && !(same_mask && need_p) && (rc = launch_counts(op, a.vmask, job.b, job.t, vrow, tot + 2, s)) != PPO_OK) {
        return rc;
    }
    if (job.policy && job.value && job.entropy) launch_tokens<true, true, true>(a, blocks, threads, s);
    else if (job.policy && job.value) launch_tokens<true, true, false>(a, blocks, threads, s);
    else if (job.policy) launch_tokens<true, false, false>(a, blocks, threads, s);
    else launch_tokens<false, true, false>(a, blocks, threads, s);
    if ((rc = check_launch(op, "loss_tokens")) != PPO_OK) return rc;
    const Slots sl = slots_for(job.policy, job.value, job.entropy);
    SIMT_LAUNCH(loss_final, dim3(1), dim3(32), 0, s, (const float *)a.partials, (int)blocks, sl.ns, sums);
    if ((rc = check_launch(op, "loss_final")) != PPO_OK) return rc;

    unsigned long long host_tot[4];
    double compact[S_COUNT];
    PPO_CUDA_CHECK(op, "copy of the sums",
                   cudaMemcpyAsync(compact, sums, (size_t)sl.ns * sizeof(double), cudaMemcpyDeviceToHost, s));
    PPO_CUDA_CHECK(op, "copy of the counts", cudaMemcpyAsync(host_tot, tot, sizeof host_tot, cudaMemcpyDeviceToHost, s));
    if ((rc = sync(op, s)) != PPO_OK) return rc;
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
