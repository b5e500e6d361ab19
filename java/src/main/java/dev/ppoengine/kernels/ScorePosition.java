package dev.ppoengine.kernels;

/** Where the sequence score is added: the last valid token, or the slot after it (capped at T−1). */
public enum ScorePosition implements Switch {
    LAST("last"),
    AFTER_LAST("after_last");

    private final String key;
    ScorePosition(String key) { this.key = key; }
    @Override public String key() { return key; }
    public static ScorePosition parse(String s) { return Switch.parse(ScorePosition.class, s); }
    @Override public String toString() { return key; }
}
