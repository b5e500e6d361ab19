package dev.ppoengine.bench;

import dev.ppoengine.model.Blas;
import dev.ppoengine.model.GptConfig;
import dev.ppoengine.model.Parameters;
import dev.ppoengine.model.PolicyValueModel;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.openblas.global.openblas;
import org.openjdk.jmh.annotations.*;
import org.openjdk.jmh.infra.Blackhole;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.TimeUnit;

/**
 * Issue 5: one training step's forward + backward of {@link PolicyValueModel} (GPT-2 layout, default 6 layers,
 * width C = 384, 6 heads of d = 64, MLP width I = 4C, vocab V = 8192, T = 256 tokens, B = 1 or 4 sequences, no
 * padding), against the floor of the same GEMMs run alone. Tokens/s = B·T / time per op (report.py).
 *
 * <p>{@code impl}:
 * <ul>
 *   <li>{@code model}: {@code forward(ids, null, B, T)} (logits at every position, values) then
 *       {@code backward(gradLogits, gradValues)} from fixed random gradients; GPT-2 init with a fixed seed.</li>
 *   <li>{@code gemm}: exactly the matrix products that forward + backward makes, same shapes, transposes, alpha/beta,
 *       leading dimensions and offsets, on the model's own parameter and gradient buffers and on activation buffers
 *       of the model's sizes, through the same path: {@link Blas#sgemm} (OpenBLAS single-threaded, large products
 *       split into 16-column / 16-row blocks on the model's pool) for the linear layers and heads, and for the
 *       attention the (sequence, head) pairs split into one chunk per core with one single-threaded
 *       {@code Blas.sgemmSerial} call per product (as CausalAttention does; a pool of the same size as the model's).
 *       Nothing else (LayerNorm, GELU, softmax, bias, embeddings, value head dot products) runs: the GEMM-bound limit.</li>
 *   <li>{@code openblas}: the same products as plain {@code cblas_sgemm} calls with OpenBLAS's own threading (one
 *       thread per core, no splitting), the attention pairs one after another: what an unsplit BLAS would give.</li>
 * </ul>
 * The products, with N = B·T, per layer l (forward, in order): qkv = ln1·W_attn [N,C]×[C,3C]; per (b, h):
 * S = s·Q Kᵀ [T,d]×[d,T], Y = P V [T,T]×[T,d]; attn out-proj [N,C]×[C,C] (β = 1, into the residual);
 * fc [N,C]×[C,I]; mlp proj [N,I]×[I,C] (β = 1). Then the tied LM head h·wteᵀ [N,C]×[C,V].
 * Backward: value head dW = gvᵀ·h [1,N]×[N,C]; LM head dh = dZ·wte [N,V]×[V,C], dwte += dZᵀ·h [V,N]×[N,C];
 * per layer l descending, each Conv1D (x [N,in], W [in,out]) with dx = dy·Wᵀ [N,out]×[out,in] and
 * dW += xᵀ·dy [in,N]×[N,out], in the order mlp proj, fc, attn out-proj, attention, qkv; the attention per (b, h):
 * S again (P is recomputed), dP = dY Vᵀ, dV = Pᵀ dY, dQ = dS K, dK = dSᵀ Q (each [T,T]×[T,d] or [T,d]×[d,T]).
 * Source of the list: model/PolicyValueModel.java (run, backward), Conv1D.java, CausalAttention.java.
 *
 * <p>Each trial prints {@code [model gemms] ... calls=... flops=...}: the number of GEMM calls per op and their
 * 2·m·n·k total (report.py turns it into GFLOP/s).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {BenchConfig.NATIVE_ACCESS, BenchConfig.UNSAFE_ACCESS, BenchConfig.HEAP})
public class ModelBenchmark {
    @Param({"model", "gemm", "openblas"})
    public String impl;

    @Param({"1", "4"})
    public int batch;

    @Param({"256"})
    public int seqLen;

    @Param({"6"})
    public int layers;

    @Param({"384"})
    public int width;

    @Param({"6"})
    public int heads;

    @Param({"8192"})
    public int vocab;

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    /** Blas.sgemmSerial is package-private in dev.ppoengine.model; the baseline calls the very same method. */
    private static final MethodHandle SGEMM_SERIAL;

    static {
        try {
            MethodType type = MethodType.methodType(void.class, boolean.class, boolean.class, int.class, int.class,
                    int.class, float.class, MemorySegment.class, long.class, int.class, MemorySegment.class, long.class,
                    int.class, float.class, MemorySegment.class, long.class, int.class);
            SGEMM_SERIAL = MethodHandles.privateLookupIn(Blas.class, MethodHandles.lookup())
                    .findStatic(Blas.class, "sgemmSerial", type);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** The model's pool size (Parallel: one worker per available processor). */
    private static final int THREADS = Math.max(1, Runtime.getRuntime().availableProcessors());

    private Arena arena;
    private PolicyValueModel model;
    private int[] ids;
    private Tensor gradLogits, gradValues;

    // gemm / openblas: the op list and the buffers it works on
    private ForkJoinPool pool;
    private final List<Op> forwardOps = new ArrayList<>(), backwardOps = new ArrayList<>();
    private MemorySegment[] qkv, attY;
    private MemorySegment dattY, dqkv, scratchP, scratchD;
    private long slot;

    /** One step of the GEMM-only baseline: a whole product, or the attention products of one layer. */
    private sealed interface Op permits Gemm, Attention {}

    /** C = alpha·op(A)·op(B) + beta·C, row-major, as handed to Blas.sgemm. */
    private record Gemm(boolean ta, boolean tb, int m, int n, int k, float alpha, MemorySegment a, long aOff, int lda,
                        MemorySegment b, long bOff, int ldb, float beta, MemorySegment c, long cOff, int ldc)
            implements Op {}

    private record Attention(int layer, boolean backward) implements Op {}

    @Setup(Level.Trial)
    public void setup() {
        if (width % heads != 0) throw new IllegalArgumentException("width must be a multiple of heads, got " + width + "/" + heads);
        arena = Arena.ofShared();
        GptConfig cfg = GptConfig.of(layers, heads, width, vocab, seqLen);
        model = PolicyValueModel.initialized(cfg, BenchConfig.SEED);
        int n = batch * seqLen;
        SplittableRandom rng = new SplittableRandom(BenchConfig.SEED + 1);
        ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = rng.nextInt(vocab);
        gradLogits = Tensor.of(random(arena, (long) n * vocab, 1e-4f, BenchConfig.SEED + 2),
                DType.F32, batch, seqLen, vocab);
        gradValues = Tensor.of(random(arena, n, 1e-2f, BenchConfig.SEED + 3), DType.F32, batch, seqLen);
        // A tiny product loads OpenBLAS and runs Blas's static setup (OpenBLAS single-threaded) in every impl.
        MemorySegment one = arena.allocate(4, 64);
        Blas.sgemm(false, false, 1, 1, 1, 1f, one, 0, 1, one, 0, 1, 0f, one, 0, 1);
        // The op list is built for every impl: the model makes exactly these products, so their count and FLOPs
        // describe its step too.
        buildOps(cfg);
        long calls = 0;
        double flops = 0;
        int d = width / heads;
        for (Op op : concat(forwardOps, backwardOps)) {
            if (op instanceof Gemm g) {
                calls++;
                flops += 2.0 * g.m() * g.n() * g.k();
            } else if (op instanceof Attention at) {
                int perPair = at.backward() ? 5 : 2;
                calls += (long) batch * heads * perPair;
                flops += 2.0 * batch * heads * perPair * (double) seqLen * seqLen * d;
            }
        }
        switch (impl) {
            case "model" -> {
                model.forward(ids, null, batch, seqLen);   // allocates the activations before timing
                model.backward(gradLogits, gradValues);
                model.zeroGrad();
            }
            case "gemm", "openblas" -> {
                if (impl.equals("gemm")) {
                    pool = new ForkJoinPool(THREADS);
                } else {
                    openblas.blas_set_num_threads(THREADS);
                }
                gemmStep();   // maps every buffer's pages before timing
            }
            default -> throw new IllegalArgumentException("impl must be model, gemm or openblas; got '" + impl + "'");
        }
        System.out.printf("[model gemms] impl=%s batch=%d seqLen=%d layers=%d width=%d heads=%d vocab=%d calls=%d flops=%.0f threads=%d%n",
                impl, batch, seqLen, layers, width, heads, vocab, calls, flops, THREADS);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (pool != null) pool.shutdown();
        model.close();
        arena.close();
    }

    @Benchmark
    public void forwardBackward(Blackhole bh) {
        if (impl.equals("model")) {
            bh.consume(model.forward(ids, null, batch, seqLen));
            model.backward(gradLogits, gradValues);
        } else {
            gemmStep();
            bh.consume(qkv[0]);
        }
    }

    private static List<Op> concat(List<Op> a, List<Op> b) {
        List<Op> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    // ------------------------------------------------------------------ the GEMM-only baseline

    /**
     * The model's products in its order. Weights and their gradients are the model's own buffers (same offsets);
     * activations get buffers of the model's sizes: per layer ln1, qkv, attY, residuals, ln2, fc pre-activation as
     * the training forward keeps them, one shared GELU output, and the backward's shared gradient buffers.
     */
    private void buildOps(GptConfig cfg) {
        Parameters params = model.parameters();
        MemorySegment p = params.data(), g = params.grad();
        int n = batch * seqLen, c = width, inner = cfg.nInner(), v = vocab;
        long seed = BenchConfig.SEED + 10;
        MemorySegment[] res = new MemorySegment[layers + 1], ln1 = new MemorySegment[layers], ln2 = new MemorySegment[layers],
                resMid = new MemorySegment[layers], fcPre = new MemorySegment[layers];
        qkv = new MemorySegment[layers];
        attY = new MemorySegment[layers];
        for (int l = 0; l <= layers; l++) res[l] = random(arena, (long) n * c, 1f, seed++);
        for (int l = 0; l < layers; l++) {
            ln1[l] = random(arena, (long) n * c, 1f, seed++);
            qkv[l] = random(arena, (long) n * 3 * c, 1f, seed++);
            attY[l] = random(arena, (long) n * c, 1f, seed++);
            resMid[l] = random(arena, (long) n * c, 1f, seed++);
            ln2[l] = random(arena, (long) n * c, 1f, seed++);
            fcPre[l] = random(arena, (long) n * inner, 1f, seed++);
        }
        MemorySegment fcGelu = random(arena, (long) n * inner, 1f, seed++);
        MemorySegment lnf = random(arena, (long) n * c, 1f, seed++);
        MemorySegment logits = random(arena, (long) n * v, 1f, seed++);
        MemorySegment gv = gradValues.segment(), dl = gradLogits.segment();
        MemorySegment dres = random(arena, (long) n * c, 1f, seed++), dln = random(arena, (long) n * c, 1f, seed++),
                dlnf = random(arena, (long) n * c, 1f, seed++), dfc = random(arena, (long) n * inner, 1f, seed++);
        dattY = random(arena, (long) n * c, 1f, seed++);
        dqkv = random(arena, (long) n * 3 * c, 1f, seed++);
        slot = (long) seqLen * seqLen;
        scratchP = random(arena, THREADS * slot, 1f, seed++);
        scratchD = random(arena, THREADS * slot, 1f, seed++);

        forwardOps.clear();
        backwardOps.clear();
        for (int l = 0; l < layers; l++) {
            Parameters.Layer lp = params.layer(l);
            forwardOps.add(linear(ln1[l], qkv[l], p, lp.attnW(), n, c, 3 * c, false));
            forwardOps.add(new Attention(l, false));
            forwardOps.add(linear(attY[l], resMid[l], p, lp.projW(), n, c, c, true));
            forwardOps.add(linear(ln2[l], fcPre[l], p, lp.fcW(), n, c, inner, false));
            forwardOps.add(linear(fcGelu, res[l + 1], p, lp.mlpProjW(), n, inner, c, true));
        }
        forwardOps.add(new Gemm(false, true, n, v, c, 1f, lnf, 0, c, p, params.wte(), c, 0f, logits, 0, v));

        backwardOps.add(new Gemm(false, false, 1, c, n, 1f, gv, 0, n, lnf, 0, c, 1f, g, params.vHeadW(), c));
        backwardOps.add(new Gemm(false, false, n, c, v, 1f, dl, 0, v, p, params.wte(), c, 1f, dlnf, 0, c));
        backwardOps.add(new Gemm(true, false, v, c, n, 1f, dl, 0, v, lnf, 0, c, 1f, g, params.wte(), c));
        for (int l = layers - 1; l >= 0; l--) {
            Parameters.Layer lp = params.layer(l);
            linearBackward(backwardOps, fcGelu, dres, dfc, p, g, lp.mlpProjW(), n, inner, c);
            linearBackward(backwardOps, ln2[l], dfc, dln, p, g, lp.fcW(), n, c, inner);
            linearBackward(backwardOps, attY[l], dres, dattY, p, g, lp.projW(), n, c, c);
            backwardOps.add(new Attention(l, true));
            linearBackward(backwardOps, ln1[l], dqkv, dln, p, g, lp.attnW(), n, c, 3 * c);
        }
    }

    /** Conv1D.forward's product: y (= or +=) x·W, x [rows, in], W [in, out]. */
    private static Gemm linear(MemorySegment x, MemorySegment y, MemorySegment p, long wOff, int rows, int in, int out,
                               boolean accumulate) {
        return new Gemm(false, false, rows, out, in, 1f, x, 0, in, p, wOff, out, accumulate ? 1f : 0f, y, 0, out);
    }

    /** Conv1D.backward's products: dx = dy·Wᵀ, dW += xᵀ·dy. */
    private static void linearBackward(List<Op> ops, MemorySegment x, MemorySegment dy, MemorySegment dx,
                                       MemorySegment p, MemorySegment g, long wOff, int rows, int in, int out) {
        ops.add(new Gemm(false, true, rows, in, out, 1f, dy, 0, out, p, wOff, out, 0f, dx, 0, in));
        ops.add(new Gemm(true, false, in, out, rows, 1f, x, 0, in, dy, 0, out, 1f, g, wOff, out));
    }

    private void gemmStep() {
        for (Op op : forwardOps) run(op);
        for (Op op : backwardOps) run(op);
    }

    private void run(Op op) {
        boolean split = impl.equals("gemm");
        if (op instanceof Gemm g) {
            if (split) {
                Blas.sgemm(g.ta(), g.tb(), g.m(), g.n(), g.k(), g.alpha(), g.a(), g.aOff(), g.lda(), g.b(), g.bOff(),
                        g.ldb(), g.beta(), g.c(), g.cOff(), g.ldc());
            } else {
                cblas(g.ta(), g.tb(), g.m(), g.n(), g.k(), g.alpha(), g.a(), g.aOff(), g.lda(), g.b(), g.bOff(),
                        g.ldb(), g.beta(), g.c(), g.cOff(), g.ldc());
            }
        } else if (op instanceof Attention at) {
            long pairs = (long) batch * heads;
            if (split) {
                // CausalAttention: forChunks(B·H, grain 1, THREADS chunks), chunk 0 on the caller, scratch slot = chunk.
                long chunks = Math.min(THREADS, pairs);
                ForkJoinTask<?>[] tasks = new ForkJoinTask<?>[(int) chunks - 1];   // chunks ≤ THREADS, an int: exact
                for (int ch = 1; ch < chunks; ch++) {
                    long lo = pairs * ch / chunks, hi = pairs * (ch + 1) / chunks;
                    int chunk = ch;
                    tasks[ch - 1] = pool.submit(() -> attentionPairs(at, chunk, lo, hi, true));
                }
                attentionPairs(at, 0, 0, pairs / chunks, true);
                for (ForkJoinTask<?> t : tasks) t.join();
            } else {
                attentionPairs(at, 0, 0, pairs, false);
            }
        }
    }

    /** The attention products of pairs [lo, hi) on scratch slot {@code chunk}, as CausalAttention forms them. */
    private void attentionPairs(Attention at, int chunk, long lo, long hi, boolean serial) {
        int t = seqLen, c = width, d = width / heads, ld = 3 * c;
        float scale = (float) (1.0 / Math.sqrt(d));
        MemorySegment q = qkv[at.layer()];
        long so = chunk * slot;
        for (long bh = lo; bh < hi; bh++) {
            int b = (int) (bh / heads), h = (int) (bh % heads);   // bh < B·H, an int: exact
            long qOff = (long) b * t * ld + (long) h * d, kOff = qOff + c, vOff = qOff + 2L * c;
            long yOff = (long) b * t * c + (long) h * d;
            if (!at.backward()) {
                gemm(serial, false, true, t, t, d, scale, q, qOff, ld, q, kOff, ld, 0f, scratchP, so, t);
                gemm(serial, false, false, t, d, t, 1f, scratchP, so, t, q, vOff, ld, 0f, attY[at.layer()], yOff, c);
            } else {
                gemm(serial, false, true, t, t, d, scale, q, qOff, ld, q, kOff, ld, 0f, scratchP, so, t);
                gemm(serial, false, true, t, t, d, 1f, dattY, yOff, c, q, vOff, ld, 0f, scratchD, so, t);
                gemm(serial, true, false, t, d, t, 1f, scratchP, so, t, dattY, yOff, c, 0f, dqkv, vOff, ld);
                gemm(serial, false, false, t, d, t, 1f, scratchD, so, t, q, kOff, ld, 0f, dqkv, qOff, ld);
                gemm(serial, true, false, t, d, t, 1f, scratchD, so, t, q, qOff, ld, 0f, dqkv, kOff, ld);
            }
        }
    }

    private static void gemm(boolean serial, boolean ta, boolean tb, int m, int n, int k, float alpha,
                             MemorySegment a, long aOff, int lda, MemorySegment b, long bOff, int ldb,
                             float beta, MemorySegment c, long cOff, int ldc) {
        if (serial) {
            try {
                SGEMM_SERIAL.invokeExact(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Throwable e) {
                throw new IllegalStateException(e);
            }
        } else {
            cblas(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
        }
    }

    /** A FloatPointer on a MemorySegment's native memory (never deallocates it). */
    private static final class View extends FloatPointer {
        View(MemorySegment seg, long offsetElems) {
            super((Pointer) null);
            this.address = seg.address() + offsetElems * 4L;
            this.capacity = seg.byteSize() / 4 - offsetElems;
            this.limit = this.capacity;
        }
    }

    /** One plain cblas_sgemm (OpenBLAS threads it itself in the openblas impl), extents checked first. */
    private static void cblas(boolean ta, boolean tb, int m, int n, int k, float alpha,
                              MemorySegment a, long aOff, int lda, MemorySegment b, long bOff, int ldb,
                              float beta, MemorySegment c, long cOff, int ldc) {
        check(a, aOff, ta ? k : m, ta ? m : k, lda, "A");
        check(b, bOff, tb ? n : k, tb ? k : n, ldb, "B");
        check(c, cOff, m, n, ldc, "C");
        openblas.cblas_sgemm(openblas.CblasRowMajor, ta ? openblas.CblasTrans : openblas.CblasNoTrans,
                tb ? openblas.CblasTrans : openblas.CblasNoTrans, m, n, k, alpha, new View(a, aOff), lda,
                new View(b, bOff), ldb, beta, new View(c, cOff), ldc);
    }

    /** A stored [rows, cols] operand with leading dimension ld must lie inside its segment (native code would not check). */
    private static void check(MemorySegment seg, long off, int rows, int cols, int ld, String name) {
        long span = (long) (rows - 1) * ld + cols;
        if (ld < cols || off < 0 || (off + span) * 4 > seg.byteSize()) {
            throw new IllegalArgumentException("GEMM operand " + name + ": [" + rows + ", " + cols + "] ld " + ld
                    + " at " + off + " exceeds its segment of " + seg.byteSize() / 4 + " floats");
        }
    }

    /** floats uniform in [−scale, scale): a fixed 4096-float random block repeated (values do not change GEMM time). */
    private static MemorySegment random(Arena arena, long floats, float scale, long seed) {
        MemorySegment seg = arena.allocate(Math.max(floats, 1) * 4, 64);
        SplittableRandom rng = new SplittableRandom(seed);
        int block = 4096;
        MemorySegment pattern = arena.allocate(block * 4L, 64);
        for (int i = 0; i < block; i++) pattern.setAtIndex(F, i, (float) (scale * (2 * rng.nextDouble() - 1)));
        for (long off = 0; off < floats; off += block) {
            MemorySegment.copy(pattern, 0, seg, off * 4, Math.min(block, floats - off) * 4);
        }
        return seg;
    }
}
