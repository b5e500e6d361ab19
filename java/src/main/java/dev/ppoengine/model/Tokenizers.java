package dev.ppoengine.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Chooses the tokenizer of a checkpoint directory: its tokenizer.json if present, else the built-in byte tokenizer. */
public final class Tokenizers {
    private Tokenizers() {}

    public static Tokenizer forCheckpoint(Path dir, GptConfig cfg) throws IOException {
        Path json = dir.resolve("tokenizer.json");
        if (Files.isRegularFile(json)) return new HfTokenizer(json, cfg.eosTokenId(), -1);
        if (cfg.vocabSize() < ByteTokenizer.VOCAB_SIZE) {
            throw new IllegalArgumentException(dir + ": no tokenizer.json, and vocab_size=" + cfg.vocabSize()
                    + " is too small for the built-in byte tokenizer (needs >= " + ByteTokenizer.VOCAB_SIZE + ")");
        }
        return new ByteTokenizer();
    }
}
