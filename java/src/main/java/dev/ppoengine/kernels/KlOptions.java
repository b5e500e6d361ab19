package dev.ppoengine.kernels;

/**
 * Options of kl_penalty: δ = logprobs − ref_logprobs, clamped to ±inputClamp first (0 = off),
 * the estimator applied, then the result clamped to ±outputClamp (0 = off).
 */
public record KlOptions(KlEstimator estimator, double inputClamp, double outputClamp) {
    public static final KlOptions DEFAULT = new KlOptions(KlEstimator.K1, 0, 0);

    public KlOptions {
        Params.notNull("kl_estimator", estimator);
        Params.nonNegative("kl_input_clamp", inputClamp);
        Params.nonNegative("kl_output_clamp", outputClamp);
    }
}
