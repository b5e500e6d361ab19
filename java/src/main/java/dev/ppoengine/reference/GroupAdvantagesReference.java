package dev.ppoengine.reference;

import dev.ppoengine.kernels.GroupOptions;
import dev.ppoengine.tensor.Tensor;

/**
 * group_advantages, reference form: critic-free advantages from the scores of n samples of the same prompt.
 *
 * <pre>
 *   scores     : [B]      f32, consecutive groups g of n = group_size (B divisible by n, n ≥ 2: checked before)
 *   mask       : [B, T]   optional (any nonzero value = valid)
 *   advantages : [B]      or [B, T] = value_b · [mask[b,t] ≠ 0] when a mask is given
 *
 *   μ_g = Σ_{j∈g} s_j / n,   σ_g = sqrt( Σ_{j∈g} (s_j − μ_g)² / (n − 1) )   (unbiased, as torch.std)
 *   grpo    : (s_i − μ_g) / (σ_g + ε)        ε = group_std_eps   (verl / OpenRLHF GRPO, trl GRPOTrainer)
 *   dr_grpo : s_i − μ_g                                          (Dr. GRPO: no std normalisation)
 *   rloo    : s_i − (Σ_{j∈g} s_j − s_i) / (n − 1)                (RLOO: leave-one-out baseline)
 * </pre>
 *
 * Accumulation in f64, two passes per group (mean, then centred squares). With ε = 0 and σ_g = 0 every score of
 * the group equals μ_g exactly, so the centred score is 0 and the grpo advantage is 0 rather than 0/0 = NaN.
 */
final class GroupAdvantagesReference {
    private GroupAdvantagesReference() {}

    static void run(Tensor scores, Tensor mask, GroupOptions o, Tensor advantages) {
        long batch = scores.dim(0);     // B
        int n = o.groupSize();          // n
        // One value per sequence; B fits an int (toIntExact), so the (int) casts below cannot truncate.
        double[] adv = new double[Math.toIntExact(batch)];

        for (long g0 = 0; g0 < batch; g0 += n) {
            // Group [g0, g0 + n): mean.
            double sum = 0.0;
            for (long j = g0; j < g0 + n; j++) sum += scores.getDouble(j);
            double mean = sum / n;

            // Unbiased standard deviation (Bessel's correction, n − 1).
            double sq = 0.0;
            for (long j = g0; j < g0 + n; j++) {
                double d = scores.getDouble(j) - mean;
                sq += d * d;
            }
            double std = Math.sqrt(sq / (n - 1));

            for (long i = g0; i < g0 + n; i++) {
                double s = scores.getDouble(i);
                adv[(int) i] = switch (o.estimator()) {
                    case GRPO -> {
                        double denom = std + o.stdEps();
                        yield denom > 0.0 ? (s - mean) / denom : 0.0;
                    }
                    case DR_GRPO -> s - mean;
                    case RLOO -> s - (sum - s) / (n - 1);
                };
            }
        }

        if (mask == null) {
            // advantages [B]; narrowing to f32 only at the store.
            for (long i = 0; i < batch; i++) advantages.setFloat(i, adv[(int) i]);
            return;
        }
        // advantages [B, T]: the row's value where the mask is set, 0 elsewhere.
        long steps = mask.dim(1);       // T
        for (long b = 0; b < batch; b++) {
            for (long t = 0; t < steps; t++) {
                long i = b * steps + t;
                advantages.setFloat(i, mask.isSet(i) ? adv[(int) b] : 0.0);
            }
        }
    }
}
