package dev.ppoengine.ops;

import dev.ppoengine.cpu.LinearTokenLogprobsCpu;
import dev.ppoengine.cpu.NativeCpuKernels;
import dev.ppoengine.cuda.LinearTokenLogprobsCudaSim;
import dev.ppoengine.kernels.Backends;
import dev.ppoengine.kernels.EntropyLogits;
import dev.ppoengine.kernels.LinearTokenLogprobs;
import dev.ppoengine.kernels.LogprobOptions;
import dev.ppoengine.reference.LinearTokenLogprobsReference;
import dev.ppoengine.reference.ReferenceKernels;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;
import dev.ppoengine.testing.Rand;
import dev.ppoengine.testing.Tolerance;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * linear_token_logprobs: token_logprobs of z = hidden·weightᵀ + bias without the [N, V] logits, and its backward to
 * hidden, weight and bias. The reference is checked against hand arithmetic, against token_logprobs /
 * token_logprobs_backward of the reference backend on the materialised logits (then dZ·W and dZᵀ·H in f64 here),
 * and its gradients against central finite differences of its own unrounded f64 forward; the cpu backend is checked
 * against the reference for every dtype, switch and chunking (chunks that divide neither N nor V included), and the
 * cuda-sim backend (the CUDA tile kernels on the simt emulator) likewise at small shapes.
 */
class LinearTokenLogprobsTest {

    private Arena arena;
    private final LinearTokenLogprobsReference ref = new LinearTokenLogprobsReference();
    private final ReferenceKernels refKernels = new ReferenceKernels();

    @BeforeEach
    void open() {
        arena = Arena.ofConfined();
    }

    @AfterEach
    void close() {
        arena.close();
    }

    private Tensor f32(long... shape) {
        return Tensor.allocate(arena, DType.F32, shape);
    }

    private static LinearTokenLogprobs cpu(int rowChunk, int vocabChunk) {
        for (Backends.Status s : Backends.statuses()) {
            if (s.name().equals("cpu") && !s.available()) Assumptions.abort("backend cpu unavailable: " + s.unavailableReason());
        }
        return new LinearTokenLogprobsCpu(rowChunk, vocabChunk);
    }

    private static LinearTokenLogprobs cudaSim(int rowChunk, int vocabChunk) {
        for (Backends.Status s : Backends.statuses()) {
            if (s.name().equals("cuda-sim") && !s.available()) {
                Assumptions.abort("backend cuda-sim unavailable: " + s.unavailableReason());
            }
        }
        return new LinearTokenLogprobsCudaSim(rowChunk, vocabChunk);
    }

    private static void near(double expected, double actual) {
        Tolerance.assertClose("value", expected, actual);
    }

    // ------------------------------------------------------------------ hand-computed cases

    @Test
    void handComputedForwardAndBackward() {
        // hidden [[1, 0]], weight [[1, 0], [2, 0], [3, 0]] → z = [1, 2, 3], y = 2, τ = 1:
        // lse = 3 + log(1 + e^-1 + e^-2) = 3.40760596, logprob = 3 − lse = −0.40760596,
        // p = [0.09003057, 0.24472847, 0.66524096], mean = Σ p z = 2.57521038, entropy = lse − mean = 0.83239558.
        // Backward with g = 1, h = 0: dz = onehot − p = [−0.09003057, −0.24472847, 0.33475904];
        // grad_hidden = Σ_j dz_j w_j = (−0.09003057·1 − 0.24472847·2 + 0.33475904·3, 0) = (0.42478962, 0);
        // grad_weight_j = dz_j·hidden = [[−0.09003057, 0], [−0.24472847, 0], [0.33475904, 0]]; grad_bias = dz.
        Tensor hidden = Tensor.ofFloats(arena, new float[] {1, 0}, 1, 2);
        Tensor weight = Tensor.ofFloats(arena, new float[] {1, 0, 2, 0, 3, 0}, 3, 2);
        Tensor labels = Tensor.ofInts(arena, new int[] {2}, 1);
        for (LinearTokenLogprobs k : backends()) {
            Tensor lp = f32(1), ent = f32(1), saved = f32(1, 3);
            k.forward(hidden, weight, null, labels, LogprobOptions.DEFAULT, lp, ent, saved);
            near(-0.40760596, lp.getDouble(0));
            near(0.83239558, ent.getDouble(0));
            near(3.40760596, saved.getDouble(0));
            near(3.40760596, saved.getDouble(1));
            near(2.57521038, saved.getDouble(2));
            Tensor gh = f32(1, 2), gw = f32(3, 2), gb = f32(3);
            k.backward(hidden, weight, null, labels, saved, Tensor.ofFloats(arena, new float[] {1}, 1), null,
                    LogprobOptions.DEFAULT, gh, gw, gb, false);
            Tolerance.assertClose(k.name() + " grad_hidden", new double[] {0.42478962, 0}, gh.toDoubleArray());
            Tolerance.assertClose(k.name() + " grad_weight",
                    new double[] {-0.09003057, 0, -0.24472847, 0, 0.33475904, 0}, gw.toDoubleArray());
            Tolerance.assertClose(k.name() + " grad_bias", new double[] {-0.09003057, -0.24472847, 0.33475904},
                    gb.toDoubleArray());
        }
    }

