package dev.ppoengine.cuda;

import dev.ppoengine.kernels.Aggregation;
import dev.ppoengine.kernels.Backends;
import dev.ppoengine.kernels.EntropyLogits;
import dev.ppoengine.kernels.GaeMaskedSteps;
import dev.ppoengine.kernels.GaeOptions;
import dev.ppoengine.kernels.LogprobOptions;
import dev.ppoengine.kernels.LossAgg;
import dev.ppoengine.kernels.PolicyLossOptions;
import dev.ppoengine.kernels.PolicyLossResult;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.kernels.ValueLossOptions;
import dev.ppoengine.kernels.ValueLossResult;
import dev.ppoengine.kernels.WhitenEpsMode;
import dev.ppoengine.kernels.WhitenOptions;
import dev.ppoengine.kernels.WhitenVariance;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;
import dev.ppoengine.testing.Rand;
import dev.ppoengine.testing.TestBackends;
import dev.ppoengine.testing.Tolerance;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * cuda-sim specific checks: the shapes where a CUDA kernel's own structure could break (block sizes from 32 to 256
 * threads, rows whose 16-byte alignment differs, partial sweep steps and partial last chunks, gae rows split over
 * several blocks, reductions over many blocks), bitwise repeatability of the multi-block reductions, and the emulator
 * library itself. The op test classes (dev.ppoengine.ops.*Test) run every op on cuda-sim against the reference too;
 * device-memory paths are in {@link CudaDeviceTest}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CudaSimTest {
    private PpoKernels sim;
    private PpoKernels ref;
    private Arena arena;

    @BeforeAll
    void open() {
        sim = TestBackends.open("cuda-sim");
        ref = Backends.create("reference");
        arena = Arena.ofShared();
    }

    @AfterAll
    void close() {
        if (sim != null) sim.close();
        if (arena != null) arena.close();
    }

    @Test
    void emulatorLibraryDescribesItself() {
        CudaRuntime rt = CudaRuntime.sim();
        assertTrue(rt.isEmulator());
        assertEquals(1, rt.deviceCount());
        assertEquals("simt CPU emulator", rt.deviceName(0));
        assertEquals(90, rt.computeCapability(0));
        assertTrue(rt.multiprocessors(0) >= 1);
        assertEquals("cuda-sim", sim.name());
    }

    /** Logits rows of V elements, `stride` apart, starting `lead` elements into the allocation (row alignment). */
    private Tensor logits(DType dt, long n, long v, long stride, long lead, long seed) {
        Rand r = new Rand(arena, seed);
        Tensor all = Tensor.allocate(arena, dt, lead + n * stride);
        for (long i = 0; i < all.numel(); i++) all.setFloat(i, 2.5 * r.normal());
        long bytes = (long) dt.byteSize();
        return Tensor.strided(all.segment().asSlice(lead * bytes), dt, stride, n, v);
    }

    private static long[] bits(Tensor t) {
        long[] b = new long[(int) t.numel()];
        for (int i = 0; i < b.length; i++) b[i] = Float.floatToRawIntBits(t.getFloat(i));
        return b;
    }

    /**
     * V around every block-size and vector boundary (threads = 32..256 by V; 16-byte loads of 4 or 8 elements; 16
     * logits per sweep step), rows misaligned by 1..3 elements, both entropy modes: forward against the reference,
     * bitwise repeatable.
     */
    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F32", "BF16", "F16"})
    void tokenLogprobsAtBlockAndVectorBoundaries(DType dt) {
        long[] vocab = {1, 3, 8, 9, 15, 16, 17, 31, 33, 511, 513, 4099};
        long seed = 11;
        for (long v : vocab) {
            for (long lead : new long[] {0, 1, 3}) {
                long n = 3, stride = v + (lead == 0 ? 0 : 5);
                Tensor z = logits(dt, n, v, stride, lead, seed++);
                Tensor labels = new Rand(arena, seed++).labels(DType.I64, v, n);
                for (EntropyLogits e : EntropyLogits.values()) {
                    LogprobOptions o = new LogprobOptions(0.8, e);
                    Tensor[] want = forward(ref, z, labels, o), got = forward(sim, z, labels, o);
                    String what = dt + " V=" + v + " lead=" + lead + " " + e;
                    for (int k = 0; k < 3; k++) Tolerance.assertClose(what + " out" + k, want[k].toDoubleArray(), got[k].toDoubleArray());
                    Tensor[] again = forward(sim, z, labels, o);
                    for (int k = 0; k < 3; k++) assertArrayEquals(bits(got[k]), bits(again[k]), what + " repeatable");
                }
            }
        }
    }

    private Tensor[] forward(PpoKernels k, Tensor z, Tensor labels, LogprobOptions o) {
        long n = z.rows();
        Tensor lp = Tensor.allocate(arena, DType.F32, n), ent = Tensor.allocate(arena, DType.F32, n);
        Tensor saved = Tensor.allocate(arena, DType.F32, n, 3);
        k.tokenLogprobs(z, labels, o, lp, ent, saved);
        return new Tensor[] {lp, ent, saved};
    }

    /** Backward in place on misaligned bf16 rows and into an f32 buffer with its own stride. */
    @Test
    void tokenLogprobsBackwardInPlaceAndIntoAnotherStride() {
        long n = 4, v = 77;
        for (EntropyLogits e : EntropyLogits.values()) {
            LogprobOptions o = new LogprobOptions(1.7, e);
            Tensor z = logits(DType.BF16, n, v, v + 3, 1, 500 + e.ordinal());
            Tensor labels = new Rand(arena, 3).labels(DType.I32, v, n);
            Tensor saved = forward(ref, z, labels, o)[2];
            Rand r = new Rand(arena, 9);
            Tensor g = r.normal(DType.F32, 1.0, n), h = r.normal(DType.F32, 1.0, n);
            Tensor want = Tensor.allocate(arena, DType.F32, n, v);
            ref.tokenLogprobsBackward(z, labels, saved, g, h, o, want);
            Tensor out = Tensor.strided(arena.allocate(4 * (n * (v + 9)), 64), DType.F32, v + 9, n, v);
            sim.tokenLogprobsBackward(z, labels, saved, g, h, o, out);
            Tolerance.assertClose("f32 out " + e, want.toDoubleArray(), out.toDoubleArray());
            // In place: the reference result rounded to bf16 is what the logits buffer must hold afterwards.
            Tensor inPlaceWant = Tensor.allocate(arena, DType.BF16, n, v);
            ref.tokenLogprobsBackward(z, labels, saved, g, h, o, inPlaceWant);
            sim.tokenLogprobsBackward(z, labels, saved, g, h, o, z);
            double[] a = inPlaceWant.toDoubleArray(), b = z.toDoubleArray();
            for (int i = 0; i < a.length; i++) {
                // one bf16 rounding step apart at most (f32 vs f64 arithmetic before the rounding)
                assertTrue(Math.abs(a[i] - b[i]) <= 1e-5 + Math.abs(a[i]) * 0x1p-7, e + " in place [" + i + "] " + a[i] + " vs " + b[i]);
            }
        }
    }

    /**
     * gae rows long enough that the launcher splits them over several blocks (few rows; segment maps, then the final
     * pass), both masked-step modes with interior gaps, against the reference's sequential loop.
     */
    @ParameterizedTest
    @EnumSource(GaeMaskedSteps.class)
    void gaeRowsSplitAcrossBlocks(GaeMaskedSteps mode) {
        Rand r = new Rand(arena, 77);
        for (long[] bt : new long[][] {{1, 4500}, {3, 5000}}) {
            Tensor rew = r.normal(DType.F32, 1.0, bt), val = r.normal(DType.F32, 1.0, bt);
            Tensor mask = r.randomMask(DType.U8, 0.6, bt[0], bt[1]);
            GaeOptions o = new GaeOptions(0.999, 0.97, mode);
            Tensor[] want = gae(ref, rew, val, mask, o), got = gae(sim, rew, val, mask, o);
            Tolerance.assertClose(mode + " advantages", want[0].toDoubleArray(), got[0].toDoubleArray());
            Tolerance.assertClose(mode + " returns", want[1].toDoubleArray(), got[1].toDoubleArray());
            assertArrayEquals(bits(got[0]), bits(gae(sim, rew, val, mask, o)[0]), mode + " repeatable");
        }
    }

    /** Chunk boundaries of the single-block scan: T around multiples of 4·blockDim. */
    @Test
    void gaeChunkBoundaries() {
        Rand r = new Rand(arena, 78);
        for (long t : new long[] {127, 128, 129, 1023, 1024, 1025, 2049}) {
            Tensor rew = r.normal(DType.F32, 1.0, 2, t), val = r.normal(DType.F32, 1.0, 2, t);
            Tensor mask = r.randomMask(DType.F32, 0.8, 2, t);
            for (GaeMaskedSteps mode : GaeMaskedSteps.values()) {
                GaeOptions o = new GaeOptions(0.99, 0.95, mode);
                Tensor[] want = gae(ref, rew, val, mask, o), got = gae(sim, rew, val, mask, o);
                Tolerance.assertClose(mode + " T=" + t, want[0].toDoubleArray(), got[0].toDoubleArray());
                Tolerance.assertClose(mode + " T=" + t + " returns", want[1].toDoubleArray(), got[1].toDoubleArray());
            }
        }
    }

    private Tensor[] gae(PpoKernels k, Tensor rew, Tensor val, Tensor mask, GaeOptions o) {
        Tensor a = Tensor.allocate(arena, DType.F32, rew.shape()), ret = Tensor.allocate(arena, DType.F32, rew.shape());
        k.gae(rew, val, mask, o, a, ret);
        return new Tensor[] {a, ret};
    }

    /**
     * Tensors that are not 16-byte aligned take the element-load paths of gae and the losses (aligned ones, T % 4 == 0,
     * take the 16-byte paths): both against the reference, and the two paths agree.
     */
    @Test
    void unalignedTensorsTakeTheElementPaths() {
        Rand r = new Rand(arena, 9);
        long b = 9, t = 1028;   // T % 8 == 4: the aligned gae path also meets a half-filled last group of 8
        Tensor lp = r.normal(DType.F32, 0.3, b, t), old = r.normal(DType.F32, 0.3, b, t);
        Tensor adv = r.normal(DType.F32, 1.0, b, t), mask = r.randomMask(DType.F32, 0.7, b, t);
        Tensor[] in = {lp, old, adv, mask};
        Tensor[] un = new Tensor[in.length];
        for (int k = 0; k < in.length; k++) un[k] = unaligned(in[k]);
        PolicyLossOptions po = new PolicyLossOptions(0.2, 0.28, 0, 3, Aggregation.of(LossAgg.TOKEN_MEAN), 0);
        Tensor gr = Tensor.allocate(arena, DType.F32, b, t), ga = Tensor.allocate(arena, DType.F32, b, t);
        Tensor gu = unaligned(Tensor.allocate(arena, DType.F32, b, t));
        PolicyLossResult want = ref.policyLoss(lp, old, adv, mask, po, gr);
        PolicyLossResult pa = sim.policyLoss(lp, old, adv, mask, po, ga);
        PolicyLossResult pu = sim.policyLoss(un[0], un[1], un[2], un[3], po, gu);
        Tolerance.assertClose("aligned loss", want.loss(), pa.loss());
        Tolerance.assertClose("unaligned loss", want.loss(), pu.loss());
        Tolerance.assertClose("aligned grad", gr.toDoubleArray(), ga.toDoubleArray());
        Tolerance.assertClose("unaligned grad", gr.toDoubleArray(), gu.toDoubleArray());
        ValueLossOptions vo = new ValueLossOptions(0.2, Aggregation.of(LossAgg.SEQ_MEAN_TOKEN_MEAN));
        ValueLossResult vw = ref.valueLoss(lp, old, adv, mask, vo, gr);
        ValueLossResult vu = sim.valueLoss(un[0], un[1], un[2], un[3], vo, gu);
        Tolerance.assertClose("unaligned value loss", vw.loss(), vu.loss());
        Tolerance.assertClose("unaligned value grad", gr.toDoubleArray(), gu.toDoubleArray());
        for (GaeMaskedSteps mode : GaeMaskedSteps.values()) {
            GaeOptions o = new GaeOptions(0.99, 0.95, mode);
            Tensor[] w = gae(ref, lp, old, mask, o), ga2 = gae(sim, lp, old, mask, o);
            Tensor au = unaligned(Tensor.allocate(arena, DType.F32, b, t)), ru = unaligned(Tensor.allocate(arena, DType.F32, b, t));
            sim.gae(un[0], un[1], un[3], o, au, ru);
            Tolerance.assertClose(mode + " aligned advantages", w[0].toDoubleArray(), ga2[0].toDoubleArray());
            Tolerance.assertClose(mode + " aligned returns", w[1].toDoubleArray(), ga2[1].toDoubleArray());
            Tolerance.assertClose(mode + " unaligned advantages", w[0].toDoubleArray(), au.toDoubleArray());
            Tolerance.assertClose(mode + " unaligned returns", w[1].toDoubleArray(), ru.toDoubleArray());
        }
    }

    /** A copy of {@code x} starting 4 bytes past a 64-byte boundary (never 16-byte aligned). */
    private Tensor unaligned(Tensor x) {
        long bytes = x.segment().byteSize();
        MemorySegment seg = arena.allocate(bytes + 4, 64).asSlice(4, bytes);
        seg.copyFrom(x.segment());
        return Tensor.of(seg, x.dtype(), x.shape());
    }

    /** Reductions over many blocks (partials then a fixed-order final pass): reference-close and bitwise repeatable. */
    @Test
    void multiBlockReductionsAreRepeatable() {
        Rand r = new Rand(arena, 5);
        long b = 41, t = 401;   // 16441 tokens: every grid-stride reduction runs on its maximum number of blocks
        Tensor lp = r.normal(DType.F32, 0.3, b, t), old = r.normal(DType.F32, 0.3, b, t);
        Tensor adv = r.normal(DType.F32, 1.0, b, t), mask = r.rightPaddedMask(DType.I64, b, t);
        for (LossAgg mode : LossAgg.values()) {
            PolicyLossOptions po = new PolicyLossOptions(0.2, 0.28, 0, 3, Aggregation.of(mode), 0);
            Tensor g1 = Tensor.allocate(arena, DType.F32, b, t), g2 = Tensor.allocate(arena, DType.F32, b, t);
            Tensor gr = Tensor.allocate(arena, DType.F32, b, t);
            PolicyLossResult want = ref.policyLoss(lp, old, adv, mask, po, gr);
            PolicyLossResult p1 = sim.policyLoss(lp, old, adv, mask, po, g1);
            PolicyLossResult p2 = sim.policyLoss(lp, old, adv, mask, po, g2);
            assertEquals(p1, p2, mode + ": two runs differ");
            assertArrayEquals(bits(g1), bits(g2), mode + " gradients repeatable");
            Tolerance.assertClose(mode + " loss", want.loss(), p1.loss());
            Tolerance.assertClose(mode + " clipfrac", want.clipfrac(), p1.clipfrac());
            Tolerance.assertClose(mode + " clipfrac_lower", want.clipfracLower(), p1.clipfracLower());
            Tolerance.assertClose(mode + " approx_kl", want.approxKl(), p1.approxKl());
            Tolerance.assertClose(mode + " grad", gr.toDoubleArray(), g1.toDoubleArray());

            ValueLossOptions vo = new ValueLossOptions(0.2, Aggregation.of(mode));
            ValueLossResult vw = ref.valueLoss(lp, old, adv, mask, vo, gr);
            ValueLossResult v1 = sim.valueLoss(lp, old, adv, mask, vo, g1);
            ValueLossResult v2 = sim.valueLoss(lp, old, adv, mask, vo, g2);
            assertEquals(v1, v2, mode + ": value loss runs differ");
            Tolerance.assertClose(mode + " value loss", vw.loss(), v1.loss());
            Tolerance.assertClose(mode + " value clipfrac", vw.clipfrac(), v1.clipfrac());
            Tolerance.assertClose(mode + " value grad", gr.toDoubleArray(), g1.toDoubleArray());
        }
        for (WhitenVariance var : WhitenVariance.values()) {
            WhitenOptions wo = new WhitenOptions(var, WhitenEpsMode.ADD, 1e-8, var == WhitenVariance.BIASED);
            Tensor w = Tensor.allocate(arena, DType.F32, b, t), w1 = Tensor.allocate(arena, DType.F32, b, t);
            Tensor w2 = Tensor.allocate(arena, DType.F32, b, t);
            ref.maskedWhiten(adv, mask, wo, w);
            sim.maskedWhiten(adv, mask, wo, w1);
            sim.maskedWhiten(adv, mask, wo, w2);
            Tolerance.assertClose("whiten " + var, w.toDoubleArray(), w1.toDoubleArray());
            assertArrayEquals(bits(w1), bits(w2), "whiten " + var + " repeatable");
        }
    }

    /** A mean far from zero against a small spread: the centring must not lose the spread. */
    @Test
    void whitenKeepsPrecisionOnAnOffsetBatch() {
        Rand r = new Rand(arena, 6);
        Tensor x = Tensor.allocate(arena, DType.F32, 7, 300);
        for (long i = 0; i < x.numel(); i++) x.setFloat(i, 50.0 + 0.5 * r.normal());
        Tensor mask = r.randomMask(DType.BOOL, 0.9, 7, 300);
        WhitenOptions wo = new WhitenOptions(WhitenVariance.UNBIASED, WhitenEpsMode.ADD, 1e-8, true);
        Tensor want = Tensor.allocate(arena, DType.F32, 7, 300), got = Tensor.allocate(arena, DType.F32, 7, 300);
        ref.maskedWhiten(x, mask, wo, want);
        sim.maskedWhiten(x, mask, wo, got);
        Tolerance.assertClose("offset whiten", want.toDoubleArray(), got.toDoubleArray());
    }
}
