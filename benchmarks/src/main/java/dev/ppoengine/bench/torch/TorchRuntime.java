package dev.ppoengine.bench.torch;

import dev.ppoengine.bench.BenchConfig;
import dev.ppoengine.tensor.DType;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.openjdk.jmh.infra.Blackhole;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Properties;
import java.util.function.Supplier;

/**
 * PyTorch (libtorch, CPU) through the bytedeco pytorch preset: loading, the thread count, zero-copy wrapping of the
 * engine's tensors, and the per-invocation memory scope.
 *
 * <p>Every baseline wraps the benchmark's own off-heap tensors with {@code from_blob} (no copy, same bits as the
 * engine backends read), so only the PyTorch ops are timed. Temporaries created while a baseline runs belong to a
 * {@link PointerScope} that frees them when the invocation ends, as Python's reference counting frees trl's.
 */
public final class TorchRuntime {
    private TorchRuntime() {}

    private static final int THREADS;
    static {
        THREADS = BenchConfig.threads();
        torch.set_num_threads(THREADS);   // intra-op pool = the engine's thread count (BenchConfig)
    }

    /** Loads libtorch (first use extracts it to the JavaCPP cache) and fixes the thread count; returns it. */
    public static int init() {
        return THREADS;
    }

    /** The bytedeco pytorch artifact version, e.g. "2.10.0-1.5.13" (PyTorch 2.10.0). */
    public static String version() {
        try (InputStream in = torch.class.getResourceAsStream("/META-INF/maven/org.bytedeco/pytorch/pom.properties")) {
            if (in == null) return "unknown";
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("version", "unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }

    /** A JavaCPP pointer at a segment's address; it does not own the memory (the benchmark's arena does). */
    private static final class SegmentPointer extends Pointer {
        SegmentPointer(MemorySegment segment) {
            address = segment.address();
            position = 0;
            limit = segment.byteSize();
            capacity = segment.byteSize();
        }
    }

    static ScalarType scalarType(DType dtype) {
        return switch (dtype) {
            case F32 -> ScalarType.Float;
            case F64 -> ScalarType.Double;
            case BF16 -> ScalarType.BFloat16;
            case F16 -> ScalarType.Half;
            case I32 -> ScalarType.Int;
            case I64 -> ScalarType.Long;
            case U8 -> ScalarType.Byte;
            case BOOL -> ScalarType.Bool;
        };
    }

    /**
     * A torch view of an engine host tensor, sharing its memory (from_blob without a deleter), with the engine
     * tensor's shape and row stride (strides: 1 for the last dim, rowStride for the one before, dense above).
     */
    public static Tensor wrap(dev.ppoengine.tensor.Tensor t) {
        long[] shape = t.shape();
        long[] strides = new long[shape.length];
        for (int k = shape.length - 1; k >= 0; k--) {
            if (k == shape.length - 1) strides[k] = 1;
            else if (k == shape.length - 2) strides[k] = t.rowStride();
            else strides[k] = strides[k + 1] * shape[k + 1];
        }
        return torch.from_blob(new SegmentPointer(t.segment()), shape, strides, new TensorOptions(scalarType(t.dtype())));
    }

    /** Copies a torch tensor's values out as f32, row-major (tests and sanity checks only, never timed). */
    public static float[] toFloats(Tensor t) {
        try (PointerScope scope = new PointerScope()) {
            Tensor c = t.detach().to(ScalarType.Float).contiguous();
            long n = c.numel();
            MemorySegment seg = MemorySegment.ofAddress(c.data_ptr().address()).reinterpret(n * Float.BYTES);
            return seg.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    /** The value of a 0-d (or one-element) tensor. */
    public static double item(Tensor t) {
        return t.item_double();
    }

    public static Scalar scalar(double v) {
        return new Scalar(v);
    }

    /**
     * Runs one baseline invocation inside a fresh pointer scope (its temporaries are freed at the end) and hands the
     * outputs' addresses to the blackhole. PyTorch on the CPU is synchronous: the work is done when the ops return.
     */
    public static void run(Blackhole bh, Supplier<Tensor[]> baseline) {
        try (PointerScope scope = new PointerScope()) {
            for (Tensor out : baseline.get()) bh.consume(out.data_ptr().address());
        }
    }
}
