package dev.ppoengine.reference;

import dev.ppoengine.kernels.EntropyLogits;
import dev.ppoengine.kernels.LinearTokenLogprobs;
import dev.ppoengine.kernels.LogprobOptions;
import dev.ppoengine.tensor.Tensor;

/**
 * linear_token_logprobs, reference form: the oracle of the op (see {@link LinearTokenLogprobs} for shapes).
 *
 * <pre>
 * Per row i (never an [N, V] buffer: one row of V logits at a time, O(V) scratch):
 *   z_ij      = Σ_k hidden_ik·weight_jk + bias_j              (f64 over the stored, possibly bf16-rounded, inputs)
 *   x = z/τ,  lse_i = log Σ_j e^{x_ij},  logprob_i = x_iy − lse_i
 *   z_e = x (entropy_logits=scaled) or z (raw),  lse_e_i = log Σ_j e^{z_e_ij},  q = e^{z_e − lse_e}
 *   mean_i = Σ_j q_ij z_e_ij,  entropy_i = lse_e_i − mean_i,  saved_i = (lse_i, lse_e_i, mean_i)
 * Backward, from the saved row (as stored, f32) and upstream g (logprobs), h (entropy):
 *   p = e^{x − lse},  dz_ij = g_i (1[j = y_i] − p_ij)/τ − h_i q_ij (z_e_ij − mean_i)·s,  s = 1/τ (scaled) or 1 (raw)
 *   grad_hidden_i = Σ_j dz_ij weight_j,   grad_weight_j = Σ_i dz_ij hidden_i,   grad_bias_j = Σ_i dz_ij
 * </pre>
 * These are token_logprobs and token_logprobs_backward (SPEC, {@link TokenLogprobsReference}) composed with the
 * linear layer's chain rule dz → (dZ·W, dZᵀ·H); the chunked evaluation the fast backends use is Liger-Kernel's fused
 * linear cross entropy / Cut Cross-Entropy (Wijmans et al. 2024). Everything is f64 (max first, then the sums: the
 * plain two-pass form); grad_weight and grad_bias are summed in f64 arrays of the weight's size and rounded once.
 * A probability that is exactly 0 contributes 0 to the sums (the limit of p·z as p → 0).
 */
public final class LinearTokenLogprobsReference extends LinearTokenLogprobs {

    /** Columns of {@link #forwardF64}'s result per row. */
    public static final int LOGPROB = 0, ENTROPY = 1, LSE = 2, LSE_E = 3, MEAN = 4, COLUMNS = 5;

    @Override
    public String name() {
        return "reference";
    }

    @Override
    protected void forwardImpl(Tensor hidden, Tensor weight, Tensor bias, Tensor labels, LogprobOptions o,
                               Tensor logprobs, Tensor entropy, Tensor saved) {
        double[] r = forwardF64(hidden, weight, bias, labels, o);
        long n = hidden.rows();
        for (long i = 0; i < n; i++) {
            int at = Math.toIntExact(i * COLUMNS);
            logprobs.setFloat(i, r[at + LOGPROB]);
            if (entropy != null) entropy.setFloat(i, r[at + ENTROPY]);
            if (saved != null) {
                saved.setFloat(i * 3, r[at + LSE]);
                saved.setFloat(i * 3 + 1, r[at + LSE_E]);
                saved.setFloat(i * 3 + 2, r[at + MEAN]);
            }
        }
    }

