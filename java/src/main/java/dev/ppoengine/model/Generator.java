package dev.ppoengine.model;

import java.util.List;
import java.util.SplittableRandom;

/**
 * Batched autoregressive generation with a KV cache.
 * <pre>
 *   prompts are left-padded to Tp = max prompt length (mask 0 on the padding, position ids = cumsum(mask) − 1);
 *   prefill: one forward over [B, Tp] stores K, V of every layer and gives the logits at t = Tp − 1;
 *   step s: sample token s of every unfinished row, feed the new [B, 1] tokens at index Tp + s with
 *           attention over the cached keys 0 .. Tp + s (masked keys excluded), repeat.
 * </pre>
 * A row stops after EOS; afterwards it is fed the pad id with mask 0, which no other row can see. Each row owns a
 * random generator split in row order from {@code seed}, so results are reproducible for the same prompts and options.
 * {@code useKvCache = false} recomputes the whole sequence every step instead (the test oracle; same results).
 */
public final class Generator implements AutoCloseable {
    private final PolicyValueModel model;
    private final GptConfig cfg;
    private Activations acts;

    public Generator(PolicyValueModel model) {
        this.model = model;
        this.cfg = model.config();
    }

    public GenerationResult generate(List<int[]> prompts, SamplingOptions o) {
        return generate(prompts, o, true);
    }

    public GenerationResult generate(List<int[]> prompts, SamplingOptions o, boolean useKvCache) {
        int batch = prompts.size();
        if (batch == 0) throw new IllegalArgumentException("prompts: expected at least one prompt");
        int vocab = cfg.vocabSize();
        if (o.eosTokenId() >= vocab) throw new IllegalArgumentException("eos_token_id " + o.eosTokenId() + " >= vocab_size " + vocab);
        if (o.padTokenId() >= vocab) throw new IllegalArgumentException("pad_token_id " + o.padTokenId() + " >= vocab_size " + vocab);
        int tp = 0;
        for (int b = 0; b < batch; b++) {
            int[] p = prompts.get(b);
            if (p == null || p.length == 0) throw new IllegalArgumentException("prompt " + b + " is empty (needs at least one token, e.g. BOS)");
            for (int i = 0; i < p.length; i++) {
                if (p[i] < 0 || p[i] >= vocab) {
                    throw new IllegalArgumentException("prompt " + b + " token " + i + " = " + p[i] + " is outside [0, vocab_size=" + vocab + ")");
                }
            }
            tp = Math.max(tp, p.length);
        }
        int maxT = tp + o.maxNewTokens();
        if (maxT > cfg.nPositions()) {
            throw new IllegalArgumentException("prompt length " + tp + " + max_new_tokens " + o.maxNewTokens()
                    + " exceeds n_positions=" + cfg.nPositions());
        }
        int[] ids = new int[batch * maxT];
        int[] mask = new int[batch * maxT];
        int[] valid = new int[batch];   // valid tokens so far per row (for position ids)
        for (int b = 0; b < batch; b++) {
            int[] p = prompts.get(b);
            int pad = tp - p.length;
            for (int t = 0; t < tp; t++) {
                ids[b * maxT + t] = t < pad ? o.padTokenId() : p[t - pad];
                mask[b * maxT + t] = t < pad ? 0 : 1;
            }
            valid[b] = p.length;
        }
        SplittableRandom root = new SplittableRandom(o.seed());
        SplittableRandom[] rngs = new SplittableRandom[batch];
        for (int b = 0; b < batch; b++) rngs[b] = root.split();
        Sampler sampler = new Sampler(o, vocab);
        int[][] tokens = new int[batch][o.maxNewTokens()];
        float[][] logprobs = new float[batch][o.maxNewTokens()];
        int[] produced = new int[batch];
        boolean[] done = new boolean[batch];
        boolean[] eos = new boolean[batch];

        KvCache cache = useKvCache ? new KvCache(cfg, batch, maxT) : null;
        try {
            if (useKvCache) {
                ensureActs(batch * tp);
                // Scores scratch: [tp, tp] for the prefill, [1, ≤ maxT] per step — sized once for both.
                acts.ensureScratch(Math.max((long) tp * tp, maxT));
                int[] pid = new int[batch * tp], pmask = new int[batch * tp];
                for (int b = 0; b < batch; b++) {
                    System.arraycopy(ids, b * maxT, pid, b * tp, tp);
                    System.arraycopy(mask, b * maxT, pmask, b * tp, tp);
                }
                model.run(acts, batch, tp, 0, pid, PolicyValueModel.positions(pmask, batch, tp), mask, maxT, cache, tp - 1, tp);
            } else {
                recompute(ids, mask, batch, maxT, tp);
            }
            for (int s = 0; s < o.maxNewTokens(); s++) {
                int t = tp + s;   // sequence index of the token being chosen
                boolean any = false;
                for (int b = 0; b < batch; b++) {
                    if (done[b]) {
                        ids[b * maxT + t] = o.padTokenId();
                        continue;
                    }
                    Sampler.Pick pick = sampler.sample(useKvCache ? acts.logits : recomputed.logits().segment(),
                            (long) b * vocab, rngs[b]);
                    ids[b * maxT + t] = pick.token();
                    mask[b * maxT + t] = 1;
                    valid[b]++;
                    tokens[b][produced[b]] = pick.token();
                    logprobs[b][produced[b]] = (float) pick.logprob();
                    produced[b]++;
                    if (pick.token() == o.eosTokenId()) {
                        done[b] = true;
                        eos[b] = true;
                    } else {
                        any = true;
                    }
                }
                if (!any || s == o.maxNewTokens() - 1) break;
                if (useKvCache) {
                    int[] stepIds = new int[batch], stepPos = new int[batch];
                    for (int b = 0; b < batch; b++) {
                        stepIds[b] = ids[b * maxT + t];
                        stepPos[b] = Math.max(valid[b] - 1, 0);
                    }
                    model.run(acts, batch, 1, t, stepIds, stepPos, mask, maxT, cache, 0, 1);
                } else {
                    recompute(ids, mask, batch, maxT, t + 1);
                }
            }
        } finally {
            if (cache != null) cache.close();
        }
        int[][] outTokens = new int[batch][];
        float[][] outLogprobs = new float[batch][];
        for (int b = 0; b < batch; b++) {
            outTokens[b] = java.util.Arrays.copyOf(tokens[b], produced[b]);
            outLogprobs[b] = java.util.Arrays.copyOf(logprobs[b], produced[b]);
        }
        return new GenerationResult(outTokens, outLogprobs, eos);
    }

    private ModelOutput recomputed;

    /** Full forward of the first {@code len} positions; logits of the last one. */
    private void recompute(int[] ids, int[] mask, int batch, int maxT, int len) {
        int[] sid = new int[batch * len], smask = new int[batch * len];
        for (int b = 0; b < batch; b++) {
            System.arraycopy(ids, b * maxT, sid, b * len, len);
            System.arraycopy(mask, b * maxT, smask, b * len, len);
        }
        recomputed = model.forward(sid, smask, batch, len, len - 1, len);
    }

    private void ensureActs(int tokens) {
        if (acts == null || acts.capTokens < tokens) {
            if (acts != null) acts.close();
            acts = new Activations(cfg, tokens, false);
        }
    }

    @Override
    public void close() {
        if (acts != null) acts.close();
    }
}
