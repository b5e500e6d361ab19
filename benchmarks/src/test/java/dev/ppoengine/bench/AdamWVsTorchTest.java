package dev.ppoengine.bench;

import dev.ppoengine.bench.torch.TorchRuntime;
import dev.ppoengine.model.GptConfig;
import dev.ppoengine.model.Parameters;
import dev.ppoengine.model.PolicyValueModel;
import dev.ppoengine.train.AdamW;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The trainer's AdamW (dev.ppoengine.train.AdamW) against libtorch's AdamW (the C++ torch::optim::AdamW of the same
 * PyTorch, through bytedeco) on a small GPT-2's parameters: two parameter groups as the trainer uses them (weight decay
 * on matrices and embeddings, none on LayerNorm parameters and biases), non-default eps and decay, a learning
 * rate that changes between steps, five steps with fresh seeded gradients. Every parameter must agree within f32
 * rounding (1e-6 + 1e-5·|θ|): the engine computes each update in double, torch in f32.
 */
class AdamWVsTorchTest {

    @Test
    void fiveStepsMatchTorch() {
        TorchRuntime.init();
        GptConfig cfg = GptConfig.of(1, 2, 16, 41, 8);
        double[] lrs = {1e-2, 3e-3, 5e-3, 1e-3, 2e-2};
        double b1 = 0.9, b2 = 0.999, eps = 1e-6, wd = 0.1;   // torch's default betas: see options()
        SplittableRandom rnd = new SplittableRandom(3);
        try (PolicyValueModel model = PolicyValueModel.initialized(cfg, 5); Arena arena = Arena.ofConfined();
             PointerScope scope = new PointerScope()) {
            Parameters p = model.parameters();
            // torch leaves: copies of the initial parameters (the engine updates its own memory in place)
            List<Tensor> leaves = new ArrayList<>();
            TensorVector decay = new TensorVector(), noDecay = new TensorVector();
            for (Parameters.Param prm : p.list()) {
                Tensor t = TorchRuntime.wrap(p.tensor(prm)).detach().clone().requires_grad_(true);
                leaves.add(t);
                (prm.decay() ? decay : noDecay).push_back(t);
            }
            org.bytedeco.pytorch.AdamW withDecay = new org.bytedeco.pytorch.AdamW(decay, options(lrs[0], b1, b2, eps, wd));
            org.bytedeco.pytorch.AdamW without = new org.bytedeco.pytorch.AdamW(noDecay, options(lrs[0], b1, b2, eps, 0.0));
            try (AdamW ours = new AdamW(p, new AdamW.Options(b1, b2, eps, wd))) {
                for (double lr : lrs) {
                    model.zeroGrad();
                    withDecay.zero_grad();
                    without.zero_grad();
                    for (int i = 0; i < leaves.size(); i++) {
                        Parameters.Param prm = p.list().get(i);
                        dev.ppoengine.tensor.Tensor g = p.gradTensor(prm);
                        for (long k = 0; k < g.numel(); k++) g.setFloat(k, (float) rnd.nextGaussian());
                        // grad of Σ θ·G is G: the same gradient reaches the torch leaf through autograd
                        Tensor gt = TorchRuntime.wrap(g).clone();
                        leaves.get(i).mul(gt).sum().backward();
                    }
                    ours.step(lr);
                    withDecay.param_groups().get(0).options().set_lr(lr);
                    without.param_groups().get(0).options().set_lr(lr);
                    withDecay.step();
                    without.step();
                }
            }
            for (int i = 0; i < leaves.size(); i++) {
                Parameters.Param prm = p.list().get(i);
                float[] want = TorchRuntime.toFloats(leaves.get(i)), got = p.tensor(prm).toFloatArray();
                for (int k = 0; k < want.length; k++) {
                    assertTrue(Math.abs(want[k] - got[k]) <= 1e-6 + 1e-5 * Math.abs(want[k]), prm.name() + "[" + k
                            + "] after 5 steps: torch " + want[k] + ", engine " + got[k]);
                }
            }
        }
    }

    /**
     * libtorch's options with torch's default betas (0.9, 0.999): the preset exposes betas as a pointer into a C++
     * std::tuple, whose element order in memory is the library's business, so they are not set from here.
     */
    private static AdamWOptions options(double lr, double b1, double b2, double eps, double wd) {
        AdamWOptions o = new AdamWOptions(lr);
        if (b1 != 0.9 || b2 != 0.999) throw new IllegalArgumentException("only torch's default betas are comparable here");
        o.eps().put(eps);
        o.weight_decay().put(wd);
        return o;
    }
}
