package dev.ppoengine.ops;

import dev.ppoengine.kernels.Aggregation;
import dev.ppoengine.kernels.LossAgg;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.kernels.ValueLossOptions;
import dev.ppoengine.kernels.ValueLossResult;
import dev.ppoengine.reference.ReferenceKernels;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;
import dev.ppoengine.testing.Rand;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static dev.ppoengine.ops.LossTestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * value_loss (SPEC): hand-computed cases (dyadic numbers, so the expected values are exact), value_clip 0 and &gt; 0,
 * the ½/½ tie rule and the closed clip interval, gradients against central finite differences, edge cases, bad
 * input, and every host backend against the reference. Aggregation modes: {@link LossAggregationTest}.
 */
class ValueLossTest extends ReferenceSweepTest {
    private static final PpoKernels REF = new ReferenceKernels();

    private Arena arena;

    @BeforeEach
    void open() { arena = Arena.ofConfined(); }

    @AfterEach
    void close() { arena.close(); }

    private ValueLossResult run(double[] v, double[] old, double[] ret, double[] mask, long b, long t, ValueLossOptions o,
                                Tensor grad) {
        return REF.valueLoss(f32(arena, b, t, v), f32(arena, b, t, old), f32(arena, b, t, ret),
                mask(arena, DType.F32, b, t, mask), o, grad);
    }

    private static ValueLossOptions opts(double eps, Aggregation agg) { return new ValueLossOptions(eps, agg); }

    // ------------------------------------------------------------------ hand-computed cases

    @Test
    void clippedAndUnclippedBranchesAndTheTie() {
        // old = 0, ε = 0.25 → Vc = clamp(V, −0.25, 0.25); a = V − R, b = Vc − R, L = ½·max(a², b²)
        //   t0: V = 0.125, R = 1: Vc = V, a = b = −0.875        → L = ½·0.765625 = 0.3828125, dL/dV = a = −0.875
        //   t1: V = 0.5,   R = 1: Vc = 0.25, a² = 0.25 < b² = 0.5625 → L = 0.28125, dL/dV = b·dVc/dV = 0 (clipped)
        //   t2: V = 0.5,   R = 0: Vc = 0.25, a² = 0.25 > b² = 0.0625 → L = 0.125,   dL/dV = a = 0.5
        //   t3: V = 0.75,  R = 0.5: Vc = 0.25, a = 0.25, b = −0.25: tie → L = 0.03125, dL/dV = ½·a + ½·b·0 = 0.125
        // token-mean: loss = (0.3828125 + 0.28125 + 0.125 + 0.03125)/4 = 0.205078125
        //             grad = [−0.875, 0, 0.5, 0.125]/4; clipfrac = 1/4 (t1; the tie is not "greater")
        double[] v = {0.125, 0.5, 0.5, 0.75};
        double[] old = {0, 0, 0, 0};
        double[] ret = {1, 1, 0, 0.5};
        double[] all = {1, 1, 1, 1};
        Tensor g = zeros(arena, 1, 4);
        ValueLossResult r = run(v, old, ret, all, 1, 4, opts(0.25, Aggregation.TOKEN_MEAN), g);
        assertEquals(0.205078125, r.loss());
        assertValues("grad", new double[] {-0.21875, 0, 0.125, 0.03125}, g, 0);
        assertEquals(0.25, r.clipfrac());
        // value_clip = 0 means no clipping (not Vc = old): L = ½a² = [0.3828125, 0.125, 0.125, 0.03125]
        // loss = 0.6640625/4 = 0.166015625, grad = a/4 = [−0.21875, −0.125, 0.125, 0.0625], clipfrac 0
        ValueLossResult off = run(v, old, ret, all, 1, 4, opts(0, Aggregation.TOKEN_MEAN), g);
        assertEquals(0.166015625, off.loss());
        assertValues("grad (ε = 0)", new double[] {-0.21875, -0.125, 0.125, 0.0625}, g, 0);
        assertEquals(0.0, off.clipfrac());
    }

