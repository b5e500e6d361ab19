package dev.ppoengine.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ppoengine.kernels.Backends;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.model.AtomicFiles;
import dev.ppoengine.model.Checkpoint;
import dev.ppoengine.model.GenerationResult;
import dev.ppoengine.model.Generator;
import dev.ppoengine.model.PolicyValueModel;
import dev.ppoengine.model.SamplingOptions;
import dev.ppoengine.model.Tokenizer;
import dev.ppoengine.model.Tokenizers;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * {@code ppo train}: a whole RLHF run into {@code output_dir/NAME/}.
 * <pre>
 *   policy   --checkpoint DIR, or the built-in byte-level GPT-2 (random init) warm-started by SFT on the task's
 *            demonstrations (sft_steps); the frozen reference is the policy PPO starts from (saved to reference/)
 *   reward   the task's programmatic reward, or a reward model checkpoint (reward_model)
 *   eval     mean reward of eval_prompts fixed prompts before PPO ("SFT level") and after
 *   PPO      steps × {@link PpoTrainer#step()}, progress bar (reward, KL) on stderr
 *   files    config.yaml (loadable with --config), settings.yaml (every kernel switch after the preset),
 *            metrics.jsonl, samples.jsonl, curves.png, checkpoints/ (every save_every steps, at the end and on
 *            Ctrl-C), summary.json
 * </pre>
 * {@link #resume} continues from a run directory or checkpoint: weights, optimiser moments, β and the step come from
 * the checkpoint; metrics.jsonl and samples.jsonl are cut back to the checkpoint's step; every random stream is a
 * function of (seed, step), so the resumed run reproduces the uninterrupted one bit for bit (timings aside).
 */
public final class TrainRun {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What a run ended with. */
    public record Result(Path runDir, long steps, double sftReward, double finalReward, double meanKl, double seconds,
                         boolean interrupted) {}

    private TrainConfig cfg;
    private final Path resumeFrom;
    private final PrintStream err;
    private final AtomicBoolean stop = new AtomicBoolean();
    private long stopAfterStep = Long.MAX_VALUE;
    private PpoTrainer.LossObserver observer;

    private TrainRun(TrainConfig cfg, Path resumeFrom, PrintStream err) {
        this.cfg = cfg;
        this.resumeFrom = resumeFrom;
        this.err = err;
    }

    /** A fresh run. */
    public static TrainRun start(TrainConfig cfg, PrintStream err) {
        return new TrainRun(cfg, null, err);
    }

    /** A run continued from a run directory (its newest checkpoint) or a checkpoint directory; overrides apply on top. */
    public static TrainRun resume(Path dir, Map<String, String> overrides, PrintStream err) throws IOException {
        Path ck = TrainCheckpoint.resolve(dir);
        return new TrainRun(TrainCheckpoint.readConfig(ck, overrides), ck, err);
    }

    public TrainConfig config() { return cfg; }

    /** Asks the run to stop after the current step, with a checkpoint (what Ctrl-C does). */
    public void requestStop() { stop.set(true); }

    /** Stops (as {@link #requestStop}) once this many steps are done: an interruption at a known point, for tests. */
    public void stopAfter(long steps) { stopAfterStep = steps; }

    public void setObserver(PpoTrainer.LossObserver o) { observer = o; }

    /** Runs with a Ctrl-C hook that checkpoints and lets the run end cleanly. */
    public Result runWithShutdownHook() throws IOException {
        CountDownLatch finished = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            requestStop();
            try {
                // The JVM exits when the hooks return: wait for the checkpoint of the step in flight.
                finished.await(10, TimeUnit.MINUTES);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "ppo-train-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            return run();
        } finally {
            finished.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // The JVM is already exiting (Ctrl-C): the hook is running and has just been released.
            }
        }
    }

    public Result run() throws IOException {
        long t0 = System.nanoTime();
        TrainCheckpoint.State resumed = resumeFrom == null ? null : TrainCheckpoint.readState(resumeFrom);
        Path runDir = resumeFrom == null ? newRunDir() : resumeFrom.getParent().getParent();
        // The config a run records names its directory (a generated name included), so --config reproduces it.
        if (cfg.name().isEmpty()) cfg = cfg.with(Map.of("name", runDir.getFileName().toString()));
        Files.createDirectories(runDir);
        ProgressBar bar = new ProgressBar(err, cfg.progress());
        // -Dppo.backend (as for every command) picks the backend when the config leaves it at auto.
        Backends.Selection sel = Backends.select(cfg.backend().equals("auto") ? System.getProperty("ppo.backend", "auto") : cfg.backend());
        Task task = Tasks.byName(cfg.task());
        try (PpoKernels kernels = sel.kernels()) {
            bar.message("ppo train: run " + runDir + " | backend " + kernels.name() + " (" + sel.reason() + ") | preset "
                    + cfg.preset() + " | task " + task.name() + (resumed != null ? " | resuming at step " + resumed.step() : ""));
            if (resumed == null) {
                AtomicFiles.write(runDir.resolve("config.yaml"), cfg.toYaml().getBytes(StandardCharsets.UTF_8));
                AtomicFiles.write(runDir.resolve("settings.yaml"), settingsYaml().getBytes(StandardCharsets.UTF_8));
            }

            // ---- policy, reference, tokenizer
            PolicyValueModel policy, reference;
            Tokenizer tokenizer;
            String referenceDir;
            double sftReward;
            if (resumed != null) {
                referenceDir = resumed.reference();
                policy = Checkpoint.load(resumeFrom);
                reference = frozen(Checkpoint.load(Path.of(referenceDir)));
                tokenizer = Tokenizers.forCheckpoint(Path.of(referenceDir), policy.config());
                sftReward = resumed.sftReward();
            } else {
                TrainModels.Loaded start = TrainModels.open(cfg.checkpoint(), cfg.nLayer(), cfg.nHead(), cfg.nEmbd(), cfg.nPositions(), cfg.seed());
                policy = start.model();
                tokenizer = start.tokenizer();
                sftReward = Double.NaN;
                if (start.source() == null) {
                    if (!warmStart(policy, new TextCodec(tokenizer), task, kernels, bar)) {
                        bar.message("ppo train: interrupted during the SFT warm start (nothing to resume: start again)");
                        start.close();
                        return new Result(runDir, 0, Double.NaN, Double.NaN, Double.NaN, seconds(t0), true);
                    }
                    Path refDir = runDir.resolve("reference");
                    Checkpoint.save(policy, refDir);
                    referenceDir = refDir.toAbsolutePath().toString();
                } else {
                    referenceDir = start.source().toAbsolutePath().toString();
                }
                reference = policy.frozenCopy();
            }
            TextCodec codec = new TextCodec(tokenizer);
            try (RewardFunction reward = cfg.rewardModel().isEmpty() ? task.rewardFunction() : RewardModel.load(Path.of(cfg.rewardModel()));
                 PpoTrainer trainer = new PpoTrainer(cfg, policy, reference, codec, task, reward, kernels)) {
                trainer.setObserver(observer);
                if (resumed == null) {
                    sftReward = evaluate(policy, codec, task, reward);
                    bar.message(String.format(Locale.ROOT, "ppo train: reward of the starting policy on %d eval prompts: %.4f",
                            cfg.evalPrompts(), sftReward));
                } else {
                    trainer.restore(resumed.step(), resumed.klCoef());
                    TrainCheckpoint.restoreOptimizer(resumeFrom, trainer.optimizer(), policy.parameters().flatSize());
                }
                return ppo(runDir, trainer, bar, referenceDir, sftReward, codec, task, reward, resumed, t0);
            } finally {
                policy.close();
                reference.close();
                tokenizer.close();
            }
        }
    }

    private Result ppo(Path runDir, PpoTrainer trainer, ProgressBar bar, String referenceDir, double sftReward, TextCodec codec,
                       Task task, RewardFunction reward, TrainCheckpoint.State resumed, long t0) throws IOException {
        long first = trainer.completedSteps();
        Path metricsFile = runDir.resolve("metrics.jsonl"), samplesFile = runDir.resolve("samples.jsonl");
        boolean interrupted = false;
        long lastSaved = resumed != null ? resumed.step() : -1;
        try (MetricsLog metrics = resumed == null ? MetricsLog.create(metricsFile) : MetricsLog.resume(metricsFile, first);
             BufferedWriter samples = openSamples(samplesFile, resumed == null ? -1 : first)) {
            bar.start("ppo", cfg.steps());
            bar.update(first, "");
            while (trainer.completedSteps() < cfg.steps()) {
                PpoTrainer.StepResult r = trainer.step();
                long s = r.step();
                metrics.append(r.metrics());
                if (cfg.samplesPerStep() > 0 && (s == 1 || s == cfg.steps() || (cfg.sampleEvery() > 0 && s % cfg.sampleEvery() == 0))) {
                    writeSamples(samples, r);
                }
                bar.update(s, String.format(Locale.ROOT, "reward %.3f  kl %.3f  beta %.4f", r.metrics().get("objective/scores"),
                        r.metrics().get("objective/kl"), r.metrics().get("objective/kl_coef")));
                boolean stopNow = stop.get() || s >= stopAfterStep;
                if ((cfg.saveEvery() > 0 && s % cfg.saveEvery() == 0) || stopNow || s == cfg.steps()) {
                    save(runDir, trainer, referenceDir, sftReward);
                    lastSaved = s;
                    CurvePlot.write(runDir.resolve("curves.png"), metrics.rows(), title(task));
                }
                if (stopNow && s < cfg.steps()) {
                    interrupted = true;
                    break;
                }
            }
            bar.finish();
            if (lastSaved != trainer.completedSteps()) save(runDir, trainer, referenceDir, sftReward);
            CurvePlot.write(runDir.resolve("curves.png"), metrics.rows(), title(task));
            List<Map<String, Double>> rows = metrics.rows();
            double meanKl = tailMean(rows, "objective/kl", 5);
            if (interrupted) {
                bar.message("ppo train: stopped after step " + trainer.completedSteps() + "; checkpoint saved. Continue with: ppo train --resume " + runDir);
                return new Result(runDir, trainer.completedSteps(), sftReward, Double.NaN, meanKl, seconds(t0), true);
            }
            double finalReward = evaluate(trainer.policy(), codec, task, reward);
            double secs = seconds(t0);
            writeSummary(runDir, trainer.completedSteps(), sftReward, finalReward, meanKl, secs, rows);
            bar.message(String.format(Locale.ROOT,
                    "ppo train: done in %d:%02d. Eval reward %.3f (start) -> %.3f (end), %+.3f; KL %.3f nats/seq (mean of the last 5 steps)%n"
                            + "           %s: metrics.jsonl, curves.png, samples.jsonl, summary.json, checkpoints/",
                    (long) secs / 60, (long) secs % 60, sftReward, finalReward, finalReward - sftReward, meanKl, runDir));
            return new Result(runDir, trainer.completedSteps(), sftReward, finalReward, meanKl, secs, false);
        }
    }

    private void save(Path runDir, PpoTrainer trainer, String referenceDir, double sftReward) throws IOException {
        TrainCheckpoint.save(runDir, trainer.policy(), trainer.optimizer(),
                new TrainCheckpoint.State(trainer.completedSteps(), trainer.klController().value(), trainer.optimizer().stepCount(),
                        cfg.seed(), sftReward, referenceDir), cfg, cfg.keepCheckpoints());
    }

    /** SFT on the task's demonstrations; false when a stop was requested before it finished. */
    private boolean warmStart(PolicyValueModel policy, TextCodec codec, Task task, PpoKernels kernels, ProgressBar bar) {
        if (cfg.sftSteps() == 0) return true;
        LrSchedule schedule = LrSchedule.constant(cfg.sftLr());
        try (SftTrainer sft = new SftTrainer(policy, codec, kernels, new AdamW.Options(cfg.adamBeta1(), cfg.adamBeta2(), cfg.adamEps(),
                cfg.weightDecay()), schedule, cfg.maxGradNorm())) {
            bar.start("sft", cfg.sftSteps());
            double ema = Double.NaN;
            for (int s = 0; s < cfg.sftSteps(); s++) {
                if (stop.get()) return false;
                SplittableRandom rng = Seeds.rng(cfg.seed(), s, Seeds.SFT_DATA, 0);
                List<String> prompts = new ArrayList<>(cfg.sftBatchSize()), responses = new ArrayList<>(cfg.sftBatchSize());
                for (int i = 0; i < cfg.sftBatchSize(); i++) {
                    String p = task.prompt(rng);
                    prompts.add(p);
                    responses.add(task.demonstration(p, rng));
                }
                SftTrainer.StepStats st = sft.step(prompts, responses);
                ema = Double.isNaN(ema) ? st.loss() : 0.9 * ema + 0.1 * st.loss();
                bar.update(s + 1, String.format(Locale.ROOT, "loss %.3f", ema));
            }
            bar.finish();
        }
        return true;
    }

    /** Mean reward of the policy's samples on eval_prompts fixed prompts (the same prompts and sampling seed every time). */
    double evaluate(PolicyValueModel policy, TextCodec codec, Task task, RewardFunction reward) {
        if (cfg.evalPrompts() == 0) return Double.NaN;
        SplittableRandom rng = Seeds.rng(cfg.seed(), 0, Seeds.EVAL, 0);
        List<String> prompts = new ArrayList<>();
        List<int[]> ids = new ArrayList<>();
        for (int i = 0; i < cfg.evalPrompts(); i++) {
            String p = task.prompt(rng);
            prompts.add(p);
            ids.add(codec.prompt(p));
        }
        SamplingOptions so = new SamplingOptions(cfg.maxNewTokens(), false, cfg.temperature(), cfg.topK(), cfg.topP(),
                Seeds.of(cfg.seed(), 0, Seeds.EVAL, 1), codec.eos(), codec.pad());
        try (Generator g = new Generator(policy)) {
            GenerationResult gen = g.generate(ids, so);
            List<RewardFunction.Sample> samples = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) {
                samples.add(new RewardFunction.Sample(prompts.get(i), codec.decode(gen.tokens()[i]), ids.get(i), gen.tokens()[i],
                        gen.stoppedAtEos()[i]));
            }
            return PpoTrainer.mean(reward.score(samples));
        }
    }

    private Path newRunDir() throws IOException {
        Path root = Path.of(cfg.outputDir());
        if (!cfg.name().isEmpty()) {
            Path dir = root.resolve(cfg.name());
            if (Files.exists(dir.resolve("metrics.jsonl")) || Files.exists(dir.resolve(TrainCheckpoint.DIR))) {
                throw new IllegalArgumentException("run directory " + dir + " already holds a run: continue it with --resume " + dir
                        + ", or choose another --name");
            }
            return dir;
        }
        String base = cfg.task() + "-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        Path dir = root.resolve(base);
        for (int i = 2; Files.exists(dir); i++) dir = root.resolve(base + "-" + i);
        return dir;
    }

    private static PolicyValueModel frozen(PolicyValueModel m) {
        PolicyValueModel f = m.frozenCopy();
        m.close();
        return f;
    }

    private String settingsYaml() {
        StringBuilder sb = new StringBuilder("# every kernel switch of this run: preset " + cfg.preset() + " with the explicit settings on top\n");
        cfg.kernelSettings().asMap().forEach((k, v) -> sb.append(k).append(": ").append(v).append('\n'));
        return sb.toString();
    }

    private String title(Task task) {
        return String.format(Locale.ROOT, "ppo-engine PPO: task %s, preset %s, batch %d, lr %s, %d steps", task.name(), cfg.preset(),
                cfg.batchSize(), java.math.BigDecimal.valueOf(cfg.lr()).stripTrailingZeros().toPlainString(), cfg.steps());
    }

    private BufferedWriter openSamples(Path file, long keepUpTo) throws IOException {
        if (keepUpTo >= 0 && Files.exists(file)) {
            StringBuilder kept = new StringBuilder();
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                try {
                    if (JSON.readTree(line).path("step").asLong(Long.MAX_VALUE) <= keepUpTo) kept.append(line).append('\n');
                } catch (IOException cutLine) {
                    // A line cut by an interruption mid-write: dropped.
                }
            }
            AtomicFiles.write(file, kept.toString().getBytes(StandardCharsets.UTF_8));
        } else {
            AtomicFiles.write(file, new byte[0]);
        }
        return Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.APPEND);
    }

    private void writeSamples(BufferedWriter w, PpoTrainer.StepResult r) throws IOException {
        int n = Math.min(cfg.samplesPerStep(), r.samples().size());
        for (int i = 0; i < n; i++) {
            RewardFunction.Sample s = r.samples().get(i);
            ObjectNode o = JSON.createObjectNode();
            o.put("step", r.step());
            o.put("prompt", s.prompt());
            o.put("response", s.response());
            o.put("eos", s.endedWithEos());
            o.put("score", r.scores()[i]);
            w.write(JSON.writeValueAsString(o));
            w.write('\n');
        }
        w.flush();
    }

    private void writeSummary(Path runDir, long steps, double sftReward, double finalReward, double meanKl, double secs,
                              List<Map<String, Double>> rows) throws IOException {
        ObjectNode o = JSON.createObjectNode();
        o.put("steps", steps);
        putFinite(o, "eval_reward_start", sftReward);
        putFinite(o, "eval_reward_end", finalReward);
        putFinite(o, "eval_reward_rise", finalReward - sftReward);
        o.put("eval_prompts", cfg.evalPrompts());
        putFinite(o, "batch_reward_first", rows.isEmpty() ? Double.NaN : rows.getFirst().get("objective/scores"));
        putFinite(o, "batch_reward_last5_mean", tailMean(rows, "objective/scores", 5));
        putFinite(o, "kl_last5_mean", meanKl);
        o.put("seconds", secs);
        ArrayNode files = o.putArray("files");
        for (String f : List.of("config.yaml", "settings.yaml", "metrics.jsonl", "samples.jsonl", "curves.png", "checkpoints/", "reference/")) {
            files.add(f);
        }
        AtomicFiles.write(runDir.resolve("summary.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(o));
    }

    private static void putFinite(ObjectNode o, String k, Double v) {
        if (v != null && Double.isFinite(v)) o.put(k, v); else o.putNull(k);
    }

    static double tailMean(List<Map<String, Double>> rows, String key, int n) {
        double s = 0;
        int c = 0;
        for (int i = Math.max(0, rows.size() - n); i < rows.size(); i++) {
            Double v = rows.get(i).get(key);
            if (v != null && Double.isFinite(v)) {
                s += v;
                c++;
            }
        }
        return c == 0 ? Double.NaN : s / c;
    }

    private static double seconds(long t0) { return (System.nanoTime() - t0) * 1e-9; }
}
