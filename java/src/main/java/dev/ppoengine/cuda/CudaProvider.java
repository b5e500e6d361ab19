package dev.ppoengine.cuda;

import dev.ppoengine.kernels.BackendProvider;
import dev.ppoengine.kernels.PpoKernels;

/**
 * The {@code cuda} backend: usable when libppo_cuda.so loads and the driver reports at least one device. Selected by
 * name it works on host tensors ({@link CudaStagedKernels}: copies in, runs on the GPU, copies out), so the CLI and
 * host-tensor callers can use it; code that keeps its tensors on the GPU uses {@link CudaKernels} directly.
 */
public final class CudaProvider implements BackendProvider {
    @Override
    public String name() { return "cuda"; }

    @Override
    public String unavailableReason() {
        String why = CudaRuntime.cudaUnavailableReason();
        if (why != null) return why;
        CudaRuntime rt = CudaRuntime.cuda();
        if (rt.deviceCount() < 1) return rt.lastError().isEmpty() ? "no CUDA device" : rt.lastError();
        return null;
    }

    /** Host-tensor kernels staged through device memory (the device API itself is {@link CudaKernels}). */
    @Override
    public PpoKernels create() { return new CudaStagedKernels(CudaRuntime.cuda()); }
}
