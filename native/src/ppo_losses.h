/*
 * ppo_losses.h — the policy and value passes shared by policy_loss.c, value_loss.c and ppo_loss.c (internal).
 *
 * A pass runs in three steps, each deterministic for any thread count:
 *   1. per-row valid counts (rows in parallel) -> on the caller: n_valid, non-empty rows, the per-row
 *      aggregation weight w_row (ppo_agg_weight: loss = Σ_rows w_row · Σ_t m·L);
 *   2. rows in parallel: loss terms, gradients (w_row · dL/dinput, 0 at masked positions) and the row's partial
 *      sums of every statistic (f64), written to row-indexed scratch;
 *   3. on the caller: the row partials summed in row order.
 * Scratch is O(rows), allocated once per call.
 */
#ifndef PPO_LOSSES_H
#define PPO_LOSSES_H

#include "ppo_internal.h"

/* Step 1 kernel: counts[r] = number of valid entries of mask row r. */
typedef struct {
    const void *mask;
    int32_t mask_dtype;
    int64_t t;
    int64_t *counts;
} ppo_count_args;
PPO_DECLARE_VARIANTS(ppo_mask_row_counts);

typedef struct {
    const float *logprobs, *old_logprobs, *advantages;
    const float *entropy;          /* nullable: ppo_loss's entropy term (aggregated with the policy weights) */
    const void *mask;
    int32_t mask_dtype;
    int64_t b, t;
    const ppo_policy_params *p;
    double entropy_coef;           /* grad_entropy = −entropy_coef · w_row at valid positions */
    float *grad, *grad_entropy;    /* grad_entropy used iff entropy != NULL */
} ppo_policy_job;

typedef struct {
    double stats[PPO_PSTAT_COUNT]; /* loss is 0 when the ratio_threshold guard fired (SKIPPED = 1) */
    double entropy_loss;           /* Σ w·m·entropy (0 without entropy or when skipped) */
} ppo_policy_result;

int32_t ppo_policy_pass(void *ctx, const char *op, const ppo_policy_job *job, ppo_policy_result *res);
int32_t ppo_check_policy_params(const char *op, const ppo_policy_params *p);

typedef struct {
    const float *values, *old_values, *returns;
    const void *mask;
    int32_t mask_dtype;
    int64_t b, t;
    const ppo_value_params *p;
    double grad_scale;             /* grad = grad_scale · d loss / d values (ppo_loss: vf_coef) */
    float *grad;
} ppo_value_job;

int32_t ppo_value_pass(void *ctx, const char *op, const ppo_value_job *job, double stats[PPO_VSTAT_COUNT]);
int32_t ppo_check_value_params(const char *op, const ppo_value_params *p);

/* Runs step 1 and returns the per-row weights in w[b] (counts[b] is scratch); *n_valid = Σ counts. */
void ppo_row_weights(void *ctx, const void *mask, int32_t mask_dtype, int64_t b, int64_t t, int64_t agg,
                     double token_count, double agg_norm, int64_t *counts, double *w, int64_t *n_valid);

/* A loss pass's per-row scratch after step 1: w [b] the row weights, rs [b, row_stats] for the row pass's partial
 * sums, n_valid the valid tokens. */
typedef struct {
    double *w, *rs;
    int64_t n_valid;
} ppo_row_scratch;

/* Allocates the scratch (PPO_ERR_ALLOC naming op) and runs step 1 (ppo_row_weights) into it. */
int32_t ppo_row_scratch_init(void *ctx, const char *op, const void *mask, int32_t mask_dtype, int64_t b, int64_t t,
                             int64_t agg, double token_count, double agg_norm, int row_stats, ppo_row_scratch *sc);
void ppo_row_scratch_free(ppo_row_scratch *sc);

#endif /* PPO_LOSSES_H */
