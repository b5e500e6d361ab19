package dev.ppoengine.kernels;

/**
 * Options of policy_loss (SPEC): ratio clip range [1 − clipLow, 1 + clipHigh], log-ratio clamp (0 = off),
 * dual clip c &gt; 1 (0 = off), aggregation, and trl's ratio_threshold guard (0 = off).
 */
public record PolicyLossOptions(double clipLow, double clipHigh, double logRatioClamp, double dualClip,
                                Aggregation agg, double ratioThreshold) {
    public PolicyLossOptions {
        Params.nonNegative("clip_low", clipLow);
        Params.nonNegative("clip_high", clipHigh);
        Params.nonNegative("log_ratio_clamp", logRatioClamp);
        Params.nonNegative("dual_clip", dualClip);
        if (dualClip != 0 && dualClip <= 1) {
            throw new IllegalArgumentException("dual_clip must be > 1 (or 0 = off), got " + dualClip);
        }
        Params.notNull("loss_agg", agg);
        Params.nonNegative("ratio_threshold", ratioThreshold);
    }
}
