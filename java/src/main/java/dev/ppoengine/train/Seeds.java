package dev.ppoengine.train;

import java.util.SplittableRandom;

/**
 * Every random stream of a run is derived from (config seed, step, stream id[, sub-index]) alone, so a run resumed
 * at step s draws exactly what the uninterrupted run drew at step s: no generator state has to survive a restart.
 * The mixing function is the SplitMix64 finaliser (Steele, Lea &amp; Flood, "Fast splittable pseudorandom number
 * generators", OOPSLA 2014), applied once per component.
 */
public final class Seeds {
    private Seeds() {}

    /** Stream ids. */
    public static final int PROMPTS = 1, GENERATE = 2, SHUFFLE = 3, SFT_DATA = 4, SFT_SHUFFLE = 5, INIT = 6, EVAL = 7;

    public static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /** The seed of {@code stream} at {@code step} (sub-index {@code sub}, e.g. the PPO epoch). */
    public static long of(long seed, long step, int stream, long sub) {
        long z = mix(seed + 0x9e3779b97f4a7c15L);
        z = mix(z ^ (step * 0x9e3779b97f4a7c15L + stream));
        return mix(z ^ (sub + 0x632be59bd9b4e019L));
    }

    public static SplittableRandom rng(long seed, long step, int stream, long sub) {
        return new SplittableRandom(of(seed, step, stream, sub));
    }

    /** A Fisher–Yates permutation of 0..n−1. */
    public static int[] permutation(int n, SplittableRandom rng) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int tmp = p[i];
            p[i] = p[j];
            p[j] = tmp;
        }
        return p;
    }
}
