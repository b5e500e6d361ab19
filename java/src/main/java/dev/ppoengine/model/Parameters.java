package dev.ppoengine.model;

import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Every parameter of the policy/value model in one flat off-heap f32 block (and, unless frozen, a gradient block
 * with the same layout), so the optimiser and the gradient clipping run over plain contiguous ranges.
 *
 * <p>Names and layouts are Hugging Face GPT-2's without the {@code transformer.} prefix (the checkpoint code adds
 * or strips it): {@code wte.weight [V, C]}, {@code wpe.weight [P, C]}, per layer {@code h.i.ln_1.weight/bias [C]},
 * {@code h.i.attn.c_attn.weight [C, 3C]} (Conv1D: [in, out]) and {@code .bias [3C]},
 * {@code h.i.attn.c_proj.weight [C, C]}/{@code .bias [C]}, {@code h.i.ln_2.*}, {@code h.i.mlp.c_fc.weight [C, I]}/{@code .bias [I]},
 * {@code h.i.mlp.c_proj.weight [I, C]}/{@code .bias [C]}, {@code ln_f.weight/bias [C]}, and trl's value head
 * {@code v_head.summary.weight [1, C]}, {@code v_head.summary.bias [1]}. The LM head is tied to wte.
 *
 * <p>Each tensor starts on a 64-byte boundary (16 floats) so BLAS sees aligned operands; the padding stays 0.
 * Weight decay applies to matrices and embeddings, not to LayerNorm parameters or biases (the usual
 * GPT-2/trl optimiser grouping).
 */
public final class Parameters implements AutoCloseable {

    /** One named tensor: element offset into the flat block, HF shape, whether AdamW decays it. */
    public record Param(String name, long[] shape, long offset, long numel, boolean decay) {
        public String shapeString() { return java.util.Arrays.toString(shape); }
    }

    /** Element offsets of one transformer block's tensors. */
    public record Layer(long ln1W, long ln1B, long attnW, long attnB, long projW, long projB,
                        long ln2W, long ln2B, long fcW, long fcB, long mlpProjW, long mlpProjB) {}

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final int ALIGN = 16;

    private final GptConfig config;
    private final List<Param> params;
    private final Map<String, Param> byName;
    private final Layer[] layers;
    private final long wte, wpe, lnfW, lnfB, vW, vB;
    private final long size;
    private final Arena arena;
    private final MemorySegment data;
    private final MemorySegment grad;   // null when frozen

    public Parameters(GptConfig config, boolean withGradients) {
        this.config = config;
        long c = config.nEmbd(), inner = config.nInner();
        List<Param> list = new ArrayList<>();
        long[] cursor = {0};
        wte = add(list, cursor, "wte.weight", true, config.vocabSize(), c);
        wpe = add(list, cursor, "wpe.weight", true, config.nPositions(), c);
        layers = new Layer[config.nLayer()];
        for (int l = 0; l < config.nLayer(); l++) {
            String p = "h." + l + ".";
            layers[l] = new Layer(
                    add(list, cursor, p + "ln_1.weight", false, c),
                    add(list, cursor, p + "ln_1.bias", false, c),
                    add(list, cursor, p + "attn.c_attn.weight", true, c, 3 * c),
                    add(list, cursor, p + "attn.c_attn.bias", false, 3 * c),
                    add(list, cursor, p + "attn.c_proj.weight", true, c, c),
                    add(list, cursor, p + "attn.c_proj.bias", false, c),
                    add(list, cursor, p + "ln_2.weight", false, c),
                    add(list, cursor, p + "ln_2.bias", false, c),
                    add(list, cursor, p + "mlp.c_fc.weight", true, c, inner),
                    add(list, cursor, p + "mlp.c_fc.bias", false, inner),
                    add(list, cursor, p + "mlp.c_proj.weight", true, inner, c),
                    add(list, cursor, p + "mlp.c_proj.bias", false, c));
        }
        lnfW = add(list, cursor, "ln_f.weight", false, c);
        lnfB = add(list, cursor, "ln_f.bias", false, c);
        vW = add(list, cursor, "v_head.summary.weight", true, 1, c);
        vB = add(list, cursor, "v_head.summary.bias", false, 1);
        size = cursor[0];
        params = Collections.unmodifiableList(list);
        Map<String, Param> m = new LinkedHashMap<>();
        for (Param p : list) m.put(p.name(), p);
        byName = Collections.unmodifiableMap(m);
        arena = Arena.ofShared();
        long bytes = Math.multiplyExact(size, 4L);
        data = arena.allocate(bytes, 64);
        grad = withGradients ? arena.allocate(bytes, 64) : null;
    }

