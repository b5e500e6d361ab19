package dev.ppoengine.model;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * The built-in byte-level tokenizer: ids 0..255 are the UTF-8 bytes of the text, then three specials:
 * {@code 256 = <|bos|>}, {@code 257 = <|eos|>}, {@code 258 = <|pad|>} (vocab size 259). Lossless for any
 * text; decoding malformed UTF-8 (e.g. a cut multi-byte character) gives U+FFFD for the broken bytes.
 */
public final class ByteTokenizer implements Tokenizer {
    public static final int BOS = 256, EOS = 257, PAD = 258, VOCAB_SIZE = 259;

    @Override
    public int[] encode(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[bytes.length];
        for (int i = 0; i < bytes.length; i++) ids[i] = bytes[i] & 0xff;
        return ids;
    }

    @Override
    public String decode(int[] ids, boolean skipSpecial) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(ids.length);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < ids.length; i++) {
            int id = ids[i];
            if (id < 0 || id >= VOCAB_SIZE) {
                throw new IllegalArgumentException("token " + i + " = " + id + " is outside the byte tokenizer's [0, " + VOCAB_SIZE + ")");
            }
            if (id < 256) {
                // (byte) keeps the low 8 bits: exactly the byte value 0..255 this id stands for.
                bytes.write((byte) id);
                continue;
            }
            sb.append(bytes.toString(StandardCharsets.UTF_8));
            bytes.reset();
            if (!skipSpecial) sb.append(id == BOS ? "<|bos|>" : id == EOS ? "<|eos|>" : "<|pad|>");
        }
        sb.append(bytes.toString(StandardCharsets.UTF_8));
        return sb.toString();
    }

    @Override
    public int eosTokenId() { return EOS; }

    @Override
    public int padTokenId() { return PAD; }
}
