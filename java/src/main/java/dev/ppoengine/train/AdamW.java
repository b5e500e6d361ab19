package dev.ppoengine.train;

import dev.ppoengine.model.Parameters;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * AdamW (Loshchilov & Hutter 2019), step for step as torch.optim.AdamW (non-amsgrad, non-fused):
 * <pre>
 *   t ← t + 1
 *   θ ← θ·(1 − lr·λ)                                   decoupled weight decay, only where Param.decay() (matrices and
 *                                                     embeddings; not LayerNorm parameters or biases)
 *   m ← β₁·m + (1 − β₁)·g          v ← β₂·v + (1 − β₂)·g²
 *   θ ← θ − (lr / (1 − β₁ᵗ)) · m / ( sqrt(v) / sqrt(1 − β₂ᵗ) + ε )
 * </pre>
 * Moments are f32 off-heap blocks with the parameters' flat layout; arithmetic per element in double.
 */
public final class AdamW implements AutoCloseable {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    /** Hyper-parameters (torch defaults: betas 0.9/0.999, eps 1e-8, weight_decay 0.01). */
    public record Options(double beta1, double beta2, double eps, double weightDecay) {
        public Options {
            if (!(beta1 >= 0 && beta1 < 1)) throw new IllegalArgumentException("beta1 must be in [0, 1), got " + beta1);
            if (!(beta2 >= 0 && beta2 < 1)) throw new IllegalArgumentException("beta2 must be in [0, 1), got " + beta2);
            if (!(eps > 0) || !Double.isFinite(eps)) throw new IllegalArgumentException("eps must be finite and > 0, got " + eps);
            if (!(weightDecay >= 0) || !Double.isFinite(weightDecay)) {
                throw new IllegalArgumentException("weight_decay must be finite and >= 0, got " + weightDecay);
            }
        }

        public static Options defaults() { return new Options(0.9, 0.999, 1e-8, 0.01); }
    }

    private final Parameters params;
    private final Options options;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment m, v;
    private long step;

    public AdamW(Parameters params, Options options) {
        if (!params.hasGradients()) throw new IllegalArgumentException("params: AdamW needs trainable parameters (these are frozen)");
        this.params = params;
        this.options = options;
        long bytes = params.flatSize() * 4;
        m = arena.allocate(bytes, 64);
        v = arena.allocate(bytes, 64);
    }

    public Options options() { return options; }

    /** Steps taken so far (t of the bias correction). */
    public long stepCount() { return step; }

    /** First moments m (flat, the parameters' layout), for checkpoints. */
    public MemorySegment firstMoment() { return m; }

    /** Second moments v (flat, the parameters' layout), for checkpoints. */
    public MemorySegment secondMoment() { return v; }

    /** Restores the step count t of a checkpoint (the moments are restored through their segments). */
    public void restoreStepCount(long t) {
        if (t < 0) throw new IllegalArgumentException("step count must be >= 0, got " + t);
        step = t;
    }

    /** One update with learning rate {@code lr} from the gradients currently in {@code params.grad()}. */
    public void step(double lr) {
        if (!(lr >= 0) || !Double.isFinite(lr)) throw new IllegalArgumentException("lr must be finite and >= 0, got " + lr);
        step++;
        double b1 = options.beta1(), b2 = options.beta2(), eps = options.eps();
        double bc1 = 1 - Math.pow(b1, step), bc2 = 1 - Math.pow(b2, step);
        double stepSize = lr / bc1, sqrtBc2 = Math.sqrt(bc2);
        MemorySegment p = params.data(), g = params.grad();
        for (Parameters.Param prm : params.list()) {
            double decay = prm.decay() ? 1 - lr * options.weightDecay() : 1;
            long end = prm.offset() + prm.numel();
            for (long i = prm.offset(); i < end; i++) {
                double gi = g.getAtIndex(F, i);
                double mi = b1 * m.getAtIndex(F, i) + (1 - b1) * gi;
                double vi = b2 * v.getAtIndex(F, i) + (1 - b2) * gi * gi;
                m.setAtIndex(F, i, (float) mi);
                v.setAtIndex(F, i, (float) vi);
                double theta = p.getAtIndex(F, i) * decay;
                p.setAtIndex(F, i, (float) (theta - stepSize * mi / (Math.sqrt(vi) / sqrtBc2 + eps)));
            }
        }
    }

    @Override
    public void close() { if (arena.scope().isAlive()) arena.close(); }
}
