package dev.ppoengine.bench.torch;

import dev.ppoengine.kernels.LossAgg;
import dev.ppoengine.kernels.ValueLossOptions;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * value_loss forward + autograd backward as trl's PPOv2 trainer computes it (token-mean, value clip ε_v):
 * <pre>
 *   vpredclipped = clamp(vpred, mb_values - cliprange_value, mb_values + cliprange_value)
 *   vf_losses1 = square(vpred - mb_return)
 *   vf_losses2 = square(vpredclipped - mb_return)
 *   vf_loss_max = max(vf_losses1, vf_losses2)
 *   vf_loss = 0.5 * masked_mean(vf_loss_max, ~padding_mask_p1)
 *   loss.backward()
 *   with no_grad: vf_clipfrac = masked_mean((vf_losses2 &gt; vf_losses1).float(), ~padding_mask_p1)
 * </pre>
 * vpred is a fresh autograd leaf over the benchmark's values each call; its gradient is d loss / d values.
 */
public final class TorchValueLoss {
    private final Tensor values;     // [B, T] f32 (vpred)
    private final Tensor oldValues;  // [B, T] f32 (mb_values)
    private final Tensor returns;    // [B, T] f32
    private final Tensor mask;       // [B, T] bool, true = valid (~padding_mask_p1)
    private final double valueClip;

    /** The graph pieces trl keeps for its statistics. */
    record Graph(Tensor leaf, Tensor loss, Tensor vfLosses1, Tensor vfLosses2) {}

    public TorchValueLoss(dev.ppoengine.tensor.Tensor values, dev.ppoengine.tensor.Tensor oldValues,
                          dev.ppoengine.tensor.Tensor returns, dev.ppoengine.tensor.Tensor mask, ValueLossOptions options) {
        checkOptions(options);
        TorchRuntime.init();
        this.values = TorchRuntime.wrap(values);
        this.oldValues = TorchRuntime.wrap(oldValues);
        this.returns = TorchRuntime.wrap(returns);
        this.mask = TorchRuntime.wrap(mask);
        this.valueClip = options.valueClip();
    }

    static void checkOptions(ValueLossOptions o) {
        if (o.valueClip() <= 0 || o.agg().mode() != LossAgg.TOKEN_MEAN || o.agg().tokenCount() != 0) {
            throw new IllegalArgumentException("the torch value_loss baseline is trl PPOv2's: it needs value_clip > 0 and "
                    + "token-mean over the mask, got " + o);
        }
    }

    /** Builds trl's value-loss graph on a fresh leaf over the values. */
    Graph build() {
        Tensor leaf = values.detach().requires_grad_(true);
        Tensor lo = oldValues.sub(new Scalar(valueClip));
        Tensor hi = oldValues.add(new Scalar(valueClip));
        Tensor vclipped = torch.clamp(leaf, new TensorOptional(lo), new TensorOptional(hi));
        Tensor l1 = torch.square(leaf.sub(returns));
        Tensor l2 = torch.square(vclipped.sub(returns));
        Tensor lmax = torch.max(l1, l2);
        Tensor loss = TorchMaskedWhiten.maskedMean(lmax, mask).mul(new Scalar(0.5));
        return new Graph(leaf, loss, l1, l2);
    }

    /** trl's no-grad statistic: {vf_clipfrac}. */
    Tensor[] stats(Graph g) {
        try (NoGradGuard noGrad = new NoGradGuard()) {
            return new Tensor[] {TorchMaskedWhiten.maskedMean(g.vfLosses2().gt(g.vfLosses1()).toType(ScalarType.Float), mask)};
        }
    }

    /** {loss, grad_values [B, T], clipfrac}. Call inside a PointerScope (TorchRuntime.run). */
    public Tensor[] run() {
        Graph g = build();
        g.loss().backward();
        Tensor[] s = stats(g);
        return new Tensor[] {g.loss(), g.leaf().grad(), s[0]};
    }
}
