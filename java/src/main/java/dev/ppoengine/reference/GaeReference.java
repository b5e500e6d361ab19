package dev.ppoengine.reference;

import dev.ppoengine.kernels.GaeMaskedSteps;
import dev.ppoengine.kernels.GaeOptions;
import dev.ppoengine.tensor.Tensor;

/**
 * gae, reference form: generalised advantage estimation as the plain reverse loop over each row.
 *
 * <pre>
 *   rewards, values, mask : [B, T]   (mask: any nonzero value = valid, read as m ∈ {0, 1})
 *   advantages, returns   : [B, T]   f32, written at every position
 *
 *   δ_t = r_t + γ·V_{t+1} − V_t,   A_t = δ_t + γλ·A_{t+1},   V_T = A_T = 0 past the row end
 *   returns_t = A_t + V_t·m_t
 * </pre>
 *
 * Masked steps (SPEC {@code gae_masked_steps}):
 * <ul>
 *   <li>{@code zero} (trl PPOv2, OpenRLHF, DeepSpeed-Chat): r and V are multiplied by the mask first and every
 *       step of the recurrence runs, masked ones included.</li>
 *   <li>{@code skip} (verl {@code compute_gae_advantage_return}): at a masked step the running next-value and the
 *       running advantage are carried through unchanged:
 *       {@code nextvalues = V_t·m + (1−m)·nextvalues}, {@code lastgaelam = lastgaelam_·m + (1−m)·lastgaelam}.</li>
 * </ul>
 * Outputs at masked positions are 0 in both modes (the lead's reading of SPEC "outputs at masked positions are 0";
 * the trainers mask them away before use). For right padding the two modes agree: in {@code zero} mode every
 * trailing padded step has δ = 0 and A = 0, which is exactly the carried-through state of {@code skip}.
 *
 * <p>Accumulation in f64; the only rounding to f32 is the final store. This sequential loop is the oracle; the
 * CUDA kernel computes the same recurrence as a parallel scan of affine maps x ↦ a·x + b.
 */
final class GaeReference {
    private GaeReference() {}

    static void run(Tensor rewards, Tensor values, Tensor mask, GaeOptions o, Tensor advantages, Tensor returns) {
        long rows = rewards.dim(0);     // B
        long steps = rewards.dim(1);    // T
        double gamma = o.gamma();
        double gammaLam = o.gamma() * o.lam();
        boolean skip = o.maskedSteps() == GaeMaskedSteps.SKIP;

        for (long b = 0; b < rows; b++) {
            long row = b * steps;
            double nextValue = 0.0;     // V_{t+1} (masked, or carried in skip mode); 0 past the row end
            double nextAdv = 0.0;       // A_{t+1} (running advantage); 0 past the row end
            for (long t = steps - 1; t >= 0; t--) {
                long i = row + t;
                boolean valid = mask.isSet(i);
                if (!valid && skip) {
                    // skip: nextValue and nextAdv are carried through unchanged; this position outputs 0.
                    advantages.setFloat(i, 0.0);
                    returns.setFloat(i, 0.0);
                    continue;
                }
                // zero mode multiplies r and V by m ∈ {0, 1}; selecting 0 gives the same numbers for finite
                // inputs and keeps a non-finite fill value at a padded position out of the recurrence.
                double r = valid ? rewards.getDouble(i) : 0.0;
                double v = valid ? values.getDouble(i) : 0.0;
                double delta = r + gamma * nextValue - v;
                double adv = delta + gammaLam * nextAdv;
                nextValue = v;
                nextAdv = adv;
                // Narrowing to f32 only at the store (outputs are f32). Masked positions output exactly +0.
                advantages.setFloat(i, valid ? adv : 0.0);
                returns.setFloat(i, valid ? adv + v : 0.0);
            }
        }
    }
}
