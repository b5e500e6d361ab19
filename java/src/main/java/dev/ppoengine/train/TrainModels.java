package dev.ppoengine.train;

import dev.ppoengine.model.AtomicFiles;
import dev.ppoengine.model.ByteTokenizer;
import dev.ppoengine.model.Checkpoint;
import dev.ppoengine.model.GptConfig;
import dev.ppoengine.model.PolicyValueModel;
import dev.ppoengine.model.Tokenizer;
import dev.ppoengine.model.Tokenizers;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The model a training command starts from: a checkpoint directory (its tokenizer.json, or the byte tokenizer), or
 * the built-in byte-level GPT-2 of the given size with GPT-2's seeded initialisation. Also saves a trained model with
 * the tokenizer files of its source, so the output directory loads on its own.
 */
public final class TrainModels {
    private TrainModels() {}

    /** Tokenizer files copied next to a saved model when its source had them. */
    static final List<String> TOKENIZER_FILES = List.of("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
            "vocab.json", "merges.txt");

    /** A trainable model and its tokenizer (close both). */
    public record Loaded(PolicyValueModel model, Tokenizer tokenizer, Path source) implements AutoCloseable {
        @Override
        public void close() {
            model.close();
            tokenizer.close();
        }
    }

    public static Loaded open(String checkpoint, int nLayer, int nHead, int nEmbd, int nPositions, long seed) throws IOException {
        if (checkpoint != null && !checkpoint.isEmpty()) {
            Path dir = Path.of(checkpoint);
            PolicyValueModel m = Checkpoint.load(dir);
            return new Loaded(m, Tokenizers.forCheckpoint(dir, m.config()), dir);
        }
        GptConfig gc = new GptConfig(nLayer, nHead, nEmbd, ByteTokenizer.VOCAB_SIZE, nPositions, 4 * nEmbd, 1e-5,
                ByteTokenizer.BOS, ByteTokenizer.EOS);
        return new Loaded(PolicyValueModel.initialized(gc, Seeds.of(seed, 0, Seeds.INIT, 0)), new ByteTokenizer(), null);
    }

    /** Saves config.json + model.safetensors into {@code out}, plus the source checkpoint's tokenizer files. */
    public static void save(Loaded m, Path out) throws IOException {
        Checkpoint.save(m.model(), out);
        if (m.source() == null || m.source().toAbsolutePath().normalize().equals(out.toAbsolutePath().normalize())) return;
        for (String f : TOKENIZER_FILES) {
            Path src = m.source().resolve(f);
            if (Files.isRegularFile(src)) AtomicFiles.write(out.resolve(f), Files.readAllBytes(src));
        }
    }
}
