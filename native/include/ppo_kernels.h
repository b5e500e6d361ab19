/*
 * ppo_kernels.h — the C ABI of every ppo-engine kernel library.
 *
 * One header, two implementations with the same symbol names:
 *   native/        libppo_native.so : host pointers, ctx = NULL or a ppo_cpu_ctx* (thread count)
 *   cuda-kernels/  libppo_cuda.so   : device pointers, ctx = a cudaStream_t (NULL = default stream);
 *                  the same .cu files built with g++ against cuda-kernels/simt/ give libppo_cuda_sim.so.
 *
 * The numerical contract of every function is ../shared/SPEC.md (op names are the same).
 * Conventions:
 *   - per-token tensors are dense row-major [b, t] float32; masks are [b, t] of any PPO_* mask dtype, nonzero = valid;
 *   - logits are [n, v] in F32/BF16/F16 with a row stride in elements (>= v); labels I32 or I64;
 *   - element offsets are int64_t: n * v exceeds 2^31;
 *   - scalar results (losses, statistics) are written to HOST memory `double *stats` (the CUDA launcher
 *     synchronises its stream before returning them);
 *   - all arguments are validated by the Java caller; functions never exit, print or abort. They return
 *     PPO_OK or an error status; ppo_last_error() gives a message for the calling thread.
 *   - reductions are deterministic: the same inputs give bitwise the same outputs, whatever the thread count.
 */
#ifndef PPO_KERNELS_H
#define PPO_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PPO_ABI_VERSION 1

/* dtypes (BOOL is stored as U8) */
enum { PPO_F32 = 0, PPO_BF16 = 1, PPO_F16 = 2, PPO_I32 = 3, PPO_I64 = 4, PPO_U8 = 5 };

/* status codes */
enum { PPO_OK = 0, PPO_ERR_INVALID = 1, PPO_ERR_LABEL = 2, PPO_ERR_ALLOC = 3, PPO_ERR_DEVICE = 4 };

/* switches (same order as the Java enums) */
enum { PPO_ENTROPY_SCALED = 0, PPO_ENTROPY_RAW = 1 };
enum { PPO_KL_K1 = 0, PPO_KL_ABS = 1, PPO_KL_K2 = 2, PPO_KL_K3 = 3 };
enum { PPO_SCORE_LAST = 0, PPO_SCORE_AFTER_LAST = 1 };
enum { PPO_SLOT_KEEP = 0, PPO_SLOT_ZERO = 1 };
enum { PPO_GAE_ZERO = 0, PPO_GAE_SKIP = 1 };
enum { PPO_AGG_TOKEN_MEAN = 0, PPO_AGG_SEQ_MEAN_TOKEN_SUM = 1, PPO_AGG_SEQ_MEAN_TOKEN_MEAN = 2,
       PPO_AGG_SEQ_MEAN_TOKEN_SUM_NORM = 3 };
enum { PPO_GROUP_GRPO = 0, PPO_GROUP_DR_GRPO = 1, PPO_GROUP_RLOO = 2 };

/* CPU context: thread count (0 = all available cores) and a cap on the SIMD level (0 = the best the CPU
 * supports, else one of PPO_ISA_*: lets tests and benchmarks run the lower variants). Ignored by the CUDA library. */
typedef struct { int32_t threads; int32_t isa; } ppo_cpu_ctx;
enum { PPO_ISA_BEST = 0, PPO_ISA_GENERIC = 1, PPO_ISA_AVX2 = 2, PPO_ISA_AVX512 = 3 };

/* Parameter blocks: only 8-byte fields, so the layout is the same in C, CUDA and Java (FFM). */
typedef struct {
    double clip_low, clip_high;   /* ratio clip range [1 - clip_low, 1 + clip_high] */
    double log_ratio_clamp;       /* 0 = off */
    double dual_clip;             /* c > 1, 0 = off */
    int64_t agg;                  /* PPO_AGG_* */
    double token_count;           /* token-mean divisor, 0 = sum of mask */
    double agg_norm;              /* seq-mean-token-sum-norm divisor, 0 = t */
    double ratio_threshold;       /* 0 = off */
} ppo_policy_params;

typedef struct {
    double value_clip;            /* 0 = no clipping */
    int64_t agg;
    double token_count;
    double agg_norm;
} ppo_value_params;

/* stats layouts */
enum { PPO_PSTAT_LOSS = 0, PPO_PSTAT_CLIPFRAC = 1, PPO_PSTAT_CLIPFRAC_LOWER = 2, PPO_PSTAT_PPO_KL = 3,
       PPO_PSTAT_APPROX_KL = 4, PPO_PSTAT_MEAN_RATIO = 5, PPO_PSTAT_SKIPPED = 6, PPO_PSTAT_COUNT = 7 };
enum { PPO_VSTAT_LOSS = 0, PPO_VSTAT_CLIPFRAC = 1, PPO_VSTAT_COUNT = 2 };
/* ppo_loss: [0] total, [1] policy, [2] value, [3] entropy_loss, [4..10] policy stats 0..6, [11..12] value stats */
enum { PPO_LSTAT_TOTAL = 0, PPO_LSTAT_POLICY = 1, PPO_LSTAT_VALUE = 2, PPO_LSTAT_ENTROPY = 3,
       PPO_LSTAT_PSTATS = 4, PPO_LSTAT_VSTATS = 11, PPO_LSTAT_COUNT = 13 };

int32_t ppo_abi_version(void);
const char *ppo_last_error(void);

