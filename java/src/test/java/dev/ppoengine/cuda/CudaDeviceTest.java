package dev.ppoengine.cuda;

import dev.ppoengine.kernels.Aggregation;
import dev.ppoengine.kernels.Backends;
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
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;
import dev.ppoengine.testing.Rand;
import dev.ppoengine.testing.Tolerance;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The device-memory API: {@link CudaKernels} on device tensors ({@link DeviceBuffer}s, a {@link CudaStream}),
 * checked against the reference after copying the results back. Runs on "cuda" when a GPU and libppo_cuda.so are
 * present (skipped with the reason otherwise) and always on "cuda-sim" in device mode, so the same code path —
 * caller-owned pointers, device-side label and token-count checks, stream handling — is exercised without a GPU.
 */
class CudaDeviceTest {

    /** The runtime for `name`, or the test is reported as skipped with the reason. */
    private static CudaRuntime runtime(String name) {
        if (name.equals("cuda")) {
            String why = new CudaProvider().unavailableReason();
            Assumptions.assumeTrue(why == null, () -> "cuda unavailable: " + why);
            return CudaRuntime.cuda();
        }
        String why = CudaRuntime.simUnavailableReason();
        Assumptions.assumeTrue(why == null, () -> "cuda-sim unavailable: " + why);
        return CudaRuntime.sim();
    }

    /** Device copies of host tensors for one test; frees everything on close. */
    private static final class Device implements AutoCloseable {
        final CudaRuntime rt;
        final CudaStream stream;
        final CudaKernels kernels;
        final List<DeviceBuffer> buffers = new ArrayList<>();

        Device(CudaRuntime rt) {
            this.rt = rt;
            this.stream = CudaStream.create(rt);
            this.kernels = CudaKernels.onStream(stream);
        }

        Tensor up(Tensor host) {
            if (host == null) return null;
            DeviceBuffer b = DeviceBuffer.upload(rt, host, stream);
            buffers.add(b);
            return b.strided(host.dtype(), host.rowStride(), host.shape());
        }

        Tensor out(DType dt, long... shape) {
            DeviceBuffer b = DeviceBuffer.allocate(rt, Tensor.numel(shape) * dt.byteSize());
            buffers.add(b);
            return b.tensor(dt, shape);
        }

        Tensor down(Arena arena, Tensor dev) {
            Tensor host = Tensor.allocate(arena, dev.dtype(), dev.shape());
            DeviceBuffer b = buffers.stream().filter(x -> x.address() == dev.address()).findFirst().orElseThrow();
            b.download(host, stream);
            return host;
        }

        @Override
        public void close() {
            kernels.close();
            for (DeviceBuffer b : buffers) b.close();
            stream.close();
        }
    }

    private static void close(String what, Tensor want, Tensor got) {
        Tolerance.assertClose(what, want.toDoubleArray(), got.toDoubleArray());
    }

    @ParameterizedTest
    @ValueSource(strings = {"cuda", "cuda-sim"})
    void tokenLogprobsOnDeviceMemory(String name) {
        CudaRuntime rt = runtime(name);
        PpoKernels ref = Backends.create("reference");
        try (Arena arena = Arena.ofConfined(); Device d = new Device(rt)) {
            Rand r = new Rand(arena, 1);
            long n = 6, v = 203, stride = 211;
            Tensor z = Tensor.strided(arena.allocate(2 * n * stride, 64), DType.BF16, stride, n, v);
            for (long i = 0; i < n * v; i++) z.setFloat(i, 3 * r.normal());
            Tensor labels = r.labels(DType.I64, v, n);
            LogprobOptions o = new LogprobOptions(0.9, EntropyLogits.RAW);
            Tensor lp = Tensor.allocate(arena, DType.F32, n), ent = Tensor.allocate(arena, DType.F32, n);
            Tensor saved = Tensor.allocate(arena, DType.F32, n, 3);
            ref.tokenLogprobs(z, labels, o, lp, ent, saved);
            Tensor dz = d.up(z), dl = d.up(labels);
            Tensor dlp = d.out(DType.F32, n), dent = d.out(DType.F32, n), dsaved = d.out(DType.F32, n, 3);
            d.kernels.tokenLogprobs(dz, dl, o, dlp, dent, dsaved);
            close(name + " logprobs", lp, d.down(arena, dlp));
            close(name + " entropy", ent, d.down(arena, dent));
            close(name + " saved", saved, d.down(arena, dsaved));

            Tensor g = r.normal(DType.F32, 1, n), h = r.normal(DType.F32, 1, n);
            Tensor grad = Tensor.allocate(arena, DType.F32, n, v);
            ref.tokenLogprobsBackward(z, labels, saved, g, h, o, grad);
            Tensor dgrad = d.out(DType.F32, n, v);
            d.kernels.tokenLogprobsBackward(dz, dl, d.up(saved), d.up(g), d.up(h), o, dgrad);
            close(name + " grad_logits", grad, d.down(arena, dgrad));
        }
    }

