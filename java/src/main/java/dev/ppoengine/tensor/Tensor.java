package dev.ppoengine.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * A view of n-dimensional data: a host {@link MemorySegment} (or a device address for the CUDA
 * backends) + {@link DType} + shape + row stride.
 *
 * <p>Layout: row-major. The last dimension is contiguous; consecutive "rows" (all leading dimensions
 * flattened) are {@code rowStride} elements apart, so a [B, T, V] window of a larger logits tensor
 * can be read in place. {@code rowStride == cols()} for a dense tensor. A 0-d tensor (scalar) has
 * an empty shape and one element. All offsets are 64-bit.
 */
public final class Tensor {
    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt I32_LE = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong I64_LE = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final ValueLayout.OfDouble F64_LE = ValueLayout.JAVA_DOUBLE_UNALIGNED;

    private final MemorySegment segment;   // host memory; null for a device tensor
    private final long deviceAddress;      // device pointer; 0 for a host tensor
    private final DType dtype;
    private final long[] shape;
    private final long rowStride;          // elements between consecutive rows (last dim = 1 element apart)

    private Tensor(MemorySegment segment, long deviceAddress, DType dtype, long[] shape, long rowStride) {
        if (dtype == null) throw new IllegalArgumentException("dtype must not be null");
        this.segment = segment;
        this.deviceAddress = deviceAddress;
        this.dtype = dtype;
        this.shape = shape.clone();
        for (long d : this.shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
        }
        long cols = cols();
        if (rowStride < cols) {
            throw new IllegalArgumentException("row stride " + rowStride + " is smaller than the row length " + cols);
        }
        this.rowStride = rowStride;
        if (segment != null) {
            long needed = spanBytes();
            if (segment.byteSize() < needed) {
                throw new IllegalArgumentException("segment of " + segment.byteSize() + " bytes is too small for "
                        + dtype + Arrays.toString(shape) + " with row stride " + rowStride + " (needs " + needed + ")");
            }
        }
    }

    /** A dense host tensor over {@code segment}. */
    public static Tensor of(MemorySegment segment, DType dtype, long... shape) {
        return new Tensor(segment, 0, dtype, shape, lastDim(shape));
    }

    /** A host tensor whose rows are {@code rowStride} elements apart. */
    public static Tensor strided(MemorySegment segment, DType dtype, long rowStride, long... shape) {
        return new Tensor(segment, 0, dtype, shape, rowStride);
    }

    /** A device tensor (CUDA backends): the address is a device pointer, never dereferenced on the host. */
    public static Tensor device(long address, DType dtype, long rowStride, long... shape) {
        if (address == 0) throw new IllegalArgumentException("device address must not be 0");
        return new Tensor(null, address, dtype, shape, rowStride);
    }

    /** Allocates a zeroed dense host tensor in {@code arena}. */
    public static Tensor allocate(Arena arena, DType dtype, long... shape) {
        long n = numel(shape);
        long bytes = Math.multiplyExact(n, (long) dtype.byteSize());
        MemorySegment seg = arena.allocate(Math.max(bytes, 1), 64);
        return new Tensor(seg, 0, dtype, shape, lastDim(shape));
    }

    /** Copies {@code values} into a new f32 tensor of the given shape. */
    public static Tensor ofFloats(Arena arena, float[] values, long... shape) {
        checkCount(values.length, shape);
        Tensor t = allocate(arena, DType.F32, shape);
        MemorySegment.copy(values, 0, t.segment, F32_LE, 0, values.length);
        return t;
    }

    /** Converts {@code values} to {@code dtype} (a float type) into a new tensor. */
    public static Tensor ofFloats(Arena arena, DType dtype, float[] values, long... shape) {
        checkCount(values.length, shape);
        Tensor t = allocate(arena, dtype, shape);
        for (int i = 0; i < values.length; i++) t.setFloat(i, values[i]);
        return t;
    }

    public static Tensor ofInts(Arena arena, int[] values, long... shape) {
        checkCount(values.length, shape);
        Tensor t = allocate(arena, DType.I32, shape);
        MemorySegment.copy(values, 0, t.segment, I32_LE, 0, values.length);
        return t;
    }

    public static Tensor ofLongs(Arena arena, long[] values, long... shape) {
        checkCount(values.length, shape);
        Tensor t = allocate(arena, DType.I64, shape);
        MemorySegment.copy(values, 0, t.segment, I64_LE, 0, values.length);
        return t;
    }

    /** A 0-d f32 tensor. */
    public static Tensor scalar(Arena arena, float value) {
        Tensor t = allocate(arena, DType.F32);
        t.setFloat(0, value);
        return t;
    }

    private static void checkCount(int count, long[] shape) {
        if (numel(shape) != count) {
            throw new IllegalArgumentException(count + " values do not fill shape " + Arrays.toString(shape));
        }
    }

    private static long lastDim(long[] shape) { return shape.length == 0 ? 1 : shape[shape.length - 1]; }

    public static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    // ---- shape ----

