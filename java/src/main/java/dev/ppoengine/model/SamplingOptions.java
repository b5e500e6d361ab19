package dev.ppoengine.model;

/**
 * How {@link Generator} picks tokens, in Hugging Face generate()'s order: logits / temperature, then top-k (keep the
 * tokens whose logit is ≥ the k-th largest; 0 = off), then top-p (keep the smallest set of most likely tokens whose
 * probability reaches top_p; 1 = off), then sample from the renormalised rest. {@code greedy} takes the arg-max
 * (lowest id on ties) and ignores the other three. Generation of a row stops after it emits {@code eosTokenId}
 * (-1 = never) or after {@code maxNewTokens}; finished rows are fed {@code padTokenId} (masked out).
 * The same seed, prompts and options give the same tokens.
 */
public record SamplingOptions(int maxNewTokens, boolean greedy, double temperature, int topK, double topP, long seed,
                              int eosTokenId, int padTokenId) {
    public SamplingOptions {
        if (maxNewTokens < 1) throw new IllegalArgumentException("max_new_tokens must be >= 1, got " + maxNewTokens);
        if (!(temperature > 0) || !Double.isFinite(temperature)) {
            throw new IllegalArgumentException("temperature must be finite and > 0, got " + temperature);
        }
        if (topK < 0) throw new IllegalArgumentException("top_k must be >= 0 (0 = off), got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        if (eosTokenId < -1) throw new IllegalArgumentException("eos_token_id must be >= 0 or -1 (none), got " + eosTokenId);
        if (padTokenId < 0) throw new IllegalArgumentException("pad_token_id must be >= 0, got " + padTokenId);
    }

    /** Plain sampling at temperature 1, no top-k/top-p, no EOS, pad id 0. */
    public static SamplingOptions sampling(int maxNewTokens, long seed) {
        return new SamplingOptions(maxNewTokens, false, 1.0, 0, 1.0, seed, -1, 0);
    }

    public static SamplingOptions greedy(int maxNewTokens) {
        return new SamplingOptions(maxNewTokens, true, 1.0, 0, 1.0, 0, -1, 0);
    }

    public SamplingOptions withEos(int eos, int pad) {
        return new SamplingOptions(maxNewTokens, greedy, temperature, topK, topP, seed, eos, pad);
    }

    public SamplingOptions withTopKTopP(int k, double p) {
        return new SamplingOptions(maxNewTokens, greedy, temperature, k, p, seed, eosTokenId, padTokenId);
    }

    public SamplingOptions withTemperature(double t) {
        return new SamplingOptions(maxNewTokens, greedy, t, topK, topP, seed, eosTokenId, padTokenId);
    }
}
