/*
 * token_logprobs.c — token_logprobs (forward) and token_logprobs_backward (SPEC "token_logprobs").
 *
 * Shapes: logits [n, v] (F32/BF16/F16, rows `row_stride` elements apart), labels [n] (I32/I64);
 * forward writes logprobs [n], entropy [n] (nullable), saved [n, 3] (nullable); backward writes grad_logits [n, v]
 * (F32 or the logits' dtype, own row stride; may be the logits buffer itself).
 *
 * Forward, x = z/τ, y the label:
 *   lse = log Σ_j e^{x_j},  logprob = x_y − lse,  mean = Σ_j p_j x_j,  entropy = lse − mean  (p = softmax(x));
 *   with entropy_logits=raw the entropy (and saved cols 1, 2) come from z instead of x.
 * ONE pass over each row (the online softmax of Milakov & Gimelshein, "Online normalizer calculation for softmax",
 * 2018, extended to Σ p·x): every SIMD lane keeps a running max m of the raw z, s = Σ e^d and w = Σ e^d·d with
 * d = (z − m)/τ (the difference is taken before scaling, so rounding scales with |d|, not with |z|/τ). A block of
 * 4 vectors is loaded and converted in registers, its lane max taken, and only when a lane's max grows are that
 * lane's sums rescaled: s ← s·e^{Δ}, w ← e^{Δ}(w + s·Δ), Δ = (m − m')/τ. Keeping w relative to m avoids the
 * cancellation of lse − mean for peaked rows. s and w accumulate in f64 lanes (one f32 block sum per block
 * converted and added), so rows of 150k logits stay far inside the SPEC tolerance. The lanes are merged once per
 * row in f64 (libm exp/log): lse = M/τ + log S, mean = M/τ + W/S, entropy = log S − W/S, and
 * logprob = (z_y − M)/τ − log S with the label's logit read directly (one element).
 * saved[i] = (lse of x, lse of the entropy logits, mean of the entropy logits).
 *
 * Backward, one more pass per row (p = e^{x − saved0}):
 *   grad_ij = (g_i·(1[j=y] − p_ij) − h_i·p_ij·(x_ij − mean_i)) / τ;
 *   raw entropy logits (τ ≠ 1): grad_ij = g_i·(1[j=y] − p_ij)/τ − h_i·q_ij·(z_ij − mean_raw_i), q = e^{z − saved1}.
 * Each vector is read, converted, and its gradient written back at the same place, so in place is safe.
 *
 * Rows run in parallel; every row is computed by one thread in a fixed order, so results are bitwise the same
 * for every thread count. Offsets are int64_t (n·v exceeds 2^31).
 */
#include "ppo_internal.h"
#include "ppo_parallel.h"
#include "ppo_simd.h"
#include "ppo_online_lse.h"

#include <math.h>
#include <stdatomic.h>

enum { TLP_LSE = 0, TLP_LSE_MEAN = 1, TLP_RAW = 2 };   /* forward modes */
enum { TLPB_SCALED = 0, TLPB_RAW = 1 };                 /* backward modes */

typedef struct {
    const void *logits;
    int32_t dtype;
    int64_t n, v, stride;
    const void *labels;
    int32_t label_dtype;
    float inv_tau;      /* 1/τ rounded to f32: scales the differences in the SIMD pass */
    double inv_tau_d;   /* 1/τ in f64: the per-row merge */
    int mode;
    float *logprobs, *entropy, *saved;          /* forward outputs */
    const float *saved_in, *grad_lp, *grad_ent; /* backward inputs */
    void *grad;
    int32_t grad_dtype;
    int64_t grad_stride;
    _Atomic int64_t bad_row;                    /* smallest row with an out-of-range label, or n */
} tlp_args;

PPO_INLINE float load_scalar(const void *row, int dt, int64_t j) {
    if (dt == PPO_F32) return ((const float *)row)[j];
    uint16_t h = ((const uint16_t *)row)[j];
    if (dt == PPO_BF16) {
        uint32_t b = (uint32_t)h << 16;
        float f;
        memcpy(&f, &b, 4);
        return f;
    }
    return ppo_f16_to_f32(h);
}

/* ---------------- forward ---------------- */

