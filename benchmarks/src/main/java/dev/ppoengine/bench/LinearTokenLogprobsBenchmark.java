package dev.ppoengine.bench;

import dev.ppoengine.bench.torch.TorchLinearTokenLogprobs;
import dev.ppoengine.bench.torch.TorchRuntime;
import dev.ppoengine.cpu.LinearTokenLogprobsCpu;
import dev.ppoengine.kernels.LogprobOptions;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.model.Blas;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;
import org.openjdk.jmh.annotations.*;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.infra.Blackhole;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

/**
 * linear_token_logprobs on the CPU: hidden [n, h] × weight [v, h]ᵀ, f32, i64 labels, τ = 1, scaled entropy (preset trl).
 *
 * <p>{@code impl}:
 * <ul>
 *   <li>{@code fused}: the engine's op ({@link LinearTokenLogprobsCpu}): OpenBLAS logits tiles folded by the native
 *       library, never holding [n, v].</li>
 *   <li>{@code materialised}: one sgemm into an [n, v] f32 logits buffer, then the cpu backend's token_logprobs
 *       (and for the backward token_logprobs_backward in place, then the sgemms dZ·W and dZᵀ·H).</li>
 *   <li>{@code torch}: PyTorch's {@code linear} + trl's log_softmax/gather and entropy (see
 *       {@link TorchLinearTokenLogprobs}), autograd for the backward.</li>
 *   <li>{@code gemm}: the bare GEMMs of the same shapes and nothing else, the floor: forward = hidden·weightᵀ into
 *       [n, v]; forwardBackward = that plus [n, v]·[v, h] and [v, n]·[n, h]. The target is fused ≤ 1.2 × gemm.</li>
 * </ul>
 * Benchmarks: {@code forward} (logprobs + entropy), {@code forwardBackward} (forward keeping the saved row statistics,
 * then grad_hidden and grad_weight from upstream g, h).
 *
 * <p>Memory: each trial prints one line {@code [linear_token_logprobs memory] impl=... extra_bytes=...} — the bytes
 * the implementation allocates beyond its inputs and outputs: the fused op's workspace
 * ({@link LinearTokenLogprobsCpu#workspaceBytes}, measured by the op itself after the first call), n·v·4 for the
 * materialised logits (and the gemm floor, which writes the same buffer); torch is not measured here (its peak is at
 * least the [n, v] logits plus autograd's saved softmax chunks). The target is fused ≤ 5% of n·v·4.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {BenchConfig.NATIVE_ACCESS, BenchConfig.UNSAFE_ACCESS, BenchConfig.HEAP})
public class LinearTokenLogprobsBenchmark {
    @Param({"fused", "materialised", "torch", "gemm"})
    public String impl;

    @Param({"4096"})
    public int n;

    @Param({"1024"})
    public int h;

    @Param({"32000"})
    public int v;

    private Arena arena;
    private Tensor hidden, weight, labels;
    private Tensor logprobs, entropy, saved, gradLogprobs, gradEntropy, gradHidden, gradWeight;
    private Tensor logits;   // materialised and gemm only: [n, v]
    private final LogprobOptions options = LogprobOptions.DEFAULT;
    private LinearTokenLogprobsCpu fused;
    private PpoKernels kernels;
    private TorchLinearTokenLogprobs torch;
    private org.bytedeco.pytorch.Tensor torchGradLogprobs, torchGradEntropy;

    @Setup(Level.Trial)
    public void setup(BenchmarkParams params) {
        arena = Arena.ofShared();
        // hidden ~ U(−1, 1), weight ~ U(−s, s) with s = 5/√h: logits with a standard deviation of about 1.7
        hidden = BenchData.uniform(arena, -1, 1, BenchConfig.SEED, n, h);
        double s = 5.0 / Math.sqrt(h);
        weight = BenchData.uniform(arena, -s, s, BenchConfig.SEED + 1, v, h);
        labels = BenchData.labels(arena, n, v, BenchConfig.SEED + 2);
        logprobs = BenchData.zeros(arena, n);
        entropy = BenchData.zeros(arena, n);
        saved = BenchData.zeros(arena, n, 3);
        gradLogprobs = BenchData.uniform(arena, -1, 1, BenchConfig.SEED + 3, n);
        gradEntropy = BenchData.uniform(arena, -0.1, 0.1, BenchConfig.SEED + 4, n);
        gradHidden = BenchData.zeros(arena, n, h);
        gradWeight = BenchData.zeros(arena, v, h);
        long extra;
        switch (impl) {
            case "fused" -> {
                fused = new LinearTokenLogprobsCpu();
                fused.forward(hidden, weight, null, labels, options, logprobs, entropy, saved);
                extra = fused.lastWorkspaceBytes();
            }
            case "materialised", "gemm" -> {
                logits = Tensor.allocate(arena, DType.F32, n, v);
                if (impl.equals("materialised")) kernels = BenchBackends.open("cpu");
                logitsGemm();   // loads OpenBLAS and maps the buffer's pages before timing (fused's setup call does the same)
                extra = logits.segment().byteSize();
            }
            case "torch" -> {
                torch = new TorchLinearTokenLogprobs(hidden, weight, labels);
                torchGradLogprobs = TorchRuntime.wrap(gradLogprobs);
                torchGradEntropy = TorchRuntime.wrap(gradEntropy);
                extra = -1;
            }
            default -> throw new IllegalArgumentException("impl must be fused, materialised, torch or gemm; got '" + impl + "'");
        }
        long logitBytes = (long) n * v * 4;
        System.out.printf("[linear_token_logprobs memory] impl=%s n=%d h=%d v=%d extra_bytes=%s logits_f32_bytes=%d%s%n",
                impl, n, h, v, extra < 0 ? "unmeasured" : Long.toString(extra), logitBytes,
                extra < 0 ? "" : String.format(" share=%.2f%%", 100.0 * extra / logitBytes));
        if (params.getBenchmark().endsWith("forwardBackward") && fused != null) {
            fused.backward(hidden, weight, null, labels, saved, gradLogprobs, gradEntropy, options, gradHidden,
                    gradWeight, null, false);
            System.out.printf("[linear_token_logprobs memory] impl=fused backward extra_bytes=%d%n",
                    fused.lastWorkspaceBytes());
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (kernels != null) kernels.close();
        if (fused != null) fused.close();
        arena.close();
    }

    /** logits [n, v] = hidden · weightᵀ */
    private void logitsGemm() {
        MemorySegment z = logits.segment();
        Blas.sgemm(false, true, n, v, h, 1f, hidden.segment(), 0, h, weight.segment(), 0, h, 0f, z, 0, v);
    }

    /** grad_hidden = dZ · weight, grad_weight = dZᵀ · hidden, dZ = the logits buffer */
    private void backwardGemms() {
        MemorySegment dz = logits.segment();
        Blas.sgemm(false, false, n, h, v, 1f, dz, 0, v, weight.segment(), 0, h, 0f, gradHidden.segment(), 0, h);
        Blas.sgemm(true, false, v, h, n, 1f, dz, 0, v, hidden.segment(), 0, h, 0f, gradWeight.segment(), 0, h);
    }

    @Benchmark
    public void forward(Blackhole bh) {
        switch (impl) {
            case "fused" -> fused.forward(hidden, weight, null, labels, options, logprobs, entropy, null);
            case "materialised" -> {
                logitsGemm();
                kernels.tokenLogprobs(logits, labels, options, logprobs, entropy, null);
            }
            case "gemm" -> logitsGemm();
            default -> {
                TorchRuntime.run(bh, torch::forward);
                return;
            }
        }
        bh.consume(logprobs);
        bh.consume(logits);
    }

    @Benchmark
    public void forwardBackward(Blackhole bh) {
        switch (impl) {
            case "fused" -> {
                fused.forward(hidden, weight, null, labels, options, logprobs, entropy, saved);
                fused.backward(hidden, weight, null, labels, saved, gradLogprobs, gradEntropy, options, gradHidden,
                        gradWeight, null, false);
            }
            case "materialised" -> {
                logitsGemm();
                kernels.tokenLogprobs(logits, labels, options, logprobs, entropy, saved);
                kernels.tokenLogprobsBackward(logits, labels, saved, gradLogprobs, gradEntropy, options, logits);
                backwardGemms();
            }
            case "gemm" -> {
                logitsGemm();
                backwardGemms();
            }
            default -> {
                TorchRuntime.run(bh, () -> torch.forwardBackward(torchGradLogprobs, torchGradEntropy));
                return;
            }
        }
        bh.consume(gradHidden);
        bh.consume(gradWeight);
    }
}
