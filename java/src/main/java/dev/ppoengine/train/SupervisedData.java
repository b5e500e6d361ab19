package dev.ppoengine.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Where the examples of {@code ppo sft} and {@code ppo train-rm} come from: a JSONL file ({@link Jsonl}), or a
 * built-in task, which yields its (imperfect) demonstrations for SFT and (target, {@link Task#rejected}) pairs for
 * the reward model, drawn with a fixed seed.
 */
public final class SupervisedData {
    private SupervisedData() {}

    public static List<Jsonl.SftExample> sft(Path file, String task, int examples, long seed) throws IOException {
        if ((file == null) == (task == null)) throw new IllegalArgumentException("give exactly one of --data FILE.jsonl and --task NAME");
        if (file != null) return Jsonl.readSft(file);
        Task t = Tasks.byName(task);
        positive(examples);
        SplittableRandom rng = Seeds.rng(seed, 0, Seeds.SFT_DATA, 1);
        List<Jsonl.SftExample> out = new ArrayList<>(examples);
        for (int i = 0; i < examples; i++) {
            String p = t.prompt(rng);
            out.add(new Jsonl.SftExample(p, t.demonstration(p, rng)));
        }
        return out;
    }

    public static List<Jsonl.Preference> preferences(Path file, String task, int examples, long seed) throws IOException {
        if ((file == null) == (task == null)) throw new IllegalArgumentException("give exactly one of --data FILE.jsonl and --task NAME");
        if (file != null) return Jsonl.readPreferences(file);
        Task t = Tasks.byName(task);
        positive(examples);
        SplittableRandom rng = Seeds.rng(seed, 0, Seeds.SFT_DATA, 2);
        List<Jsonl.Preference> out = new ArrayList<>(examples);
        for (int i = 0; i < examples; i++) {
            String p = t.prompt(rng);
            out.add(new Jsonl.Preference(p, t.target(p), t.rejected(p, rng)));
        }
        return out;
    }

    private static void positive(int examples) {
        if (examples < 1) throw new IllegalArgumentException("--examples must be >= 1, got " + examples);
    }

    /** Batches of {@code batch} indices per epoch, shuffled with (seed, epoch); the last batch of an epoch may be short. */
    public static List<int[]> batches(int n, int batch, int epochs, long seed) {
        List<int[]> out = new ArrayList<>();
        for (int e = 0; e < epochs; e++) {
            int[] perm = Seeds.permutation(n, Seeds.rng(seed, e, Seeds.SFT_SHUFFLE, 0));
            for (int i = 0; i < n; i += batch) out.add(java.util.Arrays.copyOfRange(perm, i, Math.min(n, i + batch)));
        }
        return out;
    }
}
