package dev.ppoengine.cpu;

import dev.ppoengine.cpu.NativeCpuKernels.SimdLevel;
import dev.ppoengine.kernels.Aggregation;
import dev.ppoengine.kernels.EntropyLogits;
import dev.ppoengine.kernels.GaeMaskedSteps;
import dev.ppoengine.kernels.GaeOptions;
import dev.ppoengine.kernels.GroupEstimator;
import dev.ppoengine.kernels.GroupOptions;
import dev.ppoengine.kernels.KlAtScoreSlot;
import dev.ppoengine.kernels.KlEstimator;
import dev.ppoengine.kernels.KlOptions;
import dev.ppoengine.kernels.LogprobOptions;
import dev.ppoengine.kernels.LossAgg;
import dev.ppoengine.kernels.PolicyLossOptions;
import dev.ppoengine.kernels.PolicyLossResult;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.kernels.PpoLossInputs;
import dev.ppoengine.kernels.PpoLossOptions;
import dev.ppoengine.kernels.PpoLossResult;
import dev.ppoengine.kernels.RewardOptions;
import dev.ppoengine.kernels.ScorePosition;
import dev.ppoengine.kernels.ValueLossOptions;
import dev.ppoengine.kernels.ValueLossResult;
import dev.ppoengine.kernels.WhitenEpsMode;
import dev.ppoengine.kernels.WhitenOptions;
import dev.ppoengine.kernels.WhitenVariance;
import dev.ppoengine.reference.ReferenceKernels;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;
import dev.ppoengine.testing.Rand;
import dev.ppoengine.testing.Tolerance;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What only the native CPU backend has to prove (the per-op comparisons with the reference over shapes, dtypes and
 * presets live in dev.ppoengine.ops.*Test, which run "cpu" too):
 * <ul>
 *   <li>every op gives bitwise the same outputs with 1 and 2 threads, and again on a second call, for each SIMD
 *       variant (generic SSE2, AVX2, AVX-512 — a variant the CPU lacks falls back to the best it has), and stays
 *       within the SPEC tolerance of the reference. Sizes exceed the library's threading threshold (32768 elements)
 *       and are not multiples of any vector width;</li>
 *   <li>token_logprobs on strided rows in f32/bf16/f16, and its backward in place;</li>
 *   <li>one N·V &gt; 2^31 case (bf16 16400 × 131072), which would read wrong rows with 32-bit offsets.</li>
 * </ul>
 */
class NativeCpuTest {

    private static final PpoKernels REF = new ReferenceKernels();

    /** One run of an op: every output (tensors and scalars) as doubles (f32 values convert exactly). */
    private interface Op {
        double[][] run(PpoKernels k, Arena arena);
    }

    private static NativeCpuKernels cpu(int threads, SimdLevel level) {
        String why = new NativeCpuProvider().unavailableReason();
        if (why != null) Assumptions.abort("backend cpu unavailable: " + why);
        return new NativeCpuKernels(threads, level);
    }

    /** 1 vs 2 threads bitwise, a repeat bitwise, and the reference within SPEC tolerance. */
    private static void check(String what, SimdLevel level, Op op) {
        try (Arena arena = Arena.ofConfined()) {
            double[][] want = op.run(REF, arena);
            NativeCpuKernels one = cpu(1, level), two = cpu(2, level);
            double[][] a = op.run(one, arena), b = op.run(two, arena), again = op.run(two, arena);
            for (int i = 0; i < want.length; i++) {
                String w = what + " [" + level + "] output " + i;
                assertArrayEquals(bits(a[i]), bits(b[i]), w + ": 1 vs 2 threads");
                assertArrayEquals(bits(b[i]), bits(again[i]), w + ": repeated call");
                Tolerance.assertClose(w, want[i], b[i]);
            }
        }
    }

    private static long[] bits(double[] x) {
        long[] out = new long[x.length];
        for (int i = 0; i < x.length; i++) out[i] = Double.doubleToRawLongBits(x[i]);
        return out;
    }

