package dev.ppoengine.cpu;

import dev.ppoengine.kernels.AbstractKernels;
import dev.ppoengine.kernels.GaeMaskedSteps;
import dev.ppoengine.kernels.GaeOptions;
import dev.ppoengine.kernels.GroupOptions;
import dev.ppoengine.kernels.KlOptions;
import dev.ppoengine.kernels.LogprobOptions;
import dev.ppoengine.kernels.NativeAbi;
import dev.ppoengine.kernels.PolicyLossOptions;
import dev.ppoengine.kernels.PolicyLossResult;
import dev.ppoengine.kernels.PpoLossInputs;
import dev.ppoengine.kernels.PpoLossOptions;
import dev.ppoengine.kernels.PpoLossResult;
import dev.ppoengine.kernels.RewardOptions;
import dev.ppoengine.kernels.ValueLossOptions;
import dev.ppoengine.kernels.ValueLossResult;
import dev.ppoengine.kernels.WhitenEpsMode;
import dev.ppoengine.kernels.WhitenOptions;
import dev.ppoengine.kernels.WhitenVariance;
import dev.ppoengine.tensor.Tensor;

import java.lang.foreign.AddressLayout;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Arrays;

import static dev.ppoengine.kernels.NativeAbi.dtypeCode;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The {@code cpu} backend: FFM bindings to libppo_native.so, one downcall handle per function of
 * {@code native/include/ppo_kernels.h}, named after the C symbol and built once.
 *
 * <p>{@link AbstractKernels} has validated every argument before an {@code *Impl} method runs, so the native code
 * gets dense f32 per-token tensors, in-range labels and valid options. The short calls (everything but
 * token_logprobs and its backward, which read gigabytes) are {@code critical}: no thread-state transition.
 * A non-zero status becomes an exception naming the op, the shapes and {@code ppo_last_error()}.
 * Thread count: the constructor argument, else {@code -Dppo.threads}, else all available processors; the results
 * are bitwise the same for every thread count (the C library reduces fixed chunks in a fixed order).
 */
public final class NativeCpuKernels extends AbstractKernels {

    /** Cap on the SIMD variant the library may use (ppo_cpu_ctx.isa); BEST = what the CPU supports. */
    public enum SimdLevel { BEST, GENERIC, AVX2, AVX512 }

    private static final int PPO_OK = 0, PPO_ERR_INVALID = 1, PPO_ERR_LABEL = 2, PPO_ERR_ALLOC = 3;

    private static final AddressLayout A = ADDRESS;
    private static final AddressLayout CSTRING = ADDRESS.withTargetLayout(MemoryLayout.sequenceLayout(512, JAVA_BYTE));
    private static final MemoryLayout I = JAVA_INT, J = JAVA_LONG, D = JAVA_DOUBLE;

    private static MethodHandle handle(String name, boolean shortCall, MemoryLayout result, MemoryLayout... args) {
        FunctionDescriptor fd = FunctionDescriptor.of(result, args);
        Linker.Option[] options = shortCall ? new Linker.Option[] {Linker.Option.critical(true)} : new Linker.Option[0];
        return Linker.nativeLinker().downcallHandle(NativeLibrary.symbol(name), fd, options);
    }

