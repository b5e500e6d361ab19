package dev.ppoengine.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import dev.ppoengine.kernels.Preset;
import dev.ppoengine.kernels.Settings;

import java.io.IOException;
import java.lang.reflect.RecordComponent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Everything one training run needs (PPO, and the SFT warm start in front of it), as flat {@code snake_case} keys.
 * Sources, later wins: {@link #defaults()}, a YAML or JSON file ({@link #load}), then {@code key=value} overrides
 * from the command line ({@link #with}). The SPEC switches of the kernels (kl_coef, clip_low, clip_high, value_clip,
 * vf_coef, entropy_coef, gamma, lam, kl_adaptive, kl_target, kl_horizon, ...) are accepted at the top level or under
 * {@code settings:} and kept in {@link #settings()}; they are resolved on top of {@link #preset()} by
 * {@link #kernelSettings()}, exactly as {@code ppo compute --preset P --set k=v} does.
 *
 * <p>The canonical constructor validates every field and the cross-field rules (mini_batch_size divides batch_size,
 * ...); a bad config is one {@link IllegalArgumentException} whose message names the key, what was expected and
 * what it got. Unknown keys are errors (a typo must not silently run the default).
 *
 * <p>Batch terms follow trl: {@code batch_size} rollouts per PPO step, split into minibatches of
 * {@code mini_batch_size} (one optimiser step each) for {@code ppo_epochs} epochs, each minibatch accumulated over
 * micro-batches of {@code micro_batch_size} (0 = no accumulation).
 */
public record TrainConfig(
        // ---- run
        // name "" = a fresh name from the date and time
        String name, String outputDir, long seed, String backend, String preset,
        // ---- policy: a checkpoint directory, or the built-in byte-level GPT-2 of this size (random init + SFT)
        String checkpoint, int nLayer, int nHead, int nEmbd, int nPositions,
        // ---- reward: a built-in task (prompts + programmatic reward), optionally scored by a reward model instead
        String task, String rewardModel,
        // ---- SFT warm start (only when no checkpoint is given)
        int sftSteps, int sftBatchSize, double sftLr,
        // ---- PPO
        int steps, int batchSize, int miniBatchSize, int microBatchSize, int ppoEpochs,
        double lr, String lrSchedule, int warmupSteps, double weightDecay, double adamBeta1, double adamBeta2,
        double adamEps, double maxGradNorm, double targetKl,
        // actor log-probs/entropy through linear_token_logprobs (FusedLmHead) instead of materialised logits:
        // on, off, or auto (on when the actor's f32 logits of one rollout batch would exceed FUSED_AUTO_BYTES)
        String fusedLmHead,
        // ---- sampling
        int maxNewTokens, double temperature, int topK, double topP,
        // ---- output
        int saveEvery, int keepCheckpoints, int sampleEvery, int samplesPerStep, int evalPrompts, boolean progress,
        // ---- kernel switches (explicit values only; resolved over the preset)
        Map<String, String> settings) {

    public TrainConfig {
        settings = java.util.Collections.unmodifiableMap(new TreeMap<>(settings == null ? Map.of() : settings));
        Checks c = new Checks();
        if (name == null || !name.matches("[A-Za-z0-9._-]*") || name.equals(".") || name.equals("..")) {
            c.fail("name must be letters, digits, '.', '_' or '-' (it names the run directory), got '" + name + "'");
        }
        c.notBlank("output_dir", outputDir);
        c.notBlank("backend", backend);
        c.positive("n_layer", nLayer);
        c.positive("n_head", nHead);
        c.positive("n_embd", nEmbd);
        c.positive("n_positions", nPositions);
        if (nEmbd % nHead != 0) c.fail("n_embd (" + nEmbd + ") must be a multiple of n_head (" + nHead + ")");
        c.notBlank("task", task);
        if (!Tasks.names().contains(task)) c.fail("task: expected one of " + Tasks.names() + ", got '" + task + "'");
        c.nonNegative("sft_steps", sftSteps);
        c.positive("sft_batch_size", sftBatchSize);
        c.nonNegativeFinite("sft_lr", sftLr);
        c.nonNegative("steps", steps);
        if (batchSize < 2) c.fail("batch_size must be >= 2 (advantages are whitened over the batch), got " + batchSize);
        c.positive("mini_batch_size", miniBatchSize);
        c.nonNegative("micro_batch_size", microBatchSize);
        c.positive("ppo_epochs", ppoEpochs);
        if (batchSize % miniBatchSize != 0) {
            c.fail("batch_size (" + batchSize + ") must be divisible by mini_batch_size (" + miniBatchSize + ")");
        }
        if (microBatchSize > 0 && miniBatchSize % microBatchSize != 0) {
            c.fail("mini_batch_size (" + miniBatchSize + ") must be divisible by micro_batch_size (" + microBatchSize + ")");
        }
        c.nonNegativeFinite("lr", lr);
        try {
            LrSchedule.Kind.parse(lrSchedule == null ? "" : lrSchedule);
        } catch (IllegalArgumentException e) {
            c.fail("lr_schedule: expected constant, linear or cosine, got '" + lrSchedule + "'");
        }
        c.nonNegative("warmup_steps", warmupSteps);
        c.nonNegativeFinite("weight_decay", weightDecay);
        if (!(adamBeta1 >= 0 && adamBeta1 < 1)) c.fail("adam_beta1 must be in [0, 1), got " + adamBeta1);
        if (!(adamBeta2 >= 0 && adamBeta2 < 1)) c.fail("adam_beta2 must be in [0, 1), got " + adamBeta2);
        if (!(adamEps > 0) || !Double.isFinite(adamEps)) c.fail("adam_eps must be finite and > 0, got " + adamEps);
        c.nonNegativeFinite("max_grad_norm", maxGradNorm);
        c.nonNegativeFinite("target_kl", targetKl);
        String fused = fusedLmHead == null ? "" : fusedLmHead.trim().toLowerCase(Locale.ROOT);
        fusedLmHead = switch (fused) {
            case "on", "true", "yes", "1" -> "on";
            case "off", "false", "no", "0" -> "off";
            default -> fused;
        };
        if (!List.of("auto", "on", "off").contains(fusedLmHead)) {
            c.fail("fused_lm_head: expected auto, on or off, got '" + fused + "'");
        }
        c.positive("max_new_tokens", maxNewTokens);
        if (!(temperature > 0) || !Double.isFinite(temperature)) c.fail("temperature must be finite and > 0, got " + temperature);
        c.nonNegative("top_k", topK);
        if (!(topP > 0 && topP <= 1)) c.fail("top_p must be in (0, 1], got " + topP);
        c.nonNegative("save_every", saveEvery);
        c.positive("keep_checkpoints", keepCheckpoints);
        c.nonNegative("eval_prompts", evalPrompts);
        c.nonNegative("sample_every", sampleEvery);
        c.nonNegative("samples_per_step", samplesPerStep);
        Preset p = null;
        try {
            p = Preset.parse(preset == null ? "" : preset);
        } catch (IllegalArgumentException e) {
            c.fail("preset: " + e.getMessage());
        }
        if (p != null && c.first == null) {
            try {
                Settings.of(p, kernelSettingsMap(p, settings, temperature));
            } catch (IllegalArgumentException e) {
                c.fail(e.getMessage());
            }
        }
        c.throwIfFailed();
    }

    /** The defaults: the embedded digit-sorting task on a tiny built-in model, sized to finish in minutes on 2 cores. */
    public static TrainConfig defaults() {
        return new TrainConfig(
                "", "runs", 1234, "auto", "trl",
                "", 2, 4, 64, 32,
                "sort-digits", "",
                400, 32, 3e-3,
                100, 64, 16, 0, 4,
                3e-4, "constant", 0, 0.0, 0.9, 0.95,
                1e-8, 1.0, 0.0,
                "auto",
                8, 1.0, 0, 1.0,
                10, 2, 10, 4, 128, true,
                Map.of());
    }

    // ------------------------------------------------------------------------------------------------ derived

    public Preset presetValue() { return Preset.parse(preset); }

    /** The resolved kernel switches: the preset, then the explicit settings (sampling temperature where it applies). */
    public Settings kernelSettings() {
        Preset p = presetValue();
        return Settings.of(p, kernelSettingsMap(p, settings, temperature));
    }

    /**
     * Presets that compute logprobs at the sampling temperature (trl-ppov2, verl, openrlhf) get the sampling
     * temperature as the SPEC {@code temperature} unless it was set explicitly; trl and DeepSpeed-Chat never pass one.
     */
    private static Map<String, String> kernelSettingsMap(Preset p, Map<String, String> explicit, double samplingTemperature) {
        Map<String, String> m = new LinkedHashMap<>(explicit);
        if (p.appliesSamplingTemperature() && !m.containsKey("temperature")) {
            m.put("temperature", Double.toString(samplingTemperature));
        }
        return m;
    }

    /** fused_lm_head=auto turns the fused head on above this many bytes of f32 actor logits (1 GiB). */
    public static final long FUSED_AUTO_BYTES = 1L << 30;

    /**
     * Whether the actor's log-probs go through linear_token_logprobs for a model of this vocabulary and context:
     * on / off as configured; auto where the fused op wins, which is memory: the [batch_size, n_positions, V] f32
     * logits of one rollout forward would exceed {@link #FUSED_AUTO_BYTES}. Below that the materialised path is
     * faster on the CPU (the fused backward recomputes the logits: 1.37× the materialised forward + backward at
     * 4096 × 1024 × 32000, benchmarks/results/2026-11-25-amd-epyc-2c.md).
     */
    public boolean fusedLmHeadFor(int vocabSize, int nPositions) {
        return switch (fusedLmHead) {
            case "on" -> true;
            case "off" -> false;
            default -> (long) batchSize * nPositions * vocabSize * 4L > FUSED_AUTO_BYTES;
        };
    }

    public int effectiveMicroBatchSize() { return microBatchSize == 0 ? miniBatchSize : microBatchSize; }

    public LrSchedule lrScheduleValue(long totalOptimizerSteps) {
        LrSchedule.Kind kind = LrSchedule.Kind.parse(lrSchedule);
        long total = Math.max(totalOptimizerSteps, warmupSteps + 1L);
        return new LrSchedule(kind, lr, warmupSteps, total);
    }

    public AdamW.Options adamOptions() { return new AdamW.Options(adamBeta1, adamBeta2, adamEps, weightDecay); }

    // ------------------------------------------------------------------------------------------------ keys

    private static final RecordComponent[] COMPONENTS = TrainConfig.class.getRecordComponents();

    /** snake_case key of a record component (nLayer → n_layer). */
    static String key(RecordComponent rc) {
        return rc.getName().replaceAll("([a-z0-9])([A-Z])", "$1_$2").toLowerCase(Locale.ROOT);
    }

    /** Every trainer key (without the kernel switches). */
    public static List<String> keys() {
        List<String> k = new ArrayList<>();
        for (RecordComponent rc : COMPONENTS) if (!rc.getName().equals("settings")) k.add(key(rc));
        return k;
    }

    /** The kernel switch keys (SPEC names). */
    public static TreeSet<String> settingKeys() {
        return new TreeSet<>(Settings.defaults().asMap().keySet());
    }

    /** Every key with its value as text (kernel switches after the trainer keys), for logs and the saved config. */
    public Map<String, String> asMap() {
        Map<String, String> m = new LinkedHashMap<>();
        for (RecordComponent rc : COMPONENTS) {
            if (rc.getName().equals("settings")) continue;
            m.put(key(rc), String.valueOf(value(rc)));
        }
        m.putAll(settings);
        return m;
    }

    private Object value(RecordComponent rc) {
        try {
            return rc.getAccessor().invoke(this);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * This config with {@code key=value} overrides applied. Keys are trainer keys or SPEC switch names
     * ('-' and '_' are interchangeable); values are parsed by the key's type.
     */
    public TrainConfig with(Map<String, String> overrides) {
        if (overrides.isEmpty()) return this;
        Object[] args = new Object[COMPONENTS.length];
        Map<String, String> sets = new TreeMap<>(settings);
        for (int i = 0; i < COMPONENTS.length; i++) args[i] = value(COMPONENTS[i]);
        TreeSet<String> switches = settingKeys();
        for (var e : overrides.entrySet()) {
            String k = normalise(e.getKey());
            String v = e.getValue() == null ? "" : e.getValue().trim();
            int idx = indexOf(k);
            if (idx >= 0) {
                args[idx] = parse(k, COMPONENTS[idx].getType(), v);
            } else if (switches.contains(k)) {
                sets.put(k, v);
            } else {
                throw new IllegalArgumentException("invalid config: unknown key '" + e.getKey() + "' (trainer keys: "
                        + String.join(", ", keys()) + "; kernel switches: " + String.join(", ", switches) + ")");
            }
        }
        args[indexOf("settings")] = sets;
        return construct(args);
    }

    private static String normalise(String k) {
        return k.trim().toLowerCase(Locale.ROOT).replace('-', '_');
    }

    private static int indexOf(String key) {
        for (int i = 0; i < COMPONENTS.length; i++) if (key(COMPONENTS[i]).equals(key)) return i;
        return -1;
    }

    private static Object parse(String key, Class<?> type, String v) {
        try {
            if (type == int.class) return Integer.parseInt(v);
            if (type == long.class) return Long.parseLong(v);
            if (type == double.class) {
                double d = Double.parseDouble(v);
                if (!Double.isFinite(d)) throw new NumberFormatException();
                return d;
            }
            if (type == boolean.class) {
                return switch (v.toLowerCase(Locale.ROOT)) {
                    case "true", "yes", "on", "1" -> true;
                    case "false", "no", "off", "0" -> false;
                    default -> throw new NumberFormatException();
                };
            }
            if (type == String.class) return v;
        } catch (NumberFormatException e) {
            String what = type == int.class || type == long.class ? "an integer" : type == double.class ? "a finite number" : "true or false";
            throw new IllegalArgumentException("invalid config: " + key + ": expected " + what + ", got '" + v + "'");
        }
        throw new IllegalStateException("unsupported config type " + type);
    }

    private static TrainConfig construct(Object[] args) {
        Class<?>[] types = new Class<?>[COMPONENTS.length];
        for (int i = 0; i < COMPONENTS.length; i++) types[i] = COMPONENTS[i].getType();
        try {
            return TrainConfig.class.getDeclaredConstructor(types).newInstance(args);
        } catch (java.lang.reflect.InvocationTargetException e) {
            if (e.getCause() instanceof RuntimeException re) throw re;
            throw new IllegalStateException(e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    // ------------------------------------------------------------------------------------------------ files

    private static ObjectMapper yaml() {
        return new ObjectMapper(new YAMLFactory().disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
                .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES));
    }

    /** {@code base} overridden by the keys of a YAML (.yaml/.yml) or JSON (anything else) file. */
    public static TrainConfig load(Path file, TrainConfig base) throws IOException {
        String n = file.getFileName().toString().toLowerCase(Locale.ROOT);
        ObjectMapper mapper = n.endsWith(".yaml") || n.endsWith(".yml") ? yaml() : new ObjectMapper();
        JsonNode root;
        try {
            root = mapper.readTree(Files.readAllBytes(file));
        } catch (IOException e) {
            if (!Files.exists(file)) throw new IOException("config file " + file + " does not exist", e);
            throw new IllegalArgumentException("invalid config " + file + ": not valid " + (mapper.getFactory() instanceof YAMLFactory ? "YAML" : "JSON")
                    + ": " + firstLine(e.getMessage()), e);
        }
        if (root == null || root.isNull() || root.isMissingNode()) return base;
        if (!root.isObject()) throw new IllegalArgumentException("invalid config " + file + ": expected a mapping of keys to values");
        Map<String, String> flat = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            var e = it.next();
            if (e.getKey().equals("settings")) {
                if (!e.getValue().isObject() && !e.getValue().isNull()) {
                    throw new IllegalArgumentException("invalid config " + file + ": settings must be a mapping of switch names to values");
                }
                for (Iterator<Map.Entry<String, JsonNode>> s = e.getValue().fields(); s.hasNext(); ) {
                    var se = s.next();
                    if (!settingKeys().contains(normalise(se.getKey()))) {
                        throw new IllegalArgumentException("invalid config " + file + ": unknown kernel switch '" + se.getKey()
                                + "' under settings (known: " + String.join(", ", settingKeys()) + ")");
                    }
                    flat.put(se.getKey(), scalar(file, se.getKey(), se.getValue()));
                }
            } else {
                flat.put(e.getKey(), scalar(file, e.getKey(), e.getValue()));
            }
        }
        try {
            return base.with(flat);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(e.getMessage().replaceFirst("^invalid config: ", "invalid config " + file + ": "), e);
        }
    }

    private static String scalar(Path file, String key, JsonNode v) {
        if (v.isNull()) return "";
        if (!v.isValueNode()) throw new IllegalArgumentException("invalid config " + file + ": " + key + ": expected a single value, got " + v);
        return v.asText();
    }

    private static String firstLine(String s) {
        if (s == null) return "";
        int i = s.indexOf('\n');
        return i < 0 ? s : s.substring(0, i);
    }

    /** YAML text of this config (trainer keys, then {@code settings:}), loadable by {@link #load}. */
    public String toYaml() {
        ObjectNode root = yaml().createObjectNode();
        for (RecordComponent rc : COMPONENTS) {
            if (rc.getName().equals("settings")) continue;
            Object v = value(rc);
            switch (v) {
                case Integer i -> root.put(key(rc), i);
                case Long l -> root.put(key(rc), l);
                case Double d -> root.put(key(rc), d);
                case Boolean b -> root.put(key(rc), b);
                default -> root.put(key(rc), String.valueOf(v));
            }
        }
        ObjectNode s = root.putObject("settings");
        settings.forEach(s::put);
        try {
            return yaml().writeValueAsString(root);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Collects the first failed rule, so a bad config is exactly one message. */
    private static final class Checks {
        String first;

        void fail(String msg) { if (first == null) first = msg; }
        void positive(String k, long v) { if (v <= 0) fail(k + " must be > 0, got " + v); }
        void nonNegative(String k, long v) { if (v < 0) fail(k + " must be >= 0, got " + v); }
        void nonNegativeFinite(String k, double v) { if (!(v >= 0) || !Double.isFinite(v)) fail(k + " must be finite and >= 0, got " + v); }
        void notBlank(String k, String v) { if (v == null || v.isBlank()) fail(k + " must not be empty"); }
        void throwIfFailed() { if (first != null) throw new IllegalArgumentException("invalid config: " + first); }
    }
}
