package dev.ppoengine.kernels;

import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.Set;

/**
 * Validation of op arguments, run in Java before any backend (and any native call) sees them.
 * Every failure is an {@link IllegalArgumentException} naming the argument, the expected and the actual value.
 */
public final class Checks {
    private Checks() {}

    public static final Set<DType> MASK_TYPES = EnumSet.of(DType.F32, DType.U8, DType.BOOL, DType.I32, DType.I64);
    public static final Set<DType> LOGIT_TYPES = EnumSet.of(DType.F32, DType.BF16, DType.F16);
    public static final Set<DType> LABEL_TYPES = EnumSet.of(DType.I32, DType.I64);

    public static Tensor present(String name, Tensor t) {
        if (t == null) throw new IllegalArgumentException(name + " is required but missing");
        return t;
    }

    public static void dtype(String name, Tensor t, Set<DType> allowed) {
        if (!allowed.contains(t.dtype())) {
            throw new IllegalArgumentException(name + ": expected dtype " + allowed + ", got " + t.dtype());
        }
    }

    public static void shape(String name, Tensor t, long... expected) {
        if (!Arrays.equals(t.shape(), expected)) {
            throw new IllegalArgumentException(name + ": expected shape " + Arrays.toString(expected) + ", got " + t.shapeString());
        }
    }

    public static void dense(String name, Tensor t) {
        if (!t.isDense()) {
            throw new IllegalArgumentException(name + ": expected a dense tensor, got row stride " + t.rowStride()
                    + " for rows of " + t.cols());
        }
    }

    /** A [B, T] f32 per-token input. */
    public static void tokens(String name, Tensor t, long b, long tt) {
        present(name, t);
        dtype(name, t, EnumSet.of(DType.F32));
        shape(name, t, b, tt);
        dense(name, t);
    }

    /** A [B, T] mask of any accepted mask dtype. */
    public static void mask(String name, Tensor t, long b, long tt) {
        present(name, t);
        dtype(name, t, MASK_TYPES);
        shape(name, t, b, tt);
        dense(name, t);
    }

    /** A dense f32 output of the given shape. */
    public static void output(String name, Tensor t, long... shape) {
        present(name, t);
        dtype(name, t, EnumSet.of(DType.F32));
        shape(name, t, shape);
        dense(name, t);
    }

    /** Returns [B, T] of a rank-2 per-token tensor. */
    public static long[] batchShape(String name, Tensor t) {
        present(name, t);
        if (t.rank() != 2) {
            throw new IllegalArgumentException(name + ": expected a [B, T] tensor (rank 2), got shape " + t.shapeString());
        }
        return t.shape();
    }

    /** Every tensor of one call must live where the backend computes (host or device). */
    public static void location(String backend, boolean device, String name, Tensor t) {
        if (t != null && t.isDevice() != device) {
            throw new IllegalArgumentException(name + ": the " + backend + " backend expects "
                    + (device ? "device" : "host") + " memory, got a " + (t.isDevice() ? "device" : "host") + " tensor");
        }
    }

    /** Labels in [0, V) (host tensors; device labels are checked by the kernel's error flag). */
    public static void labelRange(Tensor labels, long vocab) {
        if (labels.isDevice()) return;
        long n = labels.numel();
        for (long i = 0; i < n; i++) {
            long y = labels.getLong(i);
            if (y < 0 || y >= vocab) {
                throw new IllegalArgumentException("labels: row " + i + " has label " + y + ", outside [0, " + vocab + ")");
            }
        }
    }

    /** SPEC check_finite: names the first non-finite element. */
    public static void finite(String name, Tensor t) {
        if (t == null || t.isDevice() || !t.dtype().isFloating()) return;
        long n = t.numel();
        for (long i = 0; i < n; i++) {
            double v = t.getDouble(i);
            if (!Double.isFinite(v)) {
                throw new IllegalArgumentException(name + ": non-finite value " + v + " at flat index " + i
                        + " (shape " + t.shapeString() + ")");
            }
        }
    }
}
