package dev.ppoengine.kernels;

/**
 * Options of token_logprobs and its backward.
 *
 * @param temperature   the effective τ (SPEC: temperature + temperature_eps), &gt; 0
 * @param entropyLogits entropy from the scaled logits z/τ or from the raw logits z
 */
public record LogprobOptions(double temperature, EntropyLogits entropyLogits) {
    public static final LogprobOptions DEFAULT = new LogprobOptions(1.0, EntropyLogits.SCALED);

    public LogprobOptions {
        Params.positive("temperature", temperature);
        Params.notNull("entropy_logits", entropyLogits);
    }
}