    @Test
    void handComputedWithBias() {
        // hidden [[1, 0.5]], weight [[1, 0], [0, 2], [1, 2]], bias [0, 1, −1]:
        // z = [1·1 + 0.5·0 + 0, 1·0 + 0.5·2 + 1, 1·1 + 0.5·2 − 1] = [1, 2, 1], y = 1, τ = 1:
        // lse = 2 + log(1 + 2e^-1) = 2 + log(1.73575888) = 2.55144471, logprob = 2 − lse = −0.55144471,
        // p = [0.21194156, 0.57611688, 0.21194156], mean = 0.21194156 + 1.15223377 + 0.21194156 = 1.57611688,
        // entropy = 2.55144471 − 1.57611688 = 0.97532783.
        Tensor hidden = Tensor.ofFloats(arena, new float[] {1, 0.5f}, 1, 2);
        Tensor weight = Tensor.ofFloats(arena, new float[] {1, 0, 0, 2, 1, 2}, 3, 2);
        Tensor bias = Tensor.ofFloats(arena, new float[] {0, 1, -1}, 3);
        Tensor labels = Tensor.ofLongs(arena, new long[] {1}, 1);
        for (LinearTokenLogprobs k : backends()) {
            Tensor lp = f32(1), ent = f32(1);
            k.forward(hidden, weight, bias, labels, LogprobOptions.DEFAULT, lp, ent, null);
            near(-0.55144471, lp.getDouble(0));
            near(0.97532783, ent.getDouble(0));
        }
    }

    /** reference, and cpu when it loads here (the hand cases run on every backend). */
    private List<LinearTokenLogprobs> backends() {
        List<LinearTokenLogprobs> list = new ArrayList<>(List.of(ref));
        boolean cpuHere = Backends.statuses().stream().anyMatch(s -> s.name().equals("cpu") && s.available());
        if (cpuHere) list.add(new LinearTokenLogprobsCpu(2, 2));
        return list;
    }

    // ------------------------------------------------------------------ reference vs the materialised path

