package dev.ppoengine.model;

import dev.ppoengine.kernels.LinearTokenLogprobs;
import dev.ppoengine.kernels.LogprobOptions;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The actor head of {@link PolicyValueModel} through linear_token_logprobs ({@code --fused-lm-head}): log-probs
 * (and entropy) of the response tokens straight from the final hidden states h = ln_f(x^L) and the tied LM head
 * weight wte, without the [B, W, V] logits the model's own head materialises.
 * <pre>
 *   forward:  model.forward(ids, mask, B, T, from, from)      (empty logits window: no logits computed)
 *             H_w = h[b, from + w]  for w in [0, W), W = to − from        [B·W, C]  (copied out of h, O(N·C))
 *             logprobs, entropy [B, W] = linear_token_logprobs(H_w, wte [V, C], labels [B, W])
 *   backward: d H_w = dZ·wte,  d wte += dZᵀ·H_w     (dZ never stored; d wte added into the model's gradients)
 *             returns d h [B, T, C] (0 outside the window) for the backbone's backward
 * </pre>
 * labels[b, w] is the token at position from + w + 1 (what logits[b, w] of {@link ModelOutput} predicts).
 * The caller passes the returned d h to {@link PolicyValueModel#backwardFromHidden} (the model's backward with d h
 * taken from it instead of the LM-head GEMMs). Not thread-safe; buffers are reused across calls.
 */
public final class FusedLmHead implements AutoCloseable {

    /** One forward: values [B, T] and the window's log-probs / entropy [B, W] (views valid until the next forward). */
    public record Output(Tensor values, Tensor logprobs, Tensor entropy) {}

    private final PolicyValueModel model;
    private final LinearTokenLogprobs op;
    private Arena arena = Arena.ofShared();
    private long capTokens = -1;
    private MemorySegment windowHidden, logprobs, entropy, saved, gradWindow, gradHidden;

    // State of the last forward that the backward needs.
    private int lastB = -1, lastT, lastFrom, lastTo;
    private Tensor lastLabels;
    private LogprobOptions lastOptions;
    private boolean lastSaved;

    /** @param op the linear_token_logprobs backend (e.g. {@code LinearTokenLogprobs.create("auto")}) */
    public FusedLmHead(PolicyValueModel model, LinearTokenLogprobs op) {
        if (model == null) throw new IllegalArgumentException("model must not be null");
        if (op == null) throw new IllegalArgumentException("op must not be null");
        this.model = model;
        this.op = op;
    }

    /**
     * Forward of the model and the fused head on positions [from, to) of every row. {@code training} keeps the
     * statistics the backward needs (the PPO update); rollouts (old / reference log-probs) pass false.
     */
    public Output forward(int[] inputIds, int[] attentionMask, int batch, int seqLen, int from, int to, Tensor labels,
                          LogprobOptions options, boolean wantEntropy, boolean training) {
        if (from < 0 || from > to || to > seqLen) {
            throw new IllegalArgumentException("window: expected 0 <= from <= to <= seqLen=" + seqLen + ", got [" + from
                    + ", " + to + ")");
        }
        int w = to - from, c = model.config().nEmbd();
        if (labels == null || labels.rank() != 2 || labels.dim(0) != batch || labels.dim(1) != w) {
            throw new IllegalArgumentException("labels: expected shape [" + batch + ", " + w + "] (the window), got "
                    + (labels == null ? "null" : labels.shapeString()));
        }
        ModelOutput out = model.forward(inputIds, attentionMask, batch, seqLen, from, from);
        long n = (long) batch * w;
        ensure(n, (long) batch * seqLen);
        MemorySegment h = out.hidden().segment();
        for (int b = 0; b < batch; b++) {
            // window rows of sequence b are contiguous in h: [b·T + from, b·T + to)
            MemorySegment.copy(h, ((long) b * seqLen + from) * c * 4, windowHidden, (long) b * w * c * 4, (long) w * c * 4);
        }
        Tensor hw = Tensor.of(windowHidden, DType.F32, n, c);
        Tensor lp = Tensor.of(logprobs, DType.F32, batch, w);
        Tensor ent = wantEntropy ? Tensor.of(entropy, DType.F32, batch, w) : null;
        Tensor sv = training ? Tensor.of(saved, DType.F32, n, 3) : null;
        op.forward(hw, wte(model.parameters().data()), null, labels.reshape(n), options, lp.reshape(n),
                ent == null ? null : ent.reshape(n), sv);
        lastB = batch;
        lastT = seqLen;
        lastFrom = from;
        lastTo = to;
        lastLabels = labels.reshape(n);
        lastOptions = options;
        lastSaved = training;
        return new Output(out.values(), lp, ent);
    }

    /**
     * d loss / d logprobs (and entropy, nullable) [B, W] of the last training forward → adds d wte into the model's
     * gradients and returns d h [B, T, C] (f32; rows outside the window 0), valid until the next call.
     */
    public Tensor backward(Tensor gradLogprobs, Tensor gradEntropy) {
        if (lastB < 0 || !lastSaved) throw new IllegalStateException("backward needs a preceding training forward");
        int b = lastB, t = lastT, w = lastTo - lastFrom, c = model.config().nEmbd();
        long n = (long) b * w;
        Tensor gh = Tensor.of(gradWindow.asSlice(0, n * c * 4), DType.F32, n, c);
        // accumulate = true adds into d wte (the model's gradients) and into d H_w alike: start d H_w from 0, not from
        // the previous call's contents.
        gh.segment().fill((byte) 0);
        op.backward(Tensor.of(windowHidden, DType.F32, n, c), wte(model.parameters().data()), null, lastLabels,
                Tensor.of(saved, DType.F32, n, 3), flat(gradLogprobs, "grad_logprobs", n),
                gradEntropy == null ? null : flat(gradEntropy, "grad_entropy", n), lastOptions, gh,
                wte(model.parameters().grad()), null, true);
        gradHidden.asSlice(0, (long) b * t * c * 4).fill((byte) 0);
        for (int r = 0; r < b; r++) {
            MemorySegment.copy(gradWindow, (long) r * w * c * 4, gradHidden, ((long) r * t + lastFrom) * c * 4, (long) w * c * 4);
        }
        return Tensor.of(gradHidden.asSlice(0, (long) b * t * c * 4), DType.F32, b, t, c);
    }

    private Tensor flat(Tensor g, String name, long n) {
        if (g.rank() != 2 || g.dim(0) != lastB || g.dim(1) != lastTo - lastFrom) {
            throw new IllegalArgumentException(name + ": expected shape [" + lastB + ", " + (lastTo - lastFrom)
                    + "] (the window of the last forward), got " + g.shapeString());
        }
        return g.reshape(n);
    }

    /** wte [V, C] inside the model's flat parameter (or gradient) buffer. */
    private Tensor wte(MemorySegment flat) {
        GptConfig cfg = model.config();
        long bytes = (long) cfg.vocabSize() * cfg.nEmbd() * 4;
        return Tensor.of(flat.asSlice(model.parameters().wte() * 4, bytes), DType.F32, cfg.vocabSize(), cfg.nEmbd());
    }

    /** Buffers for n window tokens and `all` tokens (grown, never shrunk). */
    private void ensure(long n, long all) {
        long need = Math.max(n, all);
        if (need <= capTokens) return;
        arena.close();
        arena = Arena.ofShared();
        long c = model.config().nEmbd(), cap = Math.max(need, 1);
        windowHidden = arena.allocate(cap * c * 4, 64);
        gradWindow = arena.allocate(cap * c * 4, 64);
        gradHidden = arena.allocate(cap * c * 4, 64);
        logprobs = arena.allocate(cap * 4, 64);
        entropy = arena.allocate(cap * 4, 64);
        saved = arena.allocate(cap * 12, 64);
        capTokens = need;
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) arena.close();
    }
}
