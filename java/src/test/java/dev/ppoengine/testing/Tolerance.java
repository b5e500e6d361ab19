package dev.ppoengine.testing;

import static org.junit.jupiter.api.Assertions.fail;

/** SPEC tolerances: max |err| <= atol + rtol·|ref| (f32 inputs; bf16/f16 logits compared on the same rounded inputs). */
public final class Tolerance {
    private Tolerance() {}

    public static final double ATOL = 1e-5;
    public static final double RTOL = 1e-5;

    /** Asserts every element is within the SPEC bound, naming the first offending index. */
    public static void assertClose(String what, double[] ref, double[] actual) {
        assertClose(what, ref, actual, ATOL, RTOL);
    }

    public static void assertClose(String what, double[] ref, double[] actual, double atol, double rtol) {
        if (ref.length != actual.length) fail(what + ": length " + actual.length + " != " + ref.length);
        for (int i = 0; i < ref.length; i++) {
            double bound = atol + rtol * Math.abs(ref[i]);
            if (!(Math.abs(ref[i] - actual[i]) <= bound)) {
                fail(what + "[" + i + "]: expected " + ref[i] + " got " + actual[i] + " (|err| "
                        + Math.abs(ref[i] - actual[i]) + " > " + bound + ")");
            }
        }
    }

    public static void assertClose(String what, double ref, double actual) {
        assertClose(what, new double[] {ref}, new double[] {actual});
    }
}
