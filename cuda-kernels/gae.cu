/*
 * gae.cu — generalised advantage estimation as a parallel reverse scan (SPEC "gae").
 *
 * Shapes: rewards r, values V, mask m [B, T] → advantages A, returns R [B, T] f32 (0 at masked positions).
 *   δ_t = r_t + γ·V_{t+1} − V_t,   A_t = δ_t + γλ·A_{t+1},   A_T = V_T = 0 past the row end,   R_t = A_t + V_t
 * (Schulman et al. 2016; the reverse loop of trl / OpenRLHF / DeepSpeed-Chat and verl's compute_gae_advantage_return.)
 * gae_masked_steps=zero: r and V are 0 at masked steps and every step runs (a = γλ, b = δ_t).
 * gae_masked_steps=skip: a masked step is the identity (a = 1, b = 0) and V_{t+1} is the value at the next *valid*
 * position (verl carries nextvalues and lastgaelam through masked steps).
 *
 * The recurrence is the composition of affine maps f_t(x) = a_t·x + b_t applied right to left:
 * A_t = (f_t ∘ f_{t+1} ∘ … ∘ f_{T−1})(0). Composition is associative — (f ∘ g)(x) = a_f·a_g·x + (a_f·b_g + b_f) —
 * so each row is a reverse (suffix) scan:
 *   - a block walks its row segment in chunks of blockDim·K elements, right to left; a thread composes its K
 *     consecutive maps sequentially;
 *   - a warp suffix-scans the 32 thread maps with __shfl_down_sync (Hillis–Steele, 5 steps);
 *   - warp totals go through shared memory (one barrier per chunk; double-buffered by chunk parity so the next
 *     chunk's writes never race this chunk's reads); each thread folds the warps to its right;
 *   - the carry (A at the chunk's first element) enters the next chunk to the left.
 * Skip mode first finds, the same way, the nearest valid value to the right of each thread ("first valid" is also an
 * associative choice: left if it has one, else right), then forms its δ's.
 * One launch handles the common case (a block per row). For few long rows the row is split into segments over more
 * blocks: a summary launch computes each segment's composed map (a, b) (skip mode: after a launch that finds each
 * segment's first valid value), and the final launch folds the maps of the segments to its right into its carry.
 * Every order is fixed, so results are bitwise repeatable.
 */
#include <limits.h>

#include "ppo_cuda_host.h"

