package dev.ppoengine.model;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * A Hugging Face {@code tokenizer.json} (GPT-2's byte-level BPE and any other the Rust tokenizers library reads),
 * through DJL's maintained binding (ai.djl.huggingface:tokenizers, native library bundled in the jar; works
 * offline). Special tokens are not added on encode (GPT-2 adds none; prompts carry their own).
 */
public final class HfTokenizer implements Tokenizer {
    private final HuggingFaceTokenizer tok;
    private final int eos, pad;

    /**
     * @param eos the end-of-sequence id (from config.json; -1 = none)
     * @param pad the pad id, or -1 to pad with EOS (GPT-2 has no pad token)
     */
    public HfTokenizer(Path tokenizerJson, int eos, int pad) throws IOException {
        try {
            this.tok = HuggingFaceTokenizer.newInstance(tokenizerJson, Map.of("addSpecialTokens", "false"));
        } catch (UnsatisfiedLinkError | RuntimeException e) {
            throw new IOException(tokenizerJson + ": cannot load the Hugging Face tokenizer: " + e.getMessage(), e);
        }
        this.eos = eos;
        this.pad = pad >= 0 ? pad : Math.max(eos, 0);
    }

    @Override
    public int[] encode(String text) {
        long[] ids = tok.encode(text, false, false).getIds();
        int[] out = new int[ids.length];
        // Ids index the vocabulary, far below 2^31: the narrowing is exact.
        for (int i = 0; i < ids.length; i++) out[i] = (int) ids[i];
        return out;
    }

    @Override
    public String decode(int[] ids, boolean skipSpecial) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) l[i] = ids[i];
        return tok.decode(l, skipSpecial);
    }

    @Override
    public int eosTokenId() { return eos; }

    @Override
    public int padTokenId() { return pad; }

    @Override
    public void close() { tok.close(); }
}
