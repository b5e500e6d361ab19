/*
 * linear_token_logprobs.c — the tile steps of linear_token_logprobs: log-probs and entropy of labels from
 * hidden [N, H] × weight [V, H]ᵀ (+ bias [V]) without an [N, V] logits buffer, and the logits-gradient tiles of its
 * backward.
 *
 * The Java driver (java/.../cpu/LinearTokenLogprobsCpu.java) walks row blocks of n_c rows and, inside each, vocabulary
 * chunks of v_c columns. OpenBLAS computes one logits tile Z = H_rows · W_chunkᵀ [n_c, v_c] (f32) into a reusable
 * workspace; the functions here consume it:
 *
 *   linear_lse_update      folds a tile (+ bias) into per-row running statistics, state [rows, PPO_LINEAR_STATE] f64:
 *                          m = running max of the raw logits z, s = Σ e^{(z − m)c}, w = Σ e^{(z − m)c}·(z − m)c with
 *                          c = 1/τ; with entropy_logits=raw and τ ≠ 1 the same three again for c = 1; and z_y when
 *                          the label falls into the tile. The chunk at v_offset = 0 (re)initialises the rows' state.
 *   linear_lse_finish      state → logprob = (z_y − m)c − log s, lse = m·c + log s, and for the entropy logits
 *                          (z/τ or z) mean = m_e·c_e + w_e/s_e, entropy = log s_e − w_e/s_e; saved = (lse, lse_e, mean).
 *   linear_chunk_backward  a recomputed tile → d loss/d z in place, token_logprobs_backward's formula (SPEC):
 *                          dz = (g·(1[j=y] − p) − h·p·(x − mean))/τ, x = z/τ, p = e^{x − lse};
 *                          raw: g·(1[j=y] − p)/τ − h·q·(z − mean_raw), q = e^{z − lse_raw};
 *                          optionally grad_bias[j] += Σ_rows dz (f64 column sums in row order). The driver then runs
 *                          the GEMMs grad_hidden_rows += dZ·W_chunk and grad_weight_chunk += dZᵀ·H_rows.
 *   linear_to_f32          widens bf16/f16 rows (or copies f32 rows) into a dense f32 GEMM operand.
 *
 * Merging two partial states (m1, s1, w1), (m2, s2, w2) of one row: M = max(m1, m2), δk = (mk − M)·c,
 *   s = Σ sk·e^{δk},   w = Σ e^{δk}·(wk + sk·δk).
 * That is the online softmax normaliser (Milakov & Gimelshein, "Online normalizer calculation for softmax", 2018)
 * extended to Σ p·x as in token_logprobs.c; keeping w relative to m avoids the cancellation of lse − mean in the
 * entropy of peaked rows. The chunked GEMM + online log-sum-exp structure is that of Liger-Kernel's fused linear
 * cross entropy and of Cut Cross-Entropy (Wijmans et al., "Cut Your Losses in Large-Vocabulary Language Models",
 * 2024); the entropy and temperature switches are token_logprobs'.
 *
 * Inside a tile row, every SIMD lane keeps its own (m, s, w) with s and w in f64 (one f32 sum per block of 4 vectors
 * converted and added); the lanes are merged in a fixed order, then merged into the row state. Every tile row is
 * folded by one thread and the driver visits the chunks in a fixed order, so results are bitwise the same for any
 * thread count (for one chunking and SIMD level). grad_bias columns are summed over rows in row order.
 * Offsets are int64_t.
 */
#include "ppo_internal.h"
#include "ppo_parallel.h"
#include "ppo_simd.h"
#include "ppo_online_lse.h"

#include <math.h>
#include <stdatomic.h>

/* Row state layout (PPO_LINEAR_STATE doubles per row). */
enum { LS_M = 0, LS_S = 1, LS_W = 2, LS_MR = 3, LS_SR = 4, LS_WR = 5, LS_ZY = 6, LS_SEEN = 7 };

