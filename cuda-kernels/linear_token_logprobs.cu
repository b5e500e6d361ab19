/*
 * linear_token_logprobs.cu — the tile steps of linear_token_logprobs on the GPU: the same C ABI as
 * native/src/linear_token_logprobs.c (native/include/ppo_kernels.h, "linear_token_logprobs tile steps"), on device
 * pointers and a cudaStream_t (ctx), plus ppo_linear_sgemm, a plain reference GEMM for drivers without cuBLAS (the
 * simt emulator, tests).
 *
 * The driver computes logits tiles Z = H_rows · W_chunkᵀ [rows, cols] (f32, row stride ld) — cuBLAS on a GPU, or
 * ppo_linear_sgemm — and calls:
 *   linear_lse_update      folds a tile (+ bias) into the rows' running state [rows, PPO_LINEAR_STATE] f64:
 *                          (m, s, w) of the logits z/τ and, for entropy_logits=raw with τ ≠ 1, of z; z_y when the
 *                          label falls into the tile. m = max raw logit, s = Σ e^{(z − m)c}, w = Σ e^{(z − m)c}·(z − m)c.
 *                          The chunk at v_offset = 0 (re)initialises the state.
 *   linear_lse_finish      state → logprobs, entropy, saved = (lse, lse_e, mean), as token_logprobs (SPEC).
 *   linear_chunk_backward  tile → d loss/d z in place (token_logprobs_backward's formula), grad_bias += column sums.
 *   linear_to_f32          bf16/f16 rows → dense f32 rows (a GEMM operand).
 * then the driver's GEMMs grad_hidden += dZ·W_chunk and grad_weight_chunk += dZᵀ·H_rows.
 *
 * Design: one block per tile row (32..256 threads by the tile width); each thread sweeps its columns keeping an
 * online softmax state in base 2 (m, s = Σ 2^(u − m·c), t = Σ 2^(u − m·c)·(u − m·c), u = z·c, c = log2(e)/τ: one
 * exp2 per logit), merged by warp butterflies and then across warps through shared memory in a fixed tree; thread 0
 * converts to natural units (w = t·ln2) and merges the tile's (m, s, w) into the row state in f64:
 *   M = max(m1, m2), δk = (mk − M)·c,  s = Σ sk·e^{δk},  w = Σ e^{δk}·(wk + sk·δk)
 * (Milakov & Gimelshein 2018, online softmax, extended to Σ p·x; the chunked GEMM + online lse structure is
 * Liger-Kernel's fused linear cross entropy / Cut Cross-Entropy, Wijmans et al. 2024). The label logit is one extra
 * load by thread 0. The backward is one streaming pass per row (no reductions); grad_bias is one thread per column
 * summing the rows in order in f64. Every reduction has a fixed order: bitwise repeatable. No float atomics.
 * Labels outside [0, v) set the shared label flag (atomicMin of the row), reported by the launcher.
 */
#include <math.h>

#include "ppo_cuda_host.h"

