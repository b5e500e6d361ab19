package dev.ppoengine.kernels;

/** Options of masked_whiten: variance estimator, how ε enters, ε itself, and whether the mean stays removed. */
public record WhitenOptions(WhitenVariance variance, WhitenEpsMode epsMode, double eps, boolean shiftMean) {
    public WhitenOptions {
        Params.notNull("whiten_variance", variance);
        Params.notNull("whiten_eps_mode", epsMode);
        Params.nonNegative("whiten_eps", eps);
    }
}
