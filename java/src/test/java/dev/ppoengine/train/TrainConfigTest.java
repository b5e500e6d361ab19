package dev.ppoengine.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Config sources (defaults, YAML, JSON, overrides) and one clear error per bad config. */
class TrainConfigTest {
    @TempDir Path dir;

    private static String error(Map<String, String> overrides) {
        return assertThrows(IllegalArgumentException.class, () -> TrainConfig.defaults().with(overrides)).getMessage();
    }

    @Test
    void defaultsAreValidAndResolveTheTrlPreset() {
        TrainConfig c = TrainConfig.defaults();
        assertEquals("trl", c.preset());
        assertEquals(0.2, c.kernelSettings().number("kl_coef"));
        assertTrue(c.kernelSettings().flag("kl_adaptive"));
        assertEquals(c.miniBatchSize(), c.effectiveMicroBatchSize());
    }

    @Test
    void overridesParseByTypeAndKernelSwitchesGoToSettings() {
        TrainConfig c = TrainConfig.defaults().with(Map.of("steps", "7", "lr", "1e-3", "progress", "false", "kl-coef", "0.05",
                "clip_low", "0.1", "preset", "verl"));
        assertEquals(7, c.steps());
        assertEquals(1e-3, c.lr());
        assertFalse(c.progress());
        assertEquals(Map.of("clip_low", "0.1", "kl_coef", "0.05"), c.settings());
        assertEquals(0.05, c.kernelSettings().number("kl_coef"));
        assertEquals(0.1, c.kernelSettings().number("clip_low"));
        assertEquals(3, c.kernelSettings().number("dual_clip"), "verl preset underneath");
    }

    @Test
    void samplingTemperatureReachesTheLogprobsOnlyWherePresetsApplyIt() {
        assertEquals(1.0, TrainConfig.defaults().with(Map.of("temperature", "0.7")).kernelSettings().logprobOptions().temperature());
        double tau = TrainConfig.defaults().with(Map.of("temperature", "0.7", "preset", "trl-ppov2")).kernelSettings().logprobOptions().temperature();
        assertEquals(0.7 + 1e-7, tau, 1e-15);
    }

    @Test
    void oneClearErrorPerProblem() {
        assertTrue(error(Map.of("bach_size", "8")).contains("unknown key 'bach_size'"));
        assertEquals("invalid config: batch_size: expected an integer, got 'many'", error(Map.of("batch_size", "many")));
        assertEquals("invalid config: lr: expected a finite number, got 'NaN'", error(Map.of("lr", "NaN")));
        assertEquals("invalid config: progress: expected true or false, got 'maybe'", error(Map.of("progress", "maybe")));
        assertEquals("invalid config: batch_size (64) must be divisible by mini_batch_size (24)", error(Map.of("mini_batch_size", "24")));
        assertEquals("invalid config: mini_batch_size (16) must be divisible by micro_batch_size (3)", error(Map.of("micro_batch_size", "3")));
        assertEquals("invalid config: batch_size must be >= 2 (advantages are whitened over the batch), got 1",
                error(Map.of("batch_size", "1", "mini_batch_size", "1")));
        assertEquals("invalid config: ppo_epochs must be > 0, got 0", error(Map.of("ppo_epochs", "0")));
        assertEquals("invalid config: top_p must be in (0, 1], got 1.5", error(Map.of("top_p", "1.5")));
        assertEquals("invalid config: n_embd (64) must be a multiple of n_head (5)", error(Map.of("n_head", "5")));
        assertTrue(error(Map.of("task", "poetry")).startsWith("invalid config: task: expected one of [uppercase, sort-digits"));
        assertTrue(error(Map.of("preset", "ppo2")).startsWith("invalid config: preset: unknown preset 'ppo2'"));
        assertTrue(error(Map.of("lr_schedule", "step")).contains("lr_schedule: expected constant, linear or cosine"));
        assertTrue(error(Map.of("clip_low", "-1")).contains("clip_low must be >= 0"), error(Map.of("clip_low", "-1")));
        assertTrue(error(Map.of("kl_estimator", "k9")).contains("kl_estimator"));
        assertTrue(error(Map.of("name", "../x")).contains("name must be letters"));
    }

    @Test
    void yamlFileWithSettingsSectionLoads() throws IOException {
        Path f = dir.resolve("c.yaml");
        Files.writeString(f, """
                # a comment
                steps: 12
                batch_size: 32
                mini_batch_size: 8
                preset: deepspeed-chat
                kl_coef: 0.3
                settings:
                  clip_high: 0.28
                """);
        TrainConfig c = TrainConfig.load(f, TrainConfig.defaults());
        assertEquals(12, c.steps());
        assertEquals(32, c.batchSize());
        assertEquals("deepspeed-chat", c.preset());
        assertEquals(0.3, c.kernelSettings().number("kl_coef"));
        assertEquals(0.28, c.kernelSettings().number("clip_high"));
        assertFalse(c.kernelSettings().flag("whiten_advantages"), "deepspeed-chat preset underneath");
    }

    @Test
    void jsonFileLoadsAndErrorsNameTheFile() throws IOException {
        Path f = dir.resolve("c.json");
        Files.writeString(f, "{\"steps\": 3, \"seed\": 99}");
        TrainConfig c = TrainConfig.load(f, TrainConfig.defaults());
        assertEquals(3, c.steps());
        assertEquals(99, c.seed());

        Files.writeString(f, "{\"steps\": 3, \"stpes\": 4}");
        String m = assertThrows(IllegalArgumentException.class, () -> TrainConfig.load(f, TrainConfig.defaults())).getMessage();
        assertTrue(m.startsWith("invalid config " + f + ": unknown key 'stpes'"), m);

        Files.writeString(f, "{\"steps\": ");
        m = assertThrows(IllegalArgumentException.class, () -> TrainConfig.load(f, TrainConfig.defaults())).getMessage();
        assertTrue(m.startsWith("invalid config " + f + ": not valid JSON"), m);

        Files.writeString(f, "{\"steps\": [1, 2]}");
        m = assertThrows(IllegalArgumentException.class, () -> TrainConfig.load(f, TrainConfig.defaults())).getMessage();
        assertTrue(m.contains("steps: expected a single value"), m);

        Path y = dir.resolve("c.yml");
        Files.writeString(y, "settings:\n  kl_coff: 1\n");
        m = assertThrows(IllegalArgumentException.class, () -> TrainConfig.load(y, TrainConfig.defaults())).getMessage();
        assertTrue(m.contains("unknown kernel switch 'kl_coff' under settings"), m);

        assertThrows(IOException.class, () -> TrainConfig.load(dir.resolve("missing.yaml"), TrainConfig.defaults()));
    }

    @Test
    void savedYamlLoadsBackToTheSameConfig() throws IOException {
        TrainConfig c = TrainConfig.defaults().with(Map.of("steps", "5", "lr", "1.5e-4", "name", "x", "vf_coef", "0.5", "preset", "openrlhf"));
        Path f = dir.resolve("config.yaml");
        Files.writeString(f, c.toYaml());
        assertEquals(c, TrainConfig.load(f, TrainConfig.defaults()));
    }
}
