package dev.ppoengine.kernels;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;

/**
 * Every switch of SPEC resolved to a typed value: a {@link Preset}, then explicit {@code key=value} settings.
 * Keys are the SPEC names ({@code kl_estimator}, {@code clip_low}, ...). Unknown keys and unparsable values are
 * rejected with a message naming the key. The per-op option records are built from here.
 */
public final class Settings {
    private final Preset preset;
    private final Map<String, String> raw;
    private final Map<String, String> explicit;

    private Settings(Preset preset, Map<String, String> explicit) {
        this.preset = preset;
        this.explicit = Collections.unmodifiableMap(new LinkedHashMap<>(explicit));
        this.raw = Collections.unmodifiableMap(preset.values(explicit));
        // Parse everything once so a bad value fails now, naming its key.
        for (String k : raw.keySet()) parseValue(k, raw.get(k));
        options(); // cross-field validation through the option records
    }

    /** Resolves {@code preset} with the explicit settings on top; throws IllegalArgumentException naming a bad key. */
    public static Settings of(Preset preset, Map<String, String> explicit) {
        Map<String, String> norm = new LinkedHashMap<>();
        for (var e : explicit.entrySet()) {
            String k = e.getKey().trim().toLowerCase(Locale.ROOT).replace('-', '_');
            if (!Preset.COMMON.containsKey(k)) {
                throw new IllegalArgumentException("unknown setting '" + e.getKey() + "' (known: "
                        + String.join(", ", new TreeSet<>(Preset.COMMON.keySet())) + ")");
            }
            norm.put(k, e.getValue().trim());
        }
        return new Settings(preset, norm);
    }

    public static Settings of(Preset preset) { return of(preset, Map.of()); }

    public static Settings defaults() { return of(Preset.TRL); }

    public Preset preset() { return preset; }

    /** Every resolved key → its textual value (for logs and the config a run records). */
    public Map<String, String> asMap() { return raw; }

    public boolean isExplicit(String key) { return explicit.containsKey(key); }

    private static Object parseValue(String key, String v) {
        try {
            return switch (key) {
                case "entropy_logits" -> EntropyLogits.parse(v);
                case "kl_estimator" -> KlEstimator.parse(v);
                case "score_position" -> ScorePosition.parse(v);
                case "kl_at_score_slot" -> KlAtScoreSlot.parse(v);
                case "gae_masked_steps" -> GaeMaskedSteps.parse(v);
                case "whiten_variance" -> WhitenVariance.parse(v);
                case "whiten_eps_mode" -> WhitenEpsMode.parse(v);
                case "loss_agg" -> LossAgg.parse(v);
                case "group_estimator" -> GroupEstimator.parse(v);
                case "kl_adaptive", "whiten_advantages", "shift_mean", "check_finite" -> parseBool(v);
                case "group_size" -> Integer.parseInt(v);
                default -> {
                    double d = Double.parseDouble(v);
                    if (!Double.isFinite(d)) throw new IllegalArgumentException("must be finite");
                    yield d;
                }
            };
        } catch (IllegalArgumentException e) {
            String why = e instanceof NumberFormatException ? "expected a number" : e.getMessage();
            throw new IllegalArgumentException("bad value '" + v + "' for setting " + key + ": " + why);
        }
    }

    private static boolean parseBool(String v) {
        return switch (v.toLowerCase(Locale.ROOT)) {
            case "true", "1", "yes", "on" -> true;
            case "false", "0", "no", "off" -> false;
            default -> throw new IllegalArgumentException("expected true or false");
        };
    }

    private Object get(String key) {
        String v = raw.get(key);
        if (v == null) throw new IllegalArgumentException("unknown setting '" + key + "'");
        return parseValue(key, v);
    }

    public double number(String key) { return (Double) get(key); }
    public boolean flag(String key) { return (Boolean) get(key); }
    public int integer(String key) { return (Integer) get(key); }
    public <E> E choice(String key, Class<E> type) { return type.cast(get(key)); }

    // ---------------- per-op options ----------------

    /** Runs every option record's validation (so `--set clip_low=-1` fails up front). */
    private void options() {
        try {
            logprobOptions();
            rewardOptions();
            gaeOptions();
            whitenOptions();
            ppoLossOptions();
            // group_size 0 means "not set" (groupOptions() asks for it when group_advantages runs).
            if (integer("group_size") != 0) groupOptions();
            else Params.nonNegative("group_std_eps", number("group_std_eps"));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("bad setting: " + e.getMessage(), e);
        }
    }

    /** τ = temperature + temperature_eps. */
    public LogprobOptions logprobOptions() {
        return new LogprobOptions(number("temperature") + number("temperature_eps"),
                choice("entropy_logits", EntropyLogits.class));
    }

    public KlOptions klOptions() {
        return new KlOptions(choice("kl_estimator", KlEstimator.class), number("kl_input_clamp"), number("kl_output_clamp"));
    }

    public RewardOptions rewardOptions() {
        return new RewardOptions(klOptions(), number("kl_coef"), choice("score_position", ScorePosition.class),
                number("score_clip"), choice("kl_at_score_slot", KlAtScoreSlot.class));
    }

    public GaeOptions gaeOptions() {
        return new GaeOptions(number("gamma"), number("lam"), choice("gae_masked_steps", GaeMaskedSteps.class));
    }

    public WhitenOptions whitenOptions() {
        return new WhitenOptions(choice("whiten_variance", WhitenVariance.class), choice("whiten_eps_mode", WhitenEpsMode.class),
                number("whiten_eps"), flag("shift_mean"));
    }

    public Aggregation aggregation() {
        return new Aggregation(choice("loss_agg", LossAgg.class), number("token_count"), number("loss_agg_norm"));
    }

    public PolicyLossOptions policyLossOptions() {
        return new PolicyLossOptions(number("clip_low"), number("clip_high"), number("log_ratio_clamp"),
                number("dual_clip"), aggregation(), number("ratio_threshold"));
    }

    /** The value loss's token-mean divisor: vf_token_count when set, else token_count (0 = Σ value mask). */
    public ValueLossOptions valueLossOptions() {
        double vf = number("vf_token_count");
        Aggregation agg = vf > 0 ? aggregation().withTokenCount(vf) : aggregation();
        return new ValueLossOptions(number("value_clip"), agg);
    }

    public PpoLossOptions ppoLossOptions() {
        return new PpoLossOptions(policyLossOptions(), valueLossOptions(), number("vf_coef"), number("entropy_coef"));
    }

    /** Throws when group_size was not set (it has no sensible default). */
    public GroupOptions groupOptions() {
        int n = integer("group_size");
        if (n == 0) throw new IllegalArgumentException("group_advantages needs the setting group_size (e.g. --set group_size=4)");
        return new GroupOptions(n, choice("group_estimator", GroupEstimator.class), number("group_std_eps"));
    }
}
