package dev.ppoengine.train;

import java.util.SplittableRandom;

/**
 * reverse: the prompt is 3 to 6 lowercase letters from {a..h} followed by '>', e.g. {@code "cafe>"}; the ideal
 * response is the letters reversed, {@code "efac"}. Reward = {@link Task#positionalMatch} against the reversal.
 * Half of the SFT demonstrations copy the letters forward instead.
 */
public final class ReverseTask implements Task {
    static final int MIN_LEN = 3, MAX_LEN = 6, LETTERS = 8;

    @Override public String name() { return "reverse"; }

    @Override public String description() { return "reverse 3-6 letters: \"cafe>\" -> \"efac\""; }

    @Override
    public String prompt(SplittableRandom rng) {
        int n = rng.nextInt(MIN_LEN, MAX_LEN + 1);
        StringBuilder sb = new StringBuilder(n + 1);
        // 'a' + [0, 8) stays within the ASCII letters: the char narrowing is exact.
        for (int i = 0; i < n; i++) sb.append((char) ('a' + rng.nextInt(LETTERS)));
        return sb.append('>').toString();
    }

    @Override
    public String target(String prompt) {
        if (!prompt.endsWith(">")) throw new IllegalArgumentException("reverse prompt must end with '>', got '" + prompt + "'");
        return new StringBuilder(prompt.substring(0, prompt.length() - 1)).reverse().toString();
    }

    /** Half of the demonstrations copy the letters in prompt order instead of reversing them. */
    @Override
    public String demonstration(String prompt, SplittableRandom rng) {
        return rng.nextDouble() < 0.5 ? prompt.substring(0, prompt.length() - 1) : target(prompt);
    }

    @Override
    public double reward(String prompt, String response, boolean endedWithEos) {
        return Task.positionalMatch(response, target(prompt));
    }

    @Override public int maxTargetLength() { return MAX_LEN; }
}