PPO_INLINE void fwd_row(const void *row, const int dt, int64_t v, float inv, const int mode, ppo_lse_acc *a,
                        ppo_lse_acc *b) {
    ppo_lse_init(a);
    ppo_lse_init(b);
    int64_t j = 0;
    for (; j + PPO_LSE_BLK * VW <= v; j += PPO_LSE_BLK * VW) {
        vf z[PPO_LSE_BLK];
        for (int k = 0; k < PPO_LSE_BLK; k++) z[k] = vf_load_dt(row, dt, j + k * VW);
        if (mode == TLP_RAW) {
            ppo_lse_block(a, z, inv, 0);
            ppo_lse_block(b, z, 1.0f, 1);
        } else {
            ppo_lse_block(a, z, inv, mode == TLP_LSE_MEAN);
        }
    }
    for (; j < v; j += VW) {
        int cnt = v - j < VW ? (int)(v - j) : VW;
        vf z = cnt == VW ? vf_load_dt(row, dt, j) : vf_load_dt_tail(row, dt, j, cnt);
        vi valid = vi_iota() < cnt;
        if (mode == TLP_RAW) {
            ppo_lse_one(a, z, valid, inv, 0);
            ppo_lse_one(b, z, valid, 1.0f, 1);
        } else {
            ppo_lse_one(a, z, valid, inv, mode == TLP_LSE_MEAN);
        }
    }
}

PPO_INLINE void fwd_rows(tlp_args *p, int64_t begin, int64_t end, const int dt, const int mode) {
    size_t es = ppo_dtype_size(dt);
    for (int64_t i = begin; i < end; i++) {
        int64_t y = ppo_label_at(p->labels, p->label_dtype, i);
        if (y < 0 || y >= p->v) {
            ppo_note_bad_row(&p->bad_row, i);
            continue;
        }
        const void *row = (const unsigned char *)p->logits + (size_t)i * (size_t)p->stride * es;
        ppo_lse_acc a, b;
        fwd_row(row, dt, p->v, p->inv_tau, mode, &a, &b);
        const double c = p->inv_tau_d;
        /* lse = M·c + log S, mean = M·c + W/S, entropy = log S − W/S */
        ppo_lse_part ra = ppo_lse_reduce(&a, c);
        const double log_s = log(ra.s), w_s = ra.w / ra.s;
        double lse = ra.m * c + log_s;
        double lse_e = lse, mean_e = ra.m * c + w_s, ent_e = log_s - w_s;
        if (mode == TLP_RAW) {
            ppo_lse_part rb = ppo_lse_reduce(&b, 1.0);
            const double log_sr = log(rb.s), w_sr = rb.w / rb.s;
            lse_e = rb.m + log_sr;
            mean_e = rb.m + w_sr;
            ent_e = log_sr - w_sr;
        }
        /* x_y − lse = (z_y − M)/τ − log S: z_y − M is exact in f64 */
        double logprob = ((double)load_scalar(row, dt, y) - ra.m) * c - log_s;
        /* narrowing to f32 outputs: the SPEC output dtype */
        p->logprobs[i] = (float)logprob;
        if (p->entropy != NULL) p->entropy[i] = (float)ent_e;
        if (p->saved != NULL) {
            p->saved[3 * i] = (float)lse;
            p->saved[3 * i + 1] = (float)lse_e;
            p->saved[3 * i + 2] = (float)mean_e;
        }
    }
}

void PPO_ISA_FN(token_logprobs_rows)(void *args, int64_t begin, int64_t end) {
    tlp_args *p = (tlp_args *)args;
#define FWD_CASE(DT)                                                                \
    case DT:                                                                        \
        if (p->mode == TLP_LSE) fwd_rows(p, begin, end, DT, TLP_LSE);               \
        else if (p->mode == TLP_LSE_MEAN) fwd_rows(p, begin, end, DT, TLP_LSE_MEAN);  \
        else fwd_rows(p, begin, end, DT, TLP_RAW);                                  \
        break;
    switch (p->dtype) {
        FWD_CASE(PPO_F32)
        FWD_CASE(PPO_BF16)
        FWD_CASE(PPO_F16)
    }
#undef FWD_CASE
}

/* ---------------- backward ---------------- */

PPO_INLINE vf bwd_vec(vf z, int64_t j, int64_t y, float inv, float lse, float lse_e, float mean_e, float g, float h,
                      const int mode) {
    int64_t dy = y - j;
    vi hot = (dy >= 0 && dy < VW) ? (vi_iota() == (int32_t)dy) : vi_set1(0);
    vf x = z * inv;
    vf p = vf_exp(z * inv - lse);   /* one FMA where available: rounded once, relative to the small x − lse */
    vf gv = vf_and(hot, vf_set1(g));
    /* where p (or q) is 0 — a −inf logit — the entropy term's limit is 0, not 0·∞ = NaN */
    if (mode == TLPB_SCALED) return inv * (gv - p * g - vf_and(p > 0.0f, p * (h * (x - mean_e))));
    vf q = vf_exp(z - lse_e);
    return inv * (gv - p * g) - vf_and(q > 0.0f, h * q * (z - mean_e));
}

