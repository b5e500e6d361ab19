package dev.ppoengine.cuda;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * FFM binding of {@code cuda-kernels/ppo_cuda.h}: device memory, copies, streams and device information of a CUDA
 * launcher library. One handle per C function, built once per library; methods named after the C symbols.
 */
final class PpoCudaBinding {
    private static final MemoryLayout A = ADDRESS, I = JAVA_INT, J = JAVA_LONG;

    private final MethodHandle deviceCount, deviceName, deviceInfo, setDevice, malloc, free, memcpyH2d, memcpyD2h,
            memcpyD2d, memset, streamCreate, streamDestroy, streamSynchronize, isEmulator;

    PpoCudaBinding(SymbolLookup lib, String libName) {
        deviceCount = PpoKernelsBinding.handle(lib, libName, "ppo_cuda_device_count", I, A);
        deviceName = PpoKernelsBinding.handle(lib, libName, "ppo_cuda_device_name", I, I, A, J);
        deviceInfo = PpoKernelsBinding.handle(lib, libName, "ppo_cuda_device_info", I, I, A, A);
        setDevice = PpoKernelsBinding.handle(lib, libName, "ppo_cuda_set_device", I, I);
        malloc = PpoKernelsBinding.handle(lib, libName, "ppo_cuda_malloc", I, J, A);
        free = PpoKernelsBinding.handle(lib, libName, "ppo_cuda_free", I, A);
        memcpyH2d = PpoKernelsBinding.handle(lib, libName, "ppo_cuda_memcpy_h2d", I, A, A, A, J);
        memcpyD2h = PpoKernelsBinding.handle(lib, libName, "ppo_cuda_memcpy_d2h", I, A, A, A, J);
        memcpyD2d = PpoKernelsBinding.handle(lib, libName, "ppo_cuda_memcpy_d2d", I, A, A, A, J);
        memset = PpoKernelsBinding.handle(lib, libName, "ppo_cuda_memset", I, A, A, I, J);
        streamCreate = PpoKernelsBinding.handle(lib, libName, "ppo_cuda_stream_create", I, A);
        streamDestroy = PpoKernelsBinding.handle(lib, libName, "ppo_cuda_stream_destroy", I, A);
        streamSynchronize = PpoKernelsBinding.handle(lib, libName, "ppo_cuda_stream_synchronize", I, A);
        isEmulator = PpoKernelsBinding.handle(lib, libName, "ppo_cuda_is_emulator", I);
    }

    private static RuntimeException rethrow(Throwable t) { return PpoKernelsBinding.rethrow(t); }

    int ppo_cuda_device_count(MemorySegment count) {
        try { return (int) deviceCount.invokeExact(count); } catch (Throwable t) { throw rethrow(t); }
    }

    int ppo_cuda_device_name(int device, MemorySegment buf, long bufLen) {
        try { return (int) deviceName.invokeExact(device, buf, bufLen); } catch (Throwable t) { throw rethrow(t); }
    }

    int ppo_cuda_device_info(int device, MemorySegment computeCapability, MemorySegment multiprocessors) {
        try {
            return (int) deviceInfo.invokeExact(device, computeCapability, multiprocessors);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int ppo_cuda_set_device(int device) {
        try { return (int) setDevice.invokeExact(device); } catch (Throwable t) { throw rethrow(t); }
    }

    int ppo_cuda_malloc(long bytes, MemorySegment out) {
        try { return (int) malloc.invokeExact(bytes, out); } catch (Throwable t) { throw rethrow(t); }
    }

    int ppo_cuda_free(MemorySegment ptr) {
        try { return (int) free.invokeExact(ptr); } catch (Throwable t) { throw rethrow(t); }
    }

    int ppo_cuda_memcpy_h2d(MemorySegment stream, MemorySegment dst, MemorySegment src, long bytes) {
        try { return (int) memcpyH2d.invokeExact(stream, dst, src, bytes); } catch (Throwable t) { throw rethrow(t); }
    }

    int ppo_cuda_memcpy_d2h(MemorySegment stream, MemorySegment dst, MemorySegment src, long bytes) {
        try { return (int) memcpyD2h.invokeExact(stream, dst, src, bytes); } catch (Throwable t) { throw rethrow(t); }
    }

    int ppo_cuda_memcpy_d2d(MemorySegment stream, MemorySegment dst, MemorySegment src, long bytes) {
        try { return (int) memcpyD2d.invokeExact(stream, dst, src, bytes); } catch (Throwable t) { throw rethrow(t); }
    }

    int ppo_cuda_memset(MemorySegment stream, MemorySegment dst, int byteValue, long bytes) {
        try { return (int) memset.invokeExact(stream, dst, byteValue, bytes); } catch (Throwable t) { throw rethrow(t); }
    }

    int ppo_cuda_stream_create(MemorySegment out) {
        try { return (int) streamCreate.invokeExact(out); } catch (Throwable t) { throw rethrow(t); }
    }

    int ppo_cuda_stream_destroy(MemorySegment stream) {
        try { return (int) streamDestroy.invokeExact(stream); } catch (Throwable t) { throw rethrow(t); }
    }

    int ppo_cuda_stream_synchronize(MemorySegment stream) {
        try { return (int) streamSynchronize.invokeExact(stream); } catch (Throwable t) { throw rethrow(t); }
    }

    int ppo_cuda_is_emulator() {
        try { return (int) isEmulator.invokeExact(); } catch (Throwable t) { throw rethrow(t); }
    }
}
