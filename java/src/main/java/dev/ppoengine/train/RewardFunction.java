package dev.ppoengine.train;

import java.util.List;

/**
 * Scores finished rollouts: one scalar per sequence (the "score" that kl_shaped_rewards places at the last token
 * or just after it). Implementations: the programmatic rewards of the built-in {@link Task}s and
 * {@link RewardModel} (a learned scalar head on the same backbone).
 */
public interface RewardFunction extends AutoCloseable {

    /**
     * One rollout: the prompt and the response as text (special tokens removed) and as ids (the prompt without
     * padding, the response with its EOS when it emitted one).
     */
    record Sample(String prompt, String response, int[] promptIds, int[] responseIds, boolean endedWithEos) {}

    /** One score per sample, in order. Must be finite. */
    double[] score(List<Sample> samples);

    /** A short name for logs. */
    String name();

    @Override
    default void close() {}
}
