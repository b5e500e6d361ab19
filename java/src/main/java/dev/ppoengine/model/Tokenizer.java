package dev.ppoengine.model;

/**
 * Text ↔ token ids. Implementations: {@link ByteTokenizer} (built in, for the built-in tasks) and
 * {@link HfTokenizer} (a Hugging Face tokenizer.json, for real checkpoints). {@link Tokenizers#forCheckpoint}
 * picks one for a checkpoint directory.
 */
public interface Tokenizer extends AutoCloseable {
    /** Ids of {@code text}, without added special tokens. */
    int[] encode(String text);

    /** Text of {@code ids}; special tokens are skipped when {@code skipSpecial}. */
    String decode(int[] ids, boolean skipSpecial);

    /** End-of-sequence id, or -1 when the tokenizer defines none. */
    int eosTokenId();

    /** Id to pad with (EOS when there is no dedicated pad token, as GPT-2 does). */
    int padTokenId();

    @Override
    default void close() {}
}
