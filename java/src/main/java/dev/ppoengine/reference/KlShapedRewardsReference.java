package dev.ppoengine.reference;

import dev.ppoengine.kernels.KlAtScoreSlot;
import dev.ppoengine.kernels.RewardOptions;
import dev.ppoengine.kernels.ScorePosition;
import dev.ppoengine.tensor.Tensor;

/**
 * kl_shaped_rewards, reference form (SPEC "kl_shaped_rewards").
 *
 * <pre>
 * Shapes: logprobs, ref_logprobs, mask [B, T]; scores [B] f32 → rewards, kl, reward_mask [B, T] f32.
 * Per row b, with L = the last valid position of the mask:
 *   t*          = L                     (score_position=last:       trl PPOTrainer, verl, OpenRLHF)
 *               = min(L + 1, T − 1)     (score_position=after_last: trl PPOv2, DeepSpeed-Chat)
 *   region[t]   = mask[t] ∨ (after_last ∧ t = t*)
 *   kl[t]       = KlEstimate.of(logprobs[t], ref_logprobs[t]) · region[t]
 *                 except kl[t*] = 0 when kl_at_score_slot=zero and t* is not a valid position
 *                 (trl PPOv2 fills logprobs past the sequence end with a constant; when t* is capped at
 *                 T − 1 on a valid token the real KL is kept there; keep = DeepSpeed-Chat keeps it always)
 *   s           = clamp(scores[b], ±score_clip)   (score_clip 0 = off; DeepSpeed-Chat 5, OpenRLHF 10)
 *   rewards[t]  = −kl_coef · kl[t] + [t = t*] · s
 *   reward_mask = region as 0/1
 * A row with no valid token has no t*: rewards, kl and reward_mask are all 0 there.
 * </pre>
 * The KL math is {@link KlEstimate}, the same as kl_penalty.
 */
final class KlShapedRewardsReference {
    private KlShapedRewardsReference() {}

    static void run(Tensor logprobs, Tensor refLogprobs, Tensor mask, Tensor scores, RewardOptions o,
                    Tensor rewards, Tensor kl, Tensor rewardMask) {
        final long b = logprobs.dim(0);
        final long t = logprobs.dim(1);
        final boolean afterLast = o.scorePosition() == ScorePosition.AFTER_LAST;
        final boolean dropKlAtSlot = o.klAtScoreSlot() == KlAtScoreSlot.ZERO;

        for (long r = 0; r < b; r++) {
            final long row = r * t;   // flat index of [r, 0]

            long last = -1;           // L, −1 when the row has no valid token
            for (long c = 0; c < t; c++) if (mask.isSet(row + c)) last = c;

            if (last < 0) {
                for (long c = 0; c < t; c++) {
                    rewards.setFloat(row + c, 0.0);
                    kl.setFloat(row + c, 0.0);
                    rewardMask.setFloat(row + c, 0.0);
                }
                continue;
            }

            final long slot = afterLast ? Math.min(last + 1, t - 1) : last;   // t*
            final double score = o.scoreClip() > 0
                    ? Math.max(-o.scoreClip(), Math.min(o.scoreClip(), scores.getDouble(r)))
                    : scores.getDouble(r);

            for (long c = 0; c < t; c++) {
                boolean valid = mask.isSet(row + c);
                boolean inRegion = valid || (afterLast && c == slot);
                boolean klDropped = afterLast && dropKlAtSlot && c == slot && !valid;
                double k = inRegion && !klDropped
                        ? KlEstimate.of(logprobs.getDouble(row + c), refLogprobs.getDouble(row + c), o.kl())
                        : 0.0;
                double scoreTerm = c == slot ? score : 0.0;
                rewards.setFloat(row + c, scoreTerm - o.klCoef() * k);
                kl.setFloat(row + c, k);
                rewardMask.setFloat(row + c, inRegion ? 1.0 : 0.0);
            }
        }
    }
}
