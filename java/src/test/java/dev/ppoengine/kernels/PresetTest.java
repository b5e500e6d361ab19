package dev.ppoengine.kernels;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every preset's resolved switch values equal SPEC's "Presets" table, read back through the typed option
 * records ({@code Settings.of(preset).xxxOptions()}), {@code number()} and {@code flag()}. One row of the
 * table is one {@link Row}; the expected values below are copied from SPEC, column by column.
 */
class PresetTest {

    /** One SPEC table column. Whitening null = off. groupStdEps NaN = "–" in SPEC (not checked). */
    record Row(Preset preset, boolean samplingTemperature, double temperatureEps, EntropyLogits entropyLogits,
               double klInputClampK3, double klOutputClampK3, double klOutputClampK1, double klCoef,
               ScorePosition scorePosition, double scoreClip, double gamma, double lam, GaeMaskedSteps maskedSteps,
               WhitenVariance whitenVariance, WhitenEpsMode whitenEpsMode, double logRatioClamp, double dualClip,
               double valueClip, double vfCoef, KlAtScoreSlot klAtScoreSlot, double ratioThreshold,
               double groupStdEps, boolean adaptiveKl) {}

    private static Row row(Preset p) {
        return switch (p) {
            case TRL -> new Row(p, false, 0, EntropyLogits.SCALED, 0, 0, 0, 0.2, ScorePosition.LAST, 0, 1, 0.95, GaeMaskedSteps.ZERO,
                    WhitenVariance.UNBIASED, WhitenEpsMode.ADD, 0, 0, 0.2, 0.1, null, 10, Double.NaN, true);
            case TRL_PPOV2 -> new Row(p, true, 1e-7, EntropyLogits.SCALED, 0, 0, 0, 0.05, ScorePosition.AFTER_LAST, 0, 1, 0.95,
                    GaeMaskedSteps.ZERO, WhitenVariance.UNBIASED, WhitenEpsMode.ADD, 0, 0, 0.2, 0.1, KlAtScoreSlot.ZERO, 0,
                    Double.NaN, false);
            case DEEPSPEED_CHAT -> new Row(p, false, 0, EntropyLogits.SCALED, 0, 0, 0, 0.1, ScorePosition.AFTER_LAST, 5, 1, 0.95,
                    GaeMaskedSteps.ZERO, null, null, 0, 0, 0.2, 1, KlAtScoreSlot.KEEP, 0, Double.NaN, false);
            case VERL -> new Row(p, true, 0, EntropyLogits.SCALED, 20, 10, 0, 0.001, ScorePosition.LAST, 0, 1, 1,
                    GaeMaskedSteps.SKIP, WhitenVariance.UNBIASED, WhitenEpsMode.ADD, 20, 3, 0.5, 1, null, 0, 1e-6, false);
            case OPENRLHF -> new Row(p, true, 0, EntropyLogits.RAW, 0, 10, 10, 0.01, ScorePosition.LAST, 10, 1, 1,
                    GaeMaskedSteps.ZERO, WhitenVariance.BIASED, WhitenEpsMode.CLAMP, 20, 0, 0.5, 1, null, 0, 1e-9, false);
        };
    }

    @ParameterizedTest
    @EnumSource(Preset.class)
    void logprobs(Preset p) {
        Row r = row(p);
        Settings s = Settings.of(p);
        assertEquals(r.samplingTemperature(), p.appliesSamplingTemperature(), "sampling temperature applied");
        assertEquals(1.0, s.number("temperature"), "temperature default");
        assertEquals(r.temperatureEps(), s.number("temperature_eps"), "temperature_eps");
        // τ = temperature + temperature_eps
        assertEquals(1.0 + r.temperatureEps(), s.logprobOptions().temperature(), "τ");
        assertSame(r.entropyLogits(), s.logprobOptions().entropyLogits(), "entropy_logits");
        // An explicit temperature is applied for every preset (trl / deepspeed-chat included).
        Settings t = Settings.of(p, Map.of("temperature", "0.7"));
        assertEquals(0.7 + r.temperatureEps(), t.logprobOptions().temperature(), 1e-15, "explicit τ");
    }

