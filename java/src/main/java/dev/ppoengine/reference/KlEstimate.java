package dev.ppoengine.reference;

import dev.ppoengine.kernels.KlOptions;

/**
 * The per-token KL estimate of SPEC kl_penalty, shared by kl_penalty and kl_shaped_rewards.
 *
 * <pre>
 *   δ   = logprob − ref_logprob,   δ = clamp(δ, −input_clamp, +input_clamp) when input_clamp &gt; 0
 *   k1  = δ                 (trl, DeepSpeed-Chat, verl "kl", OpenRLHF "k1")
 *   abs = |δ|               (verl "abs")
 *   k2  = ½ δ²              (verl "mse", OpenRLHF "k2")
 *   k3  = exp(−δ) − 1 + δ   (Schulman's k3; verl "low_var_kl", OpenRLHF "k3")
 *   kl  = clamp(k, −output_clamp, +output_clamp) when output_clamp &gt; 0
 * </pre>
 * verl's low_var_kl clamps δ to ±20 and the estimate to ±10; OpenRLHF clamps its estimate to ±10.
 * k3 is evaluated as expm1(−δ) + δ: the same value, without the cancellation of exp(−δ) − 1 for small δ.
 */
final class KlEstimate {
    private KlEstimate() {}

    static double of(double logprob, double refLogprob, KlOptions o) {
        double delta = logprob - refLogprob;
        if (o.inputClamp() > 0) delta = clamp(delta, o.inputClamp());
        double k = switch (o.estimator()) {
            case K1 -> delta;
            case ABS -> Math.abs(delta);
            case K2 -> 0.5 * delta * delta;
            case K3 -> Math.expm1(-delta) + delta;
        };
        if (o.outputClamp() > 0) k = clamp(k, o.outputClamp());
        return k;
    }

    private static double clamp(double x, double c) {
        return Math.max(-c, Math.min(c, x));
    }
}
