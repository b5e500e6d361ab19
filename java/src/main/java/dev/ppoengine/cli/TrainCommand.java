package dev.ppoengine.cli;

import dev.ppoengine.train.TrainConfig;
import dev.ppoengine.train.TrainRun;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code ppo train}: RLHF with PPO ({@link TrainRun}). With no arguments it runs the embedded default — the
 * sort-digits task on a tiny built-in GPT-2, a short SFT warm start, then PPO — and writes runs/NAME/.
 * Configuration, later wins: the defaults, {@code --config FILE} (YAML or JSON, the keys of config.yaml), the
 * {@code --set key=value} pairs (trainer keys or SPEC kernel switches), then the dedicated flags below.
 * {@code --resume DIR} continues a run directory (or one checkpoint) with the config it was started with; flags and
 * {@code --set} still apply on top (e.g. more {@code --steps}). A bad config is one line and exit code 2.
 */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Run RLHF with PPO: SFT warm start (built-in model) or --checkpoint, then PPO on a task reward",
                "or a reward model. No arguments: the embedded default task, a few minutes on a laptop CPU.",
                "Writes runs/NAME/: config.yaml, settings.yaml, metrics.jsonl, samples.jsonl, curves.png,",
                "summary.json, checkpoints/. Ctrl-C saves a checkpoint; --resume DIR continues it."})
public final class TrainCommand implements Callable<Integer>, Main.Debuggable {
    @Spec CommandSpec spec;

    @Option(names = "--config", paramLabel = "FILE", description = "YAML or JSON config (keys as in a run's config.yaml).")
    Path config;

    @Option(names = "--resume", paramLabel = "DIR", description = "Continue a run directory (its latest checkpoint) or a checkpoint directory.")
    Path resume;

    @Option(names = "--set", paramLabel = "KEY=VALUE",
            description = "Override one config key or kernel switch (repeatable), e.g. --set kl_coef=0.05 --set ppo_epochs=2.")
    List<String> sets = new ArrayList<>();

    @Option(names = "--preset", paramLabel = "P", description = "trl (default), trl-ppov2, deepspeed-chat, verl, openrlhf.")
    String preset;

    @Option(names = "--task", paramLabel = "NAME", description = "Built-in task: ${COMPLETION-CANDIDATES}.", completionCandidates = SupervisedOptions.TaskNames.class)
    String task;

    @Option(names = "--checkpoint", paramLabel = "DIR", description = "Start from this policy checkpoint instead of the built-in model + SFT.")
    String checkpoint;

    @Option(names = "--reward-model", paramLabel = "DIR", description = "Score with this reward-model checkpoint (ppo train-rm) instead of the task reward.")
    String rewardModel;

    @Option(names = "--steps", paramLabel = "N", description = "PPO steps.")
    Integer steps;

    @Option(names = "--batch-size", paramLabel = "N", description = "Rollouts per PPO step.")
    Integer batchSize;

    @Option(names = "--mini-batch-size", paramLabel = "N", description = "Rollouts per optimiser step.")
    Integer miniBatchSize;

    @Option(names = "--micro-batch-size", paramLabel = "N", description = "Rollouts per forward/backward (gradient accumulation; 0 = mini batch).")
    Integer microBatchSize;

    @Option(names = "--ppo-epochs", paramLabel = "N", description = "Passes over each batch.")
    Integer ppoEpochs;

    @Option(names = "--lr", paramLabel = "X", description = "PPO learning rate.")
    Double lr;

    @Option(names = "--sft-steps", paramLabel = "N", description = "SFT warm-start steps of the built-in model (0 = none).")
    Integer sftSteps;

    @Option(names = "--max-new-tokens", paramLabel = "N", description = "Longest response.")
    Integer maxNewTokens;

    @Option(names = "--seed", paramLabel = "N", description = "Seed of every random stream.")
    Long seed;

    @Option(names = "--name", paramLabel = "NAME", description = "Run directory name under the output dir (default: task and time).")
    String name;

    @Option(names = "--output-dir", paramLabel = "DIR", description = "Where run directories go (default runs).")
    String outputDir;

    @Option(names = "--save-every", paramLabel = "N", description = "Checkpoint every N steps (0 = only at the end and on Ctrl-C).")
    Integer saveEvery;

    @Option(names = "--backend", paramLabel = "B", description = "auto (default), cpu, reference, cuda, cuda-sim.")
    String backend;

    @Option(names = "--fused-lm-head", negatable = true, description = "Actor log-probs and entropy through "
            + "linear_token_logprobs from the hidden states (no [B, T, V] logits). Default (config key fused_lm_head=auto): "
            + "on when the f32 logits of one rollout batch (batch_size x n_positions x vocabulary) would exceed 1 GiB.")
    Boolean fusedLmHead;

    @Option(names = "--no-progress", description = "No progress bar.")
    boolean noProgress;

    @Option(names = "--debug", description = "Print the stack trace of an error.")
    boolean debug;

    @Override
    public boolean debug() { return debug; }

    @Override
    public Integer call() throws IOException {
        Map<String, String> overrides = overrides();
        TrainRun run;
        try {
            if (resume != null) {
                if (config != null) throw new IllegalArgumentException("--config and --resume exclude each other (a resumed run keeps its config)");
                run = TrainRun.resume(resume, overrides, System.err);
            } else {
                TrainConfig cfg = config == null ? TrainConfig.defaults() : TrainConfig.load(config, TrainConfig.defaults());
                run = TrainRun.start(cfg.with(overrides), System.err);
            }
        } catch (IllegalArgumentException e) {
            throw CliException.usage(e.getMessage());
        }
        TrainRun.Result r = run.runWithShutdownHook();
        var out = spec.commandLine().getOut();
        out.println(r.runDir());
        out.flush();
        return 0;
    }

    private Map<String, String> overrides() {
        Map<String, String> m = new LinkedHashMap<>();
        for (String s : sets) {
            int eq = s.indexOf('=');
            if (eq <= 0) throw CliException.usage("--set expects KEY=VALUE, got '" + s + "'");
            m.put(s.substring(0, eq).trim(), s.substring(eq + 1).trim());
        }
        put(m, "preset", preset);
        put(m, "task", task);
        put(m, "checkpoint", checkpoint);
        put(m, "reward_model", rewardModel);
        put(m, "steps", steps);
        put(m, "batch_size", batchSize);
        put(m, "mini_batch_size", miniBatchSize);
        put(m, "micro_batch_size", microBatchSize);
        put(m, "ppo_epochs", ppoEpochs);
        put(m, "lr", lr);
        put(m, "sft_steps", sftSteps);
        put(m, "max_new_tokens", maxNewTokens);
        put(m, "seed", seed);
        put(m, "name", name);
        put(m, "output_dir", outputDir);
        put(m, "save_every", saveEvery);
        put(m, "backend", backend);
        put(m, "fused_lm_head", fusedLmHead);
        // The bar is a property of the terminal at hand, not of the run: a resumed run shows one unless told not to.
        m.put("progress", Boolean.toString(!noProgress));
        return m;
    }

    private static void put(Map<String, String> m, String key, Object v) {
        if (v != null) m.put(key, v.toString());
    }
}
