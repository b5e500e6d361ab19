package dev.ppoengine.kernels;

/** Options of kl_shaped_rewards (SPEC): the KL estimator, its coefficient, where the score goes and its clip. */
public record RewardOptions(KlOptions kl, double klCoef, ScorePosition scorePosition, double scoreClip,
                            KlAtScoreSlot klAtScoreSlot) {
    public RewardOptions {
        Params.notNull("kl options", kl);
        Params.finite("kl_coef", klCoef);
        Params.notNull("score_position", scorePosition);
        Params.nonNegative("score_clip", scoreClip);
        Params.notNull("kl_at_score_slot", klAtScoreSlot);
    }
}
