package dev.ppoengine.cuda;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * FFM binding of the linear_token_logprobs driver ({@code ppo_linear_token_logprobs[_backward]} of ppo_cuda.h: the
 * whole op on device memory with its GEMMs), of the tile steps of {@code cuda-kernels/linear_token_logprobs.cu} (the same C
 * symbols as native/include/ppo_kernels.h's "linear_token_logprobs tile steps", on device pointers with a
 * cudaStream_t as ctx) and of {@code ppo_linear_sgemm}, the library's plain reference GEMM. One handle per symbol, built
 * once per runtime; a non-zero status becomes an exception through {@link CudaRuntime#check} (the library's message).
 */
final class LinearTokenLogprobsBinding {
    private static final MemoryLayout A = ADDRESS, I = JAVA_INT, J = JAVA_LONG, D = JAVA_DOUBLE, F = JAVA_FLOAT;

    private final CudaRuntime runtime;
    private final MethodHandle lseUpdate, lseFinish, chunkBackward, toF32, sgemm, forward, backward, gemmLibrary;

    LinearTokenLogprobsBinding(CudaRuntime runtime) {
        this.runtime = runtime;
        String lib = runtime.path().getFileName().toString();
        var l = runtime.lookup;
        // linear_lse_update(ctx, tile, rows, cols, ld, bias, v_offset, v, labels, label_dtype, temperature,
        //                   entropy_logits, state)
        lseUpdate = PpoKernelsBinding.handle(l, lib, "linear_lse_update", I, A, A, J, J, J, A, J, J, A, I, D, I, A);
        // linear_lse_finish(ctx, state, rows, temperature, entropy_logits, logprobs, entropy, saved)
        lseFinish = PpoKernelsBinding.handle(l, lib, "linear_lse_finish", I, A, A, J, D, I, A, A, A);
        // linear_chunk_backward(ctx, tile, rows, cols, ld, bias, v_offset, v, labels, label_dtype, saved,
        //                       grad_logprobs, grad_entropy, temperature, entropy_logits, grad_bias)
        chunkBackward = PpoKernelsBinding.handle(l, lib, "linear_chunk_backward", I,
                A, A, J, J, J, A, J, J, A, I, A, A, A, D, I, A);
        // linear_to_f32(ctx, src, dtype, rows, cols, src_stride, dst, ld)
        toF32 = PpoKernelsBinding.handle(l, lib, "linear_to_f32", I, A, A, I, J, J, J, A, J);
        // ppo_linear_sgemm(ctx, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        sgemm = PpoKernelsBinding.handle(l, lib, "ppo_linear_sgemm", I, A, I, I, J, J, J, F, A, J, A, J, F, A, J);
        // ppo_linear_token_logprobs(ctx, hidden, hidden_dtype, n, h, hidden_stride, weight, weight_dtype, v, bias,
        //     bias_dtype, labels, label_dtype, temperature, entropy_logits, logprobs, entropy, saved,
        //     workspace_bytes, rows_chunk, vocab_chunk, workspace_used)
        forward = PpoKernelsBinding.handle(l, lib, "ppo_linear_token_logprobs", I,
                A, A, I, J, J, J, A, I, J, A, I, A, I, D, I, A, A, A, J, J, J, A);
        // ppo_linear_token_logprobs_backward(ctx, hidden, hidden_dtype, n, h, hidden_stride, weight, weight_dtype, v,
        //     bias, bias_dtype, labels, label_dtype, saved, grad_logprobs, grad_entropy, temperature, entropy_logits,
        //     grad_hidden, grad_weight, grad_bias, accumulate, grad_gemm, workspace_bytes, rows_chunk, vocab_chunk,
        //     workspace_used)
        backward = PpoKernelsBinding.handle(l, lib, "ppo_linear_token_logprobs_backward", I,
                A, A, I, J, J, J, A, I, J, A, I, A, I, A, A, A, D, I, A, A, A, I, I, J, J, J, A);
        // ppo_cuda_gemm_library(buf, buf_len)
        gemmLibrary = PpoKernelsBinding.handle(l, lib, "ppo_cuda_gemm_library", I, A, J);
    }

    /** The driver's GEMMs: {@code [usable ? "1" : "0", what was loaded, or why not]} (loads cuBLAS; no device needed). */
    String[] gemmLibrary() {
        try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            MemorySegment buf = a.allocate(1024);
            int ok = (int) gemmLibrary.invokeExact(buf, 1024L);
            return new String[] {ok == 1 ? "1" : "0", buf.getString(0)};
        } catch (Throwable t) {
            throw PpoKernelsBinding.rethrow(t);
        }
    }

    /** The inputs of one driver call: device (or emulator host) pointers, PPO_* dtype codes, sizes. */
    record Inputs(MemorySegment hidden, int hiddenDtype, long n, long h, long hiddenStride, MemorySegment weight,
                  int weightDtype, long v, MemorySegment bias, int biasDtype, MemorySegment labels, int labelDtype) {}

    /** Tile plan of one call: workspace budget (0 = 1 GiB), fixed tile shape (0 = from the budget). */
    record Plan(long workspaceBytes, long rowsChunk, long vocabChunk) {}

    /** ppo_linear_token_logprobs; returns the workspace bytes the call's tile plan took. */
    long forward(MemorySegment ctx, Inputs x, double temperature, int entropyLogits, MemorySegment logprobs,
                 MemorySegment entropy, MemorySegment saved, Plan plan, MemorySegment usedOut) {
        int st;
        try {
            st = (int) forward.invokeExact(ctx, x.hidden(), x.hiddenDtype(), x.n(), x.h(), x.hiddenStride(), x.weight(),
                    x.weightDtype(), x.v(), x.bias(), x.biasDtype(), x.labels(), x.labelDtype(), temperature,
                    entropyLogits, logprobs, entropy, saved, plan.workspaceBytes(), plan.rowsChunk(),
                    plan.vocabChunk(), usedOut);
        } catch (Throwable t) {
            throw PpoKernelsBinding.rethrow(t);
        }
        runtime.check(st, "linear_token_logprobs");
        return usedOut.get(JAVA_LONG, 0);
    }

    /** ppo_linear_token_logprobs_backward; returns the workspace bytes the call's tile plan took. */
    long backward(MemorySegment ctx, Inputs x, MemorySegment saved, MemorySegment gradLogprobs,
                  MemorySegment gradEntropy, double temperature, int entropyLogits, MemorySegment gradHidden,
                  MemorySegment gradWeight, MemorySegment gradBias, boolean accumulate, int gradGemm, Plan plan,
                  MemorySegment usedOut) {
        int st;
        try {
            st = (int) backward.invokeExact(ctx, x.hidden(), x.hiddenDtype(), x.n(), x.h(), x.hiddenStride(),
                    x.weight(), x.weightDtype(), x.v(), x.bias(), x.biasDtype(), x.labels(), x.labelDtype(), saved,
                    gradLogprobs, gradEntropy, temperature, entropyLogits, gradHidden, gradWeight, gradBias,
                    accumulate ? 1 : 0, gradGemm, plan.workspaceBytes(), plan.rowsChunk(), plan.vocabChunk(), usedOut);
        } catch (Throwable t) {
            throw PpoKernelsBinding.rethrow(t);
        }
        runtime.check(st, "linear_token_logprobs_backward");
        return usedOut.get(JAVA_LONG, 0);
    }

    void linear_lse_update(MemorySegment ctx, MemorySegment tile, long rows, long cols, long ld, MemorySegment bias,
                           long vOffset, long v, MemorySegment labels, int labelDtype, double temperature,
                           int entropyLogits, MemorySegment state) {
        int st;
        try {
            st = (int) lseUpdate.invokeExact(ctx, tile, rows, cols, ld, bias, vOffset, v, labels, labelDtype,
                    temperature, entropyLogits, state);
        } catch (Throwable t) {
            throw PpoKernelsBinding.rethrow(t);
        }
        runtime.check(st, "linear_lse_update");
    }

    void linear_lse_finish(MemorySegment ctx, MemorySegment state, long rows, double temperature, int entropyLogits,
                           MemorySegment logprobs, MemorySegment entropy, MemorySegment saved) {
        int st;
        try {
            st = (int) lseFinish.invokeExact(ctx, state, rows, temperature, entropyLogits, logprobs, entropy, saved);
        } catch (Throwable t) {
            throw PpoKernelsBinding.rethrow(t);
        }
        runtime.check(st, "linear_lse_finish");
    }

    void linear_chunk_backward(MemorySegment ctx, MemorySegment tile, long rows, long cols, long ld,
                               MemorySegment bias, long vOffset, long v, MemorySegment labels, int labelDtype,
                               MemorySegment saved, MemorySegment gradLogprobs, MemorySegment gradEntropy,
                               double temperature, int entropyLogits, MemorySegment gradBias) {
        int st;
        try {
            st = (int) chunkBackward.invokeExact(ctx, tile, rows, cols, ld, bias, vOffset, v, labels, labelDtype,
                    saved, gradLogprobs, gradEntropy, temperature, entropyLogits, gradBias);
        } catch (Throwable t) {
            throw PpoKernelsBinding.rethrow(t);
        }
        runtime.check(st, "linear_chunk_backward");
    }

    void linear_to_f32(MemorySegment ctx, MemorySegment src, int dtype, long rows, long cols, long srcStride,
                       MemorySegment dst, long ld) {
        int st;
        try {
            st = (int) toF32.invokeExact(ctx, src, dtype, rows, cols, srcStride, dst, ld);
        } catch (Throwable t) {
            throw PpoKernelsBinding.rethrow(t);
        }
        runtime.check(st, "linear_to_f32");
    }

    /** Row-major C[m, n] = alpha·op(A)·op(B) + beta·C (beta = 0: C is not read). */
    void ppo_linear_sgemm(MemorySegment ctx, boolean transA, boolean transB, long m, long n, long k, float alpha,
                          MemorySegment a, long lda, MemorySegment b, long ldb, float beta, MemorySegment c, long ldc) {
        int st;
        try {
            st = (int) sgemm.invokeExact(ctx, transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c,
                    ldc);
        } catch (Throwable t) {
            throw PpoKernelsBinding.rethrow(t);
        }
        runtime.check(st, "ppo_linear_sgemm");
    }
}
