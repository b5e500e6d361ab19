package dev.ppoengine.train;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** Built-in tasks: targets and rewards by hand, demonstrations and rejected responses. */
class TasksTest {

    @Test
    void positionalMatchCountsSamePositionsOverTheLongerLength() {
        assertEquals(1.0, Task.positionalMatch("1347", "1347"));
        assertEquals(0.5, Task.positionalMatch("1374", "1347"));        // 1, 3 match; 7≠4, 4≠7 → 2/4
    }

    @Test
    void positionalMatchExtraAndMissingCharactersCost() {
        // "13479" vs "1347": positions 0-3 match (4), length 5 → 4/5
        assertEquals(4.0 / 5, Task.positionalMatch("13479", "1347"));
        // "13" vs "1347": 2 matches over 4
        assertEquals(0.5, Task.positionalMatch("13", "1347"));
        assertEquals(0.0, Task.positionalMatch("", "12"));
        assertEquals(1.0, Task.positionalMatch("", ""));
    }

    @Test
    void sortDigits() {
        Task t = Tasks.byName("sort-digits");
        assertEquals("1347", t.target("3714="));
        assertEquals(1.0, t.reward("3714=", "1347", true));
        // descending "7431" vs "1347": no position matches → 0
        assertEquals(0.0, t.reward("3714=", "7431", true));
        // "1337" vs "1347": 3 of 4
        assertEquals(0.75, t.reward("3714=", "1337", true));
        assertThrows(IllegalArgumentException.class, () -> t.target("37a4="));
    }

    @Test
    void additionAlignsDigitsAtTheRight() {
        Task t = Tasks.byName("add");
        assertEquals("42", t.target("17+25="));
        assertEquals(1.0, t.reward("17+25=", "42", true));
        // "32" vs "42": units match → 1/2
        assertEquals(0.5, t.reward("17+25=", "32", true));
        // "142" vs "42": reversed "241" vs "24": 2 matches of 3
        assertEquals(2.0 / 3, t.reward("17+25=", "142", true));
        assertEquals("198", t.target("99+99="));
    }

    @Test
    void reverseAndUppercase() {
        Task r = Tasks.byName("reverse");
        assertEquals("efac", r.target("cafe>"));
        assertEquals(0.5, r.reward("cafe>", "efca", true));              // e, f match; c≠a, a≠c
        Task u = Tasks.byName("uppercase");
        assertEquals("CAFE", u.target("cafe:"));
        assertEquals(0.0, u.reward("cafe:", "cafe", true));
        assertEquals(0.75, u.reward("cafe:", "CAFx", true));
    }

    @Test
    void promptsAreReproducibleAndDemonstrationsMixTwoBehaviours() {
        for (String name : Tasks.names()) {
            Task t = Tasks.byName(name);
            SplittableRandom a = new SplittableRandom(5), b = new SplittableRandom(5);
            for (int i = 0; i < 20; i++) assertEquals(t.prompt(a), t.prompt(b), name);
            SplittableRandom rng = new SplittableRandom(11);
            int ideal = 0;
            for (int i = 0; i < 400; i++) {
                String p = t.prompt(rng);
                String d = t.demonstration(p, rng);
                if (t.reward(p, d, true) == 1.0) ideal++;
                String rej = t.rejected(p, rng);
                assertTrue(t.reward(p, rej, true) < 1.0, name + ": rejected '" + rej + "' for '" + p + "' must score below 1");
                assertTrue(t.target(p).length() <= t.maxTargetLength(), name);
            }
            if (name.equals("add")) assertEquals(400, ideal, "add demonstrations are the ideal answer");
            else assertTrue(ideal > 120 && ideal < 300, name + ": about half of the demonstrations are ideal, got " + ideal + "/400");
        }
    }

    @Test
    void unknownTaskNamesTheKnownOnes() {
        String m = assertThrows(IllegalArgumentException.class, () -> Tasks.byName("chess")).getMessage();
        assertTrue(m.contains("sort-digits") && m.contains("uppercase"), m);
    }
}
