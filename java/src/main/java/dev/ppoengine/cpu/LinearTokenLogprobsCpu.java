package dev.ppoengine.cpu;

import dev.ppoengine.kernels.LinearTokenLogprobs;
import dev.ppoengine.kernels.LogprobOptions;
import dev.ppoengine.model.Blas;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * linear_token_logprobs on the CPU: logits tiles from OpenBLAS, the log-sum-exp / entropy fold and the d-logits tile
 * in the native library (see {@link LinearTokenLogprobs} for the op, {@code native/src/linear_token_logprobs.c} for
 * the fold). The [N, V] logits never exist.
 *
 * <pre>
 * for each row block R (rowChunk rows):                     A = hidden[R]          [r, H] f32 (view, or widened)
 *   for each vocabulary chunk C (vocabChunk columns):         B = weight[C]          [c, H] f32 (view, or widened)
 *     tile = A·Bᵀ                       (sgemm, [r, c])
 *     forward:  linear_lse_update(tile + bias[C]) → per-row state (max, Σe, Σe·d, z_y)
 *     backward: linear_chunk_backward(tile) → dZ in place (grad_bias[C] += column sums)
 *               grad_hidden[R] += dZ·B   (sgemm [r, c]·[c, H]),   grad_weight[C] += dZᵀ·A   (sgemm [c, r]·[r, H])
 *   forward: linear_lse_finish(state) → logprobs[R], entropy[R], saved[R]
 * </pre>
 * Extra memory per call ({@link #workspaceBytes}): the tile (rowChunk·vocabChunk f32), the row state
 * (rowChunk·8 f64), and f32 copies of one row block of hidden / one chunk of weight only when those are bf16/f16,
 * plus an f32 bias when the bias is not f32 — O(chunk), independent of N·V. Everything is allocated per call in a
 * confined arena, so one instance may be used from several threads.
 *
 * <p>Determinism: the chunks are visited in a fixed order, every tile row is folded by one native thread, and the
 * gradient GEMMs accumulate chunk after chunk in that order, so for a fixed chunking the outputs are bitwise the
 * same run to run (OpenBLAS's sgemm splits only M and N across its threads, never the K sum).
 */
public final class LinearTokenLogprobsCpu extends LinearTokenLogprobs {
    /** Default rows per block and vocabulary columns per chunk: a 16 MiB f32 tile (3.2% of the f32 logits at
     *  N = 4096, V = 32000; large enough that the tile GEMMs run at the speed of one big GEMM). */
    public static final int DEFAULT_ROW_CHUNK = 1024, DEFAULT_VOCAB_CHUNK = 4096;

    private final int rowChunk, vocabChunk;
    private final MemorySegment ctx;   // ppo_cpu_ctx { int32 threads; int32 isa; }, alive as long as this object
    private volatile long lastWorkspaceBytes;

    public LinearTokenLogprobsCpu() {
        this(DEFAULT_ROW_CHUNK, DEFAULT_VOCAB_CHUNK);
    }

    /** Tile of rowChunk × vocabChunk; native threads from -Dppo.threads (default: available processors). */
    public LinearTokenLogprobsCpu(int rowChunk, int vocabChunk) {
        this(rowChunk, vocabChunk, Integer.getInteger("ppo.threads", Runtime.getRuntime().availableProcessors()));
    }

    public LinearTokenLogprobsCpu(int rowChunk, int vocabChunk, int threads) {
        this(rowChunk, vocabChunk, threads, NativeCpuKernels.SimdLevel.BEST);
    }

    /** As above with a cap on the native SIMD variant (tests run every variant on one machine). */
    public LinearTokenLogprobsCpu(int rowChunk, int vocabChunk, int threads, NativeCpuKernels.SimdLevel simd) {
        if (simd == null) throw new IllegalArgumentException("simd level must not be null");
        if (rowChunk < 1) throw new IllegalArgumentException("rowChunk: expected >= 1, got " + rowChunk);
        if (vocabChunk < 1) throw new IllegalArgumentException("vocabChunk: expected >= 1, got " + vocabChunk);
        if ((long) rowChunk * vocabChunk > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("rowChunk·vocabChunk: expected <= " + Integer.MAX_VALUE + " elements, got "
                    + (long) rowChunk * vocabChunk);
        }
        if (threads < 1) throw new IllegalArgumentException("threads: expected >= 1, got " + threads);
        String why = NativeLibrary.unavailableReason();
        if (why != null) throw new IllegalStateException("native CPU library unavailable: " + why);
        this.rowChunk = rowChunk;
        this.vocabChunk = vocabChunk;
        this.ctx = Arena.ofAuto().allocate(8, 8);
        ctx.set(ValueLayout.JAVA_INT, 0, threads);
        ctx.set(ValueLayout.JAVA_INT, 4, simd.ordinal());   // PPO_ISA_BEST, _GENERIC, _AVX2, _AVX512
    }

    @Override
    public String name() {
        return "cpu";
    }

    public int rowChunk() { return rowChunk; }

    public int vocabChunk() { return vocabChunk; }

    /** Bytes of workspace the last forward or backward on this instance allocated (0 before the first call). */
    public long lastWorkspaceBytes() { return lastWorkspaceBytes; }

    /**
     * Bytes of workspace one call allocates for these shapes and dtypes (bias null = no bias): what this backend needs
     * on top of its inputs and outputs. Compare with n·v·4, the f32 logits a materialising implementation holds.
     */
    public long workspaceBytes(long n, long h, long v, DType hidden, DType weight, DType bias) {
        long r = Math.min(rowChunk, n), c = Math.min(vocabChunk, v);
        long bytes = r * c * 4 + r * LinearTokenLogprobsNative.STATE_DOUBLES * 8L;
        if (hidden != DType.F32) bytes += r * h * 4;
        if (weight != DType.F32) bytes += c * h * 4;
        if (bias != null && bias != DType.F32) bytes += v * 4;
        return bytes;
    }

    // ------------------------------------------------------------------ forward

    @Override
    protected void forwardImpl(Tensor hidden, Tensor weight, Tensor bias, Tensor labels, LogprobOptions o,
                               Tensor logprobs, Tensor entropy, Tensor saved) {
        Shapes s = new Shapes(hidden, weight);
        if (s.n == 0) return;
        try (Arena ws = Arena.ofConfined()) {
            Work w = new Work(ws, s, hidden, weight, bias);
            MemorySegment state = ws.allocate((long) w.rows * LinearTokenLogprobsNative.STATE_DOUBLES * 8, 64);
            lastWorkspaceBytes = w.bytes + state.byteSize();
            for (long r0 = 0; r0 < s.n; r0 += w.rows) {
                long rows = Math.min(w.rows, s.n - r0);
                Operand a = w.hiddenRows(r0, rows);
                MemorySegment lab = labels.segment().asSlice(r0 * labels.dtype().byteSize());
                for (long v0 = 0; v0 < s.v; v0 += w.cols) {
                    long cols = Math.min(w.cols, s.v - v0);
                    Operand b = w.weightRows(v0, cols);
                    logitsTile(w, a, b, rows, cols);
                    LinearTokenLogprobsNative.linear_lse_update(ctx, w.tile, rows, cols, cols, w.biasAt(v0), v0, s.v,
                            lab, labelCode(labels), o.temperature(), o.entropyLogits().ordinal(), state);
                }
                LinearTokenLogprobsNative.linear_lse_finish(ctx, state, rows, o.temperature(),
                        o.entropyLogits().ordinal(), logprobs.segment().asSlice(r0 * 4),
                        entropy == null ? MemorySegment.NULL : entropy.segment().asSlice(r0 * 4),
                        saved == null ? MemorySegment.NULL : saved.segment().asSlice(r0 * 12));
            }
        }
    }

    // ------------------------------------------------------------------ backward

    @Override
    protected void backwardImpl(Tensor hidden, Tensor weight, Tensor bias, Tensor labels, Tensor saved,
                                Tensor gradLogprobs, Tensor gradEntropy, LogprobOptions o, Tensor gradHidden,
                                Tensor gradWeight, Tensor gradBias, boolean accumulate) {
        Shapes s = new Shapes(hidden, weight);
        if (!accumulate) {
            if (gradHidden != null) gradHidden.segment().fill((byte) 0);
            if (gradWeight != null) gradWeight.segment().fill((byte) 0);
            if (gradBias != null) gradBias.segment().fill((byte) 0);
        }
        if (s.n == 0 || (gradHidden == null && gradWeight == null && gradBias == null)) return;
        try (Arena ws = Arena.ofConfined()) {
            Work w = new Work(ws, s, hidden, weight, bias);
            lastWorkspaceBytes = w.bytes;
            for (long r0 = 0; r0 < s.n; r0 += w.rows) {
                long rows = Math.min(w.rows, s.n - r0);
                Operand a = w.hiddenRows(r0, rows);
                MemorySegment lab = labels.segment().asSlice(r0 * labels.dtype().byteSize());
                MemorySegment sv = saved.segment().asSlice(r0 * 12);
                MemorySegment gl = gradLogprobs.segment().asSlice(r0 * 4);
                MemorySegment ge = gradEntropy == null ? MemorySegment.NULL : gradEntropy.segment().asSlice(r0 * 4);
                for (long v0 = 0; v0 < s.v; v0 += w.cols) {
                    long cols = Math.min(w.cols, s.v - v0);
                    Operand b = w.weightRows(v0, cols);
                    logitsTile(w, a, b, rows, cols);
                    LinearTokenLogprobsNative.linear_chunk_backward(ctx, w.tile, rows, cols, cols, w.biasAt(v0), v0,
                            s.v, lab, labelCode(labels), sv, gl, ge, o.temperature(), o.entropyLogits().ordinal(),
                            gradBias == null ? MemorySegment.NULL : gradBias.segment().asSlice(v0 * 4));
                    // The narrowing casts below are exact: rows <= rowChunk, cols <= vocabChunk, h and the strides were
                    // checked to fit an int in Shapes.
                    if (gradHidden != null) {
                        // grad_hidden[R] += dZ [rows, cols] · W_C [cols, H]
                        Blas.sgemm(false, false, (int) rows, s.h, (int) cols, 1f, w.tile, 0, (int) cols,
                                b.seg, b.off, b.ld, 1f, gradHidden.segment(), r0 * s.h, s.h);
                    }
                    if (gradWeight != null) {
                        // grad_weight[C] += dZᵀ [cols, rows] · H_R [rows, H]
                        Blas.sgemm(true, false, (int) cols, s.h, (int) rows, 1f, w.tile, 0, (int) cols,
                                a.seg, a.off, a.ld, 1f, gradWeight.segment(), v0 * s.h, s.h);
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ pieces

    /** tile [rows, cols] = A [rows, H] · B [cols, H]ᵀ. */
    private static void logitsTile(Work w, Operand a, Operand b, long rows, long cols) {
        // rows <= rowChunk and cols <= vocabChunk are ints: the narrowing is exact.
        Blas.sgemm(false, true, (int) rows, (int) cols, w.s.h, 1f, a.seg, a.off, a.ld, b.seg, b.off, b.ld,
                0f, w.tile, 0, (int) cols);
    }

    private static int labelCode(Tensor labels) {
        return labels.dtype() == DType.I32 ? 3 : 4;   // PPO_I32, PPO_I64 (validated)
    }

    private static int floatCode(DType d) {
        return switch (d) {
            case F32 -> 0;
            case BF16 -> 1;
            case F16 -> 2;
            default -> throw new IllegalArgumentException("not a hidden/weight dtype: " + d);   // validated before
        };
    }

    /** N, H, V of one call, checked to fit the int arguments of a BLAS call. */
    private static final class Shapes {
        final long n, v;
        final int h;
        final int hiddenLd;

        Shapes(Tensor hidden, Tensor weight) {
            n = hidden.rows();
            v = weight.dim(0);
            if (hidden.cols() > Integer.MAX_VALUE || hidden.rowStride() > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("hidden: the cpu backend needs H and the row stride <= "
                        + Integer.MAX_VALUE + " (BLAS int dimensions), got H=" + hidden.cols() + " stride " + hidden.rowStride());
            }
            h = (int) hidden.cols();                 // checked just above
            hiddenLd = (int) hidden.rowStride();     // checked just above
        }
    }

    /** A GEMM operand: segment, element offset, leading dimension. */
    private record Operand(MemorySegment seg, long off, int ld) {}

    /** The per-call workspace and the f32 views / widened copies of the operands. */
    private final class Work {
        final Shapes s;
        final int rows, cols;
        final MemorySegment tile;
        final MemorySegment hiddenBuf, weightBuf;   // null when that input is f32 (used in place)
        final MemorySegment biasF32;                // null without bias
        final Tensor hidden, weight;
        final long bytes;

        Work(Arena ws, Shapes s, Tensor hidden, Tensor weight, Tensor bias) {
            this.s = s;
            this.hidden = hidden;
            this.weight = weight;
            // min(chunk, size) <= chunk, an int: exact
            rows = (int) Math.min(rowChunk, s.n);
            cols = (int) Math.min(vocabChunk, s.v);
            tile = ws.allocate((long) rows * cols * 4, 64);
            hiddenBuf = hidden.dtype() == DType.F32 ? null : ws.allocate((long) rows * s.h * 4, 64);
            weightBuf = weight.dtype() == DType.F32 ? null : ws.allocate((long) cols * s.h * 4, 64);
            long extra = 0;
            if (bias == null) {
                biasF32 = null;
            } else if (bias.dtype() == DType.F32) {
                biasF32 = bias.segment();
            } else {
                biasF32 = ws.allocate(s.v * 4, 64);
                extra = biasF32.byteSize();
                LinearTokenLogprobsNative.linear_to_f32(ctx, bias.segment(), floatCode(bias.dtype()), 1, s.v, s.v,
                        biasF32, s.v);
            }
            bytes = tile.byteSize() + (hiddenBuf == null ? 0 : hiddenBuf.byteSize())
                    + (weightBuf == null ? 0 : weightBuf.byteSize()) + extra;
        }

        /** Rows [r0, r0 + n) of hidden as an f32 operand (in place, or widened into the buffer). */
        Operand hiddenRows(long r0, long n) {
            long first = r0 * s.hiddenLd;
            if (hiddenBuf == null) return new Operand(hidden.segment(), first, s.hiddenLd);
            MemorySegment src = hidden.segment().asSlice(first * hidden.dtype().byteSize());
            LinearTokenLogprobsNative.linear_to_f32(ctx, src, floatCode(hidden.dtype()), n, s.h, s.hiddenLd,
                    hiddenBuf, s.h);
            return new Operand(hiddenBuf, 0, s.h);
        }

        /** Rows [v0, v0 + n) of weight as an f32 operand. */
        Operand weightRows(long v0, long n) {
            long first = v0 * s.h;
            if (weightBuf == null) return new Operand(weight.segment(), first, s.h);
            MemorySegment src = weight.segment().asSlice(first * weight.dtype().byteSize());
            LinearTokenLogprobsNative.linear_to_f32(ctx, src, floatCode(weight.dtype()), n, s.h, s.h, weightBuf, s.h);
            return new Operand(weightBuf, 0, s.h);
        }

        MemorySegment biasAt(long v0) {
            return biasF32 == null ? MemorySegment.NULL : biasF32.asSlice(v0 * 4);
        }
    }
}