namespace {
using namespace ppo;

constexpr unsigned LIN_MAX_THREADS = 256;
enum { LS_M = 0, LS_S = 1, LS_W = 2, LS_MR = 3, LS_SR = 4, LS_WR = 5, LS_ZY = 6, LS_SEEN = 7 };

/* Online state in base 2 relative to the running max m of the raw logits (empty: m = −inf, s = t = 0). */
struct Lin2 {
    float m, s, t;
};

__device__ __forceinline__ Lin2 lin2_empty() {
    Lin2 o;
    o.m = -INFINITY;
    o.s = 0.0f;
    o.t = 0.0f;
    return o;
}

/* Adds one logit z (scale c = log2(e)/τ or log2(e)); rescales when the max grows. */
__device__ __forceinline__ void lin2_add(Lin2 &o, float z, float c) {
    if (z > o.m) {
        if (o.s > 0.0f) {
            const float dm = (o.m - z) * c;          // ≤ 0: old reference point minus the new one
            const float f = exp2f(dm);
            o.t = f * fmaf(dm, o.s, o.t);            // Σ e·(d + dm), scaled by f
            o.s *= f;
        }
        o.m = z;
    }
    if (o.m == -INFINITY) return;                    // only −inf so far
    const float d = (z - o.m) * c;                   // difference before scaling (rounding ∝ |d|)
    const float e = exp2f(d);
    o.s += e;
    o.t += e > 0.0f ? e * d : 0.0f;                  // a −inf logit adds 0, never 0·inf
}

/* Merge of two states; symmetric bit for bit (fmaxf and + commute), so butterflies give every lane the same bits. */
__device__ __forceinline__ Lin2 lin2_merge(Lin2 a, Lin2 b, float c) {
    Lin2 r;
    r.m = fmaxf(a.m, b.m);
    if (r.m == -INFINITY) return lin2_empty();
    float sa = 0.0f, ta = 0.0f, sb = 0.0f, tb = 0.0f;
    if (a.s > 0.0f) {
        const float d = (a.m - r.m) * c;
        const float f = exp2f(d);
        sa = a.s * f;
        ta = f * fmaf(d, a.s, a.t);
    }
    if (b.s > 0.0f) {
        const float d = (b.m - r.m) * c;
        const float f = exp2f(d);
        sb = b.s * f;
        tb = f * fmaf(d, b.s, b.t);
    }
    r.s = sa + sb;
    r.t = ta + tb;
    return r;
}

__device__ __forceinline__ Lin2 lin2_warp(Lin2 o, float c, int width) {
    for (int off = width >> 1; off > 0; off >>= 1) {
        Lin2 p;
        p.m = __shfl_xor_sync(FULL, o.m, off);
        const float2 st = shfl_xor2(make_float2(o.s, o.t), off);
        p.s = st.x;
        p.t = st.y;
        o = lin2_merge(o, p, c);
    }
    return o;
}

/* Block merge of one or two states; valid in warp 0 afterwards (returns false elsewhere). One barrier, reached by
 * every thread of the block. */
template <bool RAW>
__device__ __forceinline__ bool lin2_block(Lin2 &a, float ca, Lin2 &b, float cb, float (*sh)[32]) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    a = lin2_warp(a, ca, 32);
    if (RAW) b = lin2_warp(b, cb, 32);
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
    a = lane < nw ? Lin2{sh[0][lane], sh[1][lane], sh[2][lane]} : lin2_empty();
    a = lin2_warp(a, ca, nw);   // nw is a power of two: lanes < nw exchange only among themselves
    if (RAW) {
        b = lane < nw ? Lin2{sh[3][lane], sh[4][lane], sh[5][lane]} : lin2_empty();
        b = lin2_warp(b, cb, nw);
    }
    return true;
}

/* Folds the tile's (m, s, w) (natural units) into the state triple st; `first` replaces it. */
__device__ __forceinline__ void lin_merge_state(double *st, double m, double s, double w, double c, bool first) {
    if (first) {
        st[0] = m;
        st[1] = s;
        st[2] = w;
        return;
    }
    const double big = st[0] > m ? st[0] : m;
    const double da = (st[0] - big) * c, db = (m - big) * c;
    const double ea = exp(da), eb = exp(db);
    st[2] = ea * (st[2] + st[1] * da) + eb * (w + s * db);
    st[1] = ea * st[1] + eb * s;
    st[0] = big;
}

template <bool RAW, bool BIAS>
__global__ void __launch_bounds__(LIN_MAX_THREADS)
lin_lse_update(const float *__restrict__ tile, int64_t cols, int64_t ld, const float *__restrict__ bias, int64_t v0,
               int64_t v, const void *__restrict__ labels, int label_i64, float c2, double c, int first,
               double *__restrict__ state, unsigned long long *__restrict__ bad_row) {
    __shared__ float sh[6][32];
    const int64_t row = blockIdx.x;
    const int tid = threadIdx.x, nt = blockDim.x;
    const float *z = tile + row * ld;

    bool bad = false;
    float zy = 0.0f;
    bool seen = false;
    if (tid == 0) {
        const long long y = label_at(labels, label_i64, row);
        bad = y < 0 || y >= v;
        if (bad) {
            atomicMin(bad_row, (unsigned long long)row);   // integer min: the first bad row, whatever the order
        } else if (y >= v0 && y < v0 + cols) {
            zy = BIAS ? z[y - v0] + bias[y - v0] : z[y - v0];   // the same f32 sum the sweep uses
            seen = true;
        }
    }
    Lin2 a = lin2_empty(), b = lin2_empty();
    for (int64_t j = tid; j < cols; j += nt) {
        const float x = BIAS ? z[j] + bias[j] : z[j];
        lin2_add(a, x, c2);
        if (RAW) lin2_add(b, x, LOG2E);
    }
    if (!lin2_block<RAW>(a, c2, b, LOG2E, sh)) return;   // warps 1..: done (no barrier follows)
    if (tid != 0 || bad) return;
    double *st = state + row * PPO_LINEAR_STATE;
    // base 2 → natural units: s is the same sum, w = t·ln 2
    lin_merge_state(st + LS_M, a.m, a.s, (double)a.t * 0.69314718055994531, c, first != 0);
    if (RAW) lin_merge_state(st + LS_MR, b.m, b.s, (double)b.t * 0.69314718055994531, 1.0, first != 0);
    if (first) {
        st[LS_ZY] = 0.0;
        st[LS_SEEN] = 0.0;
    }
    if (seen) {
        st[LS_ZY] = zy;
        st[LS_SEEN] = 1.0;
    }
}

