package dev.ppoengine.cli;

import dev.ppoengine.kernels.Backends;
import dev.ppoengine.kernels.EntropyLogits;
import dev.ppoengine.kernels.LogprobOptions;
import dev.ppoengine.reference.LinearTokenLogprobsReference;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Safetensors;
import dev.ppoengine.tensor.SafetensorsFile;
import dev.ppoengine.tensor.Tensor;
import dev.ppoengine.testing.Rand;
import dev.ppoengine.testing.Tolerance;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code ppo compute linear_token_logprobs}: reads hidden, weight, optional bias, labels and optional grad_logprobs /
 * grad_entropy; writes logprobs and entropy, and with grad_logprobs also grad_hidden, grad_weight (and grad_bias with
 * a bias). Outputs are compared with {@link LinearTokenLogprobsReference} called directly (bitwise on the reference
 * backend, within the SPEC tolerance on cpu); errors exit 1 with one line naming the tensor and write nothing.
 */
class LinearTokenLogprobsCliTest {
    @TempDir Path dir;
    private Arena arena;
    private Rand rnd;
    private final LinearTokenLogprobsReference ref = new LinearTokenLogprobsReference();

    // B = 2 sequences of T = 5 positions, H = 6, V = 23 (none a vector width).
    static final int B = 2, T = 5, H = 6, V = 23;

    @BeforeEach
    void open() {
        arena = Arena.ofConfined();
        rnd = new Rand(arena, 7031);
    }

    @AfterEach
    void close() {
        arena.close();
    }

    private Map<String, Tensor> inputs(boolean bias, boolean grads) {
        Map<String, Tensor> in = new LinkedHashMap<>();
        in.put("hidden", rnd.normal(DType.F32, 1.0, B, T, H));
        in.put("weight", rnd.normal(DType.F32, 0.7, V, H));
        if (bias) in.put("bias", rnd.normal(DType.F32, 0.5, V));
        in.put("labels", rnd.labels(DType.I32, V, B, T));
        if (grads) {
            in.put("grad_logprobs", rnd.normal(DType.F32, 1.0, B, T));
            in.put("grad_entropy", rnd.normal(DType.F32, 0.3, B, T));
        }
        return in;
    }

    private Tensor f32(long... shape) { return Tensor.allocate(arena, DType.F32, shape); }

    /** What the command must write, from the reference called directly (inputs as f32). */
    private Map<String, Tensor> expected(Map<String, Tensor> in, LogprobOptions o) {
        Tensor h = asF32(in.get("hidden")), w = asF32(in.get("weight")), b = in.get("bias"), y = in.get("labels");
        if (b != null) b = asF32(b);
        Map<String, Tensor> out = new LinkedHashMap<>();
        Tensor lp = f32(y.shape()), ent = f32(y.shape()), saved = f32(y.numel(), 3);
        ref.forward(h, w, b, y, o, lp, ent, saved);
        out.put("logprobs", lp);
        out.put("entropy", ent);
        if (in.containsKey("grad_logprobs")) {
            Tensor gh = f32(h.shape()), gw = f32(w.shape()), gb = b == null ? null : f32(V);
            ref.backward(h, w, b, y, saved, in.get("grad_logprobs"), in.get("grad_entropy"), o, gh, gw, gb, false);
            out.put("grad_hidden", gh);
            out.put("grad_weight", gw);
            if (gb != null) out.put("grad_bias", gb);
        }
        return out;
    }

    private Tensor asF32(Tensor t) {
        Tensor c = f32(t.shape());
        for (long i = 0; i < t.numel(); i++) c.setFloat(i, t.getDouble(i));
        return c;
    }

    private CliRunner.Result run(Map<String, Tensor> in, String backend, String... sets) throws IOException {
        Path inFile = dir.resolve("in.safetensors");
        Safetensors.write(inFile, in, Map.of());
        List<String> args = new ArrayList<>(List.of("compute", "linear_token_logprobs", "--in", inFile.toString(),
                "--out", dir.resolve("out.safetensors").toString(), "--backend", backend));
        for (String kv : sets) {
            args.add("--set");
            args.add(kv);
        }
        return CliRunner.run(args.toArray(String[]::new));
    }

    private Map<String, Tensor> written() throws IOException {
        Map<String, Tensor> got = new LinkedHashMap<>();
        try (SafetensorsFile f = Safetensors.read(dir.resolve("out.safetensors"))) {
            assertEquals("linear_token_logprobs", f.metadata().get("op"));
            for (var e : f.tensors().entrySet()) got.put(e.getKey(), asF32(e.getValue()));
        }
        return got;
    }

    private static void assertBitwise(Map<String, Tensor> want, Map<String, Tensor> got) {
        assertEquals(List.copyOf(want.keySet()), List.copyOf(got.keySet()), "output tensor names");
        for (String n : want.keySet()) {
            assertArrayEquals(want.get(n).shape(), got.get(n).shape(), n + " shape");
            assertArrayEquals(want.get(n).toFloatArray(), got.get(n).toFloatArray(), n);
        }
    }

