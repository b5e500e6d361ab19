/*
 * masked_whiten.c — batch whitening of advantages (SPEC "masked_whiten"; trl's masked_whiten).
 *
 * values x, mask [b, t] -> whitened [b, t] (f32). Over the whole batch: N = Σ m, μ = Σ m·x / N,
 * σ² = Σ m·(x − μ)² / N (·N/(N−1) when unbiased); out = (x − μ)·rsqrt(σ² + ε) (eps add) or rsqrt(max(σ², ε))
 * (eps clamp); shift_mean = false adds μ back; masked positions are 0. N < 2 (unbiased) / N < 1 is an error.
 * Three passes over fixed chunks of 8192 elements (chunks in parallel): Σ m·x and N per chunk, then
 * Σ m·(x − μ)² per chunk (two-pass variance: no cancellation), then the output. The per-chunk partials are f64
 * and are summed on the caller in chunk order, so the result does not depend on the thread count.
 */
#include "ppo_internal.h"
#include "ppo_parallel.h"
#include "ppo_simd.h"

#include <math.h>
#include <stdlib.h>

#define WH_CHUNK 8192

typedef struct {
    const float *x;
    const void *mask;
    int32_t mask_dtype;
    int64_t total;
    int phase;          /* 0: Σ m·x and N, 1: Σ m·(x − μ)², 2: output */
    double mu, scale;   /* phase 1, 2 */
    int shift_mean;
    double *partial;    /* [chunks, 2] */
    float *out;
} wh_args;

PPO_INLINE void wh_chunk(wh_args *a, int64_t c, const int dt) {
    int64_t lo = c * WH_CHUNK, hi = lo + WH_CHUNK < a->total ? lo + WH_CHUNK : a->total;
    vd s = vd_set1(0);
    vi cnt = vi_set1(0);
    const vd mu = vd_set1(a->mu), scale = vd_set1(a->scale), back = vd_set1(a->shift_mean ? 0.0 : a->mu);
    for (int64_t i = lo; i < hi; i += VW) {
        int n = hi - i < VW ? (int)(hi - i) : VW;
        vi m = vi_mask_n(a->mask, dt, i, n);
        vf x = vf_load_n(a->x + i, n);
        if (a->phase == 0) {
            s += vd_from(vf_and(m, x));
            cnt -= m;
        } else if (a->phase == 1) {
            vd d = vd_from(x) - mu;
            s += vd_from_i(m & 1) * (d * d);   /* m & 1: 1.0 for valid lanes */
        } else {
            vd o = (vd_from(x) - mu) * scale + back;
            vf_store_n(a->out + i, n, vf_and(m, __builtin_convertvector(o, vf)));   /* narrowing: f32 output */
        }
    }
    if (a->phase < 2) {
        a->partial[2 * c] = vd_hsum(s);
        a->partial[2 * c + 1] = (double)vi_hsum(cnt);
    }
}

void PPO_ISA_FN(masked_whiten_chunks)(void *args, int64_t begin, int64_t end) {
    wh_args *a = (wh_args *)args;
    for (int64_t c = begin; c < end; c++) {
        switch (a->mask_dtype) {
        case PPO_F32: wh_chunk(a, c, PPO_F32); break;
        case PPO_U8: wh_chunk(a, c, PPO_U8); break;
        case PPO_I32: wh_chunk(a, c, PPO_I32); break;
        default: wh_chunk(a, c, PPO_I64); break;
        }
    }
}

#if PPO_ISA == 0

PPO_DECLARE_VARIANTS(masked_whiten_chunks);

int32_t masked_whiten(void *ctx, const float *values, const void *mask, int32_t mask_dtype, int64_t b, int64_t t,
                      int32_t unbiased, int32_t eps_clamp, double eps, int32_t shift_mean, float *whitened) {
    ppo_clear_error();
    if (b < 0 || t < 0) {
        return ppo_fail(PPO_ERR_INVALID, "masked_whiten: negative shape [%lld, %lld]", (long long)b, (long long)t);
    }
    if (!ppo_mask_dtype_ok(mask_dtype)) {
        return ppo_fail(PPO_ERR_INVALID, "masked_whiten: mask: bad dtype code %d", mask_dtype);
    }
    if (!(eps >= 0) || !isfinite(eps)) {
        return ppo_fail(PPO_ERR_INVALID, "masked_whiten: whiten_eps must be finite and >= 0, got %g", eps);
    }
    int64_t total = b * t;
    if (total > 0 && (values == NULL || mask == NULL || whitened == NULL)) {
        return ppo_fail(PPO_ERR_INVALID, "masked_whiten: a required pointer is NULL");
    }
    int64_t chunks = (total + WH_CHUNK - 1) / WH_CHUNK;
    double *partial = malloc((size_t)(chunks > 0 ? chunks : 1) * 2 * sizeof(double));
    if (partial == NULL) {
        return ppo_fail(PPO_ERR_ALLOC, "masked_whiten: cannot allocate %lld chunks of scratch", (long long)chunks);
    }
    wh_args a = {values, mask, mask_dtype, total, 0, 0.0, 0.0, shift_mean != 0, partial, whitened};
    void (*kernel)(void *, int64_t, int64_t) = masked_whiten_chunks_table[ppo_ctx_isa(ctx)];
    int threads = ppo_threads_for(ppo_ctx_threads(ctx), total);
    ppo_parallel_for(threads, chunks, 1, kernel, &a);
    double sum = 0, n = 0;
    for (int64_t c = 0; c < chunks; c++) {
        sum += partial[2 * c];
        n += partial[2 * c + 1];
    }
    double need = unbiased ? 2 : 1;
    if (n < need) {
        free(partial);
        return ppo_fail(PPO_ERR_INVALID, "masked_whiten: needs at least %.0f valid tokens for the %s variance, got "
                        "%.0f", need, unbiased ? "unbiased" : "biased", n);
    }
    a.mu = sum / n;
    a.phase = 1;
    ppo_parallel_for(threads, chunks, 1, kernel, &a);
    double ss = 0;
    for (int64_t c = 0; c < chunks; c++) ss += partial[2 * c];
    free(partial);
    double var = ss / n;
    if (unbiased) var *= n / (n - 1);
    a.scale = 1.0 / sqrt(eps_clamp ? (var > eps ? var : eps) : var + eps);
    a.phase = 2;
    ppo_parallel_for(threads, chunks, 1, kernel, &a);
    return PPO_OK;
}

#endif /* PPO_ISA == 0 */
