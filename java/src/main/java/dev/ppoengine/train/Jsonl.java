package dev.ppoengine.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The JSONL datasets of the two supervised RLHF steps, one JSON object per line (blank lines skipped):
 * SFT {@code {"prompt": ..., "response": ...}} and reward modelling {@code {"prompt": ..., "chosen": ..., "rejected": ...}}
 * (the field names of trl's SFT and reward trainers). A bad line is an error naming the file, line and field.
 */
public final class Jsonl {
    private Jsonl() {}

    private static final ObjectMapper JSON = new ObjectMapper();

    public record SftExample(String prompt, String response) {}

    public record Preference(String prompt, String chosen, String rejected) {}

    public static List<SftExample> readSft(Path file) throws IOException {
        List<SftExample> out = new ArrayList<>();
        for (Line l : lines(file)) out.add(new SftExample(field(file, l, "prompt"), field(file, l, "response")));
        if (out.isEmpty()) throw new IllegalArgumentException(file + ": no examples (expected JSON lines {\"prompt\", \"response\"})");
        return out;
    }

    public static List<Preference> readPreferences(Path file) throws IOException {
        List<Preference> out = new ArrayList<>();
        for (Line l : lines(file)) {
            out.add(new Preference(field(file, l, "prompt"), field(file, l, "chosen"), field(file, l, "rejected")));
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException(file + ": no examples (expected JSON lines {\"prompt\", \"chosen\", \"rejected\"})");
        }
        return out;
    }

    private record Line(int number, JsonNode node) {}

    private static List<Line> lines(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new IOException("data file " + file + " does not exist");
        List<Line> out = new ArrayList<>();
        try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String s;
            int n = 0;
            while ((s = r.readLine()) != null) {
                n++;
                if (s.isBlank()) continue;
                JsonNode node;
                try {
                    node = JSON.readTree(s);
                } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                    throw new IllegalArgumentException(file + ":" + n + ": not valid JSON: " + e.getOriginalMessage());
                }
                if (node == null || !node.isObject()) throw new IllegalArgumentException(file + ":" + n + ": expected a JSON object");
                out.add(new Line(n, node));
            }
        }
        return out;
    }

    private static String field(Path file, Line l, String name) {
        JsonNode v = l.node().get(name);
        if (v == null || v.isNull()) throw new IllegalArgumentException(file + ":" + l.number() + ": missing field \"" + name + "\"");
        if (!v.isTextual()) throw new IllegalArgumentException(file + ":" + l.number() + ": field \"" + name + "\" must be a string, got " + v);
        return v.asText();
    }
}
