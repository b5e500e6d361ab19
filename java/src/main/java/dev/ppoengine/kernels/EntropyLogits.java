package dev.ppoengine.kernels;

/** Which logits the entropy is computed from: the temperature-scaled ones (default) or the raw ones (OpenRLHF). */
public enum EntropyLogits implements Switch {
    SCALED("scaled"),
    RAW("raw");

    private final String key;
    EntropyLogits(String key) { this.key = key; }
    @Override public String key() { return key; }
    public static EntropyLogits parse(String s) { return Switch.parse(EntropyLogits.class, s); }
    @Override public String toString() { return key; }
}
