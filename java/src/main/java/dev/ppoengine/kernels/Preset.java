package dev.ppoengine.kernels;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * The switch values of one widely used trainer (SPEC "Presets"), so a user migrating from it gets the same numbers.
 * {@link #values(Map)} resolves the preset with explicit settings on top.
 */
public enum Preset {
    TRL("trl", Map.ofEntries(
            Map.entry("kl_coef", "0.2"), Map.entry("kl_adaptive", "true"), Map.entry("kl_target", "6"),
            Map.entry("kl_horizon", "10000"), Map.entry("ratio_threshold", "10"), Map.entry("vf_coef", "0.1"),
            Map.entry("value_clip", "0.2"), Map.entry("group_std_eps", "1e-4"))),
    TRL_PPOV2("trl-ppov2", Map.ofEntries(
            Map.entry("temperature_eps", "1e-7"), Map.entry("kl_coef", "0.05"), Map.entry("score_position", "after_last"),
            Map.entry("kl_at_score_slot", "zero"), Map.entry("vf_coef", "0.1"), Map.entry("value_clip", "0.2"),
            Map.entry("group_std_eps", "1e-4"))),
    DEEPSPEED_CHAT("deepspeed-chat", Map.ofEntries(
            Map.entry("kl_coef", "0.1"), Map.entry("score_position", "after_last"), Map.entry("kl_at_score_slot", "keep"),
            Map.entry("score_clip", "5"), Map.entry("whiten_advantages", "false"), Map.entry("vf_coef", "1"),
            Map.entry("value_clip", "0.2"))),
    VERL("verl", Map.ofEntries(
            Map.entry("kl_coef", "0.001"), Map.entry("lam", "1"), Map.entry("gae_masked_steps", "skip"),
            Map.entry("log_ratio_clamp", "20"), Map.entry("dual_clip", "3"), Map.entry("value_clip", "0.5"),
            Map.entry("vf_coef", "1"), Map.entry("group_std_eps", "1e-6"))),
    OPENRLHF("openrlhf", Map.ofEntries(
            Map.entry("entropy_logits", "raw"), Map.entry("kl_coef", "0.01"), Map.entry("kl_output_clamp", "10"),
            Map.entry("score_clip", "10"), Map.entry("lam", "1"), Map.entry("whiten_variance", "biased"),
            Map.entry("whiten_eps_mode", "clamp"), Map.entry("log_ratio_clamp", "20"), Map.entry("value_clip", "0.5"),
            Map.entry("vf_coef", "1"), Map.entry("group_std_eps", "1e-9")));

    /** Values common to every preset unless the preset's table says otherwise. */
    static final Map<String, String> COMMON;
    static {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("temperature", "1");
        m.put("temperature_eps", "0");
        m.put("entropy_logits", "scaled");
        m.put("kl_estimator", "k1");
        m.put("kl_input_clamp", "0");
        m.put("kl_output_clamp", "0");
        m.put("kl_coef", "0.2");
        m.put("kl_adaptive", "false");
        m.put("kl_target", "6");
        m.put("kl_horizon", "10000");
        m.put("score_position", "last");
        m.put("score_clip", "0");
        m.put("kl_at_score_slot", "keep");
        m.put("gamma", "1");
        m.put("lam", "0.95");
        m.put("gae_masked_steps", "zero");
        m.put("whiten_advantages", "true");
        m.put("whiten_variance", "unbiased");
        m.put("whiten_eps_mode", "add");
        m.put("whiten_eps", "1e-8");
        m.put("shift_mean", "true");
        m.put("clip_low", "0.2");
        m.put("clip_high", "0.2");
        m.put("log_ratio_clamp", "0");
        m.put("dual_clip", "0");
        m.put("loss_agg", "token-mean");
        m.put("token_count", "0");
        m.put("vf_token_count", "0");
        m.put("loss_agg_norm", "0");
        m.put("value_clip", "0.2");
        m.put("vf_coef", "0.1");
        m.put("entropy_coef", "0");
        m.put("ratio_threshold", "0");
        m.put("group_size", "0");
        m.put("group_estimator", "grpo");
        m.put("group_std_eps", "1e-6");
        m.put("check_finite", "false");
        COMMON = java.util.Collections.unmodifiableMap(m);
    }

    private final String key;
    private final Map<String, String> table;

    Preset(String key, Map<String, String> table) {
        this.key = key;
        this.table = table;
    }

    public String key() { return key; }

    /**
     * Whether the trainer computes logprobs at its sampling temperature. trl and DeepSpeed-Chat never pass one
     * (logprobs at τ = 1) unless the user sets {@code temperature} explicitly.
     */
    public boolean appliesSamplingTemperature() {
        return this != TRL && this != DEEPSPEED_CHAT;
    }

    /** The resolved switch values: common defaults, then this preset's table, then the explicit settings. */
    public Map<String, String> values(Map<String, String> explicit) {
        Map<String, String> m = new LinkedHashMap<>(COMMON);
        m.putAll(table);
        m.putAll(explicit);
        if (this == VERL) {
            // verl clamps δ to ±20 and the estimate to ±10 in its low_var_kl (k3) estimator only.
            KlEstimator estimator;
            try {
                estimator = KlEstimator.parse(m.get("kl_estimator"));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("bad value '" + m.get("kl_estimator") + "' for setting kl_estimator: "
                        + e.getMessage(), e);
            }
            boolean k3 = estimator == KlEstimator.K3;
            if (!explicit.containsKey("kl_input_clamp")) m.put("kl_input_clamp", k3 ? "20" : "0");
            if (!explicit.containsKey("kl_output_clamp")) m.put("kl_output_clamp", k3 ? "10" : "0");
        }
        return m;
    }

    public static Preset parse(String s) {
        String n = s.trim().toLowerCase(Locale.ROOT).replace('_', '-');
        for (Preset p : values()) if (p.key.equals(n)) return p;
        throw new IllegalArgumentException("unknown preset '" + s + "' (expected one of "
                + Arrays.stream(values()).map(Preset::key).collect(Collectors.joining(", ")) + ")");
    }

    @Override
    public String toString() { return key; }
}
