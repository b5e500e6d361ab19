package dev.ppoengine.kernels;

/** GAE at masked steps: zero r and V and run every step (trl), or carry the running next-value and advantage through (verl). */
public enum GaeMaskedSteps implements Switch {
    ZERO("zero"),
    SKIP("skip");

    private final String key;
    GaeMaskedSteps(String key) { this.key = key; }
    @Override public String key() { return key; }
    public static GaeMaskedSteps parse(String s) { return Switch.parse(GaeMaskedSteps.class, s); }
    @Override public String toString() { return key; }
}