PPO_INLINE void bwd_rows(tlp_args *p, int64_t begin, int64_t end, const int dt, const int odt, const int mode) {
    size_t es = ppo_dtype_size(dt), oes = ppo_dtype_size(odt);
    const int64_t v = p->v;
    for (int64_t i = begin; i < end; i++) {
        int64_t y = ppo_label_at(p->labels, p->label_dtype, i);
        if (y < 0 || y >= v) {
            ppo_note_bad_row(&p->bad_row, i);
            continue;
        }
        const void *row = (const unsigned char *)p->logits + (size_t)i * (size_t)p->stride * es;
        void *out = (unsigned char *)p->grad + (size_t)i * (size_t)p->grad_stride * oes;
        float lse = p->saved_in[3 * i], lse_e = p->saved_in[3 * i + 1], mean_e = p->saved_in[3 * i + 2];
        float g = p->grad_lp[i], h = p->grad_ent != NULL ? p->grad_ent[i] : 0.0f;
        int64_t j = 0;
        for (; j + VW <= v; j += VW) {
            vf z = vf_load_dt(row, dt, j);
            vf_store_dt(out, odt, j, bwd_vec(z, j, y, p->inv_tau, lse, lse_e, mean_e, g, h, mode));
        }
        if (j < v) {
            int cnt = (int)(v - j);
            vf z = vf_load_dt_tail(row, dt, j, cnt);
            vf_store_dt_tail(out, odt, j, cnt, bwd_vec(z, j, y, p->inv_tau, lse, lse_e, mean_e, g, h, mode));
        }
    }
}

void PPO_ISA_FN(token_logprobs_backward_rows)(void *args, int64_t begin, int64_t end) {
    tlp_args *p = (tlp_args *)args;
#define BWD_CASE(DT)                                                                                  \
    case DT:                                                                                          \
        if (p->grad_dtype == PPO_F32) {                                                               \
            if (p->mode == TLPB_SCALED) bwd_rows(p, begin, end, DT, PPO_F32, TLPB_SCALED);            \
            else bwd_rows(p, begin, end, DT, PPO_F32, TLPB_RAW);                                      \
        } else {                                                                                      \
            if (p->mode == TLPB_SCALED) bwd_rows(p, begin, end, DT, DT, TLPB_SCALED);                 \
            else bwd_rows(p, begin, end, DT, DT, TLPB_RAW);                                           \
        }                                                                                             \
        break;
    switch (p->dtype) {
        BWD_CASE(PPO_F32)
        BWD_CASE(PPO_BF16)
        BWD_CASE(PPO_F16)
    }
#undef BWD_CASE
}

/* ---------------- entry points (built once, in the generic variant) ---------------- */
#if PPO_ISA == 0

PPO_DECLARE_VARIANTS(token_logprobs_rows);
PPO_DECLARE_VARIANTS(token_logprobs_backward_rows);

static int32_t check_common(const char *op, const void *logits, int32_t dtype, int64_t n, int64_t v,
                            int64_t row_stride, const void *labels, int32_t label_dtype, double temperature,
                            int32_t entropy_logits) {
    if (n < 0 || v < 1 || row_stride < v) {
        return ppo_fail(PPO_ERR_INVALID, "%s: logits: expected n >= 0, v >= 1, row_stride >= v, got n=%lld v=%lld "
                        "row_stride=%lld", op, (long long)n, (long long)v, (long long)row_stride);
    }
    if (dtype != PPO_F32 && dtype != PPO_BF16 && dtype != PPO_F16) {
        return ppo_fail(PPO_ERR_INVALID, "%s: logits: expected dtype F32, BF16 or F16, got code %d", op, dtype);
    }
    int32_t st = ppo_check_logprob_args(op, label_dtype, temperature, entropy_logits);
    if (st != PPO_OK) return st;
    if (n > 0 && (logits == NULL || labels == NULL)) {
        return ppo_fail(PPO_ERR_INVALID, "%s: logits and labels must not be NULL", op);
    }
    return PPO_OK;
}

