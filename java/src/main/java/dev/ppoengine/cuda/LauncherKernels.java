package dev.ppoengine.cuda;

import dev.ppoengine.kernels.AbstractKernels;
import dev.ppoengine.kernels.Aggregation;
import dev.ppoengine.kernels.GaeMaskedSteps;
import dev.ppoengine.kernels.GaeOptions;
import dev.ppoengine.kernels.GroupOptions;
import dev.ppoengine.kernels.KlOptions;
import dev.ppoengine.kernels.LogprobOptions;
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

import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The ops of {@link dev.ppoengine.kernels.PpoKernels} on a CUDA launcher library ({@link CudaRuntime}): each
 * {@code *Impl} passes the tensors' addresses (device pointers, or host pointers for the emulator's host backend)
 * and the stream to the C function of the same name. {@link AbstractKernels} has validated shapes, dtypes and options
 * before; device-side checks that Java cannot do (labels in device memory, the token count of masked_whiten) come
 * back as PPO_ERR_LABEL / PPO_ERR_INVALID and become IllegalArgumentExceptions naming the op and shapes.
 * Scalar results are returned in host memory after the library synchronised the stream.
 */
abstract class LauncherKernels extends AbstractKernels {
    private static final int PPO_PSTAT_COUNT = 7, PPO_VSTAT_COUNT = 2, PPO_LSTAT_COUNT = 13;
    private static final int PPO_LSTAT_PSTATS = 4, PPO_LSTAT_VSTATS = 11;

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

