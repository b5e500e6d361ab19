package dev.ppoengine.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The trainer's layout and files: sequence packing, metrics.jsonl, curves.png, JSONL datasets, batching. */
class TrainIoTest {
    @TempDir Path dir;

    @Test
    void sequenceBatchLeftPadsPromptsAndRightPadsResponses() {
        // prompts [5, 6] and [7]; responses [1, 2, 3] and [4]; pad 9 → Tp = 2, R = 3, T = 5
        SequenceBatch b = SequenceBatch.of(List.of(new int[] {5, 6}, new int[] {7}), List.of(new int[] {1, 2, 3}, new int[] {4}), 9);
        assertEquals(2, b.promptLen);
        assertEquals(3, b.responseLen);
        assertEquals(5, b.seqLen);
        assertArrayEquals(new int[] {5, 6, 1, 2, 3, /* row 1 */ 9, 7, 4, 9, 9}, b.ids);
        assertArrayEquals(new int[] {1, 1, 1, 1, 1, 0, 1, 1, 0, 0}, b.attention);
        assertArrayEquals(new int[] {1, 2, 3, 4, 9, 9}, b.labels);
        assertArrayEquals(new float[] {1, 1, 1, 1, 0, 0}, b.mask);
        // logits window [Tp − 1, Tp − 1 + R) = [1, 4): position 1 predicts the first response token (index 2)
        assertEquals(1, b.windowFrom());
        assertEquals(4, b.windowTo());
        assertEquals(4, b.lastPosition(0));   // token 3 sits at index 4
        assertEquals(2, b.lastPosition(1));   // token 4 sits at index 2
        assertEquals(4, b.tokens());
        SequenceBatch r = b.rows(new int[] {1});
        assertArrayEquals(new int[] {9, 7, 4, 9, 9}, r.ids);
        assertEquals(2, r.lastPosition(0));
        assertThrows(IllegalArgumentException.class, () -> SequenceBatch.of(List.of(new int[0]), List.of(new int[] {1}), 0));
    }

    @Test
    void metricsLogResumeCutsBackToTheCheckpointStep() throws IOException {
        Path f = dir.resolve("metrics.jsonl");
        try (MetricsLog m = MetricsLog.create(f)) {
            for (int s = 1; s <= 5; s++) {
                Map<String, Double> row = new LinkedHashMap<>();
                row.put("step", (double) s);
                row.put("objective/kl", s * 0.5);
                row.put("bad", s == 2 ? Double.NaN : 1.0);
                m.append(row);
            }
        }
        List<String> lines = Files.readAllLines(f);
        assertEquals("{\"step\":1,\"objective/kl\":0.5,\"bad\":1.0}", lines.get(0));
        assertEquals("{\"step\":2,\"objective/kl\":1.0,\"bad\":null}", lines.get(1));
        Files.writeString(f, Files.readString(f) + "{\"step\":6,\"obj");   // a line cut by a crash
        try (MetricsLog m = MetricsLog.resume(f, 3)) {
            assertEquals(3, m.rows().size());
            assertTrue(Double.isNaN(m.rows().get(1).get("bad")));
            m.append(Map.of("step", 4.0));
        }
        assertEquals(List.of(lines.get(0), lines.get(1), lines.get(2), "{\"step\":4}"), Files.readAllLines(f));
    }

    @Test
    void curvePlotTicksAreNiceAndTheImageHasContent() throws IOException {
        assertArrayEquals(new double[] {0, 20, 40, 60, 80, 100}, CurvePlot.ticks(1, 100, 6), 1e-12);
        // raw spacing (0.85 − 0.43)/4 = 0.105 → the next nice step is 0.2
        assertArrayEquals(new double[] {0.4, 0.6, 0.8, 1.0}, CurvePlot.ticks(0.43, 0.85, 5), 1e-12);
        assertEquals(0.2, CurvePlot.niceStep(0.17), 1e-15);
        assertEquals(5, CurvePlot.niceStep(3.2), 1e-15);
        assertEquals("0.25", CurvePlot.fmt(0.25, new double[] {0, 0.05, 0.1}));
        assertEquals("40", CurvePlot.fmt(40, new double[] {0, 20, 40}));
        List<Map<String, Double>> rows = new ArrayList<>();
        for (int s = 1; s <= 30; s++) {
            rows.add(Map.of("step", (double) s, "objective/scores", 0.4 + 0.015 * s, "objective/kl", 0.05 * s, "objective/kl_coef", 0.2,
                    "ppo/loss/policy", -0.02, "ppo/loss/total", -0.01, "ppo/loss/value", 0.1 / s, "ppo/policy/clipfrac", 0.1,
                    "ppo/val/clipfrac", 0.0, "ppo/policy/entropy", 0.5 - 0.01 * s));
        }
        BufferedImage img = CurvePlot.render(rows, "test");
        long coloured = 0;
        for (int y = 0; y < img.getHeight(); y += 2) {
            for (int x = 0; x < img.getWidth(); x += 2) {
                int rgb = img.getRGB(x, y) & 0xffffff;
                int r = rgb >> 16, g = (rgb >> 8) & 0xff, b = rgb & 0xff;
                if (Math.max(r, Math.max(g, b)) - Math.min(r, Math.min(g, b)) > 60) coloured++;
            }
        }
        assertTrue(coloured > 500, "the curves are drawn in colour: " + coloured + " coloured samples");
        Path png = dir.resolve("curves.png");
        CurvePlot.write(png, rows, "test");
        assertTrue(Files.size(png) > 10_000);
        // One row, and rows without some metrics, still render.
        CurvePlot.render(rows.subList(0, 1), "one");
        CurvePlot.render(List.of(Map.of("step", 1.0)), "empty");
    }

