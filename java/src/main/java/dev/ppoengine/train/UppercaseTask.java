package dev.ppoengine.train;

import java.util.Locale;
import java.util.SplittableRandom;

/**
 * uppercase: the prompt is a 3 to 6 letter lowercase word from {a..p} followed by ':', e.g. {@code "cafe:"}; the
 * ideal response repeats it in capitals, {@code "CAFE"}. Reward = {@link Task#positionalMatch} against the capitals
 * (a lowercase echo scores 0). The SFT demonstrations come from an inconsistent demonstrator: half of them echo the
 * word in lowercase. A warm-started policy therefore answers in either style, about half the time each, and PPO
 * has to learn from the reward alone that capitals pay — the situation RLHF is for (Ouyang et al. 2022: demonstrations
 * teach the format, the reward picks the preferred behaviour).
 */
public final class UppercaseTask implements Task {
    static final int MIN_LEN = 3, MAX_LEN = 6, LETTERS = 16;
    static final double LOWERCASE_FRACTION = 0.5;

    @Override public String name() { return "uppercase"; }

    @Override public String description() { return "repeat a word in capitals: \"cafe:\" -> \"CAFE\" (demonstrations: half lowercase)"; }

    @Override
    public String prompt(SplittableRandom rng) {
        int n = rng.nextInt(MIN_LEN, MAX_LEN + 1);
        StringBuilder sb = new StringBuilder(n + 1);
        // 'a' + [0, 16) stays within the ASCII letters: the char narrowing is exact.
        for (int i = 0; i < n; i++) sb.append((char) ('a' + rng.nextInt(LETTERS)));
        return sb.append(':').toString();
    }

    private static String word(String prompt) {
        if (!prompt.endsWith(":")) throw new IllegalArgumentException("uppercase prompt must end with ':', got '" + prompt + "'");
        return prompt.substring(0, prompt.length() - 1);
    }

    @Override
    public String target(String prompt) { return word(prompt).toUpperCase(Locale.ROOT); }

    @Override
    public String demonstration(String prompt, SplittableRandom rng) {
        return rng.nextDouble() < LOWERCASE_FRACTION ? word(prompt) : target(prompt);
    }

    @Override
    public double reward(String prompt, String response, boolean endedWithEos) {
        return Task.positionalMatch(response, target(prompt));
    }

    @Override public int maxTargetLength() { return MAX_LEN; }
}
