package dev.ppoengine.kernels;

import dev.ppoengine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The Java side of the C ABI in {@code native/include/ppo_kernels.h}, shared by every library that implements it
 * (the CPU library and the CUDA launcher libraries): dtype codes, the {@code ppo_policy_params} /
 * {@code ppo_value_params} blocks (only 8-byte fields, so no padding), and the decoding of the {@code stats} arrays.
 */
public final class NativeAbi {
    private NativeAbi() {}

    /** Lengths of the stats arrays (PPO_PSTAT_COUNT, PPO_VSTAT_COUNT, PPO_LSTAT_COUNT). */
    public static final int PSTAT_COUNT = 7, VSTAT_COUNT = 2, LSTAT_COUNT = 13;
    private static final int LSTAT_PSTATS = 4, LSTAT_VSTATS = 11;

    /** PPO_* dtype code of a tensor (BOOL is stored as U8); 0 for an absent (null) tensor. */
    public static int dtypeCode(Tensor t) {
        if (t == null) return 0;
        return switch (t.dtype()) {
            case F32 -> 0;
            case BF16 -> 1;
            case F16 -> 2;
            case I32 -> 3;
            case I64 -> 4;
            case U8, BOOL -> 5;
            // F64 exists for safetensors I/O only; AbstractKernels rejects it before any native call.
            case F64 -> throw new IllegalArgumentException(t + ": f64 is not a kernel dtype");
        };
    }

    /** ppo_policy_params: clip_low, clip_high, log_ratio_clamp, dual_clip, agg, token_count, agg_norm, ratio_threshold. */
    public static MemorySegment policyParams(Arena arena, PolicyLossOptions o) {
        MemorySegment p = arena.allocate(8 * 8, 8);
        p.set(JAVA_DOUBLE, 0, o.clipLow());
        p.set(JAVA_DOUBLE, 8, o.clipHigh());
        p.set(JAVA_DOUBLE, 16, o.logRatioClamp());
        p.set(JAVA_DOUBLE, 24, o.dualClip());
        aggregation(p, 32, o.agg());
        p.set(JAVA_DOUBLE, 56, o.ratioThreshold());
        return p;
    }

    /** ppo_value_params: value_clip, agg, token_count, agg_norm. */
    public static MemorySegment valueParams(Arena arena, ValueLossOptions o) {
        MemorySegment p = arena.allocate(4 * 8, 8);
        p.set(JAVA_DOUBLE, 0, o.valueClip());
        aggregation(p, 8, o.agg());
        return p;
    }

    /** int64 agg, double token_count, double agg_norm at offset. */
    private static void aggregation(MemorySegment p, long offset, Aggregation agg) {
        p.set(JAVA_LONG, offset, agg.mode().ordinal());
        p.set(JAVA_DOUBLE, offset + 8, agg.tokenCount());
        p.set(JAVA_DOUBLE, offset + 16, agg.norm());
    }

    /** PPO_PSTAT_* starting at index {@code base}. */
    public static PolicyLossResult policyResult(MemorySegment stats, int base) {
        double[] s = new double[PSTAT_COUNT];
        for (int k = 0; k < s.length; k++) s[k] = stats.getAtIndex(JAVA_DOUBLE, base + k);
        return new PolicyLossResult(s[0], s[1], s[2], s[3], s[4], s[5], s[6] != 0);
    }

    /** PPO_VSTAT_* starting at index {@code base}. */
    public static ValueLossResult valueResult(MemorySegment stats, int base) {
        return new ValueLossResult(stats.getAtIndex(JAVA_DOUBLE, base), stats.getAtIndex(JAVA_DOUBLE, base + 1));
    }

    /** PPO_LSTAT_*: total, policy, value, entropy, then the policy and value stats. */
    public static PpoLossResult ppoResult(MemorySegment stats) {
        return new PpoLossResult(stats.getAtIndex(JAVA_DOUBLE, 0), stats.getAtIndex(JAVA_DOUBLE, 1),
                stats.getAtIndex(JAVA_DOUBLE, 2), stats.getAtIndex(JAVA_DOUBLE, 3),
                policyResult(stats, LSTAT_PSTATS), valueResult(stats, LSTAT_VSTATS));
    }
}
