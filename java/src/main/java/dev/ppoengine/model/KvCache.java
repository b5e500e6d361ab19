package dev.ppoengine.model;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Keys and values of every layer for incremental decoding: per layer K and V of shape [B, maxLen, C] (all heads of a
 * position side by side, head h at columns h·d .. h·d + d, the same layout as the K and V thirds of qkv).
 * Position p of sequence b holds the key/value of the token fed at sequence index p (padding included; the
 * attention mask hides padded keys).
 */
final class KvCache implements AutoCloseable {
    final int batch, maxLen, c;
    final MemorySegment[] k, v;
    private final Arena arena = Arena.ofShared();

    KvCache(GptConfig cfg, int batch, int maxLen) {
        this.batch = batch;
        this.maxLen = maxLen;
        this.c = cfg.nEmbd();
        long bytes = Math.multiplyExact(Math.multiplyExact((long) batch * maxLen, (long) c), 4L);
        k = new MemorySegment[cfg.nLayer()];
        v = new MemorySegment[cfg.nLayer()];
        for (int l = 0; l < cfg.nLayer(); l++) {
            k[l] = arena.allocate(bytes, 64);
            v[l] = arena.allocate(bytes, 64);
        }
    }

    /** Copies the K and V thirds of qkv [B, tq, 3C] into positions past .. past + tq of layer l. */
    void store(int l, MemorySegment qkv, int tq, int past) {
        long rowBytes = (long) c * 4;
        for (int b = 0; b < batch; b++) {
            for (int i = 0; i < tq; i++) {
                long src = ((long) b * tq + i) * 3L * c * 4;
                long dst = ((long) b * maxLen + past + i) * rowBytes;
                MemorySegment.copy(qkv, src + rowBytes, k[l], dst, rowBytes);
                MemorySegment.copy(qkv, src + 2 * rowBytes, v[l], dst, rowBytes);
            }
        }
    }

    @Override
    public void close() { if (arena.scope().isAlive()) arena.close(); }
}