    /**
     * The forward in f64 without rounding the results: per row (logprob, entropy, lse, lse_e, mean) at
     * {@code [i·COLUMNS + LOGPROB ...]}. Arguments must be valid (as after {@link #forward}'s checks); tests use
     * it as an unrounded objective for finite differences.
     */
    public static double[] forwardF64(Tensor hidden, Tensor weight, Tensor bias, Tensor labels, LogprobOptions o) {
        final int n = Math.toIntExact(hidden.rows());
        final int v = Math.toIntExact(weight.dim(0));      // one row of logits fits a Java array
        final double tau = o.temperature();
        final boolean raw = o.entropyLogits() == EntropyLogits.RAW;
        final double[] z = new double[v];
        final double[] out = new double[Math.multiplyExact(n, COLUMNS)];
        for (int i = 0; i < n; i++) {
            logitsRow(hidden, weight, bias, i, z);
            // lse of x = z/τ (max first, then Σ e^{x − max})
            double m = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < v; j++) m = Math.max(m, z[j] / tau);
            double s = 0;
            for (int j = 0; j < v; j++) s += Math.exp(z[j] / tau - m);
            double lse = m + Math.log(s);
            // the entropy logits z_e and their lse
            double lseE = lse;
            if (raw) {
                double mr = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < v; j++) mr = Math.max(mr, z[j]);
                double sr = 0;
                for (int j = 0; j < v; j++) sr += Math.exp(z[j] - mr);
                lseE = mr + Math.log(sr);
            }
            double mean = 0;
            for (int j = 0; j < v; j++) {
                double ze = raw ? z[j] : z[j] / tau;
                double q = Math.exp(ze - lseE);
                if (q > 0) mean += q * ze;
            }
            int y = Math.toIntExact(labels.getLong(i));
            int at = i * COLUMNS;
            out[at + LOGPROB] = z[y] / tau - lse;
            out[at + ENTROPY] = lseE - mean;
            out[at + LSE] = lse;
            out[at + LSE_E] = lseE;
            out[at + MEAN] = mean;
        }
        return out;
    }

    @Override
    protected void backwardImpl(Tensor hidden, Tensor weight, Tensor bias, Tensor labels, Tensor saved,
                                Tensor gradLogprobs, Tensor gradEntropy, LogprobOptions o, Tensor gradHidden,
                                Tensor gradWeight, Tensor gradBias, boolean accumulate) {
        final int n = Math.toIntExact(hidden.rows());
        final int h = Math.toIntExact(hidden.cols());
        final int v = Math.toIntExact(weight.dim(0));
        final double tau = o.temperature();
        final boolean raw = o.entropyLogits() == EntropyLogits.RAW;
        final double entropyScale = raw ? 1.0 : 1.0 / tau;   // d z_e / d z
        final double[] z = new double[v];
        final double[] hid = new double[h];
        final double[] gh = new double[h];
        // grad_weight and grad_bias collect contributions of every row: f64 sums, rounded once at the end.
        final double[] gw = gradWeight == null ? null : new double[Math.multiplyExact(v, h)];
        final double[] gb = gradBias == null ? null : new double[v];

        for (int i = 0; i < n; i++) {
            logitsRow(hidden, weight, bias, i, z);
            for (int k = 0; k < h; k++) hid[k] = hidden.getDouble((long) i * h + k);
            final double lse = saved.getDouble(i * 3L);
            final double lseE = saved.getDouble(i * 3L + 1);
            final double mean = saved.getDouble(i * 3L + 2);
            final double g = gradLogprobs.getDouble(i);
            final double he = gradEntropy == null ? 0.0 : gradEntropy.getDouble(i);
            final long y = labels.getLong(i);
            java.util.Arrays.fill(gh, 0.0);
            for (int j = 0; j < v; j++) {
                double x = z[j] / tau;
                double p = Math.exp(x - lse);
                double dz = g * ((j == y ? 1.0 : 0.0) - p) / tau;
                double ze = raw ? z[j] : x;
                double q = Math.exp(ze - lseE);
                if (q > 0) dz -= he * q * (ze - mean) * entropyScale;   // q = 0: the term's limit is 0
                if (dz == 0) continue;
                long wRow = (long) j * h;
                for (int k = 0; k < h; k++) gh[k] += dz * weight.getDouble(wRow + k);
                if (gw != null) {
                    int at = j * h;
                    for (int k = 0; k < h; k++) gw[at + k] += dz * hid[k];
                }
                if (gb != null) gb[j] += dz;
            }
            if (gradHidden != null) {
                for (int k = 0; k < h; k++) {
                    long at = (long) i * h + k;
                    gradHidden.setFloat(at, (accumulate ? gradHidden.getDouble(at) : 0.0) + gh[k]);
                }
            }
        }
        if (gw != null) {
            for (int at = 0; at < gw.length; at++) {
                gradWeight.setFloat(at, (accumulate ? gradWeight.getDouble(at) : 0.0) + gw[at]);
            }
        }
        if (gb != null) {
            for (int j = 0; j < v; j++) gradBias.setFloat(j, (accumulate ? gradBias.getDouble(j) : 0.0) + gb[j]);
        }
    }

    /** z[j] = Σ_k hidden[i, k]·weight[j, k] + bias[j] in f64 (hidden read through its row stride). */
    private static void logitsRow(Tensor hidden, Tensor weight, Tensor bias, int i, double[] z) {
        final int h = Math.toIntExact(hidden.cols());
        final double[] hid = new double[h];
        for (int k = 0; k < h; k++) hid[k] = hidden.getDouble((long) i * h + k);
        for (int j = 0; j < z.length; j++) {
            long wRow = (long) j * h;
            double acc = bias == null ? 0.0 : bias.getDouble(j);
            for (int k = 0; k < h; k++) acc += hid[k] * weight.getDouble(wRow + k);
            z[j] = acc;
        }
    }
}
