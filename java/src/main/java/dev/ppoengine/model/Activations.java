package dev.ppoengine.model;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Off-heap activation buffers of one forward (and, in training mode, what its backward needs), sized for a
 * capacity of N = B·T tokens and reused by every step that fits; a larger step reallocates.
 *
 * <p>Per token and layer the training mode keeps: the block input (residual stream) [C], ln_1 output [C], qkv [3C],
 * attention output [C], mid residual [C], ln_2 output [C], MLP pre-activation [I] and its GELU tanh [I], plus per row
 * LayerNorm mean/rstd and per (head, row) the attention log-sum-exp. Attention probabilities are never stored
 * (recomputed in the backward). Inference mode (generation) keeps one layer's worth and overwrites it layer after
 * layer. The logits buffer and the attention scratch grow independently. Backward scratch is allocated on the first
 * backward.
 */
final class Activations implements AutoCloseable {
    final GptConfig cfg;
    final boolean training;
    final int capTokens;
    private final Arena arena = Arena.ofShared();
    private Arena logitsArena, scratchArena, backwardArena;

    final MemorySegment[] res, ln1, ln1Mean, ln1Rstd, qkv, attY, lse, resMid, ln2, ln2Mean, ln2Rstd, fcPre, fcTanh;
    /** GELU output: one buffer shared by all layers (training recomputes it from fcPre and fcTanh in the backward). */
    final MemorySegment fcGelu;
    final MemorySegment lnf, lnfMean, lnfRstd, values;

    MemorySegment logits;
    long logitsCap;
    MemorySegment scratchP, scratchD;
    long scratchCap;   // floats per slot
    // backward
    MemorySegment dres, dln, dfc, dattY, dqkv, dlnf, gradValues;

    Activations(GptConfig cfg, int capTokens, boolean training) {
        this.cfg = cfg;
        this.training = training;
        this.capTokens = capTokens;
        long n = capTokens, c = cfg.nEmbd(), inner = cfg.nInner(), h = cfg.nHead();
        int slots = training ? cfg.nLayer() : 1;
        res = new MemorySegment[training ? cfg.nLayer() + 1 : 1];
        for (int i = 0; i < res.length; i++) res[i] = alloc(n * c);
        ln1 = allocAll(slots, n * c);
        ln1Mean = allocAll(slots, n);
        ln1Rstd = allocAll(slots, n);
        qkv = allocAll(slots, n * 3 * c);
        attY = allocAll(slots, n * c);
        lse = training ? allocAll(slots, n * h) : new MemorySegment[1];
        resMid = allocAll(slots, n * c);
        ln2 = allocAll(slots, n * c);
        ln2Mean = allocAll(slots, n);
        ln2Rstd = allocAll(slots, n);
        fcPre = allocAll(slots, n * inner);
        // Training keeps tanh(u) of the GELU per layer (the backward then needs no exponential); inference applies
        // GELU in place: the pre-activation is not needed again.
        fcTanh = training ? allocAll(slots, n * inner) : null;
        fcGelu = training ? alloc(n * inner) : fcPre[0];
        lnf = alloc(n * c);
        lnfMean = alloc(n);
        lnfRstd = alloc(n);
        values = alloc(n);
    }

    private MemorySegment alloc(long floats) {
        return arena.allocate(Math.multiplyExact(Math.max(floats, 1), 4L), 64);
    }

    private MemorySegment[] allocAll(int count, long floats) {
        MemorySegment[] a = new MemorySegment[count];
        for (int i = 0; i < count; i++) a[i] = alloc(floats);
        return a;
    }

    /** Slot of layer l: its own in training, the shared one in inference. */
    int slot(int l) { return training ? l : 0; }

    /** Block input of layer l (res[l]); output of layer l is input(l + 1). Inference aliases all to one buffer. */
    MemorySegment input(int l) { return training ? res[l] : res[0]; }

    void ensureLogits(long floats) {
        if (floats > logitsCap) {
            if (logitsArena != null) logitsArena.close();
            logitsArena = Arena.ofShared();
            logits = logitsArena.allocate(Math.multiplyExact(floats, 4L), 64);
            logitsCap = floats;
        }
    }

    /** Attention scores scratch: {@code floats} per concurrent (sequence, head) task, one slot per pool thread. */
    void ensureScratch(long floats) {
        if (floats > scratchCap) {
            if (scratchArena != null) scratchArena.close();
            scratchArena = Arena.ofShared();
            long bytes = Math.multiplyExact(Math.multiplyExact(floats, (long) Parallel.threads()), 4L);
            scratchP = scratchArena.allocate(bytes, 64);
            scratchD = training ? scratchArena.allocate(bytes, 64) : null;
            scratchCap = floats;
        }
    }

    void ensureBackward() {
        if (backwardArena != null) return;
        backwardArena = Arena.ofShared();
        long n = capTokens, c = cfg.nEmbd();
        dres = backwardArena.allocate(n * c * 4, 64);
        dln = backwardArena.allocate(n * c * 4, 64);
        dattY = backwardArena.allocate(n * c * 4, 64);
        dlnf = backwardArena.allocate(n * c * 4, 64);
        dqkv = backwardArena.allocate(n * 3 * c * 4, 64);
        dfc = backwardArena.allocate(n * cfg.nInner() * 4, 64);
        gradValues = backwardArena.allocate(n * 4, 64);
    }

    @Override
    public void close() {
        for (Arena a : new Arena[] {logitsArena, scratchArena, backwardArena, arena}) {
            if (a != null && a.scope().isAlive()) a.close();
        }
    }
}
