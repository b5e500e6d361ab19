package dev.ppoengine.kernels;

/** With score_position=after_last: keep the KL term at the score slot (DeepSpeed-Chat) or drop it (trl PPOv2). */
public enum KlAtScoreSlot implements Switch {
    KEEP("keep"),
    ZERO("zero");

    private final String key;
    KlAtScoreSlot(String key) { this.key = key; }
    @Override public String key() { return key; }
    public static KlAtScoreSlot parse(String s) { return Switch.parse(KlAtScoreSlot.class, s); }
    @Override public String toString() { return key; }
}