typedef struct {
    float *tile;              /* [rows, cols], row stride ld */
    int64_t rows, cols, ld;
    const float *bias;        /* [cols] (already at v_offset) or NULL */
    int64_t v0, v;            /* the tile's first vocabulary column; the vocabulary size */
    const void *labels;       /* [rows] (already at the tile's first row) */
    int32_t label_dtype;
    float inv_tau;            /* 1/τ rounded to f32: scales the lane differences */
    double inv_tau_d;         /* 1/τ in f64: lane and state merges */
    int raw;                  /* separate statistics of the raw logits (entropy_logits=raw, τ ≠ 1) */
    double *state;            /* forward: [rows, PPO_LINEAR_STATE] */
    const float *saved, *grad_lp, *grad_ent;   /* backward inputs, [rows, 3] / [rows] */
    float *grad_bias;         /* backward: [cols] (already at v_offset) or NULL */
    const void *src;          /* linear_to_f32 */
    int32_t src_dtype;
    int64_t src_stride;
    _Atomic int64_t bad_row;  /* smallest row with an out-of-range label, or rows */
} lin_args;

/* ---------------- forward: one tile row → lane accumulators ---------------- */

/* Folds partial p into the state triple st = (m, s, w); `first` replaces it. */
PPO_INLINE void lin_merge(double *st, ppo_lse_part p, double c, int first) {
    if (first) {
        st[0] = p.m;
        st[1] = p.s;
        st[2] = p.w;
        return;
    }
    double big = st[0] > p.m ? st[0] : p.m;
    double da = (st[0] - big) * c, db = (p.m - big) * c;
    double ea = exp(da), eb = exp(db);
    st[2] = ea * (st[2] + st[1] * da) + eb * (p.w + p.s * db);
    st[1] = ea * st[1] + eb * p.s;
    st[0] = big;
}

/* z + bias for VW columns at j (bias NULL: z). */
PPO_INLINE vf lin_load(const float *z, const float *bias, int64_t j, const int has_bias) {
    vf v = vf_load(z + j);
    if (has_bias) v += vf_load(bias + j);
    return v;
}

PPO_INLINE vf lin_load_tail(const float *z, const float *bias, int64_t j, int cnt, const int has_bias) {
    vf v = vf_load_n(z + j, cnt);
    if (has_bias) v += vf_load_n(bias + j, cnt);
    return v;
}

PPO_INLINE void lse_rows(lin_args *p, int64_t begin, int64_t end, const int raw, const int has_bias) {
    const int64_t cols = p->cols;
    const float c = p->inv_tau;
    const double cd = p->inv_tau_d;
    const int first = p->v0 == 0;
    for (int64_t r = begin; r < end; r++) {
        const float *z = p->tile + r * p->ld;
        double *st = p->state + r * PPO_LINEAR_STATE;
        int64_t y = ppo_label_at(p->labels, p->label_dtype, r);
        if (y < 0 || y >= p->v) {
            ppo_note_bad_row(&p->bad_row, r);
            continue;
        }
        ppo_lse_acc a, b;
        ppo_lse_init(&a);
        ppo_lse_init(&b);
        int64_t j = 0;
        for (; j + PPO_LSE_BLK * VW <= cols; j += PPO_LSE_BLK * VW) {
            vf zz[PPO_LSE_BLK];
            for (int k = 0; k < PPO_LSE_BLK; k++) zz[k] = lin_load(z, p->bias, j + k * VW, has_bias);
            if (raw) {
                ppo_lse_block(&a, zz, c, 0);
                ppo_lse_block(&b, zz, 1.0f, 1);
            } else {
                ppo_lse_block(&a, zz, c, 1);
            }
        }
        for (; j < cols; j += VW) {
            int cnt = cols - j < VW ? (int)(cols - j) : VW;   /* < VW here: fits an int */
            vf zz = lin_load_tail(z, p->bias, j, cnt, has_bias);
            vi valid = vi_iota() < cnt;
            if (raw) {
                ppo_lse_one(&a, zz, valid, c, 0);
                ppo_lse_one(&b, zz, valid, 1.0f, 1);
            } else {
                ppo_lse_one(&a, zz, valid, c, 1);
            }
        }
        lin_merge(st + LS_M, ppo_lse_reduce(&a, cd), cd, first);
        if (raw) lin_merge(st + LS_MR, ppo_lse_reduce(&b, 1.0), 1.0, first);
        if (first) {
            st[LS_ZY] = 0.0;
            st[LS_SEEN] = 0.0;
        }
        int64_t k = y - p->v0;
        if (k >= 0 && k < cols) {
            /* the same f32 sum the fold used for this column */
            float zy = has_bias ? z[k] + p->bias[k] : z[k];
            st[LS_ZY] = zy;
            st[LS_SEEN] = 1.0;
        }
    }
}

