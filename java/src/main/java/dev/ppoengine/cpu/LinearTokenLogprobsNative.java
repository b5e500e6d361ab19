package dev.ppoengine.cpu;

import java.lang.foreign.AddressLayout;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * FFM bindings of the linear_token_logprobs tile steps of {@code native/include/ppo_kernels.h}
 * ({@code native/src/linear_token_logprobs.c}): one downcall handle per C function, named after the symbol and built
 * once. The methods pass their arguments through unchanged and turn a non-zero status into an exception carrying
 * {@code ppo_last_error()}; {@link LinearTokenLogprobsCpu} validates everything before it calls them.
 */
final class LinearTokenLogprobsNative {
    private LinearTokenLogprobsNative() {}

    /** PPO_LINEAR_STATE: doubles of running state per row. */
    static final int STATE_DOUBLES = 8;

    private static final int PPO_OK = 0, PPO_ERR_INVALID = 1, PPO_ERR_LABEL = 2, PPO_ERR_ALLOC = 3;
    private static final AddressLayout A = ADDRESS;
    private static final AddressLayout CSTRING = ADDRESS.withTargetLayout(MemoryLayout.sequenceLayout(512, JAVA_BYTE));
    private static final MemoryLayout I = JAVA_INT, J = JAVA_LONG, D = JAVA_DOUBLE;

    private static MethodHandle handle(String name, MemoryLayout result, MemoryLayout... args) {
        return Linker.nativeLinker().downcallHandle(NativeLibrary.symbol(name), FunctionDescriptor.of(result, args));
    }

    private static final MethodHandle ppo_last_error = handle("ppo_last_error", CSTRING);
    // linear_lse_update(ctx, tile, rows, cols, ld, bias, v_offset, v, labels, label_dtype, temperature,
    //                   entropy_logits, state)
    private static final MethodHandle linear_lse_update = handle("linear_lse_update", I,
            A, A, J, J, J, A, J, J, A, I, D, I, A);
    // linear_lse_finish(ctx, state, rows, temperature, entropy_logits, logprobs, entropy, saved)
    private static final MethodHandle linear_lse_finish = handle("linear_lse_finish", I, A, A, J, D, I, A, A, A);
    // linear_chunk_backward(ctx, tile, rows, cols, ld, bias, v_offset, v, labels, label_dtype, saved, grad_logprobs,
    //                       grad_entropy, temperature, entropy_logits, grad_bias)
    private static final MethodHandle linear_chunk_backward = handle("linear_chunk_backward", I,
            A, A, J, J, J, A, J, J, A, I, A, A, A, D, I, A);
    // linear_to_f32(ctx, src, dtype, rows, cols, src_stride, dst, ld)
    private static final MethodHandle linear_to_f32 = handle("linear_to_f32", I, A, A, I, J, J, J, A, J);

    static void linear_lse_update(MemorySegment ctx, MemorySegment tile, long rows, long cols, long ld,
                                  MemorySegment bias, long vOffset, long v, MemorySegment labels, int labelDtype,
                                  double temperature, int entropyLogits, MemorySegment state) {
        int st;
        try {
            st = (int) linear_lse_update.invokeExact(ctx, tile, rows, cols, ld, bias, vOffset, v, labels, labelDtype,
                    temperature, entropyLogits, state);
        } catch (Throwable e) {
            throw rethrow(e);
        }
        check(st, "linear_lse_update");
    }

    static void linear_lse_finish(MemorySegment ctx, MemorySegment state, long rows, double temperature,
                                  int entropyLogits, MemorySegment logprobs, MemorySegment entropy,
                                  MemorySegment saved) {
        int st;
        try {
            st = (int) linear_lse_finish.invokeExact(ctx, state, rows, temperature, entropyLogits, logprobs, entropy,
                    saved);
        } catch (Throwable e) {
            throw rethrow(e);
        }
        check(st, "linear_lse_finish");
    }

    static void linear_chunk_backward(MemorySegment ctx, MemorySegment tile, long rows, long cols, long ld,
                                      MemorySegment bias, long vOffset, long v, MemorySegment labels, int labelDtype,
                                      MemorySegment saved, MemorySegment gradLogprobs, MemorySegment gradEntropy,
                                      double temperature, int entropyLogits, MemorySegment gradBias) {
        int st;
        try {
            st = (int) linear_chunk_backward.invokeExact(ctx, tile, rows, cols, ld, bias, vOffset, v, labels,
                    labelDtype, saved, gradLogprobs, gradEntropy, temperature, entropyLogits, gradBias);
        } catch (Throwable e) {
            throw rethrow(e);
        }
        check(st, "linear_chunk_backward");
    }

    static void linear_to_f32(MemorySegment ctx, MemorySegment src, int dtype, long rows, long cols, long srcStride,
                              MemorySegment dst, long ld) {
        int st;
        try {
            st = (int) linear_to_f32.invokeExact(ctx, src, dtype, rows, cols, srcStride, dst, ld);
        } catch (Throwable e) {
            throw rethrow(e);
        }
        check(st, "linear_to_f32");
    }

    private static void check(int status, String fn) {
        if (status == PPO_OK) return;
        String msg;
        try {
            msg = ((MemorySegment) ppo_last_error.invokeExact()).getString(0);
        } catch (Throwable e) {
            msg = "(ppo_last_error failed: " + e + ")";
        }
        String text = "cpu linear_token_logprobs: " + fn + " failed (status " + status + "): " + msg;
        if (status == PPO_ERR_INVALID || status == PPO_ERR_LABEL) throw new IllegalArgumentException(text);
        if (status == PPO_ERR_ALLOC) throw new OutOfMemoryError(text);
        throw new IllegalStateException(text);
    }

    private static RuntimeException rethrow(Throwable e) {
        if (e instanceof RuntimeException r) return r;
        if (e instanceof Error err) throw err;
        return new IllegalStateException(e);
    }
}