namespace {
using namespace ppo;

constexpr int K = 8;                    // consecutive elements per thread per chunk
constexpr unsigned GAE_MAX_THREADS = 256;

struct Aff {
    float a, b;  // x ↦ a·x + b
};
/* f ∘ g: apply g first (g covers the positions to the right of f's). */
__device__ __forceinline__ Aff compose(Aff f, Aff g) {
    Aff r;
    r.a = f.a * g.a;
    r.b = fmaf(f.a, g.b, f.b);
    return r;
}
__device__ __forceinline__ float apply(Aff f, float x) { return fmaf(f.a, x, f.b); }

/* "Nearest valid value": has = 1 if some valid position is covered, val = the value at the leftmost one. */
struct First {
    float has, val;
};
/* left-then-right choice: the nearest valid is in the left part if it has one. */
__device__ __forceinline__ First pick(First left, First right) { return left.has != 0.0f ? left : right; }

enum Mode { WRITE = 0, SUMMARY = 1 };

struct GaeArgs {
    const float *r, *v;
    MaskRef mask;
    int64_t T, seg_len;
    int nseg;
    float gamma, gl;
    const float *seg_a, *seg_b;    // SUMMARY results of every segment (multi-segment WRITE only)
    const float *seg_first;        // [2 per segment] (has, val) of every segment (skip, multi-segment only)
    float *adv, *ret;              // WRITE outputs
    float *out_a, *out_b;          // SUMMARY outputs
    int vec;                       // r, V, A, R 16-byte aligned and T % 4 == 0: a thread's K positions are 2 float4s
    int mask_vec;                  // vec, and an f32 mask that is 16-byte aligned
};

/* Loads the K positions t0.. of a thread (positions ≥ hi read as masked): r and V at every position inside the
 * segment, the mask, then r' = r, V' = V at valid positions and 0 elsewhere (a select: a masked NaN never enters the
 * arithmetic). Every load is independent of the others, so all of them are in flight at once.
 * VEC (T % 4 == 0, 16-byte aligned rows): 4 positions per 16-byte load; t0 and hi are multiples of 4, so a group of
 * 4 is either inside the segment or past its end. */
template <bool VEC>
__device__ __forceinline__ void load_span(const GaeArgs &g, int64_t off, int64_t t0, int64_t hi, float (&rr)[K],
                                          float (&vv)[K], unsigned &ok) {
    const int64_t i0 = off + t0;
    float r[K], v[K];
    ok = 0u;  // bit k: position t0 + k is valid (a bit mask: eight bools would take eight registers)
    if (VEC) {
#pragma unroll
        for (int u = 0; u < K / 4; u++) {
            const bool in = t0 + 4 * u < hi;
            const float4 z4 = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            const float4 a = in ? reinterpret_cast<const float4 *>(g.r + i0)[u] : z4;
            const float4 b = in ? reinterpret_cast<const float4 *>(g.v + i0)[u] : z4;
            r[4 * u] = a.x; r[4 * u + 1] = a.y; r[4 * u + 2] = a.z; r[4 * u + 3] = a.w;
            v[4 * u] = b.x; v[4 * u + 1] = b.y; v[4 * u + 2] = b.z; v[4 * u + 3] = b.w;
            if (g.mask_vec) {
                const float4 m = in ? reinterpret_cast<const float4 *>(static_cast<const float *>(g.mask.p) + i0)[u] : z4;
                ok |= ((m.x != 0.0f ? 1u : 0u) | (m.y != 0.0f ? 2u : 0u) | (m.z != 0.0f ? 4u : 0u) |
                       (m.w != 0.0f ? 8u : 0u)) << (4 * u);
            } else {
#pragma unroll
                for (int j = 0; j < 4; j++) ok |= (in && valid(g.mask, i0 + 4 * u + j) ? 1u : 0u) << (4 * u + j);
            }
        }
    } else {
#pragma unroll
        for (int k = 0; k < K; k++) {
            // element loads (the fallback for unaligned rows): the mask first, r and V only where valid
            const bool okk = t0 + k < hi && valid(g.mask, i0 + k);
            rr[k] = okk ? g.r[i0 + k] : 0.0f;
            vv[k] = okk ? g.v[i0 + k] : 0.0f;
            ok |= (okk ? 1u : 0u) << k;
        }
        return;
    }
#pragma unroll
    for (int k = 0; k < K; k++) {
        rr[k] = (ok >> k) & 1u ? r[k] : 0.0f;
        vv[k] = (ok >> k) & 1u ? v[k] : 0.0f;
    }
}

/* Stores A and R of the 4 positions t0.. (0 at masked ones) with two 16-byte stores; a group past hi is not
 * written (t0 and hi are multiples of 4). */
__device__ __forceinline__ void store4(const GaeArgs &g, int64_t off, int64_t t0, int64_t hi, const float *aa,
                                       const float *vv, unsigned ok) {
    if (t0 >= hi) return;
    float A[4], R[4];
#pragma unroll
    for (int k = 0; k < 4; k++) {
        A[k] = (ok >> k) & 1u ? aa[k] : 0.0f;
        R[k] = (ok >> k) & 1u ? aa[k] + vv[k] : 0.0f;
    }
    *reinterpret_cast<float4 *>(g.adv + off + t0) = make_float4(A[0], A[1], A[2], A[3]);
    *reinterpret_cast<float4 *>(g.ret + off + t0) = make_float4(R[0], R[1], R[2], R[3]);
}

/*
 * One block = one segment [lo, hi) of one row (blockIdx.x = row·nseg + seg).
 * WRITE: writes A and R of the segment, entering with x = A at hi (folded from the summaries of later segments).
 * SUMMARY: writes the segment's composed map (a, b), so that A_lo = a·x + b for any A x entering at hi.
 */
// The element-load fallback (rows not 16-byte aligned) needs more than 64 registers: 3 blocks per multiprocessor.
template <bool SKIP, int MODE, bool VEC>
__global__ void __launch_bounds__(GAE_MAX_THREADS, VEC ? 4 : 3) gae_kernel(GaeArgs g) {
    __shared__ Aff wmap[2][32];      // warp composites of the current chunk, by chunk parity
    __shared__ First wfirst[2][32];  // skip: each warp's nearest valid value, by chunk parity
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nw = blockDim.x >> 5;
    const int64_t row = blockIdx.x / g.nseg;
    const int seg = (int)(blockIdx.x % g.nseg);
    const int64_t lo = (int64_t)seg * g.seg_len;
    const int64_t hi = lo + g.seg_len < g.T ? lo + g.seg_len : g.T;
    const int64_t off = row * g.T;  // flat index of [row, 0]
    const int64_t CH = (int64_t)blockDim.x * K;

    // Carries entering the segment from the right.
    float x = 0.0f;  // A at hi
    float nv = 0.0f; // skip: the value at the nearest valid position ≥ hi (0 if none)
    const int64_t seg0 = row * g.nseg;
    if (SKIP && g.nseg > 1) {
        for (int s = seg + 1; s < g.nseg; s++) {
            if (g.seg_first[2 * (seg0 + s)] != 0.0f) {
                nv = g.seg_first[2 * (seg0 + s) + 1];
                break;
            }
        }
    }
    if (MODE == WRITE && g.nseg > 1) {
        for (int s = g.nseg - 1; s > seg; s--) x = fmaf(g.seg_a[seg0 + s], x, g.seg_b[seg0 + s]);
    }
    Aff seg_map = {1.0f, 0.0f};  // SUMMARY: composition of the chunks done so far

    const int64_t nch = (hi - lo + CH - 1) / CH;
    for (int64_t c = nch - 1; c >= 0; c--) {
        const int par = (int)(c & 1);
        const int64_t t0 = lo + c * CH + (int64_t)tid * K;  // this thread's first position
        float rr[K], vv[K], a[K], b[K];
        unsigned ok;
        // Every load of the chunk is issued before any arithmetic (the scan is latency-bound otherwise): r and V are
        // read at every position of the row and a masked one is replaced by 0 with a select, never used in a product.
        load_span<VEC>(g, off, t0, hi, rr, vv, ok);
        if (!SKIP) {
            // Zero mode: δ_t = r'_t + γ·V'_{t+1} − V'_t with r', V' zero at masked steps, computed right to left so
            // only V' stays live. Past this thread's K positions V'_{t+1} is the next position's (0 at the row end;
            // segments are whole chunks, so only the row end can cut a thread's positions short).
            const int64_t tn = t0 + K;
            float vnext = 0.0f;
            if (VEC) {
                if (tn < g.T) {
                    const float vn = g.v[off + tn];  // read next to the mask, selected after
                    vnext = valid(g.mask, off + tn) ? vn : 0.0f;
                }
            } else {
                vnext = (tn < g.T && valid(g.mask, off + tn)) ? g.v[off + tn] : 0.0f;
            }
#pragma unroll
            for (int k = K - 1; k >= 0; k--) {
                a[k] = g.gl;
                b[k] = rr[k] + g.gamma * vnext - vv[k];
                vnext = vv[k];
            }
        } else {
            // Phase 1: nearest valid value to the right of each of this thread's positions.
            First mine = {0.0f, 0.0f};
#pragma unroll
            for (int k = K - 1; k >= 0; k--) {
                if ((ok >> k) & 1u) mine = First{1.0f, vv[k]};
            }
            First incl = mine;  // inclusive suffix over lanes [lane, 31]
#pragma unroll
            for (int d = 1; d < 32; d <<= 1) {
                const float2 o = shfl_down2(make_float2(incl.has, incl.val), (unsigned)d);
                if (lane + d < 32) incl = pick(incl, First{o.x, o.y});
            }
            if (lane == 0) wfirst[par][warp] = incl;
            __syncthreads();  // every warp's nearest valid value is visible
            const float2 o = shfl_down2(make_float2(incl.has, incl.val), 1u);
            First next = lane < 31 ? First{o.x, o.y} : First{0.0f, 0.0f};  // exclusive: lanes to the right
            for (int w = warp + 1; w < nw && next.has == 0.0f; w++) next = wfirst[par][w];
            float nvk = next.has != 0.0f ? next.val : nv;
#pragma unroll
            for (int k = K - 1; k >= 0; k--) {
                if ((ok >> k) & 1u) {
                    a[k] = g.gl;
                    b[k] = rr[k] + g.gamma * nvk - vv[k];
                    nvk = vv[k];
                } else {
                    a[k] = 1.0f;  // skipped step: A and the next value pass through unchanged
                    b[k] = 0.0f;
                }
            }
            // The carry for the chunk to the left: the chunk's leftmost valid value, if any.
            for (int w = 0; w < nw; w++) {
                if (wfirst[par][w].has != 0.0f) {
                    nv = wfirst[par][w].val;
                    break;
                }
            }
        }

        // Phase 2: affine suffix scan. Thread map F = f_t0 ∘ … ∘ f_t0+K−1.
        Aff F = {1.0f, 0.0f};
#pragma unroll
        for (int k = K - 1; k >= 0; k--) F = compose(Aff{a[k], b[k]}, F);
#pragma unroll
        for (int d = 1; d < 32; d <<= 1) {
            const float2 o = shfl_down2(make_float2(F.a, F.b), (unsigned)d);
            if (lane + d < 32) F = compose(F, Aff{o.x, o.y});  // F covers lanes [lane, lane+d), o the next d
        }
        if (lane == 0) wmap[par][warp] = F;
        __syncthreads();  // every warp's composite is visible
        // A entering this warp from the right: fold the warps to its right onto the chunk carry.
        float xw = x;
        for (int w = nw - 1; w > warp; w--) xw = apply(wmap[par][w], xw);
        // A entering this thread: the exclusive suffix of its warp (lanes to its right).
        const float2 e = shfl_down2(make_float2(F.a, F.b), 1u);
        float xi = lane < 31 ? apply(Aff{e.x, e.y}, xw) : xw;
        if (MODE == WRITE && VEC) {
            // A_t = a_t·A_{t+1} + b_t, right to left, stored four positions at a time.
#pragma unroll
            for (int u = K / 4 - 1; u >= 0; u--) {
                float aa[4];
#pragma unroll
                for (int k = 3; k >= 0; k--) {
                    xi = fmaf(a[4 * u + k], xi, b[4 * u + k]);
                    aa[k] = xi;
                }
                store4(g, off, t0 + 4 * u, hi, aa, vv + 4 * u, ok >> (4 * u));
            }
        } else if (MODE == WRITE) {
#pragma unroll
            for (int k = K - 1; k >= 0; k--) {
                xi = fmaf(a[k], xi, b[k]);  // A_t = a_t·A_{t+1} + b_t
                const int64_t t = t0 + k;
                if (t < hi) {
                    const bool okk = (ok >> k) & 1u;
                    g.adv[off + t] = okk ? xi : 0.0f;
                    g.ret[off + t] = okk ? xi + vv[k] : 0.0f;
                }
            }
        }
        // The chunk's composite, folded from the warp composites in the same order by every thread.
        Aff C = {1.0f, 0.0f};
        for (int w = nw - 1; w >= 0; w--) C = compose(wmap[par][w], C);
        x = apply(C, x);
        if (MODE == SUMMARY) seg_map = compose(C, seg_map);
    }
    if (MODE == SUMMARY && tid == 0) {
        g.out_a[blockIdx.x] = seg_map.a;
        g.out_b[blockIdx.x] = seg_map.b;
    }
}

/* Skip mode, multi-segment: the nearest valid value of each segment (has, val) — the min valid index, then its V. */
__global__ void __launch_bounds__(GAE_MAX_THREADS) gae_first_valid(GaeArgs g, float *first) {
    __shared__ long long wmin[32];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nw = blockDim.x >> 5;
    const int64_t row = blockIdx.x / g.nseg;
    const int seg = (int)(blockIdx.x % g.nseg);
    const int64_t lo = (int64_t)seg * g.seg_len;
    const int64_t hi = lo + g.seg_len < g.T ? lo + g.seg_len : g.T;
    const int64_t off = row * g.T;
    // Key −t of this thread's first valid position (positions grow along its stride, so the first hit is its
    // minimum); the integer max over the block is −(smallest valid index). Exact, so the order does not matter.
    long long key = LLONG_MIN;
    for (int64_t t = lo + tid; t < hi; t += blockDim.x) {
        if (valid(g.mask, off + t)) {
            key = -(long long)t;
            break;
        }
    }
    const long long m = warp_max_ll(key);
    if (lane == 0) wmin[warp] = m;
    __syncthreads();  // every warp's minimum is visible
    if (tid == 0) {
        long long all = LLONG_MIN;
        for (int w = 0; w < nw; w++) all = wmin[w] > all ? wmin[w] : all;
        if (all == LLONG_MIN) {
            first[2 * blockIdx.x] = 0.0f;
            first[2 * blockIdx.x + 1] = 0.0f;
        } else {
            const int64_t t = -all;
            first[2 * blockIdx.x] = 1.0f;
            first[2 * blockIdx.x + 1] = g.v[off + t];
        }
    }
}

template <bool SKIP, int MODE>
void launch_gae(const GaeArgs &g, unsigned blocks, unsigned threads, cudaStream_t s) {
    if (g.vec) {
        auto kernel = gae_kernel<SKIP, MODE, true>;
        SIMT_LAUNCH(kernel, dim3(blocks), dim3(threads), 0, s, g);
    } else {
        auto kernel = gae_kernel<SKIP, MODE, false>;
        SIMT_LAUNCH(kernel, dim3(blocks), dim3(threads), 0, s, g);
    }
}

}  // namespace