void PPO_ISA_FN(linear_lse_rows)(void *args, int64_t begin, int64_t end) {
    lin_args *p = (lin_args *)args;
    int has_bias = p->bias != NULL;
    if (p->raw) {
        if (has_bias) lse_rows(p, begin, end, 1, 1);
        else lse_rows(p, begin, end, 1, 0);
    } else {
        if (has_bias) lse_rows(p, begin, end, 0, 1);
        else lse_rows(p, begin, end, 0, 0);
    }
}

/* ---------------- backward: one tile row → d loss / d z in place ---------------- */

PPO_INLINE vf lin_bwd_vec(vf z, int64_t j, int64_t y_rel, float inv, float lse, float lse_e, float mean, float g,
                          float h, const int raw) {
    int64_t dy = y_rel - j;
    vi hot = (dy >= 0 && dy < VW) ? (vi_iota() == (int32_t)dy) : vi_set1(0);   /* dy < VW: exact narrowing */
    vf x = z * inv;
    vf p = vf_exp(z * inv - lse);
    vf gv = vf_and(hot, vf_set1(g));
    /* where p (or q) is 0 the entropy term's limit is 0, not 0·∞ = NaN */
    if (!raw) return inv * (gv - p * g - vf_and(p > 0.0f, p * (h * (x - mean))));
    vf q = vf_exp(z - lse_e);
    return inv * (gv - p * g) - vf_and(q > 0.0f, h * q * (z - mean));
}

PPO_INLINE void bwd_rows(lin_args *p, int64_t begin, int64_t end, const int raw, const int has_bias) {
    const int64_t cols = p->cols;
    const float inv = p->inv_tau;
    for (int64_t r = begin; r < end; r++) {
        int64_t y = ppo_label_at(p->labels, p->label_dtype, r);
        if (y < 0 || y >= p->v) {
            ppo_note_bad_row(&p->bad_row, r);
            continue;
        }
        float *z = p->tile + r * p->ld;
        const int64_t y_rel = y - p->v0;
        const float lse = p->saved[3 * r], lse_e = p->saved[3 * r + 1], mean = p->saved[3 * r + 2];
        const float g = p->grad_lp[r], h = p->grad_ent != NULL ? p->grad_ent[r] : 0.0f;
        int64_t j = 0;
        for (; j + VW <= cols; j += VW) {
            vf zz = lin_load(z, p->bias, j, has_bias);
            vf_store(z + j, lin_bwd_vec(zz, j, y_rel, inv, lse, lse_e, mean, g, h, raw));
        }
        if (j < cols) {
            int cnt = (int)(cols - j);   /* < VW: exact narrowing */
            vf zz = lin_load_tail(z, p->bias, j, cnt, has_bias);
            vf_store_n(z + j, cnt, lin_bwd_vec(zz, j, y_rel, inv, lse, lse_e, mean, g, h, raw));
        }
    }
}

void PPO_ISA_FN(linear_backward_rows)(void *args, int64_t begin, int64_t end) {
    lin_args *p = (lin_args *)args;
    int has_bias = p->bias != NULL;
    if (p->raw) {
        if (has_bias) bwd_rows(p, begin, end, 1, 1);
        else bwd_rows(p, begin, end, 1, 0);
    } else {
        if (has_bias) bwd_rows(p, begin, end, 0, 1);
        else bwd_rows(p, begin, end, 0, 0);
    }
}

/* grad_bias[j] += Σ_r dz[r, j] over column blocks [begin, end) of LIN_COLS columns, rows in order, f64 lanes.
 * LIN_COLS is the same for every SIMD variant, so the entry point can number the blocks. */
#define LIN_COLS 64

