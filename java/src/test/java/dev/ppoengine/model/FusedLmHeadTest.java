package dev.ppoengine.model;

import dev.ppoengine.kernels.Backends;
import dev.ppoengine.kernels.EntropyLogits;
import dev.ppoengine.kernels.LinearTokenLogprobs;
import dev.ppoengine.kernels.LogprobOptions;
import dev.ppoengine.reference.ReferenceKernels;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;
import dev.ppoengine.testing.Tolerance;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@link FusedLmHead}: the actor's log-probs and entropy from the hidden states through linear_token_logprobs equal
 * token_logprobs of the model's own materialised logits window, and its backward gives d h = dZ·wte on the window
 * rows (0 elsewhere) and adds d wte = dZᵀ·h into the model's gradients, where dZ = token_logprobs_backward of the
 * materialised logits (all within the SPEC tolerance; the sums of the expected values are f64 here).
 */
class FusedLmHeadTest {

    @ParameterizedTest(name = "{0} window=[{1},{2}) tau={3} {4}")
    @CsvSource({
            "reference, 3, 8, 1.0, scaled",
            "reference, 0, 9, 0.7, raw",
            "cpu, 3, 8, 0.8, scaled",
            "cpu, 0, 9, 1.2, raw",
            "cpu, 4, 4, 1.0, scaled",
    })
    void matchesTheMaterialisedHead(String backend, int from, int to, double tau, String mode) {
        if (backend.equals("cpu")) {
            for (Backends.Status s : Backends.statuses()) {
                if (s.name().equals("cpu") && !s.available()) Assumptions.abort("backend cpu unavailable: " + s.unavailableReason());
            }
        }
        GptConfig cfg = GptConfig.of(2, 2, 16, 37, 16);
        int batch = 3, seqLen = 9, w = to - from, c = cfg.nEmbd(), v = cfg.vocabSize();
        LogprobOptions o = new LogprobOptions(tau, EntropyLogits.parse(mode));
        SplittableRandom rng = new SplittableRandom(17 + from);
        int[] ids = ModelForwardTest.randomIds(rng, batch * seqLen, v);
        int[] mask = ModelForwardTest.leftPadMask(new int[] {0, 2, 1}, seqLen);
        ReferenceKernels ref = new ReferenceKernels();
        try (Arena arena = Arena.ofConfined(); PolicyValueModel m = ModelForwardTest.randomModel(cfg, 5);
             LinearTokenLogprobs op = LinearTokenLogprobs.create(backend); FusedLmHead head = new FusedLmHead(m, op)) {
            // labels[b, w] = the token at from + w + 1 (the last position predicts a wrapped-around token)
            Tensor labels = Tensor.allocate(arena, DType.I64, batch, w);
            for (int b = 0; b < batch; b++) {
                for (int k = 0; k < w; k++) labels.setFloat((long) b * w + k, ids[b * seqLen + (from + k + 1) % seqLen]);
            }
            Tensor gLp = Tensor.allocate(arena, DType.F32, batch, w), gEnt = Tensor.allocate(arena, DType.F32, batch, w);
            for (long i = 0; i < gLp.numel(); i++) {
                gLp.setFloat(i, rng.nextDouble(-1, 1));
                gEnt.setFloat(i, rng.nextDouble(-0.3, 0.3));
            }

            // Materialised: the model's logits window, then token_logprobs and its backward.
            ModelOutput out = m.forward(ids, mask, batch, seqLen, from, to);
            Tensor logits = copy(arena, out.logits()), hidden = copy(arena, out.hidden()), values = copy(arena, out.values());
            Tensor lp = Tensor.allocate(arena, DType.F32, batch, w), ent = Tensor.allocate(arena, DType.F32, batch, w);
            Tensor saved = Tensor.allocate(arena, DType.F32, (long) batch * w, 3);
            Tensor gradLogits = Tensor.allocate(arena, DType.F32, batch, w, v);
            if (w > 0) {
                ref.tokenLogprobs(logits, labels, o, lp, ent, saved);
                ref.tokenLogprobsBackward(logits, labels, saved, gLp, gEnt, o, gradLogits);
            }
            double[] wantGh = new double[batch * seqLen * c], wantGw = new double[v * c];
            long wte = m.parameters().wte();
            for (int b = 0; b < batch; b++) {
                for (int k = 0; k < w; k++) {
                    int row = b * seqLen + from + k;
                    for (int j = 0; j < v; j++) {
                        double d = gradLogits.getDouble(((long) b * w + k) * v + j);
                        for (int e = 0; e < c; e++) {
                            wantGh[row * c + e] += d * m.parameters().get(wte + (long) j * c + e);
                            wantGw[j * c + e] += d * hidden.getDouble((long) row * c + e);
                        }
                    }
                }
            }

            // Fused: no logits window at all.
            FusedLmHead.Output f = head.forward(ids, mask, batch, seqLen, from, to, labels, o, true, true);
            assertArrayEquals(values.toFloatArray(), f.values().toFloatArray(), "values: the same model forward");
            Tolerance.assertClose("logprobs", lp.toDoubleArray(), f.logprobs().toDoubleArray());
            Tolerance.assertClose("entropy", ent.toDoubleArray(), f.entropy().toDoubleArray());
            m.zeroGrad();
            Tensor gh = head.backward(gLp, gEnt);
            assertArrayEquals(new long[] {batch, seqLen, c}, gh.shape());
            Tolerance.assertClose("d h", wantGh, gh.toDoubleArray());
            double[] gotGw = new double[v * c];
            for (int i = 0; i < gotGw.length; i++) gotGw[i] = m.parameters().gradAt(wte + i);
            Tolerance.assertClose("d wte", wantGw, gotGw);
            assertEquals(0.0, m.parameters().gradAt(m.parameters().lnfW()), "only wte gets a gradient from the head");
            // Again (as every micro-batch of a training step): the same d h, nothing carried over from the last call.
            float[] first = gh.toFloatArray();
            head.forward(ids, mask, batch, seqLen, from, to, labels, o, true, true);
            assertArrayEquals(first, head.backward(gLp, gEnt).toFloatArray(), "d h of a repeated forward + backward");
        }
    }

