package dev.ppoengine.kernels;

/** How ε enters masked_whiten: rsqrt(σ² + ε) (add) or rsqrt(max(σ², ε)) (clamp). */
public enum WhitenEpsMode implements Switch {
    ADD("add"),
    CLAMP("clamp");

    private final String key;
    WhitenEpsMode(String key) { this.key = key; }
    @Override public String key() { return key; }
    public static WhitenEpsMode parse(String s) { return Switch.parse(WhitenEpsMode.class, s); }
    @Override public String toString() { return key; }
}
