package dev.ppoengine.cli;

import dev.ppoengine.kernels.Backends;
import dev.ppoengine.kernels.Preset;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Safetensors;
import dev.ppoengine.tensor.SafetensorsFile;
import dev.ppoengine.tensor.Tensor;
import dev.ppoengine.testing.Rand;
import dev.ppoengine.testing.Tolerance;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code ppo compute OP --backend cpu}, {@code --backend cuda-sim} (and {@code --backend cuda} where a GPU is present,
 * skipped with the reason elsewhere) for every op × preset: the same input file through the reference and through the CUDA backend,
 * every written tensor within the SPEC tolerance. The end-to-end path of the native backends: safetensors host tensors
 * → (staged to the device for cuda) → the native kernels → the output file.
 */
class ComputeBackendsTest {
    @TempDir Path dir;
    private Arena arena;

    static final int B = 3, T = 9, V = 13;

    @BeforeEach
    void open() { arena = Arena.ofConfined(); }

    @AfterEach
    void close() { arena.close(); }

    /** The ops of the PpoKernels API (linear_token_logprobs has its own backends and tests). */
    static final List<String> OPS = List.of("token_logprobs", "token_logprobs_backward", "kl_penalty",
            "kl_shaped_rewards", "gae", "masked_whiten", "policy_loss", "value_loss", "ppo_loss", "group_advantages");

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (String backend : List.of("cpu", "cuda-sim", "cuda")) {
            for (String op : OPS) {
                ComputeOp.valueOf(op.toUpperCase(java.util.Locale.ROOT));  // still a compute op
                for (Preset p : Preset.values()) out.add(Arguments.of(backend, op, p.key()));
            }
        }
        return out.stream();
    }

    /** Inputs of one op (names as SPEC): right-padded mask with at least one valid token per row. */
    private Map<String, Tensor> inputs(String op) {
        Rand r = new Rand(arena, 31L * op.hashCode());
        Map<String, Tensor> all = new LinkedHashMap<>();
        Tensor mask = Tensor.allocate(arena, DType.F32, B, T);
        for (int b = 0; b < B; b++) for (int t = 0; t < T - 2 * b; t++) mask.setFloat((long) b * T + t, 1);
        all.put("logits", r.normal(DType.F32, 2.0, B, T, V));
        all.put("labels", r.labels(DType.I64, V, B, T));
        all.put("grad_logprobs", r.normal(DType.F32, 1.0, B, T));
        all.put("grad_entropy", r.normal(DType.F32, 1.0, B, T));
        all.put("logprobs", r.normal(DType.F32, 0.3, B, T));
        all.put("ref_logprobs", r.normal(DType.F32, 0.3, B, T));
        all.put("old_logprobs", r.normal(DType.F32, 0.3, B, T));
        all.put("mask", mask);
        all.put("scores", r.normal(DType.F32, 2.0, B));
        all.put("rewards", r.normal(DType.F32, 1.0, B, T));
        all.put("values", r.normal(DType.F32, 1.0, B, T));
        all.put("old_values", r.normal(DType.F32, 1.0, B, T));
        all.put("returns", r.normal(DType.F32, 1.0, B, T));
        all.put("advantages", r.normal(DType.F32, 1.0, B, T));
        all.put("entropy", r.uniform(0, 2, B, T));
        List<String> names = switch (op) {
            case "token_logprobs" -> List.of("logits", "labels");
            case "token_logprobs_backward" -> List.of("logits", "labels", "grad_logprobs", "grad_entropy");
            case "kl_penalty" -> List.of("logprobs", "ref_logprobs", "mask");
            case "kl_shaped_rewards" -> List.of("logprobs", "ref_logprobs", "mask", "scores");
            case "gae" -> List.of("rewards", "values", "mask");
            case "masked_whiten" -> List.of("values", "mask");
            case "policy_loss" -> List.of("logprobs", "old_logprobs", "advantages", "mask");
            case "value_loss" -> List.of("values", "old_values", "returns", "mask");
            case "ppo_loss" -> List.of("logprobs", "old_logprobs", "advantages", "values", "old_values", "returns",
                    "mask", "entropy");
            case "group_advantages" -> List.of("scores", "mask");
            default -> throw new IllegalArgumentException("no inputs for op " + op);
        };
        Map<String, Tensor> in = new LinkedHashMap<>();
        for (String n : names) in.put(n, all.get(n));
        return in;
    }

    private Map<String, Tensor> compute(String op, Path in, String preset, String backend, String tag) throws IOException {
        Path out = dir.resolve(tag + ".safetensors");
        List<String> args = new ArrayList<>(List.of("compute", op, "--in", in.toString(), "--out", out.toString(),
                "--preset", preset, "--backend", backend));
        if (op.equals("group_advantages")) args.addAll(List.of("--set", "group_size=3"));
        CliRunner.Result r = CliRunner.run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.toString());
        Map<String, Tensor> got = new LinkedHashMap<>();
        try (SafetensorsFile f = Safetensors.read(out)) {
            for (var e : f.tensors().entrySet()) {
                Tensor t = e.getValue();
                Tensor copy = Tensor.allocate(arena, t.dtype(), t.shape());
                for (long i = 0; i < t.numel(); i++) copy.setFloat(i, t.getDouble(i));
                got.put(e.getKey(), copy);
            }
        }
        return got;
    }

    @ParameterizedTest(name = "{0} {1} --preset {2}")
    @MethodSource("cases")
    void computeMatchesTheReference(String backend, String op, String preset) throws IOException {
        for (Backends.Status s : Backends.statuses()) {
            if (s.name().equals(backend)) {
                Assumptions.assumeTrue(s.available(), () -> "backend " + backend + " unavailable: " + s.unavailableReason());
            }
        }
        Path in = dir.resolve("in.safetensors");
        Safetensors.write(in, inputs(op), Map.of());
        Map<String, Tensor> want = compute(op, in, preset, "reference", "ref");
        Map<String, Tensor> got = compute(op, in, preset, backend, "got");
        assertEquals(List.copyOf(want.keySet()), List.copyOf(got.keySet()), "output tensor names");
        for (String name : want.keySet()) {
            Tensor w = want.get(name), g = got.get(name);
            assertArrayEquals(w.shape(), g.shape(), name + " shape");
            Tolerance.assertClose(backend + " " + op + " " + preset + " " + name + " " + Arrays.toString(w.shape()),
                    w.toDoubleArray(), g.toDoubleArray());
        }
    }
}
