package dev.ppoengine.kernels;

/** Loss aggregation modes of SPEC (token-mean, seq-mean-token-sum, seq-mean-token-mean, seq-mean-token-sum-norm). */
public enum LossAgg implements Switch {
    TOKEN_MEAN("token-mean"),
    SEQ_MEAN_TOKEN_SUM("seq-mean-token-sum"),
    SEQ_MEAN_TOKEN_MEAN("seq-mean-token-mean"),
    SEQ_MEAN_TOKEN_SUM_NORM("seq-mean-token-sum-norm");

    private final String key;
    LossAgg(String key) { this.key = key; }
    @Override public String key() { return key; }
    public static LossAgg parse(String s) { return Switch.parse(LossAgg.class, s); }
    @Override public String toString() { return key; }
}