    @Test
    void clipAroundNonZeroOldValuesOnBothSides() {
        // ε = 0.25, seq-mean-token-sum over one row (t3 masked, holding NaN)
        //   t0: old 1,  V 1.5,  R 2:  Vc 1.25,  a = −0.5 (0.25) < b = −0.75 (0.5625) → L = 0.28125, d = 0 (clipped)
        //   t1: old −1, V −1.5, R −2: Vc −1.25, a = 0.5 (0.25) < b = 0.75 (0.5625)   → L = 0.28125, d = 0 (clipped)
        //   t2: old −1, V −1.5, R −1: Vc −1.25, a = −0.5 (0.25) > b = −0.25 (0.0625) → L = 0.125,   d = a = −0.5
        // loss = 0.28125 + 0.28125 + 0.125 = 0.6875 (one row: its sum), grad = [0, 0, −0.5, 0], clipfrac = 2/3
        double n = Double.NaN;
        Tensor g = zeros(arena, 1, 4);
        ValueLossResult r = run(new double[] {1.5, -1.5, -1.5, n}, new double[] {1, -1, -1, n}, new double[] {2, -2, -1, n},
                new double[] {1, 1, 1, 0}, 1, 4, opts(0.25, Aggregation.of(LossAgg.SEQ_MEAN_TOKEN_SUM)), g);
        assertEquals(0.6875, r.loss());
        assertValues("grad", new double[] {0, 0, -0.5, 0}, g, 0);
        assertEquals(2.0 / 3, r.clipfrac(), 1e-15);
    }

    @Test
    void clipIntervalIsClosed() {
        // old = 0, ε = 0.25, R = 1. V = 0.25 = old + ε: Vc = V (torch.clamp passes the gradient at its bound),
        // a = b = −0.75 → L = 0.28125, dL/dV = a = −0.75 (a tie with Vc = V is just a).
        // V = 0.25 + 2^-10: Vc = 0.25, b² = 0.5625 > a² → clipped: L = 0.28125, dL/dV = 0.
        Tensor g = zeros(arena, 1, 1);
        ValueLossResult at = run(new double[] {0.25}, new double[] {0}, new double[] {1}, new double[] {1}, 1, 1,
                opts(0.25, Aggregation.TOKEN_MEAN), g);
        assertEquals(0.28125, at.loss());
        assertEquals(-0.75, g.getDouble(0));
        assertEquals(0.0, at.clipfrac());
        ValueLossResult past = run(new double[] {0.25 + 0x1p-10}, new double[] {0}, new double[] {1}, new double[] {1}, 1, 1,
                opts(0.25, Aggregation.TOKEN_MEAN), g);
        assertEquals(0.28125, past.loss());
        assertEquals(0.0, g.getDouble(0));
        assertEquals(1.0, past.clipfrac());
    }

    @Test
    void seqMeanTokenMeanAndTokenCountByHand() {
        // ε = 0, L = ½(V − R)²: row 0 a = [1, 2] → L = [0.5, 2]; row 1 a = [4] (t1, t2 masked) → L = [8]
        // seq-mean-token-mean: ((0.5 + 2)/2 + 8/1)/2 = 4.625; grad = a·w: row 0 w = 1/4, row 1 w = 1/2
        // token-mean with token_count 8: (0.5 + 2 + 8)/8 = 1.3125; grad = a/8
        double[] v = {1, 2, 0, 4, 5, 6};
        double[] zero = new double[6];
        double[] mask = {1, 1, 0, 1, 0, 0};
        Tensor g = zeros(arena, 2, 3);
        ValueLossResult r = run(v, zero, zero, mask, 2, 3, opts(0, Aggregation.of(LossAgg.SEQ_MEAN_TOKEN_MEAN)), g);
        assertEquals(4.625, r.loss());
        assertValues("grad", new double[] {0.25, 0.5, 0, 2, 0, 0}, g, 0);
        ValueLossResult tc = run(v, zero, zero, mask, 2, 3, opts(0, new Aggregation(LossAgg.TOKEN_MEAN, 8, 0)), g);
        assertEquals(1.3125, tc.loss());
        assertValues("grad (token_count 8)", new double[] {0.125, 0.25, 0, 0.5, 0, 0}, g, 0);
    }

    // ------------------------------------------------------------------ finite differences

    static Stream<Arguments> gradientConfigs() {
        return Stream.of(
                Arguments.of(0.0, Aggregation.TOKEN_MEAN),
                Arguments.of(0.2, Aggregation.TOKEN_MEAN),
                Arguments.of(0.2, Aggregation.of(LossAgg.SEQ_MEAN_TOKEN_MEAN)),
                Arguments.of(0.5, Aggregation.of(LossAgg.SEQ_MEAN_TOKEN_SUM)),
                Arguments.of(0.1, new Aggregation(LossAgg.SEQ_MEAN_TOKEN_SUM_NORM, 0, 9)));
    }

