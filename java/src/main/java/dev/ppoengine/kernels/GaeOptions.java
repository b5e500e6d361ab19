package dev.ppoengine.kernels;

/** Options of gae: discount γ and GAE λ in [0, 1], and the treatment of masked steps. */
public record GaeOptions(double gamma, double lam, GaeMaskedSteps maskedSteps) {
    public GaeOptions {
        Params.unit("gamma", gamma);
        Params.unit("lam", lam);
        Params.notNull("gae_masked_steps", maskedSteps);
    }
}