    @Test
    void jsonlDatasetsAndTheirErrors() throws IOException {
        Path f = dir.resolve("d.jsonl");
        Files.writeString(f, "{\"prompt\": \"a\", \"response\": \"b\"}\n\n{\"prompt\": \"c\", \"response\": \"d\", \"extra\": 1}\n");
        assertEquals(List.of(new Jsonl.SftExample("a", "b"), new Jsonl.SftExample("c", "d")), Jsonl.readSft(f));
        Files.writeString(f, "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n");
        assertEquals(List.of(new Jsonl.Preference("a", "b", "c")), Jsonl.readPreferences(f));
        String m = assertThrows(IllegalArgumentException.class, () -> Jsonl.readSft(f)).getMessage();
        assertEquals(f + ":1: missing field \"response\"", m);
        Files.writeString(f, "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n{\"prompt\": 3, \"chosen\": \"b\", \"rejected\": \"c\"}\n");
        m = assertThrows(IllegalArgumentException.class, () -> Jsonl.readPreferences(f)).getMessage();
        assertEquals(f + ":2: field \"prompt\" must be a string, got 3", m);
        Files.writeString(f, "{\"prompt\": \"a\",\n");
        m = assertThrows(IllegalArgumentException.class, () -> Jsonl.readSft(f)).getMessage();
        assertTrue(m.startsWith(f + ":1: not valid JSON"), m);
        Files.writeString(f, "[1]\n");
        assertEquals(f + ":1: expected a JSON object", assertThrows(IllegalArgumentException.class, () -> Jsonl.readSft(f)).getMessage());
        Files.writeString(f, "\n");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Jsonl.readSft(f)).getMessage().contains("no examples"));
        assertThrows(IOException.class, () -> Jsonl.readSft(dir.resolve("none.jsonl")));
    }

    @Test
    void batchesCoverEveryExampleOncePerEpochInASeededOrder() {
        List<int[]> b = SupervisedData.batches(10, 4, 2, 7);
        assertEquals(6, b.size());                                  // 4 + 4 + 2 per epoch
        for (int e = 0; e < 2; e++) {
            int[] all = new int[10];
            int k = 0;
            for (int i = 0; i < 3; i++) for (int x : b.get(3 * e + i)) all[k++] = x;
            Arrays.sort(all);
            assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, all);
        }
        assertEquals(2, b.get(2).length);
        List<int[]> again = SupervisedData.batches(10, 4, 2, 7);
        for (int i = 0; i < b.size(); i++) assertArrayEquals(b.get(i), again.get(i));
    }

    @Test
    void seedsAreStreamsOfSeedStepAndIndex() {
        assertEquals(Seeds.of(1, 2, Seeds.SHUFFLE, 3), Seeds.of(1, 2, Seeds.SHUFFLE, 3));
        assertNotEquals(Seeds.of(1, 2, Seeds.SHUFFLE, 3), Seeds.of(1, 3, Seeds.SHUFFLE, 3));
        assertNotEquals(Seeds.of(1, 2, Seeds.SHUFFLE, 3), Seeds.of(1, 2, Seeds.GENERATE, 3));
        assertNotEquals(Seeds.of(1, 2, Seeds.SHUFFLE, 3), Seeds.of(2, 2, Seeds.SHUFFLE, 3));
        int[] p = Seeds.permutation(17, Seeds.rng(1, 0, Seeds.SHUFFLE, 0));
        int[] sorted = p.clone();
        Arrays.sort(sorted);
        for (int i = 0; i < 17; i++) assertEquals(i, sorted[i]);
    }
}
