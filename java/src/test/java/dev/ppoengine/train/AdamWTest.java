package dev.ppoengine.train;

import dev.ppoengine.model.GptConfig;
import dev.ppoengine.model.Parameters;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** AdamW arithmetic by hand and against a literal double-precision loop (torch.optim.AdamW semantics). */
class AdamWTest {
    private static final GptConfig TINY = GptConfig.of(1, 1, 4, 5, 4);

    @Test
    void twoStepsByHandForADecayedAndAnUndecayedParameter() {
        try (Parameters p = new Parameters(TINY, true);
             AdamW opt = new AdamW(p, new AdamW.Options(0.9, 0.999, 1e-8, 0.01))) {
            long w = p.get("h.0.attn.c_attn.weight").offset();   // decayed
            long b = p.get("h.0.attn.c_attn.bias").offset();     // not decayed
            p.set(w, 0.5f);
            p.set(b, 0.5f);
            setGrad(p, w, 0.2f);
            setGrad(p, b, 0.2f);
            opt.step(0.1);
            // step 1: m = 0.1·0.2 = 0.02, v = 0.001·0.04 = 4e-5, bias corrections 1−0.9 = 0.1 and 1−0.999 = 0.001:
            // step size = 0.1/0.1 = 1, denom = sqrt(4e-5)/sqrt(0.001) + 1e-8 = 0.2 + 1e-8
            double upd1 = 1.0 * 0.02 / (0.2 + 1e-8);
            double w1 = 0.5 * (1 - 0.1 * 0.01) - upd1;   // decay 0.999 first
            double b1 = 0.5 - upd1;
            assertEquals(w1, p.get(w), 1e-6);
            assertEquals(b1, p.get(b), 1e-6);
            setGrad(p, w, -0.4f);
            setGrad(p, b, -0.4f);
            opt.step(0.1);
            // step 2: m = 0.9·0.02 + 0.1·(−0.4) = −0.022, v = 0.999·4e-5 + 0.001·0.16 = 1.9996e-4,
            // bias corrections 1−0.81 = 0.19 and 1−0.998001 = 0.001999
            double denom = Math.sqrt(1.9996e-4) / Math.sqrt(0.001999) + 1e-8;
            double upd2 = (0.1 / 0.19) * -0.022 / denom;
            assertEquals(w1 * 0.999 - upd2, p.get(w), 1e-6);
            assertEquals(b1 - upd2, p.get(b), 1e-6);
            assertEquals(2, opt.stepCount());
        }
    }

    @Test
    void matchesALiteralLoopOverEveryParameter() {
        AdamW.Options o = new AdamW.Options(0.8, 0.95, 1e-6, 0.1);
        try (Parameters p = new Parameters(TINY, true); AdamW opt = new AdamW(p, o)) {
            p.initRandom(3, 0.5);
            int n = (int) p.flatSize();
            double[] theta = new double[n], m = new double[n], v = new double[n];
            boolean[] decay = new boolean[n];
            boolean[] used = new boolean[n];
            for (Parameters.Param prm : p.list()) {
                for (long i = 0; i < prm.numel(); i++) {
                    decay[(int) (prm.offset() + i)] = prm.decay();
                    used[(int) (prm.offset() + i)] = true;
                }
            }
            for (int i = 0; i < n; i++) theta[i] = p.get(i);
            SplittableRandom rng = new SplittableRandom(8);
            double[] lrs = {0.01, 0.02, 0.005, 0.0, 0.03};
            for (int t = 1; t <= lrs.length; t++) {
                for (int i = 0; i < n; i++) {
                    float g = used[i] ? (float) rng.nextDouble(-1, 1) : 0f;
                    setGrad(p, i, g);
                    if (!used[i]) continue;
                    double lr = lrs[t - 1];
                    if (decay[i]) theta[i] *= 1 - lr * o.weightDecay();
                    m[i] = o.beta1() * m[i] + (1 - o.beta1()) * g;
                    v[i] = o.beta2() * v[i] + (1 - o.beta2()) * g * g;
                    double mh = m[i] / (1 - Math.pow(o.beta1(), t)), vh = v[i] / (1 - Math.pow(o.beta2(), t));
                    theta[i] -= lr * mh / (Math.sqrt(vh) + o.eps());
                }
                opt.step(lrs[t - 1]);
                for (int i = 0; i < n; i++) assertEquals(theta[i], p.get(i), 1e-5 + 1e-5 * Math.abs(theta[i]), "element " + i + " step " + t);
            }
        }
    }

    @Test
    void rejectsBadOptionsAndFrozenParameters() {
        assertThrows(IllegalArgumentException.class, () -> new AdamW.Options(1.0, 0.999, 1e-8, 0));
        assertThrows(IllegalArgumentException.class, () -> new AdamW.Options(0.9, -0.1, 1e-8, 0));
        assertThrows(IllegalArgumentException.class, () -> new AdamW.Options(0.9, 0.999, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new AdamW.Options(0.9, 0.999, 1e-8, -1));
        try (Parameters frozen = new Parameters(TINY, false)) {
            assertThrows(IllegalArgumentException.class, () -> new AdamW(frozen, AdamW.Options.defaults()));
        }
        try (Parameters p = new Parameters(TINY, true); AdamW opt = new AdamW(p, AdamW.Options.defaults())) {
            assertThrows(IllegalArgumentException.class, () -> opt.step(Double.NaN));
        }
    }

    static void setGrad(Parameters p, long i, float g) {
        p.grad().setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, g);
    }
}