    /** PPO_* dtype code (BOOL is stored as U8). */
    private static int code(Tensor t) {
        if (t == null) return 0;
        return switch (t.dtype()) {
            case F32 -> 0;
            case BF16 -> 1;
            case F16 -> 2;
            case I32 -> 3;
            case I64 -> 4;
            case U8, BOOL -> 5;
            case F64 -> throw new IllegalArgumentException(t + ": f64 is not a kernel dtype");
        };
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

    private static MemorySegment policyParams(Arena arena, PolicyLossOptions o) {
        MemorySegment p = arena.allocate(8 * 8, 8);   // ppo_policy_params: 8 eight-byte fields
        p.set(JAVA_DOUBLE, 0, o.clipLow());
        p.set(JAVA_DOUBLE, 8, o.clipHigh());
        p.set(JAVA_DOUBLE, 16, o.logRatioClamp());
        p.set(JAVA_DOUBLE, 24, o.dualClip());
        aggregation(p, 32, o.agg());
        p.set(JAVA_DOUBLE, 56, o.ratioThreshold());
        return p;
    }

    private static MemorySegment valueParams(Arena arena, ValueLossOptions o) {
        MemorySegment p = arena.allocate(4 * 8, 8);   // ppo_value_params
        p.set(JAVA_DOUBLE, 0, o.valueClip());
        aggregation(p, 8, o.agg());
        return p;
    }

    private static void aggregation(MemorySegment p, long offset, Aggregation agg) {
        p.set(JAVA_LONG, offset, agg.mode().ordinal());
        p.set(JAVA_DOUBLE, offset + 8, agg.tokenCount());
        p.set(JAVA_DOUBLE, offset + 16, agg.norm());
    }

    private static PolicyLossResult policyResult(MemorySegment stats, int base) {
        double[] s = new double[PPO_PSTAT_COUNT];
        for (int i = 0; i < s.length; i++) s[i] = stats.getAtIndex(JAVA_DOUBLE, base + i);
        return new PolicyLossResult(s[0], s[1], s[2], s[3], s[4], s[5], s[6] != 0);
    }

    @Override
    protected void tokenLogprobsImpl(Tensor logits, Tensor labels, LogprobOptions o, Tensor logprobs, Tensor entropy,
                                     Tensor saved) {
        check(k.token_logprobs(ctx(), ptr(logits), code(logits), logits.rows(), logits.cols(), logits.rowStride(),
                ptr(labels), code(labels), o.temperature(), o.entropyLogits().ordinal(), ptr(logprobs), ptr(entropy),
                ptr(saved)), "token_logprobs", logits, labels);
    }

    @Override
    protected void tokenLogprobsBackwardImpl(Tensor logits, Tensor labels, Tensor saved, Tensor gradLogprobs,
                                             Tensor gradEntropy, LogprobOptions o, Tensor gradLogits) {
        check(k.token_logprobs_backward(ctx(), ptr(logits), code(logits), logits.rows(), logits.cols(),
                logits.rowStride(), ptr(labels), code(labels), ptr(saved), ptr(gradLogprobs), ptr(gradEntropy),
                o.temperature(), o.entropyLogits().ordinal(), ptr(gradLogits), code(gradLogits), gradLogits.rowStride()),
                "token_logprobs_backward", logits, labels, gradLogits);
    }

    @Override
    protected void klPenaltyImpl(Tensor logprobs, Tensor refLogprobs, Tensor mask, KlOptions o, Tensor kl) {
        check(k.kl_penalty(ctx(), ptr(logprobs), ptr(refLogprobs), ptr(mask), code(mask), logprobs.dim(0),
                logprobs.dim(1), o.estimator().ordinal(), o.inputClamp(), o.outputClamp(), ptr(kl)),
                "kl_penalty", logprobs, mask);
    }

    @Override
    protected void klShapedRewardsImpl(Tensor logprobs, Tensor refLogprobs, Tensor mask, Tensor scores, RewardOptions o,
                                       Tensor rewards, Tensor kl, Tensor rewardMask) {
        check(k.kl_shaped_rewards(ctx(), ptr(logprobs), ptr(refLogprobs), ptr(mask), code(mask), ptr(scores),
                logprobs.dim(0), logprobs.dim(1), o.kl().estimator().ordinal(), o.kl().inputClamp(),
                o.kl().outputClamp(), o.klCoef(), o.scorePosition().ordinal(), o.scoreClip(),
                o.klAtScoreSlot().ordinal(), ptr(rewards), ptr(kl), ptr(rewardMask)),
                "kl_shaped_rewards", logprobs, mask, scores);
    }

    @Override
    protected void gaeImpl(Tensor rewards, Tensor values, Tensor mask, GaeOptions o, Tensor advantages, Tensor returns) {
        check(k.gae(ctx(), ptr(rewards), ptr(values), ptr(mask), code(mask), rewards.dim(0), rewards.dim(1), o.gamma(),
                o.lam(), o.maskedSteps() == GaeMaskedSteps.SKIP ? 1 : 0, ptr(advantages), ptr(returns)),
                "gae", rewards, mask);
    }

    @Override
    protected void maskedWhitenImpl(Tensor values, Tensor mask, WhitenOptions o, Tensor whitened) {
        check(k.masked_whiten(ctx(), ptr(values), ptr(mask), code(mask), values.dim(0), values.dim(1),
                o.variance() == WhitenVariance.UNBIASED ? 1 : 0, o.epsMode() == WhitenEpsMode.CLAMP ? 1 : 0, o.eps(),
                o.shiftMean() ? 1 : 0, ptr(whitened)), "masked_whiten", values, mask);
    }

    @Override
    protected PolicyLossResult policyLossImpl(Tensor logprobs, Tensor oldLogprobs, Tensor advantages, Tensor mask,
                                              PolicyLossOptions o, Tensor gradLogprobs) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment stats = arena.allocate(JAVA_DOUBLE, PPO_PSTAT_COUNT);
            check(k.policy_loss(ctx(), ptr(logprobs), ptr(oldLogprobs), ptr(advantages), ptr(mask), code(mask),
                    logprobs.dim(0), logprobs.dim(1), policyParams(arena, o), ptr(gradLogprobs), stats),
                    "policy_loss", logprobs, mask);
            return policyResult(stats, 0);
        }
    }

    @Override
    protected ValueLossResult valueLossImpl(Tensor values, Tensor oldValues, Tensor returns, Tensor mask,
                                            ValueLossOptions o, Tensor gradValues) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment stats = arena.allocate(JAVA_DOUBLE, PPO_VSTAT_COUNT);
            check(k.value_loss(ctx(), ptr(values), ptr(oldValues), ptr(returns), ptr(mask), code(mask), values.dim(0),
                    values.dim(1), valueParams(arena, o), ptr(gradValues), stats), "value_loss", values, mask);
            return new ValueLossResult(stats.getAtIndex(JAVA_DOUBLE, 0), stats.getAtIndex(JAVA_DOUBLE, 1));
        }
    }

    @Override
    protected PpoLossResult ppoLossImpl(PpoLossInputs in, PpoLossOptions o, Tensor gradLogprobs, Tensor gradValues,
                                        Tensor gradEntropy) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment stats = arena.allocate(JAVA_DOUBLE, PPO_LSTAT_COUNT);
            Tensor lp = in.logprobs();
            check(k.ppo_loss(ctx(), ptr(lp), ptr(in.oldLogprobs()), ptr(in.advantages()), ptr(in.values()),
                    ptr(in.oldValues()), ptr(in.returns()), ptr(in.mask()), ptr(in.valueMask()), code(in.mask()),
                    code(in.valueMask()), ptr(in.entropy()), lp.dim(0), lp.dim(1), policyParams(arena, o.policy()),
                    valueParams(arena, o.value()), o.vfCoef(), o.entropyCoef(), ptr(gradLogprobs), ptr(gradValues),
                    ptr(gradEntropy), stats), "ppo_loss", lp, in.mask(), in.valueMask());
            ValueLossResult value = new ValueLossResult(stats.getAtIndex(JAVA_DOUBLE, PPO_LSTAT_VSTATS),
                    stats.getAtIndex(JAVA_DOUBLE, PPO_LSTAT_VSTATS + 1));
            return new PpoLossResult(stats.getAtIndex(JAVA_DOUBLE, 0), stats.getAtIndex(JAVA_DOUBLE, 1),
                    stats.getAtIndex(JAVA_DOUBLE, 2), stats.getAtIndex(JAVA_DOUBLE, 3),
                    policyResult(stats, PPO_LSTAT_PSTATS), value);
        }
    }

    @Override
    protected void groupAdvantagesImpl(Tensor scores, Tensor mask, GroupOptions o, Tensor advantages) {
        check(k.group_advantages(ctx(), ptr(scores), scores.dim(0), o.groupSize(), o.estimator().ordinal(), o.stdEps(),
                ptr(mask), code(mask), mask == null ? 0L : mask.dim(1), ptr(advantages)),
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
