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
 * Design: one block per tile row (32..256 threads by the tile width); each thread sweeps its columns keeping the
 * online softmax state of online_softmax.cuh (shared with token_logprobs: base 2, one exp2 per logit), merged by warp
 * butterflies and then across warps through shared memory in a fixed tree; thread 0
 * converts to natural units (w = t·ln2) and merges the tile's (m, s, w) into the row state in f64:
 *   M = max(m1, m2), δk = (mk − M)·c,  s = Σ sk·e^{δk},  w = Σ e^{δk}·(wk + sk·δk)
 * (Milakov & Gimelshein 2018, online softmax, extended to Σ p·x; the chunked GEMM + online lse structure is
 * Liger-Kernel's fused linear cross entropy / Cut Cross-Entropy, Wijmans et al. 2024). The label logit is one extra
 * load by thread 0. The backward is one streaming pass per row (no reductions); grad_bias is one thread per column
 * summing the rows in order in f64. Every reduction has a fixed order: bitwise repeatable. No float atomics.
 * Labels outside [0, v) set the shared label flag (atomicMin of the row), reported by the launcher.
 */
#include <math.h>
#include <stdio.h>

#include <string>
#ifndef SIMT_EMULATION
#include <dlfcn.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>

#include <iterator>
#include <mutex>
#include <vector>
#endif

#include "online_softmax.cuh"
#include "ppo_cuda.h"
#include "ppo_cuda_host.h"

namespace {
using namespace ppo;

constexpr unsigned LIN_MAX_THREADS = 256;
enum { LS_M = 0, LS_S = 1, LS_W = 2, LS_MR = 3, LS_SR = 4, LS_WR = 5, LS_ZY = 6, LS_SEEN = 7 };

/* Logits q·4 .. q·4 + 3 of a tile row (16-byte load), the bias's added when BIAS (the same f32 sums as the scalar
 * loops). */
template <bool BIAS>
__device__ __forceinline__ float4 quad(const float4 *__restrict__ z4, const float4 *__restrict__ b4, int64_t q) {
    float4 x = z4[q];
    if (BIAS) {
        const float4 bb = b4[q];
        x.x += bb.x;
        x.y += bb.y;
        x.z += bb.z;
        x.w += bb.w;
    }
    return x;
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
               double *__restrict__ state, unsigned long long *__restrict__ bad_row, int vec) {
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
    Online a = online_empty(), b = online_empty();
    if (vec) {
        // 16-byte loads (rows and bias 16-byte aligned, cols % 4 == 0): four times the bytes in flight per thread of
        // the scalar loop, which leaves this memory-bound sweep latency-bound. Thread t takes quads t, t + nt, ...
        const float4 *z4 = reinterpret_cast<const float4 *>(z);
        const float4 *b4 = reinterpret_cast<const float4 *>(bias);
        for (int64_t q = tid; q < (cols >> 2); q += nt) {
            const float4 x = quad<BIAS>(z4, b4, q);
            const float zq[4] = {x.x, x.y, x.z, x.w};
            online_add<4, true>(a, zq, c2);
            if (RAW) online_add<4, true>(b, zq, LOG2E);
        }
    } else {
        for (int64_t j = tid; j < cols; j += nt) {
            const float x = BIAS ? z[j] + bias[j] : z[j];
            online_add<1, true>(a, &x, c2);
            if (RAW) online_add<1, true>(b, &x, LOG2E);
        }
    }
    if (!block_merge<RAW>(a, c2, b, LOG2E, sh)) return;   // warps 1..: done (no barrier follows)
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

/* Backward: tile row → d loss/d z in place (each element read, then written by the same thread). OUT16 = PPO_BF16 or
 * PPO_F16 also stores dz rounded to that type into dz16 (row stride cols: the operand of 16-bit gradient GEMMs), and
 * then writes the f32 dz back only when keep_f32 (grad_bias sums it); NO_OUT16 stores nothing else. splits = 3
 * (bf16 only) stores dz as three bf16 parts hi + mid + lo at split_stride elements apart: 3 × 8 significant bits hold
 * all 24 of the f32 dz (each difference is exact), so three tensor-core GEMMs give the f32 dz's products. */
constexpr int NO_OUT16 = -1;
template <bool RAW, bool BIAS, int OUT16>
__global__ void __launch_bounds__(LIN_MAX_THREADS)
lin_backward(float *tile, int64_t cols, int64_t ld, const float *__restrict__ bias, int64_t v0, int64_t v,
             const void *__restrict__ labels, int label_i64, const float *__restrict__ saved,
             const float *__restrict__ grad_lp, const float *__restrict__ grad_ent, float c2, float inv_tau,
             unsigned long long *__restrict__ bad_row, void *__restrict__ dz16, int keep_f32, int splits,
             int64_t split_stride, int vec) {
    const int64_t row = blockIdx.x;
    const int tid = threadIdx.x, nt = blockDim.x;
    float *z = tile + row * ld;
    char *d16 = OUT16 == NO_OUT16 ? nullptr : static_cast<char *>(dz16) + row * cols * 2;
    long long y = label_at(labels, label_i64, row);
    if (y < 0 || y >= v) {
        if (tid == 0) atomicMin(bad_row, (unsigned long long)row);
        y = -1;
    }
    const long long yr = y < 0 ? -1 : y - v0;          // the label's column in this tile (may be outside it)
    const float lse2 = saved[3 * row] * LOG2E, lse_e2 = saved[3 * row + 1] * LOG2E, mean = saved[3 * row + 2];
    const float g = grad_lp[row] * inv_tau;
    const float h = grad_ent != nullptr ? grad_ent[row] : 0.0f;
    // dz of logit x (bias added) at tile column j
    auto dz = [&](float x, int64_t j) {
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
        return d;
    };
    // the 16-bit copies of dz at column j (one part, or three: hi, mid, lo)
    auto store16 = [&](float d, int64_t j) {
        if constexpr (OUT16 != NO_OUT16) {
            unsigned short *o = reinterpret_cast<unsigned short *>(d16);
            const unsigned short hi = Elem<OUT16>::bits(d);
            o[j] = hi;
            if (splits > 1) {
                float r = d - Elem<OUT16>::cvt(hi);          // exact (Sterbenz)
                const unsigned short mid = Elem<OUT16>::bits(r);
                o[j + split_stride] = mid;
                r -= Elem<OUT16>::cvt(mid);                   // exact
                o[j + 2 * split_stride] = Elem<OUT16>::bits(r);
            }
        }
    };
    const bool write_f32 = OUT16 == NO_OUT16 || keep_f32;
    if (vec) {   // 16-byte loads and stores (see lin_lse_update); elementwise, so the results equal the scalar loop's
        float4 *z4 = reinterpret_cast<float4 *>(z);
        const float4 *b4 = reinterpret_cast<const float4 *>(bias);
        for (int64_t q = tid; q < (cols >> 2); q += nt) {
            const float4 x = quad<BIAS>(z4, b4, q);
            const int64_t j = q << 2;
            float4 d;
            d.x = dz(x.x, j);
            d.y = dz(x.y, j + 1);
            d.z = dz(x.z, j + 2);
            d.w = dz(x.w, j + 3);
            store16(d.x, j);
            store16(d.y, j + 1);
            store16(d.z, j + 2);
            store16(d.w, j + 3);
            if (write_f32) z4[q] = d;
        }
    } else {
        for (int64_t j = tid; j < cols; j += nt) {
            const float d = dz(BIAS ? z[j] + bias[j] : z[j], j);
            store16(d, j);
            if (write_f32) z[j] = d;
        }
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

/* Whether tile rows (and the bias) can be read as 16-byte quads: cols and ld multiples of 4, pointers 16-byte aligned.
 * Depends on shapes and addresses only; the driver's tile and bias copy are in its 256-byte aligned workspace, so
 * there it depends on the shapes alone. */
bool quads(const float *tile, int64_t cols, int64_t ld, const float *bias) {
    return cols % 4 == 0 && ld % 4 == 0 && reinterpret_cast<uintptr_t>(tile) % 16 == 0 &&
           (bias == nullptr || reinterpret_cast<uintptr_t>(bias) % 16 == 0);
}

template <bool RAW, bool BIAS>
void launch_update(unsigned rows, unsigned threads, cudaStream_t s, const float *tile, int64_t cols, int64_t ld,
                   const float *bias, int64_t v0, int64_t v, const void *labels, int label_i64, float c2, double c,
                   int first, double *state, unsigned long long *flag) {
    auto kernel = lin_lse_update<RAW, BIAS>;
    SIMT_LAUNCH(kernel, dim3(rows), dim3(threads), 0, s, tile, cols, ld, bias, v0, v, labels, label_i64, c2, c, first,
                state, flag, (int)quads(tile, cols, ld, bias));
}

template <bool RAW, bool BIAS, int OUT16 = NO_OUT16>
void launch_backward(unsigned rows, unsigned threads, cudaStream_t s, float *tile, int64_t cols, int64_t ld,
                     const float *bias, int64_t v0, int64_t v, const void *labels, int label_i64, const float *saved,
                     const float *grad_lp, const float *grad_ent, float c2, float inv_tau, unsigned long long *flag,
                     void *dz16 = nullptr, int keep_f32 = 1, int splits = 1) {
    auto kernel = lin_backward<RAW, BIAS, OUT16>;
    const int64_t split_stride = (int64_t)rows * cols;
    SIMT_LAUNCH(kernel, dim3(rows), dim3(threads), 0, s, tile, cols, ld, bias, v0, v, labels, label_i64, saved, grad_lp,
                grad_ent, c2, inv_tau, flag, dz16, keep_f32, splits, split_stride, (int)quads(tile, cols, ld, bias));
}

/* Widens rows×cols elements of dtype dt (row stride src_ld) into dense-by-ld f32 (stream-ordered, no sync). */
int32_t widen(const char *op, cudaStream_t s, const void *src, int32_t dt, int64_t rows, int64_t cols, int64_t src_ld,
              float *dst, int64_t ld) {
    if (rows == 0 || cols == 0) return PPO_OK;
    const unsigned t = sweep_threads(rows * cols, 256);
    const dim3 grid(grid_for(rows * cols, t));
    switch (dt) {
        case PPO_F32: SIMT_LAUNCH(lin_widen<PPO_F32>, grid, dim3(t), 0, s, src, rows, cols, src_ld, dst, ld); break;
        case PPO_BF16: SIMT_LAUNCH(lin_widen<PPO_BF16>, grid, dim3(t), 0, s, src, rows, cols, src_ld, dst, ld); break;
        default: SIMT_LAUNCH(lin_widen<PPO_F16>, grid, dim3(t), 0, s, src, rows, cols, src_ld, dst, ld); break;
    }
    return check_launch(op, "lin_widen");
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
    int32_t rc = widen(op, s, src, dtype, rows, cols, src_stride, dst, ld);
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

/* ====================================================================================================================
 * The whole op on device memory: ppo_linear_token_logprobs / ppo_linear_token_logprobs_backward (ppo_cuda.h).
 *
 * One call drives every tile on the caller's stream: the logits tiles come from GEMMs — cuBLAS (cublasGemmEx, loaded
 * with dlopen at the first call, so the library and every other op work without it) on a GPU, lin_sgemm on the
 * emulator — and the tile kernels above fold them. Nothing waits on the host between tiles; labels are checked once
 * up front by a kernel and reported after the one synchronisation at the end.
 *
 * GEMM operand types: hidden and weight of the same 16-bit type multiply as they are (tensor cores, f32 accumulation,
 * f32 tile: exactly the f32 sum of the rounded inputs that SPEC asks for); any other combination is widened to f32
 * (per row block / vocabulary chunk, in the workspace) and multiplied in f32 (CUBLAS_COMPUTE_32F, no TF32).
 * The gradient GEMMs take dZ exactly (grad_gemm = 0: for bf16 inputs as three bf16 parts hi + mid + lo, three
 * tensor-core GEMMs per gradient; otherwise f32 GEMMs on operands widened to f32) or rounded to the input type
 * (grad_gemm = 1, what autograd, Liger-Kernel and Cut Cross-Entropy do: one tensor-core GEMM per gradient; the error is
 * one rounding of each dz term, a relative 2^-9 for bf16).
 *
 * Workspace: one scratch buffer of at most workspace_bytes (default 1 GiB): the f32 tile [R, C], the row states, the
 * 16-bit dZ copy, widened operands and the f32 bias. R = N when a tile of ≥ 1024 columns fits, else halved; C fills
 * the rest (a multiple of 128). Independent of the data; the order of every sum is fixed by (R, C), so results repeat
 * bit for bit for the same shapes and budget.
 * ==================================================================================================================*/

namespace {

constexpr int64_t LIN_DEFAULT_WORKSPACE = 1LL << 30;
constexpr int64_t LIN_MIN_COLS = 1024;   // narrower tiles only when one row block of this width does not fit

#ifndef SIMT_EMULATION
/* ---- the few cuBLAS entry points used, declared here (no cuBLAS headers needed at build time); values as in
 * cublas_api.h / library_types.h, stable across CUDA 11–13. */
typedef void *CublasHandle;
typedef int (*CublasCreateFn)(CublasHandle *);
typedef int (*CublasSetStreamFn)(CublasHandle, cudaStream_t);
typedef int (*CublasGemmExFn)(CublasHandle, int transa, int transb, int m, int n, int k, const void *alpha,
                              const void *a, int a_type, int lda, const void *b, int b_type, int ldb, const void *beta,
                              void *c, int c_type, int ldc, int compute_type, int algo);
enum {
    CUBLAS_OP_N_ = 0, CUBLAS_OP_T_ = 1,
    CUDA_R_32F_ = 0, CUDA_R_16F_ = 2, CUDA_R_16BF_ = 14,
    CUBLAS_COMPUTE_32F_ = 68, CUBLAS_GEMM_DEFAULT_ = -1
};
constexpr int LIN_MAX_DEVICES = 64;

struct Cublas {
    std::mutex mu;                       // held for a whole driver call: a handle is not thread safe
    bool tried = false;
    std::string why;                     // why cuBLAS is unusable ("" = loaded)
    std::string path;                    // what was loaded
    CublasCreateFn create = nullptr;
    CublasSetStreamFn set_stream = nullptr;
    CublasGemmExFn gemm = nullptr;
    CublasHandle handle[LIN_MAX_DEVICES] = {};
};
Cublas &cublas() {
    static Cublas *c = new Cublas();     // never destroyed: handles may be in use during process teardown
    return *c;
}

/* dlopen of libcublas: $PPO_CUBLAS (a file), then the sonames on the loader path, then the usual toolkit folders
 * (libcublasLt of the same folder first, RTLD_GLOBAL, since libcublas needs it and may carry no RUNPATH). */
void *open_cublas(std::string &tried, std::string &path) {
    const char *env = getenv("PPO_CUBLAS");
    const char *names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so"};
    const char *dirs[] = {"/usr/local/cuda/lib64/", "/usr/local/cuda/targets/x86_64-linux/lib/",
                          "/usr/lib/x86_64-linux-gnu/"};
    if (env != nullptr && *env != '\0') {
        std::string dir(env);
        size_t slash = dir.rfind('/');
        if (slash != std::string::npos) {
            std::string d = dir.substr(0, slash + 1), lt = strstr(env, ".so.12") ? "libcublasLt.so.12" : "libcublasLt.so.13";
            dlopen((d + lt).c_str(), RTLD_NOW | RTLD_GLOBAL);
        }
        if (void *h = dlopen(env, RTLD_NOW | RTLD_LOCAL)) {
            path = env;
            return h;
        }
        tried += std::string("PPO_CUBLAS=") + env + " (" + dlerror() + "); ";
    }
    for (const char *n : names) {
        if (void *h = dlopen(n, RTLD_NOW | RTLD_LOCAL)) {
            path = n;
            return h;
        }
        tried += std::string(n) + "; ";
    }
    std::vector<std::string> folders(std::begin(dirs), std::end(dirs));
    glob_t g;   // versioned toolkits, newest name last: /usr/local/cuda-13.0/...
    if (glob("/usr/local/cuda-*/targets/x86_64-linux/lib/", GLOB_MARK, nullptr, &g) == 0) {
        for (size_t i = g.gl_pathc; i-- > 0;) folders.emplace_back(g.gl_pathv[i]);
        globfree(&g);
    }
    for (const std::string &d : folders) {
        for (int ver : {13, 12}) {
            std::string lt = d + "libcublasLt.so." + std::to_string(ver);
            std::string bl = d + "libcublas.so." + std::to_string(ver);
            dlopen(lt.c_str(), RTLD_NOW | RTLD_GLOBAL);
            if (void *h = dlopen(bl.c_str(), RTLD_NOW | RTLD_LOCAL)) {
                path = bl;
                return h;
            }
            tried += bl + "; ";
        }
    }
    return nullptr;
}

/* Loads cuBLAS once (caller holds cublas().mu); afterwards c.why is "" when it is usable. */
void load_cublas() {
    Cublas &c = cublas();
    if (!c.tried) {
        c.tried = true;
        std::string tried;
        void *lib = open_cublas(tried, c.path);
        if (lib == nullptr) {
            c.why = "cuBLAS was not found (tried " + tried + "set PPO_CUBLAS to the path of libcublas.so)";
        } else {
            c.create = reinterpret_cast<CublasCreateFn>(dlsym(lib, "cublasCreate_v2"));
            c.set_stream = reinterpret_cast<CublasSetStreamFn>(dlsym(lib, "cublasSetStream_v2"));
            c.gemm = reinterpret_cast<CublasGemmExFn>(dlsym(lib, "cublasGemmEx"));
            if (!c.create || !c.set_stream || !c.gemm) {
                c.why = c.path + " lacks cublasCreate_v2/cublasSetStream_v2/cublasGemmEx";
            }
        }
    }
}

/* Loads cuBLAS once and returns the handle of the current device (created on first use); caller holds cublas().mu. */
int32_t cublas_handle(const char *op, CublasHandle *out) {
    load_cublas();
    Cublas &c = cublas();
    if (!c.why.empty()) return fail(PPO_ERR_DEVICE, "%s: %s", op, c.why.c_str());
    int dev = 0;
    PPO_CUDA_CHECK(op, "cudaGetDevice", cudaGetDevice(&dev));
    if (dev < 0 || dev >= LIN_MAX_DEVICES) return fail(PPO_ERR_DEVICE, "%s: device %d: at most %d devices", op, dev, LIN_MAX_DEVICES);
    if (c.handle[dev] == nullptr) {
        int st = c.create(&c.handle[dev]);
        if (st != 0) {
            c.handle[dev] = nullptr;
            return fail(PPO_ERR_DEVICE, "%s: cublasCreate failed with status %d", op, st);
        }
    }
    *out = c.handle[dev];
    return PPO_OK;
}

int cuda_type(int32_t dt) { return dt == PPO_BF16 ? CUDA_R_16BF_ : dt == PPO_F16 ? CUDA_R_16F_ : CUDA_R_32F_; }
#endif


/* The GEMM of the driver: row-major C[m, n] (f32, ldc) = op(A)·op(B) + beta·C with A and B both of dtype dt,
 * accumulated in f32. cuBLAS is column-major: the row-major C is the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, so B goes first
 * with its own transpose flag. The emulator widens 16-bit operands and runs lin_sgemm (the same sums). */
int32_t gemm(const char *op, cudaStream_t s, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const void *a,
             int64_t lda, const void *b, int64_t ldb, int32_t dt, float beta, float *c, int64_t ldc) {
    if (m == 0 || n == 0) return PPO_OK;
    const float alpha = 1.0f;
#ifndef SIMT_EMULATION
    const int64_t lim = 2147483647LL;
    if (m > lim || n > lim || k > lim || lda > lim || ldb > lim || ldc > lim) {
        return fail(PPO_ERR_INVALID, "%s: a GEMM dimension exceeds 2^31 - 1 (m=%lld n=%lld k=%lld)", op, (long long)m,
                    (long long)n, (long long)k);
    }
    CublasHandle hnd = nullptr;
    int32_t rc = cublas_handle(op, &hnd);
    if (rc != PPO_OK) return rc;
    Cublas &cb = cublas();
    int st = cb.set_stream(hnd, s);
    if (st == 0) {
        st = cb.gemm(hnd, tb ? CUBLAS_OP_T_ : CUBLAS_OP_N_, ta ? CUBLAS_OP_T_ : CUBLAS_OP_N_, (int)n, (int)m, (int)k,
                     &alpha, b, cuda_type(dt), (int)ldb, a, cuda_type(dt), (int)lda, &beta, c, CUDA_R_32F_, (int)ldc,
                     CUBLAS_COMPUTE_32F_, CUBLAS_GEMM_DEFAULT_);
    }
    if (st != 0) {
        return fail(PPO_ERR_DEVICE, "%s: cublasGemmEx failed with status %d (m=%lld n=%lld k=%lld)", op, st,
                    (long long)m, (long long)n, (long long)k);
    }
    return PPO_OK;
#else
    const float *a32 = static_cast<const float *>(a), *b32 = static_cast<const float *>(b);
    Scratch wa, wb;
    int32_t rc;
    if (dt != PPO_F32) {
        const int64_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
        if ((rc = wa.reserve(op, (size_t)(ar * ac * 4))) != PPO_OK) return rc;
        if ((rc = wb.reserve(op, (size_t)(br * bc * 4))) != PPO_OK) return rc;
        if ((rc = widen(op, s, a, dt, ar, ac, lda, wa.at<float>(0), ac)) != PPO_OK) return rc;
        if ((rc = widen(op, s, b, dt, br, bc, ldb, wb.at<float>(0), bc)) != PPO_OK) return rc;
        a32 = wa.at<float>(0);
        b32 = wb.at<float>(0);
        lda = ac;
        ldb = bc;
    }
    const unsigned t = sweep_threads(m * n, 256);
    SIMT_LAUNCH(lin_sgemm, dim3(grid_for(m * n, t)), dim3(t), 0, s, (int)ta, (int)tb, m, n, k, alpha, a32, lda, b32, ldb,
                beta, c, ldc);
    if ((rc = check_launch(op, "lin_sgemm")) != PPO_OK) return rc;
    return sync(op, s);   // the widened copies go back to the pool
#endif
}

/* Labels outside [0, v): the first bad row into flag (integer atomicMin: order-independent). */
__global__ void lin_check_labels(const void *__restrict__ labels, int label_i64, int64_t n, int64_t v,
                                 unsigned long long *__restrict__ flag) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const long long y = label_at(labels, label_i64, i);
        if (y < 0 || y >= v) atomicMin(flag, (unsigned long long)i);
    }
}

/* The inputs of one call, validated. */
struct LinArgs {
    const void *hidden;
    int32_t hdt;
    int64_t n, h, hs;        // hs: hidden row stride (elements)
    const void *weight;
    int32_t wdt;
    int64_t v;
    const void *bias;
    int32_t bdt;
    const void *labels;
    int32_t ldt;
    double tau;
    int32_t ent;
};

bool float_type(int32_t dt) { return dt == PPO_F32 || dt == PPO_BF16 || dt == PPO_F16; }
int64_t dsize(int32_t dt) { return dt == PPO_F32 ? 4 : 2; }

int32_t check_args(const char *op, const LinArgs &x) {
    if (x.n < 0 || x.h < 1 || x.v < 1 || x.hs < x.h) {
        return fail(PPO_ERR_INVALID, "%s: expected n >= 0, h >= 1, v >= 1, hidden_stride >= h, got n=%lld h=%lld v=%lld "
                    "hidden_stride=%lld", op, (long long)x.n, (long long)x.h, (long long)x.v, (long long)x.hs);
    }
    if (!float_type(x.hdt) || !float_type(x.wdt) || (x.bias != nullptr && !float_type(x.bdt))) {
        return fail(PPO_ERR_INVALID, "%s: hidden, weight and bias dtypes must be f32/bf16/f16, got %d, %d, %d", op, x.hdt,
                    x.wdt, x.bdt);
    }
    if (x.ldt != PPO_I32 && x.ldt != PPO_I64) return fail(PPO_ERR_INVALID, "%s: labels dtype %d is not i32/i64", op, x.ldt);
    if (!(x.tau > 0.0) || !isfinite(x.tau)) {
        return fail(PPO_ERR_INVALID, "%s: temperature must be finite and > 0, got %g", op, x.tau);
    }
    if (x.ent != PPO_ENTROPY_SCALED && x.ent != PPO_ENTROPY_RAW) {
        return fail(PPO_ERR_INVALID, "%s: entropy_logits: expected 0 (scaled) or 1 (raw), got %d", op, x.ent);
    }
    if (x.n > 0 && (x.hidden == nullptr || x.weight == nullptr || x.labels == nullptr)) {
        return fail(PPO_ERR_INVALID, "%s: NULL hidden, weight or labels", op);
    }
    return PPO_OK;
}

/* Tile shape and workspace layout of one call. */
struct LinPlan {
    int64_t rows, cols;          // R, C
    int32_t gdt;                 // dtype of the logits GEMM operands
    int32_t bwd_dt;              // dtype of the gradient GEMM operands (backward only)
    int splits;                  // 16-bit parts of dZ (3: exact bf16 split; 1 otherwise)
    bool h32, w32;               // hidden rows / weight chunk widened to f32 in the workspace
    size_t off_flags, off_state, off_bias, off_h32, off_w32, off_tile, off_dz16, total;
};

/* Lays the workspace out for tile R×C. */
void lay_out(LinPlan &p, const LinArgs &x, bool backward) {
    size_t o = 0;
    p.off_flags = o;
    o += 256;
    p.off_state = o;
    o += backward ? 0 : align256((size_t)p.rows * PPO_LINEAR_STATE * 8);
    p.off_bias = o;
    o += x.bias != nullptr ? align256((size_t)x.v * 4) : 0;
    p.off_h32 = o;
    o += p.h32 ? align256((size_t)(p.rows * x.h * 4)) : 0;
    p.off_w32 = o;
    o += p.w32 ? align256((size_t)(p.cols * x.h * 4)) : 0;
    p.off_tile = o;
    o += align256((size_t)(p.rows * p.cols * 4));
    p.off_dz16 = o;
    o += backward && p.bwd_dt != PPO_F32 ? align256((size_t)(p.rows * p.cols * 2 * p.splits)) : 0;
    p.total = o;
}

int32_t make_plan(const char *op, const LinArgs &x, bool backward, int32_t grad_gemm, int64_t budget, int64_t rows_chunk,
                  int64_t vocab_chunk, LinPlan &p) {
    if (budget <= 0) budget = LIN_DEFAULT_WORKSPACE;
    p.gdt = x.hdt == x.wdt ? x.hdt : PPO_F32;
    // exact gradients of bf16 inputs: dZ as three bf16 parts (tensor cores); f16 (whose range would lose the small
    // parts) and f32 / mixed inputs: f32 GEMMs
    p.splits = backward && grad_gemm == 0 && p.gdt == PPO_BF16 ? 3 : 1;
    p.bwd_dt = backward && (grad_gemm == 1 || p.splits == 3) ? p.gdt : PPO_F32;
    const bool f32_somewhere = p.gdt == PPO_F32 || (backward && p.bwd_dt == PPO_F32);
    p.h32 = x.hdt != PPO_F32 && f32_somewhere;
    p.w32 = x.wdt != PPO_F32 && f32_somewhere;
    const int64_t n = x.n > 0 ? x.n : 1;
    if (rows_chunk > 0 || vocab_chunk > 0) {
        p.rows = rows_chunk > 0 ? (rows_chunk < n ? rows_chunk : n) : n;
        p.cols = vocab_chunk > 0 ? (vocab_chunk < x.v ? vocab_chunk : x.v) : (x.v < 4096 ? x.v : 4096);
        lay_out(p, x, backward);
        return PPO_OK;
    }
    p.rows = n;
    for (;;) {
        // bytes = fixed(R) + C·per_col(R) (+ 256-byte roundings): the widest C that fits
        const int64_t fixed = 256 + (backward ? 0 : p.rows * PPO_LINEAR_STATE * 8)
                              + (x.bias != nullptr ? x.v * 4 : 0) + (p.h32 ? p.rows * x.h * 4 : 0)
                              + 6 * 256;
        const int64_t per_col = (p.w32 ? x.h * 4 : 0) + p.rows * 4 + (backward && p.bwd_dt != PPO_F32 ? p.rows * 2 * p.splits : 0);
        int64_t cols = budget > fixed ? (budget - fixed) / per_col : 0;
        if (cols >= x.v) cols = x.v;
        else if (cols >= 256) cols = cols / 128 * 128;
        if (cols >= (x.v < LIN_MIN_COLS ? x.v : LIN_MIN_COLS) || (p.rows == 1 && cols >= 1)) {
            p.cols = cols;
            lay_out(p, x, backward);
            return PPO_OK;
        }
        if (p.rows == 1) {
            return fail(PPO_ERR_ALLOC, "%s: a workspace of %lld bytes cannot hold one row of a tile", op, (long long)budget);
        }
        p.rows = (p.rows + 1) / 2;
    }
}

unsigned lin_threads(int64_t cols) { return pick_threads(cols, 16, LIN_MAX_THREADS); }

/* An f32 copy of the bias in the workspace, always (aligned there: the tile kernels' 16-byte path then depends on the
 * shapes alone, not on where the caller's bias lies); nullptr without bias. */
int32_t bias_f32(const char *op, cudaStream_t s, const LinArgs &x, const LinPlan &p, char *ws, const float **out) {
    *out = nullptr;
    if (x.bias == nullptr) return PPO_OK;
    float *b = reinterpret_cast<float *>(ws + p.off_bias);
    *out = b;
    return widen(op, s, x.bias, x.bdt, 1, x.v, x.v, b, x.v);
}

/* The logits tile Z = H[r0 : r0+rows] · W[v0 : v0+cols]ᵀ + (no bias) → tile [rows, cols] f32. The widened hidden rows
 * are made by the caller once per row block (h32_ready). */
int32_t logits_tile(const char *op, cudaStream_t s, const LinArgs &x, const LinPlan &p, char *ws, int64_t r0,
                    int64_t rows, int64_t v0, int64_t cols, const void **w_operand) {
    const void *a = static_cast<const char *>(x.hidden) + r0 * x.hs * dsize(x.hdt);
    int64_t lda = x.hs;
    const void *b = static_cast<const char *>(x.weight) + v0 * x.h * dsize(x.wdt);
    int32_t rc;
    if (p.w32) {
        float *w = reinterpret_cast<float *>(ws + p.off_w32);
        if ((rc = widen(op, s, b, x.wdt, cols, x.h, x.h, w, x.h)) != PPO_OK) return rc;
        if (w_operand) *w_operand = w;
        if (p.gdt == PPO_F32) b = w;
    } else if (w_operand) {
        *w_operand = b;
    }
    if (p.gdt == PPO_F32 && p.h32) {
        a = ws + p.off_h32;
        lda = x.h;
    }
    return gemm(op, s, false, true, rows, cols, x.h, a, lda, b, x.h, p.gdt, 0.0f,
                reinterpret_cast<float *>(ws + p.off_tile), cols);
}

/* Widens hidden rows [r0, r0 + rows) into the workspace when the plan says so. */
int32_t hidden_rows_f32(const char *op, cudaStream_t s, const LinArgs &x, const LinPlan &p, char *ws, int64_t r0,
                        int64_t rows) {
    if (!p.h32) return PPO_OK;
    return widen(op, s, static_cast<const char *>(x.hidden) + r0 * x.hs * dsize(x.hdt), x.hdt, rows, x.h, x.hs,
                 reinterpret_cast<float *>(ws + p.off_h32), x.h);
}

const void *label_rows(const LinArgs &x, int64_t r0) {
    return static_cast<const char *>(x.labels) + r0 * (x.ldt == PPO_I64 ? 8 : 4);
}

/* Takes cuBLAS's lock for a driver call on a GPU (a no-op in the emulator). */
struct GemmLock {
#ifndef SIMT_EMULATION
    std::lock_guard<std::mutex> g{cublas().mu};
#endif
};

/* One driver call's resources, in the order they are released: the stream drained (on every exit path, errors
 * included: no kernel of the call may still use the scratch), then the scratch back to the pool, then cuBLAS's lock. */
struct Call {
    GemmLock lock;
    Scratch scratch;
    cudaStream_t s;
    char *ws = nullptr;
    unsigned long long *flags = nullptr;   // [0]: first bad label row (the others take the tile kernels' own flags)
    const float *bias = nullptr;           // the f32 bias copy, or nullptr
    explicit Call(cudaStream_t stream) : s(stream) {}
    Call(const Call &) = delete;
    Call &operator=(const Call &) = delete;
    ~Call() {
        if (ws != nullptr && cudaStreamSynchronize(s) != cudaSuccess) cudaGetLastError();
    }
    /* Takes the workspace, resets the flags, launches the label check (reported at the end) and copies the bias. */
    int32_t start(const char *op, const LinArgs &x, const LinPlan &p) {
        int32_t rc = scratch.reserve(op, p.total);
        if (rc != PPO_OK) return rc;
        ws = scratch.at<char>(0);
        flags = reinterpret_cast<unsigned long long *>(ws + p.off_flags);
        PPO_CUDA_CHECK(op, "cudaMemsetAsync", cudaMemsetAsync(flags, 0xff, 4 * sizeof(unsigned long long), s));
        const unsigned t = sweep_threads(x.n, 256);
        SIMT_LAUNCH(lin_check_labels, dim3(grid_for(x.n, t)), dim3(t), 0, s, x.labels, (int)(x.ldt == PPO_I64), x.n,
                    x.v, flags);
        if ((rc = check_launch(op, "lin_check_labels")) != PPO_OK) return rc;
        return bias_f32(op, s, x, p, ws, &bias);
    }
};

int32_t lin_forward(const char *op, cudaStream_t s, const LinArgs &x, float *logprobs, float *entropy, float *saved,
                    int64_t budget, int64_t rows_chunk, int64_t vocab_chunk, int64_t *used) {
    LinPlan p;
    int32_t rc = make_plan(op, x, false, 0, budget, rows_chunk, vocab_chunk, p);
    if (rc != PPO_OK) return rc;
    if (used) *used = (int64_t)p.total;
    if (x.n == 0) return PPO_OK;
    Call call(s);
    if ((rc = call.start(op, x, p)) != PPO_OK) return rc;
    const int li64 = x.ldt == PPO_I64;
    const bool raw = x.ent == PPO_ENTROPY_RAW && x.tau != 1.0;
    const float c2 = (float)(1.4426950408889634 / x.tau);
    const double c = 1.0 / x.tau;
    double *state = reinterpret_cast<double *>(call.ws + p.off_state);
    float *tile = reinterpret_cast<float *>(call.ws + p.off_tile);
    for (int64_t r0 = 0; r0 < x.n; r0 += p.rows) {
        const int64_t rows = x.n - r0 < p.rows ? x.n - r0 : p.rows;
        if (p.gdt == PPO_F32 && (rc = hidden_rows_f32(op, s, x, p, call.ws, r0, rows)) != PPO_OK) return rc;
        const void *lab = label_rows(x, r0);
        for (int64_t v0 = 0; v0 < x.v; v0 += p.cols) {
            const int64_t cols = x.v - v0 < p.cols ? x.v - v0 : p.cols;
            if ((rc = logits_tile(op, s, x, p, call.ws, r0, rows, v0, cols, nullptr)) != PPO_OK) return rc;
            const float *bc = call.bias ? call.bias + v0 : nullptr;
            const unsigned th = lin_threads(cols), nr = (unsigned)rows;
            const int first = v0 == 0;
            if (raw) {
                if (bc) launch_update<true, true>(nr, th, s, tile, cols, cols, bc, v0, x.v, lab, li64, c2, c, first, state, call.flags + 1);
                else launch_update<true, false>(nr, th, s, tile, cols, cols, bc, v0, x.v, lab, li64, c2, c, first, state, call.flags + 1);
            } else {
                if (bc) launch_update<false, true>(nr, th, s, tile, cols, cols, bc, v0, x.v, lab, li64, c2, c, first, state, call.flags + 1);
                else launch_update<false, false>(nr, th, s, tile, cols, cols, bc, v0, x.v, lab, li64, c2, c, first, state, call.flags + 1);
            }
            if ((rc = check_launch(op, "lin_lse_update")) != PPO_OK) return rc;
        }
        SIMT_LAUNCH(lin_lse_finish, dim3(flat_grid(rows, 128)), dim3(128), 0, s, (const double *)state, rows, c,
                    (int)raw, logprobs + r0, entropy ? entropy + r0 : nullptr, saved ? saved + 3 * r0 : nullptr,
                    call.flags + 2);
        if ((rc = check_launch(op, "lin_lse_finish")) != PPO_OK) return rc;
    }
    // one synchronisation: the label check (the scratch goes back to the pool after it)
    return report_label_flag(op, call.flags, x.labels, x.ldt, x.v, s);
}

template <bool RAW, bool BIAS>
void launch_backward_out(int32_t out16, unsigned rows, unsigned threads, cudaStream_t s, float *tile, int64_t cols,
                         const float *bias, int64_t v0, int64_t v, const void *labels, int li64, const float *saved,
                         const float *gl, const float *ge, float c2, float inv_tau, unsigned long long *flag, void *dz16,
                         int keep_f32, int splits) {
    if (out16 == PPO_BF16) {
        launch_backward<RAW, BIAS, PPO_BF16>(rows, threads, s, tile, cols, cols, bias, v0, v, labels, li64, saved, gl, ge,
                                             c2, inv_tau, flag, dz16, keep_f32, splits);
    } else if (out16 == PPO_F16) {
        launch_backward<RAW, BIAS, PPO_F16>(rows, threads, s, tile, cols, cols, bias, v0, v, labels, li64, saved, gl, ge,
                                            c2, inv_tau, flag, dz16, keep_f32, splits);
    } else {
        launch_backward<RAW, BIAS>(rows, threads, s, tile, cols, cols, bias, v0, v, labels, li64, saved, gl, ge, c2,
                                   inv_tau, flag);
    }
}

int32_t lin_backward_all(const char *op, cudaStream_t s, const LinArgs &x, const float *saved, const float *grad_lp,
                         const float *grad_ent, float *grad_hidden, float *grad_weight, float *grad_bias,
                         int32_t accumulate, int32_t grad_gemm, int64_t budget, int64_t rows_chunk, int64_t vocab_chunk,
                         int64_t *used) {
    LinPlan p;
    int32_t rc = make_plan(op, x, true, grad_gemm, budget, rows_chunk, vocab_chunk, p);
    if (rc != PPO_OK) return rc;
    if (used) *used = (int64_t)p.total;
    if (!accumulate) {
        if (grad_hidden) PPO_CUDA_CHECK(op, "cudaMemsetAsync", cudaMemsetAsync(grad_hidden, 0, (size_t)(x.n * x.h * 4), s));
        if (grad_weight) PPO_CUDA_CHECK(op, "cudaMemsetAsync", cudaMemsetAsync(grad_weight, 0, (size_t)(x.v * x.h * 4), s));
        if (grad_bias) PPO_CUDA_CHECK(op, "cudaMemsetAsync", cudaMemsetAsync(grad_bias, 0, (size_t)(x.v * 4), s));
    }
    if (x.n == 0 || (grad_hidden == nullptr && grad_weight == nullptr && grad_bias == nullptr)) return sync(op, s);
    Call call(s);
    if ((rc = call.start(op, x, p)) != PPO_OK) return rc;
    const int li64 = x.ldt == PPO_I64;
    const bool raw = x.ent == PPO_ENTROPY_RAW && x.tau != 1.0 && grad_ent != nullptr;
    const float c2 = (float)(1.4426950408889634 / x.tau), inv_tau = (float)(1.0 / x.tau);
    float *tile = reinterpret_cast<float *>(call.ws + p.off_tile);
    void *dz16 = call.ws + p.off_dz16;
    const int32_t out16 = p.bwd_dt == PPO_F32 ? NO_OUT16 : p.bwd_dt;
    const int keep = grad_bias != nullptr;   // with a 16-bit dZ, the f32 one is only needed for grad_bias's sums
    for (int64_t r0 = 0; r0 < x.n; r0 += p.rows) {
        const int64_t rows = x.n - r0 < p.rows ? x.n - r0 : p.rows;
        if ((rc = hidden_rows_f32(op, s, x, p, call.ws, r0, rows)) != PPO_OK) return rc;
        const void *lab = label_rows(x, r0);
        // the gradient GEMMs' hidden operand: the rows as they are (same dtype as dZ) or their f32 copy
        const void *h_op = p.bwd_dt == PPO_F32 && p.h32 ? (const void *)(call.ws + p.off_h32)
                                                         : static_cast<const char *>(x.hidden) + r0 * x.hs * dsize(x.hdt);
        const int64_t h_ld = p.bwd_dt == PPO_F32 && p.h32 ? x.h : x.hs;
        for (int64_t v0 = 0; v0 < x.v; v0 += p.cols) {
            const int64_t cols = x.v - v0 < p.cols ? x.v - v0 : p.cols;
            const void *w_any = nullptr;
            if ((rc = logits_tile(op, s, x, p, call.ws, r0, rows, v0, cols, &w_any)) != PPO_OK) return rc;
            // w_any: the f32 copy when w32, else the weight chunk itself
            const float *bc = call.bias ? call.bias + v0 : nullptr;
            const unsigned th = lin_threads(cols), nr = (unsigned)rows;
            const float *sv = saved + 3 * r0, *gl = grad_lp + r0, *ge = grad_ent ? grad_ent + r0 : nullptr;
            if (raw) {
                if (bc) launch_backward_out<true, true>(out16, nr, th, s, tile, cols, bc, v0, x.v, lab, li64, sv, gl, ge, c2, inv_tau, call.flags + 1, dz16, keep, p.splits);
                else launch_backward_out<true, false>(out16, nr, th, s, tile, cols, bc, v0, x.v, lab, li64, sv, gl, ge, c2, inv_tau, call.flags + 1, dz16, keep, p.splits);
            } else {
                if (bc) launch_backward_out<false, true>(out16, nr, th, s, tile, cols, bc, v0, x.v, lab, li64, sv, gl, ge, c2, inv_tau, call.flags + 1, dz16, keep, p.splits);
                else launch_backward_out<false, false>(out16, nr, th, s, tile, cols, bc, v0, x.v, lab, li64, sv, gl, ge, c2, inv_tau, call.flags + 1, dz16, keep, p.splits);
            }
            if ((rc = check_launch(op, "lin_backward")) != PPO_OK) return rc;
            if (grad_bias != nullptr) {
                const unsigned t = sweep_threads(cols, 256);
                SIMT_LAUNCH(lin_colsum, dim3(flat_grid(cols, t)), dim3(t), 0, s, (const float *)tile, rows, cols, cols,
                            grad_bias + v0);
                if ((rc = check_launch(op, "lin_colsum")) != PPO_OK) return rc;
            }
            const void *w_op = p.bwd_dt == PPO_F32 ? w_any
                                                   : static_cast<const char *>(x.weight) + v0 * x.h * dsize(x.wdt);
            for (int part = 0; part < p.splits; part++) {
                const void *dz = p.bwd_dt == PPO_F32 ? (const void *)tile
                                                     : static_cast<const char *>(dz16) + part * rows * cols * 2;
                if (grad_hidden != nullptr) {   // grad_hidden[R] += dZ [rows, cols] · W_C [cols, H]
                    if ((rc = gemm(op, s, false, false, rows, x.h, cols, dz, cols, w_op, x.h, p.bwd_dt, 1.0f,
                                   grad_hidden + r0 * x.h, x.h)) != PPO_OK) return rc;
                }
                if (grad_weight != nullptr) {   // grad_weight[C] += dZᵀ [cols, rows] · H_R [rows, H]
                    if ((rc = gemm(op, s, true, false, cols, x.h, rows, dz, cols, h_op, h_ld, p.bwd_dt, 1.0f,
                                   grad_weight + v0 * x.h, x.h)) != PPO_OK) return rc;
                }
            }
        }
    }
    return report_label_flag(op, call.flags, x.labels, x.ldt, x.v, s);
}

}  // namespace

extern "C" int32_t ppo_linear_token_logprobs(void *ctx, const void *hidden, int32_t hidden_dtype, int64_t n, int64_t h,
                                             int64_t hidden_stride, const void *weight, int32_t weight_dtype, int64_t v,
                                             const void *bias, int32_t bias_dtype, const void *labels,
                                             int32_t label_dtype, double temperature, int32_t entropy_logits,
                                             float *logprobs, float *entropy, float *saved, int64_t workspace_bytes,
                                             int64_t rows_chunk, int64_t vocab_chunk, int64_t *workspace_used) {
    const char *op = "linear_token_logprobs";
    LinArgs x{hidden, hidden_dtype, n, h, hidden_stride, weight, weight_dtype, v, bias, bias_dtype, labels, label_dtype,
              temperature, entropy_logits};
    int32_t rc = check_args(op, x);
    if (rc != PPO_OK) return rc;
    if (n > 0 && logprobs == nullptr) return fail(PPO_ERR_INVALID, "%s: NULL logprobs", op);
    return lin_forward(op, static_cast<cudaStream_t>(ctx), x, logprobs, entropy, saved, workspace_bytes, rows_chunk,
                       vocab_chunk, workspace_used);
}

extern "C" int32_t ppo_linear_token_logprobs_backward(
    void *ctx, const void *hidden, int32_t hidden_dtype, int64_t n, int64_t h, int64_t hidden_stride,
    const void *weight, int32_t weight_dtype, int64_t v, const void *bias, int32_t bias_dtype, const void *labels,
    int32_t label_dtype, const float *saved, const float *grad_logprobs, const float *grad_entropy, double temperature,
    int32_t entropy_logits, float *grad_hidden, float *grad_weight, float *grad_bias, int32_t accumulate,
    int32_t grad_gemm, int64_t workspace_bytes, int64_t rows_chunk, int64_t vocab_chunk, int64_t *workspace_used) {
    const char *op = "linear_token_logprobs_backward";
    LinArgs x{hidden, hidden_dtype, n, h, hidden_stride, weight, weight_dtype, v, bias, bias_dtype, labels, label_dtype,
              temperature, entropy_logits};
    int32_t rc = check_args(op, x);
    if (rc != PPO_OK) return rc;
    if (grad_gemm != 0 && grad_gemm != 1) {
        return fail(PPO_ERR_INVALID, "%s: grad_gemm: expected 0 (f32) or 1 (input dtype), got %d", op, grad_gemm);
    }
    if (n > 0 && (saved == nullptr || grad_logprobs == nullptr)) return fail(PPO_ERR_INVALID, "%s: NULL saved or grad_logprobs", op);
    return lin_backward_all(op, static_cast<cudaStream_t>(ctx), x, saved, grad_logprobs, grad_entropy, grad_hidden,
                            grad_weight, grad_bias, accumulate, grad_gemm, workspace_bytes, rows_chunk, vocab_chunk,
                            workspace_used);
}

extern "C" int32_t ppo_cuda_gemm_library(char *buf, int64_t buf_len) {
#ifndef SIMT_EMULATION
    std::lock_guard<std::mutex> g(cublas().mu);
    load_cublas();
    const Cublas &c = cublas();
    const bool ok = c.why.empty();
    const std::string text = ok ? "cuBLAS " + c.path : c.why;
#else
    const bool ok = true;
    const std::string text = "reference GEMM (lin_sgemm, emulator)";
#endif
    if (buf != nullptr && buf_len > 0) snprintf(buf, (size_t)buf_len, "%s", text.c_str());
    return ok ? 1 : 0;
}