static int32_t run_rows(const char *op, void *ctx, tlp_args *a, void (*const table[3])(void *, int64_t, int64_t)) {
    return ppo_run_label_rows(op, ctx, table, a, a->n, a->v, &a->bad_row, a->labels, a->label_dtype, a->v, "row");
}

int32_t token_logprobs(void *ctx, const void *logits, int32_t logits_dtype, int64_t n, int64_t v, int64_t row_stride,
                       const void *labels, int32_t label_dtype, double temperature, int32_t entropy_logits,
                       float *logprobs, float *entropy, float *saved) {
    ppo_clear_error();
    int32_t st = check_common("token_logprobs", logits, logits_dtype, n, v, row_stride, labels, label_dtype,
                              temperature, entropy_logits);
    if (st != PPO_OK) return st;
    if (n > 0 && logprobs == NULL) return ppo_fail(PPO_ERR_INVALID, "token_logprobs: logprobs must not be NULL");
    tlp_args a = {0};
    a.logits = logits;
    a.dtype = logits_dtype;
    a.n = n;
    a.v = v;
    a.stride = row_stride;
    a.labels = labels;
    a.label_dtype = label_dtype;
    a.inv_tau = (float)(1.0 / temperature);   /* narrowing: the pass scales f32 differences (SPEC: f32 arithmetic) */
    a.inv_tau_d = 1.0 / temperature;
    int raw = entropy_logits == PPO_ENTROPY_RAW && temperature != 1.0;
    a.mode = (entropy == NULL && saved == NULL) ? TLP_LSE : raw ? TLP_RAW : TLP_LSE_MEAN;
    a.logprobs = logprobs;
    a.entropy = entropy;
    a.saved = saved;
    atomic_init(&a.bad_row, n);
    return run_rows("token_logprobs", ctx, &a, token_logprobs_rows_table);
}

int32_t token_logprobs_backward(void *ctx, const void *logits, int32_t logits_dtype, int64_t n, int64_t v,
                                int64_t row_stride, const void *labels, int32_t label_dtype, const float *saved,
                                const float *grad_logprobs, const float *grad_entropy, double temperature,
                                int32_t entropy_logits, void *grad_logits, int32_t grad_dtype, int64_t grad_row_stride) {
    ppo_clear_error();
    int32_t st = check_common("token_logprobs_backward", logits, logits_dtype, n, v, row_stride, labels, label_dtype,
                              temperature, entropy_logits);
    if (st != PPO_OK) return st;
    if (grad_dtype != PPO_F32 && grad_dtype != logits_dtype) {
        return ppo_fail(PPO_ERR_INVALID, "token_logprobs_backward: grad_logits: expected dtype F32 or the logits' "
                        "dtype %d, got %d", logits_dtype, grad_dtype);
    }
    if (grad_row_stride < v) {
        return ppo_fail(PPO_ERR_INVALID, "token_logprobs_backward: grad_logits: row stride %lld < v %lld",
                        (long long)grad_row_stride, (long long)v);
    }
    if (grad_logits == logits && (grad_dtype != logits_dtype || grad_row_stride != row_stride)) {
        return ppo_fail(PPO_ERR_INVALID, "token_logprobs_backward: in place on the logits requires the same dtype "
                        "and row stride");
    }
    if (n > 0 && (saved == NULL || grad_logprobs == NULL || grad_logits == NULL)) {
        return ppo_fail(PPO_ERR_INVALID, "token_logprobs_backward: saved, grad_logprobs and grad_logits must not "
                        "be NULL");
    }
    tlp_args a = {0};
    a.logits = logits;
    a.dtype = logits_dtype;
    a.n = n;
    a.v = v;
    a.stride = row_stride;
    a.labels = labels;
    a.label_dtype = label_dtype;
    a.inv_tau = (float)(1.0 / temperature);   /* narrowing: as in the forward */
    /* raw entropy logits differ from the scaled ones only when τ != 1, and matter only with an entropy gradient */
    a.mode = (entropy_logits == PPO_ENTROPY_RAW && temperature != 1.0 && grad_entropy != NULL) ? TLPB_RAW : TLPB_SCALED;
    a.saved_in = saved;
    a.grad_lp = grad_logprobs;
    a.grad_ent = grad_entropy;
    a.grad = grad_logits;
    a.grad_dtype = grad_dtype;
    a.grad_stride = grad_row_stride;
    atomic_init(&a.bad_row, n);
    return run_rows("token_logprobs_backward", ctx, &a, token_logprobs_backward_rows_table);
}

#endif /* PPO_ISA == 0 */
