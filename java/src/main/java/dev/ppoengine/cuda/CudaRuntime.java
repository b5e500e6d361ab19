package dev.ppoengine.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Path;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * One loaded CUDA launcher library: {@link #cuda()} (libppo_cuda.so, nvcc-built, needs an NVIDIA driver and GPU)
 * or {@link #sim()} (libppo_cuda_sim.so, the same kernel sources on the simt CPU emulator, where device memory is
 * host memory). Both export the same ABI: the kernels of ppo_kernels.h and the device API of ppo_cuda.h.
 *
 * <p>Each library is opened once per JVM, on first use; when it cannot be opened, {@link #cudaUnavailableReason()} /
 * {@link #simUnavailableReason()} say why and the accessors throw {@link IllegalStateException} with that reason.
 */
public final class CudaRuntime {
    /** The ABI version this Java code was written against (PPO_ABI_VERSION of ppo_kernels.h). */
    static final int ABI_VERSION = 1;

    static final int PPO_OK = 0, PPO_ERR_INVALID = 1, PPO_ERR_LABEL = 2, PPO_ERR_ALLOC = 3, PPO_ERR_DEVICE = 4;

    private final String name;
    private final Path path;
    final PpoKernelsBinding kernels;
    final PpoCudaBinding api;
    /** The library's symbols, for bindings beyond ppo_kernels.h / ppo_cuda.h (the linear_token_logprobs tile steps). */
    final SymbolLookup lookup;
    private final boolean emulator;

    private CudaRuntime(String name, Path path, PpoKernelsBinding kernels, PpoCudaBinding api, SymbolLookup lookup) {
        this.name = name;
        this.path = path;
        this.kernels = kernels;
        this.api = api;
        this.lookup = lookup;
        this.emulator = api.ppo_cuda_is_emulator() != 0;
    }

    private record Loaded(CudaRuntime runtime, String failure) {}

    private static Loaded load(String backend, String file, String property) {
        CudaLibrary.Opened o = CudaLibrary.open(file, property);
        if (o.failure() != null) return new Loaded(null, o.failure());
        try {
            PpoKernelsBinding k = new PpoKernelsBinding(o.lookup(), file);
            int v = k.ppo_abi_version();
            if (v != ABI_VERSION) {
                return new Loaded(null, o.path() + " has ABI version " + v + ", this jar expects " + ABI_VERSION);
            }
            return new Loaded(new CudaRuntime(backend, o.path(), k, new PpoCudaBinding(o.lookup(), file), o.lookup()), null);
        } catch (RuntimeException e) {
            return new Loaded(null, "cannot bind " + o.path() + ": " + e.getMessage());
        }
    }

    private static final class Real {
        static final Loaded LOADED = load("cuda", "libppo_cuda.so", "ppo.cuda.lib");
    }

    private static final class Sim {
        static final Loaded LOADED = load("cuda-sim", "libppo_cuda_sim.so", "ppo.cuda.sim.lib");
    }

    /** Null when libppo_cuda.so is loaded (a device may still be missing: see {@link #deviceCount()}). */
    public static String cudaUnavailableReason() { return Real.LOADED.failure(); }

    /** Null when libppo_cuda_sim.so is loaded. */
    public static String simUnavailableReason() { return Sim.LOADED.failure(); }

    /** The real CUDA library. */
    public static CudaRuntime cuda() {
        if (Real.LOADED.runtime() == null) throw new IllegalStateException("cuda unavailable: " + Real.LOADED.failure());
        return Real.LOADED.runtime();
    }

    /** The emulator library. */
    public static CudaRuntime sim() {
        if (Sim.LOADED.runtime() == null) throw new IllegalStateException("cuda-sim unavailable: " + Sim.LOADED.failure());
        return Sim.LOADED.runtime();
    }

    /** "cuda" or "cuda-sim". */
    public String name() { return name; }

    public Path path() { return path; }

    /** True for the simt emulator build. */
    public boolean isEmulator() { return emulator; }

    /** The library's message for the last failed call on this thread. */
    public String lastError() { return kernels.ppo_last_error(); }

    /** Usable devices (0 when there is no driver or no GPU; then {@link #lastError()} says why). */
    public int deviceCount() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(JAVA_INT);
            check(api.ppo_cuda_device_count(n), "ppo_cuda_device_count");
            return n.get(JAVA_INT, 0);
        }
    }

    public String deviceName(int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(256);
            check(api.ppo_cuda_device_name(device, buf, 256), "ppo_cuda_device_name");
            return buf.getString(0);
        }
    }

    /** Compute capability as major·10 + minor (90 = sm_90). */
    public int computeCapability(int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cc = a.allocate(JAVA_INT), sms = a.allocate(JAVA_INT);
            check(api.ppo_cuda_device_info(device, cc, sms), "ppo_cuda_device_info");
            return cc.get(JAVA_INT, 0);
        }
    }

    public int multiprocessors(int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cc = a.allocate(JAVA_INT), sms = a.allocate(JAVA_INT);
            check(api.ppo_cuda_device_info(device, cc, sms), "ppo_cuda_device_info");
            return sms.get(JAVA_INT, 0);
        }
    }

    /** Makes {@code device} current for the calling thread. */
    public void setDevice(int device) { check(api.ppo_cuda_set_device(device), "ppo_cuda_set_device"); }

    /** Throws for a non-zero status: IllegalArgumentException for bad input, CudaException for CUDA failures. */
    void check(int status, String what) {
        if (status == PPO_OK) return;
        String msg = what + ": " + lastError();
        if (status == PPO_ERR_INVALID || status == PPO_ERR_LABEL) throw new IllegalArgumentException(msg);
        throw new CudaException(status, msg + " [" + name + "]");
    }

    @Override
    public String toString() { return name + " (" + path + ")"; }
}
