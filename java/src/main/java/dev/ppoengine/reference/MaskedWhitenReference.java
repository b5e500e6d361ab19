package dev.ppoengine.reference;

import dev.ppoengine.kernels.WhitenEpsMode;
import dev.ppoengine.kernels.WhitenOptions;
import dev.ppoengine.kernels.WhitenVariance;
import dev.ppoengine.tensor.Tensor;

/**
 * masked_whiten, reference form: normalise the valid entries of the whole [B, T] batch to mean 0, variance 1.
 *
 * <pre>
 *   values, mask : [B, T]   (mask: any nonzero value = valid, read as m ∈ {0, 1})
 *   whitened     : [B, T]   f32, 0 at masked positions
 *
 *   N  = Σ m
 *   μ  = Σ m·x / N
 *   σ² = Σ m·(x − μ)² / N                 (whiten_variance=biased, OpenRLHF)
 *        · N / (N − 1)                    (whiten_variance=unbiased, trl / verl masked_var with Bessel's correction)
 *   s  = rsqrt(σ² + ε)                    (whiten_eps_mode=add, trl / verl masked_whiten)
 *        rsqrt(max(σ², ε))                (whiten_eps_mode=clamp, OpenRLHF: (x − μ) / std.clamp(min=eps))
 *   out = (x − μ)·s,  plus μ when shift_mean=false
 * </pre>
 *
 * Two passes in f64 (mean, then the centred sum of squares) so the variance does not lose precision to
 * cancellation. N &lt; 2 (unbiased) or N &lt; 1 (biased) is rejected here after the first pass, before anything is written.
 * With ε = 0 and σ² = 0 every valid x equals μ exactly (f32 inputs summed in f64 are exact), so the centred
 * value is 0 and the result is 0 (μ with shift_mean=false) rather than 0·∞ = NaN.
 */
final class MaskedWhitenReference {
    private MaskedWhitenReference() {}

    static void run(Tensor values, Tensor mask, WhitenOptions o, Tensor whitened) {
        long total = values.numel();    // B·T, dense

        // Pass 1: N and μ.
        long n = 0;
        double sum = 0.0;
        for (long i = 0; i < total; i++) {
            if (mask.isSet(i)) {
                n++;
                sum += values.getDouble(i);
            }
        }
        long need = o.variance() == WhitenVariance.UNBIASED ? 2 : 1;
        if (n < need) {
            throw new IllegalArgumentException("masked_whiten: needs at least " + need + " valid tokens for the "
                    + o.variance() + " variance, got " + n);
        }
        double mean = sum / n;

        // Pass 2: centred sum of squares → σ².
        double sq = 0.0;
        for (long i = 0; i < total; i++) {
            if (mask.isSet(i)) {
                double d = values.getDouble(i) - mean;
                sq += d * d;
            }
        }
        double var = sq / n;
        if (o.variance() == WhitenVariance.UNBIASED) var = var * n / (n - 1);

        double denom = o.epsMode() == WhitenEpsMode.ADD ? var + o.eps() : Math.max(var, o.eps());
        double scale = denom > 0.0 ? 1.0 / Math.sqrt(denom) : 0.0;

        // Pass 3: write. Narrowing to f32 only at the store.
        for (long i = 0; i < total; i++) {
            if (mask.isSet(i)) {
                double out = (values.getDouble(i) - mean) * scale;
                if (!o.shiftMean()) out += mean;
                whitened.setFloat(i, out);
            } else {
                whitened.setFloat(i, 0.0);
            }
        }
    }
}
