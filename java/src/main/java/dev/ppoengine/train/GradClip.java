package dev.ppoengine.train;

import dev.ppoengine.model.Parameters;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Global gradient-norm clipping, as torch.nn.utils.clip_grad_norm_: n = sqrt(Σ_all g²) over every parameter;
 * if maxNorm/(n + 1e-6) &lt; 1 every gradient is multiplied by that factor. The sum runs in double in a fixed
 * order (deterministic). A non-finite norm is an error naming the first parameter element that is not finite (never
 * a silent NaN update).
 */
public final class GradClip {
    private GradClip() {}

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    /** The global L2 norm of the gradients. */
    public static double norm(Parameters params) {
        MemorySegment g = params.grad();
        double sum = 0;
        for (Parameters.Param p : params.list()) {
            long end = p.offset() + p.numel();
            for (long i = p.offset(); i < end; i++) {
                double x = g.getAtIndex(F, i);
                sum += x * x;
            }
        }
        return Math.sqrt(sum);
    }

    /** Clips in place to {@code maxNorm} (> 0) and returns the norm before clipping. */
    public static double clip(Parameters params, double maxNorm) {
        if (!(maxNorm > 0) || !Double.isFinite(maxNorm)) {
            throw new IllegalArgumentException("max grad norm must be finite and > 0, got " + maxNorm);
        }
        double n = norm(params);
        if (!Double.isFinite(n)) throw new IllegalStateException("gradient norm is not finite: " + firstNonFinite(params));
        double coef = maxNorm / (n + 1e-6);
        if (coef < 1) {
            MemorySegment g = params.grad();
            for (Parameters.Param p : params.list()) {
                long end = p.offset() + p.numel();
                for (long i = p.offset(); i < end; i++) g.setAtIndex(F, i, (float) (g.getAtIndex(F, i) * coef));
            }
        }
        return n;
    }

    private static String firstNonFinite(Parameters params) {
        MemorySegment g = params.grad();
        for (Parameters.Param p : params.list()) {
            for (long i = 0; i < p.numel(); i++) {
                float x = g.getAtIndex(F, p.offset() + i);
                if (!Float.isFinite(x)) return "grad of " + p.name() + " at element " + i + " is " + x;
            }
        }
        return "sum of squares overflowed";
    }
}