    /**
     * The whole training backward: FusedLmHead.backward + {@link PolicyValueModel#backwardFromHidden} gives every
     * parameter the same gradient as the materialised path (logits window → token_logprobs_backward →
     * {@link PolicyValueModel#backward}), with the value head's gradient in both. Both paths run the f32 model; they
     * differ only in where dZ is rounded (the materialised dZ is stored in f32, the fused one never leaves the op),
     * so the tolerance is 1e-5 + 1e-4·max|g| of each parameter tensor.
     */
    @ParameterizedTest(name = "{0} window=[{1},{2}) tau={3} {4}")
    @CsvSource({
            "reference, 3, 8, 1.0, scaled",
            "reference, 0, 9, 0.7, raw",
            "cpu, 2, 9, 0.8, scaled",
            "cpu, 5, 5, 1.0, scaled",
    })
    void backwardFromHiddenGivesTheMaterialisedParameterGradients(String backend, int from, int to, double tau, String mode) {
        if (backend.equals("cpu")) {
            for (Backends.Status s : Backends.statuses()) {
                if (s.name().equals("cpu") && !s.available()) Assumptions.abort("backend cpu unavailable: " + s.unavailableReason());
            }
        }
        GptConfig cfg = GptConfig.of(2, 2, 8, 19, 16);
        int batch = 2, seqLen = 9, w = to - from, v = cfg.vocabSize();
        LogprobOptions o = new LogprobOptions(tau, EntropyLogits.parse(mode));
        SplittableRandom rng = new SplittableRandom(91 + from);
        int[] ids = ModelForwardTest.randomIds(rng, batch * seqLen, v);
        int[] mask = ModelForwardTest.leftPadMask(new int[] {0, 3}, seqLen);
        ReferenceKernels ref = new ReferenceKernels();
        try (Arena arena = Arena.ofConfined(); PolicyValueModel m = ModelForwardTest.randomModel(cfg, 23);
             LinearTokenLogprobs op = LinearTokenLogprobs.create(backend); FusedLmHead head = new FusedLmHead(m, op)) {
            Tensor labels = Tensor.allocate(arena, DType.I64, batch, w);
            for (int b = 0; b < batch; b++) {
                for (int k = 0; k < w; k++) labels.setFloat((long) b * w + k, ids[b * seqLen + (from + k + 1) % seqLen]);
            }
            Tensor gLp = Tensor.allocate(arena, DType.F32, batch, w), gEnt = Tensor.allocate(arena, DType.F32, batch, w);
            for (long i = 0; i < gLp.numel(); i++) {
                gLp.setFloat(i, rng.nextDouble(-1, 1));
                gEnt.setFloat(i, rng.nextDouble(-0.3, 0.3));
            }
            Tensor gV = Tensor.allocate(arena, DType.F32, batch, seqLen);
            for (long i = 0; i < gV.numel(); i++) gV.setFloat(i, rng.nextDouble(-1, 1));
            Parameters p = m.parameters();

            // Materialised path.
            m.zeroGrad();
            ModelOutput out = m.forward(ids, mask, batch, seqLen, from, to);
            if (w > 0) {
                Tensor lp = Tensor.allocate(arena, DType.F32, batch, w);
                Tensor saved = Tensor.allocate(arena, DType.F32, (long) batch * w, 3);
                ref.tokenLogprobs(out.logits(), labels, o, lp, null, saved);
                ref.tokenLogprobsBackward(out.logits(), labels, saved, gLp, gEnt, o, out.logits());
            }
            m.backward(w > 0 ? out.logits() : null, gV);
            double[] want = new double[(int) p.flatSize()];
            for (int i = 0; i < want.length; i++) want[i] = p.gradAt(i);

            // Fused path.
            m.zeroGrad();
            head.forward(ids, mask, batch, seqLen, from, to, labels, o, true, true);
            m.backwardFromHidden(head.backward(gLp, gEnt), gV);
            for (Parameters.Param prm : p.list()) {
                double scale = 0;
                for (long i = 0; i < prm.numel(); i++) scale = Math.max(scale, Math.abs(want[(int) (prm.offset() + i)]));
                for (long i = 0; i < prm.numel(); i++) {
                    int idx = (int) (prm.offset() + i);
                    double got = p.gradAt(idx);
                    if (!(Math.abs(got - want[idx]) <= 1e-5 + 1e-4 * scale)) {
                        fail(prm.name() + "[" + i + "]: fused " + got + " vs materialised "
                                + want[idx] + " (max |g| of the tensor " + scale + ")");
                    }
                }
            }
        }
    }

    @Test
    void backwardFromHiddenRejectsAWrongShape() {
        GptConfig cfg = GptConfig.of(1, 2, 8, 11, 8);
        try (Arena arena = Arena.ofConfined(); PolicyValueModel m = ModelForwardTest.randomModel(cfg, 1)) {
            int[] ids = ModelForwardTest.randomIds(new SplittableRandom(3), 2 * 4, cfg.vocabSize());
            m.forward(ids, null, 2, 4, 0, 0);
            Tensor bad = Tensor.allocate(arena, DType.F32, 2, 3, 8);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> m.backwardFromHidden(bad, null));
            assertTrue(e.getMessage().contains("gradHidden") && e.getMessage().contains("[2, 4, 8]"),
                    e.getMessage());
            Tensor bf16 = Tensor.allocate(arena, DType.BF16, 2, 4, 8);
            assertThrows(IllegalArgumentException.class, () -> m.backwardFromHidden(bf16, null));
        }
    }

    private static Tensor copy(Arena arena, Tensor t) {
        Tensor c = Tensor.allocate(arena, t.dtype(), t.shape());
        for (long i = 0; i < t.numel(); i++) c.setFloat(i, t.getDouble(i));
        return c;
    }
}
