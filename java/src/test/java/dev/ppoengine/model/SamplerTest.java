package dev.ppoengine.model;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The sampler on hand-made logits: probabilities 0.1, 0.2, 0.3, 0.4 (logits = log p). */
class SamplerTest {
    private static final double[] P = {0.1, 0.2, 0.3, 0.4};

    private static MemorySegment row(Arena arena, double[] logits) {
        MemorySegment s = arena.allocate(logits.length * 4L, 64);
        for (int i = 0; i < logits.length; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) logits[i]);
        return s;
    }

    private static double[] logOf(double[] p) {
        double[] l = new double[p.length];
        for (int i = 0; i < p.length; i++) l[i] = Math.log(p[i]) + 1.5;   // + a constant: softmax is shift-invariant
        return l;
    }

    private static double[] frequencies(SamplingOptions o, MemorySegment logits, int draws) {
        Sampler s = new Sampler(o, P.length);
        SplittableRandom rng = new SplittableRandom(17);
        double[] f = new double[P.length];
        for (int i = 0; i < draws; i++) f[s.sample(logits, 0, rng).token()] += 1.0 / draws;
        return f;
    }

    @Test
    void greedyTakesTheArgmaxWithItsLogprob() {
        try (Arena a = Arena.ofConfined()) {
            Sampler.Pick pick = new Sampler(SamplingOptions.greedy(1), 4).sample(row(a, logOf(P)), 0, new SplittableRandom(1));
            assertEquals(3, pick.token());
            assertEquals(Math.log(0.4), pick.logprob(), 1e-6);
        }
    }

    @Test
    void plainSamplingFollowsTheProbabilities() {
        try (Arena a = Arena.ofConfined()) {
            double[] f = frequencies(SamplingOptions.sampling(1, 0), row(a, logOf(P)), 40000);
            for (int i = 0; i < 4; i++) assertEquals(P[i], f[i], 0.01, "token " + i);
        }
    }

    @Test
    void temperatureSharpensAndTheLogprobIsOfTheScaledDistribution() {
        try (Arena a = Arena.ofConfined()) {
            // τ = 0.5: p ∝ p² = 0.01, 0.04, 0.09, 0.16 (sum 0.30)
            SamplingOptions o = SamplingOptions.sampling(1, 0).withTemperature(0.5);
            double[] f = frequencies(o, row(a, logOf(P)), 40000);
            double[] q = {0.01 / 0.3, 0.04 / 0.3, 0.09 / 0.3, 0.16 / 0.3};
            for (int i = 0; i < 4; i++) assertEquals(q[i], f[i], 0.01, "token " + i);
            Sampler.Pick pick = new Sampler(o, 4).sample(row(a, logOf(P)), 0, new SplittableRandom(2));
            assertEquals(Math.log(q[pick.token()]), pick.logprob(), 1e-5);
        }
    }

    @Test
    void topKAndTopPKeepTheTwoMostLikely() {
        try (Arena a = Arena.ofConfined()) {
            // top-k 2 keeps {0.3, 0.4}; top-p 0.5: sorted 0.4 (mass before 0 < 0.5 keep), 0.3 (0.4 < 0.5 keep),
            // 0.2 (0.7 ≥ 0.5 drop), 0.1 (drop). Renormalised: 3/7 and 4/7.
            for (SamplingOptions o : new SamplingOptions[] {
                    SamplingOptions.sampling(1, 0).withTopKTopP(2, 1.0),
                    SamplingOptions.sampling(1, 0).withTopKTopP(0, 0.5),
                    SamplingOptions.sampling(1, 0).withTopKTopP(3, 0.5)}) {
                double[] f = frequencies(o, row(a, logOf(P)), 40000);
                assertEquals(0.0, f[0], 0);
                assertEquals(0.0, f[1], 0);
                assertEquals(3.0 / 7, f[2], 0.01);
                assertEquals(4.0 / 7, f[3], 0.01);
            }
            // top-p below the largest probability keeps exactly one token; logprob stays that of the full distribution.
            Sampler.Pick pick = new Sampler(SamplingOptions.sampling(1, 0).withTopKTopP(0, 0.05), 4)
                    .sample(row(a, logOf(P)), 0, new SplittableRandom(3));
            assertEquals(3, pick.token());
            assertEquals(Math.log(0.4), pick.logprob(), 1e-6);
        }
    }

    @Test
    void topKKeepsTiesAtTheThreshold() {
        try (Arena a = Arena.ofConfined()) {
            double[] f = frequencies(SamplingOptions.sampling(1, 0).withTopKTopP(1, 1.0), row(a, new double[] {2, 0, 2, 1}), 20000);
            assertEquals(0.5, f[0], 0.015);
            assertEquals(0.5, f[2], 0.015);
            assertEquals(0.0, f[1] + f[3], 0);
        }
    }
}
