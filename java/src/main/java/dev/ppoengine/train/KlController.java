package dev.ppoengine.train;

import dev.ppoengine.kernels.Settings;

/**
 * The KL coefficient β of the reward shaping r_t = −β·kl_t + [t = t*]·score, updated once per PPO step.
 * <ul>
 *   <li>{@link Fixed}: β never changes (trl-ppov2, DeepSpeed-Chat, verl, OpenRLHF).</li>
 *   <li>{@link Adaptive}: Ziegler et al. 2019, "Fine-Tuning Language Models from Human Preferences", §2.2, as trl's
 *       AdaptiveKLController: e = clip(KL/target − 1, −0.2, 0.2), β ← β·(1 + e·n/horizon), where KL is the batch
 *       mean of the per-sequence KL sum and n the number of sequences in the step (trl passes batch_size).</li>
 * </ul>
 * The state is the single double β, so a checkpoint restores it exactly.
 */
public sealed interface KlController permits KlController.Fixed, KlController.Adaptive {

    /** The current β. */
    double value();

    /** One update after a step whose mean per-sequence KL sum was {@code currentKl}, over {@code nSteps} sequences. */
    void update(double currentKl, long nSteps);

    /** Restores β (resume). */
    void restore(double value);

    /** Fixed unless the resolved settings say kl_adaptive=true (kl_coef, kl_target, kl_horizon). */
    static KlController from(Settings s) {
        double beta = s.number("kl_coef");
        if (!s.flag("kl_adaptive")) return new Fixed(beta);
        return new Adaptive(beta, s.number("kl_target"), s.number("kl_horizon"));
    }

    final class Fixed implements KlController {
        private double value;

        public Fixed(double value) {
            if (!Double.isFinite(value)) throw new IllegalArgumentException("kl_coef must be finite, got " + value);
            this.value = value;
        }

        @Override public double value() { return value; }
        @Override public void update(double currentKl, long nSteps) {}
        @Override public void restore(double v) { value = v; }
        @Override public String toString() { return "fixed(" + value + ")"; }
    }

    final class Adaptive implements KlController {
        private double value;
        private final double target, horizon;

        public Adaptive(double initial, double target, double horizon) {
            if (!Double.isFinite(initial)) throw new IllegalArgumentException("kl_coef must be finite, got " + initial);
            if (!(target > 0) || !Double.isFinite(target)) {
                throw new IllegalArgumentException("kl_target must be finite and > 0 for the adaptive controller, got " + target);
            }
            if (!(horizon > 0) || !Double.isFinite(horizon)) {
                throw new IllegalArgumentException("kl_horizon must be finite and > 0 for the adaptive controller, got " + horizon);
            }
            this.value = initial;
            this.target = target;
            this.horizon = horizon;
        }

        public double target() { return target; }
        public double horizon() { return horizon; }

        @Override public double value() { return value; }

        @Override
        public void update(double currentKl, long nSteps) {
            if (!Double.isFinite(currentKl)) throw new IllegalArgumentException("current KL must be finite, got " + currentKl);
            double error = Math.max(-0.2, Math.min(0.2, currentKl / target - 1));
            value *= 1 + error * nSteps / horizon;
        }

        @Override public void restore(double v) { value = v; }
        @Override public String toString() { return "adaptive(" + value + ", target " + target + ", horizon " + horizon + ")"; }
    }
}