    public DType dtype() { return dtype; }
    public long[] shape() { return shape.clone(); }
    public int rank() { return shape.length; }
    public long dim(int i) { return shape[i < 0 ? shape.length + i : i]; }
    public long numel() { return numel(shape); }
    /** Length of the last dimension (1 for a scalar). */
    public long cols() { return lastDim(shape); }
    /** Product of all leading dimensions (1 for rank 0 and 1). */
    public long rows() {
        long r = 1;
        for (int i = 0; i < shape.length - 1; i++) r = Math.multiplyExact(r, shape[i]);
        return r;
    }
    public long rowStride() { return rowStride; }
    public boolean isDense() { return rowStride == cols(); }
    public boolean isDevice() { return segment == null; }
    public String shapeString() { return Arrays.toString(shape); }

    /** Bytes from the first to one past the last element (strided rows included). */
    public long spanBytes() {
        long n = numel();
        if (n == 0) return 0;
        long elems = Math.addExact(Math.multiplyExact(rows() - 1, rowStride), cols());
        return Math.multiplyExact(elems, (long) dtype.byteSize());
    }

    /** The host segment; throws for a device tensor. */
    public MemorySegment segment() {
        if (segment == null) throw new IllegalStateException("tensor lives on the device; no host segment");
        return segment;
    }

    /** The raw address: device pointer or host segment address. */
    public long address() { return segment == null ? deviceAddress : segment.address(); }

    /** The same memory viewed with another shape (must be dense and have the same element count). */
    public Tensor reshape(long... newShape) {
        if (numel(newShape) != numel()) {
            throw new IllegalArgumentException("cannot reshape " + shapeString() + " to " + Arrays.toString(newShape));
        }
        if (!isDense() && rank() > 1) throw new IllegalArgumentException("cannot reshape a strided tensor");
        return new Tensor(segment, deviceAddress, dtype, newShape, lastDim(newShape));
    }

    // ---- element access (host only; flat index i counts elements in row-major order ignoring stride) ----

    /** Byte offset of flat element i, honouring the row stride. */
    public long byteOffset(long i) {
        long c = cols();
        long idx = (c == 0 || rowStride == c) ? i : (i / c) * rowStride + (i % c);
        return idx * dtype.byteSize();
    }

    /** Reads element i of a float or integer tensor as a double. */
    public double getDouble(long i) {
        long off = byteOffset(i);
        return switch (dtype) {
            case F32 -> segment().get(F32_LE, off);
            case F64 -> segment().get(F64_LE, off);
            case BF16 -> DType.bf16ToFloat(segment().get(I16_LE, off));
            case F16 -> DType.f16ToFloat(segment().get(I16_LE, off));
            case I32 -> segment().get(I32_LE, off);
            case I64 -> segment().get(I64_LE, off);
            case U8, BOOL -> segment().get(ValueLayout.JAVA_BYTE, off) & 0xff;
        };
    }

    public float getFloat(long i) { return (float) getDouble(i); }

    /** Reads element i of an integer tensor (labels). */
    public long getLong(long i) {
        long off = byteOffset(i);
        return switch (dtype) {
            case I32 -> segment().get(I32_LE, off);
            case I64 -> segment().get(I64_LE, off);
            case U8, BOOL -> segment().get(ValueLayout.JAVA_BYTE, off) & 0xff;
            default -> throw new IllegalStateException("getLong on a " + dtype + " tensor");
        };
    }

    /** Mask semantics of SPEC: any nonzero value is valid. */
    public boolean isSet(long i) { return getDouble(i) != 0.0; }

    /** Writes element i, rounding to the tensor's dtype. */
    public void setFloat(long i, double v) {
        long off = byteOffset(i);
        switch (dtype) {
            case F32 -> segment().set(F32_LE, off, (float) v);
            case F64 -> segment().set(F64_LE, off, v);
            case BF16 -> segment().set(I16_LE, off, DType.floatToBf16((float) v));
            case F16 -> segment().set(I16_LE, off, DType.floatToF16((float) v));
            case I32 -> segment().set(I32_LE, off, (int) v);
            case I64 -> segment().set(I64_LE, off, (long) v);
            case U8, BOOL -> segment().set(ValueLayout.JAVA_BYTE, off, (byte) v);
        }
    }

    /** Copies the elements out as f32 (dense order). */
    public float[] toFloatArray() {
        long n = numel();
        if (n > Integer.MAX_VALUE - 8) throw new IllegalStateException("tensor too large for a Java array: " + n);
        float[] out = new float[(int) n];
        for (int i = 0; i < out.length; i++) out[i] = getFloat(i);
        return out;
    }

    /** Copies the elements out as double (dense order). */
    public double[] toDoubleArray() {
        long n = numel();
        if (n > Integer.MAX_VALUE - 8) throw new IllegalStateException("tensor too large for a Java array: " + n);
        double[] out = new double[(int) n];
        for (int i = 0; i < out.length; i++) out[i] = getDouble(i);
        return out;
    }

    @Override
    public String toString() {
        return "Tensor[" + dtype + shapeString() + (isDense() ? "" : " stride " + rowStride)
                + (isDevice() ? " device" : "") + "]";
    }
}
