package dev.ppoengine.train;

import dev.ppoengine.kernels.Preset;
import dev.ppoengine.kernels.Settings;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The KL controllers: Ziegler et al./trl adaptive arithmetic by hand, fixed, and the choice from the settings. */
class KlControllerTest {

    @Test
    void adaptiveBelowTargetShrinksWithTheErrorClippedAtMinus02() {
        // β = 0.2, target 6, horizon 10000, KL = 3: e = clip(3/6 − 1, ±0.2) = clip(−0.5) = −0.2
        // β ← 0.2 · (1 + (−0.2)·64/10000) = 0.2 · 0.99872 = 0.199744
        KlController.Adaptive c = new KlController.Adaptive(0.2, 6, 10000);
        c.update(3, 64);
        assertEquals(0.199744, c.value(), 1e-15);
    }

    @Test
    void adaptiveInsideTheClipRangeUsesTheProportionalError() {
        // KL = 6.6: e = 6.6/6 − 1 = 0.1 (inside ±0.2); β ← 0.2 · (1 + 0.1·256/10000) = 0.2 · 1.00256 = 0.200512
        KlController.Adaptive c = new KlController.Adaptive(0.2, 6, 10000);
        c.update(6.6, 256);
        assertEquals(0.200512, c.value(), 1e-15);
        // then KL = 5.7 at β = 0.200512: e = 5.7/6 − 1 = −0.05; β ← 0.200512 · (1 − 0.05·256/10000) = 0.200512 · 0.99872
        c.update(5.7, 256);
        assertEquals(0.200512 * 0.99872, c.value(), 1e-15);
    }

    @Test
    void adaptiveFarAboveTargetIsClippedAtPlus02() {
        // KL = 100: e = clip(100/6 − 1) = 0.2; β ← 0.1 · (1 + 0.2·1000/1000) = 0.12
        KlController.Adaptive c = new KlController.Adaptive(0.1, 6, 1000);
        c.update(100, 1000);
        assertEquals(0.12, c.value(), 1e-15);
    }

    @Test
    void adaptiveAtTargetStaysAndRestoreSetsTheValue() {
        KlController.Adaptive c = new KlController.Adaptive(0.3, 6, 10000);
        c.update(6, 64);
        assertEquals(0.3, c.value());
        c.restore(0.123);
        assertEquals(0.123, c.value());
    }

    @Test
    void fixedNeverChanges() {
        KlController c = new KlController.Fixed(0.05);
        c.update(1000, 64);
        c.update(0, 64);
        assertEquals(0.05, c.value());
    }

    @Test
    void presetsChooseTheController() {
        KlController trl = KlController.from(Settings.of(Preset.TRL));
        KlController.Adaptive a = assertInstanceOf(KlController.Adaptive.class, trl);
        assertEquals(0.2, a.value());
        assertEquals(6, a.target());
        assertEquals(10000, a.horizon());
        KlController v2 = KlController.from(Settings.of(Preset.TRL_PPOV2));
        assertInstanceOf(KlController.Fixed.class, v2);
        assertEquals(0.05, v2.value());
        KlController forced = KlController.from(Settings.of(Preset.VERL, Map.of("kl_adaptive", "true", "kl_target", "3", "kl_horizon", "500")));
        assertEquals(3, assertInstanceOf(KlController.Adaptive.class, forced).target());
    }

    @Test
    void badParametersAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new KlController.Adaptive(0.2, 0, 10000));
        assertThrows(IllegalArgumentException.class, () -> new KlController.Adaptive(0.2, 6, -1));
        assertThrows(IllegalArgumentException.class, () -> new KlController.Fixed(Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> new KlController.Adaptive(0.2, 6, 100).update(Double.NaN, 1));
    }
}
