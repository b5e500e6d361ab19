package dev.ppoengine.train;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Schedule values by hand (HF get_*_schedule_with_warmup). */
class LrScheduleTest {

    @Test
    void linearWithWarmup() {
        LrSchedule s = new LrSchedule(LrSchedule.Kind.LINEAR, 1.0, 2, 10);
        assertEquals(0.0, s.lr(0), 0);          // 1·0/2
        assertEquals(0.5, s.lr(1), 0);          // 1·1/2
        assertEquals(1.0, s.lr(2), 0);          // (10−2)/(10−2)
        assertEquals(0.5, s.lr(6), 1e-15);      // (10−6)/8
        assertEquals(0.125, s.lr(9), 1e-15);    // (10−9)/8
        assertEquals(0.0, s.lr(10), 0);
        assertEquals(0.0, s.lr(12), 0);         // clamped at 0
    }

    @Test
    void cosineWithWarmup() {
        LrSchedule s = new LrSchedule(LrSchedule.Kind.COSINE, 2.0, 2, 10);
        assertEquals(1.0, s.lr(1), 0);                                            // 2·1/2
        assertEquals(2.0, s.lr(2), 1e-15);                                        // ½(1+cos 0)·2
        assertEquals(2.0 * 0.5 * (1 + Math.cos(Math.PI / 4)), s.lr(4), 1e-12);   // progress 2/8
        assertEquals(1.0, s.lr(6), 1e-12);                                        // progress ½: ½(1+0)·2
        assertEquals(0.0, s.lr(10), 1e-12);                                       // progress 1: ½(1−1)
        assertEquals(0.0, s.lr(11), 1e-12);                                       // past the end: progress clamped at 1
    }

    @Test
    void constantWithAndWithoutWarmup() {
        assertEquals(3e-4, LrSchedule.constant(3e-4).lr(0), 0);
        LrSchedule s = new LrSchedule(LrSchedule.Kind.CONSTANT, 1.0, 4, 0);
        assertEquals(0.25, s.lr(1), 0);
        assertEquals(1.0, s.lr(4), 0);
        assertEquals(1.0, s.lr(1000), 0);
    }

    @Test
    void badArguments() {
        assertThrows(IllegalArgumentException.class, () -> new LrSchedule(LrSchedule.Kind.LINEAR, 1, 10, 10));
        assertThrows(IllegalArgumentException.class, () -> new LrSchedule(LrSchedule.Kind.COSINE, -1, 0, 10));
        assertThrows(IllegalArgumentException.class, () -> new LrSchedule(LrSchedule.Kind.CONSTANT, 1, -1, 0));
        assertThrows(IllegalArgumentException.class, () -> LrSchedule.constant(1).lr(-1));
        assertEquals(LrSchedule.Kind.COSINE, LrSchedule.Kind.parse("Cosine"));
        assertThrows(IllegalArgumentException.class, () -> LrSchedule.Kind.parse("step"));
    }
}
