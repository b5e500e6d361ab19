package dev.ppoengine.cli;

import dev.ppoengine.kernels.PolicyLossResult;
import dev.ppoengine.kernels.PpoLossInputs;
import dev.ppoengine.kernels.PpoLossResult;
import dev.ppoengine.kernels.Preset;
import dev.ppoengine.kernels.Settings;
import dev.ppoengine.kernels.ValueLossResult;
import dev.ppoengine.reference.LinearTokenLogprobsReference;
import dev.ppoengine.reference.ReferenceKernels;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Safetensors;
import dev.ppoengine.tensor.SafetensorsFile;
import dev.ppoengine.tensor.Tensor;
import dev.ppoengine.testing.Rand;
import dev.ppoengine.testing.Tolerance;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code ppo compute} end to end: every op on a generated safetensors file, for every preset, on the reference
 * backend; the written tensors must equal (bitwise: same backend, same f32 inputs) what {@link ReferenceKernels}
 * returns when called directly with the same resolved settings. Further cases cover the input conversions of the
 * command (bf16/f16/f64 inputs, [T] inputs, [B, T, V] logits, every mask dtype, 0-d scores, unused tensors).
 */
class ComputeCliTest {
    @TempDir Path dir;
    private Arena arena;
    private Rand rnd;
    private final ReferenceKernels ref = new ReferenceKernels();

    // B = 3 sequences of T = 7 positions (odd, not a vector width), vocabulary V = 11.
    static final int B = 3, T = 7, V = 11;

    @BeforeEach
    void open() {
        arena = Arena.ofConfined();
        rnd = new Rand(arena, 20240611);
    }

    @AfterEach
    void close() {
        arena.close();
    }

    // ------------------------------------------------------------------ inputs per op

    /** Mask [B, T]: row 0 full, row 1 right-padded to 4, row 2 with an interior gap (positions 2 and 5 masked). */
    private Tensor mask(DType dtype) {
        int[] m = {1, 1, 1, 1, 1, 1, 1,
                   1, 1, 1, 1, 0, 0, 0,
                   1, 1, 0, 1, 1, 0, 1};
        Tensor t = Tensor.allocate(arena, dtype, B, T);
        for (int i = 0; i < m.length; i++) t.setFloat(i, m[i]);
        return t;
    }

    private Tensor tokens(double scale) { return rnd.normal(DType.F32, scale, B, T); }

    private Tensor logprobs() {
        Tensor t = Tensor.allocate(arena, DType.F32, B, T);
        for (int i = 0; i < B * T; i++) t.setFloat(i, -Math.abs(rnd.normal()) - 0.05);
        return t;
    }

    /** Old log-probs near the new ones, so ratios land on both sides of the clip range. */
    private Tensor near(Tensor x, double spread) {
        Tensor t = Tensor.allocate(arena, DType.F32, x.shape());
        for (long i = 0; i < x.numel(); i++) t.setFloat(i, x.getDouble(i) + spread * rnd.normal());
        return t;
    }

