/*
 * ppo_internal.h — shared, ISA-independent helpers of the native CPU library (not part of the ABI).
 *
 *   - error reporting: ppo_fail() stores a message for ppo_last_error() (thread-local) and returns the status;
 *   - the CPU context: thread count (0 = all online cores) and the SIMD level cap (see ppo_cpu_ctx);
 *   - scalar reads of masks ([b, t], any PPO mask dtype, nonzero = valid) and labels (i32/i64);
 *   - ISA dispatch: every SIMD kernel is compiled three times (PPO_ISA = 0 generic SSE2, 1 AVX2+FMA+F16C,
 *     2 AVX-512 F/BW/VL/DQ) with the suffixes _isa0/_isa1/_isa2; ppo_isa_level() picks one at run time.
 */
#ifndef PPO_INTERNAL_H
#define PPO_INTERNAL_H

#include "ppo_kernels.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PPO_INLINE static inline __attribute__((always_inline))
#define PPO_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Stores a printf-style message for ppo_last_error() on the calling thread and returns status. */
int32_t ppo_fail(int32_t status, const char *fmt, ...) PPO_PRINTF(2, 3);

/* The switches token_logprobs and linear_token_logprobs share: label dtype, temperature > 0, entropy_logits.
 * PPO_OK, or PPO_ERR_INVALID with a message naming op and argument. */
int32_t ppo_check_logprob_args(const char *op, int32_t label_dtype, double temperature, int32_t entropy_logits);
/* Clears the calling thread's message (every entry point starts with it). */
void ppo_clear_error(void);

/* Threads to use for one call: ctx->threads, or all online cores when ctx is NULL or threads <= 0. */
int ppo_ctx_threads(const void *ctx);
/* SIMD level to use for one call: the best the CPU supports (0, 1 or 2), lowered to ctx->isa when that is set. */
int ppo_ctx_isa(const void *ctx);

/* Name of the ISA variant suffix for this translation unit (compiled per ISA with -DPPO_ISA=n). */
#define PPO_CAT_(a, b) a##b
#define PPO_CAT(a, b) PPO_CAT_(a, b)
#ifndef PPO_ISA
#define PPO_ISA 0
#endif
#define PPO_ISA_SUFFIX PPO_CAT(_isa, PPO_ISA)
#define PPO_ISA_FN(name) PPO_CAT(name, PPO_ISA_SUFFIX)

/* Declares the three variants of a kernel `void name(void *args, int64_t begin, int64_t end)` and a
 * table indexed by the ISA level. */
#define PPO_DECLARE_VARIANTS(name)                                           \
    void name##_isa0(void *args, int64_t begin, int64_t end);                \
    void name##_isa1(void *args, int64_t begin, int64_t end);                \
    void name##_isa2(void *args, int64_t begin, int64_t end);                \
    static void (*const name##_table[3])(void *, int64_t, int64_t) = {       \
        name##_isa0, name##_isa1, name##_isa2 }

PPO_INLINE int ppo_mask_dtype_ok(int32_t d) {
    return d == PPO_F32 || d == PPO_U8 || d == PPO_I32 || d == PPO_I64;
}

/* Mask element i (flat, dense): nonzero = valid. A NaN f32 counts as valid, -0.0 as masked (as in Java). */
PPO_INLINE int ppo_mask_at(const void *mask, int32_t dtype, int64_t i) {
    switch (dtype) {
    case PPO_F32: return ((const float *)mask)[i] != 0.0f;
    case PPO_U8: return ((const uint8_t *)mask)[i] != 0;
    case PPO_I32: return ((const int32_t *)mask)[i] != 0;
    default: return ((const int64_t *)mask)[i] != 0;
    }
}

PPO_INLINE int64_t ppo_label_at(const void *labels, int32_t dtype, int64_t i) {
    return dtype == PPO_I32 ? (int64_t)((const int32_t *)labels)[i] : ((const int64_t *)labels)[i];
}

PPO_INLINE size_t ppo_dtype_size(int32_t d) {
    switch (d) {
    case PPO_F32: case PPO_I32: return 4;
    case PPO_BF16: case PPO_F16: return 2;
    case PPO_I64: return 8;
    default: return 1;
    }
}

/* Aggregation weight of one valid token of a row with `row_count` valid tokens (SPEC loss_agg):
 * loss = Σ_rows w_row · Σ_t m·L. Zero valid tokens/rows give weight 0 (loss 0, gradient 0, never NaN). */
PPO_INLINE double ppo_agg_weight(int64_t agg, double token_count, double agg_norm, int64_t t, int64_t n_valid,
                                 int64_t n_rows, int64_t row_count) {
    if (row_count == 0) return 0.0;
    switch (agg) {
    case PPO_AGG_TOKEN_MEAN: {
        double n = token_count > 0 ? token_count : (double)n_valid;
        return n > 0 ? 1.0 / n : 0.0;
    }
    case PPO_AGG_SEQ_MEAN_TOKEN_SUM: return n_rows > 0 ? 1.0 / (double)n_rows : 0.0;
    case PPO_AGG_SEQ_MEAN_TOKEN_MEAN: return n_rows > 0 ? 1.0 / ((double)n_rows * (double)row_count) : 0.0;
    default: return 1.0 / (agg_norm > 0 ? agg_norm : (double)t);
    }
}

#endif /* PPO_INTERNAL_H */
