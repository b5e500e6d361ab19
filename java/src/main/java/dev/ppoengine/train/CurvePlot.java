package dev.ppoengine.train;

import dev.ppoengine.model.AtomicFiles;
import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code curves.png}: the training curves of a run, drawn with Java2D (headless) and written with ImageIO.
 * Six panels against the PPO step: task reward (raw and an exponential moving average), KL (objective/kl and β),
 * policy and total loss, value loss, clip fractions (policy and value), policy entropy. Each panel has a title,
 * "nice" tick values (1, 2, 5 × 10^k) with grid lines, axis labels and a legend.
 */
public final class CurvePlot {
    private CurvePlot() {}

    static final int W = 1500, H = 900, COLS = 3, ROWS = 2;
    private static final Color[] PALETTE = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c), new Color(0xff7f0e),
            new Color(0x9467bd)};

    /** One line of a panel: a metric (or a smoothed copy of one) and its legend label. */
    record Series(String label, double[] x, double[] y, boolean thin) {}

    record Panel(String title, String yLabel, List<Series> series) {}

    /** Renders the panels for these metric rows (as written to metrics.jsonl) and writes the PNG atomically. */
    public static void write(Path file, List<Map<String, Double>> rows, String title) throws IOException {
        BufferedImage img = render(rows, title);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ImageIO.write(img, "png", bytes);
        AtomicFiles.write(file, bytes.toByteArray());
    }

    static BufferedImage render(List<Map<String, Double>> rows, String title) {
        double[] steps = column(rows, "step");
        double[] reward = column(rows, "objective/scores");
        List<Panel> panels = List.of(
                new Panel("Task reward (objective/scores)", "mean score", List.of(
                        new Series("batch mean", steps, reward, true),
                        new Series("EMA (0.8)", steps, ema(reward, 0.8), false))),
                new Panel("KL to the reference (objective/kl)", "nats per sequence", List.of(
                        new Series("objective/kl", steps, column(rows, "objective/kl"), false),
                        new Series("kl_coef (beta) x 10", steps, scale(column(rows, "objective/kl_coef"), 10), true))),
                new Panel("Policy loss (ppo/loss)", "loss", List.of(
                        new Series("policy", steps, column(rows, "ppo/loss/policy"), false),
                        new Series("total", steps, column(rows, "ppo/loss/total"), true))),
                new Panel("Value loss (ppo/loss/value)", "loss", List.of(
                        new Series("value", steps, column(rows, "ppo/loss/value"), false))),
                new Panel("Clip fraction", "fraction of tokens", List.of(
                        new Series("ppo/policy/clipfrac", steps, column(rows, "ppo/policy/clipfrac"), false),
                        new Series("ppo/val/clipfrac", steps, column(rows, "ppo/val/clipfrac"), false))),
                new Panel("Policy entropy (ppo/policy/entropy)", "nats per token", List.of(
                        new Series("entropy", steps, column(rows, "ppo/policy/entropy"), false))));

        BufferedImage img = new BufferedImage(W, H, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, W, H);
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 20));
        drawCentered(g, title, W / 2, 30);
        int top = 50, cellW = W / COLS, cellH = (H - top) / ROWS;
        for (int i = 0; i < panels.size(); i++) {
            int cx = (i % COLS) * cellW, cy = top + (i / COLS) * cellH;
            drawPanel(g, panels.get(i), cx, cy, cellW, cellH);
        }
        g.dispose();
        return img;
    }

    private static void drawPanel(Graphics2D g, Panel p, int x0, int y0, int w, int h) {
        int left = x0 + 78, right = x0 + w - 20, top = y0 + 36, bottom = y0 + h - 56;
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
        drawCentered(g, p.title(), (left + right) / 2, y0 + 22);

        double xmin = Double.POSITIVE_INFINITY, xmax = Double.NEGATIVE_INFINITY;
        double ymin = Double.POSITIVE_INFINITY, ymax = Double.NEGATIVE_INFINITY;
        for (Series s : p.series()) {
            for (int i = 0; i < s.x().length; i++) {
                if (!Double.isFinite(s.y()[i])) continue;
                xmin = Math.min(xmin, s.x()[i]);
                xmax = Math.max(xmax, s.x()[i]);
                ymin = Math.min(ymin, s.y()[i]);
                ymax = Math.max(ymax, s.y()[i]);
            }
        }
        if (!Double.isFinite(xmin)) {
            xmin = 0;
            xmax = 1;
            ymin = 0;
            ymax = 1;
        }
        if (xmax == xmin) xmax = xmin + 1;
        if (ymax == ymin) {
            double pad = Math.max(Math.abs(ymin) * 0.1, 1e-3);
            ymin -= pad;
            ymax += pad;
        }
        double[] xt = ticks(xmin, xmax, 6), yt = ticks(ymin, ymax, 5);
        xmin = Math.min(xmin, xt[0]);
        xmax = Math.max(xmax, xt[xt.length - 1]);
        ymin = Math.min(ymin, yt[0]);
        ymax = Math.max(ymax, yt[yt.length - 1]);

        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        FontMetrics fm = g.getFontMetrics();
        g.setStroke(new BasicStroke(1f));
        for (double t : yt) {
            int py = py(t, ymin, ymax, top, bottom);
            g.setColor(new Color(0xe6e6e6));
            g.drawLine(left, py, right, py);
            g.setColor(Color.DARK_GRAY);
            String s = fmt(t, yt);
            g.drawString(s, left - 6 - fm.stringWidth(s), py + fm.getAscent() / 2 - 1);
        }
        for (double t : xt) {
            int px = px(t, xmin, xmax, left, right);
            g.setColor(new Color(0xe6e6e6));
            g.drawLine(px, top, px, bottom);
            g.setColor(Color.DARK_GRAY);
            drawCentered(g, fmt(t, xt), px, bottom + fm.getAscent() + 4);
        }
        g.setColor(Color.BLACK);
        g.drawRect(left, top, right - left, bottom - top);
        drawCentered(g, "PPO step", (left + right) / 2, bottom + 2 * fm.getHeight() + 6);
        Graphics2D gr = (Graphics2D) g.create();
        gr.rotate(-Math.PI / 2);
        drawCentered(gr, p.yLabel(), -(top + bottom) / 2, x0 + 16);
        gr.dispose();

        int legendY = top + 16;
        // A white box behind the legend so lines crossing it do not hide the labels.
        int legendW = 0;
        for (Series s : p.series()) legendW = Math.max(legendW, fm.stringWidth(s.label()));
        g.setColor(new Color(255, 255, 255, 220));
        g.fillRect(right - 176, top + 3, Math.min(legendW + 40, right - left - 4), p.series().size() * (fm.getHeight() + 2) + 6);
        for (int k = 0; k < p.series().size(); k++) {
            Series s = p.series().get(k);
            Color c = PALETTE[k % PALETTE.length];
            g.setColor(s.thin() ? new Color(c.getRed(), c.getGreen(), c.getBlue(), 140) : c);
            g.setStroke(new BasicStroke(s.thin() ? 1.2f : 2.2f));
            Path2D.Double path = new Path2D.Double();
            boolean started = false;
            for (int i = 0; i < s.x().length; i++) {
                if (!Double.isFinite(s.y()[i])) continue;
                double px = px(s.x()[i], xmin, xmax, left, right), py = py(s.y()[i], ymin, ymax, top, bottom);
                if (!started) path.moveTo(px, py); else path.lineTo(px, py);
                started = true;
            }
            if (s.x().length == 1 && started) {
                int px = px(s.x()[0], xmin, xmax, left, right), py = py(s.y()[0], ymin, ymax, top, bottom);
                g.fillOval(px - 3, py - 3, 6, 6);
            }
            g.draw(path);
            g.setStroke(new BasicStroke(2.2f));
            g.drawLine(right - 170, legendY - 4, right - 146, legendY - 4);
            g.setColor(Color.BLACK);
            g.drawString(s.label(), right - 140, legendY);
            legendY += fm.getHeight() + 2;
        }
        g.setStroke(new BasicStroke(1f));
    }

    // Pixel coordinates: rounding a value inside the panel (a few hundred pixels) to int is exact enough and in range.
    private static int px(double x, double min, double max, int left, int right) {
        return (int) Math.round(left + (x - min) / (max - min) * (right - left));
    }

    private static int py(double y, double min, double max, int top, int bottom) {
        return (int) Math.round(bottom - (y - min) / (max - min) * (bottom - top));
    }

    private static void drawCentered(Graphics2D g, String s, int cx, int baseline) {
        g.drawString(s, cx - g.getFontMetrics().stringWidth(s) / 2, baseline);
    }

    /** Tick values covering [lo, hi] at a "nice" spacing (1, 2 or 5 × 10^k), about {@code n} of them. */
    static double[] ticks(double lo, double hi, int n) {
        double step = niceStep((hi - lo) / Math.max(n - 1, 1));
        double first = Math.floor(lo / step) * step, last = Math.ceil(hi / step) * step;
        // (last − first)/step is a whole number up to rounding error (≈ n): round, then the narrowing is exact.
        int count = (int) Math.round((last - first) / step) + 1;
        double[] t = new double[count];
        for (int i = 0; i < count; i++) t[i] = first + i * step;
        return t;
    }

    static double niceStep(double raw) {
        double exp = Math.pow(10, Math.floor(Math.log10(raw)));
        double f = raw / exp;
        double nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
        return nice * exp;
    }

    /** Tick label with as many decimals as the spacing needs. */
    static String fmt(double v, double[] ticks) {
        double step = ticks.length > 1 ? ticks[1] - ticks[0] : Math.abs(v);
        // decimals of a spacing in (1e-300, 1): a small count, the narrowing is exact.
        int decimals = step >= 1 || step == 0 ? 0 : (int) Math.ceil(-Math.log10(step) - 1e-9);
        if (Math.abs(v) < step * 1e-6) v = 0;
        return String.format(Locale.ROOT, "%." + Math.min(decimals, 6) + "f", v);
    }

    static double[] column(List<Map<String, Double>> rows, String key) {
        double[] out = new double[rows.size()];
        for (int i = 0; i < out.length; i++) {
            Double v = rows.get(i).get(key);
            out[i] = v == null ? Double.NaN : v;
        }
        return out;
    }

    static double[] ema(double[] y, double decay) {
        double[] out = new double[y.length];
        double acc = Double.NaN;
        for (int i = 0; i < y.length; i++) {
            if (Double.isFinite(y[i])) acc = Double.isNaN(acc) ? y[i] : decay * acc + (1 - decay) * y[i];
            out[i] = acc;
        }
        return out;
    }

    static double[] scale(double[] y, double f) {
        double[] out = new double[y.length];
        for (int i = 0; i < y.length; i++) out[i] = y[i] * f;
        return out;
    }
}