__global__ void lin_lse_finish(const double *__restrict__ state, int64_t rows, double c, int raw,
                               float *__restrict__ logprobs, float *__restrict__ entropy, float *__restrict__ saved,
                               unsigned long long *__restrict__ missing) {
    for (int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; r < rows; r += (int64_t)gridDim.x * blockDim.x) {
        const double *s = state + r * PPO_LINEAR_STATE;
        if (s[LS_SEEN] != 1.0) {
            atomicMin(missing, (unsigned long long)r);   // integer min: order-independent
            continue;
        }
        const double log_s = log(s[LS_S]);
        const double lse = s[LS_M] * c + log_s;
        double lse_e = lse, mean = s[LS_M] * c + s[LS_W] / s[LS_S], ent = log_s - s[LS_W] / s[LS_S];
        if (raw) {
            const double log_sr = log(s[LS_SR]);
            lse_e = s[LS_MR] + log_sr;
            mean = s[LS_MR] + s[LS_WR] / s[LS_SR];
            ent = log_sr - s[LS_WR] / s[LS_SR];
        }
        // narrowing to f32: the SPEC output dtype
        logprobs[r] = (float)((s[LS_ZY] - s[LS_M]) * c - log_s);
        if (entropy != nullptr) entropy[r] = (float)ent;
        if (saved != nullptr) {
            saved[3 * r] = (float)lse;
            saved[3 * r + 1] = (float)lse_e;
            saved[3 * r + 2] = (float)mean;
        }
    }
}

/* Backward: tile row → d loss/d z in place (each element read, then written by the same thread). */
template <bool RAW, bool BIAS>
__global__ void __launch_bounds__(LIN_MAX_THREADS)
lin_backward(float *tile, int64_t cols, int64_t ld, const float *__restrict__ bias, int64_t v0, int64_t v,
             const void *__restrict__ labels, int label_i64, const float *__restrict__ saved,
             const float *__restrict__ grad_lp, const float *__restrict__ grad_ent, float c2, float inv_tau,
             unsigned long long *__restrict__ bad_row) {
    const int64_t row = blockIdx.x;
    const int tid = threadIdx.x, nt = blockDim.x;
    float *z = tile + row * ld;
    long long y = label_at(labels, label_i64, row);
    if (y < 0 || y >= v) {
        if (tid == 0) atomicMin(bad_row, (unsigned long long)row);
        y = -1;
    }
    const long long yr = y < 0 ? -1 : y - v0;          // the label's column in this tile (may be outside it)
    const float lse2 = saved[3 * row] * LOG2E, lse_e2 = saved[3 * row + 1] * LOG2E, mean = saved[3 * row + 2];
    const float g = grad_lp[row] * inv_tau;
    const float h = grad_ent != nullptr ? grad_ent[row] : 0.0f;
    for (int64_t j = tid; j < cols; j += nt) {
        const float x = BIAS ? z[j] + bias[j] : z[j];
        const float p = exp2f(fmaf(x, c2, -lse2));
        float d = g * ((j == yr ? 1.0f : 0.0f) - p);
        if (h != 0.0f) {
            if (RAW) {
                const float q = exp2f(fmaf(x, LOG2E, -lse_e2));
                d -= q > 0.0f ? h * q * (x - mean) : 0.0f;
            } else {
                d -= p > 0.0f ? h * p * (x * inv_tau - mean) * inv_tau : 0.0f;   // q = p for the scaled logits
            }
        }
        z[j] = d;
    }
}