/* saved: [n, 3] = (lse of z/τ, lse of the entropy logits, mean Σ p z of the entropy logits); nullable */
int32_t token_logprobs(void *ctx, const void *logits, int32_t logits_dtype, int64_t n, int64_t v, int64_t row_stride,
                       const void *labels, int32_t label_dtype, double temperature, int32_t entropy_logits,
                       float *logprobs, float *entropy /* nullable */, float *saved /* nullable */);

/* grad_logits may equal logits (in place, same dtype and stride); grad_entropy nullable */
int32_t token_logprobs_backward(void *ctx, const void *logits, int32_t logits_dtype, int64_t n, int64_t v,
                                int64_t row_stride, const void *labels, int32_t label_dtype, const float *saved,
                                const float *grad_logprobs, const float *grad_entropy, double temperature,
                                int32_t entropy_logits, void *grad_logits, int32_t grad_dtype, int64_t grad_row_stride);

/* mask nullable (= all valid) */
int32_t kl_penalty(void *ctx, const float *logprobs, const float *ref_logprobs, const void *mask, int32_t mask_dtype,
                   int64_t b, int64_t t, int32_t estimator, double input_clamp, double output_clamp, float *kl);

int32_t kl_shaped_rewards(void *ctx, const float *logprobs, const float *ref_logprobs, const void *mask,
                          int32_t mask_dtype, const float *scores, int64_t b, int64_t t, int32_t estimator,
                          double input_clamp, double output_clamp, double kl_coef, int32_t score_position,
                          double score_clip, int32_t kl_at_score_slot, float *rewards, float *kl, float *reward_mask);

int32_t gae(void *ctx, const float *rewards, const float *values, const void *mask, int32_t mask_dtype, int64_t b,
            int64_t t, double gamma, double lam, int32_t masked_steps, float *advantages, float *returns);

int32_t masked_whiten(void *ctx, const float *values, const void *mask, int32_t mask_dtype, int64_t b, int64_t t,
                      int32_t unbiased, int32_t eps_clamp, double eps, int32_t shift_mean, float *whitened);

int32_t policy_loss(void *ctx, const float *logprobs, const float *old_logprobs, const float *advantages,
                    const void *mask, int32_t mask_dtype, int64_t b, int64_t t, const ppo_policy_params *p,
                    float *grad_logprobs, double *stats /* [PPO_PSTAT_COUNT] */);

int32_t value_loss(void *ctx, const float *values, const float *old_values, const float *returns, const void *mask,
                   int32_t mask_dtype, int64_t b, int64_t t, const ppo_value_params *p, float *grad_values,
                   double *stats /* [PPO_VSTAT_COUNT] */);

/* value_mask nullable (= mask), entropy nullable (then grad_entropy unused) */
int32_t ppo_loss(void *ctx, const float *logprobs, const float *old_logprobs, const float *advantages,
                 const float *values, const float *old_values, const float *returns, const void *mask,
                 const void *value_mask, int32_t mask_dtype, int32_t value_mask_dtype, const float *entropy,
                 int64_t b, int64_t t, const ppo_policy_params *pp, const ppo_value_params *vp, double vf_coef,
                 double entropy_coef, float *grad_logprobs, float *grad_values, float *grad_entropy,
                 double *stats /* [PPO_LSTAT_COUNT] */);

/* mask nullable: advantages [b] without, [b, t] (value × mask) with */
int32_t group_advantages(void *ctx, const float *scores, int64_t b, int64_t group_size, int32_t estimator,
                         double std_eps, const void *mask, int32_t mask_dtype, int64_t t, float *advantages);

/* ---- linear_token_logprobs tile steps (libppo_native only: the CPU driver computes the logits tiles with a BLAS
 * and calls these between its GEMMs; see src/linear_token_logprobs.c). tile: [rows, cols] f32, row stride ld, the
 * logits hidden·weightᵀ of `rows` rows and vocabulary columns [v_offset, v_offset + cols); bias: the tile's `cols`
 * entries or NULL; labels, saved, grad_*: the tile's rows. state: PPO_LINEAR_STATE doubles per row, (re)initialised
 * by the chunk at v_offset = 0. */
#define PPO_LINEAR_STATE 8

int32_t linear_lse_update(void *ctx, const float *tile, int64_t rows, int64_t cols, int64_t ld, const float *bias,
                          int64_t v_offset, int64_t v, const void *labels, int32_t label_dtype, double temperature,
                          int32_t entropy_logits, double *state);

/* entropy, saved nullable; saved as token_logprobs' */
int32_t linear_lse_finish(void *ctx, const double *state, int64_t rows, double temperature, int32_t entropy_logits,
                          float *logprobs, float *entropy, float *saved);

/* tile (the recomputed logits) becomes d loss/d logits in place; grad_entropy, grad_bias (+= column sums) nullable */
int32_t linear_chunk_backward(void *ctx, float *tile, int64_t rows, int64_t cols, int64_t ld, const float *bias,
                              int64_t v_offset, int64_t v, const void *labels, int32_t label_dtype, const float *saved,
                              const float *grad_logprobs, const float *grad_entropy, double temperature,
                              int32_t entropy_logits, float *grad_bias);

/* rows of F32/BF16/F16 (row stride src_stride) → dense f32 rows (row stride ld) */
int32_t linear_to_f32(void *ctx, const void *src, int32_t dtype, int64_t rows, int64_t cols, int64_t src_stride,
                      float *dst, int64_t ld);

#ifdef __cplusplus
}
#endif
#endif /* PPO_KERNELS_H */
