package dev.ppoengine.train;

import dev.ppoengine.model.ByteTokenizer;
import dev.ppoengine.model.Tokenizer;

import java.util.Arrays;

/**
 * How the trainer turns text into model ids, the same for SFT, reward-model training and PPO:
 * prompt ids = [BOS] + encode(prompt) for the built-in byte tokenizer (BOS gives every prompt a first token to
 * attend to), encode(prompt) for a Hugging Face tokenizer (GPT-2 style: no BOS is added); the response is
 * encode(response) followed by EOS. Decoding drops special tokens.
 */
public final class TextCodec {
    private final Tokenizer tokenizer;

    public TextCodec(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
        if (tokenizer.eosTokenId() < 0) throw new IllegalArgumentException("tokenizer: the trainer needs an EOS token");
    }

    public Tokenizer tokenizer() { return tokenizer; }
    public int eos() { return tokenizer.eosTokenId(); }
    public int pad() { return tokenizer.padTokenId(); }

    public int[] prompt(String text) {
        return encodePrompt(tokenizer, text);
    }

    /**
     * Prompt ids as the trainer feeds them to the model: [BOS] + encode(text) for the built-in byte tokenizer,
     * encode(text) for a Hugging Face tokenizer. {@code ppo generate} uses the same rule, so a trained checkpoint
     * sees its prompts exactly as in training.
     */
    public static int[] encodePrompt(Tokenizer tokenizer, String text) {
        int[] ids = tokenizer.encode(text);
        if (!(tokenizer instanceof ByteTokenizer)) {
            if (ids.length == 0) throw new IllegalArgumentException("prompt '" + text + "' encodes to no tokens");
            return ids;
        }
        int[] out = new int[ids.length + 1];
        out[0] = ByteTokenizer.BOS;
        System.arraycopy(ids, 0, out, 1, ids.length);
        return out;
    }

    /** Response ids with the EOS appended. */
    public int[] response(String text) {
        int[] ids = tokenizer.encode(text);
        int[] out = Arrays.copyOf(ids, ids.length + 1);
        out[ids.length] = eos();
        return out;
    }

    public String decode(int[] ids) { return tokenizer.decode(ids, true); }
}