    // const char *ppo_last_error(void)
    private static final MethodHandle ppo_last_error = handle("ppo_last_error", true, CSTRING);
    // token_logprobs(ctx, logits, dtype, n, v, row_stride, labels, label_dtype, temperature, entropy_logits,
    //                logprobs, entropy, saved)
    private static final MethodHandle token_logprobs = handle("token_logprobs", false, I,
            A, A, I, J, J, J, A, I, D, I, A, A, A);
    // token_logprobs_backward(ctx, logits, dtype, n, v, row_stride, labels, label_dtype, saved, grad_logprobs,
    //                         grad_entropy, temperature, entropy_logits, grad_logits, grad_dtype, grad_row_stride)
    private static final MethodHandle token_logprobs_backward = handle("token_logprobs_backward", false, I,
            A, A, I, J, J, J, A, I, A, A, A, D, I, A, I, J);
    // kl_penalty(ctx, logprobs, ref_logprobs, mask, mask_dtype, b, t, estimator, input_clamp, output_clamp, kl)
    private static final MethodHandle kl_penalty = handle("kl_penalty", true, I, A, A, A, A, I, J, J, I, D, D, A);
    // kl_shaped_rewards(ctx, logprobs, ref_logprobs, mask, mask_dtype, scores, b, t, estimator, input_clamp,
    //                   output_clamp, kl_coef, score_position, score_clip, kl_at_score_slot, rewards, kl, reward_mask)
    private static final MethodHandle kl_shaped_rewards = handle("kl_shaped_rewards", true, I,
            A, A, A, A, I, A, J, J, I, D, D, D, I, D, I, A, A, A);
    // gae(ctx, rewards, values, mask, mask_dtype, b, t, gamma, lam, masked_steps, advantages, returns)
    private static final MethodHandle gae = handle("gae", true, I, A, A, A, A, I, J, J, D, D, I, A, A);
    // masked_whiten(ctx, values, mask, mask_dtype, b, t, unbiased, eps_clamp, eps, shift_mean, whitened)
    private static final MethodHandle masked_whiten = handle("masked_whiten", true, I, A, A, A, I, J, J, I, I, D, I, A);
    // policy_loss(ctx, logprobs, old_logprobs, advantages, mask, mask_dtype, b, t, params, grad_logprobs, stats)
    private static final MethodHandle policy_loss = handle("policy_loss", true, I, A, A, A, A, A, I, J, J, A, A, A);
    // value_loss(ctx, values, old_values, returns, mask, mask_dtype, b, t, params, grad_values, stats)
    private static final MethodHandle value_loss = handle("value_loss", true, I, A, A, A, A, A, I, J, J, A, A, A);
    // ppo_loss(ctx, logprobs, old_logprobs, advantages, values, old_values, returns, mask, value_mask, mask_dtype,
    //          value_mask_dtype, entropy, b, t, policy_params, value_params, vf_coef, entropy_coef, grad_logprobs,
    //          grad_values, grad_entropy, stats)
    private static final MethodHandle ppo_loss = handle("ppo_loss", true, I,
            A, A, A, A, A, A, A, A, A, I, I, A, J, J, A, A, D, D, A, A, A, A);
    // group_advantages(ctx, scores, b, group_size, estimator, std_eps, mask, mask_dtype, t, advantages)
    private static final MethodHandle group_advantages = handle("group_advantages", true, I,
            A, A, J, J, I, D, A, I, J, A);

    private final int threads;
    private final SimdLevel simd;
    private final MemorySegment ctx;   // ppo_cpu_ctx { int32 threads; int32 isa; }, alive as long as this object

    /** Threads from -Dppo.threads (default: available processors), best SIMD level. */
    public NativeCpuKernels() {
        this(Integer.getInteger("ppo.threads", Runtime.getRuntime().availableProcessors()));
    }

    public NativeCpuKernels(int threads) {
        this(threads, SimdLevel.BEST);
    }

    public NativeCpuKernels(int threads, SimdLevel simd) {
        super(false);
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        if (simd == null) throw new IllegalArgumentException("simd level must not be null");
        this.threads = threads;
        this.simd = simd;
        this.ctx = Arena.ofAuto().allocate(8, 8);
        ctx.set(JAVA_INT, 0, threads);
        ctx.set(JAVA_INT, 4, simd.ordinal());
    }

    @Override
    public String name() {
        return "cpu";
    }

    public int threads() {
        return threads;
    }

    public SimdLevel simdLevel() {
        return simd;
    }

    // ---------------- helpers ----------------

    private static MemorySegment seg(Tensor t) {
        return t == null ? MemorySegment.NULL : t.segment();
    }

    private static String lastError() {
        try {
            return ((MemorySegment) ppo_last_error.invokeExact()).getString(0);
        } catch (Throwable e) {
            return "(ppo_last_error failed: " + e + ")";
        }
    }

    private static void check(int status, String op, Tensor... shown) {
        if (status == PPO_OK) return;
        StringBuilder shapes = new StringBuilder();
        for (Tensor t : shown) {
            if (t == null) continue;
            if (!shapes.isEmpty()) shapes.append(", ");
            shapes.append(t.dtype()).append(Arrays.toString(t.shape()));
            if (!t.isDense()) shapes.append(" stride ").append(t.rowStride());
        }
        String msg = "cpu " + op + " failed (status " + status + ") for " + shapes + ": " + lastError();
        if (status == PPO_ERR_INVALID || status == PPO_ERR_LABEL) throw new IllegalArgumentException(msg);
        if (status == PPO_ERR_ALLOC) throw new OutOfMemoryError(msg);
        throw new IllegalStateException(msg);
    }

