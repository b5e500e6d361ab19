package dev.ppoengine.kernels;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Settings: preset + explicit {@code key=value} → typed values → option records. Unknown keys and bad values
 * are IllegalArgumentExceptions naming the key (the CLI prints that message as its one line).
 */
class SettingsTest {

    private static IllegalArgumentException bad(Preset p, String key, String value) {
        return assertThrows(IllegalArgumentException.class, () -> Settings.of(p, Map.of(key, value)),
                key + "=" + value + " should be rejected");
    }

    @Test
    void unknownKeyIsNamed() {
        var e = assertThrows(IllegalArgumentException.class, () -> Settings.of(Preset.TRL, Map.of("clip_ratio", "0.2")));
        assertTrue(e.getMessage().contains("clip_ratio") && e.getMessage().contains("unknown"), e.getMessage());
        assertTrue(e.getMessage().contains("clip_low"), "lists the known keys: " + e.getMessage());
        var g = assertThrows(IllegalArgumentException.class, () -> Settings.defaults().number("no_such_key"));
        assertTrue(g.getMessage().contains("no_such_key"), g.getMessage());
    }

    @Test
    void keysAreNormalised() {
        // '-' and '_' are interchangeable, case and surrounding blanks do not matter.
        Settings s = Settings.of(Preset.TRL, Map.of("Clip-High", " 0.28 ", "GAE_MASKED_STEPS", "skip"));
        assertEquals(0.28, s.policyLossOptions().clipHigh());
        assertSame(GaeMaskedSteps.SKIP, s.gaeOptions().maskedSteps());
        assertTrue(s.isExplicit("clip_high"));
    }

    @ParameterizedTest
    @EnumSource(Preset.class)
    void badValuesNameTheKey(Preset p) {
        String[][] cases = {
                {"gamma", "abc"}, {"gamma", "1.5"}, {"lam", "-0.1"}, {"clip_low", "-1"}, {"clip_high", "NaN"},
                {"temperature", "-1"}, {"temperature", "Infinity"}, {"kl_estimator", "k9"}, {"score_position", "first"},
                {"kl_at_score_slot", "maybe"}, {"gae_masked_steps", "carry"}, {"whiten_variance", "sample"},
                {"whiten_eps_mode", "max"}, {"whiten_eps", "-1e-8"}, {"shift_mean", "perhaps"},
                {"whiten_advantages", "2"}, {"loss_agg", "sum"}, {"dual_clip", "0.5"}, {"value_clip", "-0.2"},
                {"log_ratio_clamp", "x"}, {"group_size", "four"}, {"group_size", "2.5"}, {"group_estimator", "ppo"},
                {"group_std_eps", "-1"}, {"group_size", "1"}, {"group_size", "-4"}, {"kl_adaptive", "yes please"}, {"entropy_logits", "softmax"},
                {"kl_input_clamp", "-20"}, {"kl_output_clamp", "-10"}, {"score_clip", "-5"}, {"vf_coef", "-1"},
                {"token_count", "-3"}, {"loss_agg_norm", "-1"}, {"ratio_threshold", "-10"}, {"kl_coef", "inf"},
        };
        for (String[] c : cases) {
            var e = bad(p, c[0], c[1]);
            assertTrue(e.getMessage().contains(c[0]), p + ": message should name " + c[0] + ": " + e.getMessage());
        }
    }

