package dev.ppoengine.train;

import java.io.PrintStream;
import java.util.Locale;

/**
 * A one-line progress display on stderr: {@code ppo [██████░░░░]  24/60  reward 0.712  kl 1.23  1.4 s/step  eta 0:50}.
 * On a terminal the line is redrawn in place ({@code \r}); otherwise (a log file) a line is printed every ~10% of the
 * phase, so logs stay readable. Disabled instances print nothing.
 */
public final class ProgressBar {
    private static final int WIDTH = 24;

    private final PrintStream err;
    private final boolean enabled, terminal;
    private String phase = "";
    private long total, started, lastPrintedDecile = -1;
    private int lastLength;
    private final char full, empty;

    public ProgressBar(PrintStream err, boolean enabled) {
        this.err = err;
        this.enabled = enabled;
        var console = System.console();
        this.terminal = console != null && console.isTerminal();
        // Block characters only where stderr is UTF-8; plain ASCII otherwise.
        boolean utf8 = System.getProperty("stderr.encoding", "").toUpperCase(Locale.ROOT).replace("-", "").equals("UTF8");
        this.full = utf8 ? '█' : '#';
        this.empty = utf8 ? '░' : '.';
    }

    /** Starts a phase of {@code total} units. */
    public void start(String phase, long total) {
        finish();
        this.phase = phase;
        this.total = Math.max(total, 1);
        this.started = System.nanoTime();
        this.lastPrintedDecile = -1;
    }

    /** Shows {@code done} of total units with extra text (e.g. "reward 0.71  kl 1.2"). */
    public void update(long done, String extra) {
        if (!enabled) return;
        double frac = Math.min(1.0, (double) done / total);
        double elapsed = (System.nanoTime() - started) * 1e-9;
        double perUnit = done > 0 ? elapsed / done : 0;
        long eta = Math.round(perUnit * (total - done));
        int filled = (int) Math.round(frac * WIDTH);   // frac ∈ [0, 1]: 0..WIDTH, exact
        String bar = String.valueOf(full).repeat(filled) + String.valueOf(empty).repeat(WIDTH - filled);
        String line = String.format(Locale.ROOT, "%-5s [%s] %4d/%d  %s  %.2f s/%s  eta %d:%02d", phase, bar, done, total, extra,
                perUnit, phase.equals("sft") ? "it" : "step", eta / 60, eta % 60);
        if (terminal) {
            String pad = line.length() < lastLength ? " ".repeat(lastLength - line.length()) : "";
            err.print("\r" + line + pad);
            err.flush();
            lastLength = line.length();
        } else {
            long decile = (long) Math.floor(frac * 10);
            if (decile == lastPrintedDecile && done != total) return;
            err.println(line);
            lastPrintedDecile = decile;
        }
    }

    /** Ends the current line (terminal mode). */
    public void finish() {
        if (enabled && terminal && lastLength > 0) {
            err.println();
            lastLength = 0;
        }
    }

    /** Prints a message on its own line (keeping the bar intact on a terminal). */
    public void message(String s) {
        finish();
        err.println(s);
    }
}
