/*
 * kl_penalty.c — per-token KL estimate (SPEC "kl_penalty").
 *
 * logprobs, ref_logprobs [b, t] f32, mask [b, t] (nullable = all valid) -> kl [b, t] f32:
 *   kl = estimator(clamp(logprobs − ref_logprobs)) clamped (ppo_kl.h), 0 at masked positions.
 * Elementwise over the flat b·t elements in fixed chunks of 16384 (chunks in parallel; no reduction).
 */
#include "ppo_kl.h"
#include "ppo_parallel.h"

#define KL_CHUNK 16384

typedef struct {
    const float *lp, *ref;
    const void *mask;
    int32_t mask_dtype;
    int64_t total;
    ppo_kl_opts o;
    float *kl;
} kl_args;

PPO_INLINE void kl_range(const kl_args *a, int64_t begin, int64_t end, const int dt) {
    for (int64_t i = begin; i < end; i += VW) {
        int n = end - i < VW ? (int)(end - i) : VW;
        vi m = vi_mask_n(a->mask, dt, i, n);
        vf k = ppo_kl_vec(vf_load_n(a->lp + i, n), vf_load_n(a->ref + i, n), &a->o);
        vf_store_n(a->kl + i, n, vf_and(m, k));
    }
}

void PPO_ISA_FN(kl_penalty_chunks)(void *args, int64_t begin, int64_t end) {
    const kl_args *a = (const kl_args *)args;
    int64_t lo = begin * KL_CHUNK, hi = end * KL_CHUNK < a->total ? end * KL_CHUNK : a->total;
    switch (a->mask_dtype) {
    case PPO_F32: kl_range(a, lo, hi, PPO_F32); break;
    case PPO_U8: kl_range(a, lo, hi, PPO_U8); break;
    case PPO_I32: kl_range(a, lo, hi, PPO_I32); break;
    default: kl_range(a, lo, hi, PPO_I64); break;
    }
}

#if PPO_ISA == 0

PPO_DECLARE_VARIANTS(kl_penalty_chunks);

int32_t kl_penalty(void *ctx, const float *logprobs, const float *ref_logprobs, const void *mask, int32_t mask_dtype,
                   int64_t b, int64_t t, int32_t estimator, double input_clamp, double output_clamp, float *kl) {
    ppo_clear_error();
    int32_t st = ppo_kl_check("kl_penalty", estimator, input_clamp, output_clamp);
    if (st != PPO_OK) return st;
    if (b < 0 || t < 0) return ppo_fail(PPO_ERR_INVALID, "kl_penalty: negative shape [%lld, %lld]", (long long)b,
                                        (long long)t);
    if (mask != NULL && !ppo_mask_dtype_ok(mask_dtype)) {
        return ppo_fail(PPO_ERR_INVALID, "kl_penalty: mask: bad dtype code %d", mask_dtype);
    }
    int64_t total = b * t;
    if (total == 0) return PPO_OK;
    if (logprobs == NULL || ref_logprobs == NULL || kl == NULL) {
        return ppo_fail(PPO_ERR_INVALID, "kl_penalty: logprobs, ref_logprobs and kl must not be NULL");
    }
    /* narrowing: the clamps are applied to f32 values */
    kl_args a = {logprobs, ref_logprobs, mask, mask_dtype, total,
                 {estimator, (float)input_clamp, (float)output_clamp}, kl};
    int64_t chunks = (total + KL_CHUNK - 1) / KL_CHUNK;
    ppo_parallel_for(ppo_threads_for(ppo_ctx_threads(ctx), total), chunks, 1,
                     kl_penalty_chunks_table[ppo_ctx_isa(ctx)], &a);
    return PPO_OK;
}

#endif /* PPO_ISA == 0 */
