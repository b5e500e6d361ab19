package dev.ppoengine.model;

import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The shared-backbone actor/critic of trl's {@code AutoModelForCausalLMWithValueHead} on GPT-2
 * (Radford et al. 2019; HF transformers' GPT2LMHeadModel): one forward gives logits and values, one backward
 * trains both heads and the backbone.
 * <pre>
 *   x⁰[b,t]  = wte[id[b,t]] + wpe[pos[b,t]]                  pos = max(cumsum(mask) − 1, 0) along t (HF's rule)
 *   per block l:  m = xˡ + c_proj(attn(ln_1(xˡ)))            attn: causal, heads, keys masked by attention_mask
 *                 xˡ⁺¹ = m + mlp.c_proj(gelu_tanh(mlp.c_fc(ln_2(m))))
 *   h        = ln_f(x^L)                                      [B, T, C]   (trl's value head reads hidden_states[-1] = h)
 *   logits   = h · wteᵀ                                       [B, W, V]   for positions t in [from, to) only
 *   values   = h · v_head.summary.weightᵀ + v_head.summary.bias   [B, T]   (dropout off)
 * </pre>
 * {@link #backward} takes d loss/d logits ([B, W, V], f32) and d loss/d values ([B, T]) of the last
 * {@link #forward} and adds d loss/d θ for every parameter into {@link Parameters#grad()} (call
 * {@link #zeroGrad()} between optimiser steps; accumulating over micro-batches is the caller's choice).
 * {@link #backwardFromHidden} is the same backward from d loss/d h (the fused LM head of {@link FusedLmHead}).
 *
 * <p>GEMMs run in OpenBLAS (JavaCPP preset) on the off-heap buffers; everything else is tight Java over
 * MemorySegments. Activations live in buffers reused by every step of the same or smaller size. Outputs at padded
 * positions are computed (finite) but meaningless: the padded rows attend to nothing and are attended by no one.
 * Not thread-safe.
 */
public final class PolicyValueModel implements AutoCloseable {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private final GptConfig cfg;
    private final Parameters params;
    private final boolean frozen;
    private Activations train;

    // State of the last training forward (what the backward needs).
    private int lastB = -1, lastT, lastFrom, lastTo;
    private int[] lastIds, lastPos, lastMask;

    private PolicyValueModel(GptConfig cfg, Parameters params, boolean frozen) {
        this.cfg = cfg;
        this.params = params;
        this.frozen = frozen;
    }

    /** A trainable model with zero weights (load or initialise them through {@link #parameters()}). */
    public static PolicyValueModel create(GptConfig cfg) {
        return new PolicyValueModel(cfg, new Parameters(cfg, true), false);
    }

    /** A trainable model with GPT-2's seeded initialisation ({@link Parameters#initGpt2}). */
    public static PolicyValueModel initialized(GptConfig cfg, long seed) {
        PolicyValueModel m = create(cfg);
        m.params.initGpt2(seed);
        return m;
    }

    /**
     * The frozen reference model of PPO: a separate copy of the current weights, without gradients
     * ({@link #backward} throws). Later updates of this model do not reach the copy.
     */
    public PolicyValueModel frozenCopy() {
        Parameters p = new Parameters(cfg, false);
        p.copyFrom(params);
        return new PolicyValueModel(cfg, p, true);
    }

    public GptConfig config() { return cfg; }
    public Parameters parameters() { return params; }
    public boolean isFrozen() { return frozen; }

    public void zeroGrad() { params.zeroGrad(); }

    // ------------------------------------------------------------------ forward

    /** Forward with logits for every position. */
    public ModelOutput forward(int[] inputIds, int[] attentionMask, int batch, int seqLen) {
        return forward(inputIds, attentionMask, batch, seqLen, 0, seqLen);
    }

    /**
     * Forward of a [batch, seqLen] batch (row-major ids; attentionMask nullable = all valid, nonzero = valid; left
     * padding as HF). Logits are computed only for positions t in [logitsFrom, logitsTo) of every row (the response
     * window of PPO); values for every position. The returned tensors view internal buffers and stay valid until the
     * next forward of this model.
     */
    public ModelOutput forward(int[] inputIds, int[] attentionMask, int batch, int seqLen, int logitsFrom, int logitsTo) {
        checkBatch(inputIds, attentionMask, batch, seqLen);
        if (logitsFrom < 0 || logitsFrom > logitsTo || logitsTo > seqLen) {
            throw new IllegalArgumentException("logits window: expected 0 <= logitsFrom <= logitsTo <= seqLen=" + seqLen
                    + ", got [" + logitsFrom + ", " + logitsTo + ")");
        }
        int n = Math.multiplyExact(batch, seqLen);
        if (train == null || train.capTokens < n) {
            if (train != null) train.close();
            // A frozen model never runs a backward: it keeps one layer's activations, not all of them.
            train = new Activations(cfg, n, !frozen);
        }
        int[] mask = attentionMask == null ? null : attentionMask.clone();
        int[] pos = positions(mask, batch, seqLen);
        lastB = -1;
        run(train, batch, seqLen, 0, inputIds, pos, mask, seqLen, null, logitsFrom, logitsTo);
        lastB = batch;
        lastT = seqLen;
        lastFrom = logitsFrom;
        lastTo = logitsTo;
        lastIds = inputIds.clone();
        lastPos = pos;
        lastMask = mask;
        return output(train, batch, seqLen, logitsFrom, logitsTo);
    }

    /** Forward of input_ids [B, T] (i32/i64) with an optional attention_mask [B, T] (any mask dtype); all logits. */
    public ModelOutput forward(Tensor inputIds, Tensor attentionMask) {
        if (inputIds.rank() != 2) throw new IllegalArgumentException("input_ids: expected shape [B, T], got " + inputIds.shapeString());
        if (inputIds.dtype() != DType.I32 && inputIds.dtype() != DType.I64) {
            throw new IllegalArgumentException("input_ids: expected dtype i32 or i64, got " + inputIds.dtype());
        }
        int b = Math.toIntExact(inputIds.dim(0)), t = Math.toIntExact(inputIds.dim(1));
        int[] ids = new int[b * t];
        for (int i = 0; i < ids.length; i++) {
            long v = inputIds.getLong(i);
            if (v < 0 || v >= cfg.vocabSize()) {
                throw new IllegalArgumentException("input_ids[" + i / t + ", " + i % t + "] = " + v
                        + " is outside [0, vocab_size=" + cfg.vocabSize() + ")");
            }
            ids[i] = (int) v;   // checked in [0, vocab_size) above: exact
        }
        int[] mask = null;
        if (attentionMask != null) {
            if (attentionMask.rank() != 2 || attentionMask.dim(0) != b || attentionMask.dim(1) != t) {
                throw new IllegalArgumentException("attention_mask: expected shape [" + b + ", " + t + "], got "
                        + attentionMask.shapeString());
            }
            mask = new int[b * t];
            for (int i = 0; i < mask.length; i++) mask[i] = attentionMask.isSet(i) ? 1 : 0;
        }
        return forward(ids, mask, b, t);
    }

    private void checkBatch(int[] ids, int[] mask, int batch, int seqLen) {
        if (batch < 1 || seqLen < 1) throw new IllegalArgumentException("batch and seqLen must be >= 1, got " + batch + "x" + seqLen);
        if (seqLen > cfg.nPositions()) {
            throw new IllegalArgumentException("seqLen " + seqLen + " exceeds n_positions=" + cfg.nPositions());
        }
        long n = (long) batch * seqLen;
        if (ids.length != n) throw new IllegalArgumentException("inputIds: expected " + n + " ids for [" + batch + ", " + seqLen + "], got " + ids.length);
        if (mask != null && mask.length != n) {
            throw new IllegalArgumentException("attentionMask: expected " + n + " entries for [" + batch + ", " + seqLen + "], got " + mask.length);
        }
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= cfg.vocabSize()) {
                throw new IllegalArgumentException("inputIds[" + i / seqLen + ", " + i % seqLen + "] = " + ids[i]
                        + " is outside [0, vocab_size=" + cfg.vocabSize() + ")");
            }
        }
    }

    /** HF's position ids: cumsum(mask) − 1 clamped at 0 (plain 0..T−1 without a mask). */
    static int[] positions(int[] mask, int batch, int seqLen) {
        int[] pos = new int[batch * seqLen];
        for (int b = 0; b < batch; b++) {
            int count = 0;
            for (int t = 0; t < seqLen; t++) {
                int i = b * seqLen + t;
                if (mask == null || mask[i] != 0) count++;
                pos[i] = Math.max(count - 1, 0);
            }
        }
        return pos;
    }

    private ModelOutput output(Activations a, int batch, int seqLen, int from, int to) {
        int w = to - from;
        long v = cfg.vocabSize(), c = cfg.nEmbd();
        long nLogits = (long) batch * w * v;
        Tensor logits = Tensor.of(a.logits.asSlice(0, Math.max(nLogits, 0) * 4), DType.F32, batch, w, v);
        Tensor values = Tensor.of(a.values.asSlice(0, (long) batch * seqLen * 4), DType.F32, batch, seqLen);
        Tensor hidden = Tensor.of(a.lnf.asSlice(0, (long) batch * seqLen * c * 4), DType.F32, batch, seqLen, c);
        return new ModelOutput(logits, values, hidden, from, to);
    }

    /**
     * The forward pass over tq new tokens per row placed after {@code past} cached ones (past = 0 and cache = null
     * for training). keyMask has maskStride entries per row covering keys [0, past + tq).
     */
    void run(Activations a, int batch, int tq, int past, int[] ids, int[] pos, int[] keyMask, int maskStride,
             KvCache cache, int from, int to) {
        int n = batch * tq, c = cfg.nEmbd(), inner = cfg.nInner(), h = cfg.nHead(), d = cfg.headSize();
        int tk = past + tq;
        MemorySegment p = params.data();
        double eps = cfg.layerNormEpsilon();
        long wte = params.wte(), wpe = params.wpe();

        // Embeddings: x⁰ = wte[id] + wpe[pos].
        MemorySegment x0 = a.input(0);
        Parallel.forRange(n, Math.max(1, 8192 / c), (lo, hi) -> {
            for (long i = lo; i < hi; i++) {
                // i < n = B·T, an int: the narrowing is exact.
                long te = wte + (long) ids[(int) i] * c, pe = wpe + (long) pos[(int) i] * c, o = i * c;
                for (int j = 0; j < c; j++) x0.setAtIndex(F, o + j, p.getAtIndex(F, te + j) + p.getAtIndex(F, pe + j));
            }
        });
        a.ensureScratch((long) tq * tk);
        for (int l = 0; l < cfg.nLayer(); l++) {
            Parameters.Layer lp = params.layer(l);
            int s = a.slot(l);
            MemorySegment in = a.input(l);
            LayerNorm.forward(in, a.ln1[s], a.ln1Mean[s], a.ln1Rstd[s], p, lp.ln1W(), lp.ln1B(), n, c, eps);
            Conv1D.forward(a.ln1[s], a.qkv[s], p, lp.attnW(), lp.attnB(), n, c, 3 * c, false);
            CausalAttention.Operand q = new CausalAttention.Operand(a.qkv[s], 0, (long) tq * 3 * c, 3 * c);
            CausalAttention.Operand k, v;
            if (cache == null) {
                k = new CausalAttention.Operand(a.qkv[s], c, (long) tq * 3 * c, 3 * c);
                v = new CausalAttention.Operand(a.qkv[s], 2L * c, (long) tq * 3 * c, 3 * c);
            } else {
                cache.store(l, a.qkv[s], tq, past);
                k = new CausalAttention.Operand(cache.k[l], 0, (long) cache.maxLen * c, c);
                v = new CausalAttention.Operand(cache.v[l], 0, (long) cache.maxLen * c, c);
            }
            CausalAttention.forward(batch, tq, tk, past, h, d, q, k, v, keyMask, maskStride,
                    a.attY[s], a.training ? a.lse[s] : null, a.scratchP, a.scratchCap);
            MemorySegment.copy(in, 0, a.resMid[s], 0, (long) n * c * 4);
            Conv1D.forward(a.attY[s], a.resMid[s], p, lp.projW(), lp.projB(), n, c, c, true);
            LayerNorm.forward(a.resMid[s], a.ln2[s], a.ln2Mean[s], a.ln2Rstd[s], p, lp.ln2W(), lp.ln2B(), n, c, eps);
            Conv1D.forward(a.ln2[s], a.fcPre[s], p, lp.fcW(), lp.fcB(), n, c, inner, false);
            Gelu.forward(a.fcPre[s], a.fcGelu, a.training ? a.fcTanh[s] : null, (long) n * inner);
            MemorySegment out = a.input(l + 1);
            MemorySegment.copy(a.resMid[s], 0, out, 0, (long) n * c * 4);
            Conv1D.forward(a.fcGelu, out, p, lp.mlpProjW(), lp.mlpProjB(), n, inner, c, true);
        }
        MemorySegment last = a.input(cfg.nLayer());
        LayerNorm.forward(last, a.lnf, a.lnfMean, a.lnfRstd, p, params.lnfW(), params.lnfB(), n, c, eps);

        // Value head on every position.
        long vw = params.vHeadW();
        float vb = p.getAtIndex(F, params.vHeadB());
        Parallel.forRange(n, Math.max(1, 8192 / c), (lo, hi) -> {
            for (long i = lo; i < hi; i++) {
                long o = i * c;
                double acc = 0;
                for (int j = 0; j < c; j++) acc += a.lnf.getAtIndex(F, o + j) * p.getAtIndex(F, vw + j);
                a.values.setAtIndex(F, i, (float) acc + vb);
            }
        });

        // Tied LM head on the window rows: logits = h · wteᵀ.
        int w = to - from, vocab = cfg.vocabSize();
        a.ensureLogits(Math.max((long) batch * w * vocab, 1));
        if (w == 0) return;
        if (w == tq) {
            Blas.sgemm(false, true, n, vocab, c, 1f, a.lnf, 0, c, p, wte, c, 0f, a.logits, 0, vocab);
        } else {
            for (int b = 0; b < batch; b++) {
                Blas.sgemm(false, true, w, vocab, c, 1f, a.lnf, ((long) b * tq + from) * c, c, p, wte, c,
                        0f, a.logits, (long) b * w * vocab, vocab);
            }
        }
    }

    // ------------------------------------------------------------------ backward

    /**
     * Adds d loss/d θ into the gradients, given gradLogits (f32 [B, W, V] dense, the window of the last forward; may
     * be the returned logits tensor itself, overwritten in place by token_logprobs_backward; null = no policy term)
     * and gradValues ([B, T], any float dtype; null = no value term).
     */
    public void backward(Tensor gradLogits, Tensor gradValues) {
        backward(gradLogits, null, gradValues);
    }

    /**
     * As {@link #backward} with d loss/d h given directly instead of through the tied LM head: gradHidden is f32
     * [B, T, C] dense (d loss/d h, h = ln_f(x^L) of the last forward; null = no policy term) and is added to the value
     * head's d h; the LM-head GEMMs are skipped. This is the backbone's half of {@link FusedLmHead} (whose backward has
     * already added d wte of the head and returns this d h).
     */
    public void backwardFromHidden(Tensor gradHidden, Tensor gradValues) {
        if (gradHidden != null) {
            long[] expect = {lastB, lastT, cfg.nEmbd()};
            if (lastB >= 0 && !java.util.Arrays.equals(gradHidden.shape(), expect)) {
                throw new IllegalArgumentException("gradHidden: expected shape " + java.util.Arrays.toString(expect)
                        + " (the hidden states of the last forward), got " + gradHidden.shapeString());
            }
            if (gradHidden.dtype() != DType.F32 || !gradHidden.isDense() || gradHidden.isDevice()) {
                throw new IllegalArgumentException("gradHidden: expected a dense host f32 tensor, got " + gradHidden);
            }
        }
        backward(null, gradHidden, gradValues);
    }

    /** The backward of both entry points: d h = value head + gradHidden + LM head (each term optional). */
    private void backward(Tensor gradLogits, Tensor gradHidden, Tensor gradValues) {
        if (frozen) throw new IllegalStateException("the frozen reference model has no gradients");
        if (lastB < 0) throw new IllegalStateException("backward needs a preceding forward of this model");
        int batch = lastB, t = lastT, w = lastTo - lastFrom, c = cfg.nEmbd(), inner = cfg.nInner(), vocab = cfg.vocabSize();
        int n = batch * t, h = cfg.nHead(), d = cfg.headSize();
        if (gradLogits != null) {
            long[] expect = {batch, w, vocab};
            if (!java.util.Arrays.equals(gradLogits.shape(), expect)) {
                throw new IllegalArgumentException("gradLogits: expected shape " + java.util.Arrays.toString(expect)
                        + " (the logits window of the last forward), got " + gradLogits.shapeString());
            }
            if (gradLogits.dtype() != DType.F32 || !gradLogits.isDense() || gradLogits.isDevice()) {
                throw new IllegalArgumentException("gradLogits: expected a dense host f32 tensor, got " + gradLogits);
            }
        }
        if (gradValues != null) {
            if (gradValues.rank() != 2 || gradValues.dim(0) != batch || gradValues.dim(1) != t) {
                throw new IllegalArgumentException("gradValues: expected shape [" + batch + ", " + t + "], got " + gradValues.shapeString());
            }
            if (!gradValues.dtype().isFloating()) {
                throw new IllegalArgumentException("gradValues: expected a float dtype, got " + gradValues.dtype());
            }
        }
        Activations a = train;
        a.ensureBackward();
        MemorySegment p = params.data(), g = params.grad();

        // Heads → d h (dlnf).
        a.dlnf.asSlice(0, (long) n * c * 4).fill((byte) 0);
        if (gradValues != null) {
            // d h[n] = gv[n]·w_v;  d w_v = Σ_n gv[n]·h[n] (a [1, N]·[N, C] product);  d b_v = Σ_n gv[n]
            long vw = params.vHeadW();
            MemorySegment gv = a.gradValues;
            for (int i = 0; i < n; i++) gv.setAtIndex(F, i, gradValues.getFloat(i));
            Parallel.forRange(n, Math.max(1, 8192 / c), (lo, hi) -> {
                for (long i = lo; i < hi; i++) {
                    float gi = gv.getAtIndex(F, i);
                    long o = i * c;
                    for (int j = 0; j < c; j++) a.dlnf.setAtIndex(F, o + j, gi * p.getAtIndex(F, vw + j));
                }
            });
            Blas.sgemm(false, false, 1, c, n, 1f, gv, 0, n, a.lnf, 0, c, 1f, g, vw, c);
            Conv1D.columnSums(gv, n, 1, g, params.vHeadB());
        }
        if (gradHidden != null) {
            // d h += gradHidden (after the value head, which writes d h rather than adding to it)
            MemorySegment gh = gradHidden.segment();
            Parallel.forRange((long) n * c, 8192, (lo, hi) -> {
                for (long i = lo; i < hi; i++) a.dlnf.setAtIndex(F, i, a.dlnf.getAtIndex(F, i) + gh.getAtIndex(F, i));
            });
        }
        if (gradLogits != null && w > 0) {
            MemorySegment dl = gradLogits.segment();
            long wte = params.wte();
            if (w == t) {
                Blas.sgemm(false, false, n, c, vocab, 1f, dl, 0, vocab, p, wte, c, 1f, a.dlnf, 0, c);
                Blas.sgemm(true, false, vocab, c, n, 1f, dl, 0, vocab, a.lnf, 0, c, 1f, g, wte, c);
            } else {
                for (int b = 0; b < batch; b++) {
                    long rows = ((long) b * t + lastFrom) * c, lo = (long) b * w * vocab;
                    Blas.sgemm(false, false, w, c, vocab, 1f, dl, lo, vocab, p, wte, c, 1f, a.dlnf, rows, c);
                    Blas.sgemm(true, false, vocab, c, w, 1f, dl, lo, vocab, a.lnf, rows, c, 1f, g, wte, c);
                }
            }
        }
        // ln_f → d x^L
        a.dres.asSlice(0, (long) n * c * 4).fill((byte) 0);
        LayerNorm.backward(a.res[cfg.nLayer()], a.lnfMean, a.lnfRstd, a.dlnf, a.dres, p, g, params.lnfW(), params.lnfB(), n, c);

        for (int l = cfg.nLayer() - 1; l >= 0; l--) {
            Parameters.Layer lp = params.layer(l);
            // xˡ⁺¹ = m + mlp.c_proj(gelu(c_fc(ln_2(m)))): dres is d xˡ⁺¹ and also the direct part of d m.
            Gelu.recompute(a.fcPre[l], a.fcTanh[l], a.fcGelu, (long) n * inner);
            Conv1D.backward(a.fcGelu, a.dres, a.dfc, false, p, g, lp.mlpProjW(), lp.mlpProjB(), n, inner, c);
            Gelu.backward(a.fcPre[l], a.fcTanh[l], a.dfc, (long) n * inner);
            Conv1D.backward(a.ln2[l], a.dfc, a.dln, false, p, g, lp.fcW(), lp.fcB(), n, c, inner);
            LayerNorm.backward(a.resMid[l], a.ln2Mean[l], a.ln2Rstd[l], a.dln, a.dres, p, g, lp.ln2W(), lp.ln2B(), n, c);
            // m = xˡ + c_proj(attn(ln_1(xˡ))): dres is now d m, also the direct part of d xˡ.
            Conv1D.backward(a.attY[l], a.dres, a.dattY, false, p, g, lp.projW(), lp.projB(), n, c, c);
            CausalAttention.backward(batch, t, h, d, a.qkv[l], lastMask, a.lse[l], a.dattY, a.dqkv, a.scratchP, a.scratchD, a.scratchCap);
            Conv1D.backward(a.ln1[l], a.dqkv, a.dln, false, p, g, lp.attnW(), lp.attnB(), n, c, 3 * c);
            LayerNorm.backward(a.res[l], a.ln1Mean[l], a.ln1Rstd[l], a.dln, a.dres, p, g, lp.ln1W(), lp.ln1B(), n, c);
        }
        // Embeddings: scatter-add d x⁰ into the rows used.
        long wte = params.wte(), wpe = params.wpe();
        for (int i = 0; i < n; i++) {
            long te = wte + (long) lastIds[i] * c, pe = wpe + (long) lastPos[i] * c, o = (long) i * c;
            for (int j = 0; j < c; j++) {
                float dv = a.dres.getAtIndex(F, o + j);
                g.setAtIndex(F, te + j, g.getAtIndex(F, te + j) + dv);
                g.setAtIndex(F, pe + j, g.getAtIndex(F, pe + j) + dv);
            }
        }
    }

    @Override
    public void close() {
        if (train != null) train.close();
        params.close();
    }
}
