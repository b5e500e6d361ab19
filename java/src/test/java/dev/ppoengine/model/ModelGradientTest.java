package dev.ppoengine.model;

import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Gradients of EVERY parameter by central finite differences, through both heads and the shared backbone.
 *
 * <p>Loss: L(θ) = Σ Gℓ[b,w,v]·logits[b,w,v] + Σ Gv[b,t]·values[b,t] with fixed random Gℓ, Gv, so
 * d L/d logits = Gℓ and d L/d values = Gv are what {@code backward} receives. The model runs in f32, so the
 * finite difference uses Richardson extrapolation, D = (4·D(h/2) − D(h))/3 with D(h) = (L(θ+h) − L(θ−h))/2h,
 * which cancels the O(h²) truncation term; h = 1e-2 keeps f32 rounding of L (≈ 1e-6 absolute) at ≈ 1e-4 in D.
 * Tolerance: |D − g| ≤ 5e-4 + 5e-3·|g|.
 */
class ModelGradientTest {

    @ParameterizedTest(name = "L={0} H={1} C={2} V={3} B={4} T={5} window=[{6},{7}) values={8} logits={9}")
    @CsvSource({
            "2, 2, 8, 11, 2, 5, 0, 5, true, true",
            "2, 2, 8, 11, 2, 5, 1, 4, true, true",
            "1, 2, 4, 5, 3, 4, 0, 4, true, false",
            "1, 1, 4, 6, 2, 3, 0, 3, false, true",
            "2, 2, 4, 5, 2, 6, 2, 6, true, true",
    })
    void everyParameterMatchesCentralDifferences(int layers, int heads, int c, int vocab, int batch, int seqLen,
                                                 int from, int to, boolean valueHead, boolean lmHead) {
        GptConfig cfg = GptConfig.of(layers, heads, c, vocab, 8);
        SplittableRandom rng = new SplittableRandom(42 + layers + c);
        int[] ids = ModelForwardTest.randomIds(rng, batch * seqLen, vocab);
        int[] pads = new int[batch];
        pads[batch - 1] = Math.min(2, seqLen - 1);     // last row left-padded
        int[] mask = ModelForwardTest.leftPadMask(pads, seqLen);
        if (seqLen >= 6) mask[3] = 0;                  // and an interior masked key in row 0
        int w = to - from;
        try (Arena arena = Arena.ofConfined(); PolicyValueModel m = ModelForwardTest.randomModel(cfg, 9)) {
            double[] gl = new double[batch * w * vocab];
            double[] gv = new double[batch * seqLen];
            for (int i = 0; i < gl.length; i++) gl[i] = lmHead ? rng.nextDouble(-1, 1) : 0;
            for (int i = 0; i < gv.length; i++) gv[i] = valueHead ? rng.nextDouble(-1, 1) : 0;
            Tensor gradLogits = Tensor.allocate(arena, DType.F32, batch, w, vocab);
            Tensor gradValues = Tensor.allocate(arena, DType.F32, batch, seqLen);
            for (int i = 0; i < gl.length; i++) gradLogits.setFloat(i, gl[i]);
            for (int i = 0; i < gv.length; i++) gradValues.setFloat(i, gv[i]);

            m.zeroGrad();
            m.forward(ids, mask, batch, seqLen, from, to);
            m.backward(lmHead ? gradLogits : null, valueHead ? gradValues : null);

            Parameters p = m.parameters();
            double h = 1e-2;
            for (Parameters.Param prm : p.list()) {
                double maxGrad = 0;
                for (long i = 0; i < prm.numel(); i++) {
                    long idx = prm.offset() + i;
                    float orig = p.get(idx);
                    double d1 = diff(m, p, idx, orig, h, ids, mask, batch, seqLen, from, to, gl, gv);
                    double d2 = diff(m, p, idx, orig, h / 2, ids, mask, batch, seqLen, from, to, gl, gv);
                    p.set(idx, orig);
                    double fd = (4 * d2 - d1) / 3;
                    double an = p.gradAt(idx);
                    maxGrad = Math.max(maxGrad, Math.abs(an));
                    if (!(Math.abs(fd - an) <= 5e-4 + 5e-3 * Math.abs(an))) {
                        fail(prm.name() + "[" + i + "]: finite difference " + fd + " vs backward " + an);
                    }
                }
                boolean reachable = (valueHead || !prm.name().startsWith("v_head")) && !prm.name().equals("wpe.weight");
                if (reachable && (lmHead || valueHead)) {
                    assertTrue(maxGrad > 0, prm.name() + " received no gradient at all");
                }
            }
        }
    }

    private static double diff(PolicyValueModel m, Parameters p, long idx, float orig, double h, int[] ids, int[] mask,
                               int batch, int seqLen, int from, int to, double[] gl, double[] gv) {
        p.set(idx, (float) (orig + h));
        double plus = loss(m, ids, mask, batch, seqLen, from, to, gl, gv);
        p.set(idx, (float) (orig - h));
        double minus = loss(m, ids, mask, batch, seqLen, from, to, gl, gv);
        // The step actually taken is what f32 could represent.
        double step = (double) (float) (orig + h) - (double) (float) (orig - h);
        return (plus - minus) / step;
    }

    private static double loss(PolicyValueModel m, int[] ids, int[] mask, int batch, int seqLen, int from, int to,
                               double[] gl, double[] gv) {
        ModelOutput o = m.forward(ids, mask, batch, seqLen, from, to);
        double l = 0;
        for (int i = 0; i < gl.length; i++) l += gl[i] * o.logits().getDouble(i);
        for (int i = 0; i < gv.length; i++) l += gv[i] * o.values().getDouble(i);
        return l;
    }
}
