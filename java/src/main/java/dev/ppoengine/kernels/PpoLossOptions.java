package dev.ppoengine.kernels;

/** Options of ppo_loss: loss = policy_loss + vfCoef·value_loss − entropyCoef·agg(entropy). */
public record PpoLossOptions(PolicyLossOptions policy, ValueLossOptions value, double vfCoef, double entropyCoef) {
    public PpoLossOptions {
        Params.notNull("policy options", policy);
        Params.notNull("value options", value);
        Params.nonNegative("vf_coef", vfCoef);
        Params.finite("entropy_coef", entropyCoef);
    }
}
