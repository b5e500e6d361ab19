package dev.ppoengine.ops;

import dev.ppoengine.kernels.KlAtScoreSlot;
import dev.ppoengine.kernels.KlEstimator;
import dev.ppoengine.kernels.KlOptions;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.kernels.Preset;
import dev.ppoengine.kernels.RewardOptions;
import dev.ppoengine.kernels.ScorePosition;
import dev.ppoengine.kernels.Settings;
import dev.ppoengine.reference.ReferenceKernels;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;
import dev.ppoengine.testing.Rand;
import dev.ppoengine.testing.TestBackends;
import dev.ppoengine.testing.Tolerance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static dev.ppoengine.ops.TokenLogprobsTest.assertRejected;
import static dev.ppoengine.ops.TokenLogprobsTest.bits;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * kl_shaped_rewards (SPEC): t* = last valid position (last) or min(last + 1, T − 1) (after_last); region = mask ∪ {t*};
 * rewards = −kl_coef·kl·region + [t = t*]·clip(score, ±score_clip); kl_at_score_slot=zero drops the KL at t* when t*
 * is not a valid position (BRIEF decision); a row without a valid token is all zero.
 */
class KlShapedRewardsTest {

    private final PpoKernels ref = new ReferenceKernels();

    // Hand batch [3, 4], k1, kl_coef 0.1, scores [2, −7, 3]:
    //   row 0: mask [1, 1, 1, 0], δ = lp − ref = [−1 + 1.5, −2 + 1, −0.5 + 0.5, −4 + 1] = [0.5, −1, 0, −3]
    //   row 1: mask [1, 1, 1, 1], δ = [−0.25 + 0.5, −1 + 1, −2 + 1, −0.5 + 0.75] = [0.25, 0, −1, 0.25]
    //   row 2: mask [0, 0, 0, 0], logprobs hold NaN/inf fill values that must not leak.
    private static final float[] MASK = {1, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0};
    private static final float[] LP = {-1, -2, -0.5f, -4, -0.25f, -1, -2, -0.5f,
            Float.NaN, Float.POSITIVE_INFINITY, 1, Float.NEGATIVE_INFINITY};
    private static final float[] REF = {-1.5f, -1, -0.5f, -1, -0.5f, -1, -1, -0.75f, 0, 0, 0, 0};
    private static final float[] SCORES = {2, -7, 3};
    private static final KlOptions K1 = KlOptions.DEFAULT;

    // ------------------------------------------------------------------ hand-computed cases

    @Test
    void scoreAtLastValidToken() {
        // row 0: t* = 2. rewards = −0.1·δ + [t = 2]·2 = [−0.05, 0.1, −0 + 2, 0 (outside)] ; kl = [0.5, −1, 0, 0]
        // row 1: t* = 3. rewards = [−0.025, 0, 0.1, −0.025 − 7] = [−0.025, 0, 0.1, −7.025]; kl = δ
        // row 2: no valid token → all zero.
        Out o = runHand(opts(K1, 0.1, ScorePosition.LAST, 0, KlAtScoreSlot.KEEP));
        assertClose(o.rewards, -0.05, 0.1, 2, 0, -0.025, 0, 0.1, -7.025, 0, 0, 0, 0);
        assertClose(o.kl, 0.5, -1, 0, 0, 0.25, 0, -1, 0.25, 0, 0, 0, 0);
        assertClose(o.rewardMask, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0);
    }

