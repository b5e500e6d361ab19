package dev.ppoengine.model;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** KV-cache generation vs recomputing the whole sequence each step; reproducibility; EOS; bad input. */
class GeneratorTest {
    private static final GptConfig CFG = GptConfig.of(2, 2, 8, 23, 32);

    private static final List<int[]> PROMPTS = List.of(new int[] {1, 2, 3, 4, 5}, new int[] {7}, new int[] {9, 8, 7});

    @ParameterizedTest(name = "greedy={0} T={1} k={2} p={3}")
    @CsvSource({
            "true, 1.0, 0, 1.0",
            "false, 1.0, 0, 1.0",
            "false, 0.7, 5, 1.0",
            "false, 1.3, 0, 0.8",
            "false, 0.9, 7, 0.9",
    })
    void kvCacheEqualsRecomputingTheFullSequence(boolean greedy, double temperature, int topK, double topP) {
        SamplingOptions o = new SamplingOptions(12, greedy, temperature, topK, topP, 1234, -1, 0);
        try (PolicyValueModel m = ModelForwardTest.randomModel(CFG, 5); Generator g = new Generator(m)) {
            GenerationResult cached = g.generate(PROMPTS, o, true);
            GenerationResult full = g.generate(PROMPTS, o, false);
            for (int b = 0; b < PROMPTS.size(); b++) {
                assertArrayEquals(full.tokens()[b], cached.tokens()[b], "row " + b);
                assertEquals(12, cached.tokens()[b].length);
                for (int i = 0; i < full.logprobs()[b].length; i++) {
                    assertEquals(full.logprobs()[b][i], cached.logprobs()[b][i], 1e-5, "logprob row " + b + " step " + i);
                    assertTrue(cached.logprobs()[b][i] <= 0);
                }
            }
        }
    }

    @Test
    void logprobsEqualTheModelsLogSoftmaxOfTheGeneratedSequence() {
        SamplingOptions o = SamplingOptions.sampling(6, 99).withTemperature(0.8);
        try (PolicyValueModel m = ModelForwardTest.randomModel(CFG, 5); Generator g = new Generator(m)) {
            int[] prompt = {3, 1, 4};
            GenerationResult r = g.generate(List.of(prompt), o);
            int[] seq = new int[prompt.length + 6];
            System.arraycopy(prompt, 0, seq, 0, 3);
            System.arraycopy(r.tokens()[0], 0, seq, 3, 6);
            ModelOutput out = m.forward(seq, null, 1, seq.length);
            int v = CFG.vocabSize();
            for (int i = 0; i < 6; i++) {
                long row = (long) (2 + i) * v;   // logits at t predict the token at t + 1
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < v; j++) max = Math.max(max, out.logits().getDouble(row + j) / 0.8);
                double sum = 0;
                for (int j = 0; j < v; j++) sum += Math.exp(out.logits().getDouble(row + j) / 0.8 - max);
                double expect = out.logits().getDouble(row + seq[3 + i]) / 0.8 - max - Math.log(sum);
                assertEquals(expect, r.logprobs()[0][i], 1e-5, "step " + i);
            }
        }
    }

    @Test
    void sameSeedSameTokensOtherSeedOtherTokens() {
        try (PolicyValueModel m = ModelForwardTest.randomModel(CFG, 5); Generator g = new Generator(m)) {
            GenerationResult a = g.generate(PROMPTS, SamplingOptions.sampling(20, 7));
            GenerationResult b = g.generate(PROMPTS, SamplingOptions.sampling(20, 7));
            GenerationResult c = g.generate(PROMPTS, SamplingOptions.sampling(20, 8));
            boolean differs = false;
            for (int r = 0; r < PROMPTS.size(); r++) {
                assertArrayEquals(a.tokens()[r], b.tokens()[r]);
                assertArrayEquals(a.logprobs()[r], b.logprobs()[r]);
                differs |= !java.util.Arrays.equals(a.tokens()[r], c.tokens()[r]);
            }
            assertTrue(differs, "60 tokens drawn from 23-way distributions with another seed should differ somewhere");
        }
    }

    @Test
    void eosStopsARowAndIsIncluded() {
        try (PolicyValueModel m = ModelForwardTest.randomModel(CFG, 5); Generator g = new Generator(m)) {
            GenerationResult free = g.generate(PROMPTS, SamplingOptions.sampling(10, 3));
            int eos = free.tokens()[0][3];
            int first = 0;
            while (free.tokens()[0][first] != eos) first++;
            GenerationResult r = g.generate(PROMPTS, SamplingOptions.sampling(10, 3).withEos(eos, 0));
            assertEquals(first + 1, r.tokens()[0].length);
            assertEquals(eos, r.tokens()[0][first]);
            assertTrue(r.stoppedAtEos()[0]);
            assertArrayEquals(java.util.Arrays.copyOf(free.tokens()[0], first + 1), r.tokens()[0]);
            for (int b = 1; b < PROMPTS.size(); b++) {
                int[] t = r.tokens()[b];
                boolean hasEos = false;
                for (int i = 0; i < t.length; i++) if (t[i] == eos) { hasEos = true; assertEquals(t.length - 1, i); }
                assertEquals(hasEos, r.stoppedAtEos()[b]);
                if (!hasEos) assertEquals(10, t.length);
                // Other rows are unaffected by row 0 stopping: identical up to their own EOS.
                assertArrayEquals(java.util.Arrays.copyOf(free.tokens()[b], t.length), t);
            }
        }
    }

    @Test
    void badInput() {
        try (PolicyValueModel m = ModelForwardTest.randomModel(CFG, 5); Generator g = new Generator(m)) {
            assertThrows(IllegalArgumentException.class, () -> g.generate(List.of(), SamplingOptions.greedy(2)));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> g.generate(List.of(new int[] {1}, new int[0]), SamplingOptions.greedy(2)));
            assertTrue(e.getMessage().contains("prompt 1 is empty"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> g.generate(List.of(new int[] {23}), SamplingOptions.greedy(2)));
            assertTrue(e.getMessage().contains("prompt 0 token 0 = 23"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> g.generate(List.of(new int[30]), SamplingOptions.greedy(3)));
            assertTrue(e.getMessage().contains("n_positions=32"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> g.generate(List.of(new int[] {1}), SamplingOptions.greedy(2).withEos(23, 0)));
        }
        assertThrows(IllegalArgumentException.class, () -> new SamplingOptions(0, true, 1, 0, 1, 0, -1, 0));
        assertThrows(IllegalArgumentException.class, () -> new SamplingOptions(1, false, 0, 0, 1, 0, -1, 0));
        assertThrows(IllegalArgumentException.class, () -> new SamplingOptions(1, false, 1, -1, 1, 0, -1, 0));
        assertThrows(IllegalArgumentException.class, () -> new SamplingOptions(1, false, 1, 0, 0, 0, -1, 0));
        assertFalse(SamplingOptions.greedy(1).topP() < 1);
    }
}
