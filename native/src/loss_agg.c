/*
 * loss_agg.c — SPEC loss_agg normalisers shared by the loss passes: per-row valid counts and per-row weights.
 *
 * loss = Σ_rows w_row · Σ_t m_t·L_t with (n_tok = token_count or Σ m, R = rows with at least one valid token)
 *   token-mean: w = 1/n_tok; seq-mean-token-sum: w = 1/R; seq-mean-token-mean: w = 1/(R·count_row);
 *   seq-mean-token-sum-norm: w = 1/(agg_norm or T).  Empty rows and empty batches get w = 0.
 * Counting reads only the mask, so the weights are known before the single pass over the loss inputs.
 */
#include "ppo_losses.h"
#include "ppo_parallel.h"
#include "ppo_simd.h"

#include <stdlib.h>

PPO_INLINE int64_t count_row(const void *mask, const int dt, int64_t off, int64_t t) {
    vi acc = vi_set1(0);
    for (int64_t j = 0; j < t; j += VW) {
        int n = t - j < VW ? (int)(t - j) : VW;
        acc -= vi_mask_n(mask, dt, off + j, n);   /* valid lanes are -1 */
    }
    return vi_hsum(acc);
}

void PPO_ISA_FN(ppo_mask_row_counts)(void *args, int64_t begin, int64_t end) {
    ppo_count_args *a = (ppo_count_args *)args;
    for (int64_t r = begin; r < end; r++) {
        int64_t off = r * a->t;
        switch (a->mask_dtype) {
        case PPO_F32: a->counts[r] = count_row(a->mask, PPO_F32, off, a->t); break;
        case PPO_U8: a->counts[r] = count_row(a->mask, PPO_U8, off, a->t); break;
        case PPO_I32: a->counts[r] = count_row(a->mask, PPO_I32, off, a->t); break;
        default: a->counts[r] = count_row(a->mask, PPO_I64, off, a->t); break;
        }
    }
}

#if PPO_ISA == 0

void ppo_row_weights(void *ctx, const void *mask, int32_t mask_dtype, int64_t b, int64_t t, int64_t agg,
                     double token_count, double agg_norm, int64_t *counts, double *w, int64_t *n_valid) {
    ppo_count_args ca = {mask, mask_dtype, t, counts};
    ppo_parallel_for(ppo_threads_for(ppo_ctx_threads(ctx), b * t), b, ppo_grain(t, 1 << 15),
                     ppo_mask_row_counts_table[ppo_ctx_isa(ctx)], &ca);
    int64_t nv = 0, rows = 0;
    for (int64_t r = 0; r < b; r++) {
        nv += counts[r];
        rows += counts[r] > 0;
    }
    for (int64_t r = 0; r < b; r++) w[r] = ppo_agg_weight(agg, token_count, agg_norm, t, nv, rows, counts[r]);
    *n_valid = nv;
}


int32_t ppo_row_scratch_init(void *ctx, const char *op, const void *mask, int32_t mask_dtype, int64_t b, int64_t t,
                             int64_t agg, double token_count, double agg_norm, int row_stats, ppo_row_scratch *sc) {
    int64_t *counts = malloc((size_t)b * sizeof(int64_t));
    sc->w = malloc((size_t)b * sizeof(double));
    sc->rs = malloc((size_t)b * (size_t)row_stats * sizeof(double));
    sc->n_valid = 0;
    if (counts == NULL || sc->w == NULL || sc->rs == NULL) {
        free(counts);
        ppo_row_scratch_free(sc);
        return ppo_fail(PPO_ERR_ALLOC, "%s: cannot allocate %lld rows of scratch", op, (long long)b);
    }
    ppo_row_weights(ctx, mask, mask_dtype, b, t, agg, token_count, agg_norm, counts, sc->w, &sc->n_valid);
    free(counts);
    return PPO_OK;
}

void ppo_row_scratch_free(ppo_row_scratch *sc) {
    free(sc->w);
    free(sc->rs);
    sc->w = NULL;
    sc->rs = NULL;
}
#endif