    @Test
    void scoreAfterLastKeepingTheKl() {
        // row 0: t* = 3 (after the last valid 2), region = [1, 1, 1, 1], KL kept at 3: δ = −3 →
        //        rewards[3] = 2 − 0.1·(−3) = 2.3; rewards = [−0.05, 0.1, 0, 2.3]; kl = [0.5, −1, 0, −3]
        // row 1: t* = min(3 + 1, T − 1 = 3) = 3 (capped on a valid token): same as score_position=last.
        Out o = runHand(opts(K1, 0.1, ScorePosition.AFTER_LAST, 0, KlAtScoreSlot.KEEP));
        assertClose(o.rewards, -0.05, 0.1, 0, 2.3, -0.025, 0, 0.1, -7.025, 0, 0, 0, 0);
        assertClose(o.kl, 0.5, -1, 0, -3, 0.25, 0, -1, 0.25, 0, 0, 0, 0);
        assertClose(o.rewardMask, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
    }

    @Test
    void scoreAfterLastZeroingTheKl() {
        // row 0: t* = 3 is not a valid position → its KL is dropped: rewards[3] = 2, kl[3] = 0; still in the region.
        // row 1: t* capped at 3, a valid token → the real KL is kept there (BRIEF decision): −7.025.
        Out o = runHand(opts(K1, 0.1, ScorePosition.AFTER_LAST, 0, KlAtScoreSlot.ZERO));
        assertClose(o.rewards, -0.05, 0.1, 0, 2, -0.025, 0, 0.1, -7.025, 0, 0, 0, 0);
        assertClose(o.kl, 0.5, -1, 0, 0, 0.25, 0, -1, 0.25, 0, 0, 0, 0);
        assertClose(o.rewardMask, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
    }

    @Test
    void klAtScoreSlotDoesNothingWithScoreAtLast() {
        // With score_position=last t* is always valid, so zero and keep agree.
        Out keep = runHand(opts(K1, 0.1, ScorePosition.LAST, 0, KlAtScoreSlot.KEEP));
        Out zero = runHand(opts(K1, 0.1, ScorePosition.LAST, 0, KlAtScoreSlot.ZERO));
        assertArrayEquals(keep.rewards, zero.rewards);
        assertArrayEquals(keep.kl, zero.kl);
    }

    @Test
    void scoreClip() {
        // score_clip 5: row 1's −7 → −5: rewards[1, 3] = −5 − 0.025 = −5.025; row 0's 2 is inside ±5.
        Out five = runHand(opts(K1, 0.1, ScorePosition.LAST, 5, KlAtScoreSlot.KEEP));
        assertClose(five.rewards, -0.05, 0.1, 2, 0, -0.025, 0, 0.1, -5.025, 0, 0, 0, 0);
        // score_clip 1.5: row 0's 2 → 1.5, row 1's −7 → −1.5: rewards[1, 3] = −1.5 − 0.025 = −1.525.
        Out tight = runHand(opts(K1, 0.1, ScorePosition.LAST, 1.5, KlAtScoreSlot.KEEP));
        assertClose(tight.rewards, -0.05, 0.1, 1.5, 0, -0.025, 0, 0.1, -1.525, 0, 0, 0, 0);
    }

    @Test
    void estimatorAndClampsComeFromKlPenalty() {
        // k3 with kl_input_clamp 0.5 and kl_output_clamp 0.6, kl_coef 1, score_position=last, row 1 only matters here:
        //   δ = [0.25, 0, −1 → −0.5, 0.25]; k3 = [e^−0.25 − 0.75, 0, e^0.5 − 1.5, e^−0.25 − 0.75]
        //     = [0.02880078, 0, 1.64872127 − 1.5 = 0.14872127, 0.02880078] (output clamp 0.6 does not bind)
        //   rewards = −k3 + [t = 3]·(−7) = [−0.02880078, 0, −0.14872127, −7.02880078]
        // row 0: δ = [0.5, −1 → −0.5, 0, ·] → k3 = [e^−0.5 − 0.5, e^0.5 − 1.5, 0] = [0.10653066, 0.14872127, 0]
        //   rewards = [−0.10653066, −0.14872127, 2, 0]
        Out o = runHand(opts(new KlOptions(KlEstimator.K3, 0.5, 0.6), 1, ScorePosition.LAST, 0, KlAtScoreSlot.KEEP));
        assertClose(o.kl, 0.10653066, 0.14872127, 0, 0, 0.02880078, 0, 0.14872127, 0.02880078, 0, 0, 0, 0);
        assertClose(o.rewards, -0.10653066, -0.14872127, 2, 0, -0.02880078, 0, -0.14872127, -7.02880078, 0, 0, 0, 0);
        // With the output clamp at 0.1 the 0.10653066 and 0.14872127 entries become 0.1.
        Out c = runHand(opts(new KlOptions(KlEstimator.K3, 0.5, 0.1), 1, ScorePosition.LAST, 0, KlAtScoreSlot.KEEP));
        assertClose(c.kl, 0.1, 0.1, 0, 0, 0.02880078, 0, 0.1, 0.02880078, 0, 0, 0, 0);
    }

    @Test
    void interiorGapsStayOutsideTheRegion() {
        try (Arena arena = Arena.ofConfined()) {
            // T = 5, mask [1, 0, 1, 0, 0] (a masked tool token at 1), δ = [0.5, 9, 0.5, 0.5, 9], k1, kl_coef 1, score 4.
            // last:            t* = 2, rewards = [−0.5, 0, −0.5 + 4, 0, 0] = [−0.5, 0, 3.5, 0, 0], mask [1, 0, 1, 0, 0]
            // after_last keep: t* = 3, rewards = [−0.5, 0, −0.5, −0.5 + 4, 0] = [−0.5, 0, −0.5, 3.5, 0], mask [1, 0, 1, 1, 0]
            // after_last zero: t* = 3 (not valid), rewards = [−0.5, 0, −0.5, 4, 0], kl = [0.5, 0, 0.5, 0, 0]
            Tensor lp = Tensor.ofFloats(arena, new float[] {0.5f, 9, 0.5f, 0.5f, 9}, 1, 5);
            Tensor rf = Tensor.allocate(arena, DType.F32, 1, 5);
            Tensor mask = Tensor.ofFloats(arena, DType.I64, new float[] {1, 0, 1, 0, 0}, 1, 5);
            Tensor scores = Tensor.ofFloats(arena, new float[] {4}, 1);
            Out last = run(arena, ref, lp, rf, mask, scores, opts(K1, 1, ScorePosition.LAST, 0, KlAtScoreSlot.KEEP));
            assertClose(last.rewards, -0.5, 0, 3.5, 0, 0);
            assertClose(last.rewardMask, 1, 0, 1, 0, 0);
            Out keep = run(arena, ref, lp, rf, mask, scores, opts(K1, 1, ScorePosition.AFTER_LAST, 0, KlAtScoreSlot.KEEP));
            assertClose(keep.rewards, -0.5, 0, -0.5, 3.5, 0);
            assertClose(keep.kl, 0.5, 0, 0.5, 0.5, 0);
            assertClose(keep.rewardMask, 1, 0, 1, 1, 0);
            Out zero = run(arena, ref, lp, rf, mask, scores, opts(K1, 1, ScorePosition.AFTER_LAST, 0, KlAtScoreSlot.ZERO));
            assertClose(zero.rewards, -0.5, 0, -0.5, 4, 0);
            assertClose(zero.kl, 0.5, 0, 0.5, 0, 0);
            assertClose(zero.rewardMask, 1, 0, 1, 1, 0);
        }
    }

    @Test
    void singlePositionRows() {
        try (Arena arena = Arena.ofConfined()) {
            // T = 1, mask [[1], [0]], δ = 0.5, kl_coef 1, scores [4, 5]:
            // row 0: t* = 0 for last, and min(0 + 1, 0) = 0 (capped on a valid token) for after_last:
            //        rewards = 4 − 0.5 = 3.5 in every mode (zero keeps the KL because t* is valid).
            // row 1: no valid token → 0 (no score).
            Tensor lp = Tensor.ofFloats(arena, new float[] {0.5f, 0.5f}, 2, 1);
            Tensor rf = Tensor.allocate(arena, DType.F32, 2, 1);
            Tensor mask = Tensor.ofFloats(arena, DType.BOOL, new float[] {1, 0}, 2, 1);
            Tensor scores = Tensor.ofFloats(arena, new float[] {4, 5}, 2);
            for (ScorePosition pos : ScorePosition.values()) {
                for (KlAtScoreSlot slot : KlAtScoreSlot.values()) {
                    Out o = run(arena, ref, lp, rf, mask, scores, opts(K1, 1, pos, 0, slot));
                    assertClose(o.rewards, 3.5, 0);
                    assertClose(o.kl, 0.5, 0);
                    assertClose(o.rewardMask, 1, 0);
                }
            }
        }
    }

    @Test
    void everyMaskDtypeGivesTheSameBits() {
        try (Arena arena = Arena.ofConfined()) {
            RewardOptions o = opts(K1, 0.1, ScorePosition.AFTER_LAST, 0, KlAtScoreSlot.ZERO);
            Out want = runHand(o);
            for (DType dt : new DType[] {DType.F32, DType.U8, DType.BOOL, DType.I32, DType.I64}) {
                // nonzero values other than 1 are valid too
                float[] m = MASK.clone();
                for (int i = 0; i < m.length; i++) if (m[i] != 0 && i % 2 == 0) m[i] = dt == DType.BOOL ? 1 : 3;
                Tensor mask = Tensor.ofFloats(arena, dt, m, 3, 4);
                Out got = run(arena, ref, Tensor.ofFloats(arena, LP, 3, 4), Tensor.ofFloats(arena, REF, 3, 4), mask,
                        Tensor.ofFloats(arena, SCORES, 3), o);
                assertArrayEquals(want.rewards, got.rewards, dt.toString());
                assertArrayEquals(want.kl, got.kl, dt.toString());
                assertArrayEquals(want.rewardMask, got.rewardMask, dt.toString());
            }
        }
    }

    // ------------------------------------------------------------------ presets

    @Test
    void presetsResolveRewardOptions() {
        KlOptions k1 = new KlOptions(KlEstimator.K1, 0, 0);
        assertEquals(new RewardOptions(k1, 0.2, ScorePosition.LAST, 0, KlAtScoreSlot.KEEP),
                Settings.of(Preset.TRL).rewardOptions());
        assertEquals(new RewardOptions(k1, 0.05, ScorePosition.AFTER_LAST, 0, KlAtScoreSlot.ZERO),
                Settings.of(Preset.TRL_PPOV2).rewardOptions());
        assertEquals(new RewardOptions(k1, 0.1, ScorePosition.AFTER_LAST, 5, KlAtScoreSlot.KEEP),
                Settings.of(Preset.DEEPSPEED_CHAT).rewardOptions());
        assertEquals(new RewardOptions(k1, 0.001, ScorePosition.LAST, 0, KlAtScoreSlot.KEEP),
                Settings.of(Preset.VERL).rewardOptions());
        assertEquals(new RewardOptions(new KlOptions(KlEstimator.K1, 0, 10), 0.01, ScorePosition.LAST, 10, KlAtScoreSlot.KEEP),
                Settings.of(Preset.OPENRLHF).rewardOptions());
        assertEquals(new RewardOptions(new KlOptions(KlEstimator.K3, 20, 10), 0.001, ScorePosition.LAST, 0, KlAtScoreSlot.KEEP),
                Settings.of(Preset.VERL, Map.of("kl_estimator", "k3")).rewardOptions());
        assertEquals(new RewardOptions(k1, 0.3, ScorePosition.AFTER_LAST, 2, KlAtScoreSlot.ZERO),
                Settings.of(Preset.DEEPSPEED_CHAT, Map.of("kl_coef", "0.3", "score_clip", "2", "kl_at_score_slot", "zero"))
                        .rewardOptions());
    }

    /**
     * Every preset on one batch [2, 3]: mask [[1, 1, 0], [1, 1, 1]],
     * δ = lp − ref = [[−1 + 1.5, −2 + 1.5, −3 + 1], [−0.5 + 0.5, −0.5 + 1, −0.5 + 0.25]] = [[0.5, −0.5, −2], [0, 0.5, −0.25]],
     * scores [12, −12], k1 in every preset.
     */
    static Stream<Object[]> presetCases() {
        return Stream.of(
                // trl: coef 0.2, last, no clip. row 0 t* = 1: [−0.1, 0.1 + 12, 0]; row 1 t* = 2: [0, −0.1, 0.05 − 12]
                new Object[] {Preset.TRL, Map.of(), new double[] {-0.1, 12.1, 0, 0, -0.1, -11.95},
                        new double[] {0.5, -0.5, 0, 0, 0.5, -0.25}, new double[] {1, 1, 0, 1, 1, 1}},
                // trl-ppov2: coef 0.05, after_last, zero. row 0 t* = 2 (not valid): KL dropped → [−0.025, 0.025, 12];
                // row 1 t* = min(3, 2) = 2 (valid): KL kept → [0, −0.025, 0.0125 − 12 = −11.9875]
                new Object[] {Preset.TRL_PPOV2, Map.of(), new double[] {-0.025, 0.025, 12, 0, -0.025, -11.9875},
                        new double[] {0.5, -0.5, 0, 0, 0.5, -0.25}, new double[] {1, 1, 1, 1, 1, 1}},
                // deepspeed-chat: coef 0.1, after_last, keep, clip 5. row 0 t* = 2, KL kept (δ = −2 → +0.2):
                // [−0.05, 0.05, 0.2 + 5 = 5.2]; row 1: [0, −0.05, 0.025 − 5 = −4.975]
                new Object[] {Preset.DEEPSPEED_CHAT, Map.of(), new double[] {-0.05, 0.05, 5.2, 0, -0.05, -4.975},
                        new double[] {0.5, -0.5, -2, 0, 0.5, -0.25}, new double[] {1, 1, 1, 1, 1, 1}},
                // verl: coef 0.001, last. [−0.0005, 0.0005 + 12, 0], [0, −0.0005, 0.00025 − 12 = −11.99975]
                new Object[] {Preset.VERL, Map.of(), new double[] {-0.0005, 12.0005, 0, 0, -0.0005, -11.99975},
                        new double[] {0.5, -0.5, 0, 0, 0.5, -0.25}, new double[] {1, 1, 0, 1, 1, 1}},
                // verl with k3 (clamps 20 / 10 loose here): k3(0.5) = e^−0.5 − 0.5 = 0.10653066,
                // k3(−0.5) = e^0.5 − 1.5 = 0.14872127, k3(−0.25) = e^0.25 − 1.25 = 0.03402542
                // rewards: [−0.00010653, −0.00014872 + 12 = 11.99985128, 0], [0, −0.00010653, −12 − 0.00003403 = −12.00003403]
                new Object[] {Preset.VERL, Map.of("kl_estimator", "k3"),
                        new double[] {-0.00010653, 11.99985128, 0, 0, -0.00010653, -12.00003403},
                        new double[] {0.10653066, 0.14872127, 0, 0, 0.10653066, 0.03402542}, new double[] {1, 1, 0, 1, 1, 1}},
                // openrlhf: coef 0.01, last, clip 10 (kl output clamp 10 loose). [−0.005, 0.005 + 10, 0], [0, −0.005, 0.0025 − 10]
                new Object[] {Preset.OPENRLHF, Map.of(), new double[] {-0.005, 10.005, 0, 0, -0.005, -9.9975},
                        new double[] {0.5, -0.5, 0, 0, 0.5, -0.25}, new double[] {1, 1, 0, 1, 1, 1}});
    }

    @ParameterizedTest
    @MethodSource("presetCases")
    void everyPresetOnTheHandBatch(Preset preset, Map<String, String> explicit, double[] rewards, double[] kl,
                                   double[] rewardMask) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor lp = Tensor.ofFloats(arena, new float[] {-1, -2, -3, -0.5f, -0.5f, -0.5f}, 2, 3);
            Tensor rf = Tensor.ofFloats(arena, new float[] {-1.5f, -1.5f, -1, -0.5f, -1, -0.25f}, 2, 3);
            Tensor mask = Tensor.ofFloats(arena, DType.U8, new float[] {1, 1, 0, 1, 1, 1}, 2, 3);
            Tensor scores = Tensor.ofFloats(arena, new float[] {12, -12}, 2);
            Out o = run(arena, ref, lp, rf, mask, scores, Settings.of(preset, explicit).rewardOptions());
            assertClose(o.rewards, rewards);
            assertClose(o.kl, kl);
            assertClose(o.rewardMask, rewardMask);
        }
    }

