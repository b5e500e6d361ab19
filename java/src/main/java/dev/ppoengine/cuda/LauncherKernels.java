package dev.ppoengine.cuda;

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

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static dev.ppoengine.kernels.NativeAbi.dtypeCode;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;

/**
 * The ops of {@link dev.ppoengine.kernels.PpoKernels} on a CUDA launcher library ({@link CudaRuntime}): each
 * {@code *Impl} passes the tensors' addresses (device pointers, or host pointers for the emulator's host backend)
 * and the stream to the C function of the same name. {@link AbstractKernels} has validated shapes, dtypes and options
 * before; device-side checks that Java cannot do (labels in device memory, the token count of masked_whiten) come
 * back as PPO_ERR_LABEL / PPO_ERR_INVALID and become IllegalArgumentExceptions naming the op and shapes.
 * Scalar results are returned in host memory after the library synchronised the stream.
 */
abstract class LauncherKernels extends AbstractKernels {

    protected final CudaRuntime runtime;
    private final PpoKernelsBinding k;
    private final CudaStream stream;
    private final boolean ownsStream;
    private boolean closed;

    LauncherKernels(boolean device, CudaRuntime runtime, CudaStream stream, boolean ownsStream) {
        super(device);
        if (runtime == null || stream == null) throw new IllegalArgumentException("runtime and stream are required");
        if (stream.runtime() != runtime) {
            throw new IllegalArgumentException("stream belongs to " + stream.runtime().name() + ", not " + runtime.name());
        }
        this.runtime = runtime;
        this.k = runtime.kernels;
        this.stream = stream;
        this.ownsStream = ownsStream;
    }

    public CudaRuntime runtime() { return runtime; }

    /** The stream every op is issued on. */
    public CudaStream stream() { return stream; }

    private MemorySegment ctx() {
        if (closed) throw new IllegalStateException(name() + " kernels are closed");
        return stream.segment();
    }

    private static MemorySegment ptr(Tensor t) {
        return t == null ? MemorySegment.NULL : MemorySegment.ofAddress(t.address());
    }

    private void check(int status, String op, Tensor... shown) {
        if (status == CudaRuntime.PPO_OK) return;
        StringBuilder shapes = new StringBuilder();
        for (Tensor t : shown) {
            if (t == null) continue;
            if (!shapes.isEmpty()) shapes.append(", ");
            shapes.append(t.dtype()).append(t.shapeString());
            if (!t.isDense()) shapes.append(" stride ").append(t.rowStride());
        }
        runtime.check(status, name() + " " + op + " for " + shapes);
    }

    @Override
    protected void tokenLogprobsImpl(Tensor logits, Tensor labels, LogprobOptions o, Tensor logprobs, Tensor entropy,
                                     Tensor saved) {
        check(k.token_logprobs(ctx(), ptr(logits), dtypeCode(logits), logits.rows(), logits.cols(), logits.rowStride(),
                ptr(labels), dtypeCode(labels), o.temperature(), o.entropyLogits().ordinal(), ptr(logprobs), ptr(entropy),
                ptr(saved)), "token_logprobs", logits, labels);
    }

    @Override
    protected void tokenLogprobsBackwardImpl(Tensor logits, Tensor labels, Tensor saved, Tensor gradLogprobs,
                                             Tensor gradEntropy, LogprobOptions o, Tensor gradLogits) {
        check(k.token_logprobs_backward(ctx(), ptr(logits), dtypeCode(logits), logits.rows(), logits.cols(),
                logits.rowStride(), ptr(labels), dtypeCode(labels), ptr(saved), ptr(gradLogprobs), ptr(gradEntropy),
                o.temperature(), o.entropyLogits().ordinal(), ptr(gradLogits), dtypeCode(gradLogits), gradLogits.rowStride()),
                "token_logprobs_backward", logits, labels, gradLogits);
    }

    @Override
    protected void klPenaltyImpl(Tensor logprobs, Tensor refLogprobs, Tensor mask, KlOptions o, Tensor kl) {
        check(k.kl_penalty(ctx(), ptr(logprobs), ptr(refLogprobs), ptr(mask), dtypeCode(mask), logprobs.dim(0),
                logprobs.dim(1), o.estimator().ordinal(), o.inputClamp(), o.outputClamp(), ptr(kl)),
                "kl_penalty", logprobs, mask);
    }

