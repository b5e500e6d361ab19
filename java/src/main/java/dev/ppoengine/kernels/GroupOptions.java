package dev.ppoengine.kernels;

/** Options of group_advantages: group size n ≥ 2, estimator, ε of the grpo std. */
public record GroupOptions(int groupSize, GroupEstimator estimator, double stdEps) {
    public GroupOptions {
        if (groupSize < 2) {
            throw new IllegalArgumentException("group_size must be >= 2 (a group of one has no baseline), got " + groupSize);
        }
        Params.notNull("group_estimator", estimator);
        Params.nonNegative("group_std_eps", stdEps);
    }
}
