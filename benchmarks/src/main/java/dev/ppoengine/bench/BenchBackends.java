package dev.ppoengine.bench;

import dev.ppoengine.kernels.Backends;
import dev.ppoengine.kernels.PpoKernels;

import java.util.Set;

/**
 * The values of every benchmark's {@code @Param backend}: the engine's host backends {@code reference} (plain Java,
 * f64: the oracle, slow by design) and {@code cpu} (the native SIMD library), and {@code torch}, the PyTorch baseline
 * doing what trl does (see the dev.ppoengine.bench.torch package).
 *
 * <p>An engine backend that cannot load here (e.g. cpu before the native library is built into the jar) makes the
 * trial's setup throw with the backend's own reason, which JMH reports as a failed benchmark; benchmarks/run checks
 * availability first (see {@link BackendCheck}) and leaves such backends out of the run, naming the reason.
 */
public final class BenchBackends {
    private BenchBackends() {}

    public static final String TORCH = "torch";
    private static final Set<String> ENGINE = Set.of("reference", "cpu");

    public static boolean isTorch(String backend) {
        return TORCH.equals(backend);
    }

    /** Opens an engine backend; IllegalArgumentException naming the backend and why it cannot run here. */
    public static PpoKernels open(String backend) {
        if (!ENGINE.contains(backend)) {
            throw new IllegalArgumentException("backend must be one of reference, cpu, torch; got '" + backend + "'");
        }
        return Backends.create(backend);
    }
}