void PPO_ISA_FN(linear_colsum_blocks)(void *args, int64_t begin, int64_t end) {
    lin_args *p = (lin_args *)args;
    for (int64_t blk = begin; blk < end; blk++) {
        int64_t j0 = blk * LIN_COLS;
        int64_t n = p->cols - j0 < LIN_COLS ? p->cols - j0 : LIN_COLS;
        vd acc[LIN_COLS / VW];
        for (int k = 0; k < LIN_COLS / VW; k++) acc[k] = vd_set1(0.0);
        for (int64_t r = 0; r < p->rows; r++) {
            const float *z = p->tile + r * p->ld + j0;
            for (int k = 0; k < LIN_COLS / VW; k++) {
                int64_t left = n - (int64_t)k * VW;
                if (left <= 0) break;
                int cnt = left < VW ? (int)left : VW;   /* <= VW: exact narrowing */
                acc[k] += vd_from(vf_load_n(z + k * VW, cnt));
            }
        }
        for (int k = 0; k < LIN_COLS / VW; k++) {
            double lanes[VW];
            memcpy(lanes, &acc[k], sizeof lanes);
            for (int i = 0; i < VW && (int64_t)k * VW + i < n; i++) {
                float *gb = p->grad_bias + j0 + k * VW + i;
                *gb = (float)((double)*gb + lanes[i]);   /* narrowing: grad_bias is an f32 output */
            }
        }
    }
}

/* ---------------- widening rows to a dense f32 operand ---------------- */

PPO_INLINE void widen_rows(lin_args *p, int64_t begin, int64_t end, const int dt) {
    size_t es = ppo_dtype_size(dt);
    for (int64_t r = begin; r < end; r++) {
        const void *row = (const unsigned char *)p->src + (size_t)r * (size_t)p->src_stride * es;
        float *out = p->tile + r * p->ld;
        int64_t j = 0;
        for (; j + VW <= p->cols; j += VW) vf_store(out + j, vf_load_dt(row, dt, j));
        if (j < p->cols) {
            int cnt = (int)(p->cols - j);   /* < VW: exact narrowing */
            vf_store_n(out + j, cnt, vf_load_dt_tail(row, dt, j, cnt));
        }
    }
}

void PPO_ISA_FN(linear_widen_rows)(void *args, int64_t begin, int64_t end) {
    lin_args *p = (lin_args *)args;
    switch (p->src_dtype) {
    case PPO_F32: widen_rows(p, begin, end, PPO_F32); break;
    case PPO_BF16: widen_rows(p, begin, end, PPO_BF16); break;
    default: widen_rows(p, begin, end, PPO_F16); break;
    }
}

/* ---------------- entry points (built once, in the generic variant) ---------------- */
#if PPO_ISA == 0

PPO_DECLARE_VARIANTS(linear_lse_rows);
PPO_DECLARE_VARIANTS(linear_backward_rows);
PPO_DECLARE_VARIANTS(linear_colsum_blocks);
PPO_DECLARE_VARIANTS(linear_widen_rows);

static int32_t check_tile(const char *op, const float *tile, int64_t rows, int64_t cols, int64_t ld, int64_t v_offset,
                          int64_t v, const void *labels, int32_t label_dtype, double temperature,
                          int32_t entropy_logits) {
    if (rows < 0 || cols < 1 || ld < cols) {
        return ppo_fail(PPO_ERR_INVALID, "%s: tile: expected rows >= 0, cols >= 1, ld >= cols, got rows=%lld "
                        "cols=%lld ld=%lld", op, (long long)rows, (long long)cols, (long long)ld);
    }
    if (v_offset < 0 || v_offset > v - cols) {
        return ppo_fail(PPO_ERR_INVALID, "%s: tile columns [%lld, %lld) outside the vocabulary [0, %lld)", op,
                        (long long)v_offset, (long long)(v_offset + cols), (long long)v);
    }
    int32_t st = ppo_check_logprob_args(op, label_dtype, temperature, entropy_logits);
    if (st != PPO_OK) return st;
    if (rows > 0 && (tile == NULL || labels == NULL)) {
        return ppo_fail(PPO_ERR_INVALID, "%s: tile and labels must not be NULL", op);
    }
    return PPO_OK;
}

