package dev.ppoengine.cli;

import dev.ppoengine.kernels.Checks;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.SafetensorsFile;
import dev.ppoengine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The tensors of one {@code ppo compute} call, read from the input file and brought into the form the kernels take
 * (SPEC "The compute command"):
 * <ul>
 *   <li>per-token float inputs may be f32, bf16, f16 or f64 and are converted to dense f32 (bf16/f16 exactly;
 *       f64 rounds to the nearest f32); f32 inputs are used in place (views of the file mapping);</li>
 *   <li>per-token tensors are [B, T] or [T] (= one sequence, treated as [1, T]); every per-token input of a call
 *       must have the shape of the first one read, and per-token outputs are written in that shape;</li>
 *   <li>masks may be bool, u8, i32, i64 or f32 (and bf16/f16/f64, converted to f32 0/1), nonzero = valid;</li>
 *   <li>with {@code check_finite=true}, every float input is checked for NaN/inf before the op runs.</li>
 * </ul>
 * Tensors in the file that the op does not read are ignored. Problems are {@link CliException}s naming the tensor.
 */
final class ComputeIo {
    static final Set<DType> FLOAT_INPUTS = EnumSet.of(DType.F32, DType.BF16, DType.F16, DType.F64);

    private final SafetensorsFile file;
    private final Arena arena;
    private final boolean checkFinite;
    private final String op;
    private final String reads;

    /** Shape of the first per-token input as stored in the file, and its name (for messages). */
    private long[] tokenShape;
    private String tokenShapeFrom;

    private final Map<String, Tensor> outputs = new LinkedHashMap<>();

    /**
     * @param op    the op's name, for messages
     * @param reads the op's inputs as a human-readable list, for the "missing tensor" message
     */
    ComputeIo(SafetensorsFile file, Arena arena, boolean checkFinite, String op, String reads) {
        this.file = file;
        this.arena = arena;
        this.checkFinite = checkFinite;
        this.op = op;
        this.reads = reads;
    }

    Arena arena() { return arena; }

    // ------------------------------------------------------------------ raw access

    /** The tensor named {@code name} or null; float tensors are checked for non-finite values when asked to. */
    Tensor find(String name) {
        Tensor t = file.tensors().get(name);
        if (t != null && checkFinite) Checks.finite(name, t);
        return t;
    }

    Tensor require(String name) {
        Tensor t = find(name);
        if (t == null) {
            throw new CliException(CliException.INPUT, file.fileName() + ": missing tensor '" + name + "' ("
                    + op + " reads " + reads + "; the file has " + describeContents() + ")");
        }
        return t;
    }

    private String describeContents() {
        if (file.tensors().isEmpty()) return "no tensors";
        StringBuilder b = new StringBuilder();
        int shown = 0;
        for (String n : file.tensors().keySet()) {
            if (shown++ == 12) {
                b.append(", ...");
                break;
            }
            b.append(b.isEmpty() ? "" : ", ").append(n);
        }
        return b.toString();
    }

    private static CliException bad(String message) { return new CliException(CliException.INPUT, message); }

    // ------------------------------------------------------------------ per-token tensors

    /** A required per-token float input as dense f32 [B, T]. */
    Tensor tokens(String name) { return tokensOrNull(name, true); }

    /** An optional per-token float input as dense f32 [B, T], or null when absent. */
    Tensor optionalTokens(String name) { return tokensOrNull(name, false); }

    private Tensor tokensOrNull(String name, boolean required) {
        Tensor t = required ? require(name) : find(name);
        if (t == null) return null;
        checkTokenShape(name, t);
        return toBatch(toF32(name, t));
    }

    /** A required mask with the per-token shape, as [B, T]. */
    Tensor mask(String name) { return maskOrNull(name, true); }

    /** An optional mask with the per-token shape, as [B, T], or null. */
    Tensor optionalMask(String name) { return maskOrNull(name, false); }

    private Tensor maskOrNull(String name, boolean required) {
        Tensor t = required ? require(name) : find(name);
        if (t == null) return null;
        checkTokenShape(name, t);
        return toBatch(maskDtype(name, t));
    }

