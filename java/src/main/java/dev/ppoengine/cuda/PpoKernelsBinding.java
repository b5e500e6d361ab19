package dev.ppoengine.cuda;

import java.lang.foreign.AddressLayout;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * FFM binding of {@code native/include/ppo_kernels.h} as implemented by a CUDA launcher library (libppo_cuda.so or
 * libppo_cuda_sim.so): one downcall handle per C function, built once per library, methods named after the C symbols.
 * Pointer arguments are device pointers (or, for the emulator's host backend, host pointers) wrapped as
 * zero-length segments; {@code ctx} is a cudaStream_t. Every function returns a PPO_* status.
 */
final class PpoKernelsBinding {
    private static final AddressLayout A = ADDRESS;
    private static final AddressLayout CSTRING = ADDRESS.withTargetLayout(MemoryLayout.sequenceLayout(4096, JAVA_BYTE));
    private static final MemoryLayout I = JAVA_INT, J = JAVA_LONG, D = JAVA_DOUBLE;

    private final MethodHandle abiVersion, lastError, tokenLogprobs, tokenLogprobsBackward, klPenalty, klShapedRewards,
            gae, maskedWhiten, policyLoss, valueLoss, ppoLoss, groupAdvantages;

    PpoKernelsBinding(SymbolLookup lib, String libName) {
        abiVersion = handle(lib, libName, "ppo_abi_version", I);
        lastError = handle(lib, libName, "ppo_last_error", CSTRING);
        // (ctx, logits, dtype, n, v, row_stride, labels, label_dtype, temperature, entropy_logits, logprobs, entropy, saved)
        tokenLogprobs = handle(lib, libName, "token_logprobs", I, A, A, I, J, J, J, A, I, D, I, A, A, A);
        // (ctx, logits, dtype, n, v, row_stride, labels, label_dtype, saved, grad_logprobs, grad_entropy, temperature,
        //  entropy_logits, grad_logits, grad_dtype, grad_row_stride)
        tokenLogprobsBackward = handle(lib, libName, "token_logprobs_backward", I,
                A, A, I, J, J, J, A, I, A, A, A, D, I, A, I, J);
        // (ctx, logprobs, ref_logprobs, mask, mask_dtype, b, t, estimator, input_clamp, output_clamp, kl)
        klPenalty = handle(lib, libName, "kl_penalty", I, A, A, A, A, I, J, J, I, D, D, A);
        // (ctx, logprobs, ref_logprobs, mask, mask_dtype, scores, b, t, estimator, input_clamp, output_clamp, kl_coef,
        //  score_position, score_clip, kl_at_score_slot, rewards, kl, reward_mask)
        klShapedRewards = handle(lib, libName, "kl_shaped_rewards", I,
                A, A, A, A, I, A, J, J, I, D, D, D, I, D, I, A, A, A);
        // (ctx, rewards, values, mask, mask_dtype, b, t, gamma, lam, masked_steps, advantages, returns)
        gae = handle(lib, libName, "gae", I, A, A, A, A, I, J, J, D, D, I, A, A);
        // (ctx, values, mask, mask_dtype, b, t, unbiased, eps_clamp, eps, shift_mean, whitened)
        maskedWhiten = handle(lib, libName, "masked_whiten", I, A, A, A, I, J, J, I, I, D, I, A);
        // (ctx, logprobs, old_logprobs, advantages, mask, mask_dtype, b, t, params, grad_logprobs, stats)
        policyLoss = handle(lib, libName, "policy_loss", I, A, A, A, A, A, I, J, J, A, A, A);
        // (ctx, values, old_values, returns, mask, mask_dtype, b, t, params, grad_values, stats)
        valueLoss = handle(lib, libName, "value_loss", I, A, A, A, A, A, I, J, J, A, A, A);
        // (ctx, logprobs, old_logprobs, advantages, values, old_values, returns, mask, value_mask, mask_dtype,
        //  value_mask_dtype, entropy, b, t, policy_params, value_params, vf_coef, entropy_coef, grad_logprobs,
        //  grad_values, grad_entropy, stats)
        ppoLoss = handle(lib, libName, "ppo_loss", I, A, A, A, A, A, A, A, A, A, I, I, A, J, J, A, A, D, D, A, A, A, A);
        // (ctx, scores, b, group_size, estimator, std_eps, mask, mask_dtype, t, advantages)
        groupAdvantages = handle(lib, libName, "group_advantages", I, A, A, J, J, I, D, A, I, J, A);
    }

    static MethodHandle handle(SymbolLookup lib, String libName, String name, MemoryLayout result, MemoryLayout... args) {
        MemorySegment fn = lib.find(name).orElseThrow(
                () -> new IllegalStateException(libName + " has no symbol " + name + " (built from other sources?)"));
        return Linker.nativeLinker().downcallHandle(fn, FunctionDescriptor.of(result, args));
    }

    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }

    int ppo_abi_version() {
        try {
            return (int) abiVersion.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    String ppo_last_error() {
        try {
            MemorySegment s = (MemorySegment) lastError.invokeExact();
            return s.equals(MemorySegment.NULL) ? "" : s.getString(0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int token_logprobs(MemorySegment ctx, MemorySegment logits, int dtype, long n, long v, long rowStride,
                       MemorySegment labels, int labelDtype, double temperature, int entropyLogits,
                       MemorySegment logprobs, MemorySegment entropy, MemorySegment saved) {
        try {
            return (int) tokenLogprobs.invokeExact(ctx, logits, dtype, n, v, rowStride, labels, labelDtype, temperature,
                    entropyLogits, logprobs, entropy, saved);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int token_logprobs_backward(MemorySegment ctx, MemorySegment logits, int dtype, long n, long v, long rowStride,
                                MemorySegment labels, int labelDtype, MemorySegment saved, MemorySegment gradLogprobs,
                                MemorySegment gradEntropy, double temperature, int entropyLogits,
                                MemorySegment gradLogits, int gradDtype, long gradRowStride) {
        try {
            return (int) tokenLogprobsBackward.invokeExact(ctx, logits, dtype, n, v, rowStride, labels, labelDtype, saved,
                    gradLogprobs, gradEntropy, temperature, entropyLogits, gradLogits, gradDtype, gradRowStride);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int kl_penalty(MemorySegment ctx, MemorySegment logprobs, MemorySegment refLogprobs, MemorySegment mask,
                   int maskDtype, long b, long t, int estimator, double inputClamp, double outputClamp,
                   MemorySegment kl) {
        try {
            return (int) klPenalty.invokeExact(ctx, logprobs, refLogprobs, mask, maskDtype, b, t, estimator, inputClamp,
                    outputClamp, kl);
        } catch (Throwable e) {
            throw rethrow(e);
        }
    }

    int kl_shaped_rewards(MemorySegment ctx, MemorySegment logprobs, MemorySegment refLogprobs, MemorySegment mask,
                          int maskDtype, MemorySegment scores, long b, long t, int estimator, double inputClamp,
                          double outputClamp, double klCoef, int scorePosition, double scoreClip, int klAtScoreSlot,
                          MemorySegment rewards, MemorySegment kl, MemorySegment rewardMask) {
        try {
            return (int) klShapedRewards.invokeExact(ctx, logprobs, refLogprobs, mask, maskDtype, scores, b, t, estimator,
                    inputClamp, outputClamp, klCoef, scorePosition, scoreClip, klAtScoreSlot, rewards, kl, rewardMask);
        } catch (Throwable e) {
            throw rethrow(e);
        }
    }

    int gae(MemorySegment ctx, MemorySegment rewards, MemorySegment values, MemorySegment mask, int maskDtype, long b,
            long t, double gamma, double lam, int maskedSteps, MemorySegment advantages, MemorySegment returns) {
        try {
            return (int) gae.invokeExact(ctx, rewards, values, mask, maskDtype, b, t, gamma, lam, maskedSteps, advantages,
                    returns);
        } catch (Throwable e) {
            throw rethrow(e);
        }
    }

    int masked_whiten(MemorySegment ctx, MemorySegment values, MemorySegment mask, int maskDtype, long b, long t,
                      int unbiased, int epsClamp, double eps, int shiftMean, MemorySegment whitened) {
        try {
            return (int) maskedWhiten.invokeExact(ctx, values, mask, maskDtype, b, t, unbiased, epsClamp, eps, shiftMean,
                    whitened);
        } catch (Throwable e) {
            throw rethrow(e);
        }
    }

    int policy_loss(MemorySegment ctx, MemorySegment logprobs, MemorySegment oldLogprobs, MemorySegment advantages,
                    MemorySegment mask, int maskDtype, long b, long t, MemorySegment params, MemorySegment gradLogprobs,
                    MemorySegment stats) {
        try {
            return (int) policyLoss.invokeExact(ctx, logprobs, oldLogprobs, advantages, mask, maskDtype, b, t, params,
                    gradLogprobs, stats);
        } catch (Throwable e) {
            throw rethrow(e);
        }
    }

    int value_loss(MemorySegment ctx, MemorySegment values, MemorySegment oldValues, MemorySegment returns,
                   MemorySegment mask, int maskDtype, long b, long t, MemorySegment params, MemorySegment gradValues,
                   MemorySegment stats) {
        try {
            return (int) valueLoss.invokeExact(ctx, values, oldValues, returns, mask, maskDtype, b, t, params, gradValues,
                    stats);
        } catch (Throwable e) {
            throw rethrow(e);
        }
    }

    int ppo_loss(MemorySegment ctx, MemorySegment logprobs, MemorySegment oldLogprobs, MemorySegment advantages,
                 MemorySegment values, MemorySegment oldValues, MemorySegment returns, MemorySegment mask,
                 MemorySegment valueMask, int maskDtype, int valueMaskDtype, MemorySegment entropy, long b, long t,
                 MemorySegment policyParams, MemorySegment valueParams, double vfCoef, double entropyCoef,
                 MemorySegment gradLogprobs, MemorySegment gradValues, MemorySegment gradEntropy, MemorySegment stats) {
        try {
            return (int) ppoLoss.invokeExact(ctx, logprobs, oldLogprobs, advantages, values, oldValues, returns, mask,
                    valueMask, maskDtype, valueMaskDtype, entropy, b, t, policyParams, valueParams, vfCoef, entropyCoef,
                    gradLogprobs, gradValues, gradEntropy, stats);
        } catch (Throwable e) {
            throw rethrow(e);
        }
    }

    int group_advantages(MemorySegment ctx, MemorySegment scores, long b, long groupSize, int estimator, double stdEps,
                         MemorySegment mask, int maskDtype, long t, MemorySegment advantages) {
        try {
            return (int) groupAdvantages.invokeExact(ctx, scores, b, groupSize, estimator, stdEps, mask, maskDtype, t,
                    advantages);
        } catch (Throwable e) {
            throw rethrow(e);
        }
    }
}
