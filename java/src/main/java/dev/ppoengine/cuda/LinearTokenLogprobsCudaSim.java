package dev.ppoengine.cuda;

import dev.ppoengine.kernels.LinearTokenLogprobs;
import dev.ppoengine.kernels.LogprobOptions;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * linear_token_logprobs on the {@code cuda-sim} backend: the CUDA tile kernels of
 * {@code cuda-kernels/linear_token_logprobs.cu} run by the simt emulator (libppo_cuda_sim.so) on host tensors, with
 * the library's reference GEMM {@code ppo_linear_sgemm} making the logits tiles (no cuBLAS in the emulator). The
 * same driver as the cpu backend (see {@link LinearTokenLogprobs} for the op):
 * <pre>
 * for each row block R (rowChunk rows):                     A = hidden[R]  [r, H] f32 (view, or widened by linear_to_f32)
 *   for each vocabulary chunk C (vocabChunk columns):         B = weight[C]  [c, H] f32 (view, or widened)
 *     tile = A·Bᵀ                                             ppo_linear_sgemm [r, c]
 *     forward:  linear_lse_update(tile + bias[C]) → per-row state [r, 8] f64
 *     backward: linear_chunk_backward(tile) → dZ in place, grad_bias[C] += column sums;
 *               grad_hidden[R] += dZ·B,  grad_weight[C] += dZᵀ·A  (ppo_linear_sgemm, beta = 1)
 *   forward: linear_lse_finish(state) → logprobs[R], entropy[R], saved[R]
 * </pre>
 * The emulator runs every GPU thread as a host thread, so this is for small shapes (tests); it checks the CUDA code
 * path of the op without a GPU. Workspace: the tile, the row state and f32 copies of bf16/f16 operands, O(chunk).
 */
public final class LinearTokenLogprobsCudaSim extends LinearTokenLogprobs {
    /** Small default tiles: several chunks in both directions already at test sizes. */
    public static final int DEFAULT_ROW_CHUNK = 16, DEFAULT_VOCAB_CHUNK = 64;
    private static final int STATE_DOUBLES = 8;   // PPO_LINEAR_STATE

    private final CudaRuntime runtime;
    private final LinearTokenLogprobsBinding k;
    private final CudaStream stream;
    private final int rowChunk, vocabChunk;

    public LinearTokenLogprobsCudaSim() {
        this(DEFAULT_ROW_CHUNK, DEFAULT_VOCAB_CHUNK);
    }

    public LinearTokenLogprobsCudaSim(int rowChunk, int vocabChunk) {
        if (rowChunk < 1) throw new IllegalArgumentException("rowChunk: expected >= 1, got " + rowChunk);
        if (vocabChunk < 1) throw new IllegalArgumentException("vocabChunk: expected >= 1, got " + vocabChunk);
        this.runtime = CudaRuntime.sim();
        this.k = new LinearTokenLogprobsBinding(runtime);
        this.stream = CudaStream.create(runtime);
        this.rowChunk = rowChunk;
        this.vocabChunk = vocabChunk;
    }

    @Override
    public String name() {
        return "cuda-sim";
    }

    @Override
    public void close() {
        stream.close();
    }

    // ------------------------------------------------------------------ forward

