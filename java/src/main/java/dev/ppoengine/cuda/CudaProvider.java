package dev.ppoengine.cuda;

import dev.ppoengine.kernels.BackendProvider;
import dev.ppoengine.kernels.PpoKernels;

/** The {@code cuda} backend: usable when libppo_cuda.so loads and the driver reports at least one device. */
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

    @Override
    public PpoKernels create() { return new CudaKernels(CudaRuntime.cuda()); }
}