    private static RuntimeException rethrow(Throwable e) {
        if (e instanceof RuntimeException r) return r;
        if (e instanceof Error err) throw err;
        return new IllegalStateException(e);
    }

    // ---------------- ops ----------------

    @Override
    protected void tokenLogprobsImpl(Tensor logits, Tensor labels, LogprobOptions o, Tensor logprobs, Tensor entropy,
                                     Tensor saved) {
        int st;
        try {
            st = (int) token_logprobs.invokeExact(ctx, seg(logits), dtypeCode(logits), logits.rows(), logits.cols(),
                    logits.rowStride(), seg(labels), dtypeCode(labels), o.temperature(), o.entropyLogits().ordinal(),
                    seg(logprobs), seg(entropy), seg(saved));
        } catch (Throwable e) {
            throw rethrow(e);
        }
        check(st, "token_logprobs", logits, labels);
    }

    @Override
    protected void tokenLogprobsBackwardImpl(Tensor logits, Tensor labels, Tensor saved, Tensor gradLogprobs,
                                             Tensor gradEntropy, LogprobOptions o, Tensor gradLogits) {
        int st;
        try {
            st = (int) token_logprobs_backward.invokeExact(ctx, seg(logits), dtypeCode(logits), logits.rows(),
                    logits.cols(), logits.rowStride(), seg(labels), dtypeCode(labels), seg(saved), seg(gradLogprobs),
                    seg(gradEntropy), o.temperature(), o.entropyLogits().ordinal(), seg(gradLogits), dtypeCode(gradLogits),
                    gradLogits.rowStride());
        } catch (Throwable e) {
            throw rethrow(e);
        }
        check(st, "token_logprobs_backward", logits, labels, gradLogits);
    }

    @Override
    protected void klPenaltyImpl(Tensor logprobs, Tensor refLogprobs, Tensor mask, KlOptions o, Tensor kl) {
        int st;
        try {
            st = (int) kl_penalty.invokeExact(ctx, seg(logprobs), seg(refLogprobs), seg(mask), dtypeCode(mask),
                    logprobs.dim(0), logprobs.dim(1), o.estimator().ordinal(), o.inputClamp(), o.outputClamp(), seg(kl));
        } catch (Throwable e) {
            throw rethrow(e);
        }
        check(st, "kl_penalty", logprobs, mask);
    }

    @Override
    protected void klShapedRewardsImpl(Tensor logprobs, Tensor refLogprobs, Tensor mask, Tensor scores,
                                       RewardOptions o, Tensor rewards, Tensor kl, Tensor rewardMask) {
        int st;
        try {
            st = (int) kl_shaped_rewards.invokeExact(ctx, seg(logprobs), seg(refLogprobs), seg(mask), dtypeCode(mask),
                    seg(scores), logprobs.dim(0), logprobs.dim(1), o.kl().estimator().ordinal(), o.kl().inputClamp(),
                    o.kl().outputClamp(), o.klCoef(), o.scorePosition().ordinal(), o.scoreClip(),
                    o.klAtScoreSlot().ordinal(), seg(rewards), seg(kl), seg(rewardMask));
        } catch (Throwable e) {
            throw rethrow(e);
        }
        check(st, "kl_shaped_rewards", logprobs, mask, scores);
    }

    @Override
    protected void gaeImpl(Tensor rewards, Tensor values, Tensor mask, GaeOptions o, Tensor advantages, Tensor returns) {
        int st;
        try {
            st = (int) gae.invokeExact(ctx, seg(rewards), seg(values), seg(mask), dtypeCode(mask), rewards.dim(0),
                    rewards.dim(1), o.gamma(), o.lam(), o.maskedSteps() == GaeMaskedSteps.SKIP ? 1 : 0,
                    seg(advantages), seg(returns));
        } catch (Throwable e) {
            throw rethrow(e);
        }
        check(st, "gae", rewards, mask);
    }

