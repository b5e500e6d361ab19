package dev.ppoengine.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.ppoengine.model.AtomicFiles;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code metrics.jsonl}: one JSON object per PPO step, {@code {"step": n, "objective/kl": ..., ...}} (trl's stat
 * names, see {@link PpoTrainer#step()}), flushed after every line. A resumed run first cuts the file back to the
 * steps its checkpoint covers, so the file of a resumed run equals the uninterrupted run's (timings aside).
 * Non-finite values are written as null.
 */
public final class MetricsLog implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final BufferedWriter out;
    private final List<Map<String, Double>> rows = new ArrayList<>();

    private MetricsLog(Path file, List<Map<String, Double>> kept) throws IOException {
        rows.addAll(kept);
        StringBuilder sb = new StringBuilder();
        for (Map<String, Double> r : kept) sb.append(line(r)).append('\n');
        AtomicFiles.write(file, sb.toString().getBytes(StandardCharsets.UTF_8));
        out = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.APPEND);
    }

    /** A new file (an existing one is replaced). */
    public static MetricsLog create(Path file) throws IOException {
        return new MetricsLog(file, List.of());
    }

    /** Reopens {@code file} keeping the rows with step ≤ {@code upToStep} (what a checkpoint at that step covers). */
    public static MetricsLog resume(Path file, long upToStep) throws IOException {
        List<Map<String, Double>> kept = new ArrayList<>();
        if (Files.exists(file)) {
            for (Map<String, Double> r : read(file)) {
                Double s = r.get("step");
                if (s != null && s <= upToStep) kept.add(r);
            }
        }
        return new MetricsLog(file, kept);
    }

    /** Every row of a metrics file, in order. */
    public static List<Map<String, Double>> read(Path file) throws IOException {
        List<Map<String, Double>> out = new ArrayList<>();
        int n = 0;
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            n++;
            if (line.isBlank()) continue;
            JsonNode o;
            try {
                o = JSON.readTree(line);
            } catch (IOException e) {
                // A line cut by a crash mid-write ends the usable part of the file.
                if (n == countLines(file)) break;
                throw new IOException(file + ":" + n + ": not a JSON object", e);
            }
            Map<String, Double> r = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = o.fields(); it.hasNext(); ) {
                var e = it.next();
                r.put(e.getKey(), e.getValue().isNumber() ? e.getValue().doubleValue() : Double.NaN);
            }
            out.add(r);
        }
        return out;
    }

    private static long countLines(Path file) throws IOException {
        return Files.readAllLines(file, StandardCharsets.UTF_8).size();
    }

    public void append(Map<String, Double> metrics) throws IOException {
        out.write(line(metrics));
        out.write('\n');
        out.flush();
        rows.add(new LinkedHashMap<>(metrics));
    }

    /** Every row written or kept so far. */
    public List<Map<String, Double>> rows() { return Collections.unmodifiableList(rows); }

    static String line(Map<String, Double> metrics) {
        ObjectNode o = JSON.createObjectNode();
        for (var e : metrics.entrySet()) {
            double v = e.getValue();
            // The step is a whole number carried as a double: written as the integer it is.
            if (e.getKey().equals("step")) o.put("step", (long) v);
            else if (Double.isFinite(v)) o.put(e.getKey(), v);
            else o.putNull(e.getKey());
        }
        try {
            return JSON.writeValueAsString(o);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() throws IOException { out.close(); }
}
