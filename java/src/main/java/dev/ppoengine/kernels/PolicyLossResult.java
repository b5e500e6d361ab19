package dev.ppoengine.kernels;

/**
 * Scalars of policy_loss. Statistics are means over valid tokens (0 when there are none).
 *
 * @param loss          aggregated loss (0 when the ratio_threshold guard fired)
 * @param clipfrac      mean[L2 &gt; L1]
 * @param clipfracLower mean[A &lt; 0 ∧ max(L1, L2) &gt; −A·c] (dual clip only, else 0)
 * @param ppoKl         mean(−x), x the (clamped) log ratio
 * @param approxKl      mean(½x²)
 * @param meanRatio     masked mean of ρ (what ratio_threshold compares)
 * @param skipped       true when the ratio_threshold guard zeroed loss and gradient
 */
public record PolicyLossResult(double loss, double clipfrac, double clipfracLower, double ppoKl, double approxKl,
                               double meanRatio, boolean skipped) {}