    @ParameterizedTest
    @CsvSource({
            "entropy_logits, scaled", "entropy_logits, raw",
            "kl_estimator, k1", "kl_estimator, abs", "kl_estimator, k2", "kl_estimator, k3",
            "score_position, last", "score_position, after_last", "score_position, after-last",
            "kl_at_score_slot, keep", "kl_at_score_slot, zero",
            "gae_masked_steps, zero", "gae_masked_steps, skip",
            "whiten_variance, unbiased", "whiten_variance, biased",
            "whiten_eps_mode, add", "whiten_eps_mode, clamp",
            "loss_agg, token-mean", "loss_agg, seq-mean-token-sum", "loss_agg, seq-mean-token-mean",
            "loss_agg, seq-mean-token-sum-norm", "loss_agg, TOKEN_MEAN",
            "group_estimator, grpo", "group_estimator, dr_grpo", "group_estimator, rloo", "group_estimator, dr-grpo",
    })
    void everySwitchValueIsAccepted(String key, String value) {
        for (Preset p : Preset.values()) {
            Settings s = Settings.of(p, Map.of(key, value));
            Object v = switch (key) {
                case "entropy_logits" -> s.logprobOptions().entropyLogits();
                case "kl_estimator" -> s.klOptions().estimator();
                case "score_position" -> s.rewardOptions().scorePosition();
                case "kl_at_score_slot" -> s.rewardOptions().klAtScoreSlot();
                case "gae_masked_steps" -> s.gaeOptions().maskedSteps();
                case "whiten_variance" -> s.whitenOptions().variance();
                case "whiten_eps_mode" -> s.whitenOptions().epsMode();
                case "loss_agg" -> s.policyLossOptions().agg().mode();
                case "group_estimator" -> s.choice("group_estimator", GroupEstimator.class);
                default -> throw new AssertionError(key);
            };
            String norm = value.toLowerCase(java.util.Locale.ROOT).replace('_', '-');
            assertEquals(norm, ((Switch) v).key().replace('_', '-'), p + " " + key);
        }
    }

    @Test
    void booleansAndNumbers() {
        for (String t : new String[] {"true", "1", "yes", "on", "TRUE"}) {
            assertTrue(Settings.of(Preset.TRL, Map.of("shift_mean", t)).whitenOptions().shiftMean(), t);
        }
        for (String f : new String[] {"false", "0", "no", "off"}) {
            assertFalse(Settings.of(Preset.TRL, Map.of("shift_mean", f)).whitenOptions().shiftMean(), f);
        }
        Settings s = Settings.of(Preset.OPENRLHF, Map.of("whiten_eps", "1e-5", "token_count", "4096",
                "loss_agg", "seq-mean-token-sum-norm", "loss_agg_norm", "512", "vf_token_count", "1024",
                "entropy_coef", "0.01", "group_size", "8", "check_finite", "true"));
        assertEquals(1e-5, s.whitenOptions().eps());
        assertEquals(4096, s.policyLossOptions().agg().tokenCount());
        assertEquals(512, s.policyLossOptions().agg().norm());
        assertEquals(1024, s.valueLossOptions().agg().tokenCount(), "vf_token_count replaces token_count for the value loss");
        assertEquals(0.01, s.ppoLossOptions().entropyCoef());
        assertEquals(8, s.integer("group_size"));
        assertEquals(8, s.groupOptions().groupSize());
        assertTrue(s.flag("check_finite"));
        // Without vf_token_count the value loss uses token_count.
        Settings t = Settings.of(Preset.TRL, Map.of("token_count", "100"));
        assertEquals(100, t.valueLossOptions().agg().tokenCount());
    }

    @Test
    void asMapHoldsEveryKeyWithExplicitOnTop() {
        Map<String, String> explicit = new LinkedHashMap<>();
        explicit.put("kl_coef", "0.123");
        Settings s = Settings.of(Preset.VERL, explicit);
        assertEquals(Preset.COMMON.keySet(), s.asMap().keySet());
        assertEquals("0.123", s.asMap().get("kl_coef"));
        assertEquals("skip", s.asMap().get("gae_masked_steps"));
        assertSame(Preset.VERL, s.preset());
        assertFalse(s.isExplicit("gae_masked_steps"));
        // The caller's map is copied: changing it afterwards changes nothing.
        explicit.put("kl_coef", "9");
        assertEquals(0.123, s.rewardOptions().klCoef());
    }
}
