package dev.ppoengine.cuda;

import dev.ppoengine.kernels.BackendProvider;
import dev.ppoengine.kernels.PpoKernels;

/** The {@code cuda-sim} backend: the CUDA kernels on the simt CPU emulator; usable when libppo_cuda_sim.so loads. */
public final class CudaSimProvider implements BackendProvider {
    @Override
    public String name() { return "cuda-sim"; }

    @Override
    public String unavailableReason() { return CudaRuntime.simUnavailableReason(); }

    @Override
    public PpoKernels create() { return new CudaSimKernels(CudaRuntime.sim()); }
}
