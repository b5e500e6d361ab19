package dev.ppoengine.ops;

import dev.ppoengine.cuda.CudaProvider;
import dev.ppoengine.cuda.CudaRuntime;
import dev.ppoengine.cuda.DeviceBuffer;
import dev.ppoengine.cuda.LinearTokenLogprobsCuda;
import dev.ppoengine.cuda.LinearTokenLogprobsCuda.GradGemm;
import dev.ppoengine.kernels.EntropyLogits;
import dev.ppoengine.kernels.LinearTokenLogprobs;
import dev.ppoengine.kernels.LogprobOptions;
import dev.ppoengine.reference.LinearTokenLogprobsReference;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;
import dev.ppoengine.testing.Rand;
import dev.ppoengine.testing.Tolerance;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * linear_token_logprobs through the CUDA library's driver ({@code ppo_linear_token_logprobs[_backward]}): on the
 * emulator ({@code cuda-sim}, every CI run) and on a GPU ({@code cuda}: cuBLAS GEMMs; reported as skipped with the
 * reason where there is none). Each case compares forward and backward with the f64 reference within SPEC
 * tolerances: host tensors (staged on the GPU), device tensors, tile plans chosen from a small workspace budget
 * (several row blocks and vocabulary chunks, sizes that divide neither N nor V), mixed dtypes, bias, strided hidden,
 * accumulation; and the fast gradient GEMMs (dZ rounded to bf16) within their own, looser bound.
 */
class LinearTokenLogprobsDeviceTest {

    private Arena arena;
    private final LinearTokenLogprobsReference ref = new LinearTokenLogprobsReference();

    @BeforeEach
    void open() {
        arena = Arena.ofConfined();
    }

    @AfterEach
    void close() {
        arena.close();
    }

    private static CudaRuntime runtime(String backend) {
        String why = backend.equals("cuda") ? new CudaProvider().unavailableReason() : CudaRuntime.simUnavailableReason();
        if (why != null) Assumptions.abort("backend " + backend + " unavailable: " + why);
        return backend.equals("cuda") ? CudaRuntime.cuda() : CudaRuntime.sim();
    }

    private static final String[] NAMES = {"logprobs", "entropy", "saved", "grad_hidden", "grad_weight", "grad_bias"};

    private static void assertAllClose(String what, Tensor[] want, Tensor[] got) {
        assertAllClose(what, want, got, 1.0);
    }

    /**
     * Forward outputs within SPEC's tolerance; gradients within it times {@code gradScale}. grad_weight sums N
     * products in f32 (the GEMM's accumulation, as SPEC says), so its rounding grows like √N: the GPU shapes with
     * N ≥ 130 rows use gradScale = √(N/16) (N = 130: 2.9e-5), the small shapes SPEC's 1e-5 itself.
     */
    private static void assertAllClose(String what, Tensor[] want, Tensor[] got, double gradScale) {
        for (int i = 0; i < want.length; i++) {
            if (want[i] == null) continue;
            double tol = i < 3 ? Tolerance.ATOL : Tolerance.ATOL * gradScale;
            Tolerance.assertClose(what + " " + NAMES[i], want[i].toDoubleArray(), got[i].toDoubleArray(), tol, tol);
        }
    }

