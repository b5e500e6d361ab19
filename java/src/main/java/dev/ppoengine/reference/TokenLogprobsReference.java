package dev.ppoengine.reference;

import dev.ppoengine.kernels.EntropyLogits;
import dev.ppoengine.kernels.LogprobOptions;
import dev.ppoengine.tensor.Tensor;

/**
 * token_logprobs (forward) and token_logprobs_backward, reference form (SPEC "token_logprobs").
 *
 * <pre>
 * Shapes: logits z [N, V] (f32/bf16/f16, rows rowStride elements apart), labels y [N] (i32/i64),
 *         logprobs, entropy, grad_logprobs g, grad_entropy h [N] f32, saved [N, 3] f32,
 *         grad_logits [N, V] (f32 or the logits' dtype; may be the logits' own memory).
 *
 * Forward, per row i, with z' = z / τ and the entropy logits z_e = z' (entropy_logits=scaled) or z (raw):
 *   lse_i     = log Σ_j exp z'_ij                     (running max, one pass)
 *   logprob_i = z'_iy − lse_i
 *   lse_e_i   = log Σ_j exp z_e_ij                    (== lse_i when scaled)
 *   mean_i    = Σ_j q_ij z_e_ij,  q = softmax(z_e) = exp(z_e − lse_e)
 *   entropy_i = lse_e_i − mean_i
 *   saved[i]  = (lse_i, lse_e_i, mean_i)              (f64 values rounded once to f32)
 *
 * Backward, p = exp(z' − lse), q = exp(z_e − lse_e) from the saved row:
 *   grad_logits_ij = g_i (1[j = y_i] − p_ij) / τ − h_i q_ij (z_e_ij − mean_i) · s,  s = 1/τ (scaled) or 1 (raw)
 * </pre>
 *
 * d logprob / d z = (onehot − p)/τ is the softmax-cross-entropy gradient; d entropy / d z_e = −q (z_e − mean)
 * is the derivative of H = lse − Σ q z_e (Liger-Kernel's fused linear cross entropy and llm.c's
 * crossentropy_softmax_backward use the same two terms). The temperature switch comes from trl PPOv2 /
 * verl / OpenRLHF (logits / (τ + eps) before log_softmax); entropy from the raw logits is OpenRLHF's.
 *
 * <p>Arithmetic is f64; logits are read through {@link Tensor#getDouble} (honours the row stride and
 * widens bf16/f16 exactly). No [N, V] log-softmax is ever materialised: the forward keeps O(1) per row, the
 * backward one row copy (O(V)) so that the in-place case reads the row before it overwrites it.
 * A term whose probability is exactly 0 (an −inf logit, or underflow) contributes 0 to the sums, the limit
 * of p·z as p → 0, so a −inf logit (a masked vocabulary entry) gives no NaN.
 */
final class TokenLogprobsReference {
    private TokenLogprobsReference() {}

    static void forward(Tensor logits, Tensor labels, LogprobOptions o, Tensor logprobs, Tensor entropy, Tensor saved) {
        final long n = logits.rows();              // N rows of [N, V]
        final long v = logits.cols();              // V
        final double tau = o.temperature();
        final boolean raw = o.entropyLogits() == EntropyLogits.RAW;

        for (long i = 0; i < n; i++) {
            final long row = i * v;                // flat index of z[i, 0]; getDouble maps it through the stride

            // lse_i of z' = z/τ with a running max: m = max so far, s = Σ exp(z' − m).
            double m = Double.NEGATIVE_INFINITY, s = 0;
            // the same for the raw logits z (only needed for entropy_logits=raw)
            double mr = Double.NEGATIVE_INFINITY, sr = 0;
            for (long j = 0; j < v; j++) {
                double z = logits.getDouble(row + j);
                double zs = z / tau;
                if (zs > m) { s = s * Math.exp(m - zs) + 1; m = zs; }
                else if (zs > Double.NEGATIVE_INFINITY) s += Math.exp(zs - m);
                if (raw) {
                    if (z > mr) { sr = sr * Math.exp(mr - z) + 1; mr = z; }
                    else if (z > Double.NEGATIVE_INFINITY) sr += Math.exp(z - mr);
                }
            }
            final double lse = m + Math.log(s);
            final double lseE = raw ? mr + Math.log(sr) : lse;

            // mean_i = Σ q z_e over the entropy logits (second pass: q needs lse_e).
            double mean = 0;
            for (long j = 0; j < v; j++) {
                double ze = entropyLogit(logits.getDouble(row + j), tau, raw);
                double q = Math.exp(ze - lseE);
                if (q > 0) mean += q * ze;
            }

            long y = labels.getLong(i);
            double zy = logits.getDouble(row + y) / tau;
            logprobs.setFloat(i, zy - lse);
            if (entropy != null) entropy.setFloat(i, lseE - mean);
            if (saved != null) {
                saved.setFloat(i * 3, lse);
                saved.setFloat(i * 3 + 1, lseE);
                saved.setFloat(i * 3 + 2, mean);
            }
        }
    }

    static void backward(Tensor logits, Tensor labels, Tensor saved, Tensor gradLogprobs, Tensor gradEntropy,
                         LogprobOptions o, Tensor gradLogits) {
        final long n = logits.rows();
        final int v = Math.toIntExact(logits.cols());  // one row fits a Java array (V ≤ a few 10^5 in practice)
        final double tau = o.temperature();
        final boolean raw = o.entropyLogits() == EntropyLogits.RAW;
        final double entropyScale = raw ? 1.0 : 1.0 / tau;  // d z_e / d z
        final double[] z = new double[v];               // row i of the logits, copied before any write (in place)

        for (long i = 0; i < n; i++) {
            final long row = i * v;
            for (int j = 0; j < v; j++) z[j] = logits.getDouble(row + j);

            // The saved statistics were rounded to f32 by the forward; the backward uses them as stored.
            final double lse = saved.getDouble(i * 3);
            final double lseE = saved.getDouble(i * 3 + 1);
            final double mean = saved.getDouble(i * 3 + 2);
            final double g = gradLogprobs.getDouble(i);
            final double h = gradEntropy == null ? 0.0 : gradEntropy.getDouble(i);
            final long y = labels.getLong(i);

            for (int j = 0; j < v; j++) {
                double zs = z[j] / tau;
                double p = Math.exp(zs - lse);
                double gradLogprob = g * ((j == y ? 1.0 : 0.0) - p) / tau;

                double ze = raw ? z[j] : zs;
                double q = Math.exp(ze - lseE);
                // q == 0 (incl. z = −inf): the term's limit is 0; skipping it avoids 0·∞.
                double gradEntropyTerm = q > 0 ? h * q * (ze - mean) * entropyScale : 0.0;

                gradLogits.setFloat(row + j, gradLogprob - gradEntropyTerm);
            }
        }
    }

    /** The logit the entropy is computed from: z/τ (scaled) or z (raw). */
    private static double entropyLogit(double z, double tau, boolean raw) {
        return raw ? z : z / tau;
    }
}
