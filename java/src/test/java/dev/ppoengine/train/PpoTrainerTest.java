package dev.ppoengine.train;

import dev.ppoengine.kernels.Backends;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.kernels.PpoLossResult;
import dev.ppoengine.kernels.RewardOptions;
import dev.ppoengine.model.ByteTokenizer;
import dev.ppoengine.model.PolicyValueModel;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The PPO step on a tiny model: learning, determinism, the statistics against the kernels, gradient accumulation. */
class PpoTrainerTest {

    /** Runs a warm-started tiny PPO for {@code steps} steps and returns every step's metrics. */
    private static List<Map<String, Double>> run(TrainConfig c, int steps, List<PpoLossResult> seen, float[][] weightsOut) {
        Task task = new TinyRuns.PickATask();
        try (PpoKernels k = Backends.create("reference"); PolicyValueModel policy = TinyRuns.model(c)) {
            TextCodec codec = new TextCodec(new ByteTokenizer());
            TinyRuns.warmStart(policy, codec, task, k, c);
            try (PolicyValueModel ref = policy.frozenCopy();
                 PpoTrainer t = new PpoTrainer(c, policy, ref, codec, task, task.rewardFunction(), k)) {
                if (seen != null) t.setObserver((e, mb, mi, r) -> seen.add(r));
                List<Map<String, Double>> out = new ArrayList<>();
                for (int s = 0; s < steps; s++) out.add(t.step().metrics());
                if (weightsOut != null) {
                    var p = policy.parameters();
                    weightsOut[0] = new float[(int) p.flatSize()];
                    for (int i = 0; i < weightsOut[0].length; i++) weightsOut[0][i] = p.get(i);
                }
                return out;
            }
        }
    }

    @ParameterizedTest(name = "fused_lm_head={0}")
    @ValueSource(booleans = {false, true})
    void meanRewardRisesOnATriviallyLearnableReward(boolean fused) {
        TrainConfig c = TinyRuns.config(Map.of("sft_steps", "100", "sft_lr", "1e-2", "fused_lm_head", Boolean.toString(fused)));
        List<Map<String, Double>> m = run(c, 8, null, null);
        double first = m.getFirst().get("objective/scores");
        double last = (m.get(5).get("objective/scores") + m.get(6).get("objective/scores") + m.get(7).get("objective/scores")) / 3;
        assertTrue(first > 0.2 && first < 0.8, "the warm start answers 'a' about half the time, got " + first);
        assertTrue(last > first + 0.2, "reward must rise: first " + first + ", mean of the last three " + last);
        for (Map<String, Double> r : m) {
            assertTrue(r.get("objective/kl") < 5, "KL stays bounded: " + r.get("objective/kl"));
            for (var e : r.entrySet()) assertTrue(Double.isFinite(e.getValue()), e.getKey() + " = " + e.getValue());
        }
    }

    @Test
    void theSameConfigGivesBitwiseTheSameRun() {
        TrainConfig c = TinyRuns.config(Map.of("sft_steps", "10"));
        float[][] w1 = new float[1][], w2 = new float[1][];
        List<Map<String, Double>> a = run(c, 2, null, w1), b = run(c, 2, null, w2);
        for (int s = 0; s < 2; s++) assertEquals(withoutTimings(a.get(s)), withoutTimings(b.get(s)));
        assertArrayEquals(w1[0], w2[0]);
    }

    /**
     * fused_lm_head only changes where the actor's log-probs, entropy and their gradient are computed (from the hidden
     * states by linear_token_logprobs instead of token_logprobs on materialised logits): the same rollouts and the
     * same metrics up to f32 rounding of the logits path, over steps whose rollouts depend on the previous updates.
     */
    @Test
    void theFusedLmHeadGivesTheSameRun() {
        float[][] wOff = new float[1][], wOn = new float[1][];
        List<PpoLossResult> seenOff = new ArrayList<>(), seenOn = new ArrayList<>();
        Map<String, String> base = Map.of("sft_steps", "10", "entropy_coef", "0.01");
        List<Map<String, Double>> off = run(TinyRuns.config(base), 3, seenOff, wOff);
        Map<String, String> fused = new java.util.HashMap<>(base);
        fused.put("fused_lm_head", "true");
        List<Map<String, Double>> on = run(TinyRuns.config(fused), 3, seenOn, wOn);
        assertEquals(seenOff.size(), seenOn.size());
        for (int s = 0; s < 3; s++) {
            Map<String, Double> a = withoutTimings(off.get(s)), b = withoutTimings(on.get(s));
            assertEquals(a.keySet(), b.keySet());
            for (String key : a.keySet()) {
                assertEquals(a.get(key), b.get(key), 1e-4 + 1e-3 * Math.abs(a.get(key)), "step " + (s + 1) + " " + key);
            }
        }
        double maxDiff = 0;
        for (int i = 0; i < wOff[0].length; i++) maxDiff = Math.max(maxDiff, Math.abs(wOff[0][i] - wOn[0][i]));
        assertTrue(maxDiff < 1e-4, "weights after three steps differ by " + maxDiff);
    }

