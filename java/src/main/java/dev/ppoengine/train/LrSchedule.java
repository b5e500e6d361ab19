package dev.ppoengine.train;

import java.util.Locale;

/**
 * Learning-rate schedules with linear warmup, as Hugging Face transformers' get_*_schedule_with_warmup
 * (the schedules trl, OpenRLHF and verl use). For step s (0-based: the LR of the s-th optimiser step), warmup W,
 * total S, base lr η:
 * <pre>
 *   s &lt; W:          η · s / W
 *   constant:       η
 *   linear:         η · max(0, (S − s) / (S − W))
 *   cosine:         η · ½·(1 + cos(π · min(1, (s − W) / (S − W))))
 * </pre>
 * Past S every schedule but constant stays at 0 (HF's cosine would rise again; clamping the progress avoids it).
 */
public record LrSchedule(Kind kind, double baseLr, long warmupSteps, long totalSteps) {

    public enum Kind {
        CONSTANT, LINEAR, COSINE;

        public static Kind parse(String s) {
            return switch (s.toLowerCase(Locale.ROOT)) {
                case "constant" -> CONSTANT;
                case "linear" -> LINEAR;
                case "cosine" -> COSINE;
                default -> throw new IllegalArgumentException("lr schedule: expected constant, linear or cosine, got " + s);
            };
        }
    }

    public LrSchedule {
        if (kind == null) throw new IllegalArgumentException("lr schedule kind must not be null");
        if (!(baseLr >= 0) || !Double.isFinite(baseLr)) throw new IllegalArgumentException("lr must be finite and >= 0, got " + baseLr);
        if (warmupSteps < 0) throw new IllegalArgumentException("warmup steps must be >= 0, got " + warmupSteps);
        if (kind != Kind.CONSTANT && totalSteps <= warmupSteps) {
            throw new IllegalArgumentException(kind.name().toLowerCase(Locale.ROOT) + " schedule: total steps (" + totalSteps
                    + ") must exceed warmup steps (" + warmupSteps + ")");
        }
    }

    public static LrSchedule constant(double lr) { return new LrSchedule(Kind.CONSTANT, lr, 0, 0); }

    /** The learning rate of optimiser step {@code step} (0-based). */
    public double lr(long step) {
        if (step < 0) throw new IllegalArgumentException("step must be >= 0, got " + step);
        if (step < warmupSteps) return baseLr * step / warmupSteps;
        return switch (kind) {
            case CONSTANT -> baseLr;
            case LINEAR -> baseLr * Math.max(0.0, (double) (totalSteps - step) / (totalSteps - warmupSteps));
            case COSINE -> {
                double progress = Math.min(1.0, (double) (step - warmupSteps) / (totalSteps - warmupSteps));
                yield baseLr * Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * progress)));
            }
        };
    }
}
