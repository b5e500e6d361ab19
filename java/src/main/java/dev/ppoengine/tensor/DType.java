package dev.ppoengine.tensor;

import java.util.Locale;

/**
 * Element types the engine reads and writes. Names follow the safetensors header ("F32", "BF16", ...).
 * Float types are read into f32/f64 registers; integer types carry labels and masks.
 * F64 exists for I/O only (PyTorch float64 files): the kernels never take it, the CLI converts it to f32.
 */
public enum DType {
    F32(4, "F32"),
    F64(8, "F64"),
    BF16(2, "BF16"),
    F16(2, "F16"),
    I32(4, "I32"),
    I64(8, "I64"),
    U8(1, "U8"),
    BOOL(1, "BOOL");

    private final int byteSize;
    private final String safetensorsName;

    DType(int byteSize, String safetensorsName) {
        this.byteSize = byteSize;
        this.safetensorsName = safetensorsName;
    }

    public int byteSize() { return byteSize; }

    public String safetensorsName() { return safetensorsName; }

    public boolean isFloating() { return this == F32 || this == F64 || this == BF16 || this == F16; }

    public boolean isInteger() { return this == I32 || this == I64 || this == U8 || this == BOOL; }

    /** Parses a safetensors dtype name; null when unknown. */
    public static DType fromSafetensors(String name) {
        for (DType d : values()) if (d.safetensorsName.equals(name)) return d;
        return null;
    }

    /** Parses a user-facing name (f32, bf16, float32, bfloat16, ...), throwing on anything else. */
    public static DType parse(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        return switch (n) {
            case "f32", "float32", "float" -> F32;
            case "f64", "float64", "double" -> F64;
            case "bf16", "bfloat16" -> BF16;
            case "f16", "float16", "half" -> F16;
            case "i32", "int32", "int" -> I32;
            case "i64", "int64", "long" -> I64;
            case "u8", "uint8" -> U8;
            case "bool" -> BOOL;
            default -> throw new IllegalArgumentException("unknown dtype '" + name + "' (expected f32, f64, bf16, f16, i32, i64, u8 or bool)");
        };
    }

    @Override
    public String toString() { return name().toLowerCase(Locale.ROOT); }

    // ---- 16-bit float conversions (round to nearest even), used by host code and tests ----

    /** bf16 bits -> f32: the bf16 value is the top half of an f32. */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /** f32 -> bf16 bits with round-to-nearest-even; NaN stays a (quiet) NaN. */
    public static short floatToBf16(float f) {
        int x = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) ((x >>> 16) | 0x0040);
        int rounding = 0x7fff + ((x >>> 16) & 1);
        return (short) ((x + rounding) >>> 16);
    }

    public static float f16ToFloat(short bits) { return Float.float16ToFloat(bits); }

    public static short floatToF16(float f) { return Float.floatToFloat16(f); }
}
