package dev.ppoengine.model;

import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Bitwise repeatability, gradient accumulation, buffer reuse across shapes, and the frozen reference copy. */
class ModelStateTest {
    private static final GptConfig CFG = GptConfig.of(2, 3, 12, 41, 32);

    private static float[] grads(PolicyValueModel m) {
        Parameters p = m.parameters();
        float[] g = new float[(int) p.flatSize()];
        for (int i = 0; i < g.length; i++) g[i] = p.gradAt(i);
        return g;
    }

    private record Step(float[] logits, float[] values, float[] grads) {}

    private static Step step(PolicyValueModel m, int[] ids, int[] mask, int b, int t, Arena arena) {
        ModelOutput o = m.forward(ids, mask, b, t, 1, t);
        float[] logits = o.logits().toFloatArray(), values = o.values().toFloatArray();
        Tensor gv = Tensor.allocate(arena, DType.F32, b, t);
        for (int i = 0; i < b * t; i++) gv.setFloat(i, Math.sin(i));
        // The logits buffer itself serves as d loss/d logits (in place, as token_logprobs_backward would write it).
        m.backward(o.logits(), gv);
        return new Step(logits, values, grads(m));
    }

    @Test
    void forwardAndBackwardAreBitwiseRepeatable() {
        int b = 3, t = 17;
        int[] ids = ModelForwardTest.randomIds(new SplittableRandom(1), b * t, CFG.vocabSize());
        int[] mask = ModelForwardTest.leftPadMask(new int[] {0, 5, 16}, t);
        try (Arena arena = Arena.ofConfined(); PolicyValueModel m = ModelForwardTest.randomModel(CFG, 3)) {
            m.zeroGrad();
            Step first = step(m, ids, mask, b, t, arena);
            m.forward(new int[] {1, 2}, null, 1, 2);   // a different, smaller step in between reuses the buffers
            m.zeroGrad();
            Step second = step(m, ids, mask, b, t, arena);
            assertArrayEquals(first.logits(), second.logits());
            assertArrayEquals(first.values(), second.values());
            assertArrayEquals(first.grads(), second.grads());
        }
    }

    @Test
    void gradientsAccumulateUntilZeroed() {
        int b = 2, t = 6;
        int[] ids = ModelForwardTest.randomIds(new SplittableRandom(2), b * t, CFG.vocabSize());
        try (Arena arena = Arena.ofConfined(); PolicyValueModel m = ModelForwardTest.randomModel(CFG, 4)) {
            m.zeroGrad();
            float[] once = step(m, ids, null, b, t, arena).grads();
            float[] twice = step(m, ids, null, b, t, arena).grads();
            for (int i = 0; i < once.length; i++) assertEquals(2.0 * once[i], twice[i], 1e-6 + 1e-6 * Math.abs(once[i]), "element " + i);
            m.zeroGrad();
            for (float g : grads(m)) assertEquals(0f, g);
        }
    }

    @Test
    void frozenCopyMatchesThenStaysFixed() {
        int b = 2, t = 9;
        int[] ids = ModelForwardTest.randomIds(new SplittableRandom(3), b * t, CFG.vocabSize());
        int[] mask = ModelForwardTest.leftPadMask(new int[] {0, 3}, t);
        try (PolicyValueModel m = ModelForwardTest.randomModel(CFG, 5); PolicyValueModel ref = m.frozenCopy()) {
            assertFalse(ref.parameters().hasGradients());
            float[] policy = m.forward(ids, mask, b, t).logits().toFloatArray();
            float[] frozen = ref.forward(ids, mask, b, t).logits().toFloatArray();
            assertArrayEquals(policy, frozen);
            Parameters p = m.parameters();
            long w = p.get("h.1.mlp.c_fc.weight").offset();
            for (int i = 0; i < 50; i++) p.set(w + i, p.get(w + i) + 0.5f);
            float[] moved = m.forward(ids, mask, b, t).logits().toFloatArray();
            assertFalse(java.util.Arrays.equals(policy, moved));
            assertArrayEquals(frozen, ref.forward(ids, mask, b, t).logits().toFloatArray());
            assertThrows(IllegalStateException.class, () -> ref.backward(null, null));
        }
    }

    @Test
    void backwardChecksItsArguments() {
        try (Arena arena = Arena.ofConfined(); PolicyValueModel m = ModelForwardTest.randomModel(CFG, 6)) {
            assertThrows(IllegalStateException.class, () -> m.backward(null, null));   // no forward yet
            m.forward(new int[] {1, 2, 3, 4}, null, 1, 4, 1, 3);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> m.backward(Tensor.allocate(arena, DType.F32, 1, 4, 41), null));
            assertEquals(true, e.getMessage().contains("[1, 2, 41]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> m.backward(Tensor.allocate(arena, DType.BF16, 1, 2, 41), null));
            assertEquals(true, e.getMessage().contains("f32"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> m.backward(null, Tensor.allocate(arena, DType.F32, 4)));
            assertEquals(true, e.getMessage().contains("gradValues"), e.getMessage());
        }
    }
}