    /** Labels live on the device, so the kernel checks them: the error names the first bad row and its value. */
    @ParameterizedTest
    @ValueSource(strings = {"cuda", "cuda-sim"})
    void deviceLabelOutOfRangeNamesRowAndValue(String name) {
        CudaRuntime rt = runtime(name);
        try (Arena arena = Arena.ofConfined(); Device d = new Device(rt)) {
            long n = 5, v = 9;
            Tensor z = Tensor.allocate(arena, DType.F32, n, v);
            Tensor labels = Tensor.ofInts(arena, new int[] {0, 8, 9, 3, -1}, n);
            Tensor dz = d.up(z), dl = d.up(labels), out = d.out(DType.F32, n);
            var e = assertThrows(IllegalArgumentException.class,
                    () -> d.kernels.tokenLogprobs(dz, dl, LogprobOptions.DEFAULT, out, null, null));
            assertTrue(e.getMessage().contains("row 2 has label 9"), e.getMessage());
            assertTrue(e.getMessage().contains("token_logprobs"), e.getMessage());
            // The launcher's label flag is reset after the error: a good call passes, the next bad one names its row.
            Tensor good = d.up(Tensor.ofInts(arena, new int[] {0, 8, 1, 3, 2}, n));
            d.kernels.tokenLogprobs(dz, good, LogprobOptions.DEFAULT, out, null, null);
            d.kernels.tokenLogprobs(dz, good, LogprobOptions.DEFAULT, out, null, null);
            Tensor bad = d.up(Tensor.ofInts(arena, new int[] {0, 8, 1, 3, 12}, n));
            var e2 = assertThrows(IllegalArgumentException.class,
                    () -> d.kernels.tokenLogprobs(dz, bad, LogprobOptions.DEFAULT, out, null, null));
            assertTrue(e2.getMessage().contains("row 4 has label 12"), e2.getMessage());
        }
    }