    /**
     * grad_values[i] against (loss(V_i + h) − loss(V_i − h)) / 2h, h = 2^-12, in f64. Inputs on the 2^-12 grid with
     * V at least 4h from |V − old| = ε and from the branch ties, so no difference straddles a kink; L is quadratic
     * between kinks, so the central difference is exact up to the f64 rounding of the loss.
     */
    @ParameterizedTest(name = "eps={0} {1}")
    @MethodSource("gradientConfigs")
    void gradientMatchesCentralDifferences(double eps, Aggregation agg) {
        Rand rnd = new Rand(arena, 0x5eed_0201L);
        long b = 5, t = 11;
        ValueInputs in = valueInputs(arena, rnd, b, t, eps, DType.I32);
        ValueLossOptions o = opts(eps, agg);
        Tensor g = zeros(arena, b, t), scratch = zeros(arena, b, t);
        ValueLossResult base = REF.valueLoss(in.values(), in.oldValues(), in.returns(), in.mask(), o, g);
        double h = FD_STEP;
        for (int i = 0; i < b * t; i++) {
            double v = in.values().getDouble(i);
            in.values().setFloat(i, v + h);
            double plus = REF.valueLoss(in.values(), in.oldValues(), in.returns(), in.mask(), o, scratch).loss();
            in.values().setFloat(i, v - h);
            double minus = REF.valueLoss(in.values(), in.oldValues(), in.returns(), in.mask(), o, scratch).loss();
            in.values().setFloat(i, v);
            double fd = (plus - minus) / (2 * h);
            if (!in.mask().isSet(i)) {
                assertEquals(0.0, fd, "masked position " + i + " changes the loss");
                assertEquals(0.0, g.getDouble(i), 0.0, "masked position " + i + " has a gradient");
            } else {
                assertEquals(fd, g.getDouble(i), 1e-9 + 1e-6 * Math.abs(fd), "d loss / d values[" + i + "]");
            }
        }
        if (eps > 0) assertTrue(base.clipfrac() > 0, "no clipped token: the clipped branch is not exercised");
    }

    // ------------------------------------------------------------------ edge cases

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.ppoengine.ops.LossTestSupport#aggregations")
    void noValidTokenGivesZerosNotNaN(Aggregation agg) {
        double n = Double.NaN;
        Tensor g = zeros(arena, 2, 2);
        for (int i = 0; i < 4; i++) g.setFloat(i, 7);
        ValueLossResult r = run(new double[] {n, 1e30, 1, n}, new double[] {0, n, 0, 1}, new double[] {n, -1e30, 3, 2},
                new double[4], 2, 2, opts(0.2, agg), g);
        assertEquals(new ValueLossResult(0, 0), r);
        assertAllZero("grad", g);
    }

    @Test
    void emptyRowsOneTokenAndTEqualsOne() {
        // 3×2 with rows 0 and 2 masked (NaN inside); row 1: t1 only, V = 3, R = 1, ε = 0 → L = ½·4 = 2, dL/dV = 2
        // every mode: one row with one token → loss 2, grad 2 (sum-norm: T = 2 → loss 1, grad 1)
        double n = Double.NaN;
        double[] v = {n, n, n, 3, n, n};
        double[] ret = {n, n, n, 1, n, n};
        double[] mask = {0, 0, 0, 1, 0, 0};
        for (Aggregation agg : aggregations()) {
            if (agg.tokenCount() > 0 || agg.norm() > 0) continue;
            double w = agg.mode() == LossAgg.SEQ_MEAN_TOKEN_SUM_NORM ? 0.5 : 1;
            Tensor g = zeros(arena, 3, 2);
            ValueLossResult r = run(v, new double[6], ret, mask, 3, 2, opts(0, agg), g);
            assertEquals(2 * w, r.loss(), agg.toString());
            assertValues("grad " + agg, new double[] {0, 0, 0, 2 * w, 0, 0}, g, 0);
        }
        // T = 1: 2×1, both valid, V = [1, −1], R = 0, ε = 0 → L = [0.5, 0.5]; token-mean 0.5, grad [0.5, −0.5]
        Tensor g = zeros(arena, 2, 1);
        ValueLossResult r = run(new double[] {1, -1}, new double[2], new double[2], new double[] {1, 1}, 2, 1,
                opts(0, Aggregation.TOKEN_MEAN), g);
        assertEquals(0.5, r.loss());
        assertValues("grad T=1", new double[] {0.5, -0.5}, g, 0);
    }