    /** The input file's tensors of {@code op} (plus one unused tensor the command must ignore). */
    private Map<String, Tensor> inputs(String op) {
        Map<String, Tensor> in = new LinkedHashMap<>();
        switch (op) {
            case "token_logprobs" -> {
                in.put("logits", rnd.normal(DType.F32, 2.0, B * T, V));
                in.put("labels", rnd.labels(DType.I64, V, B * T));
            }
            case "token_logprobs_backward" -> {
                in.put("logits", rnd.normal(DType.F32, 2.0, B * T, V));
                in.put("labels", rnd.labels(DType.I32, V, B * T));
                in.put("grad_logprobs", rnd.normal(DType.F32, 1.0, B * T));
                in.put("grad_entropy", rnd.normal(DType.F32, 0.5, B * T));
            }
            case "linear_token_logprobs" -> {
                in.put("hidden", rnd.normal(DType.F32, 1.0, B, T, 5));
                in.put("weight", rnd.normal(DType.F32, 0.8, V, 5));
                in.put("bias", rnd.normal(DType.F32, 0.5, V));
                in.put("labels", rnd.labels(DType.I64, V, B, T));
                in.put("grad_logprobs", rnd.normal(DType.F32, 1.0, B, T));
                in.put("grad_entropy", rnd.normal(DType.F32, 0.5, B, T));
            }
            case "kl_penalty" -> {
                Tensor lp = logprobs();
                in.put("logprobs", lp);
                in.put("ref_logprobs", near(lp, 0.3));
                in.put("mask", mask(DType.BOOL));
            }
            case "kl_shaped_rewards" -> {
                Tensor lp = logprobs();
                in.put("logprobs", lp);
                in.put("ref_logprobs", near(lp, 0.3));
                in.put("mask", mask(DType.I64));
                in.put("scores", Tensor.ofFloats(arena, new float[] {2.5f, -12f, 0.75f}, B));
            }
            case "gae" -> {
                in.put("rewards", tokens(1.0));
                in.put("values", tokens(1.0));
                in.put("mask", mask(DType.F32));
            }
            case "masked_whiten" -> {
                in.put("values", tokens(3.0));
                in.put("mask", mask(DType.U8));
            }
            case "policy_loss" -> {
                Tensor lp = logprobs();
                in.put("logprobs", lp);
                in.put("old_logprobs", near(lp, 0.3));
                in.put("advantages", tokens(1.0));
                in.put("mask", mask(DType.F32));
            }
            case "value_loss" -> {
                Tensor v = tokens(1.0);
                in.put("values", v);
                in.put("old_values", near(v, 0.4));
                in.put("returns", tokens(1.0));
                in.put("mask", mask(DType.I32));
            }
            case "ppo_loss" -> {
                Tensor lp = logprobs(), v = tokens(1.0);
                in.put("logprobs", lp);
                in.put("old_logprobs", near(lp, 0.3));
                in.put("advantages", tokens(1.0));
                in.put("values", v);
                in.put("old_values", near(v, 0.4));
                in.put("returns", tokens(1.0));
                in.put("mask", mask(DType.F32));
                Tensor vm = mask(DType.F32);
                vm.setFloat(11, 1); // the reward mask covers the slot after row 1's last token
                in.put("value_mask", vm);
                in.put("entropy", rnd.uniform(0.1, 3.0, B, T));
            }
            case "group_advantages" -> in.put("scores", rnd.normal(DType.F32, 1.0, 6));
            default -> throw new IllegalArgumentException(op);
        }
        in.put("unused_extra", Tensor.ofInts(arena, new int[] {1, 2, 3}, 3));
        return in;
    }

    /** Settings each op needs beyond the preset (group_advantages has no default group size). */
    private static List<String> requiredSets(String op) {
        return op.equals("group_advantages") ? List.of("group_size=3") : List.of();
    }

    // ------------------------------------------------------------------ expected outputs (reference, called directly)

    private Tensor f32(long... shape) { return Tensor.allocate(arena, DType.F32, shape); }

    private Tensor scalar(double v) { return Tensor.scalar(arena, (float) v); }