    @Override
    protected void klShapedRewardsImpl(Tensor logprobs, Tensor refLogprobs, Tensor mask, Tensor scores, RewardOptions o,
                                       Tensor rewards, Tensor kl, Tensor rewardMask) {
        check(k.kl_shaped_rewards(ctx(), ptr(logprobs), ptr(refLogprobs), ptr(mask), dtypeCode(mask), ptr(scores),
                logprobs.dim(0), logprobs.dim(1), o.kl().estimator().ordinal(), o.kl().inputClamp(),
                o.kl().outputClamp(), o.klCoef(), o.scorePosition().ordinal(), o.scoreClip(),
                o.klAtScoreSlot().ordinal(), ptr(rewards), ptr(kl), ptr(rewardMask)),
                "kl_shaped_rewards", logprobs, mask, scores);
    }

    @Override
    protected void gaeImpl(Tensor rewards, Tensor values, Tensor mask, GaeOptions o, Tensor advantages, Tensor returns) {
        check(k.gae(ctx(), ptr(rewards), ptr(values), ptr(mask), dtypeCode(mask), rewards.dim(0), rewards.dim(1), o.gamma(),
                o.lam(), o.maskedSteps() == GaeMaskedSteps.SKIP ? 1 : 0, ptr(advantages), ptr(returns)),
                "gae", rewards, mask);
    }

    @Override
    protected void maskedWhitenImpl(Tensor values, Tensor mask, WhitenOptions o, Tensor whitened) {
        check(k.masked_whiten(ctx(), ptr(values), ptr(mask), dtypeCode(mask), values.dim(0), values.dim(1),
                o.variance() == WhitenVariance.UNBIASED ? 1 : 0, o.epsMode() == WhitenEpsMode.CLAMP ? 1 : 0, o.eps(),
                o.shiftMean() ? 1 : 0, ptr(whitened)), "masked_whiten", values, mask);
    }

    @Override
    protected PolicyLossResult policyLossImpl(Tensor logprobs, Tensor oldLogprobs, Tensor advantages, Tensor mask,
                                              PolicyLossOptions o, Tensor gradLogprobs) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment stats = arena.allocate(JAVA_DOUBLE, NativeAbi.PSTAT_COUNT);
            check(k.policy_loss(ctx(), ptr(logprobs), ptr(oldLogprobs), ptr(advantages), ptr(mask), dtypeCode(mask),
                    logprobs.dim(0), logprobs.dim(1), NativeAbi.policyParams(arena, o), ptr(gradLogprobs), stats),
                    "policy_loss", logprobs, mask);
            return NativeAbi.policyResult(stats, 0);
        }
    }

    @Override
    protected ValueLossResult valueLossImpl(Tensor values, Tensor oldValues, Tensor returns, Tensor mask,
                                            ValueLossOptions o, Tensor gradValues) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment stats = arena.allocate(JAVA_DOUBLE, NativeAbi.VSTAT_COUNT);
            check(k.value_loss(ctx(), ptr(values), ptr(oldValues), ptr(returns), ptr(mask), dtypeCode(mask), values.dim(0),
                    values.dim(1), NativeAbi.valueParams(arena, o), ptr(gradValues), stats), "value_loss", values, mask);
            return NativeAbi.valueResult(stats, 0);
        }
    }

    @Override
    protected PpoLossResult ppoLossImpl(PpoLossInputs in, PpoLossOptions o, Tensor gradLogprobs, Tensor gradValues,
                                        Tensor gradEntropy) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment stats = arena.allocate(JAVA_DOUBLE, NativeAbi.LSTAT_COUNT);
            Tensor lp = in.logprobs();
            check(k.ppo_loss(ctx(), ptr(lp), ptr(in.oldLogprobs()), ptr(in.advantages()), ptr(in.values()),
                    ptr(in.oldValues()), ptr(in.returns()), ptr(in.mask()), ptr(in.valueMask()), dtypeCode(in.mask()),
                    dtypeCode(in.valueMask()), ptr(in.entropy()), lp.dim(0), lp.dim(1), NativeAbi.policyParams(arena, o.policy()),
                    NativeAbi.valueParams(arena, o.value()), o.vfCoef(), o.entropyCoef(), ptr(gradLogprobs), ptr(gradValues),
                    ptr(gradEntropy), stats), "ppo_loss", lp, in.mask(), in.valueMask());
            return NativeAbi.ppoResult(stats);
        }
    }

    @Override
    protected void groupAdvantagesImpl(Tensor scores, Tensor mask, GroupOptions o, Tensor advantages) {
        check(k.group_advantages(ctx(), ptr(scores), scores.dim(0), o.groupSize(), o.estimator().ordinal(), o.stdEps(),
                ptr(mask), dtypeCode(mask), mask == null ? 0L : mask.dim(1), ptr(advantages)),
                "group_advantages", scores, mask);
    }

    /** Waits for every op issued on the stream (ops that return scalars already did). */
    public void synchronize() { stream.synchronize(); }

    /** Destroys the stream if this object created it; idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (ownsStream) stream.close();
    }
}