/* grad_bias[j] += Σ_rows dz[r, j], rows in order, f64: one thread per column (consecutive columns coalesce). */
__global__ void lin_colsum(const float *__restrict__ tile, int64_t rows, int64_t cols, int64_t ld,
                           float *__restrict__ grad_bias) {
    for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < cols; j += (int64_t)gridDim.x * blockDim.x) {
        double acc = 0.0;
        for (int64_t r = 0; r < rows; r++) acc += tile[r * ld + j];
        grad_bias[j] = (float)((double)grad_bias[j] + acc);   // narrowing: grad_bias is an f32 output
    }
}

template <int DT>
__global__ void lin_widen(const void *__restrict__ src, int64_t rows, int64_t cols, int64_t src_stride,
                          float *__restrict__ dst, int64_t ld) {
    const int64_t n = rows * cols;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = i / cols, j = i % cols;
        dst[r * ld + j] = Elem<DT>::load(static_cast<const char *>(src) + r * src_stride * Elem<DT>::SIZE, j);
    }
}

/* C[m, n] = alpha·op(A)·op(B) + beta·C, row-major, one thread per output element, k summed in order in f32. */
__global__ void lin_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                          const float *__restrict__ a, int64_t lda, const float *__restrict__ b, int64_t ldb,
                          float beta, float *__restrict__ c, int64_t ldc) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < m * n; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = i / n, col = i % n;
        float acc = 0.0f;
        for (int64_t q = 0; q < k; q++) {
            const float av = trans_a ? a[q * lda + r] : a[r * lda + q];
            const float bv = trans_b ? b[col * ldb + q] : b[q * ldb + col];
            acc = fmaf(av, bv, acc);
        }
        float *out = c + r * ldc + col;
        *out = beta == 0.0f ? alpha * acc : alpha * acc + beta * *out;   // beta = 0: C is not read (may be garbage)
    }
}

int32_t check_tile(const char *op, const void *tile, int64_t rows, int64_t cols, int64_t ld, int64_t v_offset,
                   int64_t v, const void *labels, int32_t label_dtype, double temperature, int32_t entropy_logits) {
    if (rows < 0 || rows > 2147483647LL || cols < 1 || ld < cols) {
        return fail(PPO_ERR_INVALID, "%s: tile: expected 0 <= rows < 2^31, cols >= 1, ld >= cols, got rows=%lld "
                    "cols=%lld ld=%lld", op, (long long)rows, (long long)cols, (long long)ld);
    }
    if (v_offset < 0 || v_offset > v - cols) {
        return fail(PPO_ERR_INVALID, "%s: tile columns [%lld, %lld) outside the vocabulary [0, %lld)", op,
                    (long long)v_offset, (long long)(v_offset + cols), (long long)v);
    }
    if (label_dtype != PPO_I32 && label_dtype != PPO_I64) {
        return fail(PPO_ERR_INVALID, "%s: labels dtype %d is not i32/i64", op, label_dtype);
    }
    if (!(temperature > 0.0) || !isfinite(temperature)) {
        return fail(PPO_ERR_INVALID, "%s: temperature must be finite and > 0, got %g", op, temperature);
    }
    if (entropy_logits != PPO_ENTROPY_SCALED && entropy_logits != PPO_ENTROPY_RAW) {
        return fail(PPO_ERR_INVALID, "%s: entropy_logits: expected 0 (scaled) or 1 (raw), got %d", op, entropy_logits);
    }
    if (rows > 0 && (tile == nullptr || labels == nullptr)) return fail(PPO_ERR_INVALID, "%s: NULL tile or labels", op);
    return PPO_OK;
}

/* Grid of `threads`-thread blocks for a one-item-per-thread sweep over n items (capped: grid-stride loops). */
unsigned flat_grid(int64_t n, unsigned threads) {
    int64_t g = (n + threads - 1) / threads;
    const int64_t cap = 8LL * sm_count();
    if (g > cap) g = cap;
    return (unsigned)(g < 1 ? 1 : g);
}

