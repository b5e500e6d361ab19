package dev.ppoengine.cuda;

import dev.ppoengine.tensor.Tensor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * HostStaging on the emulator's device memory (the same copies as on a GPU): an input passed twice is copied once, an
 * output written from scratch comes back, an accumulated output ({@code keep}) starts from the host values, and an
 * inactive staging passes every tensor through.
 */
class HostStagingTest {

    @Test
    void copiesInputsOnceAndOutputsBack() {
        String why = CudaRuntime.simUnavailableReason();
        if (why != null) Assumptions.abort("backend cuda-sim unavailable: " + why);
        CudaRuntime rt = CudaRuntime.sim();
        try (Arena arena = Arena.ofConfined(); CudaStream stream = CudaStream.create(rt)) {
            Tensor in = Tensor.ofFloats(arena, new float[] {1, 2, 3}, 3);
            Tensor fresh = Tensor.ofFloats(arena, new float[] {0, 0, 0}, 3);
            Tensor acc = Tensor.ofFloats(arena, new float[] {10, 20, 30}, 3);
            try (HostStaging s = new HostStaging(rt, stream, true)) {
                Tensor dIn = s.in(in);
                assertTrue(dIn.isDevice());
                assertSame(dIn, s.in(in), "one copy of a tensor passed twice");
                Tensor dFresh = s.out(fresh), dAcc = s.out(acc, true);
                assertNotEquals(dIn.address(), dFresh.address());
                // "kernels": device memory of the emulator is host memory, written here directly
                float[] accNow = new float[3];
                for (int i = 0; i < 3; i++) {
                    MemoryAt.set(dFresh, i, 5f + i);
                    accNow[i] = MemoryAt.get(dAcc, i);
                    MemoryAt.set(dAcc, i, accNow[i] + 1f);
                }
                assertArrayEquals(new float[] {10, 20, 30}, accNow, "keep: the output starts from the host values");
                s.finish();
            }
            assertArrayEquals(new float[] {5, 6, 7}, fresh.toFloatArray());
            assertArrayEquals(new float[] {11, 21, 31}, acc.toFloatArray());
            assertArrayEquals(new float[] {1, 2, 3}, in.toFloatArray(), "inputs are not copied back");
            try (HostStaging off = new HostStaging(rt, stream, false)) {
                assertSame(in, off.in(in));
                assertSame(fresh, off.out(fresh, true));
                off.finish();
            }
        }
    }

    /** The emulator's device pointers are host addresses. */
    private static final class MemoryAt {
        static java.lang.foreign.MemorySegment seg(Tensor d) {
            return java.lang.foreign.MemorySegment.ofAddress(d.address()).reinterpret(d.spanBytes());
        }

        static void set(Tensor d, long i, float v) {
            seg(d).setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, v);
        }

        static float get(Tensor d, long i) {
            return seg(d).getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i);
        }
    }
}