    static Stream<Arguments> materialisedCases() {
        List<Arguments> out = new ArrayList<>();
        int[][] shapes = {{1, 1, 1}, {1, 5, 17}, {17, 8, 33}, {41, 16, 401}, {6, 3, 1000}};
        long seed = 100;
        for (int[] s : shapes) {
            for (DType dt : new DType[] {DType.F32, DType.BF16}) {
                for (EntropyLogits mode : EntropyLogits.values()) {
                    for (double tau : new double[] {1.0, 0.7}) {
                        DType bias = seed % 3 == 0 ? null : dt;
                        out.add(Arguments.of(s[0], s[1], s[2], dt, bias, tau, mode, seed++));
                    }
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "N={0} H={1} V={2} {3} bias={4} tau={5} {6}")
    @MethodSource("materialisedCases")
    void referenceEqualsTokenLogprobsOfTheMaterialisedLogits(int n, int h, int v, DType dt, DType biasType, double tau,
                                                             EntropyLogits mode, long seed) {
        LinearProblem p = new LinearProblem(arena, n, h, v, dt, dt, biasType, tau, mode, seed);
        Tensor[] got = p.forward(ref);

        Tensor logits = p.logits();
        Tensor lp = f32(n), ent = f32(n), saved = f32(n, 3);
        refKernels.tokenLogprobs(logits, p.labels, p.o, lp, ent, saved);
        Tolerance.assertClose("logprobs", lp.toDoubleArray(), got[0].toDoubleArray());
        Tolerance.assertClose("entropy", ent.toDoubleArray(), got[1].toDoubleArray());
        Tolerance.assertClose("saved", saved.toDoubleArray(), got[2].toDoubleArray());

        // Backward: grad_logits of the materialised path, then dZ·W, dZᵀ·H, Σ_i dZ in f64 here.
        Tensor gradLogits = f32(n, v);
        refKernels.tokenLogprobsBackward(logits, p.labels, saved, p.gradLogprobs, p.gradEntropy, p.o, gradLogits);
        double[] gh = new double[n * h], gw = new double[v * h], gb = new double[v];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < v; j++) {
                double d = gradLogits.getDouble((long) i * v + j);
                gb[j] += d;
                for (int k = 0; k < h; k++) {
                    gh[i * h + k] += d * p.weight.getDouble((long) j * h + k);
                    gw[j * h + k] += d * p.hidden.getDouble((long) i * h + k);
                }
            }
        }
        Tensor[] grads = p.backward(ref, got[2], p.gradEntropy);
        Tolerance.assertClose("grad_hidden", gh, grads[0].toDoubleArray());
        Tolerance.assertClose("grad_weight", gw, grads[1].toDoubleArray());
        Tolerance.assertClose("grad_bias", gb, grads[2].toDoubleArray());
    }

    // ------------------------------------------------------------------ finite differences (reference)

    static Stream<Arguments> finiteDifferenceCases() {
        return Stream.of(
                Arguments.of(1.0, EntropyLogits.SCALED, 11L),
                Arguments.of(0.7, EntropyLogits.SCALED, 12L),
                Arguments.of(0.7, EntropyLogits.RAW, 13L),
                Arguments.of(1.6, EntropyLogits.RAW, 14L));
    }

    /**
     * L = Σ_i g_i·logprob_i + h_i·entropy_i, evaluated in f64 by {@link LinearTokenLogprobsReference#forwardF64}.
     * Each f32 input element x is moved to x± = fl(x ± 1e-3) and dL/dx ≈ (L(x+) − L(x−)) / (x+ − x−) with the step
     * the stored values really took; truncation error ~ 1e-7, far below the bound.
     */
    @ParameterizedTest(name = "tau={0} {1}")
    @MethodSource("finiteDifferenceCases")
    void referenceGradientsMatchCentralFiniteDifferences(double tau, EntropyLogits mode, long seed) {
        LinearProblem p = new LinearProblem(arena, 3, 4, 7, DType.F32, DType.F32, DType.F32, tau, mode, seed);
        Tensor[] fwd = p.forward(ref);
        Tensor[] grads = p.backward(ref, fwd[2], p.gradEntropy);
        Tensor[] inputs = {p.hidden, p.weight, p.bias};
        String[] names = {"grad_hidden", "grad_weight", "grad_bias"};
        for (int t = 0; t < inputs.length; t++) {
            Tensor x = inputs[t];
            double[] fd = new double[(int) x.numel()];
            for (int e = 0; e < fd.length; e++) {
                double x0 = x.getDouble(e);
                x.setFloat(e, x0 + 1e-3);
                double up = x.getDouble(e), lUp = objective(p);
                x.setFloat(e, x0 - 1e-3);
                double down = x.getDouble(e), lDown = objective(p);
                x.setFloat(e, x0);
                fd[e] = (lUp - lDown) / (up - down);
            }
            Tolerance.assertClose(names[t], fd, grads[t].toDoubleArray(), 2e-6, 1e-5);
        }
    }

    private static double objective(LinearProblem p) {
        double[] r = LinearTokenLogprobsReference.forwardF64(p.hidden, p.weight, p.bias, p.labels, p.o);
        double l = 0;
        for (int i = 0; i < p.n; i++) {
            l += p.gradLogprobs.getDouble(i) * r[i * LinearTokenLogprobsReference.COLUMNS + LinearTokenLogprobsReference.LOGPROB];
            l += p.gradEntropy.getDouble(i) * r[i * LinearTokenLogprobsReference.COLUMNS + LinearTokenLogprobsReference.ENTROPY];
        }
        return l;
    }

    // ------------------------------------------------------------------ cpu vs reference

    static Stream<Arguments> cpuCases() {
        List<Arguments> out = new ArrayList<>();
        // {N, H, V, rowChunk, vocabChunk}: chunks that divide neither N nor V, a single tile, one-column chunks,
        // the default chunks (one tile here), and V beyond the default vocabulary chunk and not a multiple of it.
        int D_ROWS = LinearTokenLogprobsCpu.DEFAULT_ROW_CHUNK, D_COLS = LinearTokenLogprobsCpu.DEFAULT_VOCAB_CHUNK;
        int[][] shapes = {{1, 1, 1, 1, 1}, {17, 8, 33, 5, 7}, {41, 16, 401, 16, 64}, {41, 16, 401, D_ROWS, D_COLS},
                {3, 7, D_COLS + 905, 2, D_COLS}, {9, 33, 130, 4, 1}, {2, 64, 257, 3, 100}};
        long seed = 500;
        for (int[] s : shapes) {
            for (DType[] dt : new DType[][] {{DType.F32, DType.F32}, {DType.BF16, DType.BF16}, {DType.F16, DType.BF16},
                    {DType.F32, DType.BF16}}) {
                for (EntropyLogits mode : EntropyLogits.values()) {
                    double tau = seed % 2 == 0 ? 1.0 : 0.6;
                    DType bias = seed % 3 == 0 ? null : seed % 3 == 1 ? DType.F32 : DType.BF16;
                    out.add(Arguments.of(s[0], s[1], s[2], s[3], s[4], dt[0], dt[1], bias, tau, mode, seed++));
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "N={0} H={1} V={2} chunks {3}x{4} hidden {5} weight {6} bias {7} tau={8} {9}")
    @MethodSource("cpuCases")
    void cpuMatchesTheReference(int n, int h, int v, int rowChunk, int vocabChunk, DType hiddenType, DType weightType,
                                DType biasType, double tau, EntropyLogits mode, long seed) {
        try (LinearTokenLogprobs cpu = cpu(rowChunk, vocabChunk)) {
            LinearProblem p = new LinearProblem(arena, n, h, v, hiddenType, weightType, biasType, tau, mode, seed);
            Tensor[] want = p.forward(ref);
            Tensor[] got = p.forward(cpu);
            Tolerance.assertClose("logprobs", want[0].toDoubleArray(), got[0].toDoubleArray());
            Tolerance.assertClose("entropy", want[1].toDoubleArray(), got[1].toDoubleArray());
            Tolerance.assertClose("saved", want[2].toDoubleArray(), got[2].toDoubleArray());
            // Both backwards from the reference's saved statistics: the comparison is of the backward alone.
            Tensor[] wantG = p.backward(ref, want[2], p.gradEntropy);
            Tensor[] gotG = p.backward(cpu, want[2], p.gradEntropy);
            Tolerance.assertClose("grad_hidden", wantG[0].toDoubleArray(), gotG[0].toDoubleArray());
            Tolerance.assertClose("grad_weight", wantG[1].toDoubleArray(), gotG[1].toDoubleArray());
            Tolerance.assertClose("grad_bias", wantG[2].toDoubleArray(), gotG[2].toDoubleArray());
        }
    }

    // ------------------------------------------------------------------ cuda-sim vs reference

    /** Small shapes only (the emulator runs every GPU thread as a host thread); the same awkward chunkings as cpu. */
    static Stream<Arguments> cudaSimCases() {
        List<Arguments> out = new ArrayList<>();
        int[][] shapes = {{1, 1, 1, 1, 1}, {17, 8, 33, 5, 7}, {6, 5, 70, 4, 64}, {3, 16, 41, 16, 64}};
        DType[][] types = {{DType.F32, DType.F32}, {DType.BF16, DType.BF16}, {DType.F16, DType.F32}, {DType.F32, DType.BF16}};
        long seed = 900;
        for (int si = 0; si < shapes.length; si++) {
            int[] s = shapes[si];
            for (EntropyLogits mode : EntropyLogits.values()) {
                DType[] dt = types[(int) (seed % types.length)];
                double tau = seed % 2 == 0 ? 1.0 : 0.6;
                DType bias = seed % 3 == 0 ? null : seed % 3 == 1 ? DType.F32 : DType.F16;
                out.add(Arguments.of(s[0], s[1], s[2], s[3], s[4], dt[0], dt[1], bias, tau, mode, seed++));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "N={0} H={1} V={2} chunks {3}x{4} hidden {5} weight {6} bias {7} tau={8} {9}")
    @MethodSource("cudaSimCases")
    void cudaSimMatchesTheReference(int n, int h, int v, int rowChunk, int vocabChunk, DType hiddenType,
                                    DType weightType, DType biasType, double tau, EntropyLogits mode, long seed) {
        try (LinearTokenLogprobs sim = cudaSim(rowChunk, vocabChunk)) {
            assertEquals("cuda-sim", sim.name());
            LinearProblem p = new LinearProblem(arena, n, h, v, hiddenType, weightType, biasType, tau, mode, seed);
            Tensor[] want = p.forward(ref);
            Tensor[] got = p.forward(sim);
            Tolerance.assertClose("logprobs", want[0].toDoubleArray(), got[0].toDoubleArray());
            Tolerance.assertClose("entropy", want[1].toDoubleArray(), got[1].toDoubleArray());
            Tolerance.assertClose("saved", want[2].toDoubleArray(), got[2].toDoubleArray());
            Tensor[] wantG = p.backward(ref, want[2], p.gradEntropy);
            Tensor[] gotG = p.backward(sim, want[2], p.gradEntropy);
            Tolerance.assertClose("grad_hidden", wantG[0].toDoubleArray(), gotG[0].toDoubleArray());
            Tolerance.assertClose("grad_weight", wantG[1].toDoubleArray(), gotG[1].toDoubleArray());
            Tolerance.assertClose("grad_bias", wantG[2].toDoubleArray(), gotG[2].toDoubleArray());
        }
    }

    @Test
    void cudaSimStridedHiddenAccumulateAndNoEntropyGradient() {
        try (LinearTokenLogprobs sim = cudaSim(4, 9)) {
            // hidden rows 11 elements apart (H = 7), viewed as [B, T, H] = [2, 3, 7]; labels [2, 3]
            LinearProblem p = new LinearProblem(arena, 6, 7, 20, DType.BF16, DType.F32, null, 0.9, EntropyLogits.RAW, 78, 11);
            Tensor hidden3 = Tensor.strided(p.hidden.segment(), DType.BF16, 11, 2, 3, 7);
            Tensor labels3 = p.labels.reshape(2, 3);
            Tensor[] lp = {f32(2, 3), f32(2, 3)}, saved = {f32(6, 3), f32(6, 3)};
            ref.forward(hidden3, p.weight, null, labels3, p.o, lp[0], null, saved[0]);
            sim.forward(hidden3, p.weight, null, labels3, p.o, lp[1], null, saved[1]);
            Tolerance.assertClose("logprobs", lp[0].toDoubleArray(), lp[1].toDoubleArray());
            Tolerance.assertClose("saved", saved[0].toDoubleArray(), saved[1].toDoubleArray());
            Tensor[] gh = {f32(2, 3, 7), f32(2, 3, 7)}, gw = {f32(20, 7), f32(20, 7)};
            for (Tensor t : new Tensor[] {gh[0], gh[1], gw[0], gw[1]}) for (long i = 0; i < t.numel(); i++) t.setFloat(i, 0.25);
            Tensor g = p.gradLogprobs.reshape(2, 3);
            ref.backward(hidden3, p.weight, null, labels3, saved[0], g, null, p.o, gh[0], gw[0], null, true);
            sim.backward(hidden3, p.weight, null, labels3, saved[0], g, null, p.o, gh[1], gw[1], null, true);
            Tolerance.assertClose("grad_hidden (accumulated onto 0.25)", gh[0].toDoubleArray(), gh[1].toDoubleArray());
            Tolerance.assertClose("grad_weight (accumulated onto 0.25)", gw[0].toDoubleArray(), gw[1].toDoubleArray());
        }
    }

    @ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(NativeCpuKernels.SimdLevel.class)
    void everySimdVariantMatchesTheReference(NativeCpuKernels.SimdLevel simd) {
        cpu(1, 1).close();   // aborts (skipped, with the reason) when the native library is unavailable
        for (EntropyLogits mode : EntropyLogits.values()) {
            try (LinearTokenLogprobs cpu = new LinearTokenLogprobsCpu(7, 45, 2, simd)) {
                LinearProblem p = new LinearProblem(arena, 19, 11, 203, DType.BF16, DType.F16, DType.BF16, 0.8, mode, 61 + simd.ordinal());
                Tensor[] want = p.forward(ref);
                Tensor[] got = p.forward(cpu);
                for (int t = 0; t < 3; t++) Tolerance.assertClose(simd + " forward " + t, want[t].toDoubleArray(), got[t].toDoubleArray());
                Tensor[] wantG = p.backward(ref, want[2], p.gradEntropy);
                Tensor[] gotG = p.backward(cpu, want[2], p.gradEntropy);
                for (int t = 0; t < 3; t++) Tolerance.assertClose(simd + " grad " + t, wantG[t].toDoubleArray(), gotG[t].toDoubleArray());
            }
        }
    }

    @Test
    void cpuStridedHiddenRank3AndNoEntropyGradient() {
        try (LinearTokenLogprobs cpu = cpu(4, 9)) {
            for (DType dt : new DType[] {DType.F32, DType.BF16}) {
                // hidden rows 20 elements apart (H = 13); viewed as [B, T, H] = [3, 5, 13] with labels [3, 5].
                LinearProblem p = new LinearProblem(arena, 15, 13, 50, dt, DType.F32, null, 0.9, EntropyLogits.RAW, 77, 20);
                Tensor hidden3 = Tensor.strided(p.hidden.segment(), dt, 20, 3, 5, 13);
                Tensor labels3 = p.labels.reshape(3, 5);
                Tensor[] lp = {f32(3, 5), f32(3, 5)}, saved = {f32(15, 3), f32(15, 3)};
                ref.forward(hidden3, p.weight, null, labels3, p.o, lp[0], null, saved[0]);
                cpu.forward(hidden3, p.weight, null, labels3, p.o, lp[1], null, saved[1]);
                Tolerance.assertClose("logprobs", lp[0].toDoubleArray(), lp[1].toDoubleArray());
                Tensor[] gh = {f32(3, 5, 13), f32(3, 5, 13)}, gw = {f32(50, 13), f32(50, 13)};
                Tensor g = p.gradLogprobs.reshape(3, 5);
                ref.backward(hidden3, p.weight, null, labels3, saved[0], g, null, p.o, gh[0], gw[0], null, false);
                cpu.backward(hidden3, p.weight, null, labels3, saved[0], g, null, p.o, gh[1], gw[1], null, false);
                Tolerance.assertClose("grad_hidden", gh[0].toDoubleArray(), gh[1].toDoubleArray());
                Tolerance.assertClose("grad_weight", gw[0].toDoubleArray(), gw[1].toDoubleArray());
            }
        }
    }

    @Test
    void accumulateAddsToTheOutputs() {
        try (LinearTokenLogprobs cpu = cpu(3, 8)) {
            for (LinearTokenLogprobs k : List.of(ref, cpu)) {
                LinearProblem p = new LinearProblem(arena, 7, 5, 19, DType.F32, DType.F32, DType.F32, 1.0, EntropyLogits.SCALED, 31);
                Tensor saved = p.forward(k)[2];
                Tensor[] once = p.backward(k, saved, p.gradEntropy);
                // start from 1.5 everywhere: accumulate must give 1.5 + the gradient
                Tensor gh = f32(7, 5), gw = f32(19, 5), gb = f32(19);
                for (Tensor t : new Tensor[] {gh, gw, gb}) for (long i = 0; i < t.numel(); i++) t.setFloat(i, 1.5);
                k.backward(p.hidden, p.weight, p.bias, p.labels, saved, p.gradLogprobs, p.gradEntropy, p.o, gh, gw, gb,
                        true);
                Tensor[] acc = {gh, gw, gb};
                for (int t = 0; t < 3; t++) {
                    double[] want = once[t].toDoubleArray();
                    for (int i = 0; i < want.length; i++) want[i] += 1.5;
                    Tolerance.assertClose(k.name() + " accumulated " + t, want, acc[t].toDoubleArray());
                }
                // and without accumulate the old contents are overwritten
                k.backward(p.hidden, p.weight, p.bias, p.labels, saved, p.gradLogprobs, p.gradEntropy, p.o, gh, gw, gb,
                        false);
                for (int t = 0; t < 3; t++) assertArrayEquals(once[t].toFloatArray(), acc[t].toFloatArray());
            }
        }
    }

    @Test
    void onlySomeGradientsRequested() {
        try (LinearTokenLogprobs cpu = cpu(4, 16)) {
            LinearProblem p = new LinearProblem(arena, 9, 6, 40, DType.F32, DType.F32, DType.F32, 0.8, EntropyLogits.SCALED, 41);
            Tensor saved = p.forward(ref)[2];
            Tensor[] all = p.backward(cpu, saved, p.gradEntropy);
            Tensor gw = f32(40, 6);
            cpu.backward(p.hidden, p.weight, p.bias, p.labels, saved, p.gradLogprobs, p.gradEntropy, p.o, null, gw, null,
                    false);
            assertArrayEquals(all[1].toFloatArray(), gw.toFloatArray());
            Tensor gh = f32(9, 6);
            cpu.backward(p.hidden, p.weight, p.bias, p.labels, saved, p.gradLogprobs, p.gradEntropy, p.o, gh, null, null,
                    false);
            assertArrayEquals(all[0].toFloatArray(), gh.toFloatArray());
        }
    }

    @Test
    void zeroRows() {
        try (LinearTokenLogprobs cpu = cpu(4, 16)) {
            for (LinearTokenLogprobs k : List.of(ref, cpu)) {
                Tensor hidden = f32(0, 4), weight = Tensor.ofFloats(arena, new float[] {1, 2, 3, 4, 5, 6, 7, 8}, 2, 4);
                Tensor labels = Tensor.allocate(arena, DType.I64, 0);
                Tensor lp = f32(0), saved = f32(0, 3);
                k.forward(hidden, weight, null, labels, LogprobOptions.DEFAULT, lp, null, saved);
                Tensor gw = Tensor.ofFloats(arena, new float[] {9, 9, 9, 9, 9, 9, 9, 9}, 2, 4);
                k.backward(hidden, weight, null, labels, saved, f32(0), null, LogprobOptions.DEFAULT, f32(0, 4), gw, null,
                        false);
                assertArrayEquals(new float[8], gw.toFloatArray(), k.name());
            }
        }
    }

    // ------------------------------------------------------------------ determinism

    @Test
    void cpuIsBitwiseRepeatableAndIndependentOfTheThreadCount() {
        for (Backends.Status s : Backends.statuses()) {
            if (s.name().equals("cpu") && !s.available()) Assumptions.abort("backend cpu unavailable: " + s.unavailableReason());
        }
        LinearProblem p = new LinearProblem(arena, 300, 48, 3001, DType.BF16, DType.F32, DType.F32, 0.7, EntropyLogits.RAW, 99);
        List<float[]> first = null;
        for (int threads : new int[] {2, 2, 1, 3}) {
            try (LinearTokenLogprobs cpu = new LinearTokenLogprobsCpu(128, 1000, threads)) {
                Tensor[] f = p.forward(cpu);
                Tensor[] g = p.backward(cpu, f[2], p.gradEntropy);
                List<float[]> all = List.of(f[0].toFloatArray(), f[1].toFloatArray(), f[2].toFloatArray(),
                        g[0].toFloatArray(), g[1].toFloatArray(), g[2].toFloatArray());
                if (first == null) {
                    first = all;
                } else {
                    for (int t = 0; t < all.size(); t++) {
                        assertArrayEquals(first.get(t), all.get(t), "output " + t + " with " + threads + " threads");
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ bad input

    @Test
    void badInputNamesTheArgument() {
        LinearProblem p = new LinearProblem(arena, 4, 3, 6, DType.F32, DType.F32, DType.F32, 1.0, EntropyLogits.SCALED, 5);
        LogprobOptions o = p.o;
        Tensor lp = f32(4), saved = f32(4, 3);
        expectBad("weight: expected shape [V, 3]", () -> ref.forward(p.hidden, f32(6, 4), null, p.labels, o, lp, null, null));
        expectBad("hidden: expected dtype", () -> ref.forward(Tensor.allocate(arena, DType.I32, 4, 3), p.weight, null,
                p.labels, o, lp, null, null));
        expectBad("hidden: expected rank >= 2", () -> ref.forward(f32(3), p.weight, null, p.labels, o, lp, null, null));
        expectBad("bias: expected shape [6]", () -> ref.forward(p.hidden, p.weight, f32(5), p.labels, o, lp, null, null));
        expectBad("labels: expected shape [4]", () -> ref.forward(p.hidden, p.weight, null,
                Tensor.ofInts(arena, new int[] {0, 1, 2}, 3), o, lp, null, null));
        expectBad("labels: expected dtype", () -> ref.forward(p.hidden, p.weight, null, f32(4), o, lp, null, null));
        expectBad("labels: row 2 has label 6, outside [0, 6)", () -> ref.forward(p.hidden, p.weight, null,
                Tensor.ofInts(arena, new int[] {0, 1, 6, 2}, 4), o, lp, null, null));
        expectBad("labels: row 0 has label -1", () -> ref.forward(p.hidden, p.weight, null,
                Tensor.ofLongs(arena, new long[] {-1, 1, 1, 2}, 4), o, lp, null, null));
        expectBad("logprobs: expected shape [4]", () -> ref.forward(p.hidden, p.weight, null, p.labels, o, f32(3), null, null));
        expectBad("saved: expected shape [4, 3]", () -> ref.forward(p.hidden, p.weight, null, p.labels, o, lp, null, f32(4, 2)));
        expectBad("options must not be null", () -> ref.forward(p.hidden, p.weight, null, p.labels, null, lp, null, null));
        expectBad("weight is required", () -> ref.forward(p.hidden, null, null, p.labels, o, lp, null, null));
        expectBad("temperature", () -> new LogprobOptions(0.0, EntropyLogits.SCALED));
        expectBad("temperature", () -> new LogprobOptions(-1.0, EntropyLogits.SCALED));
        expectBad("saved is required", () -> ref.backward(p.hidden, p.weight, null, p.labels, null, p.gradLogprobs, null,
                o, f32(4, 3), null, null, false));
        expectBad("grad_weight: expected shape [6, 3]", () -> ref.backward(p.hidden, p.weight, null, p.labels, saved,
                p.gradLogprobs, null, o, null, f32(3, 6), null, false));
        expectBad("grad_hidden: expected dtype", () -> ref.backward(p.hidden, p.weight, null, p.labels, saved,
                p.gradLogprobs, null, o, Tensor.allocate(arena, DType.BF16, 4, 3), null, null, false));
        expectBad("grad_logprobs: expected shape [4]", () -> ref.backward(p.hidden, p.weight, null, p.labels, saved,
                f32(5), null, o, f32(4, 3), null, null, false));
        expectBad("has no implementation of this op", () -> LinearTokenLogprobs.create("tpu"));
        expectBad("expected a dense tensor", () -> ref.forward(p.hidden, Tensor.strided(f32(6, 5).segment(), DType.F32,
                5, 6, 3), null, p.labels, o, lp, null, null));
    }

    private static void expectBad(String fragment, org.junit.jupiter.api.function.Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(fragment), "message '" + e.getMessage() + "' lacks '" + fragment + "'");
    }

    @Test
    void createNamesTheBackends() {
        assertEquals("reference", LinearTokenLogprobs.create("reference").name());
        String auto = LinearTokenLogprobs.create("auto").name();
        boolean cpuHere = Backends.statuses().stream().anyMatch(s -> s.name().equals("cpu") && s.available());
        assertEquals(cpuHere ? "cpu" : "reference", auto);
        assertEquals(List.of("reference", "cpu", "cuda-sim", "cuda"), LinearTokenLogprobs.names());
        boolean simHere = Backends.statuses().stream().anyMatch(s -> s.name().equals("cuda-sim") && s.available());
        if (simHere) {
            try (LinearTokenLogprobs sim = LinearTokenLogprobs.create("cuda-sim")) {
                assertEquals("cuda-sim", sim.name());
            }
        } else {
            expectBad("backend cuda-sim unavailable", () -> LinearTokenLogprobs.create("cuda-sim"));
        }
    }

    @Test
    void cpuWorkspaceIsIndependentOfTheLogitsSize() {
        try (LinearTokenLogprobs k = cpu(16, 64)) {
            LinearTokenLogprobsCpu cpu = (LinearTokenLogprobsCpu) k;
            LinearProblem p = new LinearProblem(arena, 41, 16, 401, DType.F32, DType.F32, null, 1.0, EntropyLogits.SCALED, 8);
            p.forward(cpu);
            // tile 16·64 f32 + state 16 rows · 8 f64 = 4096 + 1024 bytes; the logits would be 41·401·4 = 65764 bytes
            assertEquals(16 * 64 * 4 + 16 * 8 * 8, cpu.lastWorkspaceBytes());
            assertEquals(cpu.lastWorkspaceBytes(), cpu.workspaceBytes(41, 16, 401, DType.F32, DType.F32, null));
            // bf16 inputs add one widened row block (16·16·4) and one widened weight chunk (64·16·4)
            assertEquals(16 * 64 * 4 + 16 * 8 * 8 + 16 * 16 * 4 + 64 * 16 * 4,
                    cpu.workspaceBytes(41, 16, 401, DType.BF16, DType.BF16, DType.F32));
        }
    }
}