    private static long add(List<Param> list, long[] cursor, String name, boolean decay, long... shape) {
        long off = cursor[0];
        long n = Tensor.numel(shape);
        list.add(new Param(name, shape, off, n, decay));
        cursor[0] = Math.addExact(off, (n + ALIGN - 1) / ALIGN * ALIGN);
        return off;
    }

    public GptConfig config() { return config; }
    public List<Param> list() { return params; }
    public boolean hasGradients() { return grad != null; }
    /** Number of trainable scalars (padding excluded). */
    public long count() {
        long n = 0;
        for (Param p : params) n += p.numel();
        return n;
    }
    /** Size of the flat blocks in elements (padding included). */
    public long flatSize() { return size; }

    public Param get(String name) {
        Param p = byName.get(name);
        if (p == null) throw new IllegalArgumentException("unknown parameter " + name);
        return p;
    }

    public MemorySegment data() { return data; }

    public MemorySegment grad() {
        if (grad == null) throw new IllegalStateException("frozen parameters have no gradients");
        return grad;
    }

    public Layer layer(int l) { return layers[l]; }
    public long wte() { return wte; }
    public long wpe() { return wpe; }
    public long lnfW() { return lnfW; }
    public long lnfB() { return lnfB; }
    public long vHeadW() { return vW; }
    public long vHeadB() { return vB; }

    /** A dense f32 view of the parameter (shares memory). */
    public Tensor tensor(Param p) {
        return Tensor.of(data.asSlice(p.offset() * 4, p.numel() * 4), DType.F32, p.shape());
    }

    /** A dense f32 view of the parameter's gradient (shares memory). */
    public Tensor gradTensor(Param p) {
        return Tensor.of(grad().asSlice(p.offset() * 4, p.numel() * 4), DType.F32, p.shape());
    }

    public float get(long index) { return data.getAtIndex(F, index); }
    public void set(long index, float v) { data.setAtIndex(F, index, v); }
    public float gradAt(long index) { return grad().getAtIndex(F, index); }

    public void zeroGrad() { grad().fill((byte) 0); }

    /** Copies every weight from {@code other} (same config). */
    public void copyFrom(Parameters other) {
        if (!other.config.equals(config)) {
            throw new IllegalArgumentException("config mismatch: " + other.config + " vs " + config);
        }
        MemorySegment.copy(other.data, 0, data, 0, size * 4);
    }

    /**
     * GPT-2's initialisation (as in HF's _init_weights): weights N(0, 0.02²), the residual projections
     * (attn.c_proj, mlp.c_proj) N(0, (0.02/sqrt(2·n_layer))²), biases 0, LayerNorm weight 1 / bias 0, the value
     * head N(0, 0.02²) with bias 0. Seeded: the same seed gives the same weights.
     */
    public void initGpt2(long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        data.fill((byte) 0);
        double residStd = 0.02 / Math.sqrt(2.0 * config.nLayer());
        for (Param p : params) {
            String n = p.name();
            if (n.endsWith("ln_1.weight") || n.endsWith("ln_2.weight") || n.equals("ln_f.weight")) {
                fill(p, 1f);
            } else if (p.decay()) {
                double std = (n.endsWith("attn.c_proj.weight") || n.endsWith("mlp.c_proj.weight")) ? residStd : 0.02;
                for (long i = 0; i < p.numel(); i++) set(p.offset() + i, (float) (std * gaussian(rng)));
            }
        }
    }

    /** Every tensor (biases and LayerNorm included) N(0, std²) — for tests that must exercise every path. */
    public void initRandom(long seed, double std) {
        SplittableRandom rng = new SplittableRandom(seed);
        data.fill((byte) 0);
        for (Param p : params) {
            boolean lnWeight = p.name().endsWith("ln_1.weight") || p.name().endsWith("ln_2.weight") || p.name().equals("ln_f.weight");
            for (long i = 0; i < p.numel(); i++) {
                set(p.offset() + i, (float) ((lnWeight ? 1.0 : 0.0) + std * gaussian(rng)));
            }
        }
    }

    private void fill(Param p, float v) {
        data.asSlice(p.offset() * 4, p.numel() * 4).elements(F).forEach(s -> s.set(F, 0, v));
    }

    static double gaussian(SplittableRandom rng) {
        // Box–Muller: u1 in (0, 1] so the log is finite.
        double u1 = 1.0 - rng.nextDouble();
        double u2 = rng.nextDouble();
        return Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2.0 * Math.PI * u2);
    }

    @Override
    public void close() { if (arena.scope().isAlive()) arena.close(); }
}
