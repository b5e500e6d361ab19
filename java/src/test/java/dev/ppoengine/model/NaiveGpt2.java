package dev.ppoengine.model;

/**
 * A straightforward double-precision GPT-2 + value head written from the formulas (HF GPT2LMHeadModel with trl's
 * ValueHead): embeddings, per block x += c_proj(attn(ln_1 x)), x += mlp(ln_2 x), ln_f, tied LM head, value head.
 * No BLAS, no buffers, no tricks — the oracle the optimised model is checked against.
 */
final class NaiveGpt2 {
    final double[][][] logits;   // [B][T][V]
    final double[][] values;     // [B][T]

    NaiveGpt2(Parameters p, int[] ids, int[] mask, int batch, int seqLen) {
        GptConfig cfg = p.config();
        int c = cfg.nEmbd(), hN = cfg.nHead(), d = c / hN, vocab = cfg.vocabSize();
        logits = new double[batch][seqLen][vocab];
        values = new double[batch][seqLen];
        for (int b = 0; b < batch; b++) {
            double[][] x = new double[seqLen][c];
            int count = 0;
            boolean[] valid = new boolean[seqLen];
            for (int t = 0; t < seqLen; t++) {
                valid[t] = mask == null || mask[b * seqLen + t] != 0;
                if (valid[t]) count++;
                int pos = Math.max(count - 1, 0);
                int id = ids[b * seqLen + t];
                for (int i = 0; i < c; i++) x[t][i] = w(p, "wte.weight", id * c + i) + w(p, "wpe.weight", pos * c + i);
            }
            for (int l = 0; l < cfg.nLayer(); l++) {
                String pre = "h." + l + ".";
                double[][] a = layerNorm(p, x, pre + "ln_1", cfg.layerNormEpsilon());
                double[][] qkv = linear(p, a, pre + "attn.c_attn", c, 3 * c);
                double[][] y = new double[seqLen][c];
                for (int h = 0; h < hN; h++) {
                    for (int i = 0; i < seqLen; i++) {
                        double[] s = new double[seqLen];
                        double max = Double.NEGATIVE_INFINITY;
                        for (int j = 0; j <= i; j++) {
                            if (!valid[j]) continue;
                            double dot = 0;
                            for (int e = 0; e < d; e++) dot += qkv[i][h * d + e] * qkv[j][c + h * d + e];
                            s[j] = dot / Math.sqrt(d);
                            max = Math.max(max, s[j]);
                        }
                        if (max == Double.NEGATIVE_INFINITY) continue;
                        double sum = 0;
                        for (int j = 0; j <= i; j++) if (valid[j]) sum += Math.exp(s[j] - max);
                        for (int j = 0; j <= i; j++) {
                            if (!valid[j]) continue;
                            double pr = Math.exp(s[j] - max) / sum;
                            for (int e = 0; e < d; e++) y[i][h * d + e] += pr * qkv[j][2 * c + h * d + e];
                        }
                    }
                }
                double[][] proj = linear(p, y, pre + "attn.c_proj", c, c);
                for (int t = 0; t < seqLen; t++) for (int i = 0; i < c; i++) x[t][i] += proj[t][i];
                double[][] m = layerNorm(p, x, pre + "ln_2", cfg.layerNormEpsilon());
                double[][] fc = linear(p, m, pre + "mlp.c_fc", c, cfg.nInner());
                for (double[] row : fc) {
                    for (int i = 0; i < row.length; i++) {
                        double v = row[i];
                        row[i] = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
                    }
                }
                double[][] out = linear(p, fc, pre + "mlp.c_proj", cfg.nInner(), c);
                for (int t = 0; t < seqLen; t++) for (int i = 0; i < c; i++) x[t][i] += out[t][i];
            }
            double[][] hf = layerNorm(p, x, "ln_f", cfg.layerNormEpsilon());
            for (int t = 0; t < seqLen; t++) {
                for (int v = 0; v < vocab; v++) {
                    double acc = 0;
                    for (int i = 0; i < c; i++) acc += hf[t][i] * w(p, "wte.weight", v * c + i);
                    logits[b][t][v] = acc;
                }
                double acc = w(p, "v_head.summary.bias", 0);
                for (int i = 0; i < c; i++) acc += hf[t][i] * w(p, "v_head.summary.weight", i);
                values[b][t] = acc;
            }
        }
    }

    private static double w(Parameters p, String name, long i) {
        return p.get(p.get(name).offset() + i);
    }

    private static double[][] layerNorm(Parameters p, double[][] x, String name, double eps) {
        int c = x[0].length;
        double[][] y = new double[x.length][c];
        for (int t = 0; t < x.length; t++) {
            double mu = 0, var = 0;
            for (double v : x[t]) mu += v;
            mu /= c;
            for (double v : x[t]) var += (v - mu) * (v - mu);
            var /= c;
            for (int i = 0; i < c; i++) {
                y[t][i] = (x[t][i] - mu) / Math.sqrt(var + eps) * w(p, name + ".weight", i) + w(p, name + ".bias", i);
            }
        }
        return y;
    }

    private static double[][] linear(Parameters p, double[][] x, String name, int in, int out) {
        double[][] y = new double[x.length][out];
        for (int t = 0; t < x.length; t++) {
            for (int o = 0; o < out; o++) {
                double acc = w(p, name + ".bias", o);
                for (int i = 0; i < in; i++) acc += x[t][i] * w(p, name + ".weight", (long) i * out + o);
                y[t][o] = acc;
            }
        }
        return y;
    }
}
