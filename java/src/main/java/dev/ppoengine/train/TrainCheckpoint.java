package dev.ppoengine.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ppoengine.model.AtomicFiles;
import dev.ppoengine.model.Checkpoint;
import dev.ppoengine.model.PolicyValueModel;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Safetensors;
import dev.ppoengine.tensor.SafetensorsFile;
import dev.ppoengine.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A training checkpoint: everything a resumed run needs to continue exactly where it stopped.
 * <pre>
 *   RUN/checkpoints/step-000040/
 *     config.json, model.safetensors   the policy with its value head (Hugging Face names, {@link Checkpoint}),
 *                                      plus the tokenizer files of the starting checkpoint if it had any
 *     optimizer.safetensors            AdamW moments exp_avg, exp_avg_sq [flat parameter layout], metadata step
 *     trainer_state.json               PPO steps done, β of the KL controller, optimiser step, seed, SFT reward, ...
 *     train_config.yaml                the config the run was started with
 *   RUN/checkpoints/latest             the name of the newest complete checkpoint
 * </pre>
 * Random state needs no saving: every stream is derived from (seed, step) ({@link Seeds}).
 * Writing is atomic: the directory is filled under a temporary name and renamed into place, then {@code latest} is
 * replaced (temp file + rename), so a crash or Ctrl-C mid-save leaves the previous checkpoint intact and current.
 */
public final class TrainCheckpoint {
    private TrainCheckpoint() {}

    public static final String DIR = "checkpoints", LATEST = "latest", STATE = "trainer_state.json",
            OPTIMIZER = "optimizer.safetensors", CONFIG = "train_config.yaml";
    static final int FORMAT = 1;
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * The trainer state besides weights and moments.
     *
     * @param step          PPO steps completed
     * @param klCoef        β after the last completed step
     * @param optimizerStep AdamW's t
     * @param seed          the run's seed (every RNG stream derives from it and the step)
     * @param sftReward     the evaluation reward of the policy PPO started from (NaN if not measured)
     * @param reference     directory of the frozen reference model's weights
     */
    public record State(long step, double klCoef, long optimizerStep, long seed, double sftReward, String reference) {}

    /** Writes checkpoint step-NNNNNN under {@code runDir}/checkpoints, keeps the newest {@code keep} (≥ 1); returns its path. */
    public static Path save(Path runDir, PolicyValueModel policy, AdamW optimizer, State state, TrainConfig config, int keep)
            throws IOException {
        Path root = runDir.resolve(DIR);
        Files.createDirectories(root);
        String name = String.format("step-%06d", state.step());
        Path fin = root.resolve(name), tmp = root.resolve("." + name + ".tmp");
        deleteTree(tmp);
        Files.createDirectories(tmp);
        Checkpoint.save(policy, tmp);
        // The tokenizer files of the model the run started from, so the checkpoint loads on its own (ppo generate).
        Path source = Path.of(state.reference());
        for (String f : TrainModels.TOKENIZER_FILES) {
            if (Files.isRegularFile(source.resolve(f))) Files.copy(source.resolve(f), tmp.resolve(f));
        }
        long n = policy.parameters().flatSize();
        Map<String, Tensor> moments = new LinkedHashMap<>();
        moments.put("exp_avg", Tensor.of(optimizer.firstMoment(), DType.F32, n));
        moments.put("exp_avg_sq", Tensor.of(optimizer.secondMoment(), DType.F32, n));
        Safetensors.write(tmp.resolve(OPTIMIZER), moments, Map.of("step", Long.toString(state.optimizerStep()), "format", "ppo-engine adamw"));
        ObjectNode s = JSON.createObjectNode();
        s.put("format", FORMAT);
        s.put("step", state.step());
        s.put("kl_coef", state.klCoef());
        s.put("optimizer_step", state.optimizerStep());
        s.put("seed", state.seed());
        if (Double.isFinite(state.sftReward())) s.put("sft_reward", state.sftReward());
        s.put("reference", state.reference());
        s.put("rng", "every stream is derived from (seed, step): nothing else to restore");
        Files.write(tmp.resolve(STATE), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(s));
        Files.writeString(tmp.resolve(CONFIG), config.toYaml());
        deleteTree(fin);
        move(tmp, fin);
        AtomicFiles.write(root.resolve(LATEST), (name + "\n").getBytes(StandardCharsets.UTF_8));
        prune(root, Math.max(keep, 1));
        return fin;
    }

