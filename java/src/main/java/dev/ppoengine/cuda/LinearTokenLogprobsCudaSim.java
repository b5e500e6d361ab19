package dev.ppoengine.cuda;

/**
 * linear_token_logprobs on the {@code cuda-sim} backend: the library driver of {@link LinearTokenLogprobsCuda} (the
 * CUDA tile kernels of {@code cuda-kernels/linear_token_logprobs.cu}) run by the simt emulator (libppo_cuda_sim.so)
 * on host tensors, with the library's reference GEMM making the logits tiles (no cuBLAS in the emulator). The
 * emulator runs every GPU thread as a host thread, so this is for small shapes (tests): it checks the GPU code path of
 * the op, tile loop included, without a GPU. Small default tiles give several chunks in both directions at test sizes.
 */
public final class LinearTokenLogprobsCudaSim extends LinearTokenLogprobsCuda {
    public static final int DEFAULT_ROW_CHUNK = 16, DEFAULT_VOCAB_CHUNK = 64;

    public LinearTokenLogprobsCudaSim() {
        this(DEFAULT_ROW_CHUNK, DEFAULT_VOCAB_CHUNK);
    }

    /** Fixed tiles of rowChunk × vocabChunk (each ≥ 1), exact (f32) gradient GEMMs. */
    public LinearTokenLogprobsCudaSim(int rowChunk, int vocabChunk) {
        this(rowChunk, vocabChunk, GradGemm.F32);
    }

    public LinearTokenLogprobsCudaSim(int rowChunk, int vocabChunk, GradGemm gradGemm) {
        super(CudaRuntime.sim(), null, 0, checked("rowChunk", rowChunk), checked("vocabChunk", vocabChunk), gradGemm);
    }

    private static int checked(String name, int chunk) {
        if (chunk < 1) throw new IllegalArgumentException(name + ": expected >= 1, got " + chunk);
        return chunk;
    }
}
