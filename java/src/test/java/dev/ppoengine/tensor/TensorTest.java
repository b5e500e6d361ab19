package dev.ppoengine.tensor;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Tensor views: shapes, rows/cols, row strides, element access per dtype, reshape and the constructor's checks. */
class TensorTest {

    @Test
    void denseShapeBookkeeping() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.allocate(arena, DType.F32, 2, 3, 4);
            assertEquals(3, t.rank());
            assertEquals(24, t.numel());
            assertEquals(6, t.rows());      // 2·3 leading rows
            assertEquals(4, t.cols());
            assertEquals(4, t.rowStride());
            assertTrue(t.isDense());
            assertEquals(3, t.dim(1));
            assertEquals(4, t.dim(-1));
            assertEquals(96, t.spanBytes());
            assertEquals("[2, 3, 4]", t.shapeString());
            assertEquals("Tensor[f32[2, 3, 4]]", t.toString());
        }
    }

    @Test
    void scalarAndEmptyTensors() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor s = Tensor.scalar(arena, 2.5f);
            assertEquals(0, s.rank());
            assertEquals(1, s.numel());
            assertEquals(1, s.rows());
            assertEquals(1, s.cols());
            assertEquals(2.5f, s.getFloat(0));
            Tensor e = Tensor.allocate(arena, DType.I64, 3, 0);
            assertEquals(0, e.numel());
            assertEquals(0, e.spanBytes());
            assertArrayEquals(new float[0], e.toFloatArray());
        }
    }

    @Test
    void rowStrideSkipsTheGap() {
        try (Arena arena = Arena.ofConfined()) {
            // Buffer [3, 5] of 0..14; view [3, 2] with stride 5 reads {0,1}, {5,6}, {10,11}.
            float[] all = new float[15];
            for (int i = 0; i < 15; i++) all[i] = i;
            Tensor base = Tensor.ofFloats(arena, all, 3, 5);
            Tensor v = Tensor.strided(base.segment(), DType.F32, 5, 3, 2);
            assertFalse(v.isDense());
            assertArrayEquals(new float[] {0, 1, 5, 6, 10, 11}, v.toFloatArray());
            assertEquals((2 * 5 + 2) * 4, v.spanBytes()); // up to one past element (2, 1)
            assertEquals((1 * 5 + 1) * 4, v.byteOffset(3));
            v.setFloat(5, -1);
            assertEquals(-1f, base.getFloat(11));
            assertThrows(IllegalArgumentException.class, () -> v.reshape(6));
            assertTrue(v.toString().contains("stride 5"));
        }
    }

    @Test
    void constructorRejectsBadGeometry() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(16);
            IllegalArgumentException neg = assertThrows(IllegalArgumentException.class, () -> Tensor.of(seg, DType.F32, 2, -1));
            assertTrue(neg.getMessage().contains("negative dimension"), neg.getMessage());
            IllegalArgumentException small = assertThrows(IllegalArgumentException.class, () -> Tensor.of(seg, DType.F32, 5));
            assertTrue(small.getMessage().contains("too small"), small.getMessage());
            IllegalArgumentException stride = assertThrows(IllegalArgumentException.class,
                    () -> Tensor.strided(seg, DType.F32, 1, 2, 2));
            assertTrue(stride.getMessage().contains("row stride 1"), stride.getMessage());
            assertThrows(IllegalArgumentException.class, () -> Tensor.device(0, DType.F32, 1, 1));
            assertThrows(IllegalArgumentException.class, () -> Tensor.ofFloats(arena, new float[] {1, 2, 3}, 2, 2));
        }
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void setAndGetEveryDtype(DType d) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.allocate(arena, d, 3);
            t.setFloat(0, 0);
            t.setFloat(1, 1);
            t.setFloat(2, d == DType.BOOL ? 1 : 3);
            assertEquals(0.0, t.getDouble(0));
            assertEquals(1.0, t.getDouble(1));
            assertEquals(d == DType.BOOL ? 1.0 : 3.0, t.getDouble(2));
            assertFalse(t.isSet(0));
            assertTrue(t.isSet(1));
            if (d.isInteger()) assertEquals(1L, t.getLong(1));
            else assertThrows(IllegalStateException.class, () -> t.getLong(1));
        }
    }

    @Test
    void f64KeepsFullPrecisionAndF32Rounds() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor d = Tensor.allocate(arena, DType.F64, 1);
            d.setFloat(0, 0.1);
            assertEquals(0.1, d.getDouble(0));
            Tensor f = Tensor.allocate(arena, DType.F32, 1);
            f.setFloat(0, 0.1);
            assertEquals((double) 0.1f, f.getDouble(0));
        }
    }

    @Test
    void halfPrecisionStoresRoundedValues() {
        try (Arena arena = Arena.ofConfined()) {
            // bf16 keeps 8 significant bits: 1 + 2^-9 is below half an ulp (2^-8) of 1 and rounds to 1.
            Tensor b = Tensor.ofFloats(arena, DType.BF16, new float[] {1 + (float) Math.pow(2, -9), 3.140625f}, 2);
            assertArrayEquals(new float[] {1f, 3.140625f}, b.toFloatArray());
            Tensor h = Tensor.ofFloats(arena, DType.F16, new float[] {0.1f}, 1);
            assertEquals(DType.f16ToFloat(DType.floatToF16(0.1f)), h.getFloat(0));
        }
    }

    @Test
    void intAndLongFactoriesAndReshape() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor i = Tensor.ofInts(arena, new int[] {1, -2, 3, 4, 5, 6}, 2, 3);
            assertEquals(-2, i.getLong(1));
            Tensor r = i.reshape(3, 2);
            assertArrayEquals(new long[] {3, 2}, r.shape());
            assertEquals(4, r.getLong(3));
            assertEquals(i.address(), r.address());
            assertThrows(IllegalArgumentException.class, () -> i.reshape(4));
            Tensor l = Tensor.ofLongs(arena, new long[] {1L << 40}, 1);
            assertEquals(1L << 40, l.getLong(0));
            assertArrayEquals(new double[] {1, -2, 3, 4, 5, 6}, i.toDoubleArray());
        }
    }

    @Test
    void deviceTensorHasNoHostSegment() {
        Tensor d = Tensor.device(0xdead0000L, DType.F32, 8, 4, 8);
        assertTrue(d.isDevice());
        assertEquals(0xdead0000L, d.address());
        assertThrows(IllegalStateException.class, d::segment);
        assertTrue(d.toString().endsWith("device]"));
    }
}
