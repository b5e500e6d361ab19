package dev.ppoengine.cpu;

import dev.ppoengine.kernels.BackendProvider;
import dev.ppoengine.kernels.PpoKernels;

/**
 * The {@code cpu} backend: the native C kernels through FFM. Unavailable (with the reason) on anything but linux
 * x86-64, when the jar lacks the library, or when it fails to load. Threads: {@code -Dppo.threads=N}
 * (default: all available processors).
 */
public final class NativeCpuProvider implements BackendProvider {
    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public String unavailableReason() {
        return NativeLibrary.unavailableReason();
    }

    @Override
    public PpoKernels create() {
        return new NativeCpuKernels();
    }
}