    @Override
    protected void forwardImpl(Tensor hidden, Tensor weight, Tensor bias, Tensor labels, LogprobOptions o,
                               Tensor logprobs, Tensor entropy, Tensor saved) {
        long n = hidden.rows(), v = weight.dim(0);
        if (n == 0) return;
        MemorySegment ctx = stream.segment();
        try (Arena ws = Arena.ofConfined()) {
            Work w = new Work(ws, hidden, weight, bias);
            MemorySegment state = ws.allocate((long) w.rows * STATE_DOUBLES * 8, 64);
            for (long r0 = 0; r0 < n; r0 += w.rows) {
                long rows = Math.min(w.rows, n - r0);
                Operand a = w.hiddenRows(r0, rows);
                MemorySegment lab = labels.segment().asSlice(r0 * labels.dtype().byteSize());
                for (long v0 = 0; v0 < v; v0 += w.cols) {
                    long cols = Math.min(w.cols, v - v0);
                    Operand b = w.weightRows(v0, cols);
                    k.ppo_linear_sgemm(ctx, false, true, rows, cols, w.h, 1f, a.seg, a.ld, b.seg, b.ld, 0f, w.tile, cols);
                    k.linear_lse_update(ctx, w.tile, rows, cols, cols, w.biasAt(v0), v0, v, lab, labelCode(labels),
                            o.temperature(), o.entropyLogits().ordinal(), state);
                }
                k.linear_lse_finish(ctx, state, rows, o.temperature(), o.entropyLogits().ordinal(),
                        logprobs.segment().asSlice(r0 * 4),
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
        long n = hidden.rows(), v = weight.dim(0), h = hidden.cols();
        if (!accumulate) {
            if (gradHidden != null) gradHidden.segment().fill((byte) 0);
            if (gradWeight != null) gradWeight.segment().fill((byte) 0);
            if (gradBias != null) gradBias.segment().fill((byte) 0);
        }
        if (n == 0 || (gradHidden == null && gradWeight == null && gradBias == null)) return;
        MemorySegment ctx = stream.segment();
        try (Arena ws = Arena.ofConfined()) {
            Work w = new Work(ws, hidden, weight, bias);
            for (long r0 = 0; r0 < n; r0 += w.rows) {
                long rows = Math.min(w.rows, n - r0);
                Operand a = w.hiddenRows(r0, rows);
                MemorySegment lab = labels.segment().asSlice(r0 * labels.dtype().byteSize());
                MemorySegment sv = saved.segment().asSlice(r0 * 12);
                MemorySegment gl = gradLogprobs.segment().asSlice(r0 * 4);
                MemorySegment ge = gradEntropy == null ? MemorySegment.NULL : gradEntropy.segment().asSlice(r0 * 4);
                for (long v0 = 0; v0 < v; v0 += w.cols) {
                    long cols = Math.min(w.cols, v - v0);
                    Operand b = w.weightRows(v0, cols);
                    k.ppo_linear_sgemm(ctx, false, true, rows, cols, h, 1f, a.seg, a.ld, b.seg, b.ld, 0f, w.tile, cols);
                    k.linear_chunk_backward(ctx, w.tile, rows, cols, cols, w.biasAt(v0), v0, v, lab, labelCode(labels),
                            sv, gl, ge, o.temperature(), o.entropyLogits().ordinal(),
                            gradBias == null ? MemorySegment.NULL : gradBias.segment().asSlice(v0 * 4));
                    if (gradHidden != null) {
                        // grad_hidden[R] += dZ [rows, cols] · W_C [cols, H]
                        k.ppo_linear_sgemm(ctx, false, false, rows, h, cols, 1f, w.tile, cols, b.seg, b.ld, 1f,
                                gradHidden.segment().asSlice(r0 * h * 4), h);
                    }
                    if (gradWeight != null) {
                        // grad_weight[C] += dZᵀ [cols, rows] · H_R [rows, H]
                        k.ppo_linear_sgemm(ctx, true, false, cols, h, rows, 1f, w.tile, cols, a.seg, a.ld, 1f,
                                gradWeight.segment().asSlice(v0 * h * 4), h);
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ pieces

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

    /** A GEMM operand: the segment starting at its first element, and its leading dimension. */
    private record Operand(MemorySegment seg, long ld) {}

    /** The per-call workspace and the f32 views / widened copies of the operands. */
    private final class Work {
        final long h, hiddenLd;
        final long rows, cols;
        final MemorySegment tile;
        final MemorySegment hiddenBuf, weightBuf;   // null when that input is f32 (used in place)
        final MemorySegment biasF32;                // null without bias
        final Tensor hidden, weight;

        Work(Arena ws, Tensor hidden, Tensor weight, Tensor bias) {
            this.hidden = hidden;
            this.weight = weight;
            h = hidden.cols();
            hiddenLd = hidden.rowStride();
            long v = weight.dim(0);
            rows = Math.min(rowChunk, hidden.rows());
            cols = Math.min(vocabChunk, v);
            tile = ws.allocate(rows * cols * 4, 64);
            hiddenBuf = hidden.dtype() == DType.F32 ? null : ws.allocate(rows * h * 4, 64);
            weightBuf = weight.dtype() == DType.F32 ? null : ws.allocate(cols * h * 4, 64);
            if (bias == null) {
                biasF32 = null;
            } else if (bias.dtype() == DType.F32) {
                biasF32 = bias.segment();
            } else {
                biasF32 = ws.allocate(v * 4, 64);
                k.linear_to_f32(stream.segment(), bias.segment(), floatCode(bias.dtype()), 1, v, v, biasF32, v);
            }
        }

        /** Rows [r0, r0 + n) of hidden as an f32 operand (in place, or widened into the buffer). */
        Operand hiddenRows(long r0, long n) {
            long first = r0 * hiddenLd;
            if (hiddenBuf == null) return new Operand(hidden.segment().asSlice(first * 4), hiddenLd);
            MemorySegment src = hidden.segment().asSlice(first * hidden.dtype().byteSize());
            k.linear_to_f32(stream.segment(), src, floatCode(hidden.dtype()), n, h, hiddenLd, hiddenBuf, h);
            return new Operand(hiddenBuf, h);
        }

        /** Rows [v0, v0 + n) of weight as an f32 operand. */
        Operand weightRows(long v0, long n) {
            long first = v0 * h;
            if (weightBuf == null) return new Operand(weight.segment().asSlice(first * 4), h);
            MemorySegment src = weight.segment().asSlice(first * weight.dtype().byteSize());
            k.linear_to_f32(stream.segment(), src, floatCode(weight.dtype()), n, h, h, weightBuf, h);
            return new Operand(weightBuf, h);
        }

        MemorySegment biasAt(long v0) {
            return biasF32 == null ? MemorySegment.NULL : biasF32.asSlice(v0 * 4);
        }
    }
}
