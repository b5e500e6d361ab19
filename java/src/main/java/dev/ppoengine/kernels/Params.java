package dev.ppoengine.kernels;

/** Parameter-range checks shared by the option records; each names the argument, expected and actual value. */
final class Params {
    private Params() {}

    static double finite(String name, double v) {
        if (!Double.isFinite(v)) throw new IllegalArgumentException(name + " must be finite, got " + v);
        return v;
    }

    static double nonNegative(String name, double v) {
        finite(name, v);
        if (v < 0) throw new IllegalArgumentException(name + " must be >= 0, got " + v);
        return v;
    }

    static double positive(String name, double v) {
        finite(name, v);
        if (v <= 0) throw new IllegalArgumentException(name + " must be > 0, got " + v);
        return v;
    }

    static double unit(String name, double v) {
        finite(name, v);
        if (v < 0 || v > 1) throw new IllegalArgumentException(name + " must be in [0, 1], got " + v);
        return v;
    }

    static <T> T notNull(String name, T v) {
        if (v == null) throw new IllegalArgumentException(name + " must not be null");
        return v;
    }
}