    /** The token count is on the device too: too few valid tokens is an error from the launcher. */
    @ParameterizedTest
    @ValueSource(strings = {"cuda", "cuda-sim"})
    void deviceWhitenNeedsEnoughTokens(String name) {
        CudaRuntime rt = runtime(name);
        try (Arena arena = Arena.ofConfined(); Device d = new Device(rt)) {
            Tensor x = Tensor.ofFloats(arena, new float[] {1, 2, 3, 4}, 2, 2);
            Tensor m = Tensor.ofFloats(arena, new float[] {0, 1, 0, 0}, 2, 2);
            WhitenOptions o = new WhitenOptions(WhitenVariance.UNBIASED, WhitenEpsMode.ADD, 1e-8, true);
            Tensor dx = d.up(x), dm = d.up(m), out = d.out(DType.F32, 2, 2);
            var e = assertThrows(IllegalArgumentException.class, () -> d.kernels.maskedWhiten(dx, dm, o, out));
            assertTrue(e.getMessage().contains("at least 2 valid tokens"), e.getMessage());
            WhitenOptions biased = new WhitenOptions(WhitenVariance.BIASED, WhitenEpsMode.CLAMP, 1e-8, true);
            d.kernels.maskedWhiten(dx, dm, biased, out);   // one token is enough for the biased variance
            assertEquals(0.0, d.down(arena, out).getDouble(1));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cuda", "cuda-sim"})
    void everyOtherOpOnDeviceMemory(String name) {
        CudaRuntime rt = runtime(name);
        PpoKernels ref = Backends.create("reference");
        try (Arena arena = Arena.ofConfined(); Device d = new Device(rt)) {
            Rand r = new Rand(arena, 2);
            long b = 8, t = 37;
            Tensor lp = r.normal(DType.F32, 0.5, b, t), old = r.normal(DType.F32, 0.5, b, t);
            Tensor adv = r.normal(DType.F32, 1, b, t), val = r.normal(DType.F32, 1, b, t);
            Tensor oldv = r.normal(DType.F32, 1, b, t), ret = r.normal(DType.F32, 1, b, t);
            Tensor ent = r.uniform(0, 3, b, t), scores = r.normal(DType.F32, 1, b);
            Tensor mask = r.rightPaddedMask(DType.I32, b, t), vmask = r.randomMask(DType.U8, 0.8, b, t);
            Tensor dlp = d.up(lp), dold = d.up(old), dadv = d.up(adv), dval = d.up(val), doldv = d.up(oldv);
            Tensor dret = d.up(ret), dent = d.up(ent), dscores = d.up(scores), dmask = d.up(mask), dvmask = d.up(vmask);

            KlOptions ko = new KlOptions(KlEstimator.K3, 20, 10);
            Tensor kl = Tensor.allocate(arena, DType.F32, b, t), dkl = d.out(DType.F32, b, t);
            ref.klPenalty(lp, old, mask, ko, kl);
            d.kernels.klPenalty(dlp, dold, dmask, ko, dkl);
            close(name + " kl_penalty", kl, d.down(arena, dkl));

            RewardOptions ro = new RewardOptions(KlOptions.DEFAULT, 0.05, ScorePosition.AFTER_LAST, 5, KlAtScoreSlot.ZERO);
            Tensor[] rw = {Tensor.allocate(arena, DType.F32, b, t), Tensor.allocate(arena, DType.F32, b, t),
                    Tensor.allocate(arena, DType.F32, b, t)};
            Tensor[] drw = {d.out(DType.F32, b, t), d.out(DType.F32, b, t), d.out(DType.F32, b, t)};
            ref.klShapedRewards(lp, old, mask, scores, ro, rw[0], rw[1], rw[2]);
            d.kernels.klShapedRewards(dlp, dold, dmask, dscores, ro, drw[0], drw[1], drw[2]);
            for (int i = 0; i < 3; i++) close(name + " kl_shaped_rewards out" + i, rw[i], d.down(arena, drw[i]));

            GaeOptions go = new GaeOptions(1.0, 0.95, GaeMaskedSteps.SKIP);
            Tensor a = Tensor.allocate(arena, DType.F32, b, t), rr = Tensor.allocate(arena, DType.F32, b, t);
            Tensor da = d.out(DType.F32, b, t), drr = d.out(DType.F32, b, t);
            ref.gae(adv, val, vmask, go, a, rr);
            d.kernels.gae(dadv, dval, dvmask, go, da, drr);
            close(name + " gae advantages", a, d.down(arena, da));
            close(name + " gae returns", rr, d.down(arena, drr));

            WhitenOptions wo = new WhitenOptions(WhitenVariance.BIASED, WhitenEpsMode.CLAMP, 1e-8, false);
            Tensor w = Tensor.allocate(arena, DType.F32, b, t), dw = d.out(DType.F32, b, t);
            ref.maskedWhiten(adv, mask, wo, w);
            d.kernels.maskedWhiten(dadv, dmask, wo, dw);
            close(name + " masked_whiten", w, d.down(arena, dw));

            PolicyLossOptions po = new PolicyLossOptions(0.2, 0.2, 20, 3, new Aggregation(LossAgg.SEQ_MEAN_TOKEN_MEAN, 0, 0), 0);
            ValueLossOptions vo = new ValueLossOptions(0.2, new Aggregation(LossAgg.TOKEN_MEAN, 1000, 0));
            Tensor g = Tensor.allocate(arena, DType.F32, b, t), dg = d.out(DType.F32, b, t);
            PolicyLossResult pw = ref.policyLoss(lp, old, adv, mask, po, g);
            PolicyLossResult pg = d.kernels.policyLoss(dlp, dold, dadv, dmask, po, dg);
            Tolerance.assertClose(name + " policy loss", pw.loss(), pg.loss());
            Tolerance.assertClose(name + " policy clipfrac", pw.clipfrac(), pg.clipfrac());
            Tolerance.assertClose(name + " policy ppo_kl", pw.ppoKl(), pg.ppoKl());
            close(name + " policy grad", g, d.down(arena, dg));
            ValueLossResult vw = ref.valueLoss(val, oldv, ret, vmask, vo, g);
            ValueLossResult vg = d.kernels.valueLoss(dval, doldv, dret, dvmask, vo, dg);
            Tolerance.assertClose(name + " value loss", vw.loss(), vg.loss());
            Tolerance.assertClose(name + " value clipfrac", vw.clipfrac(), vg.clipfrac());
            close(name + " value grad", g, d.down(arena, dg));

            PpoLossOptions ppo = new PpoLossOptions(po, vo, 0.1, 0.01);
            Tensor g1 = Tensor.allocate(arena, DType.F32, b, t), g2 = Tensor.allocate(arena, DType.F32, b, t);
            Tensor g3 = Tensor.allocate(arena, DType.F32, b, t);
            Tensor dg1 = d.out(DType.F32, b, t), dg2 = d.out(DType.F32, b, t), dg3 = d.out(DType.F32, b, t);
            PpoLossResult lw = ref.ppoLoss(new PpoLossInputs(lp, old, adv, val, oldv, ret, mask, vmask, ent), ppo, g1, g2, g3);
            PpoLossResult lg = d.kernels.ppoLoss(new PpoLossInputs(dlp, dold, dadv, dval, doldv, dret, dmask, dvmask, dent),
                    ppo, dg1, dg2, dg3);
            Tolerance.assertClose(name + " ppo loss", lw.loss(), lg.loss());
            Tolerance.assertClose(name + " ppo entropy loss", lw.entropyLoss(), lg.entropyLoss());
            Tolerance.assertClose(name + " ppo value loss", lw.valueLoss(), lg.valueLoss());
            close(name + " ppo grad_logprobs", g1, d.down(arena, dg1));
            close(name + " ppo grad_values", g2, d.down(arena, dg2));
            close(name + " ppo grad_entropy", g3, d.down(arena, dg3));

            GroupOptions gro = new GroupOptions(4, GroupEstimator.GRPO, 1e-6);
            Tensor ga = Tensor.allocate(arena, DType.F32, b), dga = d.out(DType.F32, b);
            ref.groupAdvantages(scores, null, gro, ga);
            d.kernels.groupAdvantages(dscores, null, gro, dga);
            close(name + " group_advantages", ga, d.down(arena, dga));
            Tensor gm = Tensor.allocate(arena, DType.F32, b, t), dgm = d.out(DType.F32, b, t);
            ref.groupAdvantages(scores, mask, gro, gm);
            d.kernels.groupAdvantages(dscores, dmask, gro, dgm);
            close(name + " group_advantages [B, T]", gm, d.down(arena, dgm));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cuda", "cuda-sim"})
    void buffersAndStreamsCloseOnceAndRejectMisuse(String name) {
        CudaRuntime rt = runtime(name);
        try (Arena arena = Arena.ofConfined()) {
            CudaStream s = CudaStream.create(rt);
            DeviceBuffer buf = DeviceBuffer.allocate(rt, 64);
            var host = arena.allocate(64);
            for (int i = 0; i < 64; i++) host.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) i);
            buf.copyFromHost(host.asSlice(0, 32), 16, s);
            var back = arena.allocate(64);
            buf.fill(0, s);
            buf.copyFromHost(host.asSlice(0, 32), 16, s);
            buf.copyToHost(back, 0, s);
            for (int i = 0; i < 64; i++) {
                assertEquals(i >= 16 && i < 48 ? (byte) (i - 16) : 0, back.get(java.lang.foreign.ValueLayout.JAVA_BYTE, i), "byte " + i);
            }
            assertThrows(IllegalArgumentException.class, () -> buf.copyFromHost(host, 8, s), "past the end");
            assertThrows(IllegalArgumentException.class, () -> buf.tensor(DType.F32, 17), "tensor larger than the buffer");
            buf.close();
            buf.close();
            assertTrue(buf.isClosed());
            assertThrows(IllegalStateException.class, buf::address);

            // A caller-owned stream survives the kernels object that used it.
            CudaKernels k = CudaKernels.onStream(rt, s.handle());
            k.close();
            k.close();
            s.synchronize();
            assertFalse(s.isClosed());
            s.close();
            s.close();
            assertThrows(IllegalStateException.class, s::handle);

            // The device backend rejects host tensors (and the host backend device tensors) before any native call.
            try (CudaKernels dev = new CudaKernels(rt)) {
                Tensor hostT = Tensor.allocate(arena, DType.F32, 2, 2);
                var e = assertThrows(IllegalArgumentException.class,
                        () -> dev.klPenalty(hostT, hostT, null, KlOptions.DEFAULT, hostT));
                assertTrue(e.getMessage().contains("device"), e.getMessage());
            }
        }
    }

    /**
     * The host-tensor "cuda" backend (CudaStagedKernels: copy in, run on the device, copy out), on the GPU and on the
     * emulator: results as the reference, in-place backward copied back into the host logits, and the padding of a
     * strided host output left untouched.
     */
    @ParameterizedTest
    @ValueSource(strings = {"cuda", "cuda-sim"})
    void stagedBackendOnHostTensors(String name) {
        CudaRuntime rt = runtime(name);
        PpoKernels ref = Backends.create("reference");
        try (Arena arena = Arena.ofConfined(); CudaStagedKernels staged = new CudaStagedKernels(rt)) {
            Rand r = new Rand(arena, 4);
            long n = 5, v = 61, stride = 64;
            Tensor z = Tensor.strided(arena.allocate(4 * n * stride, 64), DType.F32, stride, n, v);
            for (long i = 0; i < n * v; i++) z.setFloat(i, 2 * r.normal());
            Tensor labels = r.labels(DType.I32, v, n);
            LogprobOptions o = new LogprobOptions(1.0, EntropyLogits.SCALED);
            Tensor lp = Tensor.allocate(arena, DType.F32, n), saved = Tensor.allocate(arena, DType.F32, n, 3);
            Tensor lpS = Tensor.allocate(arena, DType.F32, n), savedS = Tensor.allocate(arena, DType.F32, n, 3);
            ref.tokenLogprobs(z, labels, o, lp, null, saved);
            staged.tokenLogprobs(z, labels, o, lpS, null, savedS);
            close(name + " staged logprobs", lp, lpS);
            close(name + " staged saved", saved, savedS);

            Tensor g = r.normal(DType.F32, 1, n);
            Tensor want = Tensor.allocate(arena, DType.F32, n, v);
            ref.tokenLogprobsBackward(z, labels, saved, g, null, o, want);
            // strided output with sentinel padding
            Tensor out = Tensor.strided(arena.allocate(4 * n * stride, 64), DType.F32, stride, n, v);
            var raw = out.segment();
            for (long i = 0; i < n * stride; i++) raw.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, -7f);
            staged.tokenLogprobsBackward(z, labels, saved, g, null, o, out);
            close(name + " staged grad (strided out)", want, out);
            for (long row = 0; row < n - 1; row++) {
                for (long j = v; j < stride; j++) {
                    assertEquals(-7f, raw.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, row * stride + j), "padding");
                }
            }
            staged.tokenLogprobsBackward(z, labels, saved, g, null, o, z);   // in place
            close(name + " staged grad (in place)", want, z);

            Tensor adv = r.normal(DType.F32, 1, 3, 50), mask = r.randomMask(DType.F32, 0.7, 3, 50);
            Tensor w1 = Tensor.allocate(arena, DType.F32, 3, 50), w2 = Tensor.allocate(arena, DType.F32, 3, 50);
            WhitenOptions wo = new WhitenOptions(WhitenVariance.UNBIASED, WhitenEpsMode.ADD, 1e-8, true);
            ref.maskedWhiten(adv, mask, wo, w1);
            staged.maskedWhiten(adv, mask, wo, w2);
            close(name + " staged whiten", w1, w2);
        }
    }
}
