package dev.ppoengine.train;

import java.util.SplittableRandom;

/**
 * add: the prompt is {@code "a+b="} with a, b uniform in [0, 99]; the ideal response is the decimal sum, e.g.
 * {@code "17+25="} → {@code "42"}. Reward = {@link Task#positionalMatch} of the digits aligned at the right (units
 * with units), so a sum with the right tens but the wrong carry still earns part of the reward.
 */
public final class AdditionTask implements Task {
    static final int MAX_OPERAND = 99;

    @Override public String name() { return "add"; }

    @Override public String description() { return "add two numbers below 100: \"17+25=\" -> \"42\""; }

    @Override
    public String prompt(SplittableRandom rng) {
        return rng.nextInt(MAX_OPERAND + 1) + "+" + rng.nextInt(MAX_OPERAND + 1) + "=";
    }

    @Override
    public String target(String prompt) {
        int plus = prompt.indexOf('+');
        if (plus <= 0 || !prompt.endsWith("=")) throw new IllegalArgumentException("add prompt must look like 'a+b=', got '" + prompt + "'");
        try {
            int a = Integer.parseInt(prompt.substring(0, plus));
            int b = Integer.parseInt(prompt.substring(plus + 1, prompt.length() - 1));
            return Integer.toString(a + b);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("add prompt must look like 'a+b=', got '" + prompt + "'");
        }
    }

    @Override
    public double reward(String prompt, String response, boolean endedWithEos) {
        String t = target(prompt);
        // Right-align: compare reversed strings so units meet units.
        return Task.positionalMatch(new StringBuilder(response).reverse().toString(), new StringBuilder(t).reverse().toString());
    }

    @Override public int maxTargetLength() { return 3; }
}