    @Test
    void theFusedLmHeadIsAConfigKey() {
        TrainConfig d = TrainConfig.defaults();
        assertEquals("auto", d.fusedLmHead());
        // auto: on where the [batch_size, n_positions, V] f32 logits exceed 1 GiB — not for the built-in 259-token
        // model (64 × 32 × 259 × 4 bytes), yes for GPT-2's 50257 tokens at 1024 positions (64 × 1024 × 50257 × 4)
        assertFalse(d.fusedLmHeadFor(259, 32));
        assertTrue(d.fusedLmHeadFor(50257, 1024));
        assertFalse(d.fusedLmHeadFor(8192, 512), "64 × 512 × 8192 × 4 bytes is exactly 1 GiB: not above it");
        TrainConfig on = d.with(Map.of("fused-lm-head", "on")), off = d.with(Map.of("fused_lm_head", "false"));
        assertEquals("on", on.fusedLmHead());
        assertTrue(on.fusedLmHeadFor(259, 32));
        assertEquals("off", off.fusedLmHead());
        assertFalse(off.fusedLmHeadFor(50257, 1024));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> d.with(Map.of("fused_lm_head", "sometimes")));
        assertTrue(e.getMessage().contains("fused_lm_head: expected auto, on or off, got 'sometimes'"), e.getMessage());
        assertTrue(TrainConfig.keys().contains("fused_lm_head"));
        assertEquals("cpu", PpoTrainer.linearBackend("cpu"));
        assertEquals("reference", PpoTrainer.linearBackend("reference"));
    }

    static Map<String, Double> withoutTimings(Map<String, Double> m) {
        Map<String, Double> out = new java.util.LinkedHashMap<>(m);
        out.keySet().removeIf(k -> k.startsWith("time/") || k.equals("tokens_per_second"));
        return out;
    }

    @Test
    void statisticsEqualWhatTheKernelsReport() {
        TrainConfig c = TinyRuns.config(Map.of("sft_steps", "10", "entropy_coef", "0.01"));
        Task task = new TinyRuns.PickATask();
        List<PpoLossResult> seen = new ArrayList<>();
        try (PpoKernels k = Backends.create("reference"); PolicyValueModel policy = TinyRuns.model(c); Arena a = Arena.ofConfined()) {
            TextCodec codec = new TextCodec(new ByteTokenizer());
            TinyRuns.warmStart(policy, codec, task, k, c);
            try (PolicyValueModel ref = policy.frozenCopy();
                 PpoTrainer t = new PpoTrainer(c, policy, ref, codec, task, task.rewardFunction(), k)) {
                t.setObserver((e, mb, mi, r) -> seen.add(r));
                Map<String, Double> m = t.step().metrics();
                // 16 rollouts / minibatches of 8 × 2 epochs = 4 ppo_loss calls, one per minibatch (no accumulation)
                assertEquals(4, seen.size());
                assertEquals(mean(seen, r -> r.policyLoss()), m.get("ppo/loss/policy"), 1e-12);
                assertEquals(mean(seen, r -> r.valueLoss()), m.get("ppo/loss/value"), 1e-12);
                assertEquals(mean(seen, r -> r.entropyLoss()), m.get("ppo/loss/entropy"), 1e-12);
                assertEquals(mean(seen, r -> r.loss()), m.get("ppo/loss/total"), 1e-12);
                assertEquals(mean(seen, r -> r.policy().clipfrac()), m.get("ppo/policy/clipfrac"), 1e-12);
                assertEquals(mean(seen, r -> r.policy().approxKl()), m.get("ppo/policy/approxkl"), 1e-12);
                assertEquals(mean(seen, r -> r.policy().ppoKl()), m.get("ppo/policy/policykl"), 1e-12);
                assertEquals(mean(seen, r -> r.value().clipfrac()), m.get("ppo/val/clipfrac"), 1e-12);
                // total = policy + vf_coef·value − entropy_coef·entropy for every call (trl preset: vf_coef 0.1)
                for (PpoLossResult r : seen) assertEquals(r.policyLoss() + 0.1 * r.valueLoss() - 0.01 * r.entropyLoss(), r.loss(), 1e-9);

                // The rollout's shaped rewards, KL, advantages and returns are exactly the kernels' outputs.
                PpoTrainer.Rollout ro = t.lastRollout();
                long b = ro.mask().dim(0), tt = ro.mask().dim(1);
                Tensor rewards = Tensor.allocate(a, DType.F32, b, tt), kl = Tensor.allocate(a, DType.F32, b, tt),
                        rmask = Tensor.allocate(a, DType.F32, b, tt), adv = Tensor.allocate(a, DType.F32, b, tt),
                        ret = Tensor.allocate(a, DType.F32, b, tt), white = Tensor.allocate(a, DType.F32, b, tt);
                RewardOptions o = t.settings().rewardOptions();
                o = new RewardOptions(o.kl(), ro.klCoef(), o.scorePosition(), o.scoreClip(), o.klAtScoreSlot());
                k.klShapedRewards(ro.oldLogprobs(), ro.refLogprobs(), ro.mask(), ro.scores(), o, rewards, kl, rmask);
                k.gae(rewards, ro.oldValues(), rmask, t.settings().gaeOptions(), adv, ret);
                k.maskedWhiten(adv, ro.mask(), t.settings().whitenOptions(), white);
                assertArrayEquals(rewards.toFloatArray(), ro.rewards().toFloatArray());
                assertArrayEquals(kl.toFloatArray(), ro.kl().toFloatArray());
                assertArrayEquals(ret.toFloatArray(), ro.returns().toFloatArray());
                assertArrayEquals(white.toFloatArray(), ro.advantages().toFloatArray());
                // objective/kl = batch mean of the per-sequence KL sum; objective/scores = mean task reward.
                double klSum = 0;
                for (long i = 0; i < kl.numel(); i++) klSum += kl.getDouble(i);
                assertEquals(klSum / b, m.get("objective/kl"), 1e-12);
                assertEquals(c.kernelSettings().number("kl_coef"), m.get("objective/kl_coef"));
                double score = 0;
                for (RewardFunction.Sample s : ro.samples()) score += task.reward(s.prompt(), s.response(), s.endedWithEos());
                assertEquals(score / b, m.get("objective/scores"), 1e-12);
                assertEquals(ro.scores().toDoubleArray()[0], task.reward(ro.samples().get(0).prompt(), ro.samples().get(0).response(), true), 1e-6);
                assertEquals(PpoTrainer.maskedMean(ro.returns(), ro.rewardMask()), m.get("ppo/returns/mean"), 1e-12);
            }
        }
    }

    private static double mean(List<PpoLossResult> l, java.util.function.ToDoubleFunction<PpoLossResult> f) {
        return l.stream().mapToDouble(f).average().orElseThrow();
    }

    @Test
    void microBatchAccumulationEqualsTheWholeMinibatch() {
        float[][] whole = new float[1][], split = new float[1][];
        List<PpoLossResult> seenSplit = new ArrayList<>();
        Map<String, Double> a = run(TinyRuns.config(Map.of("sft_steps", "10")), 1, null, whole).getFirst();
        Map<String, Double> b = run(TinyRuns.config(Map.of("sft_steps", "10", "micro_batch_size", "4")), 1, seenSplit, split).getFirst();
        assertEquals(8, seenSplit.size(), "two micro-batches per minibatch");
        for (String key : List.of("ppo/loss/policy", "ppo/loss/value", "ppo/loss/total", "ppo/policy/clipfrac", "ppo/policy/approxkl",
                "ppo/val/clipfrac", "ppo/val/var_explained", "objective/kl")) {
            assertEquals(a.get(key), b.get(key), 1e-5 + 1e-4 * Math.abs(a.get(key)), key);
        }
        double maxDiff = 0;
        for (int i = 0; i < whole[0].length; i++) maxDiff = Math.max(maxDiff, Math.abs(whole[0][i] - split[0][i]));
        assertTrue(maxDiff < 1e-4, "weights after one step differ by " + maxDiff);
    }

    @ParameterizedTest
    @ValueSource(strings = {"trl", "trl-ppov2", "deepspeed-chat", "verl", "openrlhf"})
    void everyPresetDrivesTheStep(String preset) {
        TrainConfig c = TinyRuns.config(Map.of("sft_steps", "5", "preset", preset, "max_new_tokens", "4"));
        Task task = new TinyRuns.PickATask();
        try (PpoKernels k = Backends.create("reference"); PolicyValueModel policy = TinyRuns.model(c)) {
            TextCodec codec = new TextCodec(new ByteTokenizer());
            try (PolicyValueModel ref = policy.frozenCopy();
                 PpoTrainer t = new PpoTrainer(c, policy, ref, codec, task, task.rewardFunction(), k)) {
                Map<String, Double> m = t.step().metrics();
                for (var e : m.entrySet()) assertTrue(Double.isFinite(e.getValue()), preset + ": " + e.getKey() + " = " + e.getValue());
                assertEquals(c.kernelSettings().number("kl_coef"), m.get("objective/kl_coef"), preset);
                boolean adaptive = preset.equals("trl");
                assertEquals(adaptive, t.klController() instanceof KlController.Adaptive, preset);
                PpoTrainer.Rollout ro = t.lastRollout();
                boolean afterLast = preset.equals("trl-ppov2") || preset.equals("deepspeed-chat");
                long resp = ro.mask().dim(1);
                for (int b = 0; b < ro.mask().dim(0); b++) {
                    int len = ro.batch().responseLengths[b];
                    for (int j = 0; j < resp; j++) {
                        boolean inMask = j < len, slot = afterLast && j == Math.min(len, resp - 1);
                        assertEquals(inMask || slot, ro.rewardMask().isSet(b * resp + j), preset + " row " + b + " slot " + j);
                    }
                }
            }
        }
    }
}
