package dev.ppoengine.kernels;

/** KL estimators of SPEC kl_penalty, with δ = logprobs − ref_logprobs: k1 = δ, abs = |δ|, k2 = ½δ², k3 = exp(−δ) − 1 + δ. */
public enum KlEstimator implements Switch {
    K1("k1"),
    ABS("abs"),
    K2("k2"),
    K3("k3");

    private final String key;
    KlEstimator(String key) { this.key = key; }
    @Override public String key() { return key; }
    public static KlEstimator parse(String s) { return Switch.parse(KlEstimator.class, s); }
    @Override public String toString() { return key; }
}