static int32_t run_tile(const char *op, void *ctx, lin_args *a, void (*const table[3])(void *, int64_t, int64_t)) {
    return ppo_run_label_rows(op, ctx, table, a, a->rows, a->cols, &a->bad_row, a->labels, a->label_dtype, a->v,
                              "tile row");
}

static void fill_common(lin_args *a, float *tile, int64_t rows, int64_t cols, int64_t ld, const float *bias,
                        int64_t v_offset, int64_t v, const void *labels, int32_t label_dtype, double temperature,
                        int raw) {
    a->tile = tile;
    a->rows = rows;
    a->cols = cols;
    a->ld = ld;
    a->bias = bias;
    a->v0 = v_offset;
    a->v = v;
    a->labels = labels;
    a->label_dtype = label_dtype;
    a->inv_tau = (float)(1.0 / temperature);   /* narrowing: the lanes scale f32 differences (f32 arithmetic) */
    a->inv_tau_d = 1.0 / temperature;
    a->raw = raw;
    atomic_init(&a->bad_row, rows);
}

int32_t linear_lse_update(void *ctx, const float *tile, int64_t rows, int64_t cols, int64_t ld, const float *bias,
                          int64_t v_offset, int64_t v, const void *labels, int32_t label_dtype, double temperature,
                          int32_t entropy_logits, double *state) {
    ppo_clear_error();
    int32_t st = check_tile("linear_lse_update", tile, rows, cols, ld, v_offset, v, labels, label_dtype, temperature,
                            entropy_logits);
    if (st != PPO_OK) return st;
    if (rows > 0 && state == NULL) return ppo_fail(PPO_ERR_INVALID, "linear_lse_update: state must not be NULL");
    lin_args a = {0};
    /* the tile is only read here; the shared argument block holds it as writable for the backward */
    fill_common(&a, (float *)tile, rows, cols, ld, bias, v_offset, v, labels, label_dtype, temperature,
                entropy_logits == PPO_ENTROPY_RAW && temperature != 1.0);
    a.state = state;
    return run_tile("linear_lse_update", ctx, &a, linear_lse_rows_table);
}

int32_t linear_lse_finish(void *ctx, const double *state, int64_t rows, double temperature, int32_t entropy_logits,
                          float *logprobs, float *entropy, float *saved) {
    ppo_clear_error();
    if (rows < 0) return ppo_fail(PPO_ERR_INVALID, "linear_lse_finish: rows must be >= 0, got %lld", (long long)rows);
    if (!(temperature > 0) || !isfinite(temperature)) {
        return ppo_fail(PPO_ERR_INVALID, "linear_lse_finish: temperature must be finite and > 0, got %g", temperature);
    }
    if (entropy_logits != PPO_ENTROPY_SCALED && entropy_logits != PPO_ENTROPY_RAW) {
        return ppo_fail(PPO_ERR_INVALID, "linear_lse_finish: entropy_logits: expected 0 or 1, got %d", entropy_logits);
    }
    if (rows > 0 && (state == NULL || logprobs == NULL)) {
        return ppo_fail(PPO_ERR_INVALID, "linear_lse_finish: state and logprobs must not be NULL");
    }
    const int raw = entropy_logits == PPO_ENTROPY_RAW && temperature != 1.0;
    const double c = 1.0 / temperature;
    for (int64_t r = 0; r < rows; r++) {
        const double *s = state + r * PPO_LINEAR_STATE;
        if (s[LS_SEEN] != 1.0) {
            return ppo_fail(PPO_ERR_INVALID, "linear_lse_finish: row %lld: no chunk held its label column (the "
                            "chunks must cover [0, v))", (long long)r);
        }
        double log_s = log(s[LS_S]);
        double lse = s[LS_M] * c + log_s;
        double logprob = (s[LS_ZY] - s[LS_M]) * c - log_s;   /* z_y − m is exact in f64 */
        double lse_e = lse, mean = s[LS_M] * c + s[LS_W] / s[LS_S], ent = log_s - s[LS_W] / s[LS_S];
        if (raw) {
            double log_sr = log(s[LS_SR]);
            lse_e = s[LS_MR] + log_sr;
            mean = s[LS_MR] + s[LS_WR] / s[LS_SR];
            ent = log_sr - s[LS_WR] / s[LS_SR];
        }
        /* narrowing to f32: the SPEC output dtype */
        logprobs[r] = (float)logprob;
        if (entropy != NULL) entropy[r] = (float)ent;
        if (saved != NULL) {
            saved[3 * r] = (float)lse;
            saved[3 * r + 1] = (float)lse_e;
            saved[3 * r + 2] = (float)mean;
        }
    }
    return PPO_OK;
}

