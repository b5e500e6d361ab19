package dev.ppoengine.model;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Forward of the optimised model vs the naive double-precision GPT-2 ({@link NaiveGpt2}); left padding; bad input. */
class ModelForwardTest {

    static PolicyValueModel randomModel(GptConfig cfg, long seed) {
        PolicyValueModel m = PolicyValueModel.create(cfg);
        m.parameters().initRandom(seed, 0.3);
        return m;
    }

    static int[] randomIds(SplittableRandom rng, int n, int vocab) {
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = rng.nextInt(vocab);
        return ids;
    }

    /** Left-padded mask: row b has pads[b] leading zeros. */
    static int[] leftPadMask(int[] pads, int seqLen) {
        int[] m = new int[pads.length * seqLen];
        for (int b = 0; b < pads.length; b++) for (int t = pads[b]; t < seqLen; t++) m[b * seqLen + t] = 1;
        return m;
    }

    static void assertNear(String what, double ref, double actual, double atol, double rtol) {
        if (!(Math.abs(ref - actual) <= atol + rtol * Math.abs(ref))) {
            fail(what + ": expected " + ref + " got " + actual + " (|err| " + Math.abs(ref - actual) + ")");
        }
    }

    @ParameterizedTest(name = "L={0} H={1} C={2} V={3} B={4} T={5}")
    @CsvSource({
            "2, 2, 8, 11, 2, 5",
            "1, 1, 4, 7, 1, 1",
            "3, 4, 16, 17, 3, 9",
            "2, 3, 12, 41, 2, 17",
    })
    void matchesNaiveReferenceWithLeftPadding(int layers, int heads, int c, int vocab, int batch, int seqLen) {
        GptConfig cfg = GptConfig.of(layers, heads, c, vocab, 32);
        SplittableRandom rng = new SplittableRandom(layers * 1000L + c);
        int[] ids = randomIds(rng, batch * seqLen, vocab);
        int[] pads = new int[batch];
        for (int b = 1; b < batch; b++) pads[b] = rng.nextInt(seqLen);   // row 0 unpadded, others left-padded
        int[] mask = leftPadMask(pads, seqLen);
        try (PolicyValueModel m = randomModel(cfg, 7)) {
            ModelOutput out = m.forward(ids, mask, batch, seqLen);
            NaiveGpt2 ref = new NaiveGpt2(m.parameters(), ids, mask, batch, seqLen);
            for (int b = 0; b < batch; b++) {
                for (int t = pads[b]; t < seqLen; t++) {
                    for (int v = 0; v < vocab; v++) {
                        assertNear("logits[" + b + "," + t + "," + v + "]", ref.logits[b][t][v],
                                out.logits().getDouble(((long) b * seqLen + t) * vocab + v), 1e-4, 1e-4);
                    }
                    assertNear("values[" + b + "," + t + "]", ref.values[b][t], out.values().getDouble((long) b * seqLen + t), 1e-4, 1e-4);
                }
                for (int t = 0; t < seqLen; t++) {
                    for (int v = 0; v < vocab; v++) {
                        assertTrue(Double.isFinite(out.logits().getDouble(((long) b * seqLen + t) * vocab + v)), "finite logits");
                    }
                }
            }
        }
    }

    @Test
    void interiorMaskedKeysMatchTheNaiveReference() {
        GptConfig cfg = GptConfig.of(2, 2, 8, 13, 16);
        int batch = 2, seqLen = 7;
        int[] ids = randomIds(new SplittableRandom(8), batch * seqLen, 13);
        // Row 0: a masked token in the middle (e.g. a tool observation); row 1: left padding plus a gap.
        int[] mask = {1, 1, 0, 1, 1, 0, 1,
                      0, 0, 1, 0, 1, 1, 1};
        try (PolicyValueModel m = randomModel(cfg, 12)) {
            ModelOutput out = m.forward(ids, mask, batch, seqLen);
            NaiveGpt2 ref = new NaiveGpt2(m.parameters(), ids, mask, batch, seqLen);
            for (int b = 0; b < batch; b++) {
                for (int t = 0; t < seqLen; t++) {
                    if (mask[b * seqLen + t] == 0) continue;
                    for (int v = 0; v < 13; v++) {
                        assertNear("logits[" + b + "," + t + "," + v + "]", ref.logits[b][t][v],
                                out.logits().getDouble(((long) b * seqLen + t) * 13 + v), 1e-4, 1e-4);
                    }
                    assertNear("values[" + b + "," + t + "]", ref.values[b][t], out.values().getDouble((long) b * seqLen + t), 1e-4, 1e-4);
                }
            }
        }
    }

