package dev.ppoengine.model;

/**
 * Output of {@link Generator#generate}: for each prompt b, the generated tokens (EOS included when it was emitted)
 * and their log-probabilities log softmax(z/τ)[token] (see {@link Sampler}); {@code stoppedAtEos[b]} tells whether
 * the row ended on EOS rather than on max_new_tokens.
 */
public record GenerationResult(int[][] tokens, float[][] logprobs, boolean[] stoppedAtEos) {
    public int batch() { return tokens.length; }
}
