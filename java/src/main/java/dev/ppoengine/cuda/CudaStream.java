package dev.ppoengine.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.ADDRESS;

/**
 * A CUDA stream of one {@link CudaRuntime}: kernels and copies issued on it run in order. Either created here
 * (non-blocking, destroyed by {@link #close()}) or a caller's existing cudaStream_t wrapped with {@link #wrap}
 * (never destroyed here). {@link #close()} is idempotent.
 */
public final class CudaStream implements AutoCloseable {
    private final CudaRuntime runtime;
    private final long handle;
    private final boolean owned;
    private boolean closed;

    private CudaStream(CudaRuntime runtime, long handle, boolean owned) {
        this.runtime = runtime;
        this.handle = handle;
        this.owned = owned;
    }

    /** A new non-blocking stream, destroyed on close. */
    public static CudaStream create(CudaRuntime runtime) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            runtime.check(runtime.api.ppo_cuda_stream_create(out), "ppo_cuda_stream_create");
            return new CudaStream(runtime, out.get(ADDRESS, 0).address(), true);
        }
    }

    /** A caller-owned cudaStream_t (0 = the default stream); close() leaves it alone. */
    public static CudaStream wrap(CudaRuntime runtime, long cudaStream) {
        return new CudaStream(runtime, cudaStream, false);
    }

    public CudaRuntime runtime() { return runtime; }

    /** The cudaStream_t value. */
    public long handle() {
        if (closed) throw new IllegalStateException("stream is closed");
        return handle;
    }

    MemorySegment segment() { return MemorySegment.ofAddress(handle()); }

    /** Waits until everything issued on this stream has finished. */
    public void synchronize() {
        runtime.check(runtime.api.ppo_cuda_stream_synchronize(segment()), "ppo_cuda_stream_synchronize");
    }

    public boolean isClosed() { return closed; }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (owned) runtime.check(runtime.api.ppo_cuda_stream_destroy(MemorySegment.ofAddress(handle)), "ppo_cuda_stream_destroy");
    }
}
