package dev.ppoengine.cuda;

import dev.ppoengine.kernels.LinearTokenLogprobs;
import dev.ppoengine.kernels.LogprobOptions;
import dev.ppoengine.kernels.NativeAbi;
import dev.ppoengine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * linear_token_logprobs on a CUDA launcher library: one call of the library's driver
 * ({@code ppo_linear_token_logprobs[_backward]}, cuda-kernels/linear_token_logprobs.cu) per forward / backward, which
 * makes every logits tile with a GEMM (cuBLAS on a GPU, the library's reference GEMM on the emulator), folds it with
 * the tile kernels and synchronises once at the end. Extra device memory: one workspace of at most
 * {@code workspaceBytes} (default 1 GiB; {@link #lastWorkspaceBytes()} says what the last call's tile plan took).
 *
 * <p>Tensors: all device tensors ({@link Tensor#device}, issued on this object's stream, no copies) or all host
 * tensors. On the real GPU host tensors are staged: copied to device memory, computed, copied back (what {@code ppo
 * compute --backend cuda} does); on the emulator, host memory is device memory and nothing is copied.
 *
 * <p>{@link GradGemm} picks the precision of the two gradient GEMMs: {@code F32} (default) keeps d loss/d logits in
 * f32, as SPEC's tolerances ask; {@code INPUT} rounds it to the input dtype when hidden and weight share a 16-bit
 * dtype, so those GEMMs run on tensor cores (the numerics of autograd, Liger-Kernel and Cut Cross-Entropy).
 */
public class LinearTokenLogprobsCuda extends LinearTokenLogprobs {

    /** Precision of the gradient GEMMs (see the class comment). */
    public enum GradGemm { F32, INPUT }

    private final CudaRuntime runtime;
    private final LinearTokenLogprobsBinding k;
    private final CudaStream stream;
    private final boolean ownsStream;
    private final LinearTokenLogprobsBinding.Plan plan;
    private final GradGemm gradGemm;
    private long lastWorkspace;
    private boolean closed;

    /** The real library (a GPU), its own stream, a workspace of at most 1 GiB, exact gradients. */
    public LinearTokenLogprobsCuda() {
        this(CudaRuntime.cuda(), null, 0, 0, 0, GradGemm.F32);
    }

    /**
     * @param runtime        the real library or the emulator
     * @param stream         the stream to issue on (null: a new one, closed with this object)
     * @param workspaceBytes the most device scratch one call may take (0 = 1 GiB)
     * @param rowsChunk      a fixed tile height (0 = chosen from the budget)
     * @param vocabChunk     a fixed tile width (0 = chosen from the budget)
     * @param gradGemm       precision of the gradient GEMMs
     */
    public LinearTokenLogprobsCuda(CudaRuntime runtime, CudaStream stream, long workspaceBytes, long rowsChunk,
                                   long vocabChunk, GradGemm gradGemm) {
        if (runtime == null) throw new IllegalArgumentException("runtime: required");
        if (workspaceBytes < 0) throw new IllegalArgumentException("workspaceBytes: expected >= 0, got " + workspaceBytes);
        if (rowsChunk < 0) throw new IllegalArgumentException("rowsChunk: expected >= 0, got " + rowsChunk);
        if (vocabChunk < 0) throw new IllegalArgumentException("vocabChunk: expected >= 0, got " + vocabChunk);
        if (gradGemm == null) throw new IllegalArgumentException("gradGemm: required");
        if (stream != null && stream.runtime() != runtime) {
            throw new IllegalArgumentException("stream belongs to " + stream.runtime().name() + ", not " + runtime.name());
        }
        this.runtime = runtime;
        this.k = new LinearTokenLogprobsBinding(runtime);
        String[] gemm = k.gemmLibrary();
        if (!gemm[0].equals("1")) {
            throw new IllegalArgumentException("linear_token_logprobs on " + runtime.name() + " has no GEMM: " + gemm[1]);
        }
        this.ownsStream = stream == null;
        this.stream = stream == null ? CudaStream.create(runtime) : stream;
        this.plan = new LinearTokenLogprobsBinding.Plan(workspaceBytes, rowsChunk, vocabChunk);
        this.gradGemm = gradGemm;
    }

    @Override
    public String name() {
        return runtime.name();
    }

    /**
     * What makes the driver's GEMMs on {@code runtime}: "cuBLAS &lt;library&gt;" (loaded at the first ask, found on the
     * loader path, in the CUDA toolkit folders or at $PPO_CUBLAS), the emulator's reference GEMM, or
     * "unavailable: why". Needs no device.
     */
    public static String gemmLibrary(CudaRuntime runtime) {
        String[] g = new LinearTokenLogprobsBinding(runtime).gemmLibrary();
        return g[0].equals("1") ? g[1] : "unavailable: " + g[1];
    }

    public CudaRuntime runtime() { return runtime; }

    public CudaStream stream() { return stream; }

    /** Workspace bytes (device scratch) the tile plan of the last call took. */
    public long lastWorkspaceBytes() { return lastWorkspace; }

    @Override
    protected boolean takesDeviceTensors() { return true; }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (ownsStream) stream.close();
    }

    private MemorySegment ctx() {
        if (closed) throw new IllegalStateException(name() + " linear_token_logprobs is closed");
        return stream.segment();
    }

    // ------------------------------------------------------------------ forward / backward

    @Override
    protected void forwardImpl(Tensor hidden, Tensor weight, Tensor bias, Tensor labels, LogprobOptions o,
                               Tensor logprobs, Tensor entropy, Tensor saved) {
        MemorySegment ctx = ctx();
        try (HostStaging s = staging(hidden); Arena a = Arena.ofConfined()) {
            LinearTokenLogprobsBinding.Inputs x = inputs(s.in(hidden), s.in(weight), s.in(bias), s.in(labels));
            MemorySegment used = a.allocate(JAVA_LONG);
            lastWorkspace = k.forward(ctx, x, o.temperature(), o.entropyLogits().ordinal(), ptr(s.out(logprobs)),
                    ptr(s.out(entropy)), ptr(s.out(saved)), plan, used);
            s.finish();
        }
    }

    @Override
    protected void backwardImpl(Tensor hidden, Tensor weight, Tensor bias, Tensor labels, Tensor saved,
                                Tensor gradLogprobs, Tensor gradEntropy, LogprobOptions o, Tensor gradHidden,
                                Tensor gradWeight, Tensor gradBias, boolean accumulate) {
        MemorySegment ctx = ctx();
        try (HostStaging s = staging(hidden); Arena a = Arena.ofConfined()) {
            LinearTokenLogprobsBinding.Inputs x = inputs(s.in(hidden), s.in(weight), s.in(bias), s.in(labels));
            MemorySegment used = a.allocate(JAVA_LONG);
            lastWorkspace = k.backward(ctx, x, ptr(s.in(saved)), ptr(s.in(gradLogprobs)), ptr(s.in(gradEntropy)),
                    o.temperature(), o.entropyLogits().ordinal(), ptr(s.out(gradHidden, accumulate)),
                    ptr(s.out(gradWeight, accumulate)), ptr(s.out(gradBias, accumulate)), accumulate,
                    gradGemm.ordinal(), plan, used);
            s.finish();
        }
    }

    private static LinearTokenLogprobsBinding.Inputs inputs(Tensor hidden, Tensor weight, Tensor bias, Tensor labels) {
        return new LinearTokenLogprobsBinding.Inputs(ptr(hidden), NativeAbi.dtypeCode(hidden), hidden.rows(),
                hidden.cols(), hidden.rowStride(), ptr(weight), NativeAbi.dtypeCode(weight), weight.dim(0), ptr(bias),
                bias == null ? 0 : NativeAbi.dtypeCode(bias), ptr(labels), NativeAbi.dtypeCode(labels));
    }

    private static MemorySegment ptr(Tensor t) {
        return t == null ? MemorySegment.NULL : MemorySegment.ofAddress(t.address());
    }

    /** Host tensors on the real GPU are staged; device tensors, and any tensor on the emulator, pass through. */
    private HostStaging staging(Tensor hidden) {
        return new HostStaging(runtime, stream, !hidden.isDevice() && !runtime.isEmulator());
    }
}
