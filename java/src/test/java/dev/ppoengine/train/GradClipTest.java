package dev.ppoengine.train;

import dev.ppoengine.model.GptConfig;
import dev.ppoengine.model.Parameters;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Global-norm clipping by hand (torch clip_grad_norm_). */
class GradClipTest {
    private static final GptConfig TINY = GptConfig.of(1, 1, 4, 5, 4);

    @Test
    void clipsToTheMaxNormAcrossParameters() {
        try (Parameters p = new Parameters(TINY, true)) {
            long a = p.get("wte.weight").offset(), b = p.get("v_head.summary.bias").offset();
            AdamWTest.setGrad(p, a, 3f);
            AdamWTest.setGrad(p, b, 4f);
            assertEquals(5.0, GradClip.norm(p), 1e-12);        // sqrt(9 + 16)
            assertEquals(5.0, GradClip.clip(p, 1.0), 1e-12);   // returns the norm before clipping
            double coef = 1.0 / (5.0 + 1e-6);
            assertEquals(3 * coef, p.gradAt(a), 1e-7);
            assertEquals(4 * coef, p.gradAt(b), 1e-7);
            assertEquals(1.0, GradClip.norm(p), 1e-6);
        }
    }

    @Test
    void leavesSmallGradientsAlone() {
        try (Parameters p = new Parameters(TINY, true)) {
            long a = p.get("ln_f.bias").offset();
            AdamWTest.setGrad(p, a, 0.5f);
            assertEquals(0.5, GradClip.clip(p, 1.0), 1e-12);
            assertEquals(0.5f, p.gradAt(a));
        }
    }

    @Test
    void nonFiniteGradientIsNamed() {
        try (Parameters p = new Parameters(TINY, true)) {
            long a = p.get("h.0.mlp.c_fc.weight").offset();
            AdamWTest.setGrad(p, a + 7, Float.NaN);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> GradClip.clip(p, 1.0));
            assertTrue(e.getMessage().contains("h.0.mlp.c_fc.weight at element 7"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> GradClip.clip(p, 0));
        }
    }
}