extern "C" int32_t gae(void *ctx, const float *rewards, const float *values, const void *mask, int32_t mask_dtype,
                       int64_t b, int64_t t, double gamma, double lam, int32_t masked_steps, float *advantages,
                       float *returns) {
    const char *op = "gae";
    if (b < 0 || t < 0) return fail(PPO_ERR_INVALID, "%s: bad shape [%lld, %lld]", op, (long long)b, (long long)t);
    if (b * t == 0) return PPO_OK;
    if (rewards == nullptr || values == nullptr || mask == nullptr || advantages == nullptr || returns == nullptr) {
        return fail(PPO_ERR_INVALID, "%s: NULL tensor", op);
    }
    if (!(gamma >= 0.0 && gamma <= 1.0 && lam >= 0.0 && lam <= 1.0)) {
        return fail(PPO_ERR_INVALID, "%s: gamma and lam must be in [0, 1], got %g and %g", op, gamma, lam);
    }
    cudaStream_t s = static_cast<cudaStream_t>(ctx);
    const bool skip = masked_steps == PPO_GAE_SKIP;
    const unsigned threads = pick_threads(t, K, GAE_MAX_THREADS);
    const int64_t ch = (int64_t)threads * K;

    // Segments: split long rows over more blocks only when there are too few rows to fill the GPU.
    const int64_t target = 4LL * sm_count();
    int64_t nseg = 1;
    if (b < target / 2 && t > 4 * ch) {
        const int64_t want = (target + b - 1) / b;
        const int64_t most = (t + 2 * ch - 1) / (2 * ch);  // at least two chunks per segment
        nseg = want < most ? want : most;
    }
    int64_t seg_len = t;
    if (nseg > 1) {
        seg_len = ((t + nseg - 1) / nseg + ch - 1) / ch * ch;  // whole chunks
        nseg = (t + seg_len - 1) / seg_len;
    }
    if (b * nseg > 2147483647LL) return fail(PPO_ERR_INVALID, "%s: too many rows (%lld)", op, (long long)b);

    GaeArgs g;
    g.r = rewards;
    g.v = values;
    g.mask = MaskRef{mask, mask_dtype};
    g.T = t;
    g.seg_len = seg_len;
    g.nseg = (int)nseg;                // ≤ 4·multiprocessors: fits
    g.gamma = (float)gamma;            // the scan runs in f32 (DESIGN numerics): parameters rounded once here
    g.gl = (float)(gamma * lam);
    g.seg_a = g.seg_b = g.seg_first = nullptr;
    g.adv = advantages;
    g.ret = returns;
    g.out_a = g.out_b = nullptr;
    const auto aligned = [](const void *p) { return ((uintptr_t)p & 15u) == 0; };
    g.vec = t % 4 == 0 && aligned(rewards) && aligned(values) && aligned(advantages) && aligned(returns);
    g.mask_vec = g.vec && mask_dtype == PPO_F32 && aligned(mask);
    const unsigned blocks = (unsigned)(b * nseg);  // checked ≤ 2^31 − 1 above

    if (nseg == 1) {
        if (skip) launch_gae<true, WRITE>(g, blocks, threads, s);
        else launch_gae<false, WRITE>(g, blocks, threads, s);
        return check_launch(op, "gae_kernel");
    }

    Scratch scratch;
    const size_t nmaps = (size_t)blocks;
    int32_t rc = scratch.reserve(op, 4 * nmaps * sizeof(float));
    if (rc != PPO_OK) return rc;
    float *seg_a = scratch.at<float>(0), *seg_b = seg_a + nmaps, *seg_first = seg_b + nmaps;
    if (skip) {
        SIMT_LAUNCH(gae_first_valid, dim3(blocks), dim3(threads), 0, s, g, seg_first);
        if ((rc = check_launch(op, "gae_first_valid")) != PPO_OK) return rc;
        g.seg_first = seg_first;
    }
    g.out_a = seg_a;
    g.out_b = seg_b;
    if (skip) launch_gae<true, SUMMARY>(g, blocks, threads, s);
    else launch_gae<false, SUMMARY>(g, blocks, threads, s);
    if ((rc = check_launch(op, "gae_kernel (summary)")) != PPO_OK) return rc;
    g.seg_a = seg_a;
    g.seg_b = seg_b;
    if (skip) launch_gae<true, WRITE>(g, blocks, threads, s);
    else launch_gae<false, WRITE>(g, blocks, threads, s);
    if ((rc = check_launch(op, "gae_kernel")) != PPO_OK) return rc;
    return sync(op, s);  // the scratch goes back to the pool: its kernels must be done
}