    /** {N, H, V, hidden stride}; on a GPU also shapes big enough for cuBLAS's tiled kernels. */
    private static int[][] shapes(String backend) {
        List<int[]> s = new ArrayList<>(List.of(new int[] {1, 1, 1, 1}, new int[] {17, 8, 33, 8},
                new int[] {6, 5, 70, 9}, new int[] {3, 16, 41, 16}));
        if (backend.equals("cuda")) {
            s.add(new int[] {41, 64, 401, 64});
            s.add(new int[] {130, 256, 5003, 260});
            s.add(new int[] {200, 64, 12007, 64});
        }
        return s.toArray(new int[0][]);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"cuda-sim", "cuda"})
    void hostTensorsMatchTheReference(String backend) {
        CudaRuntime rt = runtime(backend);
        DType[][] types = {{DType.F32, DType.F32}, {DType.BF16, DType.BF16}, {DType.F16, DType.F16},
                {DType.F16, DType.F32}, {DType.F32, DType.BF16}};
        long seed = 1200;
        for (int[] s : shapes(backend)) {
            for (DType[] dt : types) {
                EntropyLogits mode = seed % 2 == 0 ? EntropyLogits.SCALED : EntropyLogits.RAW;
                double tau = seed % 3 == 0 ? 1.0 : 0.7;
                DType biasType = seed % 4 == 0 ? null : seed % 4 == 1 ? DType.F32 : dt[1];
                LinearProblem p = new LinearProblem(arena, s[0], s[1], s[2], dt[0], dt[1], biasType, tau, mode, seed++, s[3]);
                Tensor[] want = p.run(ref, null);
                // automatic tiles (the whole problem in one tile here) and fixed awkward ones
                try (LinearTokenLogprobsCuda auto = new LinearTokenLogprobsCuda(rt, null, 0, 0, 0, GradGemm.F32);
                     LinearTokenLogprobsCuda tiles = new LinearTokenLogprobsCuda(rt, null, 0, 5, 7, GradGemm.F32)) {
                    String what = backend + " N=" + s[0] + " H=" + s[1] + " V=" + s[2] + " " + dt[0] + "/" + dt[1]
                            + " bias " + biasType + " tau " + tau + " " + mode;
                    double gradScale = Math.max(1.0, Math.sqrt(s[0] / 16.0));
                    assertAllClose(what + " auto tiles", want, p.run(auto, want[2]), gradScale);
                    if (s[2] <= 5003) assertAllClose(what + " 5x7 tiles", want, p.run(tiles, want[2]), gradScale);
                    assertTrue(auto.lastWorkspaceBytes() > 0, "the tile plan reports its workspace");
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"cuda-sim", "cuda"})
    void aSmallWorkspaceSplitsRowsAndVocabulary(String backend) {
        CudaRuntime rt = runtime(backend);
        // a budget for a few rows × a few hundred columns: several row blocks and vocabulary chunks, neither dividing
        int n = backend.equals("cuda") ? 300 : 23, h = backend.equals("cuda") ? 96 : 6, v = backend.equals("cuda") ? 3001 : 301;
        long budget = backend.equals("cuda") ? 1L << 20 : 8L << 10;   // 1 MiB on the GPU: tiles of 75 × 1280
        LinearProblem p = new LinearProblem(arena, n, h, v, DType.BF16, DType.BF16, DType.BF16, 0.8, EntropyLogits.RAW, 77, h);
        Tensor[] want = p.run(ref, null);
        try (LinearTokenLogprobsCuda k = new LinearTokenLogprobsCuda(rt, null, budget, 0, 0, GradGemm.F32)) {
            assertAllClose(backend + " budget " + budget, want, p.run(k, want[2]), Math.max(1.0, Math.sqrt(n / 16.0)));
            assertTrue(k.lastWorkspaceBytes() <= budget, "workspace " + k.lastWorkspaceBytes() + " > budget " + budget);
            long logitsBytes = (long) n * v * 4;
            assertTrue(k.lastWorkspaceBytes() < logitsBytes / 2, "workspace " + k.lastWorkspaceBytes()
                    + " not below half the f32 logits " + logitsBytes);
        }
        // a budget that cannot hold one row of a tile is a clear error
        try (LinearTokenLogprobsCuda k = new LinearTokenLogprobsCuda(rt, null, 16, 0, 0, GradGemm.F32)) {
            RuntimeException e = assertThrows(RuntimeException.class, () -> p.run(k, want[2]));
            assertTrue(e.getMessage().contains("workspace"), e.getMessage());
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"cuda-sim", "cuda"})
    void deviceTensorsStridedHiddenAndAccumulate(String backend) {
        CudaRuntime rt = runtime(backend);
        LinearProblem p = new LinearProblem(arena, 19, 12, 77, DType.BF16, DType.BF16, DType.F32, 1.3, EntropyLogits.SCALED, 41, 15);
        Tensor[] want = p.run(ref, null);
        List<DeviceBuffer> buffers = new ArrayList<>();
        try (LinearTokenLogprobsCuda k = new LinearTokenLogprobsCuda(rt, null, 0, 8, 30, GradGemm.F32)) {
            java.util.function.Function<Tensor, Tensor> up = t -> {
                DeviceBuffer b = DeviceBuffer.upload(rt, t, k.stream());
                buffers.add(b);
                return b.strided(t.dtype(), t.rowStride(), t.shape());
            };
            Tensor dh = up.apply(p.hidden), dw = up.apply(p.weight), db = up.apply(p.bias), dl = up.apply(p.labels);
            Tensor dlp = up.apply(p.f32(p.n)), dent = up.apply(p.f32(p.n)), dsv = up.apply(p.f32(p.n, 3));
            k.forward(dh, dw, db, dl, p.o, dlp, dent, dsv);
            Tensor[] got = {p.f32(p.n), p.f32(p.n), p.f32(p.n, 3)};
            Tensor[] dev = {dlp, dent, dsv};
            for (int i = 0; i < 3; i++) buffer(buffers, dev[i]).download(got[i], k.stream());
            for (int i = 0; i < 3; i++) Tolerance.assertClose(backend + " device " + NAMES[i], want[i].toDoubleArray(), got[i].toDoubleArray());
            // backward accumulating onto 0.5 everywhere
            Tensor start = p.f32(p.n, p.h), startW = p.f32(p.v, p.h), startB = p.f32(p.v);
            for (Tensor t : new Tensor[] {start, startW, startB}) for (long i = 0; i < t.numel(); i++) t.setFloat(i, 0.5);
            Tensor dgh = up.apply(start), dgw = up.apply(startW), dgb = up.apply(startB);
            k.backward(dh, dw, db, dl, up.apply(want[2]), up.apply(p.gradLogprobs), up.apply(p.gradEntropy), p.o, dgh,
                    dgw, dgb, true);
            Tensor[] grads = {p.f32(p.n, p.h), p.f32(p.v, p.h), p.f32(p.v)};
            Tensor[] devG = {dgh, dgw, dgb};
            for (int i = 0; i < 3; i++) {
                buffer(buffers, devG[i]).download(grads[i], k.stream());
                double[] w = want[3 + i].toDoubleArray();
                for (int j = 0; j < w.length; j++) w[j] += 0.5;
                Tolerance.assertClose(backend + " device accumulated " + NAMES[3 + i], w, grads[i].toDoubleArray());
            }
            // every tensor of a call in the same memory as hidden
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> k.forward(dh, dw, db, p.labels, p.o, dlp, null, null));
            assertTrue(e.getMessage().contains("labels: expected device memory like hidden"), e.getMessage());
        } finally {
            for (DeviceBuffer b : buffers) b.close();
        }
    }

    private static DeviceBuffer buffer(List<DeviceBuffer> buffers, Tensor dev) {
        return buffers.stream().filter(b -> b.address() == dev.address()).findFirst().orElseThrow();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"cuda-sim", "cuda"})
    void badLabelsOnTheDeviceAreNamed(String backend) {
        CudaRuntime rt = runtime(backend);
        LinearProblem p = new LinearProblem(arena, 9, 4, 13, DType.F32, DType.F32, null, 1.0, EntropyLogits.SCALED, 5, 4);
        Tensor bad = Tensor.ofLongs(arena, new long[] {0, 1, 2, 3, 4, 5, 13, 7, 8}, 9);
        try (LinearTokenLogprobsCuda k = new LinearTokenLogprobsCuda(rt, null, 0, 4, 5, GradGemm.F32);
             DeviceBuffer h = DeviceBuffer.upload(rt, p.hidden, k.stream());
             DeviceBuffer w = DeviceBuffer.upload(rt, p.weight, k.stream());
             DeviceBuffer l = DeviceBuffer.upload(rt, bad, k.stream());
             DeviceBuffer out = DeviceBuffer.allocate(rt, 9 * 4)) {
            RuntimeException e = assertThrows(RuntimeException.class, () -> k.forward(h.tensor(DType.F32, 9, 4),
                    w.tensor(DType.F32, 13, 4), null, l.tensor(DType.I64, 9), p.o, out.tensor(DType.F32, 9), null, null));
            assertTrue(e.getMessage().contains("row 6 has label 13, outside [0, 13)"), e.getMessage());
        }
    }

    /**
     * GradGemm.INPUT: d loss/d z rounded to bf16 before the gradient GEMMs (tensor cores). Each dz term carries one
     * relative rounding of 2^-9, so the gradients agree with the exact ones to about 2^-9 of the sum of |terms|:
     * checked against 1e-2 of the largest gradient entry, and the forward stays exact.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"cuda-sim", "cuda"})
    void inputDtypeGradientGemmsAreCloseToTheExactOnes(String backend) {
        CudaRuntime rt = runtime(backend);
        LinearProblem p = new LinearProblem(arena, 21, 16, 130, DType.BF16, DType.BF16, null, 1.0, EntropyLogits.SCALED, 9, 16);
        Tensor[] want = p.run(ref, null);
        try (LinearTokenLogprobsCuda k = new LinearTokenLogprobsCuda(rt, null, 0, 8, 48, GradGemm.INPUT)) {
            Tensor[] got = p.run(k, want[2]);
            for (int i = 0; i < 3; i++) Tolerance.assertClose(backend + " " + NAMES[i], want[i].toDoubleArray(), got[i].toDoubleArray());
            for (int i = 3; i < 5; i++) {
                double[] w = want[i].toDoubleArray(), g = got[i].toDoubleArray();
                double scale = 0;
                for (double x : w) scale = Math.max(scale, Math.abs(x));
                Tolerance.assertClose(backend + " bf16-dz " + NAMES[i], w, g, 1e-2 * scale, 0);
            }
        }
    }

    @Test
    void createCudaSaysWhyWithoutAGpu() {
        String why = new CudaProvider().unavailableReason();
        if (why == null) {
            try (LinearTokenLogprobs k = LinearTokenLogprobs.create("cuda")) {
                assertEquals("cuda", k.name());
            }
        } else {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LinearTokenLogprobs.create("cuda"));
            assertTrue(e.getMessage().startsWith("backend cuda unavailable for linear_token_logprobs: "), e.getMessage());
        }
    }
}
