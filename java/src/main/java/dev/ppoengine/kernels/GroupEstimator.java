package dev.ppoengine.kernels;

/** Critic-free group estimators: grpo (s − μ)/(σ + ε), dr_grpo s − μ, rloo s − mean of the others. */
public enum GroupEstimator implements Switch {
    GRPO("grpo"),
    DR_GRPO("dr_grpo"),
    RLOO("rloo");

    private final String key;
    GroupEstimator(String key) { this.key = key; }
    @Override public String key() { return key; }
    public static GroupEstimator parse(String s) { return Switch.parse(GroupEstimator.class, s); }
    @Override public String toString() { return key; }
}