template <bool RAW, bool BIAS>
void launch_update(unsigned rows, unsigned threads, cudaStream_t s, const float *tile, int64_t cols, int64_t ld,
                   const float *bias, int64_t v0, int64_t v, const void *labels, int label_i64, float c2, double c,
                   int first, double *state, unsigned long long *flag) {
    auto kernel = lin_lse_update<RAW, BIAS>;
    SIMT_LAUNCH(kernel, dim3(rows), dim3(threads), 0, s, tile, cols, ld, bias, v0, v, labels, label_i64, c2, c, first,
                state, flag);
}

template <bool RAW, bool BIAS>
void launch_backward(unsigned rows, unsigned threads, cudaStream_t s, float *tile, int64_t cols, int64_t ld,
                     const float *bias, int64_t v0, int64_t v, const void *labels, int label_i64, const float *saved,
                     const float *grad_lp, const float *grad_ent, float c2, float inv_tau, unsigned long long *flag) {
    auto kernel = lin_backward<RAW, BIAS>;
    SIMT_LAUNCH(kernel, dim3(rows), dim3(threads), 0, s, tile, cols, ld, bias, v0, v, labels, label_i64, saved, grad_lp,
                grad_ent, c2, inv_tau, flag);
}

}  // namespace

extern "C" int32_t linear_lse_update(void *ctx, const float *tile, int64_t rows, int64_t cols, int64_t ld,
                                     const float *bias, int64_t v_offset, int64_t v, const void *labels,
                                     int32_t label_dtype, double temperature, int32_t entropy_logits, double *state) {
    const char *op = "linear_lse_update";
    int32_t rc = check_tile(op, tile, rows, cols, ld, v_offset, v, labels, label_dtype, temperature, entropy_logits);
    if (rc != PPO_OK) return rc;
    if (rows > 0 && state == nullptr) return fail(PPO_ERR_INVALID, "%s: NULL state", op);
    if (rows == 0) return PPO_OK;
    cudaStream_t s = static_cast<cudaStream_t>(ctx);
    Scratch scratch;
    if ((rc = scratch.reserve(op, sizeof(unsigned long long))) != PPO_OK) return rc;
    unsigned long long *flag = scratch.at<unsigned long long>(0);
    if ((rc = reset_label_flag(op, flag, s)) != PPO_OK) return rc;
    const bool raw = entropy_logits == PPO_ENTROPY_RAW && temperature != 1.0;
    const float c2 = (float)(1.4426950408889634 / temperature);   // log2(e)/τ, rounded once to f32
    const double c = 1.0 / temperature;
    const unsigned threads = pick_threads(cols, 16, LIN_MAX_THREADS);
    const unsigned nrows = (unsigned)rows;                          // < 2^31: checked above
    const int li64 = label_dtype == PPO_I64, first = v_offset == 0;
    if (raw) {
        if (bias) launch_update<true, true>(nrows, threads, s, tile, cols, ld, bias, v_offset, v, labels, li64, c2, c, first, state, flag);
        else launch_update<true, false>(nrows, threads, s, tile, cols, ld, bias, v_offset, v, labels, li64, c2, c, first, state, flag);
    } else {
        if (bias) launch_update<false, true>(nrows, threads, s, tile, cols, ld, bias, v_offset, v, labels, li64, c2, c, first, state, flag);
        else launch_update<false, false>(nrows, threads, s, tile, cols, ld, bias, v_offset, v, labels, li64, c2, c, first, state, flag);
    }
    if ((rc = check_launch(op, "lin_lse_update")) != PPO_OK) return rc;
    if ((rc = sync(op, s)) != PPO_OK) return rc;
    return report_label_flag(op, flag, labels, label_dtype, v, s);
}

