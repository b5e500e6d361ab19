package dev.ppoengine.train;

import dev.ppoengine.kernels.Backends;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.model.ByteTokenizer;
import dev.ppoengine.model.Parameters;
import dev.ppoengine.model.PolicyValueModel;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;

import static org.junit.jupiter.api.Assertions.*;

/**
 * SFT (cross-entropy through token_logprobs) and reward-model training (Bradley–Terry): gradients against central
 * finite differences of the loss, and the loss falling / accuracy rising when trained.
 */
class SupervisedTrainersTest {
    private static final TextCodec CODEC = new TextCodec(new ByteTokenizer());

    private static PolicyValueModel tiny(long seed) {
        PolicyValueModel m = TinyRuns.model(TinyRuns.config(Map.of("seed", Long.toString(seed))));
        // Larger random weights than GPT-2's init so every path carries a visible gradient.
        m.parameters().initRandom(seed, 0.3);
        return m;
    }

    /**
     * Central differences (L(θ + h) − L(θ − h)) / 2h at the elements of largest gradient of a few parameters
     * (the model computes in f32, so h = 1e-2 and a tolerance of 3% + 2e-4).
     */
    private static void checkGradient(Parameters p, double[] analytic, DoubleSupplier loss, List<String> names) {
        double h = 1e-2;
        for (String name : names) {
            Parameters.Param prm = p.get(name);
            long best = prm.offset();
            for (long i = prm.offset(); i < prm.offset() + prm.numel(); i++) {
                if (Math.abs(analytic[(int) i]) > Math.abs(analytic[(int) best])) best = i;
            }
            float keep = p.get(best);
            p.set(best, (float) (keep + h));
            double up = loss.getAsDouble();
            p.set(best, (float) (keep - h));
            double down = loss.getAsDouble();
            p.set(best, keep);
            double fd = (up - down) / (2 * h), g = analytic[(int) best];
            assertEquals(fd, g, 2e-4 + 0.03 * Math.abs(fd), name + " element " + (best - prm.offset()) + ": finite difference " + fd + " vs backward " + g);
        }
    }

    private static double[] grads(Parameters p) {
        double[] g = new double[(int) p.flatSize()];
        for (int i = 0; i < g.length; i++) g[i] = p.gradAt(i);
        return g;
    }

    @Test
    void sftGradientMatchesFiniteDifferencesAndTheLossFalls() {
        List<String> prompts = List.of("3714=", "90=", "5551=", "2="), responses = List.of("1347", "09", "1555", "2");
        try (PpoKernels k = Backends.create("reference"); PolicyValueModel m = tiny(3);
             SftTrainer sft = new SftTrainer(m, CODEC, k, AdamW.Options.defaults(), LrSchedule.constant(1e-2), 0)) {
            double loss = sft.gradient(prompts, responses);
            assertEquals(sft.evaluate(prompts, responses), loss, 1e-9);
            checkGradient(m.parameters(), grads(m.parameters()), () -> sft.evaluate(prompts, responses),
                    List.of("wte.weight", "wpe.weight", "h.0.attn.c_attn.weight", "h.0.mlp.c_fc.bias", "ln_f.weight"));
            double before = sft.evaluate(prompts, responses);
            for (int s = 0; s < 30; s++) sft.step(prompts, responses);
            double after = sft.evaluate(prompts, responses);
            assertTrue(after < 0.5 * before, "SFT loss must fall: " + before + " -> " + after);
        }
    }

    @Test
    void bradleyTerryGradientMatchesFiniteDifferences() {
        List<Jsonl.Preference> pairs = List.of(new Jsonl.Preference("3714=", "1347", "7431"), new Jsonl.Preference("90=", "09", "99"),
                new Jsonl.Preference("52=", "25", "52"));
        try (PolicyValueModel m = tiny(4);
             RewardModelTrainer rm = new RewardModelTrainer(m, CODEC, AdamW.Options.defaults(), LrSchedule.constant(1e-2), 0)) {
            RewardModelTrainer.StepStats s = rm.gradient(pairs);
            assertEquals(rm.evaluate(pairs).loss(), s.loss(), 1e-12);
            checkGradient(m.parameters(), grads(m.parameters()), () -> rm.evaluate(pairs).loss(),
                    List.of("v_head.summary.weight", "ln_f.bias", "h.0.mlp.c_proj.weight", "wte.weight"));
            // The scalar head's bias shifts chosen and rejected alike: its gradient is exactly 0.
            assertEquals(0.0, m.parameters().gradAt(m.parameters().vHeadB()), 1e-7);
        }
    }

    @Test
    void bradleyTerryLossByHand() {
        // softplus(−d) = log(1 + e^−d): d = 0 → log 2; d = 2 → log(1 + e^−2) = 0.126928...; sigmoid(0) = ½
        assertEquals(Math.log(2), RewardModelTrainer.softplus(0), 1e-15);
        assertEquals(0.12692801104297263, RewardModelTrainer.softplus(-2), 1e-15);
        assertEquals(1000, RewardModelTrainer.softplus(1000), 1e-12);
        assertEquals(0.5, RewardModelTrainer.sigmoid(0));
        assertEquals(1 / (1 + Math.exp(-3)), RewardModelTrainer.sigmoid(3), 1e-15);
        assertEquals(0.0, RewardModelTrainer.sigmoid(-1000));
    }

    @Test
    void rewardModelLearnsATaskPreferenceAndScoresRollouts() {
        Task task = Tasks.byName("sort-digits");
        SplittableRandom rng = new SplittableRandom(9);
        List<Jsonl.Preference> data = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            String p = task.prompt(rng);
            data.add(new Jsonl.Preference(p, task.target(p), task.rejected(p, rng)));
        }
        try (PolicyValueModel m = TinyRuns.model(TinyRuns.config(Map.of("seed", "5")));
             RewardModelTrainer rm = new RewardModelTrainer(m, CODEC, AdamW.Options.defaults(), LrSchedule.constant(3e-3), 1.0)) {
            double before = rm.evaluate(data).loss();
            for (int e = 0; e < 40; e++) rm.step(data);
            RewardModelTrainer.StepStats after = rm.evaluate(data);
            assertTrue(after.loss() < before - 0.1, "BT loss must fall: " + before + " -> " + after.loss());
            assertTrue(after.accuracy() > 0.7, "pairwise accuracy " + after.accuracy());
            try (RewardModel r = new RewardModel(m, CODEC, "test", 7)) {
                List<RewardFunction.Sample> samples = new ArrayList<>();
                for (Jsonl.Preference p : data.subList(0, 10)) {
                    samples.add(new RewardFunction.Sample(p.prompt(), p.chosen(), CODEC.prompt(p.prompt()), CODEC.response(p.chosen()), true));
                }
                double[] batched = r.score(samples);
                // The reward model scores exactly what the trainer's forward computes at the last token.
                List<int[]> ps = new ArrayList<>(), rs = new ArrayList<>();
                for (RewardFunction.Sample s : samples) {
                    ps.add(s.promptIds());
                    rs.add(s.responseIds());
                }
                assertArrayEquals(r.scoreIds(ps, rs), batched, 1e-5);
            }
        }
    }
}
