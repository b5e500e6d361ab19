package dev.ppoengine.ops;

import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.reference.ReferenceKernels;
import dev.ppoengine.testing.TestBackends;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The two cross-backend tests of the loss ops (policy_loss, value_loss, ppo_loss): each op's sweep of awkward shapes
 * and switches against the reference runs on every host backend (a backend that cannot load is reported skipped with
 * its reason), and once on the reference itself (which exercises the harness and the reference's bitwise
 * repeatability).
 */
abstract class ReferenceSweepTest {

    /** Every output of {@code other} within the SPEC tolerance of the reference, and two runs bitwise identical. */
    protected abstract void sweepAgainstReference(PpoKernels other);

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.ppoengine.testing.TestBackends#hostBackends")
    void backendMatchesReference(String backend) {
        try (PpoKernels other = TestBackends.open(backend)) {
            sweepAgainstReference(other);
        }
    }

    @Test
    void referenceSweepIsSelfConsistent() {
        sweepAgainstReference(new ReferenceKernels());
    }
}
