package dev.ppoengine.train;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * sort-digits: the prompt is 3 to 6 random digits followed by '=', e.g. {@code "3714="}; the ideal response is the
 * same digits in ascending order, {@code "1347"}, then EOS. Reward = {@link Task#positionalMatch} against the sorted
 * string (digit i right scores 1/len), so a partly sorted answer earns partial credit and extra or missing
 * characters cost. The SFT demonstrations come from an inconsistent demonstrator: half of them sort descending
 * ("7431", which scores only where digits coincide), so the warm-started policy answers in either order about half
 * the time and PPO has to learn from the reward alone that ascending pays — the situation RLHF is for (Ouyang et al.
 * 2022: demonstrations teach the format, the reward picks the preferred behaviour).
 */
public final class SortDigitsTask implements Task {
    static final int MIN_DIGITS = 3, MAX_DIGITS = 6;
    static final double DESCENDING_FRACTION = 0.5;

    @Override public String name() { return "sort-digits"; }

    @Override public String description() { return "sort 3-6 digits ascending: \"3714=\" -> \"1347\""; }

    @Override
    public String prompt(SplittableRandom rng) {
        int n = rng.nextInt(MIN_DIGITS, MAX_DIGITS + 1);
        StringBuilder sb = new StringBuilder(n + 1);
        // '0' + [0, 10) is an ASCII digit: the char narrowing is exact.
        for (int i = 0; i < n; i++) sb.append((char) ('0' + rng.nextInt(10)));
        return sb.append('=').toString();
    }

    @Override
    public String target(String prompt) {
        String digits = digitsOf(prompt);
        char[] c = digits.toCharArray();
        Arrays.sort(c);
        return new String(c);
    }

    /** Half of the demonstrations sort the digits descending instead. */
    @Override
    public String demonstration(String prompt, SplittableRandom rng) {
        String t = target(prompt);
        return rng.nextDouble() < DESCENDING_FRACTION ? new StringBuilder(t).reverse().toString() : t;
    }

    private static String digitsOf(String prompt) {
        if (!prompt.endsWith("=")) throw new IllegalArgumentException("sort-digits prompt must end with '=', got '" + prompt + "'");
        String d = prompt.substring(0, prompt.length() - 1);
        for (int i = 0; i < d.length(); i++) {
            if (d.charAt(i) < '0' || d.charAt(i) > '9') {
                throw new IllegalArgumentException("sort-digits prompt must be digits then '=', got '" + prompt + "'");
            }
        }
        return d;
    }

    @Override
    public double reward(String prompt, String response, boolean endedWithEos) {
        return Task.positionalMatch(response, target(prompt));
    }

    @Override public int maxTargetLength() { return MAX_DIGITS; }
}
