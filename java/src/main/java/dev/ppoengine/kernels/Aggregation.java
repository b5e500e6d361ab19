package dev.ppoengine.kernels;

/**
 * How a per-token loss becomes a scalar (SPEC loss_agg).
 *
 * @param mode       the aggregation mode
 * @param tokenCount token-mean only: the divisor to use instead of Σ mask (data-parallel / accumulation); 0 = Σ mask
 * @param norm       seq-mean-token-sum-norm only: the divisor; 0 = T
 */
public record Aggregation(LossAgg mode, double tokenCount, double norm) {
    public static final Aggregation TOKEN_MEAN = new Aggregation(LossAgg.TOKEN_MEAN, 0, 0);

    public Aggregation {
        Params.notNull("loss_agg", mode);
        Params.nonNegative("token_count", tokenCount);
        Params.nonNegative("loss_agg_norm", norm);
    }

    public static Aggregation of(LossAgg mode) { return new Aggregation(mode, 0, 0); }

    /** The same mode with another token count (used for the value loss's own count). */
    public Aggregation withTokenCount(double count) { return new Aggregation(mode, count, norm); }
}
