/*
 * ppo_online_lse.h — the SIMD online log-sum-exp of a row of logits and the row-parallel run with its label check,
 * shared by token_logprobs and linear_token_logprobs (compiled once per ISA variant like its includers).
 *
 * Every lane keeps a running max m of the raw logits z, s = Σ e^d and w = Σ e^d·d with d = (z − m)·c (c = 1/τ, or 1
 * for the raw logits). The difference is taken before scaling, so its rounding scales with |d| (small for the terms
 * that dominate the sums), not with |z|/τ. A block of PPO_LSE_BLK vectors is accumulated with one lane max and at
 * most one rescale: s ← s·e^{Δ}, w ← e^{Δ}·(w + s·Δ), Δ = (m − m')·c. s and w accumulate in f64 lanes; the lanes are
 * merged in lane order in f64 (ppo_lse_reduce). Keeping w relative to m avoids the cancellation of lse − mean for
 * peaked rows (Milakov & Gimelshein 2018, online softmax, extended to Σ p·x).
 */
#ifndef PPO_ONLINE_LSE_H
#define PPO_ONLINE_LSE_H

#include "ppo_internal.h"
#include "ppo_parallel.h"
#include "ppo_simd.h"

#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#define PPO_LSE_BLK 4   /* vectors per block */

typedef struct {
    vf m;   /* lane running max of the raw logits (-FLT_MAX before the lane saw an element) */
    vd s;   /* Σ e^{d}, d = (z − m)·c */
    vd w;   /* Σ e^{d}·d */
} ppo_lse_acc;

/* A row's partial state after the lane merge: m (the raw max), s and w relative to m. */
typedef struct {
    double m, s, w;
} ppo_lse_part;

PPO_INLINE void ppo_lse_init(ppo_lse_acc *a) {
    a->m = vf_set1(-FLT_MAX);
    a->s = vd_set1(0.0);
    a->w = vd_set1(0.0);
}

/* Moves every lane's reference point to mn >= m. Δ is bounded below so that s·Δ stays finite for a lane that saw
 * nothing yet (m = -FLT_MAX, s = 0); e^{-200} is 0 in f32 anyway. */
PPO_INLINE void ppo_lse_rescale(ppo_lse_acc *a, vf mn, float c, const int want_w) {
    vf d = vf_max(vf_set1(-200.0f), (a->m - mn) * c);
    vd e = vd_from(vf_exp(d));
    if (want_w) a->w = e * (a->w + a->s * vd_from(d));
    a->s = e * a->s;
    a->m = mn;
}

/* PPO_LSE_BLK full vectors of raw logits. d >= -100: e^d is exactly 0 below -87, and e·d is 0 rather than
 * 0·(−inf) = NaN for a −inf logit (a masked vocabulary entry contributes nothing, the limit of p·z as p → 0). */
PPO_INLINE void ppo_lse_block(ppo_lse_acc *a, const vf *z, float c, const int want_w) {
    vf bm = vf_max(vf_max(z[0], z[1]), vf_max(z[2], z[3]));
    if (vi_any(bm > a->m)) ppo_lse_rescale(a, vf_max(a->m, bm), c, want_w);
    const vf lo = vf_set1(-100.0f);
    vf d0 = vf_max(lo, (z[0] - a->m) * c), d1 = vf_max(lo, (z[1] - a->m) * c);
    vf d2 = vf_max(lo, (z[2] - a->m) * c), d3 = vf_max(lo, (z[3] - a->m) * c);
    vf e0 = vf_exp(d0), e1 = vf_exp(d1), e2 = vf_exp(d2), e3 = vf_exp(d3);
    a->s += vd_from((e0 + e1) + (e2 + e3));
    if (want_w) a->w += vd_from((e0 * d0 + e1 * d1) + (e2 * d2 + e3 * d3));
}

/* One vector of which only the `valid` lanes are elements (a row tail). */
PPO_INLINE void ppo_lse_one(ppo_lse_acc *a, vf z, vi valid, float c, const int want_w) {
    z = vf_sel(valid, z, vf_set1(-FLT_MAX));
    if (vi_any(z > a->m)) ppo_lse_rescale(a, vf_max(a->m, z), c, want_w);
    vf d = vf_and(valid, vf_max(vf_set1(-100.0f), (z - a->m) * c));   /* as in ppo_lse_block */
    vf e = vf_and(valid, vf_exp(d));
    a->s += vd_from(e);
    if (want_w) a->w += vd_from(e * d);
}

/* Merges the lanes in lane order (f64). Lanes that saw nothing have s = w = 0 and contribute 0; the lane holding the
 * max contributes e^0, so s >= 1 for a row with an element. Then lse = m·c + log s, mean = m·c + w/s. */
PPO_INLINE ppo_lse_part ppo_lse_reduce(const ppo_lse_acc *a, double c) {
    float m[VW];
    double s[VW], w[VW];
    memcpy(m, &a->m, sizeof m);
    memcpy(s, &a->s, sizeof s);
    memcpy(w, &a->w, sizeof w);
    double big = m[0];
    for (int i = 1; i < VW; i++) big = m[i] > big ? m[i] : big;
    ppo_lse_part p = {big, 0.0, 0.0};
    for (int i = 0; i < VW; i++) {
        double d = ((double)m[i] - big) * c;
        double e = exp(d);
        p.s += s[i] * e;
        p.w += e * (w[i] + s[i] * d);
    }
    return p;
}

/* Records row i as having an out-of-range label, keeping the smallest such row (so the message does not depend on
 * thread timing). */
PPO_INLINE void ppo_note_bad_row(_Atomic int64_t *bad_row, int64_t i) {
    int64_t cur = atomic_load_explicit(bad_row, memory_order_relaxed);
    while (i < cur && !atomic_compare_exchange_weak_explicit(bad_row, &cur, i, memory_order_relaxed,
                                                             memory_order_relaxed)) {
    }
}

/* Runs the ISA variant of table over `rows` rows of `cols` logits on the context's threads, then reports the
 * smallest row with an out-of-range label (*bad_row < rows) as PPO_ERR_LABEL naming it ("row", "tile row"). */
PPO_INLINE int32_t ppo_run_label_rows(const char *op, void *ctx, void (*const table[3])(void *, int64_t, int64_t),
                                      void *args, int64_t rows, int64_t cols, _Atomic int64_t *bad_row,
                                      const void *labels, int32_t label_dtype, int64_t v, const char *what) {
    int threads = ppo_threads_for(ppo_ctx_threads(ctx), rows * cols);
    ppo_parallel_for(threads, rows, ppo_grain(cols, 1 << 16), table[ppo_ctx_isa(ctx)], args);
    int64_t bad = atomic_load(bad_row);
    if (bad < rows) {
        return ppo_fail(PPO_ERR_LABEL, "%s: labels: %s %lld has label %lld, outside [0, %lld)", op, what,
                        (long long)bad, (long long)ppo_label_at(labels, label_dtype, bad), (long long)v);
    }
    return PPO_OK;
}

#endif /* PPO_ONLINE_LSE_H */
