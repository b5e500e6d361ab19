package dev.ppoengine.bench;

import dev.ppoengine.bench.torch.TorchRuntime;
import dev.ppoengine.model.GptConfig;
import dev.ppoengine.model.ModelOutput;
import dev.ppoengine.model.Parameters;
import dev.ppoengine.model.PolicyValueModel;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The engine's GPT-2 forward (dev.ppoengine.model.PolicyValueModel: its own GEMMs, attention, layer norm, GELU) against
 * the same network written with PyTorch ops (libtorch through bytedeco), the way Hugging Face's GPT2LMHeadModel and
 * trl's value head compute it: token + position embeddings (trl's position ids for left padding:
 * cumsum(mask) − mask), per block ln_1 → Conv1D c_attn (x·W + b, W [in, out]) → causal attention over the non-padded
 * keys with scores / √d → c_proj → residual, ln_2 → c_fc → GELU tanh ("gelu_new") → c_proj → residual; ln_f; logits
 * tied to wte; values = v_head(ln_f output). Seeded GPT-2 initialisation with the layer norms perturbed so they
 * matter, a left-padded batch; every valid position's logits and values must agree within f32 rounding of the two
 * orders of summation (1e-4 + 1e-4·|x|).
 */
class Gpt2VsTorchTest {

    @Test
    void forwardMatchesTorchOnALeftPaddedBatch() {
        GptConfig cfg = CFG;
        int b = B, t = T;
        TorchRuntime.init();
        try (PolicyValueModel model = model(); Arena arena = Arena.ofConfined(); PointerScope scope = new PointerScope()) {
            Parameters p = model.parameters();
            ModelOutput ours = model.forward(ids, mask, b, t);
            float[] ourLogits = ours.logits().toFloatArray(), ourValues = ours.values().toFloatArray();

            Tensor[] theirs = torchForward(views(p), cfg, ids, mask, b, t, arena);
            float[] tl = TorchRuntime.toFloats(theirs[0]), tv = TorchRuntime.toFloats(theirs[1]);
            int v = cfg.vocabSize();
            int compared = 0;
            for (int i = 0; i < b * t; i++) {
                if (mask[i] == 0) continue;   // padded positions: HF's output there is a function of masked scores only
                for (int j = 0; j < v; j++) check("logits[" + i + ", " + j + "]", tl[i * v + j], ourLogits[i * v + j]);
                check("values[" + i + "]", tv[i], ourValues[i]);
                compared++;
            }
            assertTrue(compared == b * t - 10, "compared " + compared + " valid positions");
        }
    }

    private static final GptConfig CFG = GptConfig.of(2, 4, 32, 97, 24);   // 2 layers, 4 heads of 8, V = 97, 24 positions
    private static final int B = 3, T = 11;
    private static final int[] PAD = {0, 3, 7};   // left padding per row: 33 − 10 = 23 valid positions

    private final SplittableRandom rnd = new SplittableRandom(7);
    private final int[] ids = new int[B * T], mask = new int[B * T];

    /** Seeded GPT-2 init with every weight perturbed (layer norms away from 1/0, non-zero biases and value head). */
    private PolicyValueModel model() {
        for (int r = 0; r < B; r++) {
            for (int s = 0; s < T; s++) {
                boolean valid = s >= PAD[r];
                mask[r * T + s] = valid ? 1 : 0;
                ids[r * T + s] = valid ? rnd.nextInt(CFG.vocabSize()) : 0;
            }
        }
        PolicyValueModel model = PolicyValueModel.initialized(CFG, 11);
        Parameters p = model.parameters();
        for (Parameters.Param prm : p.list()) {
            dev.ppoengine.tensor.Tensor w = p.tensor(prm);
            for (long i = 0; i < w.numel(); i++) w.setFloat(i, w.getFloat(i) + (float) (0.3 * rnd.nextGaussian()));
        }
        return model;
    }

    /**
     * The backward: loss = Σ G·logits + Σ g·values with seeded G, g (zero at padded positions), every parameter's
     * gradient from the engine's backward against torch autograd through the same network (wte tied: embedding +
     * head), within 1e-4 of the parameter's largest gradient + 1e-3 relative.
     */
    @Test
    void backwardMatchesTorchAutograd() {
        TorchRuntime.init();
        try (PolicyValueModel model = model(); Arena arena = Arena.ofConfined(); PointerScope scope = new PointerScope()) {
            Parameters p = model.parameters();
            int v = CFG.vocabSize();
            float[] gl = new float[B * T * v], gv = new float[B * T];
            for (int i = 0; i < B * T; i++) {
                if (mask[i] == 0) continue;
                for (int j = 0; j < v; j++) gl[i * v + j] = (float) rnd.nextGaussian();
                gv[i] = (float) rnd.nextGaussian();
            }
            model.zeroGrad();
            model.forward(ids, mask, B, T);
            model.backward(dev.ppoengine.tensor.Tensor.ofFloats(arena, gl, B, T, v),
                    dev.ppoengine.tensor.Tensor.ofFloats(arena, gv, B, T));

            Map<String, Tensor> leaves = new HashMap<>();
            Function<String, Tensor> leaf = name -> leaves.computeIfAbsent(name,
                    n -> TorchRuntime.wrap(p.tensor(p.get(n))).detach().requires_grad_(true));
            Tensor[] out = torchForward(leaf, CFG, ids, mask, B, T, arena);
            Tensor gLogits = TorchRuntime.wrap(dev.ppoengine.tensor.Tensor.ofFloats(arena, gl, B * T, v));
            Tensor gValues = TorchRuntime.wrap(dev.ppoengine.tensor.Tensor.ofFloats(arena, gv, B * T));
            out[0].mul(gLogits).sum().add(out[1].mul(gValues).sum()).backward();

            for (Parameters.Param prm : p.list()) {
                float[] want = TorchRuntime.toFloats(leaves.get(prm.name()).grad());
                float[] got = p.gradTensor(prm).toFloatArray();
                double scale = 0;
                for (float x : want) scale = Math.max(scale, Math.abs(x));
                for (int i = 0; i < want.length; i++) {
                    double err = Math.abs(want[i] - got[i]);
                    assertTrue(err <= 1e-4 * scale + 1e-3 * Math.abs(want[i]), "d " + prm.name() + "[" + i + "]: torch "
                            + want[i] + ", engine " + got[i] + " (largest |grad| " + scale + ")");
                }
            }
        }
    }

