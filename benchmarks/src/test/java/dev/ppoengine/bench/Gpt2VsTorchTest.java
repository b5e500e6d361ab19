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
import java.util.SplittableRandom;

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
        GptConfig cfg = GptConfig.of(2, 4, 32, 97, 24);   // 2 layers, 4 heads of 8, vocabulary 97, 24 positions
        int b = 3, t = 11;
        SplittableRandom rnd = new SplittableRandom(7);
        int[] ids = new int[b * t], mask = new int[b * t];
        int[] pad = {0, 3, 7};   // left padding per row
        for (int r = 0; r < b; r++) {
            for (int s = 0; s < t; s++) {
                boolean valid = s >= pad[r];
                mask[r * t + s] = valid ? 1 : 0;
                ids[r * t + s] = valid ? rnd.nextInt(cfg.vocabSize()) : 0;
            }
        }
        TorchRuntime.init();
        try (PolicyValueModel model = PolicyValueModel.initialized(cfg, 11); Arena arena = Arena.ofConfined();
             PointerScope scope = new PointerScope()) {
            Parameters p = model.parameters();
            // perturb every weight a little (layer norms away from 1/0, biases non-zero, a non-zero value head)
            for (Parameters.Param prm : p.list()) {
                dev.ppoengine.tensor.Tensor w = p.tensor(prm);
                for (long i = 0; i < w.numel(); i++) w.setFloat(i, w.getFloat(i) + (float) (0.3 * rnd.nextGaussian()));
            }
            ModelOutput ours = model.forward(ids, mask, b, t);
            float[] ourLogits = ours.logits().toFloatArray(), ourValues = ours.values().toFloatArray();

            Tensor[] theirs = torchForward(p, cfg, ids, mask, b, t, arena);
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

    private static void check(String what, double want, double got) {
        assertTrue(Math.abs(want - got) <= 1e-4 + 1e-4 * Math.abs(want), what + ": torch " + want + ", engine " + got);
    }

    /** {logits [B·T, V], values [B·T]} of GPT-2 + value head in PyTorch ops, on the engine's weights (no copies). */
    private static Tensor[] torchForward(Parameters p, GptConfig cfg, int[] ids, int[] mask, int b, int t, Arena arena) {
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

    private static Tensor w(Parameters p, String name) {
        return TorchRuntime.wrap(p.tensor(p.get(name)));
    }

    private static Tensor ln(Tensor x, Parameters p, String name, int c, double eps) {
        return torch.layer_norm(x, new long[] {c}, new TensorOptional(w(p, name + ".weight")),
                new TensorOptional(w(p, name + ".bias")), eps, false);
    }
}
