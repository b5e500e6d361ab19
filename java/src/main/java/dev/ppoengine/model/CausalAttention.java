package dev.ppoengine.model;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Causal multi-head self-attention core (Vaswani et al. 2017; GPT-2 layout of HF's GPT2Attention), per sequence b
 * and head h, with head size d and s = 1/sqrt(d):
 * <pre>
 *   S = s · Q Kᵀ                     [Tq, Tk]   (OpenBLAS GEMMs)
 *   P_ij = softmax_j(S_ij) over visible keys, 0 elsewhere;  lse_i = log Σ_visible exp S_ij
 *   Y = P V                          [Tq, d]
 * </pre>
 * Query i sits at absolute position past + i; key j is visible to it iff j ≤ past + i and the key's attention-mask
 * entry is nonzero (left padding and masked keys are excluded, as HF's attention_mask does). A query that sees no key
 * (a padding row at the far left) gets Y = 0 and lse = −∞.
 *
 * <p>Memory: P is not stored. The forward keeps lse per (b, h, i) and the backward recomputes
 * P_ij = exp(S_ij − lse_i) from Q and K (the FlashAttention idea), so activations are O(B·H·T), not O(B·H·T²).
 * Backward: dP = dY Vᵀ, dV = Pᵀ dY, dS = P ⊙ (dP − rowsum(P ⊙ dP)), dQ = s·dS K, dK = s·dSᵀ Q.
 *
 * <p>The (b, h) pairs run in parallel, each on its own scratch slot with single-threaded GEMMs; each pair writes
 * only its own columns of Y / dqkv, so the result does not depend on the schedule.
 */
final class CausalAttention {
    private CausalAttention() {}

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    /** Where Q, K, V of sequence b, head h start: base + b·batchStride + h·d, rows ld elements apart. */
    record Operand(MemorySegment seg, long base, long batchStride, int ld) {
        long at(int b, int h, int d) { return base + b * batchStride + (long) h * d; }
    }

    /**
     * @param keyMask  nonzero = visible key; entry [b·maskStride + j] for j in [0, Tk); null = all visible
     * @param y        output [B, Tq, C] dense
     * @param lse      output [B, H, Tq] or null (inference)
     * @param scratch  {@link Parallel#threads()} slots of {@code slot} ≥ Tq·Tk floats
     */
    static void forward(int batch, int tq, int tk, int past, int heads, int d,
                        Operand q, Operand k, Operand v, int[] keyMask, int maskStride,
                        MemorySegment y, MemorySegment lse, MemorySegment scratch, long slot) {
        int c = heads * d;
        float scale = (float) (1.0 / Math.sqrt(d));
        Parallel.forChunks((long) batch * heads, 1, Parallel.threads(), (chunk, lo, hi) -> {
            long sOff = chunk * slot;
            for (long bh = lo; bh < hi; bh++) {
                // bh < B·H, an int: the narrowing is exact.
                int b = (int) (bh / heads), h = (int) (bh % heads);
                Blas.sgemmSerial(false, true, tq, tk, d, scale, q.seg(), q.at(b, h, d), q.ld(),
                        k.seg(), k.at(b, h, d), k.ld(), 0f, scratch, sOff, tk);
                for (int i = 0; i < tq; i++) {
                    float l = softmaxRow(scratch, sOff + (long) i * tk, tk, past + i, keyMask, b * maskStride);
                    if (lse != null) lse.setAtIndex(F, ((long) b * heads + h) * tq + i, l);
                }
                Blas.sgemmSerial(false, false, tq, d, tk, 1f, scratch, sOff, tk, v.seg(), v.at(b, h, d), v.ld(),
                        0f, y, (long) b * tq * c + (long) h * d, c);
            }
        });
    }

    /** In place: scores → probabilities over keys j ≤ last that the mask allows; returns the row's log-sum-exp. */
    private static float softmaxRow(MemorySegment s, long off, int tk, int last, int[] mask, int maskOff) {
        int lim = Math.min(last, tk - 1);
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j <= lim; j++) {
            if (mask == null || mask[maskOff + j] != 0) max = Math.max(max, s.getAtIndex(F, off + j));
        }
        if (max == Float.NEGATIVE_INFINITY) {
            for (int j = 0; j < tk; j++) s.setAtIndex(F, off + j, 0f);
            return Float.NEGATIVE_INFINITY;
        }
        double sum = 0;
        for (int j = 0; j <= lim; j++) {
            if (mask == null || mask[maskOff + j] != 0) {
                float e = (float) Math.exp(s.getAtIndex(F, off + j) - max);
                s.setAtIndex(F, off + j, e);
                sum += e;
            } else {
                s.setAtIndex(F, off + j, 0f);
            }
        }
        float inv = (float) (1.0 / sum);
        for (int j = 0; j <= lim; j++) s.setAtIndex(F, off + j, s.getAtIndex(F, off + j) * inv);
        for (int j = lim + 1; j < tk; j++) s.setAtIndex(F, off + j, 0f);
        return (float) (max + Math.log(sum));
    }

    /**
     * Backward of a training forward (past = 0, Tq = Tk = T, Q/K/V inside qkv [B, T, 3C]). Writes (not adds) dQ,
     * dK, dV into dqkv [B, T, 3C]; every element of dqkv is written.
     *
     * @param dy       gradient of Y, [B, T, C]
     * @param scratchP, scratchD  {@link Parallel#threads()} slots of {@code slot} ≥ T·T floats each
     */
    static void backward(int batch, int t, int heads, int d, MemorySegment qkv, int[] keyMask,
                         MemorySegment lse, MemorySegment dy, MemorySegment dqkv,
                         MemorySegment scratchP, MemorySegment scratchD, long slot) {
        int c = heads * d;
        int ld = 3 * c;
        float scale = (float) (1.0 / Math.sqrt(d));
        Parallel.forChunks((long) batch * heads, 1, Parallel.threads(), (chunk, lo, hi) -> {
            long so = chunk * slot;
            for (long bh = lo; bh < hi; bh++) {
                int b = (int) (bh / heads), h = (int) (bh % heads);
                long qOff = (long) b * t * ld + (long) h * d, kOff = qOff + c, vOff = qOff + 2L * c;
                long dyOff = (long) b * t * c + (long) h * d;
                // Recompute P from S and the saved log-sum-exp.
                Blas.sgemmSerial(false, true, t, t, d, scale, qkv, qOff, ld, qkv, kOff, ld, 0f, scratchP, so, t);
                long lseBase = ((long) b * heads + h) * t;
                int maskBase = b * t;
                for (int i = 0; i < t; i++) {
                    float l = lse.getAtIndex(F, lseBase + i);
                    long off = so + (long) i * t;
                    for (int j = 0; j < t; j++) {
                        boolean visible = j <= i && l != Float.NEGATIVE_INFINITY
                                && (keyMask == null || keyMask[maskBase + j] != 0);
                        scratchP.setAtIndex(F, off + j, visible ? (float) Math.exp(scratchP.getAtIndex(F, off + j) - l) : 0f);
                    }
                }
                // dP = dY Vᵀ, dV = Pᵀ dY
                Blas.sgemmSerial(false, true, t, t, d, 1f, dy, dyOff, c, qkv, vOff, ld, 0f, scratchD, so, t);
                Blas.sgemmSerial(true, false, t, d, t, 1f, scratchP, so, t, dy, dyOff, c, 0f, dqkv, vOff, ld);
                // dS = P ⊙ (dP − rowsum(P ⊙ dP)) · s  (the softmax Jacobian, with the score scale folded in)
                for (int i = 0; i < t; i++) {
                    long off = so + (long) i * t;
                    double dot = 0;
                    for (int j = 0; j <= i; j++) dot += scratchP.getAtIndex(F, off + j) * scratchD.getAtIndex(F, off + j);
                    float dotF = (float) dot;
                    for (int j = 0; j < t; j++) {
                        float p = scratchP.getAtIndex(F, off + j);
                        scratchD.setAtIndex(F, off + j, p == 0f ? 0f : p * (scratchD.getAtIndex(F, off + j) - dotF) * scale);
                    }
                }
                // dQ = dS K, dK = dSᵀ Q
                Blas.sgemmSerial(false, false, t, d, t, 1f, scratchD, so, t, qkv, kOff, ld, 0f, dqkv, qOff, ld);
                Blas.sgemmSerial(true, false, t, d, t, 1f, scratchD, so, t, qkv, qOff, ld, 0f, dqkv, kOff, ld);
            }
        });
    }
}
