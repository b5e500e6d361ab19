package dev.ppoengine.model;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks one token from a logits row per {@link SamplingOptions} (HF generate's warpers: temperature → top-k →
 * top-p → multinomial). Returns the token and its log-probability under the temperature-scaled, unfiltered
 * distribution, {@code log softmax(z/τ)[y]} (τ = 1 for greedy) — the quantity PPO recomputes as the old
 * logprob (trl's logits / (temperature + 1e-7) up to that epsilon). log-sum-exp uses the running max, in double.
 *
 * <p>Top-p follows HF's TopPLogitsWarper: with tokens sorted by probability (descending, lower id first on ties) a
 * token is kept iff the mass of the tokens before it is &lt; top_p (so at least one token is kept).
 * The multinomial draw walks the kept tokens in id order with one uniform u ∈ [0, 1) from the row's generator.
 */
public final class Sampler {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private final SamplingOptions o;
    private final double[] z;
    private final boolean[] keep;
    private final long[] keys;

    public Sampler(SamplingOptions options, int vocab) {
        this.o = options;
        this.z = new double[vocab];
        this.keep = new boolean[vocab];
        this.keys = new long[vocab];
    }

    /** The chosen token and its log-probability log softmax(z/τ)[token]. */
    public record Pick(int token, double logprob) {}

    public Pick sample(MemorySegment logits, long offset, SplittableRandom rng) {
        int v = z.length;
        double invT = o.greedy() ? 1.0 : 1.0 / o.temperature();
        double max = Double.NEGATIVE_INFINITY;
        int argmax = 0;
        for (int j = 0; j < v; j++) {
            float raw = logits.getAtIndex(F, offset + j);
            if (!Float.isFinite(raw)) throw new IllegalStateException("logit " + j + " is not finite: " + raw);
            z[j] = raw * invT;
            if (z[j] > max) {
                max = z[j];
                argmax = j;
            }
        }
        double sum = 0;
        for (int j = 0; j < v; j++) sum += Math.exp(z[j] - max);
        double lse = max + Math.log(sum);
        if (o.greedy()) return new Pick(argmax, z[argmax] - lse);

        Arrays.fill(keep, true);
        if (o.topK() > 0 && o.topK() < v) {
            double[] sorted = z.clone();
            Arrays.sort(sorted);
            double kth = sorted[v - o.topK()];
            for (int j = 0; j < v; j++) keep[j] = z[j] >= kth;
        }
        if (o.topP() < 1.0) {
            int n = 0;
            double keptMass = 0;
            for (int j = 0; j < v; j++) {
                if (!keep[j]) continue;
                keptMass += Math.exp(z[j] - max);
                // Sort key: descending logit, then ascending id. The float's sortable bit pattern is inverted so that
                // a larger logit gives a smaller key; the id fills the low 32 bits.
                // The key orders by the f32-rounded logit; exact ties after rounding fall back to the lower id.
                int bits = Float.floatToIntBits((float) z[j]);
                int sortable = bits ^ ((bits >> 31) & 0x7fffffff);
                keys[n++] = ((long) ~sortable << 32) | j;
            }
            Arrays.sort(keys, 0, n);
            double before = 0;
            for (int i = 0; i < n; i++) {
                int j = (int) keys[i];   // low 32 bits: the token id (narrowing keeps exactly those)
                if (before / keptMass >= o.topP()) keep[j] = false;
                before += Math.exp(z[j] - max);
            }
        }
        double total = 0;
        for (int j = 0; j < v; j++) if (keep[j]) total += Math.exp(z[j] - max);
        double u = rng.nextDouble() * total;
        double acc = 0;
        int pick = -1;
        for (int j = 0; j < v; j++) {
            if (!keep[j]) continue;
            pick = j;
            acc += Math.exp(z[j] - max);
            if (acc > u) break;
        }
        return new Pick(pick, z[pick] - lse);
    }
}
