package dev.ppoengine.train;

import java.util.List;
import java.util.SplittableRandom;

/**
 * A built-in task: a prompt distribution, the ideal response (what the SFT warm start imitates) and a programmatic
 * reward in [0, 1] (1 = the ideal response). Prompts and responses are plain text for the byte-level tokenizer.
 */
public interface Task {
    String name();

    /** One line for --help and logs. */
    String description();

    /** A prompt drawn from the task's distribution with {@code rng}. */
    String prompt(SplittableRandom rng);

    /** The ideal response to {@code prompt} (without EOS). */
    String target(String prompt);

    /**
     * A demonstration for the SFT warm start: what an imperfect demonstrator answers to {@code prompt}. Defaults to
     * the ideal response; a task may mix in a plausible wrong behaviour, as real demonstration data does, so the SFT
     * policy carries both and PPO has to find out from the reward which one pays.
     */
    default String demonstration(String prompt, SplittableRandom rng) { return target(prompt); }

    /**
     * A response worse than the ideal one, for synthetic preference pairs (chosen = {@link #target}, rejected = this):
     * half of the time the demonstrator's other behaviour when it differs from the target, otherwise the target with
     * one character replaced by another character of the prompt or target (or dropped when there is none), so its
     * reward is always below 1.
     */
    default String rejected(String prompt, SplittableRandom rng) {
        String t = target(prompt);
        String d = demonstration(prompt, rng);
        if (!d.equals(t) && rng.nextBoolean()) return d;
        if (t.isEmpty()) return "?";
        int i = rng.nextInt(t.length());
        StringBuilder others = new StringBuilder();
        (prompt + t).chars().distinct().filter(ch -> ch != t.charAt(i) && Character.isLetterOrDigit(ch))
                .forEach(ch -> others.append((char) ch));   // ch came from String.chars(): a char value
        if (others.isEmpty()) return t.substring(0, i) + t.substring(i + 1);
        return t.substring(0, i) + others.charAt(rng.nextInt(others.length())) + t.substring(i + 1);
    }

    /** Reward of {@code response} (special tokens removed) to {@code prompt}, in [0, 1]. */
    double reward(String prompt, String response, boolean endedWithEos);

    /** The longest ideal response in tokens of the byte tokenizer (so max_new_tokens can be checked). */
    int maxTargetLength();

    /** This task's reward as a {@link RewardFunction}. */
    default RewardFunction rewardFunction() {
        Task task = this;
        return new RewardFunction() {
            @Override
            public double[] score(List<Sample> samples) {
                double[] s = new double[samples.size()];
                for (int i = 0; i < s.length; i++) {
                    Sample x = samples.get(i);
                    s[i] = task.reward(x.prompt(), x.response(), x.endedWithEos());
                }
                return s;
            }

            @Override
            public String name() { return task.name(); }
        };
    }

    /**
     * Position-wise agreement of two strings: matches / max(|a|, |b|) (1 when both are empty). Shared by the tasks
     * so a response of the wrong length is penalised by every missing or extra character.
     */
    static double positionalMatch(String response, String target) {
        int n = Math.max(response.length(), target.length());
        if (n == 0) return 1.0;
        int same = 0;
        for (int i = 0; i < Math.min(response.length(), target.length()); i++) {
            if (response.charAt(i) == target.charAt(i)) same++;
        }
        return (double) same / n;
    }
}
