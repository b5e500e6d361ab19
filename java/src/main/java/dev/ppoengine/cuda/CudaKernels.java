package dev.ppoengine.cuda;

/**
 * The {@code cuda} backend: every op of {@link dev.ppoengine.kernels.PpoKernels} on device tensors
 * ({@link dev.ppoengine.tensor.Tensor#device}), issued on one CUDA stream of libppo_cuda.so.
 *
 * <p>Caller-owned memory: a trainer that already owns device buffers and a stream wraps its pointers with
 * {@code Tensor.device(address, dtype, rowStride, shape...)} and calls {@link #onStream(CudaRuntime, long)} with its
 * cudaStream_t — no copies, no allocation besides small scratch for reductions. Ops that return scalars (losses,
 * statistics) and ops that check data on the device (labels, the masked_whiten token count) synchronise the stream;
 * the others are stream-ordered and return at once ({@link #synchronize()} waits for them).
 *
 * <p>On {@link CudaRuntime#sim()} the same class drives the emulator with emulated device memory
 * ({@link DeviceBuffer}), which is how the device-memory paths are tested without a GPU.
 */
public final class CudaKernels extends LauncherKernels {

    /** The real library with a new stream of its own (closed by {@link #close()}). */
    public CudaKernels() {
        this(CudaRuntime.cuda());
    }

    /** A new stream of {@code runtime} (closed by {@link #close()}). */
    public CudaKernels(CudaRuntime runtime) {
        super(true, runtime, CudaStream.create(runtime), true);
    }

    private CudaKernels(CudaRuntime runtime, CudaStream stream) {
        super(true, runtime, stream, false);
    }

    /** Ops issued on a caller-owned cudaStream_t (0 = default stream), never destroyed here. */
    public static CudaKernels onStream(CudaRuntime runtime, long cudaStream) {
        return new CudaKernels(runtime, CudaStream.wrap(runtime, cudaStream));
    }

    /** Ops issued on {@code stream} (not closed by this object). */
    public static CudaKernels onStream(CudaStream stream) {
        return new CudaKernels(stream.runtime(), stream);
    }

    @Override
    public String name() {
        return runtime.name();
    }
}