    @Test
    void everyMaskDtypeGivesTheSameResult() {
        Rand rnd = new Rand(arena, 0x5eed_0202L);
        long b = 4, t = 6;
        ValueLossOptions o = opts(0.2, Aggregation.of(LossAgg.SEQ_MEAN_TOKEN_MEAN));
        ValueInputs in = valueInputs(arena, rnd, b, t, 0.2, DType.F32);
        Tensor gBase = zeros(arena, b, t);
        ValueLossResult base = REF.valueLoss(in.values(), in.oldValues(), in.returns(), in.mask(), o, gBase);
        DType[] types = {DType.F32, DType.U8, DType.BOOL, DType.I32, DType.I64};
        double[] on = {-0.25, 255, 1, 1 << 30, -0x1p50};
        for (int k = 0; k < types.length; k++) {
            Tensor m = Tensor.allocate(arena, types[k], b, t);
            for (long i = 0; i < b * t; i++) if (in.mask().isSet(i)) m.setFloat(i, on[k]);
            Tensor g = zeros(arena, b, t);
            assertEquals(base, REF.valueLoss(in.values(), in.oldValues(), in.returns(), m, o, g), types[k].toString());
            assertBitwise(types[k] + " mask grad", gBase, g);
        }
    }

    @Test
    void badInputIsAnIllegalArgumentNamingTheArgument() {
        Tensor ok = zeros(arena, 2, 3);
        Tensor m = mask(arena, DType.I64, 2, 3, 1, 1, 1, 1, 1, 1);
        Tensor g = zeros(arena, 2, 3);
        ValueLossOptions o = opts(0.2, Aggregation.TOKEN_MEAN);
        List<Object[]> cases = new ArrayList<>();
        cases.add(new Object[] {"values", (Executable) () -> REF.valueLoss(zeros(arena, 1, 6).reshape(6), ok, ok, m, o, g)});
        cases.add(new Object[] {"values", (Executable) () -> REF.valueLoss(null, ok, ok, m, o, g)});
        cases.add(new Object[] {"old_values", (Executable) () -> REF.valueLoss(ok, zeros(arena, 3, 2), ok, m, o, g)});
        cases.add(new Object[] {"returns", (Executable) () -> REF.valueLoss(ok, ok, Tensor.allocate(arena, DType.F16, 2, 3), m, o, g)});
        cases.add(new Object[] {"mask", (Executable) () -> REF.valueLoss(ok, ok, ok, Tensor.allocate(arena, DType.BF16, 2, 3), o, g)});
        cases.add(new Object[] {"mask", (Executable) () -> REF.valueLoss(ok, ok, ok, mask(arena, DType.U8, 2, 4), o, g)});
        cases.add(new Object[] {"grad_values", (Executable) () -> REF.valueLoss(ok, ok, ok, m, o, Tensor.allocate(arena, DType.BF16, 2, 3))});
        cases.add(new Object[] {"grad_values", (Executable) () -> REF.valueLoss(ok, ok, ok, m, o, zeros(arena, 2, 2))});
        cases.add(new Object[] {"options", (Executable) () -> REF.valueLoss(ok, ok, ok, m, null, g)});
        cases.add(new Object[] {"value_clip", (Executable) () -> opts(-0.2, Aggregation.TOKEN_MEAN)});
        cases.add(new Object[] {"value_clip", (Executable) () -> opts(Double.NaN, Aggregation.TOKEN_MEAN)});
        cases.add(new Object[] {"loss_agg", (Executable) () -> opts(0.2, null)});
        assertEachNamesItsArgument(cases);
    }

    // ------------------------------------------------------------------ other backends

    /** Awkward shapes × every aggregation × value_clip {0, 0.2, 0.5}: within tolerance, and bitwise repeatable. */
    @Override
    protected void sweepAgainstReference(PpoKernels other) {
        Rand rnd = new Rand(arena, 0x5eed_0203L);
        int k = 0;
        for (long[] s : AWKWARD_SHAPES) {
            try (Arena local = Arena.ofConfined()) {
                for (Aggregation agg : aggregations()) {
                    for (double eps : new double[] {0, 0.2, 0.5}) {
                        ValueLossOptions o = opts(eps, agg);
                        String what = other.name() + " " + shape(s) + " " + o;
                        ValueInputs in = valueInputs(local, rnd, s[0], s[1], eps, MASK_TYPES[k++ % MASK_TYPES.length]);
                        Tensor gRef = zeros(local, s[0], s[1]), g1 = zeros(local, s[0], s[1]), g2 = zeros(local, s[0], s[1]);
                        ValueLossResult ref = REF.valueLoss(in.values(), in.oldValues(), in.returns(), in.mask(), o, gRef);
                        ValueLossResult r1 = other.valueLoss(in.values(), in.oldValues(), in.returns(), in.mask(), o, g1);
                        ValueLossResult r2 = other.valueLoss(in.values(), in.oldValues(), in.returns(), in.mask(), o, g2);
                        assertValueStats(what, ref, r1);
                        assertClose(what + " grad_values", gRef, g1);
                        assertEquals(r1, r2, what + ": statistics differ between two identical runs");
                        assertBitwise(what + " grad_values", g1, g2);
                    }
                }
            }
        }
    }
}
