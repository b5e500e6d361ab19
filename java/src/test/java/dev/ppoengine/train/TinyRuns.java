package dev.ppoengine.train;

import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.model.ByteTokenizer;
import dev.ppoengine.model.GptConfig;
import dev.ppoengine.model.PolicyValueModel;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** Tiny models, configs and a trivially learnable task for the trainer tests (seconds each). */
final class TinyRuns {
    private TinyRuns() {}

    /**
     * pick-a: any prompt; the ideal response is "a". Demonstrations answer "a" or "b" half the time each, so the
     * warm-started policy earns about 0.5 and PPO only has to shift one token's probability.
     */
    static final class PickATask implements Task {
        @Override public String name() { return "pick-a"; }
        @Override public String description() { return "answer a"; }
        @Override public String prompt(SplittableRandom rng) { return (char) ('p' + rng.nextInt(4)) + ":"; }
        @Override public String target(String prompt) { return "a"; }
        @Override public String demonstration(String prompt, SplittableRandom rng) { return rng.nextBoolean() ? "a" : "b"; }
        @Override public double reward(String prompt, String response, boolean eos) { return Task.positionalMatch(response, "a"); }
        @Override public int maxTargetLength() { return 1; }
    }

    /** A config for the tiny model (1 layer, width 16), batch 16 in minibatches of 8, 2 epochs. */
    static TrainConfig config(Map<String, String> extra) {
        Map<String, String> m = new java.util.LinkedHashMap<>(Map.of(
                "n_layer", "1", "n_head", "2", "n_embd", "16", "n_positions", "24",
                "batch_size", "16", "mini_batch_size", "8", "ppo_epochs", "2", "lr", "3e-3",
                "max_new_tokens", "3", "progress", "false"));
        m.put("eval_prompts", "16");
        m.put("sft_steps", "40");
        m.put("sft_batch_size", "16");
        m.put("backend", "reference");
        m.putAll(extra);
        return TrainConfig.defaults().with(m);
    }

    static PolicyValueModel model(TrainConfig c) {
        GptConfig gc = new GptConfig(c.nLayer(), c.nHead(), c.nEmbd(), ByteTokenizer.VOCAB_SIZE, c.nPositions(), 4 * c.nEmbd(), 1e-5,
                ByteTokenizer.BOS, ByteTokenizer.EOS);
        return PolicyValueModel.initialized(gc, c.seed());
    }

    /** SFT on the task's demonstrations for c.sftSteps() steps. */
    static void warmStart(PolicyValueModel m, TextCodec codec, Task task, PpoKernels k, TrainConfig c) {
        try (SftTrainer sft = new SftTrainer(m, codec, k, AdamW.Options.defaults(), LrSchedule.constant(c.sftLr()), 1.0)) {
            SplittableRandom rng = new SplittableRandom(c.seed());
            for (int s = 0; s < c.sftSteps(); s++) {
                List<String> p = new ArrayList<>(), r = new ArrayList<>();
                for (int i = 0; i < c.sftBatchSize(); i++) {
                    String q = task.prompt(rng);
                    p.add(q);
                    r.add(task.demonstration(q, rng));
                }
                sft.step(p, r);
            }
        }
    }
}
