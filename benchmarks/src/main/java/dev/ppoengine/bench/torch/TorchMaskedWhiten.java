package dev.ppoengine.bench.torch;

import dev.ppoengine.kernels.WhitenEpsMode;
import dev.ppoengine.kernels.WhitenOptions;
import dev.ppoengine.kernels.WhitenVariance;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * masked_whiten as trl computes it (trl/core.py, used on the advantages), followed by trl's
 * {@code masked_fill(advantages, padding_mask, 0)}:
 * <pre>
 *   masked_mean(v, m) = (v * m).sum() / m.sum()
 *   masked_var(v, m)  = masked_mean((v - masked_mean(v, m))**2, m) * (m.sum() / (m.sum() - 1))
 *   whitened = (v - masked_mean(v, m)) * rsqrt(masked_var(v, m) + eps)
 * </pre>
 * (trl evaluates the mean twice: once in masked_whiten and once inside masked_var; so does this baseline.)
 * Options: unbiased variance, eps added, shift_mean = true (the trl presets).
 */
public final class TorchMaskedWhiten {
    private final Tensor values;       // [B, T] f32
    private final Tensor mask;         // [B, T] bool, true = valid
    private final Tensor paddingMask;  // [B, T] bool, true = padding (trl's padding_mask), built once in setup
    private final double eps;

    public TorchMaskedWhiten(dev.ppoengine.tensor.Tensor values, dev.ppoengine.tensor.Tensor mask, WhitenOptions options) {
        if (options.variance() != WhitenVariance.UNBIASED || options.epsMode() != WhitenEpsMode.ADD || !options.shiftMean()) {
            throw new IllegalArgumentException("the torch masked_whiten baseline is trl's: it needs unbiased variance, "
                    + "eps added and shift_mean=true, got " + options);
        }
        TorchRuntime.init();
        this.values = TorchRuntime.wrap(values);
        this.mask = TorchRuntime.wrap(mask);
        this.paddingMask = this.mask.logical_not();
        this.eps = options.eps();
    }

    static Tensor maskedMean(Tensor v, Tensor m) {
        return v.mul(m).sum().div(m.sum());
    }

    static Tensor maskedVar(Tensor v, Tensor m) {
        Tensor mean = maskedMean(v, m);
        Tensor centered = v.sub(mean);
        Tensor variance = maskedMean(centered.pow(new Scalar(2)), m);
        Tensor maskSum = m.sum();
        Tensor bessel = maskSum.div(maskSum.sub(new Scalar(1)));
        return variance.mul(bessel);
    }

    /** {whitened [B, T]}. Call inside a PointerScope (TorchRuntime.run). */
    public Tensor[] run() {
        Tensor mean = maskedMean(values, mask);
        Tensor var = maskedVar(values, mask);
        Tensor whitened = values.sub(mean).mul(torch.rsqrt(var.add(new Scalar(eps))));
        return new Tensor[] {torch.masked_fill(whitened, paddingMask, new Scalar(0.0))};
    }
}