    private Map<String, Tensor> expected(String op, Map<String, Tensor> in, Settings s) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        switch (op) {
            case "token_logprobs" -> {
                Tensor lp = f32(in.get("labels").shape()), ent = f32(in.get("labels").shape());
                ref.tokenLogprobs(in.get("logits"), in.get("labels"), s.logprobOptions(), lp, ent, null);
                out.put("logprobs", lp);
                out.put("entropy", ent);
            }
            case "token_logprobs_backward" -> {
                Tensor logits = in.get("logits"), labels = in.get("labels");
                Tensor saved = f32(logits.rows(), 3), g = f32(logits.shape());
                ref.tokenLogprobs(logits, labels, s.logprobOptions(), f32(labels.shape()), null, saved);
                ref.tokenLogprobsBackward(logits, labels, saved, in.get("grad_logprobs"), in.get("grad_entropy"),
                        s.logprobOptions(), g);
                out.put("grad_logits", g);
            }
            case "linear_token_logprobs" -> {
                Tensor h = in.get("hidden"), w = in.get("weight"), b = in.get("bias"), y = in.get("labels");
                Tensor lp = f32(y.shape()), ent = f32(y.shape()), saved = f32(y.numel(), 3);
                Tensor gh = f32(h.shape()), gw = f32(w.shape()), gb = f32(b.shape());
                LinearTokenLogprobsReference lin = new LinearTokenLogprobsReference();
                lin.forward(h, w, b, y, s.logprobOptions(), lp, ent, saved);
                lin.backward(h, w, b, y, saved, in.get("grad_logprobs"), in.get("grad_entropy"), s.logprobOptions(),
                        gh, gw, gb, false);
                out.put("logprobs", lp);
                out.put("entropy", ent);
                out.put("grad_hidden", gh);
                out.put("grad_weight", gw);
                out.put("grad_bias", gb);
            }
            case "kl_penalty" -> {
                Tensor kl = f32(B, T);
                ref.klPenalty(in.get("logprobs"), in.get("ref_logprobs"), in.get("mask"), s.klOptions(), kl);
                out.put("kl", kl);
            }
            case "kl_shaped_rewards" -> {
                Tensor r = f32(B, T), kl = f32(B, T), rm = f32(B, T);
                ref.klShapedRewards(in.get("logprobs"), in.get("ref_logprobs"), in.get("mask"), in.get("scores"),
                        s.rewardOptions(), r, kl, rm);
                out.put("rewards", r);
                out.put("kl", kl);
                out.put("reward_mask", rm);
            }
            case "gae" -> {
                Tensor a = f32(B, T), ret = f32(B, T);
                ref.gae(in.get("rewards"), in.get("values"), in.get("mask"), s.gaeOptions(), a, ret);
                out.put("advantages", a);
                out.put("returns", ret);
            }
            case "masked_whiten" -> {
                Tensor w = f32(B, T);
                ref.maskedWhiten(in.get("values"), in.get("mask"), s.whitenOptions(), w);
                out.put("whitened", w);
            }
            case "policy_loss" -> {
                Tensor g = f32(B, T);
                PolicyLossResult r = ref.policyLoss(in.get("logprobs"), in.get("old_logprobs"), in.get("advantages"),
                        in.get("mask"), s.policyLossOptions(), g);
                out.put("loss", scalar(r.loss()));
                out.put("grad_logprobs", g);
                policyStats(out, r);
            }
            case "value_loss" -> {
                Tensor g = f32(B, T);
                ValueLossResult r = ref.valueLoss(in.get("values"), in.get("old_values"), in.get("returns"),
                        in.get("mask"), s.valueLossOptions(), g);
                out.put("loss", scalar(r.loss()));
                out.put("grad_values", g);
                out.put("clipfrac", scalar(r.clipfrac()));
            }
            case "ppo_loss" -> {
                PpoLossInputs pin = new PpoLossInputs(in.get("logprobs"), in.get("old_logprobs"), in.get("advantages"),
                        in.get("values"), in.get("old_values"), in.get("returns"), in.get("mask"), in.get("value_mask"),
                        in.get("entropy"));
                Tensor gl = f32(B, T), gv = f32(B, T), ge = in.get("entropy") != null ? f32(B, T) : null;
                PpoLossResult r = ref.ppoLoss(pin, s.ppoLossOptions(), gl, gv, ge);
                out.put("loss", scalar(r.loss()));
                out.put("policy_loss", scalar(r.policyLoss()));
                out.put("value_loss", scalar(r.valueLoss()));
                out.put("entropy_loss", scalar(r.entropyLoss()));
                out.put("grad_logprobs", gl);
                out.put("grad_values", gv);
                if (ge != null) out.put("grad_entropy", ge);
                policyStats(out, r.policy());
                out.put("vf_clipfrac", scalar(r.value().clipfrac()));
            }
            case "group_advantages" -> {
                Tensor m = in.get("mask");
                Tensor a = m == null ? f32(in.get("scores").dim(0)) : f32(m.shape());
                ref.groupAdvantages(in.get("scores"), m, s.groupOptions(), a);
                out.put("advantages", a);
            }
            default -> throw new IllegalArgumentException(op);
        }
        return out;
    }

    private void policyStats(Map<String, Tensor> out, PolicyLossResult r) {
        out.put("clipfrac", scalar(r.clipfrac()));
        out.put("clipfrac_lower", scalar(r.clipfracLower()));
        out.put("ppo_kl", scalar(r.ppoKl()));
        out.put("approx_kl", scalar(r.approxKl()));
    }

    // ------------------------------------------------------------------ running the command

    private Path write(String name, Map<String, Tensor> tensors) throws IOException {
        Path p = dir.resolve(name);
        Safetensors.write(p, tensors, Map.of());
        return p;
    }

    /** Runs {@code ppo compute op}, asserts success, and returns the output file's tensors as dense copies. */
    private Map<String, Tensor> compute(String op, Map<String, Tensor> in, String preset, List<String> sets,
                                        String backend) throws IOException {
        Path inFile = write("in.safetensors", in);
        Path outFile = dir.resolve("out.safetensors");
        List<String> args = new ArrayList<>(List.of("compute", op, "--in", inFile.toString(), "--out", outFile.toString(),
                "--preset", preset, "--backend", backend));
        for (String kv : sets) {
            args.add("--set");
            args.add(kv);
        }
        CliRunner.Result r = CliRunner.run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.toString());
        assertEquals("", r.err(), r.toString());
        assertTrue(r.out().startsWith(op + ": wrote "), r.out());
        Map<String, Tensor> got = new LinkedHashMap<>();
        try (SafetensorsFile f = Safetensors.read(outFile)) {
            assertEquals(op, f.metadata().get("op"));
            assertEquals(preset, f.metadata().get("preset"));
            for (var e : f.tensors().entrySet()) {
                Tensor t = e.getValue();
                Tensor copy = Tensor.allocate(arena, t.dtype(), t.shape());
                for (long i = 0; i < t.numel(); i++) copy.setFloat(i, t.getDouble(i));
                got.put(e.getKey(), copy);
            }
        }
        return got;
    }

    /** Same names in the same order, f32, same shapes, bitwise-equal values. */
    private static void assertSameTensors(Map<String, Tensor> expected, Map<String, Tensor> actual) {
        assertEquals(List.copyOf(expected.keySet()), List.copyOf(actual.keySet()), "output tensor names");
        for (String name : expected.keySet()) {
            Tensor e = expected.get(name), a = actual.get(name);
            assertEquals(DType.F32, a.dtype(), name);
            assertArrayEquals(e.shape(), a.shape(), name + " shape");
            assertArrayEquals(e.toFloatArray(), a.toFloatArray(), name);
        }
    }

    static Stream<Arguments> opsAndPresets() {
        return Arrays.stream(ComputeOp.values())
                .flatMap(op -> Arrays.stream(Preset.values()).map(p -> Arguments.of(op.key(), p.key())));
    }

    // ------------------------------------------------------------------ every op × every preset

    @ParameterizedTest(name = "{0} --preset {1}")
    @MethodSource("opsAndPresets")
    void everyOpMatchesTheReferenceForEveryPreset(String op, String preset) throws IOException {
        Map<String, Tensor> in = inputs(op);
        List<String> sets = requiredSets(op);
        Map<String, Tensor> got = compute(op, in, preset, sets, "reference");
        assertSameTensors(expected(op, in, settings(preset, sets)), got);
    }

    private static Settings settings(String preset, List<String> sets) {
        Map<String, String> m = new LinkedHashMap<>();
        for (String kv : sets) m.put(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1));
        return Settings.of(Preset.parse(preset), m);
    }

    @Test
    void explicitSettingsOverrideThePreset() throws IOException {
        Map<String, Tensor> in = inputs("gae");
        List<String> sets = List.of("gamma=0.9", "lam=0.8", "gae_masked_steps=skip");
        Map<String, Tensor> got = compute("gae", in, "verl", sets, "reference");
        assertSameTensors(expected("gae", in, settings("verl", sets)), got);
        // And the override really changed something: the preset's own values give other advantages.
        Map<String, Tensor> plain = expected("gae", in, settings("verl", List.of()));
        assertTrue(!Arrays.equals(plain.get("advantages").toFloatArray(), got.get("advantages").toFloatArray()));
    }

    @Test
    void klEstimatorAndClampsFromSettings() throws IOException {
        Map<String, Tensor> in = inputs("kl_penalty");
        List<String> sets = List.of("kl_estimator=k3", "kl_output_clamp=0.05");
        assertSameTensors(expected("kl_penalty", in, settings("openrlhf", sets)),
                compute("kl_penalty", in, "openrlhf", sets, "reference"));
    }

    @Test
    void policyLossAggregationAndTokenCountSettings() throws IOException {
        Map<String, Tensor> in = inputs("policy_loss");
        for (List<String> sets : List.of(List.of("loss_agg=seq-mean-token-sum"), List.of("token_count=64"),
                List.of("loss_agg=seq-mean-token-sum-norm", "loss_agg_norm=5"), List.of("dual_clip=3"))) {
            assertSameTensors(expected("policy_loss", in, settings("trl", sets)),
                    compute("policy_loss", in, "trl", sets, "reference"));
        }
    }

    @Test
    void checkFiniteOnFiniteInputsChangesNothing() throws IOException {
        Map<String, Tensor> in = inputs("value_loss");
        List<String> sets = List.of("check_finite=true");
        assertSameTensors(expected("value_loss", in, settings("trl", sets)), compute("value_loss", in, "trl", sets, "reference"));
    }

    @Test
    void ppoLossWithoutOptionalInputsWritesNoGradEntropy() throws IOException {
        Map<String, Tensor> in = inputs("ppo_loss");
        in.remove("value_mask");
        in.remove("entropy");
        Map<String, Tensor> got = compute("ppo_loss", in, "trl-ppov2", List.of(), "reference");
        assertTrue(!got.containsKey("grad_entropy"));
        assertSameTensors(expected("ppo_loss", in, settings("trl-ppov2", List.of())), got);
    }

    @Test
    void ppoLossWithEntropyCoefficient() throws IOException {
        Map<String, Tensor> in = inputs("ppo_loss");
        List<String> sets = List.of("entropy_coef=0.01", "vf_coef=0.5");
        assertSameTensors(expected("ppo_loss", in, settings("openrlhf", sets)), compute("ppo_loss", in, "openrlhf", sets, "reference"));
    }

    @Test
    void backwardWithoutGradEntropy() throws IOException {
        Map<String, Tensor> in = inputs("token_logprobs_backward");
        in.remove("grad_entropy");
        assertSameTensors(expected("token_logprobs_backward", in, settings("openrlhf", List.of())),
                compute("token_logprobs_backward", in, "openrlhf", List.of(), "reference"));
    }

    @Test
    void temperatureSettingReachesTheLogprobs() throws IOException {
        Map<String, Tensor> in = inputs("token_logprobs");
        List<String> sets = List.of("temperature=0.7");
        assertSameTensors(expected("token_logprobs", in, settings("trl", sets)), compute("token_logprobs", in, "trl", sets, "reference"));
    }

    @Test
    void groupAdvantagesWithAMaskArePerToken() throws IOException {
        Map<String, Tensor> in = new LinkedHashMap<>();
        in.put("scores", rnd.normal(DType.F32, 1.0, 6));
        in.put("mask", rnd.rightPaddedMask(DType.BOOL, 6, 5));
        List<String> sets = List.of("group_size=2", "group_estimator=rloo");
        Map<String, Tensor> got = compute("group_advantages", in, "verl", sets, "reference");
        assertArrayEquals(new long[] {6, 5}, got.get("advantages").shape());
        assertSameTensors(expected("group_advantages", in, settings("verl", sets)), got);
    }

    // ------------------------------------------------------------------ input conversions

    /** A copy of {@code t} stored as {@code dtype} (the file's tensor). */
    private Tensor as(DType dtype, Tensor t) {
        Tensor c = Tensor.allocate(arena, dtype, t.shape());
        for (long i = 0; i < t.numel(); i++) c.setFloat(i, t.getDouble(i));
        return c;
    }

    @Test
    void halfPrecisionPerTokenInputsAreWidenedExactly() throws IOException {
        // The file holds bf16 rewards and f16 values: the op must see exactly those rounded values in f32.
        Map<String, Tensor> in = inputs("gae");
        Tensor rewardsBf16 = as(DType.BF16, in.get("rewards")), valuesF16 = as(DType.F16, in.get("values"));
        Map<String, Tensor> file = new LinkedHashMap<>(in);
        file.put("rewards", rewardsBf16);
        file.put("values", valuesF16);
        Map<String, Tensor> exactF32 = new LinkedHashMap<>(in);
        exactF32.put("rewards", as(DType.F32, rewardsBf16));
        exactF32.put("values", as(DType.F32, valuesF16));
        assertSameTensors(expected("gae", exactF32, settings("trl", List.of())), compute("gae", file, "trl", List.of(), "reference"));
    }

    @Test
    void f64InputsAreRoundedToF32() throws IOException {
        Map<String, Tensor> in = inputs("policy_loss");
        Map<String, Tensor> file = new LinkedHashMap<>();
        for (var e : in.entrySet()) file.put(e.getKey(), e.getValue().dtype() == DType.F32 ? as(DType.F64, e.getValue()) : e.getValue());
        file.put("advantages", Tensor.allocate(arena, DType.F64, B, T));
        // f64 values that are not f32-representable: the command rounds each to the nearest f32.
        Map<String, Tensor> rounded = new LinkedHashMap<>(in);
        Tensor adv = Tensor.allocate(arena, DType.F32, B, T);
        for (int i = 0; i < B * T; i++) {
            double a = 0.1 * (i - 10) + 1e-9;
            file.get("advantages").setFloat(i, a);
            adv.setFloat(i, (float) a);
        }
        rounded.put("advantages", adv);
        assertSameTensors(expected("policy_loss", rounded, settings("verl", List.of())),
                compute("policy_loss", file, "verl", List.of(), "reference"));
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"BOOL", "U8", "I32", "I64", "F32", "BF16", "F16", "F64"})
    void everyMaskDtypeGivesTheSameResult(DType dtype) throws IOException {
        Map<String, Tensor> in = inputs("kl_penalty");
        Map<String, Tensor> expect = expected("kl_penalty", in, settings("trl", List.of()));
        Map<String, Tensor> file = new LinkedHashMap<>(in);
        file.put("mask", mask(dtype));
        assertSameTensors(expect, compute("kl_penalty", file, "trl", List.of(), "reference"));
    }

    @Test
    void f64MaskTreatsAnyNonzeroAsValid() throws IOException {
        Map<String, Tensor> in = inputs("kl_penalty");
        Map<String, Tensor> expect = expected("kl_penalty", in, settings("trl", List.of()));
        Tensor tiny = Tensor.allocate(arena, DType.F64, B, T);
        Tensor m = in.get("mask");
        for (int i = 0; i < B * T; i++) tiny.setFloat(i, m.isSet(i) ? 1e-300 : 0); // 1e-300 is 0 in f32, but valid
        Map<String, Tensor> file = new LinkedHashMap<>(in);
        file.put("mask", tiny);
        assertSameTensors(expect, compute("kl_penalty", file, "trl", List.of(), "reference"));
    }

    @Test
    void rankOneInputsAreOneSequenceAndOutputsKeepTheirShape() throws IOException {
        // [T] inputs are treated as [1, T]: the results must be row 0 of the [B, T] computation.
        Map<String, Tensor> in = inputs("kl_shaped_rewards");
        Map<String, Tensor> row = new LinkedHashMap<>();
        for (String n : List.of("logprobs", "ref_logprobs", "mask")) {
            Tensor t = in.get(n), r = Tensor.allocate(arena, t.dtype(), T);
            for (int i = 0; i < T; i++) r.setFloat(i, t.getDouble(i));
            row.put(n, r);
        }
        row.put("scores", Tensor.scalar(arena, 2.5f)); // a single score may be 0-d
        Map<String, Tensor> got = compute("kl_shaped_rewards", row, "deepspeed-chat", List.of(), "reference");
        Map<String, Tensor> full = expected("kl_shaped_rewards", in, settings("deepspeed-chat", List.of()));
        for (String n : List.of("rewards", "kl", "reward_mask")) {
            assertArrayEquals(new long[] {T}, got.get(n).shape(), n);
            assertArrayEquals(Arrays.copyOf(full.get(n).toFloatArray(), T), got.get(n).toFloatArray(), n);
        }
    }

    @Test
    void scoresOfShapeBx1AreAcceptedAsB() throws IOException {
        // A reward model's head gives [B, 1]: the same numbers as [B].
        Map<String, Tensor> in = inputs("kl_shaped_rewards");
        Map<String, Tensor> expect = expected("kl_shaped_rewards", in, settings("trl-ppov2", List.of()));
        Map<String, Tensor> file = new LinkedHashMap<>(in);
        file.put("scores", in.get("scores").reshape(B, 1));
        assertSameTensors(expect, compute("kl_shaped_rewards", file, "trl-ppov2", List.of(), "reference"));
    }

    @Test
    void batchedBf16LogitsWithBtLabels() throws IOException {
        // logits [B, T, V] bf16 (read natively by the kernel), labels [B, T]: outputs are [B, T].
        Map<String, Tensor> in = new LinkedHashMap<>();
        in.put("logits", rnd.normal(DType.BF16, 3.0, B, T, V));
        in.put("labels", rnd.labels(DType.I64, V, B, T));
        Map<String, Tensor> got = compute("token_logprobs", in, "verl", List.of("temperature=0.6"), "reference");
        assertArrayEquals(new long[] {B, T}, got.get("logprobs").shape());
        assertSameTensors(expected("token_logprobs", in, settings("verl", List.of("temperature=0.6"))), got);
    }

    @Test
    void f64LogitsAreConvertedForTheBackward() throws IOException {
        Map<String, Tensor> in = inputs("token_logprobs_backward");
        Map<String, Tensor> file = new LinkedHashMap<>(in);
        file.put("logits", as(DType.F64, in.get("logits")));       // exact: the values came from f32
        file.put("grad_logprobs", as(DType.BF16, in.get("grad_logprobs")));
        Map<String, Tensor> exact = new LinkedHashMap<>(in);
        exact.put("grad_logprobs", as(DType.F32, file.get("grad_logprobs")));
        assertSameTensors(expected("token_logprobs_backward", exact, settings("trl", List.of())),
                compute("token_logprobs_backward", file, "trl", List.of(), "reference"));
    }

    @Test
    void autoBackendAgreesWithTheReferenceWithinTolerance() throws IOException {
        Map<String, Tensor> in = inputs("ppo_loss");
        Map<String, Tensor> got = compute("ppo_loss", in, "trl", List.of(), "auto");
        Map<String, Tensor> exp = expected("ppo_loss", in, settings("trl", List.of()));
        assertEquals(exp.keySet(), got.keySet());
        for (String n : exp.keySet()) {
            Tolerance.assertClose(n, exp.get(n).toDoubleArray(), got.get(n).toDoubleArray());
        }
    }

    @Test
    void existingOutputIsReplaced() throws IOException {
        Files.writeString(dir.resolve("out.safetensors"), "stale");
        Map<String, Tensor> in = inputs("masked_whiten");
        assertSameTensors(expected("masked_whiten", in, settings("trl", List.of())),
                compute("masked_whiten", in, "trl", List.of(), "reference"));
    }
}
