package dev.ppoengine.reference;

import dev.ppoengine.kernels.Aggregation;
import dev.ppoengine.tensor.Tensor;

/**
 * SPEC {@code loss_agg}: how a per-token loss L[B, T] becomes one scalar, shared by policy_loss, value_loss and the
 * entropy term of ppo_loss. Every mode is linear in L, so it is fully described by
 * <ul>
 *   <li>its value, computed literally from the per-row sums S_b = Σ_t m[b,t]·L[b,t] ({@link #value}), and</li>
 *   <li>its derivative d loss / d L[b,t] = w_b for a valid token of row b, 0 for a masked one ({@link #weight}).</li>
 * </ul>
 * With n_b = Σ_t m[b,t], R = #{b : n_b &gt; 0} (non-empty rows) and N = Σ_b n_b:
 * <pre>
 *   token-mean               loss = Σ_b S_b / n_tok            w_b = 1 / n_tok            n_tok = token_count if &gt; 0 else N
 *   seq-mean-token-sum       loss = Σ_{b: n_b&gt;0} S_b / R        w_b = 1 / R
 *   seq-mean-token-mean      loss = Σ_{b: n_b&gt;0} (S_b/n_b) / R  w_b = 1 / (n_b·R)
 *   seq-mean-token-sum-norm  loss = Σ_b S_b / norm              w_b = 1 / norm             norm = loss_agg_norm if &gt; 0 else T
 * </pre>
 * (the four modes of verl's {@code agg_loss}; token-mean with a caller token count is the data-parallel /
 * gradient-accumulation form.) With no valid token at all (N = 0) the loss and every weight are 0, never 0/0.
 * Only valid positions enter the sums, so whatever a padded position holds (fill values, overflowing ratios)
 * cannot reach the result.
 */
final class LossAggregationReference {
    private final Aggregation agg;
    private final Tensor mask;
    private final long cols;
    private final long[] rowTokens;     // n_b
    private final long validTokens;     // N
    private final long nonEmptyRows;    // R

    /** Counts the valid tokens of {@code mask} [B, T] (any mask dtype; nonzero = valid). */
    LossAggregationReference(Tensor mask, Aggregation agg) {
        this.agg = agg;
        this.mask = mask;
        this.cols = mask.dim(1);
        // The reference keeps O(B) per-row state in a Java array; B itself is far below 2^31 in any real batch.
        this.rowTokens = new long[Math.toIntExact(mask.dim(0))];
        long n = 0, r = 0;
        for (int b = 0; b < rowTokens.length; b++) {
            long count = 0;
            for (long t = 0; t < cols; t++) if (mask.isSet(b * cols + t)) count++;
            rowTokens[b] = count;
            n += count;
            if (count > 0) r++;
        }
        this.validTokens = n;
        this.nonEmptyRows = r;
    }

    int rows() { return rowTokens.length; }

    long cols() { return cols; }

    /** Whether flat position i = b·T + t is a valid token. */
    boolean valid(long i) { return mask.isSet(i); }

    /** N = Σ m: the count every statistic is averaged over (independent of token_count). */
    long validTokens() { return validTokens; }

    /** Mean of a statistic summed over the valid tokens: sum / N, 0 when there is no valid token. */
    double mean(double sum) { return validTokens == 0 ? 0.0 : sum / validTokens; }

    /** The aggregated loss from the per-row sums S_b of the valid per-token losses (literal SPEC formulas). */
    double value(double[] rowSums) {
        if (validTokens == 0) return 0.0;
        double total = 0.0;
        switch (agg.mode()) {
            case TOKEN_MEAN -> {
                for (double s : rowSums) total += s;
                return total / tokenDivisor();
            }
            case SEQ_MEAN_TOKEN_SUM -> {
                for (int b = 0; b < rowSums.length; b++) if (rowTokens[b] > 0) total += rowSums[b];
                return total / nonEmptyRows;
            }
            case SEQ_MEAN_TOKEN_MEAN -> {
                for (int b = 0; b < rowSums.length; b++) if (rowTokens[b] > 0) total += rowSums[b] / rowTokens[b];
                return total / nonEmptyRows;
            }
            case SEQ_MEAN_TOKEN_SUM_NORM -> {
                for (double s : rowSums) total += s;
                return total / normDivisor();
            }
        }
        throw new IllegalStateException("unhandled loss_agg " + agg.mode());
    }

    /** d loss / d L[b, t] for a valid token of row b (the same for every valid token of the row); 0 for an empty row. */
    double weight(int row) {
        if (rowTokens[row] == 0) return 0.0;
        return switch (agg.mode()) {
            case TOKEN_MEAN -> 1.0 / tokenDivisor();
            case SEQ_MEAN_TOKEN_SUM -> 1.0 / nonEmptyRows;
            case SEQ_MEAN_TOKEN_MEAN -> 1.0 / ((double) rowTokens[row] * nonEmptyRows);
            case SEQ_MEAN_TOKEN_SUM_NORM -> 1.0 / normDivisor();
        };
    }

    private double tokenDivisor() { return agg.tokenCount() > 0 ? agg.tokenCount() : validTokens; }

    private double normDivisor() { return agg.norm() > 0 ? agg.norm() : cols; }
}
