package dev.ppoengine.testing;

import dev.ppoengine.kernels.Backends;
import dev.ppoengine.kernels.PpoKernels;
import org.junit.jupiter.api.Assumptions;

import java.util.stream.Stream;

/**
 * Backends for parameterised tests. Every op's test class compares each non-reference backend with the
 * reference; a backend that cannot load here is reported as SKIPPED with its reason (never silently passed).
 */
public final class TestBackends {
    private TestBackends() {}

    /**
     * Backends compared against the reference on host tensors. "cuda" takes host tensors too (it stages them through
     * device memory) and is reported as skipped, with the reason, where there is no GPU; the device-memory API has
     * its own tests (dev.ppoengine.cuda.CudaDeviceTest).
     */
    public static Stream<String> hostBackends() {
        return Stream.of("cpu", "cuda-sim", "cuda");
    }

    /** Opens {@code name} or aborts the test (reported as skipped) with the reason it is unavailable. */
    public static PpoKernels open(String name) {
        for (Backends.Status s : Backends.statuses()) {
            if (s.name().equals(name) && !s.available()) {
                Assumptions.abort("backend " + name + " unavailable: " + s.unavailableReason());
            }
        }
        return Backends.create(name);
    }
}