    @Test
    void forwardAndBackwardOnTheReferenceBackend() throws IOException {
        Map<String, Tensor> in = inputs(true, true);
        CliRunner.Result r = run(in, "reference", "temperature=0.8", "entropy_logits=raw");
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.out().startsWith("linear_token_logprobs: wrote logprobs [2, 5], entropy [2, 5], grad_hidden [2, 5, 6], "
                + "grad_weight [23, 6], grad_bias [23]"), r.out());
        assertBitwise(expected(in, new LogprobOptions(0.8, EntropyLogits.RAW)), written());
    }

    @Test
    void forwardOnlyWithoutGradients() throws IOException {
        Map<String, Tensor> in = inputs(false, false);
        CliRunner.Result r = run(in, "reference");
        assertEquals(0, r.code(), r.toString());
        Map<String, Tensor> got = written();
        assertEquals(List.of("logprobs", "entropy"), List.copyOf(got.keySet()));
        assertBitwise(expected(in, LogprobOptions.DEFAULT), got);
    }

    @Test
    void bf16InputsAreWidenedExactly() throws IOException {
        Map<String, Tensor> in = inputs(true, true);
        Map<String, Tensor> file = new LinkedHashMap<>(in);
        for (String n : List.of("hidden", "weight", "bias")) {
            Tensor t = in.get(n), b = Tensor.allocate(arena, DType.BF16, t.shape());
            for (long i = 0; i < t.numel(); i++) b.setFloat(i, t.getDouble(i));
            file.put(n, b);
        }
        CliRunner.Result r = run(file, "reference", "temperature=1.3");
        assertEquals(0, r.code(), r.toString());
        assertBitwise(expected(file, new LogprobOptions(1.3, EntropyLogits.SCALED)), written());
    }

    /** cpu, cuda-sim and cuda (the CUDA driver: on the GPU the host tensors are staged), each skipped with its reason. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.ppoengine.testing.TestBackends#hostBackends")
    void backendMatchesTheReference(String backend) throws IOException {
        for (Backends.Status s : Backends.statuses()) {
            if (s.name().equals(backend) && !s.available()) {
                Assumptions.abort("backend " + backend + " unavailable: " + s.unavailableReason());
            }
        }
        Map<String, Tensor> in = inputs(true, true);
        CliRunner.Result r = run(in, backend, "temperature=0.7");
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.out().contains("(backend " + backend), r.out());
        Map<String, Tensor> want = expected(in, new LogprobOptions(0.7, EntropyLogits.SCALED)), got = written();
        assertEquals(List.copyOf(want.keySet()), List.copyOf(got.keySet()));
        for (String n : want.keySet()) Tolerance.assertClose(n, want.get(n).toDoubleArray(), got.get(n).toDoubleArray());
    }

    // ------------------------------------------------------------------ errors: exit 1, one line, no output

    private void assertFails(Map<String, Tensor> in, String backend, String... fragments) throws IOException {
        CliRunner.Result r = run(in, backend);
        assertEquals(CliException.INPUT, r.code(), r.toString());
        List<String> lines = r.errLines();
        assertEquals(1, lines.size(), r.toString());
        assertTrue(lines.get(0).startsWith("ppo: error: "), lines.get(0));
        for (String f : fragments) assertTrue(lines.get(0).contains(f), "'" + lines.get(0) + "' should mention '" + f + "'");
        assertFalse(Files.exists(dir.resolve("out.safetensors")), "no output file");
    }

    @Test
    void missingWeight() throws IOException {
        Map<String, Tensor> in = inputs(false, false);
        in.remove("weight");
        assertFails(in, "reference", "missing tensor 'weight'", "linear_token_logprobs reads hidden, weight");
    }

    @Test
    void weightOfTheWrongHiddenSize() throws IOException {
        Map<String, Tensor> in = inputs(false, false);
        in.put("weight", rnd.normal(DType.F32, 1.0, V, H + 1));
        assertFails(in, "reference", "weight: expected shape [V, 6]", "got [23, 7]");
    }

    @Test
    void labelOutOfRange() throws IOException {
        Map<String, Tensor> in = inputs(false, false);
        Tensor y = Tensor.allocate(arena, DType.I64, B, T);
        y.setFloat(7, V);
        in.put("labels", y);
        assertFails(in, "reference", "labels: row 7 has label 23, outside [0, 23)");
    }

    @Test
    void gradLogprobsOfTheWrongShape() throws IOException {
        Map<String, Tensor> in = inputs(false, true);
        in.put("grad_logprobs", rnd.normal(DType.F32, 1.0, B * T));
        assertFails(in, "reference", "grad_logprobs: expected shape [2, 5]");
    }

    @Test
    void gradEntropyWithoutGradLogprobs() throws IOException {
        Map<String, Tensor> in = inputs(false, true);
        in.remove("grad_logprobs");
        assertFails(in, "reference", "grad_entropy: given without grad_logprobs");
    }
}