    // ------------------------------------------------------------------ seeded random: consistency with kl_penalty

    @Test
    void randomCasesAgreeWithKlPenaltyOnTheRegion() {
        try (Arena arena = Arena.ofConfined()) {
            Rand r = new Rand(arena, 99);
            for (long[] s : new long[][] {{1, 1}, {17, 33}, {41, 401}}) {
                for (RewardOptions o : optionGrid()) {
                    long b = s[0], t = s[1];
                    Tensor lp = r.normal(DType.F32, 1.5, b, t);
                    Tensor rf = r.normal(DType.F32, 1.5, b, t);
                    Tensor mask = (b + t) % 2 == 0 ? r.rightPaddedMask(DType.F32, b, t) : r.randomMask(DType.U8, 0.6, b, t);
                    Tensor scores = r.normal(DType.F32, 8.0, b);
                    Out got = run(arena, ref, lp, rf, mask, scores, o);

                    // kl_penalty on the region (reward_mask as its mask) is the kl output, except a dropped slot.
                    Tensor region = Tensor.ofFloats(arena, toFloats(got.rewardMask), b, t);
                    double[] klOnRegion = KlPenaltyTest.run(arena, ref, lp, rf, region, o.kl());
                    for (int row = 0; row < b; row++) {
                        int last = -1;
                        for (int c = 0; c < t; c++) if (mask.isSet(row * t + c)) last = c;
                        int slot = last < 0 ? -1
                                : o.scorePosition() == ScorePosition.LAST ? last : (int) Math.min(last + 1, t - 1);
                        double score = scores.getDouble(row);
                        if (o.scoreClip() > 0) score = Math.clamp(score, -o.scoreClip(), o.scoreClip());
                        for (int c = 0; c < t; c++) {
                            int i = (int) (row * t + c);
                            boolean valid = mask.isSet(i);
                            boolean inRegion = valid || (c == slot && o.scorePosition() == ScorePosition.AFTER_LAST);
                            assertEquals(inRegion ? 1.0 : 0.0, got.rewardMask[i], "reward_mask at " + i);
                            boolean dropped = c == slot && !valid && o.klAtScoreSlot() == KlAtScoreSlot.ZERO;
                            double wantKl = dropped ? 0 : klOnRegion[i];
                            assertEquals(wantKl, got.kl[i], 0.0, "kl at " + i + " " + o);
                            double wantReward = (c == slot ? score : 0) - o.klCoef() * wantKl;
                            assertEquals(wantReward, got.rewards[i], 1e-6 + 1e-6 * Math.abs(wantReward),
                                    "rewards at " + i + " " + o);
                        }
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ bad input

    @Test
    void badInputIsRejected() {
        try (Arena arena = Arena.ofConfined()) {
            RewardOptions o = Settings.defaults().rewardOptions();
            Tensor lp = Tensor.allocate(arena, DType.F32, 2, 3);
            Tensor rf = Tensor.allocate(arena, DType.F32, 2, 3);
            Tensor mask = Tensor.allocate(arena, DType.U8, 2, 3);
            Tensor scores = Tensor.allocate(arena, DType.F32, 2);
            Tensor rw = Tensor.allocate(arena, DType.F32, 2, 3);
            Tensor kl = Tensor.allocate(arena, DType.F32, 2, 3);
            Tensor rm = Tensor.allocate(arena, DType.F32, 2, 3);
            assertRejected("mask", () -> ref.klShapedRewards(lp, rf, null, scores, o, rw, kl, rm));
            assertRejected("mask", () -> ref.klShapedRewards(lp, rf, Tensor.allocate(arena, DType.U8, 2, 4), scores, o, rw, kl, rm));
            assertRejected("scores", () -> ref.klShapedRewards(lp, rf, mask, Tensor.allocate(arena, DType.F32, 3), o, rw, kl, rm));
            assertRejected("scores", () -> ref.klShapedRewards(lp, rf, mask, Tensor.allocate(arena, DType.F32, 2, 1), o, rw, kl, rm));
            assertRejected("scores", () -> ref.klShapedRewards(lp, rf, mask, Tensor.allocate(arena, DType.I32, 2), o, rw, kl, rm));
            assertRejected("scores", () -> ref.klShapedRewards(lp, rf, mask, null, o, rw, kl, rm));
            assertRejected("logprobs", () -> ref.klShapedRewards(Tensor.allocate(arena, DType.F16, 2, 3), rf, mask, scores, o, rw, kl, rm));
            assertRejected("ref_logprobs", () -> ref.klShapedRewards(lp, Tensor.allocate(arena, DType.F32, 3, 2), mask, scores, o, rw, kl, rm));
            assertRejected("rewards", () -> ref.klShapedRewards(lp, rf, mask, scores, o, Tensor.allocate(arena, DType.F32, 2, 2), kl, rm));
            assertRejected("kl", () -> ref.klShapedRewards(lp, rf, mask, scores, o, rw, null, rm));
            assertRejected("reward_mask", () -> ref.klShapedRewards(lp, rf, mask, scores, o, rw, kl, Tensor.allocate(arena, DType.U8, 2, 3)));
            assertRejected("options", () -> ref.klShapedRewards(lp, rf, mask, scores, null, rw, kl, rm));
            assertRejected("score_clip", () -> new RewardOptions(K1, 0.1, ScorePosition.LAST, -1, KlAtScoreSlot.KEEP));
            assertRejected("kl_coef", () -> new RewardOptions(K1, Double.POSITIVE_INFINITY, ScorePosition.LAST, 0, KlAtScoreSlot.KEEP));
            assertRejected("score_position", () -> Settings.of(Preset.TRL, Map.of("score_position", "first")));
            assertRejected("kl_at_score_slot", () -> Settings.of(Preset.TRL, Map.of("kl_at_score_slot", "maybe")));
        }
    }

    // ------------------------------------------------------------------ other backends vs the reference

    static Stream<String> backends() {
        return TokenLogprobsTest.backends();
    }

    @ParameterizedTest
    @MethodSource("backends")
    void backendMatchesReference(String backend) {
        try (PpoKernels k = TestBackends.open(backend); Arena arena = Arena.ofConfined()) {
            DType[] maskTypes = {DType.F32, DType.U8, DType.BOOL, DType.I32, DType.I64};
            long seed = 700;
            for (long[] s : new long[][] {{1, 1}, {17, 33}, {41, 401}}) {
                for (RewardOptions o : optionGrid()) {
                    Rand r = new Rand(arena, seed++);
                    long b = s[0], t = s[1];
                    Tensor lp = r.normal(DType.F32, 2.0, b, t);
                    Tensor rf = r.normal(DType.F32, 2.0, b, t);
                    DType mt = maskTypes[(int) (seed % maskTypes.length)];
                    Tensor mask = seed % 2 == 0 ? r.rightPaddedMask(mt, b, t) : r.randomMask(mt, 0.5, b, t);
                    Tensor scores = r.normal(DType.F32, 6.0, b);
                    String what = backend + " " + b + "x" + t + " " + o + " mask " + mt;
                    Out want = run(arena, ref, lp, rf, mask, scores, o);
                    Out got = run(arena, k, lp, rf, mask, scores, o);
                    Tolerance.assertClose(what + " rewards", want.rewards, got.rewards);
                    Tolerance.assertClose(what + " kl", want.kl, got.kl);
                    assertArrayEquals(want.rewardMask, got.rewardMask, what + " reward_mask");
                    Out again = run(arena, k, lp, rf, mask, scores, o);
                    assertArrayEquals(bits(got.tensors[0]), bits(again.tensors[0]), what + " rewards repeatable");
                    assertArrayEquals(bits(got.tensors[1]), bits(again.tensors[1]), what + " kl repeatable");
                }
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    /** Every switch value at least once: positions × slot modes × estimators/clamps × score clip on/off. */
    static List<RewardOptions> optionGrid() {
        List<RewardOptions> grid = new java.util.ArrayList<>();
        KlOptions[] kls = {KlOptions.DEFAULT, new KlOptions(KlEstimator.K3, 20, 10), new KlOptions(KlEstimator.K2, 0, 1),
                new KlOptions(KlEstimator.ABS, 0.5, 0)};
        int i = 0;
        for (ScorePosition pos : ScorePosition.values()) {
            for (KlAtScoreSlot slot : KlAtScoreSlot.values()) {
                for (KlOptions kl : kls) {
                    grid.add(new RewardOptions(kl, i % 2 == 0 ? 0.05 : 0.2, pos, i % 3 == 0 ? 5 : 0, slot));
                    i++;
                }
            }
        }
        return grid;
    }

    private static RewardOptions opts(KlOptions kl, double coef, ScorePosition pos, double clip, KlAtScoreSlot slot) {
        return new RewardOptions(kl, coef, pos, clip, slot);
    }

    /** Outputs as doubles plus the tensors themselves (for bit comparisons). */
    record Out(double[] rewards, double[] kl, double[] rewardMask, Tensor[] tensors) {}

    private Out runHand(RewardOptions o) {
        Arena arena = Arena.ofAuto();
        return run(arena, ref, Tensor.ofFloats(arena, LP, 3, 4), Tensor.ofFloats(arena, REF, 3, 4),
                Tensor.ofFloats(arena, MASK, 3, 4), Tensor.ofFloats(arena, SCORES, 3), o);
    }

    static Out run(Arena arena, PpoKernels k, Tensor lp, Tensor rf, Tensor mask, Tensor scores, RewardOptions o) {
        Tensor rewards = Tensor.allocate(arena, DType.F32, lp.shape());
        Tensor kl = Tensor.allocate(arena, DType.F32, lp.shape());
        Tensor rm = Tensor.allocate(arena, DType.F32, lp.shape());
        k.klShapedRewards(lp, rf, mask, scores, o, rewards, kl, rm);
        double[] rw = rewards.toDoubleArray(), kd = kl.toDoubleArray(), md = rm.toDoubleArray();
        for (double[] a : new double[][] {rw, kd, md}) {
            for (double x : a) assertTrue(Double.isFinite(x), "finite output");
        }
        return new Out(rw, kd, md, new Tensor[] {rewards, kl, rm});
    }

    private static float[] toFloats(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }

    private static void assertClose(double[] got, double... want) {
        // Hand values carry 8 decimals; the outputs are f32.
        Tolerance.assertClose("value", want, got, 2e-8, 2e-7);
    }
}