    @ParameterizedTest
    @EnumSource(Preset.class)
    void klAndRewards(Preset p) {
        Row r = row(p);
        Settings s = Settings.of(p);
        KlOptions kl = s.klOptions();
        assertSame(KlEstimator.K1, kl.estimator(), "kl_estimator");
        // With the preset's k1 estimator: verl's clamps do not apply (k3 only); OpenRLHF clamps the output at 10.
        assertEquals(0, kl.inputClamp(), "kl_input_clamp (k1)");
        assertEquals(r.klOutputClampK1(), kl.outputClamp(), "kl_output_clamp (k1)");
        // With k3: verl 20 / 10, OpenRLHF 0 / 10, others 0 / 0.
        KlOptions k3 = Settings.of(p, Map.of("kl_estimator", "k3")).klOptions();
        assertSame(KlEstimator.K3, k3.estimator());
        assertEquals(r.klInputClampK3(), k3.inputClamp(), "kl_input_clamp (k3)");
        assertEquals(r.klOutputClampK3(), k3.outputClamp(), "kl_output_clamp (k3)");
        RewardOptions ro = s.rewardOptions();
        assertEquals(r.klCoef(), ro.klCoef(), "kl_coef");
        assertSame(r.scorePosition(), ro.scorePosition(), "score_position");
        assertEquals(r.scoreClip(), ro.scoreClip(), "score_clip");
        if (r.klAtScoreSlot() != null) assertSame(r.klAtScoreSlot(), ro.klAtScoreSlot(), "kl_at_score_slot");
        assertEquals(r.adaptiveKl(), s.flag("kl_adaptive"), "adaptive KL");
        if (r.adaptiveKl()) {
            assertEquals(6, s.number("kl_target"), "kl_target");
            assertEquals(10000, s.number("kl_horizon"), "kl_horizon");
        }
    }

    @ParameterizedTest
    @EnumSource(Preset.class)
    void gaeAndWhitening(Preset p) {
        Row r = row(p);
        Settings s = Settings.of(p);
        GaeOptions g = s.gaeOptions();
        assertEquals(r.gamma(), g.gamma(), "gamma");
        assertEquals(r.lam(), g.lam(), "lam");
        assertSame(r.maskedSteps(), g.maskedSteps(), "gae_masked_steps");
        assertEquals(r.whitenVariance() != null, s.flag("whiten_advantages"), "whiten advantages");
        if (r.whitenVariance() != null) {
            WhitenOptions w = s.whitenOptions();
            assertSame(r.whitenVariance(), w.variance(), "whiten_variance");
            assertSame(r.whitenEpsMode(), w.epsMode(), "whiten_eps_mode");
            assertEquals(1e-8, w.eps(), "whiten_eps");
            assertTrue(w.shiftMean(), "advantages are whitened with the mean removed");
        }
    }

    @ParameterizedTest
    @EnumSource(Preset.class)
    void losses(Preset p) {
        Row r = row(p);
        Settings s = Settings.of(p);
        PolicyLossOptions pl = s.policyLossOptions();
        assertEquals(0.2, pl.clipLow(), "clip_low");
        assertEquals(0.2, pl.clipHigh(), "clip_high");
        assertEquals(r.logRatioClamp(), pl.logRatioClamp(), "log_ratio_clamp");
        assertEquals(r.dualClip(), pl.dualClip(), "dual_clip");
        assertSame(LossAgg.TOKEN_MEAN, pl.agg().mode(), "loss_agg");
        assertEquals(0, pl.agg().tokenCount(), "token_count (0 = Σ mask)");
        assertEquals(r.ratioThreshold(), pl.ratioThreshold(), "ratio_threshold");
        ValueLossOptions vl = s.valueLossOptions();
        assertEquals(r.valueClip(), vl.valueClip(), "value_clip");
        assertSame(LossAgg.TOKEN_MEAN, vl.agg().mode(), "value loss_agg");
        PpoLossOptions pp = s.ppoLossOptions();
        assertEquals(r.vfCoef(), pp.vfCoef(), "vf_coef");
        assertEquals(pl, pp.policy());
        assertEquals(vl, pp.value());
    }

