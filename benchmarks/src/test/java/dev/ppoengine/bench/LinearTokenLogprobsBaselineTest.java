package dev.ppoengine.bench;

import dev.ppoengine.bench.torch.TorchLinearTokenLogprobs;
import dev.ppoengine.bench.torch.TorchRuntime;
import dev.ppoengine.kernels.LinearTokenLogprobs;
import dev.ppoengine.kernels.LogprobOptions;
import dev.ppoengine.reference.LinearTokenLogprobsReference;
import dev.ppoengine.tensor.Tensor;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;

/**
 * The baselines of {@link LinearTokenLogprobsBenchmark} compute the op: on small seeded inputs (300 rows = two full
 * 128-row torch chunks + 44, H = 24, V = 1001) the torch baseline's logprobs, entropy, d hidden and d weight, and the
 * fused engine op's (auto = cpu where it loads), equal the reference's (f64) within 1e-4 + 1e-4·|ref| (f32 sums in
 * another order).
 */
class LinearTokenLogprobsBaselineTest {

    private static void assertClose(String what, float[] expected, float[] actual) {
        if (expected.length != actual.length) throw new AssertionError(what + ": length " + actual.length + " != " + expected.length);
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs((double) expected[i] - actual[i]), tol = 1e-4 + 1e-4 * Math.abs(expected[i]);
            if (!(err <= tol)) {
                throw new AssertionError(what + "[" + i + "]: reference " + expected[i] + ", got " + actual[i] + " (|err| "
                        + err + " > " + tol + ")");
            }
        }
    }

    @Test
    void torchAndFusedMatchTheReference() {
        int n = 300, h = 24, v = 1001;
        try (Arena arena = Arena.ofConfined()) {
            Tensor hidden = BenchData.uniform(arena, -1, 1, 51, n, h);
            double s = 5.0 / Math.sqrt(h);
            Tensor weight = BenchData.uniform(arena, -s, s, 52, v, h);
            Tensor labels = BenchData.labels(arena, n, v, 53);
            Tensor g = BenchData.uniform(arena, -1, 1, 54, n), e = BenchData.uniform(arena, -0.1, 0.1, 55, n);
            LogprobOptions o = LogprobOptions.DEFAULT;

            LinearTokenLogprobsReference ref = new LinearTokenLogprobsReference();
            Tensor lp = BenchData.zeros(arena, n), ent = BenchData.zeros(arena, n), saved = BenchData.zeros(arena, n, 3);
            Tensor gh = BenchData.zeros(arena, n, h), gw = BenchData.zeros(arena, v, h);
            ref.forward(hidden, weight, null, labels, o, lp, ent, saved);
            ref.backward(hidden, weight, null, labels, saved, g, e, o, gh, gw, null, false);

            TorchLinearTokenLogprobs torch = new TorchLinearTokenLogprobs(hidden, weight, labels);
            try (PointerScope scope = new PointerScope()) {
                org.bytedeco.pytorch.Tensor[] out = torch.forward();
                assertClose("torch logprobs", lp.toFloatArray(), TorchRuntime.toFloats(out[0]));
                assertClose("torch entropy", ent.toFloatArray(), TorchRuntime.toFloats(out[1]));
                org.bytedeco.pytorch.Tensor[] grads = torch.forwardBackward(TorchRuntime.wrap(g), TorchRuntime.wrap(e));
                assertClose("torch d hidden", gh.toFloatArray(), TorchRuntime.toFloats(grads[0]));
                assertClose("torch d weight", gw.toFloatArray(), TorchRuntime.toFloats(grads[1]));
            }

            try (LinearTokenLogprobs fused = LinearTokenLogprobs.create("auto")) {
                Tensor flp = BenchData.zeros(arena, n), fent = BenchData.zeros(arena, n), fsaved = BenchData.zeros(arena, n, 3);
                Tensor fgh = BenchData.zeros(arena, n, h), fgw = BenchData.zeros(arena, v, h);
                fused.forward(hidden, weight, null, labels, o, flp, fent, fsaved);
                fused.backward(hidden, weight, null, labels, fsaved, g, e, o, fgh, fgw, null, false);
                assertClose(fused.name() + " logprobs", lp.toFloatArray(), flp.toFloatArray());
                assertClose(fused.name() + " entropy", ent.toFloatArray(), fent.toFloatArray());
                assertClose(fused.name() + " d hidden", gh.toFloatArray(), fgh.toFloatArray());
                assertClose(fused.name() + " d weight", gw.toFloatArray(), fgw.toFloatArray());
            }
        }
    }
}