extern "C" int32_t linear_lse_finish(void *ctx, const double *state, int64_t rows, double temperature,
                                     int32_t entropy_logits, float *logprobs, float *entropy, float *saved) {
    const char *op = "linear_lse_finish";
    if (rows < 0) return fail(PPO_ERR_INVALID, "%s: rows must be >= 0, got %lld", op, (long long)rows);
    if (!(temperature > 0.0) || !isfinite(temperature)) {
        return fail(PPO_ERR_INVALID, "%s: temperature must be finite and > 0, got %g", op, temperature);
    }
    if (entropy_logits != PPO_ENTROPY_SCALED && entropy_logits != PPO_ENTROPY_RAW) {
        return fail(PPO_ERR_INVALID, "%s: entropy_logits: expected 0 or 1, got %d", op, entropy_logits);
    }
    if (rows > 0 && (state == nullptr || logprobs == nullptr)) return fail(PPO_ERR_INVALID, "%s: NULL state or logprobs", op);
    if (rows == 0) return PPO_OK;
    cudaStream_t s = static_cast<cudaStream_t>(ctx);
    Scratch scratch;
    int32_t rc;
    if ((rc = scratch.reserve(op, sizeof(unsigned long long))) != PPO_OK) return rc;
    unsigned long long *missing = scratch.at<unsigned long long>(0);
    PPO_CUDA_CHECK(op, "cudaMemsetAsync", cudaMemsetAsync(missing, 0xff, sizeof(unsigned long long), s));
    const unsigned threads = 128;
    const int raw = entropy_logits == PPO_ENTROPY_RAW && temperature != 1.0;
    SIMT_LAUNCH(lin_lse_finish, dim3(flat_grid(rows, threads)), dim3(threads), 0, s, state, rows, 1.0 / temperature, raw,
                logprobs, entropy, saved, missing);
    if ((rc = check_launch(op, "lin_lse_finish")) != PPO_OK) return rc;
    unsigned long long first_missing = ~0ull;
    PPO_CUDA_CHECK(op, "cudaMemcpyAsync", cudaMemcpyAsync(&first_missing, missing, sizeof first_missing,
                                                          cudaMemcpyDeviceToHost, s));
    if ((rc = sync(op, s)) != PPO_OK) return rc;
    if (first_missing != ~0ull) {
        return fail(PPO_ERR_INVALID, "%s: row %llu: no chunk held its label column (the chunks must cover [0, v))", op,
                    first_missing);
    }
    return PPO_OK;
}

extern "C" int32_t linear_chunk_backward(void *ctx, float *tile, int64_t rows, int64_t cols, int64_t ld,
                                         const float *bias, int64_t v_offset, int64_t v, const void *labels,
                                         int32_t label_dtype, const float *saved, const float *grad_logprobs,
                                         const float *grad_entropy, double temperature, int32_t entropy_logits,
                                         float *grad_bias) {
    const char *op = "linear_chunk_backward";
    int32_t rc = check_tile(op, tile, rows, cols, ld, v_offset, v, labels, label_dtype, temperature, entropy_logits);
    if (rc != PPO_OK) return rc;
    if (rows > 0 && (saved == nullptr || grad_logprobs == nullptr)) {
        return fail(PPO_ERR_INVALID, "%s: NULL saved or grad_logprobs", op);
    }
    if (rows == 0) return PPO_OK;
    cudaStream_t s = static_cast<cudaStream_t>(ctx);
    Scratch scratch;
    if ((rc = scratch.reserve(op, sizeof(unsigned long long))) != PPO_OK) return rc;
    unsigned long long *flag = scratch.at<unsigned long long>(0);
    if ((rc = reset_label_flag(op, flag, s)) != PPO_OK) return rc;
    // raw entropy logits differ from the scaled ones only when τ != 1, and matter only with an entropy gradient
    const bool raw = entropy_logits == PPO_ENTROPY_RAW && temperature != 1.0 && grad_entropy != nullptr;
    const float c2 = (float)(1.4426950408889634 / temperature);
    const float inv_tau = (float)(1.0 / temperature);
    const unsigned threads = pick_threads(cols, 16, LIN_MAX_THREADS);
    const unsigned nrows = (unsigned)rows;   // < 2^31: checked above
    const int li64 = label_dtype == PPO_I64;
    if (raw) {
        if (bias) launch_backward<true, true>(nrows, threads, s, tile, cols, ld, bias, v_offset, v, labels, li64, saved, grad_logprobs, grad_entropy, c2, inv_tau, flag);
        else launch_backward<true, false>(nrows, threads, s, tile, cols, ld, bias, v_offset, v, labels, li64, saved, grad_logprobs, grad_entropy, c2, inv_tau, flag);
    } else {
        if (bias) launch_backward<false, true>(nrows, threads, s, tile, cols, ld, bias, v_offset, v, labels, li64, saved, grad_logprobs, grad_entropy, c2, inv_tau, flag);
        else launch_backward<false, false>(nrows, threads, s, tile, cols, ld, bias, v_offset, v, labels, li64, saved, grad_logprobs, grad_entropy, c2, inv_tau, flag);
    }
    if ((rc = check_launch(op, "lin_backward")) != PPO_OK) return rc;
    if (grad_bias != nullptr) {
        const unsigned t = sweep_threads(cols, 256);
        SIMT_LAUNCH(lin_colsum, dim3(flat_grid(cols, t)), dim3(t), 0, s, (const float *)tile, rows, cols, ld, grad_bias);
        if ((rc = check_launch(op, "lin_colsum")) != PPO_OK) return rc;
    }
    if ((rc = sync(op, s)) != PPO_OK) return rc;
    return report_label_flag(op, flag, labels, label_dtype, v, s);
}