    /** A mask of any shape (group_advantages' [B, T] mask), with its dtype normalised. */
    Tensor anyMask(String name) {
        Tensor t = find(name);
        return t == null ? null : maskDtype(name, t);
    }

    /** The first per-token input fixes the shape; rank 1 [T] or rank 2 [B, T] only. */
    private void checkTokenShape(String name, Tensor t) {
        if (tokenShape == null) {
            if (t.rank() != 1 && t.rank() != 2) {
                throw bad(name + ": expected a per-token tensor of shape [B, T] or [T], got shape " + t.shapeString());
            }
            tokenShape = t.shape();
            tokenShapeFrom = name;
        } else if (!Arrays.equals(tokenShape, t.shape())) {
            throw bad(name + ": expected shape " + Arrays.toString(tokenShape) + " (the shape of " + tokenShapeFrom
                    + "), got " + t.shapeString());
        }
    }

    /** [T] → [1, T]; [B, T] unchanged. */
    private static Tensor toBatch(Tensor t) {
        return t.rank() == 1 ? t.reshape(1, t.dim(0)) : t;
    }

    /** B of the per-token layout (1 for a [T] input). */
    long batch() { return tokenShape.length == 1 ? 1 : tokenShape[0]; }

    /** A fresh zeroed f32 [B, T] output. */
    Tensor newTokens() {
        long b = batch(), t = tokenShape[tokenShape.length - 1];
        return Tensor.allocate(arena, DType.F32, b, t);
    }

    // ------------------------------------------------------------------ other inputs

    /** A float input of any shape as dense f32 (bf16/f16/f64 converted); integer types are an error. */
    Tensor floats(String name) {
        return toF32(name, require(name));
    }

    Tensor optionalFloats(String name) {
        Tensor t = find(name);
        return t == null ? null : toF32(name, t);
    }

    /** Logits [N, V] or [B, T, V] in f32, bf16 or f16 as stored (the kernels read these natively); f64 → f32. */
    Tensor logits() {
        Tensor t = require("logits");
        if (!FLOAT_INPUTS.contains(t.dtype())) {
            throw bad("logits: expected dtype f32, bf16, f16 or f64, got " + t.dtype());
        }
        return t.dtype() == DType.F64 ? toF32("logits", t) : t;
    }

    // ------------------------------------------------------------------ conversions

    private Tensor toF32(String name, Tensor t) {
        if (!FLOAT_INPUTS.contains(t.dtype())) {
            throw bad(name + ": expected a float dtype (f32, bf16, f16 or f64), got " + t.dtype());
        }
        if (t.dtype() == DType.F32 && t.isDense()) return t;
        Tensor f = Tensor.allocate(arena, DType.F32, t.shape());
        long n = t.numel();
        // bf16 and f16 widen exactly; f64 rounds to nearest f32 in setFloat's narrowing.
        for (long i = 0; i < n; i++) f.setFloat(i, t.getDouble(i));
        return f;
    }

    private Tensor maskDtype(String name, Tensor t) {
        if (Checks.MASK_TYPES.contains(t.dtype())) return t;
        if (!t.dtype().isFloating()) {
            throw bad(name + ": expected a mask of dtype bool, u8, i32, i64 or f32, got " + t.dtype());
        }
        // Any nonzero value is valid (SPEC): store 1/0 so a tiny f64 does not round to an f32 zero.
        Tensor f = Tensor.allocate(arena, DType.F32, t.shape());
        long n = t.numel();
        for (long i = 0; i < n; i++) f.setFloat(i, t.isSet(i) ? 1 : 0);
        return f;
    }

    // ------------------------------------------------------------------ outputs

    /** Records a per-token [B, T] output, to be written in the per-token input's shape. */
    void outputTokens(String name, Tensor bt) {
        outputs.put(name, bt.reshape(tokenShape));
    }

    /** Records an output as it is. */
    void output(String name, Tensor t) {
        outputs.put(name, t);
    }

    /** Records a scalar output as a 0-d f32 tensor. */
    void outputScalar(String name, double value) {
        Tensor s = Tensor.allocate(arena, DType.F32);
        s.setFloat(0, value);
        outputs.put(name, s);
    }

    Map<String, Tensor> outputs() { return outputs; }
}
