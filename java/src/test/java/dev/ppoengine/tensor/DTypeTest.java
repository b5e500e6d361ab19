package dev.ppoengine.tensor;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DType names and sizes, and the 16-bit float conversions: f32 → bf16/f16 rounds to nearest, ties to even
 * (IEEE 754 default), bf16/f16 → f32 is exact.
 */
class DTypeTest {

    @Test
    void sizesAndSafetensorsNames() {
        assertEquals(4, DType.F32.byteSize());
        assertEquals(8, DType.F64.byteSize());
        assertEquals(2, DType.BF16.byteSize());
        assertEquals(2, DType.F16.byteSize());
        assertEquals(4, DType.I32.byteSize());
        assertEquals(8, DType.I64.byteSize());
        assertEquals(1, DType.U8.byteSize());
        assertEquals(1, DType.BOOL.byteSize());
        assertEquals("F64", DType.F64.safetensorsName());
        assertEquals("BF16", DType.BF16.safetensorsName());
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void safetensorsNameRoundTrips(DType d) {
        assertEquals(d, DType.fromSafetensors(d.safetensorsName()));
        assertTrue(d.isFloating() != d.isInteger(), "every dtype is exactly one of float / integer");
    }

    @Test
    void unknownSafetensorsNameIsNull() {
        assertNull(DType.fromSafetensors("F8_E4M3"));
        assertNull(DType.fromSafetensors("f32")); // the header spelling is upper case
    }

    @ParameterizedTest
    @CsvSource({"f32,F32", "float32,F32", "FLOAT,F32", "f64,F64", "double,F64", "float64,F64", "bf16,BF16",
            "bfloat16,BF16", "f16,F16", "half,F16", "float16,F16", "i32,I32", "int,I32", "int64,I64", "long,I64",
            "u8,U8", "uint8,U8", "bool,BOOL"})
    void userFacingNames(String name, DType expected) {
        assertEquals(expected, DType.parse(name));
    }

    @Test
    void unknownUserFacingNameNamesTheChoices() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DType.parse("int8"));
        assertTrue(e.getMessage().contains("unknown dtype 'int8'"), e.getMessage());
        assertTrue(e.getMessage().contains("f64"), e.getMessage());
    }

    @Test
    void floatingFlags() {
        assertTrue(DType.F64.isFloating());
        assertTrue(DType.BF16.isFloating());
        assertFalse(DType.I64.isFloating());
        assertTrue(DType.BOOL.isInteger());
    }

    // ---------------------------------------------------------------- bf16: 1 sign, 8 exponent, 7 mantissa bits

    @ParameterizedTest(name = "{0}")
    @CsvSource({
            // value as f32 bits, expected bf16 bits, why
            "0x3F800000, 0x3F80, 1.0 is exact",
            "0x3F808000, 0x3F80, 1 + 2^-8: halfway between 0x3F80 (even) and 0x3F81: ties to even, down",
            "0x3F818000, 0x3F82, 1 + 3·2^-8: halfway between 0x3F81 (odd) and 0x3F82: ties to even, up",
            "0x3F808001, 0x3F81, just above halfway: up",
            "0x3F807FFF, 0x3F80, just below halfway: down",
            "0xBF818000, 0xBF82, negative halfway: the same tie rule on the magnitude",
            "0x7F7FFFFF, 0x7F80, f32 max is above bf16 max + half an ulp: overflows to +inf",
            "0x7F800000, 0x7F80, +inf stays inf",
            "0xFF800000, 0xFF80, -inf stays -inf",
            "0x00000001, 0x0000, smallest f32 subnormal rounds to +0",
            "0x80000000, 0x8000, -0 keeps its sign",
    })
    void floatToBf16RoundsToNearestEven(String fBits, String bBits, String why) {
        float f = Float.intBitsToFloat(Integer.parseUnsignedInt(fBits.substring(2), 16));
        short expected = (short) Integer.parseInt(bBits.substring(2), 16);
        assertEquals(expected, DType.floatToBf16(f), why);
    }

    @Test
    void bf16NanStaysNan() {
        assertTrue(Float.isNaN(DType.bf16ToFloat(DType.floatToBf16(Float.NaN))));
        // A NaN whose payload lives only in the low 16 bits must not collapse to infinity.
        float lowPayloadNan = Float.intBitsToFloat(0x7F800001);
        assertTrue(Float.isNaN(DType.bf16ToFloat(DType.floatToBf16(lowPayloadNan))));
    }

    @Test
    void bf16ToFloatIsTheTopHalf() {
        assertEquals(1.0f, DType.bf16ToFloat((short) 0x3F80));
        assertEquals(-2.0f, DType.bf16ToFloat((short) 0xC000));
        assertEquals(1.0078125f, DType.bf16ToFloat((short) 0x3F81)); // 1 + 2^-7
    }

    @Test
    void everyBf16ValueRoundTripsExactly() {
        for (int b = 0; b < 0x10000; b++) {
            float f = DType.bf16ToFloat((short) b);
            if (Float.isNaN(f)) continue;
            assertEquals((short) b, DType.floatToBf16(f), "bits 0x" + Integer.toHexString(b));
        }
    }

    @Test
    void randomF32ToBf16IsTheNearestWithTiesToEven() {
        SplittableRandom rnd = new SplittableRandom(11);
        for (int i = 0; i < 100_000; i++) {
            float f = Float.intBitsToFloat(rnd.nextInt());
            if (Float.isNaN(f) || Float.isInfinite(f)) continue;
            short b = DType.floatToBf16(f);
            // Candidates: the truncation and the next bf16 up in magnitude; the result must be the closer one.
            int bits = Float.floatToRawIntBits(f);
            short lo = (short) (bits >>> 16), hi = (short) ((bits >>> 16) + 1);
            // IEEE overflow: past the largest finite bf16 the next "value" up is ±2^128, which rounds to ±inf.
            double hiValue = Float.isInfinite(DType.bf16ToFloat(hi)) ? Math.copySign(Math.scalb(1.0, 128), f) : DType.bf16ToFloat(hi);
            double dLo = Math.abs((double) DType.bf16ToFloat(lo) - f), dHi = Math.abs(hiValue - f);
            short expected = dLo < dHi ? lo : dHi < dLo ? hi : ((lo & 1) == 0 ? lo : hi);
            assertEquals(expected, b, "f32 bits 0x" + Integer.toHexString(bits));
        }
    }

    // ---------------------------------------------------------------- f16: 1 sign, 5 exponent, 10 mantissa bits

    @ParameterizedTest(name = "{0}")
    @CsvSource({
            "1.0, 0x3C00, exact",
            "1.00048828125, 0x3C00, 1 + 2^-11: halfway between 0x3C00 (even) and 0x3C01: down",
            "1.00146484375, 0x3C02, 1 + 3·2^-11: halfway between 0x3C01 (odd) and 0x3C02: up",
            "65504, 0x7BFF, largest finite f16",
            "65519.99, 0x7BFF, below the halfway point to 65536: stays finite",
            "65520, 0x7C00, halfway between 65504 (odd mantissa) and 2^16: ties to even = +inf",
            "5.9604644775390625E-8, 0x0001, 2^-24: smallest subnormal",
            "2.98023223876953125E-8, 0x0000, 2^-25: halfway between 0 (even) and 2^-24: down to +0",
            "8.94069671630859375E-8, 0x0002, 3·2^-25: halfway between 0x0001 (odd) and 0x0002: up",
            "-2.0, 0xC000, negative",
    })
    void floatToF16RoundsToNearestEven(float f, String hBits, String why) {
        assertEquals((short) Integer.parseInt(hBits.substring(2), 16), DType.floatToF16(f), why);
    }

    @Test
    void everyF16ValueRoundTripsExactly() {
        for (int h = 0; h < 0x10000; h++) {
            float f = DType.f16ToFloat((short) h);
            if (Float.isNaN(f)) continue;
            assertEquals((short) h, DType.floatToF16(f), "bits 0x" + Integer.toHexString(h));
        }
    }
}