    /** The newest complete checkpoint of a run directory, or {@code dir} itself when it is a checkpoint. */
    public static Path resolve(Path dir) throws IOException {
        if (Files.isRegularFile(dir.resolve(STATE))) return dir;
        Path latest = dir.resolve(DIR).resolve(LATEST);
        if (!Files.isRegularFile(latest)) {
            throw new IOException("cannot resume from " + dir + ": neither a checkpoint (no " + STATE + ") nor a run directory (no "
                    + DIR + "/" + LATEST + ")");
        }
        Path ck = dir.resolve(DIR).resolve(Files.readString(latest).strip());
        if (!Files.isRegularFile(ck.resolve(STATE))) throw new IOException("checkpoint " + ck + " named by " + latest + " is incomplete");
        return ck;
    }

    public static State readState(Path ckpt) throws IOException {
        JsonNode s = JSON.readTree(ckpt.resolve(STATE).toFile());
        if (s == null || s.path("format").asInt(-1) != FORMAT) {
            throw new IOException(ckpt.resolve(STATE) + ": unknown format (expected format " + FORMAT + ")");
        }
        return new State(s.path("step").asLong(), s.path("kl_coef").asDouble(), s.path("optimizer_step").asLong(),
                s.path("seed").asLong(), s.has("sft_reward") ? s.get("sft_reward").asDouble() : Double.NaN,
                s.path("reference").asText());
    }

    /** The config the checkpointed run used, with {@code overrides} on top. */
    public static TrainConfig readConfig(Path ckpt, Map<String, String> overrides) throws IOException {
        return TrainConfig.load(ckpt.resolve(CONFIG), TrainConfig.defaults()).with(overrides);
    }

    /** Restores the AdamW moments and step count (the optimiser must belong to a model of the same config). */
    public static void restoreOptimizer(Path ckpt, AdamW optimizer, long flatSize) throws IOException {
        try (SafetensorsFile f = Safetensors.read(ckpt.resolve(OPTIMIZER))) {
            copy(f, "exp_avg", optimizer.firstMoment(), flatSize);
            copy(f, "exp_avg_sq", optimizer.secondMoment(), flatSize);
            String step = f.metadata().get("step");
            if (step == null) throw new IOException(f.fileName() + ": missing metadata 'step'");
            optimizer.restoreStepCount(Long.parseLong(step));
        }
    }

    private static void copy(SafetensorsFile f, String name, MemorySegment dst, long n) throws IOException {
        Tensor t = f.tensors().get(name);
        if (t == null) throw new IOException(f.fileName() + ": missing tensor " + name);
        if (t.dtype() != DType.F32 || t.numel() != n) {
            throw new IOException(f.fileName() + ": " + name + " expected f32 [" + n + "], got " + t.dtype() + " " + t.shapeString()
                    + " (a checkpoint of another model size?)");
        }
        MemorySegment.copy(t.segment(), 0, dst, 0, n * 4);
    }

    private static void prune(Path root, int keep) throws IOException {
        List<Path> done = new ArrayList<>();
        try (Stream<Path> s = Files.list(root)) {
            s.filter(p -> p.getFileName().toString().matches("step-\\d+") && Files.isDirectory(p)).forEach(done::add);
        }
        done.sort(Comparator.comparing(p -> p.getFileName().toString()));
        for (int i = 0; i < done.size() - keep; i++) deleteTree(done.get(i));
    }

    static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to);
        }
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(x);
        }
    }
}