    @ParameterizedTest
    @EnumSource(Preset.class)
    void groupStdEps(Preset p) {
        Row r = row(p);
        Settings s = Settings.of(p, Map.of("group_size", "4"));
        GroupOptions g = s.groupOptions();
        assertEquals(4, g.groupSize());
        assertSame(GroupEstimator.GRPO, g.estimator());
        if (!Double.isNaN(r.groupStdEps())) assertEquals(r.groupStdEps(), g.stdEps(), "group_std_eps");
        assertTrue(g.stdEps() > 0, "group_std_eps must be positive so a constant group is not 0/0");
    }

    @Test
    void defaultPresetIsTrl() {
        assertSame(Preset.TRL, Settings.defaults().preset());
        assertEquals(Settings.of(Preset.TRL).asMap(), Settings.defaults().asMap());
    }

    @Test
    void presetNamesParse() {
        assertSame(Preset.TRL, Preset.parse("trl"));
        assertSame(Preset.TRL_PPOV2, Preset.parse("trl-ppov2"));
        assertSame(Preset.TRL_PPOV2, Preset.parse("TRL_PPOV2"));
        assertSame(Preset.DEEPSPEED_CHAT, Preset.parse("deepspeed-chat"));
        assertSame(Preset.VERL, Preset.parse(" verl "));
        assertSame(Preset.OPENRLHF, Preset.parse("openrlhf"));
        var e = assertThrows(IllegalArgumentException.class, () -> Preset.parse("rl4lms"));
        assertTrue(e.getMessage().contains("rl4lms") && e.getMessage().contains("openrlhf"), e.getMessage());
    }

    @Test
    void verlK3ClampsFollowTheEstimatorButExplicitClampsWin() {
        // verl clamps only its k3 (low_var_kl) estimator; for other estimators both clamps are off.
        for (String est : new String[] {"k1", "abs", "k2"}) {
            KlOptions k = Settings.of(Preset.VERL, Map.of("kl_estimator", est)).klOptions();
            assertEquals(0, k.inputClamp(), est);
            assertEquals(0, k.outputClamp(), est);
        }
        KlOptions k = Settings.of(Preset.VERL, Map.of("kl_estimator", "k3", "kl_input_clamp", "5")).klOptions();
        assertEquals(5, k.inputClamp(), "explicit kl_input_clamp");
        assertEquals(10, k.outputClamp(), "k3 output clamp stays");
        KlOptions k1 = Settings.of(Preset.VERL, Map.of("kl_output_clamp", "3")).klOptions();
        assertEquals(0, k1.inputClamp());
        assertEquals(3, k1.outputClamp(), "explicit kl_output_clamp with k1");
    }

    @Test
    void explicitSettingsOverrideEveryPreset() {
        for (Preset p : Preset.values()) {
            Settings s = Settings.of(p, Map.of("gamma", "0.5", "lam", "0.25", "gae_masked_steps",
                    p == Preset.VERL ? "zero" : "skip", "clip_high", "0.28", "kl_coef", "0.3", "whiten_advantages",
                    "false", "vf_coef", "0.7", "ratio_threshold", "4"));
            assertEquals(0.5, s.gaeOptions().gamma(), p + " gamma");
            assertEquals(0.25, s.gaeOptions().lam(), p + " lam");
            assertSame(p == Preset.VERL ? GaeMaskedSteps.ZERO : GaeMaskedSteps.SKIP, s.gaeOptions().maskedSteps(), p.key());
            assertEquals(0.28, s.policyLossOptions().clipHigh(), p + " clip_high");
            assertEquals(0.2, s.policyLossOptions().clipLow(), p + " clip_low untouched");
            assertEquals(0.3, s.rewardOptions().klCoef(), p + " kl_coef");
            assertFalse(s.flag("whiten_advantages"), p + " whiten_advantages");
            assertEquals(0.7, s.ppoLossOptions().vfCoef(), p + " vf_coef");
            assertEquals(4, s.policyLossOptions().ratioThreshold(), p + " ratio_threshold");
            assertTrue(s.isExplicit("gamma") && !s.isExplicit("clip_low"), p + " isExplicit");
        }
    }
}