    private static double[] d(Tensor t) {
        return t.toDoubleArray();
    }

    private static double[] s(double... x) {
        return x;
    }

    // ------------------------------------------------------------------ token_logprobs

    /** [n, v] logits with rows `stride` apart; the gap between rows holds junk (huge values, NaN) never to be read. */
    static Tensor stridedLogits(Arena arena, DType dt, long n, long v, long stride, long seed) {
        MemorySegment seg = arena.allocate(n * stride * dt.byteSize(), 64);
        Tensor all = Tensor.of(seg, dt, n, stride);
        Rand r = new Rand(arena, seed);
        for (long i = 0; i < n * stride; i++) {
            long col = i % stride;
            all.setFloat(i, col < v ? 3.0 * r.normal() : (col % 2 == 0 ? 1e30 : Double.NaN));
        }
        return Tensor.strided(seg, dt, stride, n, v);
    }

    @ParameterizedTest
    @EnumSource(value = SimdLevel.class, names = {"GENERIC", "AVX2", "AVX512"})
    void tokenLogprobsThreadsAndStride(SimdLevel level) {
        long n = 70, v = 1037, stride = 1043;   // 72590 logits: threaded; v is no multiple of 4, 8, 16, 64
        for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16}) {
            for (EntropyLogits e : EntropyLogits.values()) {
                LogprobOptions o = new LogprobOptions(e == EntropyLogits.RAW ? 1.3 : 0.7, e);
                check("token_logprobs " + dt + " " + e, level, (k, arena) -> {
                    Tensor logits = stridedLogits(arena, dt, n, v, stride, 11);
                    Tensor labels = new Rand(arena, 12).labels(DType.I64, v, n);
                    Tensor lp = Tensor.allocate(arena, DType.F32, n);
                    Tensor ent = Tensor.allocate(arena, DType.F32, n);
                    Tensor saved = Tensor.allocate(arena, DType.F32, n, 3);
                    k.tokenLogprobs(logits, labels, o, lp, ent, saved);
                    Tensor lpOnly = Tensor.allocate(arena, DType.F32, n);
                    k.tokenLogprobs(logits, labels, o, lpOnly, null, null);
                    return new double[][] {d(lp), d(ent), d(saved), d(lpOnly)};
                });
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = SimdLevel.class, names = {"GENERIC", "AVX2", "AVX512"})
    void tokenLogprobsBackwardThreadsStrideAndInPlace(SimdLevel level) {
        long n = 70, v = 1037, stride = 1043;
        for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16}) {
            for (EntropyLogits e : EntropyLogits.values()) {
                LogprobOptions o = new LogprobOptions(e == EntropyLogits.RAW ? 1.3 : 0.7, e);
                check("token_logprobs_backward " + dt + " " + e, level, (k, arena) -> {
                    Tensor logits = stridedLogits(arena, dt, n, v, stride, 21);
                    Rand r = new Rand(arena, 22);
                    Tensor labels = r.labels(DType.I32, v, n);
                    Tensor g = r.normal(DType.F32, 1.0, n);
                    Tensor h = r.normal(DType.F32, 1.0, n);
                    Tensor saved = Tensor.allocate(arena, DType.F32, n, 3);
                    k.tokenLogprobs(logits, labels, o, Tensor.allocate(arena, DType.F32, n), null, saved);
                    Tensor gradF32 = Tensor.allocate(arena, DType.F32, n, v);
                    k.tokenLogprobsBackward(logits, labels, saved, g, h, o, gradF32);
                    Tensor gradNoH = Tensor.allocate(arena, DType.F32, n, v);
                    k.tokenLogprobsBackward(logits, labels, saved, g, null, o, gradNoH);
                    // in the logits' dtype: out of place (dense), then in place on a strided copy of the logits
                    Tensor gradDt = Tensor.allocate(arena, dt, n, v);
                    k.tokenLogprobsBackward(logits, labels, saved, g, h, o, gradDt);
                    Tensor inPlace = stridedLogits(arena, dt, n, v, stride, 21);
                    k.tokenLogprobsBackward(inPlace, labels, saved, g, h, o, inPlace);
                    if (k instanceof NativeCpuKernels) {
                        assertArrayEquals(bits(d(gradDt)), bits(d(inPlace)), "in place == out of place, " + dt);
                    }
                    // a bf16/f16 gradient is the f32 gradient rounded once: compare it on the f32 scale
                    return new double[][] {d(gradF32), d(gradNoH), roundedTo(dt, d(gradF32), d(gradDt))};
                });
            }
        }
    }

    /**
     * −inf logits (masked vocabulary entries, here the first 40 columns of every row, every 7th column and the row
     * tails) contribute p = 0 and no NaN: forward and backward (with an entropy gradient) match the reference.
     */
    @ParameterizedTest
    @EnumSource(value = SimdLevel.class, names = {"GENERIC", "AVX2", "AVX512"})
    void tokenLogprobsMaskedVocabulary(SimdLevel level) {
        long n = 40, v = 1000;
        for (DType dt : new DType[] {DType.F32, DType.BF16}) {
            for (EntropyLogits e : EntropyLogits.values()) {
                LogprobOptions o = new LogprobOptions(0.75, e);
                check("token_logprobs -inf " + dt + " " + e, level, (k, arena) -> {
                    Tensor logits = stridedLogits(arena, dt, n, v, v, 81);
                    for (long i = 0; i < n * v; i++) {
                        long col = i % v;
                        if (col < 40 || col % 7 == 0 || col >= v - 3) logits.setFloat(i, Double.NEGATIVE_INFINITY);
                    }
                    long[] y = new long[(int) n];
                    for (int i = 0; i < n; i++) y[i] = 43 + (i * 37L) % 900 / 7 * 7;   // 43 + 7k: never a −inf column
                    Tensor labels = Tensor.ofLongs(arena, y, n);
                    Tensor lp = Tensor.allocate(arena, DType.F32, n), ent = Tensor.allocate(arena, DType.F32, n);
                    Tensor saved = Tensor.allocate(arena, DType.F32, n, 3);
                    k.tokenLogprobs(logits, labels, o, lp, ent, saved);
                    Rand r = new Rand(arena, 82);
                    Tensor grad = Tensor.allocate(arena, DType.F32, n, v);
                    k.tokenLogprobsBackward(logits, labels, saved, r.normal(DType.F32, 1, n), r.normal(DType.F32, 1, n),
                            o, grad);
                    return new double[][] {d(lp), d(ent), d(saved), d(grad)};
                });
            }
        }
    }

    /** For 16-bit outputs: the difference to the f32 gradient rounded to dt must be 0 (one rounding, same value). */
    private static double[] roundedTo(DType dt, double[] f32, double[] out) {
        double[] diff = new double[out.length];
        for (int i = 0; i < out.length; i++) {
            double rounded = switch (dt) {
                case BF16 -> DType.bf16ToFloat(DType.floatToBf16((float) f32[i]));
                case F16 -> DType.f16ToFloat(DType.floatToF16((float) f32[i]));
                default -> f32[i];
            };
            // the f32 gradient itself may differ from the reference within tolerance; rounding it to dt and to out
            // must agree to the rounding step of dt (values on either side of a rounding boundary)
            double step = Math.abs(rounded) * (dt == DType.BF16 ? 0x1p-8 : dt == DType.F16 ? 0x1p-11 : 0) + 1e-7;
            diff[i] = Math.abs(rounded - out[i]) <= step ? 0.0 : rounded - out[i];
        }
        return diff;
    }

    // ------------------------------------------------------------------ per-token ops

    private static final long B = 41, T = 1013;   // 41 533 tokens: threaded; T is no multiple of 4, 8, 16

    @ParameterizedTest
    @EnumSource(value = SimdLevel.class, names = {"GENERIC", "AVX2", "AVX512"})
    void klOpsThreads(SimdLevel level) {
        for (KlEstimator est : KlEstimator.values()) {
            KlOptions ko = new KlOptions(est, est == KlEstimator.K3 ? 20 : 0, est == KlEstimator.K1 ? 0 : 10);
            check("kl_penalty " + est, level, (k, arena) -> {
                Rand r = new Rand(arena, 31);
                Tensor lp = r.normal(DType.F32, 1.0, B, T), ref = r.normal(DType.F32, 1.0, B, T);
                Tensor mask = r.randomMask(DType.U8, 0.8, B, T);
                Tensor kl = Tensor.allocate(arena, DType.F32, B, T), klAll = Tensor.allocate(arena, DType.F32, B, T);
                k.klPenalty(lp, ref, mask, ko, kl);
                k.klPenalty(lp, ref, null, ko, klAll);
                return new double[][] {d(kl), d(klAll)};
            });
            for (ScorePosition pos : ScorePosition.values()) {
                for (KlAtScoreSlot slot : KlAtScoreSlot.values()) {
                    RewardOptions ro = new RewardOptions(ko, 0.05, pos, 5, slot);
                    check("kl_shaped_rewards " + est + " " + pos + " " + slot, level, (k, arena) -> {
                        Rand r = new Rand(arena, 32);
                        Tensor lp = r.normal(DType.F32, 1.0, B, T), ref = r.normal(DType.F32, 1.0, B, T);
                        Tensor mask = r.rightPaddedMask(DType.I64, B, T);
                        Tensor scores = r.normal(DType.F32, 4.0, B);
                        Tensor rw = Tensor.allocate(arena, DType.F32, B, T), kl = Tensor.allocate(arena, DType.F32, B, T);
                        Tensor rm = Tensor.allocate(arena, DType.F32, B, T);
                        k.klShapedRewards(lp, ref, mask, scores, ro, rw, kl, rm);
                        return new double[][] {d(rw), d(kl), d(rm)};
                    });
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = SimdLevel.class, names = {"GENERIC", "AVX2", "AVX512"})
    void gaeWhitenGroupThreads(SimdLevel level) {
        for (GaeMaskedSteps steps : GaeMaskedSteps.values()) {
            GaeOptions go = new GaeOptions(1.0, steps == GaeMaskedSteps.SKIP ? 1.0 : 0.95, steps);
            check("gae " + steps, level, (k, arena) -> {
                Rand r = new Rand(arena, 41);
                Tensor rw = r.normal(DType.F32, 1.0, B, T), v = r.normal(DType.F32, 1.0, B, T);
                Tensor mask = r.randomMask(DType.F32, 0.9, B, T);
                Tensor adv = Tensor.allocate(arena, DType.F32, B, T), ret = Tensor.allocate(arena, DType.F32, B, T);
                k.gae(rw, v, mask, go, adv, ret);
                return new double[][] {d(adv), d(ret)};
            });
        }
        for (WhitenVariance var : WhitenVariance.values()) {
            for (WhitenEpsMode mode : WhitenEpsMode.values()) {
                WhitenOptions wo = new WhitenOptions(var, mode, 1e-8, mode == WhitenEpsMode.ADD);
                check("masked_whiten " + var + " " + mode, level, (k, arena) -> {
                    Rand r = new Rand(arena, 42);
                    Tensor x = r.uniform(-3, 50, B, T);
                    Tensor mask = r.randomMask(DType.I32, 0.7, B, T);
                    Tensor out = Tensor.allocate(arena, DType.F32, B, T);
                    k.maskedWhiten(x, mask, wo, out);
                    return new double[][] {d(out)};
                });
            }
        }
        for (GroupEstimator est : GroupEstimator.values()) {
            GroupOptions go = new GroupOptions(8, est, 1e-6);
            check("group_advantages " + est, level, (k, arena) -> {
                Rand r = new Rand(arena, 43);
                Tensor scores = r.normal(DType.F32, 2.0, 48);
                Tensor mask = r.rightPaddedMask(DType.BOOL, 48, 999);
                Tensor a1 = Tensor.allocate(arena, DType.F32, 48), a2 = Tensor.allocate(arena, DType.F32, 48, 999);
                k.groupAdvantages(scores, null, go, a1);
                k.groupAdvantages(scores, mask, go, a2);
                return new double[][] {d(a1), d(a2)};
            });
        }
    }

    // ------------------------------------------------------------------ losses

    private static double[] policyStats(PolicyLossResult p) {
        return s(p.loss(), p.clipfrac(), p.clipfracLower(), p.ppoKl(), p.approxKl(), p.meanRatio(), p.skipped() ? 1 : 0);
    }

    @ParameterizedTest
    @EnumSource(value = SimdLevel.class, names = {"GENERIC", "AVX2", "AVX512"})
    void lossesThreads(SimdLevel level) {
        for (LossAgg agg : LossAgg.values()) {
            Aggregation ag = new Aggregation(agg, 0, agg == LossAgg.SEQ_MEAN_TOKEN_SUM_NORM ? 2048 : 0);
            PolicyLossOptions po = new PolicyLossOptions(0.2, 0.28, 20, 3, ag, 0);
            ValueLossOptions vo = new ValueLossOptions(0.2, ag);
            check("policy_loss " + agg, level, (k, arena) -> {
                Rand r = new Rand(arena, 51);
                Tensor lp = r.normal(DType.F32, 0.3, B, T), old = r.normal(DType.F32, 0.3, B, T);
                Tensor adv = r.normal(DType.F32, 1.0, B, T);
                Tensor mask = r.rightPaddedMask(DType.U8, B, T);
                Tensor g = Tensor.allocate(arena, DType.F32, B, T);
                PolicyLossResult res = k.policyLoss(lp, old, adv, mask, po, g);
                return new double[][] {d(g), policyStats(res)};
            });
            check("value_loss " + agg, level, (k, arena) -> {
                Rand r = new Rand(arena, 52);
                Tensor v = r.normal(DType.F32, 1.0, B, T), old = r.normal(DType.F32, 1.0, B, T);
                Tensor ret = r.normal(DType.F32, 1.0, B, T);
                Tensor mask = r.rightPaddedMask(DType.F32, B, T);
                Tensor g = Tensor.allocate(arena, DType.F32, B, T);
                ValueLossResult res = k.valueLoss(v, old, ret, mask, vo, g);
                return new double[][] {d(g), s(res.loss(), res.clipfrac())};
            });
            PpoLossOptions o = new PpoLossOptions(new PolicyLossOptions(0.2, 0.2, 0, 0, ag, 0), vo, 0.1, 0.01);
            check("ppo_loss " + agg, level, (k, arena) -> {
                Rand r = new Rand(arena, 53);
                Tensor lp = r.normal(DType.F32, 0.3, B, T), old = r.normal(DType.F32, 0.3, B, T);
                Tensor adv = r.normal(DType.F32, 1.0, B, T), v = r.normal(DType.F32, 1.0, B, T);
                Tensor oldV = r.normal(DType.F32, 1.0, B, T), ret = r.normal(DType.F32, 1.0, B, T);
                Tensor ent = r.uniform(0, 5, B, T);
                Tensor mask = r.rightPaddedMask(DType.I32, B, T), vmask = r.randomMask(DType.I32, 0.9, B, T);
                Tensor gl = Tensor.allocate(arena, DType.F32, B, T), gv = Tensor.allocate(arena, DType.F32, B, T);
                Tensor ge = Tensor.allocate(arena, DType.F32, B, T);
                PpoLossResult res = k.ppoLoss(new PpoLossInputs(lp, old, adv, v, oldV, ret, mask, vmask, ent), o, gl, gv, ge);
                return new double[][] {d(gl), d(gv), d(ge), s(res.loss(), res.policyLoss(), res.valueLoss(),
                        res.entropyLoss()), policyStats(res.policy()), s(res.value().loss(), res.value().clipfrac())};
            });
        }
    }

    /** Two Java threads calling at once: one owns the pool, the other runs on its own thread; same bits either way. */
    @Test
    void concurrentCallersGetTheSameBits() throws Exception {
        long n = 64, v = 3001;
        try (Arena arena = Arena.ofShared(); NativeCpuKernels k = cpu(2, SimdLevel.BEST)) {
            Tensor logits = stridedLogits(arena, DType.F32, n, v, v, 71);
            Tensor labels = new Rand(arena, 72).labels(DType.I32, v, n);
            LogprobOptions o = new LogprobOptions(0.8, EntropyLogits.SCALED);
            Tensor want = Tensor.allocate(arena, DType.F32, n);
            k.tokenLogprobs(logits, labels, o, want, null, null);
            long[] wantBits = bits(d(want));
            List<Thread> threads = new ArrayList<>();
            List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
            for (int th = 0; th < 3; th++) {
                Thread t = new Thread(() -> {
                    try {
                        for (int it = 0; it < 30; it++) {
                            Tensor got = Tensor.allocate(arena, DType.F32, n);
                            k.tokenLogprobs(logits, labels, o, got, null, null);
                            assertArrayEquals(wantBits, bits(d(got)), "concurrent call " + it);
                        }
                    } catch (Throwable e) {
                        failures.add(e);
                    }
                });
                threads.add(t);
                t.start();
            }
            for (Thread t : threads) t.join();
            assertTrue(failures.isEmpty(), "concurrent calls: " + failures);
        }
    }

    // ------------------------------------------------------------------ provider, errors

    @Test
    void providerIsAvailableHereAndNamedCpu() {
        NativeCpuProvider p = new NativeCpuProvider();
        assertEquals("cpu", p.name());
        assertNull(p.unavailableReason(), "the Maven build puts libppo_native.so into target/classes on linux x86-64");
        try (PpoKernels k = p.create()) {
            assertEquals("cpu", k.name());
        }
    }

    @Test
    void rejectsNonPositiveThreadCount() {
        assertThrows(IllegalArgumentException.class, () -> new NativeCpuKernels(0));
    }

    // ------------------------------------------------------------------ N·V > 2^31

    /**
     * bf16 logits [16400, 131072]: 2 149 580 800 elements (4.3 GB), past 2^31 elements and 2^32 bytes. Rows are a few
     * random base rows, each stamped with row-specific marker values, so a row read from a wrong (wrapped 32-bit)
     * offset gives different results. Forward and in-place backward are checked on the first, middle and last rows
     * (and the rows either side of the 2^31-element and 2^32-byte boundaries) against the reference run on copies of
     * just those rows.
     */
    @Test
    @Tag("large")
    void rowsPastTwoToThe31Elements() {
        long n = 16400, v = 131072;
        assertTrue(n * v > (1L << 31));
        long rowBytes = v * 2;
        try (Arena arena = Arena.ofConfined(); NativeCpuKernels k = cpu(Runtime.getRuntime().availableProcessors(), SimdLevel.BEST)) {
            MemorySegment big;
            try {
                big = arena.allocate(n * rowBytes, 64);
            } catch (OutOfMemoryError e) {
                Assumptions.abort("cannot allocate 4.3 GB off-heap for the N·V > 2^31 case: " + e.getMessage());
                return;
            }
            Rand r = new Rand(arena, 61);
            Tensor[] base = new Tensor[5];
            for (int i = 0; i < base.length; i++) base[i] = r.normal(DType.BF16, 2.0, v);
            Tensor labels = r.labels(DType.I64, v, n);
            for (long row = 0; row < n; row++) {
                MemorySegment.copy(base[(int) (row % base.length)].segment(), 0, big, row * rowBytes, rowBytes);
                for (int m = 0; m < 4; m++) {   // markers: row-dependent values at row-dependent columns
                    long col = (row * 7919 + m * 104729L) % v;
                    big.set(ValueLayout.JAVA_SHORT_UNALIGNED, row * rowBytes + col * 2,
                            DType.floatToBf16((float) (4 + (row % 997) * 0.01 + m)));
                }
            }
            Tensor logits = Tensor.of(big, DType.BF16, n, v);
            LogprobOptions o = new LogprobOptions(0.9, EntropyLogits.SCALED);
            Tensor lp = Tensor.allocate(arena, DType.F32, n), ent = Tensor.allocate(arena, DType.F32, n);
            Tensor saved = Tensor.allocate(arena, DType.F32, n, 3);
            k.tokenLogprobs(logits, labels, o, lp, ent, saved);

            long rowsAt2p31 = (1L << 31) / v, rowsAt2p32Bytes = (1L << 32) / rowBytes;
            long[] rows = {0, n / 2, rowsAt2p32Bytes - 1, rowsAt2p32Bytes, rowsAt2p31 + 1, n - 1};
            Tensor few = Tensor.allocate(arena, DType.BF16, rows.length, v);
            long[] fewLabels = new long[rows.length];
            for (int i = 0; i < rows.length; i++) {
                MemorySegment.copy(big, rows[i] * rowBytes, few.segment(), i * rowBytes, rowBytes);
                fewLabels[i] = labels.getLong(rows[i]);
            }
            Tensor fewY = Tensor.ofLongs(arena, fewLabels, rows.length);
            Tensor wantLp = Tensor.allocate(arena, DType.F32, rows.length), wantEnt = Tensor.allocate(arena, DType.F32, rows.length);
            Tensor wantSaved = Tensor.allocate(arena, DType.F32, rows.length, 3);
            REF.tokenLogprobs(few, fewY, o, wantLp, wantEnt, wantSaved);
            for (int i = 0; i < rows.length; i++) {
                String w = "row " + rows[i];
                Tolerance.assertClose(w + " logprob", wantLp.getDouble(i), lp.getDouble(rows[i]));
                Tolerance.assertClose(w + " entropy", wantEnt.getDouble(i), ent.getDouble(rows[i]));
            }

            // backward in place over the whole 4.3 GB; the reference on the copied rows, into f32
            Tensor g = r.normal(DType.F32, 1.0, n), h = r.normal(DType.F32, 1.0, n);
            Tensor fewG = Tensor.allocate(arena, DType.F32, rows.length), fewH = Tensor.allocate(arena, DType.F32, rows.length);
            Tensor fewSaved = Tensor.allocate(arena, DType.F32, rows.length, 3);
            for (int i = 0; i < rows.length; i++) {
                fewG.setFloat(i, g.getDouble(rows[i]));
                fewH.setFloat(i, h.getDouble(rows[i]));
                for (int c = 0; c < 3; c++) fewSaved.setFloat(i * 3L + c, saved.getDouble(rows[i] * 3 + c));
            }
            Tensor wantGrad = Tensor.allocate(arena, DType.F32, rows.length, v);
            REF.tokenLogprobsBackward(few, fewY, fewSaved, fewG, fewH, o, wantGrad);
            k.tokenLogprobsBackward(logits, labels, saved, g, h, o, logits);
            List<String> bad = new ArrayList<>();
            for (int i = 0; i < rows.length; i++) {
                for (long j = 0; j < v; j++) {
                    double want = DType.bf16ToFloat(DType.floatToBf16((float) wantGrad.getDouble(i * v + j)));
                    double got = logits.getDouble(rows[i] * v + j);
                    // bf16 output: one rounding of a value within SPEC tolerance of the reference
                    if (Math.abs(want - got) > Math.abs(want) * 0x1p-8 + 1e-5 && bad.size() < 5) {
                        bad.add("row " + rows[i] + " col " + j + ": want " + want + " got " + got);
                    }
                }
            }
            assertTrue(bad.isEmpty(), "in-place bf16 backward past 2^31 elements: " + bad);
        }
    }
}