extern "C" int32_t linear_to_f32(void *ctx, const void *src, int32_t dtype, int64_t rows, int64_t cols,
                                 int64_t src_stride, float *dst, int64_t ld) {
    const char *op = "linear_to_f32";
    if (rows < 0 || cols < 0 || src_stride < cols || ld < cols) {
        return fail(PPO_ERR_INVALID, "%s: expected rows, cols >= 0 and strides >= cols, got rows=%lld cols=%lld "
                    "src_stride=%lld ld=%lld", op, (long long)rows, (long long)cols, (long long)src_stride, (long long)ld);
    }
    if (dtype != PPO_F32 && dtype != PPO_BF16 && dtype != PPO_F16) {
        return fail(PPO_ERR_INVALID, "%s: dtype %d is not f32/bf16/f16", op, dtype);
    }
    if (rows == 0 || cols == 0) return PPO_OK;
    if (src == nullptr || dst == nullptr) return fail(PPO_ERR_INVALID, "%s: NULL src or dst", op);
    cudaStream_t s = static_cast<cudaStream_t>(ctx);
    const unsigned t = sweep_threads(rows * cols, 256);
    const dim3 grid(grid_for(rows * cols, t));
    switch (dtype) {
        case PPO_F32: SIMT_LAUNCH(lin_widen<PPO_F32>, grid, dim3(t), 0, s, src, rows, cols, src_stride, dst, ld); break;
        case PPO_BF16: SIMT_LAUNCH(lin_widen<PPO_BF16>, grid, dim3(t), 0, s, src, rows, cols, src_stride, dst, ld); break;
        default: SIMT_LAUNCH(lin_widen<PPO_F16>, grid, dim3(t), 0, s, src, rows, cols, src_stride, dst, ld); break;
    }
    int32_t rc = check_launch(op, "lin_widen");
    if (rc != PPO_OK) return rc;
    return sync(op, s);
}

/* The reference GEMM (row-major C[m, n] = alpha·op(A)·op(B) + beta·C) for drivers without cuBLAS: correct, not fast. */
extern "C" int32_t ppo_linear_sgemm(void *ctx, int32_t trans_a, int32_t trans_b, int64_t m, int64_t n, int64_t k,
                                    float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                                    float *c, int64_t ldc) {
    const char *op = "ppo_linear_sgemm";
    if (m < 0 || n < 0 || k < 0) {
        return fail(PPO_ERR_INVALID, "%s: negative size m=%lld n=%lld k=%lld", op, (long long)m, (long long)n, (long long)k);
    }
    if (m == 0 || n == 0) return PPO_OK;
    const int64_t a_cols = trans_a ? m : k, b_cols = trans_b ? k : n;
    if (lda < (a_cols > 1 ? a_cols : 1) || ldb < (b_cols > 1 ? b_cols : 1) || ldc < n) {
        return fail(PPO_ERR_INVALID, "%s: leading dimensions lda=%lld ldb=%lld ldc=%lld too small", op, (long long)lda,
                    (long long)ldb, (long long)ldc);
    }
    if (c == nullptr || (k > 0 && (a == nullptr || b == nullptr))) return fail(PPO_ERR_INVALID, "%s: NULL operand", op);
    cudaStream_t s = static_cast<cudaStream_t>(ctx);
    const unsigned t = sweep_threads(m * n, 256);
    SIMT_LAUNCH(lin_sgemm, dim3(grid_for(m * n, t)), dim3(t), 0, s, (int)(trans_a != 0), (int)(trans_b != 0), m, n, k,
                alpha, a, lda, b, ldb, beta, c, ldc);
    int32_t rc = check_launch(op, "lin_sgemm");
    if (rc != PPO_OK) return rc;
    return sync(op, s);
}