    private static void check(String what, double want, double got) {
        assertTrue(Math.abs(want - got) <= 1e-4 + 1e-4 * Math.abs(want), what + ": torch " + want + ", engine " + got);
    }

    /** {logits [B·T, V], values [B·T]} of GPT-2 + value head in PyTorch ops, on the engine's weights (no copies). */
    private static Tensor[] torchForward(Function<String, Tensor> p, GptConfig cfg, int[] ids, int[] mask, int b, int t,
                                         Arena arena) {
        int c = cfg.nEmbd(), nh = cfg.nHead(), hd = c / nh;
        double eps = cfg.layerNormEpsilon();
        long[] idsL = new long[b * t], posL = new long[b * t];
        float[] bias = new float[b * t * t];   // additive attention mask [B, 1, T, T]: 0 where allowed, −1e9 elsewhere
        for (int r = 0; r < b; r++) {
            int count = 0;
            for (int s = 0; s < t; s++) {
                count += mask[r * t + s];
                idsL[r * t + s] = ids[r * t + s];
                posL[r * t + s] = count - mask[r * t + s];   // trl: attention_mask.cumsum(1) − attention_mask
                for (int k = 0; k < t; k++) bias[(r * t + s) * t + k] = k <= s && mask[r * t + k] != 0 ? 0f : -1e9f;
            }
        }
        Tensor idsT = TorchRuntime.wrap(dev.ppoengine.tensor.Tensor.ofLongs(arena, idsL, b * t));
        Tensor posT = TorchRuntime.wrap(dev.ppoengine.tensor.Tensor.ofLongs(arena, posL, b * t));
        Tensor maskT = TorchRuntime.wrap(dev.ppoengine.tensor.Tensor.ofFloats(arena, bias, b, 1, t, t));

        Tensor h = w(p, "wte.weight").index_select(0, idsT).add(w(p, "wpe.weight").index_select(0, posT));   // [B·T, C]
        for (int l = 0; l < cfg.nLayer(); l++) {
            String pre = "h." + l + ".";
            Tensor a = ln(h, p, pre + "ln_1", c, eps);
            Tensor qkv = torch.addmm(w(p, pre + "attn.c_attn.bias"), a, w(p, pre + "attn.c_attn.weight"));   // [B·T, 3C]
            Tensor heads = qkv.view(b, t, 3, nh, hd).permute(2, 0, 3, 1, 4);                                  // [3, B, nh, T, hd]
            Tensor q = heads.select(0, 0), k = heads.select(0, 1), val = heads.select(0, 2);
            Tensor scores = q.matmul(k.transpose(-2, -1)).div(TorchRuntime.scalar(Math.sqrt(hd))).add(maskT);
            Tensor y = scores.softmax(-1).matmul(val).permute(0, 2, 1, 3).reshape(b * t, c);                 // [B·T, C]
            h = h.add(torch.addmm(w(p, pre + "attn.c_proj.bias"), y, w(p, pre + "attn.c_proj.weight")));
            Tensor m = ln(h, p, pre + "ln_2", c, eps);
            Tensor fc = torch.gelu(torch.addmm(w(p, pre + "mlp.c_fc.bias"), m, w(p, pre + "mlp.c_fc.weight")), "tanh");
            h = h.add(torch.addmm(w(p, pre + "mlp.c_proj.bias"), fc, w(p, pre + "mlp.c_proj.weight")));
        }
        Tensor f = ln(h, p, "ln_f", c, eps);
        Tensor logits = f.matmul(w(p, "wte.weight").t());                                                     // tied head
        Tensor values = f.matmul(w(p, "v_head.summary.weight").t()).add(w(p, "v_head.summary.bias"));       // [B·T, 1]
        return new Tensor[] {logits, values.reshape(b * t)};
    }

    private static Tensor w(Function<String, Tensor> p, String name) {
        return p.apply(name);
    }

    /** The engine's parameter as a torch view of its memory. */
    private static Function<String, Tensor> views(Parameters p) {
        return name -> TorchRuntime.wrap(p.tensor(p.get(name)));
    }

    private static Tensor ln(Tensor x, Function<String, Tensor> p, String name, int c, double eps) {
        return torch.layer_norm(x, new long[] {c}, new TensorOptional(w(p, name + ".weight")),
                new TensorOptional(w(p, name + ".bias")), eps, false);
    }
}
