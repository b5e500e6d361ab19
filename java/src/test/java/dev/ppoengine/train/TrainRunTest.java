package dev.ppoengine.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ppoengine.tensor.Safetensors;
import dev.ppoengine.tensor.SafetensorsFile;
import dev.ppoengine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Whole runs on the tiny model: the files a run writes, interruption + resume equal to an uninterrupted run bit for bit. */
class TrainRunTest {
    @TempDir Path dir;

    private final ByteArrayOutputStream log = new ByteArrayOutputStream();
    private final PrintStream err = new PrintStream(log, true);

    private TrainConfig config(String outputDir) {
        return TinyRuns.config(Map.of("task", "sort-digits", "steps", "6", "sft_steps", "15", "max_new_tokens", "7",
                "save_every", "0", "samples_per_step", "2", "sample_every", "2", "name", "tiny", "output_dir", outputDir));
    }

    @Test
    void aRunWritesEveryFile() throws IOException {
        TrainRun.Result r = TrainRun.start(config(dir.resolve("a").toString()), err).run();
        Path run = r.runDir();
        assertFalse(r.interrupted());
        assertEquals(6, r.steps());
        for (String f : List.of("config.yaml", "settings.yaml", "metrics.jsonl", "samples.jsonl", "curves.png", "summary.json",
                "reference/config.json", "reference/model.safetensors", "checkpoints/latest", "checkpoints/step-000006/model.safetensors",
                "checkpoints/step-000006/optimizer.safetensors", "checkpoints/step-000006/trainer_state.json",
                "checkpoints/step-000006/train_config.yaml")) {
            assertTrue(Files.isRegularFile(run.resolve(f)), "missing " + f);
        }
        List<Map<String, Double>> rows = MetricsLog.read(run.resolve("metrics.jsonl"));
        assertEquals(6, rows.size());
        for (int i = 0; i < 6; i++) assertEquals(i + 1, rows.get(i).get("step"));
        for (String k : List.of("objective/kl", "objective/scores", "ppo/loss/policy", "ppo/loss/value", "ppo/loss/total",
                "ppo/policy/entropy", "ppo/policy/approxkl", "ppo/policy/clipfrac", "ppo/val/clipfrac", "ppo/val/var_explained",
                "ppo/returns/mean", "ppo/mean_scores", "time/ppo/total", "tokens_per_second")) {
            assertTrue(rows.getFirst().containsKey(k), "metrics.jsonl lacks " + k);
        }
        BufferedImage png = ImageIO.read(run.resolve("curves.png").toFile());
        assertEquals(CurvePlot.W, png.getWidth());
        assertEquals(CurvePlot.H, png.getHeight());
        // samples at steps 1, 2, 4, 6 (every 2 and the first and last), 2 each
        assertEquals(8, Files.readAllLines(run.resolve("samples.jsonl")).size());
        JsonNode summary = new ObjectMapper().readTree(run.resolve("summary.json").toFile());
        assertEquals(6, summary.get("steps").asInt());
        assertTrue(summary.get("eval_reward_start").isNumber() && summary.get("eval_reward_end").isNumber());
        assertEquals(config(dir.resolve("a").toString()), TrainConfig.load(run.resolve("config.yaml"), TrainConfig.defaults()));
        String out = log.toString();
        assertTrue(out.contains("ppo train: done in"), out);

        String m = assertThrows(IllegalArgumentException.class, () -> TrainRun.start(config(dir.resolve("a").toString()), err).run())
                .getMessage();
        assertTrue(m.contains("already holds a run"), m);
    }

    @Test
    void aResumedRunEqualsTheUninterruptedOneBitForBit() throws IOException {
        TrainRun.Result whole = TrainRun.start(config(dir.resolve("whole").toString()), err).run();

        TrainRun first = TrainRun.start(config(dir.resolve("parts").toString()), err);
        first.stopAfter(3);
        TrainRun.Result cut = first.run();
        assertTrue(cut.interrupted());
        assertEquals(3, cut.steps());
        assertEquals("step-000003", Files.readString(cut.runDir().resolve("checkpoints/latest")).strip());
        assertTrue(log.toString().contains("--resume"), "tells how to continue");

        TrainRun.Result resumed = TrainRun.resume(cut.runDir(), Map.of(), err).run();
        assertFalse(resumed.interrupted());
        assertEquals(6, resumed.steps());

        List<Map<String, Double>> a = MetricsLog.read(whole.runDir().resolve("metrics.jsonl"));
        List<Map<String, Double>> b = MetricsLog.read(resumed.runDir().resolve("metrics.jsonl"));
        assertEquals(6, b.size());
        for (int i = 0; i < 6; i++) {
            assertEquals(PpoTrainerTest.withoutTimings(a.get(i)), PpoTrainerTest.withoutTimings(b.get(i)), "metrics of step " + (i + 1));
        }
        assertEquals(whole.finalReward(), resumed.finalReward());
        assertEquals(whole.sftReward(), resumed.sftReward());
        for (String f : List.of("model.safetensors", "optimizer.safetensors")) {
            assertSameTensors(whole.runDir().resolve("checkpoints/step-000006").resolve(f),
                    resumed.runDir().resolve("checkpoints/step-000006").resolve(f));
        }
        TrainCheckpoint.State sa = TrainCheckpoint.readState(whole.runDir().resolve("checkpoints/step-000006"));
        TrainCheckpoint.State sb = TrainCheckpoint.readState(resumed.runDir().resolve("checkpoints/step-000006"));
        assertEquals(sa.klCoef(), sb.klCoef());
        assertEquals(sa.optimizerStep(), sb.optimizerStep());
        assertEquals(Files.readAllLines(whole.runDir().resolve("samples.jsonl")), Files.readAllLines(resumed.runDir().resolve("samples.jsonl")));
    }

    private static void assertSameTensors(Path x, Path y) throws IOException {
        try (SafetensorsFile fx = Safetensors.read(x); SafetensorsFile fy = Safetensors.read(y)) {
            assertEquals(fx.tensors().keySet(), fy.tensors().keySet());
            for (var e : fx.tensors().entrySet()) {
                Tensor tx = e.getValue(), ty = fy.tensors().get(e.getKey());
                assertArrayEquals(tx.shape(), ty.shape(), e.getKey());
                assertEquals(-1, tx.segment().mismatch(ty.segment()), "tensor " + e.getKey() + " of " + x.getFileName() + " differs");
            }
            assertEquals(fx.metadata(), fy.metadata());
        }
    }

    @Test
    void resumeNeedsARunOrCheckpointDirectory() {
        String m = assertThrows(IOException.class, () -> TrainRun.resume(dir, Map.of(), err)).getMessage();
        assertTrue(m.contains("cannot resume from " + dir), m);
    }
}
