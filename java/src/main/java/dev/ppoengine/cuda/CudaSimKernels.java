package dev.ppoengine.cuda;

/**
 * The {@code cuda-sim} backend: the CUDA kernels of cuda-kernels/ compiled by g++ against the simt emulator
 * (libppo_cuda_sim.so), run on host tensors — host memory stands in for device memory. Each block's threads are real
 * threads with real barriers and warp exchanges, so this is the CUDA code path itself, tested without a GPU (slowly:
 * about a microsecond per thread per barrier). For device-memory semantics on the emulator use
 * {@code new CudaKernels(CudaRuntime.sim())} with {@link DeviceBuffer}s.
 */
public final class CudaSimKernels extends LauncherKernels {

    public CudaSimKernels() {
        this(CudaRuntime.sim());
    }

    CudaSimKernels(CudaRuntime runtime) {
        super(false, runtime, CudaStream.create(runtime), true);
    }

    @Override
    public String name() {
        return "cuda-sim";
    }
}
