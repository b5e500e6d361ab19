package dev.ppoengine.cuda;

import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.ADDRESS;

/**
 * Device memory of one {@link CudaRuntime} (cudaMalloc; host memory on the emulator), freed by {@link #close()}
 * (idempotent). Views as {@link Tensor#device} tensors, host↔device copies through a {@link CudaStream} (complete
 * when the call returns). A tensor view must not outlive its buffer.
 */
public final class DeviceBuffer implements AutoCloseable {
    private final CudaRuntime runtime;
    private final long address;
    private final long bytes;
    private boolean closed;

    private DeviceBuffer(CudaRuntime runtime, long address, long bytes) {
        this.runtime = runtime;
        this.address = address;
        this.bytes = bytes;
    }

    /** Allocates {@code bytes} (≥ 0) of device memory (contents undefined). */
    public static DeviceBuffer allocate(CudaRuntime runtime, long bytes) {
        if (bytes < 0) throw new IllegalArgumentException("bytes: expected >= 0, got " + bytes);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            runtime.check(runtime.api.ppo_cuda_malloc(bytes, out), "ppo_cuda_malloc of " + bytes + " bytes");
            return new DeviceBuffer(runtime, out.get(ADDRESS, 0).address(), bytes);
        }
    }

    /** A device copy of a host tensor, same dtype, shape and row stride. */
    public static DeviceBuffer upload(CudaRuntime runtime, Tensor host, CudaStream stream) {
        if (host.isDevice()) throw new IllegalArgumentException("upload: expected a host tensor, got " + host);
        DeviceBuffer b = allocate(runtime, host.spanBytes());
        try {
            b.copyFromHost(host.segment().asSlice(0, host.spanBytes()), 0, stream);
        } catch (RuntimeException e) {
            b.close();
            throw e;
        }
        return b;
    }

    public CudaRuntime runtime() { return runtime; }

    public long byteSize() { return bytes; }

    /** The device address. */
    public long address() {
        if (closed) throw new IllegalStateException("device buffer is closed");
        return address;
    }

    /** A dense device tensor over the start of this buffer. */
    public Tensor tensor(DType dtype, long... shape) {
        long cols = shape.length == 0 ? 1 : shape[shape.length - 1];
        return strided(dtype, cols, shape);
    }

    /** A device tensor whose rows are {@code rowStride} elements apart. */
    public Tensor strided(DType dtype, long rowStride, long... shape) {
        Tensor t = Tensor.device(address(), dtype, rowStride, shape);
        if (t.spanBytes() > bytes) {
            throw new IllegalArgumentException("tensor " + dtype + t.shapeString() + " (stride " + rowStride + ") needs "
                    + t.spanBytes() + " bytes, the buffer has " + bytes);
        }
        return t;
    }

    /** Copies {@code src} (host) to this buffer at {@code offset}; done when the call returns. */
    public void copyFromHost(MemorySegment src, long offset, CudaStream stream) {
        checkRange(offset, src.byteSize());
        runtime.check(runtime.api.ppo_cuda_memcpy_h2d(stream.segment(), MemorySegment.ofAddress(address() + offset), src,
                src.byteSize()), "ppo_cuda_memcpy_h2d");
    }

    /** Copies {@code dst.byteSize()} bytes from this buffer at {@code offset} to host {@code dst}. */
    public void copyToHost(MemorySegment dst, long offset, CudaStream stream) {
        checkRange(offset, dst.byteSize());
        runtime.check(runtime.api.ppo_cuda_memcpy_d2h(stream.segment(), dst, MemorySegment.ofAddress(address() + offset),
                dst.byteSize()), "ppo_cuda_memcpy_d2h");
    }

    /** Copies this buffer's first bytes into a host tensor of the same span (e.g. an output computed on the device). */
    public void download(Tensor host, CudaStream stream) {
        if (host.isDevice()) throw new IllegalArgumentException("download: expected a host tensor, got " + host);
        copyToHost(host.segment().asSlice(0, host.spanBytes()), 0, stream);
    }

    /** Sets every byte to {@code value} (stream-ordered). */
    public void fill(int value, CudaStream stream) {
        runtime.check(runtime.api.ppo_cuda_memset(stream.segment(), MemorySegment.ofAddress(address()), value, bytes),
                "ppo_cuda_memset");
    }

    private void checkRange(long offset, long n) {
        if (offset < 0 || n < 0 || offset > bytes - n) {
            throw new IllegalArgumentException("copy of " + n + " bytes at offset " + offset + " exceeds the buffer of "
                    + bytes + " bytes");
        }
    }

    public boolean isClosed() { return closed; }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        runtime.check(runtime.api.ppo_cuda_free(MemorySegment.ofAddress(address)), "ppo_cuda_free");
    }
}
