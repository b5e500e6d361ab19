package dev.ppoengine.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * FFM binding of the linear_token_logprobs driver of a CUDA launcher library ({@code ppo_linear_token_logprobs[_backward]}
 * and {@code ppo_cuda_gemm_library} of ppo_cuda.h: the whole op on device memory with its GEMMs). One handle per
 * symbol, built per runtime; a non-zero status becomes an exception through {@link CudaRuntime#check} (the library's
 * message). The library's tile-step symbols (the ABI of ppo_kernels.h) are not bound here: the driver runs them.
 */
final class LinearTokenLogprobsBinding {
    private static final MemoryLayout A = ADDRESS, I = JAVA_INT, J = JAVA_LONG, D = JAVA_DOUBLE;

    private final CudaRuntime runtime;
    private final MethodHandle forward, backward, gemmLibrary;

    LinearTokenLogprobsBinding(CudaRuntime runtime) {
        this.runtime = runtime;
        String lib = runtime.path().getFileName().toString();
        var l = runtime.lookup;
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
        try (Arena a = Arena.ofConfined()) {
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
}
