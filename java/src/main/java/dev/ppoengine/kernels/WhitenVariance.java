package dev.ppoengine.kernels;

/** Variance estimator of masked_whiten. */
public enum WhitenVariance implements Switch {
    UNBIASED("unbiased"),
    BIASED("biased");

    private final String key;
    WhitenVariance(String key) { this.key = key; }
    @Override public String key() { return key; }
    public static WhitenVariance parse(String s) { return Switch.parse(WhitenVariance.class, s); }
    @Override public String toString() { return key; }
}
