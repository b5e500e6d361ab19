package dev.ppoengine.reference;

import dev.ppoengine.kernels.KlOptions;
import dev.ppoengine.tensor.Tensor;

/**
 * kl_penalty, reference form (SPEC "kl_penalty").
 *
 * <pre>
 * Shapes: logprobs, ref_logprobs [B, T] f32; mask [B, T] (f32/u8/bool/i32/i64, nonzero = valid; null = all valid);
 *         kl [B, T] f32.
 *   kl[b,t] = KlEstimate.of(logprobs[b,t], ref_logprobs[b,t])   at valid positions
 *           = 0                                                  at masked positions
 * </pre>
 * The estimator and its clamps are in {@link KlEstimate} (k1/abs/k2/k3 of trl, verl and OpenRLHF).
 * Masked positions are written as 0 without evaluating the estimate, so a fill value there
 * (trl's INVALID_LOGPROB, ±inf) cannot leak a NaN or inf into the output.
 */
final class KlPenaltyReference {
    private KlPenaltyReference() {}

    static void run(Tensor logprobs, Tensor refLogprobs, Tensor mask, KlOptions o, Tensor kl) {
        final long n = logprobs.numel();   // B·T, dense row-major
        for (long i = 0; i < n; i++) {
            boolean valid = mask == null || mask.isSet(i);
            kl.setFloat(i, valid ? KlEstimate.of(logprobs.getDouble(i), refLogprobs.getDouble(i), o) : 0.0);
        }
    }
}