int32_t linear_chunk_backward(void *ctx, float *tile, int64_t rows, int64_t cols, int64_t ld, const float *bias,
                              int64_t v_offset, int64_t v, const void *labels, int32_t label_dtype, const float *saved,
                              const float *grad_logprobs, const float *grad_entropy, double temperature,
                              int32_t entropy_logits, float *grad_bias) {
    ppo_clear_error();
    int32_t st = check_tile("linear_chunk_backward", tile, rows, cols, ld, v_offset, v, labels, label_dtype,
                            temperature, entropy_logits);
    if (st != PPO_OK) return st;
    if (rows > 0 && (saved == NULL || grad_logprobs == NULL)) {
        return ppo_fail(PPO_ERR_INVALID, "linear_chunk_backward: saved and grad_logprobs must not be NULL");
    }
    lin_args a = {0};
    /* raw entropy logits differ from the scaled ones only when τ != 1, and matter only with an entropy gradient */
    fill_common(&a, tile, rows, cols, ld, bias, v_offset, v, labels, label_dtype, temperature,
                entropy_logits == PPO_ENTROPY_RAW && temperature != 1.0 && grad_entropy != NULL);
    a.saved = saved;
    a.grad_lp = grad_logprobs;
    a.grad_ent = grad_entropy;
    st = run_tile("linear_chunk_backward", ctx, &a, linear_backward_rows_table);
    if (st != PPO_OK || grad_bias == NULL || rows == 0) return st;
    a.grad_bias = grad_bias;
    int64_t blocks = (cols + LIN_COLS - 1) / LIN_COLS;
    int threads = ppo_threads_for(ppo_ctx_threads(ctx), rows * cols);
    ppo_parallel_for(threads, blocks, ppo_grain(rows * LIN_COLS, 1 << 16),
                     linear_colsum_blocks_table[ppo_ctx_isa(ctx)], &a);
    return PPO_OK;
}

int32_t linear_to_f32(void *ctx, const void *src, int32_t dtype, int64_t rows, int64_t cols, int64_t src_stride,
                      float *dst, int64_t ld) {
    ppo_clear_error();
    if (rows < 0 || cols < 0 || src_stride < cols || ld < cols) {
        return ppo_fail(PPO_ERR_INVALID, "linear_to_f32: expected rows, cols >= 0 and strides >= cols, got rows=%lld "
                        "cols=%lld src_stride=%lld ld=%lld", (long long)rows, (long long)cols, (long long)src_stride,
                        (long long)ld);
    }
    if (dtype != PPO_F32 && dtype != PPO_BF16 && dtype != PPO_F16) {
        return ppo_fail(PPO_ERR_INVALID, "linear_to_f32: expected dtype F32, BF16 or F16, got code %d", dtype);
    }
    if (rows == 0 || cols == 0) return PPO_OK;
    if (src == NULL || dst == NULL) return ppo_fail(PPO_ERR_INVALID, "linear_to_f32: src and dst must not be NULL");
    lin_args a = {0};
    a.src = src;
    a.src_dtype = dtype;
    a.src_stride = src_stride;
    a.tile = dst;
    a.rows = rows;
    a.cols = cols;
    a.ld = ld;
    int threads = ppo_threads_for(ppo_ctx_threads(ctx), rows * cols);
    ppo_parallel_for(threads, rows, ppo_grain(cols, 1 << 16), linear_widen_rows_table[ppo_ctx_isa(ctx)], &a);
    return PPO_OK;
}

#endif /* PPO_ISA == 0 */
