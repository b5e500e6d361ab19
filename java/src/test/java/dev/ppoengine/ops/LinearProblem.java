package dev.ppoengine.ops;

import dev.ppoengine.kernels.EntropyLogits;
import dev.ppoengine.kernels.LinearTokenLogprobs;
import dev.ppoengine.kernels.LogprobOptions;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;
import dev.ppoengine.testing.Rand;

import java.lang.foreign.Arena;

/**
 * One seeded linear_token_logprobs problem of the op tests: shapes, dtypes, switches and inputs (the logits
 * z = hidden·weightᵀ + bias have a standard deviation of about 3 whatever H is, so peaked and flat rows both occur),
 * with helpers that run a backend on it. Tensors live in the caller's arena.
 */
final class LinearProblem {
    final Arena arena;
    final int n, h, v;
    final LogprobOptions o;
    final Tensor hidden, weight, bias, labels, gradLogprobs, gradEntropy;

    LinearProblem(Arena arena, int n, int h, int v, DType hiddenType, DType weightType, DType biasType, double tau,
                  EntropyLogits mode, long seed) {
        this(arena, n, h, v, hiddenType, weightType, biasType, tau, mode, seed, h);
    }

    /** hiddenStride > h: hidden rows are hiddenStride elements apart (a window of a wider buffer). */
    LinearProblem(Arena arena, int n, int h, int v, DType hiddenType, DType weightType, DType biasType, double tau,
                  EntropyLogits mode, long seed, int hiddenStride) {
        this.arena = arena;
        this.n = n;
        this.h = h;
        this.v = v;
        this.o = new LogprobOptions(tau, mode);
        Rand r = new Rand(arena, seed);
        Tensor wide = r.normal(hiddenType, 1.0, n, hiddenStride);
        hidden = hiddenStride == h ? wide : Tensor.strided(wide.segment(), hiddenType, hiddenStride, n, h);
        weight = r.normal(weightType, 3.0 / Math.sqrt(h), v, h);
        bias = biasType == null ? null : r.normal(biasType, 1.0, v);
        labels = r.labels(seed % 2 == 0 ? DType.I64 : DType.I32, v, n);
        gradLogprobs = r.normal(DType.F32, 1.0, n);
        gradEntropy = r.normal(DType.F32, 0.5, n);
    }

    Tensor f32(long... shape) {
        return Tensor.allocate(arena, DType.F32, shape);
    }

    /** The logits z [N, V] in f64, rounded once to f32 (the materialised path). */
    Tensor logits() {
        Tensor z = f32(n, v);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < v; j++) {
                double acc = bias == null ? 0 : bias.getDouble(j);
                for (int k = 0; k < h; k++) acc += hidden.getDouble((long) i * h + k) * weight.getDouble((long) j * h + k);
                z.setFloat((long) i * v + j, acc);
            }
        }
        return z;
    }

    /** forward on k: {logprobs, entropy, saved}. */
    Tensor[] forward(LinearTokenLogprobs k) {
        Tensor lp = f32(n), ent = f32(n), saved = f32(n, 3);
        k.forward(hidden, weight, bias, labels, o, lp, ent, saved);
        return new Tensor[] {lp, ent, saved};
    }

    /** backward on k: {grad_hidden, grad_weight, grad_bias} (grad_bias always wanted). */
    Tensor[] backward(LinearTokenLogprobs k, Tensor saved, Tensor gradEnt) {
        Tensor gh = f32(n, h), gw = f32(v, h), gb = f32(v);
        k.backward(hidden, weight, bias, labels, saved, gradLogprobs, gradEnt, o, gh, gw, gb, false);
        return new Tensor[] {gh, gw, gb};
    }

    /**
     * forward, then backward from {@code refSaved} (null: this backend's own saved): {logprobs, entropy, saved,
     * grad_hidden, grad_weight, grad_bias (null without bias)}.
     */
    Tensor[] run(LinearTokenLogprobs k, Tensor refSaved) {
        Tensor[] f = forward(k);
        Tensor gh = f32(n, h), gw = f32(v, h), gb = bias == null ? null : f32(v);
        k.backward(hidden, weight, bias, labels, refSaved == null ? f[2] : refSaved, gradLogprobs, gradEntropy, o, gh,
                gw, gb, false);
        return new Tensor[] {f[0], f[1], f[2], gh, gw, gb};
    }
}