    @Override
    protected void maskedWhitenImpl(Tensor values, Tensor mask, WhitenOptions o, Tensor whitened) {
        int st;
        try {
            st = (int) masked_whiten.invokeExact(ctx, seg(values), seg(mask), dtypeCode(mask), values.dim(0), values.dim(1),
                    o.variance() == WhitenVariance.UNBIASED ? 1 : 0, o.epsMode() == WhitenEpsMode.CLAMP ? 1 : 0,
                    o.eps(), o.shiftMean() ? 1 : 0, seg(whitened));
        } catch (Throwable e) {
            throw rethrow(e);
        }
        check(st, "masked_whiten", values, mask);
    }

    @Override
    protected PolicyLossResult policyLossImpl(Tensor logprobs, Tensor oldLogprobs, Tensor advantages, Tensor mask,
                                              PolicyLossOptions o, Tensor gradLogprobs) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment params = NativeAbi.policyParams(arena, o);
            MemorySegment stats = arena.allocate(JAVA_DOUBLE, NativeAbi.PSTAT_COUNT);
            int st;
            try {
                st = (int) policy_loss.invokeExact(ctx, seg(logprobs), seg(oldLogprobs), seg(advantages), seg(mask),
                        dtypeCode(mask), logprobs.dim(0), logprobs.dim(1), params, seg(gradLogprobs), stats);
            } catch (Throwable e) {
                throw rethrow(e);
            }
            check(st, "policy_loss", logprobs, mask);
            return NativeAbi.policyResult(stats, 0);
        }
    }

    @Override
    protected ValueLossResult valueLossImpl(Tensor values, Tensor oldValues, Tensor returns, Tensor mask,
                                            ValueLossOptions o, Tensor gradValues) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment params = NativeAbi.valueParams(arena, o);
            MemorySegment stats = arena.allocate(JAVA_DOUBLE, NativeAbi.VSTAT_COUNT);
            int st;
            try {
                st = (int) value_loss.invokeExact(ctx, seg(values), seg(oldValues), seg(returns), seg(mask), dtypeCode(mask),
                        values.dim(0), values.dim(1), params, seg(gradValues), stats);
            } catch (Throwable e) {
                throw rethrow(e);
            }
            check(st, "value_loss", values, mask);
            return NativeAbi.valueResult(stats, 0);
        }
    }

    @Override
    protected PpoLossResult ppoLossImpl(PpoLossInputs in, PpoLossOptions o, Tensor gradLogprobs, Tensor gradValues,
                                        Tensor gradEntropy) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pp = NativeAbi.policyParams(arena, o.policy());
            MemorySegment vp = NativeAbi.valueParams(arena, o.value());
            MemorySegment stats = arena.allocate(JAVA_DOUBLE, NativeAbi.LSTAT_COUNT);
            Tensor lp = in.logprobs();
            int st;
            try {
                st = (int) ppo_loss.invokeExact(ctx, seg(lp), seg(in.oldLogprobs()), seg(in.advantages()),
                        seg(in.values()), seg(in.oldValues()), seg(in.returns()), seg(in.mask()), seg(in.valueMask()),
                        dtypeCode(in.mask()), dtypeCode(in.valueMask()), seg(in.entropy()), lp.dim(0), lp.dim(1), pp, vp,
                        o.vfCoef(), o.entropyCoef(), seg(gradLogprobs), seg(gradValues), seg(gradEntropy), stats);
            } catch (Throwable e) {
                throw rethrow(e);
            }
            check(st, "ppo_loss", lp, in.mask(), in.valueMask());
            return NativeAbi.ppoResult(stats);
        }
    }

    @Override
    protected void groupAdvantagesImpl(Tensor scores, Tensor mask, GroupOptions o, Tensor advantages) {
        int st;
        try {
            st = (int) group_advantages.invokeExact(ctx, seg(scores), scores.dim(0), (long) o.groupSize(),
                    o.estimator().ordinal(), o.stdEps(), seg(mask), dtypeCode(mask), mask == null ? 0L : mask.dim(1),
                    seg(advantages));
        } catch (Throwable e) {
            throw rethrow(e);
        }
        check(st, "group_advantages", scores, mask);
    }
}