    @Test
    void leftPaddingGivesTheSameLogitsAsNoPadding() {
        GptConfig cfg = GptConfig.of(2, 2, 8, 13, 16);
        SplittableRandom rng = new SplittableRandom(3);
        int seqLen = 7;
        int[] lens = {7, 3, 1, 5};
        int[] ids = new int[lens.length * seqLen];
        int[] pads = new int[lens.length];
        for (int b = 0; b < lens.length; b++) {
            pads[b] = seqLen - lens[b];
            for (int t = 0; t < seqLen; t++) ids[b * seqLen + t] = t < pads[b] ? 0 : rng.nextInt(13);
        }
        try (PolicyValueModel m = randomModel(cfg, 11)) {
            double[] padded = m.forward(ids, leftPadMask(pads, seqLen), lens.length, seqLen).logits().toDoubleArray();
            double[] paddedValues = m.forward(ids, leftPadMask(pads, seqLen), lens.length, seqLen).values().toDoubleArray();
            for (int b = 0; b < lens.length; b++) {
                int[] alone = new int[lens[b]];
                System.arraycopy(ids, b * seqLen + pads[b], alone, 0, lens[b]);
                ModelOutput o = m.forward(alone, null, 1, lens[b]);
                for (int t = 0; t < lens[b]; t++) {
                    for (int v = 0; v < 13; v++) {
                        assertNear("row " + b + " t " + t, o.logits().getDouble((long) t * 13 + v),
                                padded[((b * seqLen) + pads[b] + t) * 13 + v], 1e-5, 1e-5);
                    }
                    assertNear("value row " + b + " t " + t, o.values().getDouble(t), paddedValues[b * seqLen + pads[b] + t], 1e-5, 1e-5);
                }
            }
        }
    }

    @Test
    void logitsWindowEqualsTheSameRowsOfTheFullForward() {
        GptConfig cfg = GptConfig.of(2, 2, 8, 11, 16);
        int batch = 3, seqLen = 6, from = 2, to = 5, vocab = 11;
        int[] ids = randomIds(new SplittableRandom(5), batch * seqLen, vocab);
        int[] mask = leftPadMask(new int[] {0, 1, 2}, seqLen);
        try (PolicyValueModel m = randomModel(cfg, 2)) {
            double[] full = m.forward(ids, mask, batch, seqLen).logits().toDoubleArray();
            ModelOutput win = m.forward(ids, mask, batch, seqLen, from, to);
            assertEquals(batch, win.logits().dim(0));
            assertEquals(to - from, win.logits().dim(1));
            for (int b = 0; b < batch; b++) {
                for (int w = 0; w < to - from; w++) {
                    for (int v = 0; v < vocab; v++) {
                        assertEquals(full[(b * seqLen + from + w) * vocab + v],
                                win.logits().getDouble(((long) b * (to - from) + w) * vocab + v), 1e-6);
                    }
                }
            }
        }
    }

    @Test
    void positionIdsFollowHuggingFace() {
        int[] mask = {0, 0, 1, 1, 1, 1, 1, 0, 1, 1};
        int[] pos = PolicyValueModel.positions(mask, 2, 5);
        // row 0: cumsum = 0,0,1,2,3 → −1,−1,0,1,2 → clamp 0,0,0,1,2; row 1: cumsum 1,2,2,3,4 → 0,1,1,2,3
        org.junit.jupiter.api.Assertions.assertArrayEquals(new int[] {0, 0, 0, 1, 2, 0, 1, 1, 2, 3}, pos);
    }

    @Test
    void badInputIsRejectedWithNamedArguments() {
        GptConfig cfg = GptConfig.of(1, 1, 4, 7, 8);
        try (PolicyValueModel m = randomModel(cfg, 1)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.forward(new int[] {1, 7}, null, 1, 2));
            assertTrue(e.getMessage().contains("inputIds[0, 1] = 7"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> m.forward(new int[] {1, 2, 3}, null, 1, 2));
            assertTrue(e.getMessage().contains("inputIds"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> m.forward(new int[9], null, 1, 9));
            assertTrue(e.getMessage().contains("n_positions=8"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> m.forward(new int[2], new int[3], 1, 2));
            assertTrue(e.getMessage().contains("attentionMask"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> m.forward(new int[4], null, 1, 4, 3, 2));
            assertTrue(e.getMessage().contains("logits window"), e.getMessage());
            try (PolicyValueModel frozen = m.frozenCopy()) {
                assertThrows(IllegalStateException.class, () -> frozen.backward(null, null));
            }
        }
    }
}
