package dev.ppoengine.cli;

import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Safetensors;
import dev.ppoengine.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Malformed {@code ppo compute} invocations (SPEC "Bad input"): each must exit non-zero (2 = usage, 1 = input),
 * print exactly one line {@code ppo: error: ...} on stderr that names the problem, print no stack trace, and leave
 * no output file (nor a temporary one) behind.
 */
class ComputeCliErrorsTest {
    @TempDir Path dir;
    private Arena arena;
    private Path out;

    @BeforeEach
    void open() {
        arena = Arena.ofConfined();
        out = dir.resolve("out.safetensors");
    }

    @AfterEach
    void close() {
        arena.close();
    }

    // ------------------------------------------------------------------ helpers

    private Tensor f32(float[] v, long... shape) { return Tensor.ofFloats(arena, v, shape); }

    private Tensor zeros(DType d, long... shape) { return Tensor.allocate(arena, d, shape); }

    private Tensor ones(DType d, long... shape) {
        Tensor t = Tensor.allocate(arena, d, shape);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, 1);
        return t;
    }

    private Path file(String name, Map<String, Tensor> tensors) throws IOException {
        Path p = dir.resolve(name);
        Safetensors.write(p, tensors, null);
        return p;
    }

    /** A valid gae input [2, 3]. */
    private Map<String, Tensor> gaeInputs() {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("rewards", f32(new float[] {0, 0, 1, 0, 1, 0}, 2, 3));
        m.put("values", f32(new float[] {0.5f, 0.2f, 0.1f, 0.3f, 0.3f, 0.3f}, 2, 3));
        m.put("mask", ones(DType.BOOL, 2, 3));
        return m;
    }

    private Path gaeFile() throws IOException { return file("in.safetensors", gaeInputs()); }

    private Map<String, Tensor> logitInputs() {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("logits", f32(new float[] {1, 2, 3, 4, 5, 6}, 2, 3));
        m.put("labels", Tensor.ofLongs(arena, new long[] {0, 2}, 2));
        return m;
    }

    /** Files present in the temp dir before the run (the inputs); afterwards there must be no others. */
    private List<String> listing() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    /** Runs {@code args} and checks: exit code, one stderr line with every fragment, nothing written. */
    private void assertFails(int exitCode, List<String> fragments, String... args) throws IOException {
        List<String> before = listing();
        CliRunner.Result r = CliRunner.run(args);
        assertEquals(exitCode, r.code(), r.toString());
        List<String> lines = r.errLines();
        assertEquals(1, lines.size(), "exactly one stderr line:\n" + r);
        String line = lines.get(0);
        assertTrue(line.startsWith("ppo: error: "), line);
        for (String f : fragments) assertTrue(line.contains(f), "'" + line + "' should mention '" + f + "'");
        assertFalse(line.contains("Exception"), "no exception class names / stack traces: " + line);
        assertEquals("", r.out(), "nothing on stdout");
        assertFalse(Files.exists(out), "no output file");
        assertEquals(before, listing(), "no temporary or partial file left behind");
    }

    private String[] compute(String op, Path in, String... more) {
        List<String> a = new ArrayList<>(List.of("compute", op, "--in", in.toString(), "--out", out.toString(),
                "--backend", "reference"));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    // ------------------------------------------------------------------ usage errors (exit 2)

    @Test
    void unknownOp() throws IOException {
        assertFails(2, List.of("unknown op 'gae2'", "gae,"), compute("gae2", gaeFile()));
    }

    @Test
    void missingOp() throws IOException {
        assertFails(2, List.of("Missing required parameter", "OP"), "compute", "--in", "x", "--out", out.toString());
    }

    @Test
    void missingIn() throws IOException {
        assertFails(2, List.of("--in"), "compute", "gae", "--out", out.toString());
    }

    @Test
    void missingOut() throws IOException {
        assertFails(2, List.of("--out"), "compute", "gae", "--in", gaeFile().toString());
    }

    @Test
    void unknownOption() throws IOException {
        assertFails(2, List.of("Unknown option", "--gamma"), compute("gae", gaeFile(), "--gamma", "0.9"));
    }

    @Test
    void unknownSubcommand() throws IOException {
        assertFails(2, List.of("'trian'"), "trian");
    }

    @Test
    void noSubcommand() throws IOException {
        assertFails(2, List.of("missing command", "compute", "info"));
    }

    @Test
    void unknownSettingKey() throws IOException {
        assertFails(2, List.of("unknown setting 'gama'"), compute("gae", gaeFile(), "--set", "gama=0.9"));
    }

    @Test
    void unparsableSettingValue() throws IOException {
        assertFails(2, List.of("bad value 'abc'", "gamma", "expected a number"), compute("gae", gaeFile(), "--set", "gamma=abc"));
    }

    @Test
    void settingValueOutOfRange() throws IOException {
        assertFails(2, List.of("gamma must be in [0, 1]", "1.5"), compute("gae", gaeFile(), "--set", "gamma=1.5"));
    }

    @Test
    void unknownSwitchValue() throws IOException {
        assertFails(2, List.of("kl_estimator", "'k9'", "k3"), compute("kl_penalty", gaeFile(), "--set", "kl_estimator=k9"));
    }

    @Test
    void dualClipNotAboveOne() throws IOException {
        assertFails(2, List.of("dual_clip must be > 1"), compute("policy_loss", gaeFile(), "--set", "dual_clip=0.5"));
    }

    @Test
    void setWithoutEquals() throws IOException {
        assertFails(2, List.of("--set expects KEY=VALUE", "'gamma'"), compute("gae", gaeFile(), "--set", "gamma"));
    }

    @Test
    void unknownPreset() throws IOException {
        assertFails(2, List.of("unknown preset 'trlx'", "openrlhf"), compute("gae", gaeFile(), "--preset", "trlx"));
    }

    @Test
    void unknownBackend() throws IOException {
        List<String> a = new ArrayList<>(List.of(compute("gae", gaeFile())));
        a.set(a.indexOf("reference"), "tpu");
        assertFails(2, List.of("unknown backend 'tpu'", "reference"), a.toArray(String[]::new));
    }

    @Test
    void groupAdvantagesWithoutGroupSize() throws IOException {
        Path in = file("in.safetensors", Map.of("scores", f32(new float[] {1, 2, 3, 4}, 4)));
        assertFails(2, List.of("group_size"), compute("group_advantages", in));
    }

    // ------------------------------------------------------------------ files (exit 1)

    @Test
    void missingInputFile() throws IOException {
        assertFails(1, List.of("cannot read", "nope.safetensors", "no such file"), compute("gae", dir.resolve("nope.safetensors")));
    }

    @Test
    void inputIsADirectory() throws IOException {
        Files.createDirectory(dir.resolve("sub"));
        assertFails(1, List.of("cannot read", "is a directory"), compute("gae", dir.resolve("sub")));
    }

    @Test
    void emptyInputFile() throws IOException {
        Path p = dir.resolve("empty.safetensors");
        Files.write(p, new byte[0]);
        assertFails(1, List.of("cannot read", "empty.safetensors", "too short"), compute("gae", p));
    }

    @Test
    void inputHeaderIsNotJson() throws IOException {
        byte[] h = "{\"rewards\": oops}".getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).put(h);
        Path p = dir.resolve("bad.safetensors");
        Files.write(p, b.array());
        assertFails(1, List.of("cannot read", "not valid JSON"), compute("gae", p));
    }

    @Test
    void inputTruncated() throws IOException {
        Path good = gaeFile();
        byte[] all = Files.readAllBytes(good);
        Path p = dir.resolve("cut.safetensors");
        Files.write(p, java.util.Arrays.copyOf(all, all.length - 4));
        Files.delete(good);
        assertFails(1, List.of("cannot read", "tensor '", "outside the data section"), compute("gae", p));
    }

    @Test
    void outputDirectoryMissing() throws IOException {
        Path in = gaeFile();
        List<String> before = listing();
        CliRunner.Result r = CliRunner.run("compute", "gae", "--in", in.toString(), "--out",
                dir.resolve("missing-dir/out.safetensors").toString(), "--backend", "reference");
        assertEquals(1, r.code(), r.toString());
        assertEquals(1, r.errLines().size(), r.toString());
        assertTrue(r.err().startsWith("ppo: error: cannot write") && r.err().contains("does not exist"), r.err());
        assertEquals(before, listing());
    }

    @Test
    void outputIsADirectory() throws IOException {
        Files.createDirectory(out);
        Path in = gaeFile();
        List<String> before = listing();
        CliRunner.Result r = CliRunner.run(compute("gae", in));
        assertEquals(1, r.code(), r.toString());
        assertEquals(List.of("ppo: error: cannot write " + out + ": it is a directory"), r.errLines());
        assertEquals(before, listing());
        assertTrue(Files.isDirectory(out));
    }

    @Test
    void outputParentIsAFile() throws IOException {
        Path in = gaeFile();
        Files.writeString(dir.resolve("plain"), "x");
        List<String> before = listing();
        CliRunner.Result r = CliRunner.run("compute", "gae", "--in", in.toString(), "--out",
                dir.resolve("plain/out.safetensors").toString(), "--backend", "reference");
        assertEquals(1, r.code(), r.toString());
        assertEquals(1, r.errLines().size(), r.toString());
        assertTrue(r.err().contains("cannot write"), r.err());
        assertEquals(before, listing());
    }

    // ------------------------------------------------------------------ tensors (exit 1)

    @Test
    void missingTensor() throws IOException {
        Map<String, Tensor> m = gaeInputs();
        m.remove("values");
        assertFails(1, List.of("missing tensor 'values'", "gae reads rewards, values, mask", "the file has rewards, mask"),
                compute("gae", file("in.safetensors", m)));
    }

    @Test
    void wrongShape() throws IOException {
        Map<String, Tensor> m = gaeInputs();
        m.put("values", zeros(DType.F32, 2, 4));
        assertFails(1, List.of("values: expected shape [2, 3] (the shape of rewards), got [2, 4]"), compute("gae", file("in.safetensors", m)));
    }

    @Test
    void wrongRank() throws IOException {
        Map<String, Tensor> m = gaeInputs();
        m.put("rewards", zeros(DType.F32, 2, 3, 1));
        assertFails(1, List.of("rewards: expected a per-token tensor of shape [B, T] or [T], got shape [2, 3, 1]"),
                compute("gae", file("in.safetensors", m)));
    }

    @Test
    void maskShapeMismatch() throws IOException {
        Map<String, Tensor> m = gaeInputs();
        m.put("mask", ones(DType.BOOL, 3, 2));
        assertFails(1, List.of("mask: expected shape [2, 3]", "got [3, 2]"), compute("gae", file("in.safetensors", m)));
    }

    @Test
    void integerPerTokenInput() throws IOException {
        Map<String, Tensor> m = gaeInputs();
        m.put("rewards", zeros(DType.I32, 2, 3));
        assertFails(1, List.of("rewards: expected a float dtype", "got i32"), compute("gae", file("in.safetensors", m)));
    }

    @Test
    void floatLabels() throws IOException {
        Map<String, Tensor> m = logitInputs();
        m.put("labels", f32(new float[] {0, 2}, 2));
        assertFails(1, List.of("labels: expected dtype", "got f32"), compute("token_logprobs", file("in.safetensors", m)));
    }

    @Test
    void integerLogits() throws IOException {
        Map<String, Tensor> m = logitInputs();
        m.put("logits", zeros(DType.I64, 2, 3));
        assertFails(1, List.of("logits: expected dtype f32, bf16, f16 or f64, got i64"), compute("token_logprobs", file("in.safetensors", m)));
    }

    @Test
    void rankOneLogits() throws IOException {
        Map<String, Tensor> m = logitInputs();
        m.put("logits", zeros(DType.F32, 3));
        assertFails(1, List.of("logits: expected rank >= 2"), compute("token_logprobs", file("in.safetensors", m)));
    }

    @Test
    void labelsNotMatchingLogits() throws IOException {
        Map<String, Tensor> m = logitInputs();
        m.put("labels", Tensor.ofLongs(arena, new long[] {0, 1, 2}, 3));
        assertFails(1, List.of("labels: expected shape [2], got [3]"), compute("token_logprobs", file("in.safetensors", m)));
    }

    @Test
    void labelOutOfRange() throws IOException {
        Map<String, Tensor> m = logitInputs();
        m.put("labels", Tensor.ofLongs(arena, new long[] {0, 3}, 2));
        assertFails(1, List.of("labels: row 1 has label 3, outside [0, 3)"), compute("token_logprobs", file("in.safetensors", m)));
    }

    @Test
    void negativeLabel() throws IOException {
        Map<String, Tensor> m = logitInputs();
        m.put("labels", Tensor.ofInts(arena, new int[] {-1, 0}, 2));
        assertFails(1, List.of("labels: row 0 has label -1"), compute("token_logprobs", file("in.safetensors", m)));
    }

    @Test
    void backwardGradShapeMismatch() throws IOException {
        Map<String, Tensor> m = logitInputs();
        m.put("grad_logprobs", zeros(DType.F32, 1, 2));
        assertFails(1, List.of("grad_logprobs: expected shape [2] (the shape of labels), got [1, 2]"),
                compute("token_logprobs_backward", file("in.safetensors", m)));
    }

    @Test
    void whiteningWithOneValidToken() throws IOException {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("values", f32(new float[] {1, 2, 3}, 3));
        m.put("mask", Tensor.ofInts(arena, new int[] {0, 1, 0}, 3));
        assertFails(1, List.of("masked_whiten", "at least 2 valid tokens", "got 1"), compute("masked_whiten", file("in.safetensors", m)));
    }

    @Test
    void groupSizeNotDividingTheBatch() throws IOException {
        Path in = file("in.safetensors", Map.of("scores", f32(new float[] {1, 2, 3, 4, 5}, 5)));
        assertFails(1, List.of("batch size 5 is not divisible by group_size 2"), compute("group_advantages", in, "--set", "group_size=2"));
    }

    @Test
    void scoresOfTheWrongLength() throws IOException {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("logprobs", zeros(DType.F32, 2, 3));
        m.put("ref_logprobs", zeros(DType.F32, 2, 3));
        m.put("mask", ones(DType.U8, 2, 3));
        m.put("scores", f32(new float[] {1, 2, 3}, 3));
        assertFails(1, List.of("scores: expected shape [2], got [3]"), compute("kl_shaped_rewards", file("in.safetensors", m)));
    }

    @Test
    void valueMaskOfTheWrongShape() throws IOException {
        Map<String, Tensor> m = new LinkedHashMap<>();
        for (String n : List.of("logprobs", "old_logprobs", "advantages", "values", "old_values", "returns")) {
            m.put(n, zeros(DType.F32, 2, 3));
        }
        m.put("mask", ones(DType.F32, 2, 3));
        m.put("value_mask", ones(DType.F32, 2, 2));
        assertFails(1, List.of("value_mask: expected shape [2, 3]", "got [2, 2]"), compute("ppo_loss", file("in.safetensors", m)));
    }

    @Test
    void nonFiniteInputWithCheckFinite() throws IOException {
        Map<String, Tensor> m = gaeInputs();
        m.get("values").setFloat(4, Float.NaN);
        assertFails(1, List.of("values: non-finite value NaN at flat index 4"),
                compute("gae", file("in.safetensors", m), "--set", "check_finite=true"));
    }

    @Test
    void debugAddsTheStackTraceAfterTheLine() throws IOException {
        Map<String, Tensor> m = gaeInputs();
        m.remove("values");
        CliRunner.Result r = CliRunner.run(compute("gae", file("in.safetensors", m), "--debug"));
        assertEquals(1, r.code());
        List<String> lines = r.errLines();
        assertTrue(lines.get(0).startsWith("ppo: error: ") && lines.get(0).contains("missing tensor 'values'"), r.err());
        assertTrue(lines.size() > 1 && r.err().contains("at dev.ppoengine.cli."), "stack trace with --debug:\n" + r.err());
        assertFalse(Files.exists(out));
    }
}
