package dev.ppoengine.bench;

import dev.ppoengine.bench.torch.TorchRuntime;
import dev.ppoengine.bench.torch.TorchTokenLogprobs;
import dev.ppoengine.kernels.LogprobOptions;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;
import org.openjdk.jmh.annotations.*;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.infra.Blackhole;

import java.lang.foreign.Arena;
import java.util.concurrent.TimeUnit;

/**
 * token_logprobs on logits [n, v] (f32 or bf16) with i64 labels, τ = 1, entropy from the scaled logits (preset trl).
 *
 * <ul>
 *   <li>{@code forward}: logprobs [n] and entropy [n] (engine: one call, no saved stats; torch: log_softmax + gather
 *       and entropy_from_logits, see {@link TorchTokenLogprobs}).</li>
 *   <li>{@code forwardBackward}: the training step of this op: forward keeping the per-row saved stats, then the
 *       backward with upstream gradients g (logprobs) and h (entropy) into grad_logits [n, v] of the logits' dtype;
 *       torch: the same forward under autograd and {@code backward()}.</li>
 * </ul>
 * Bytes read per forward = n·v·sizeof(dtype) (524 MB at 4096 × 32000 f32): benchmarks/run divides that by the time to
 * compare with {@link MemoryBandwidthBenchmark}'s read bandwidth.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {BenchConfig.NATIVE_ACCESS, BenchConfig.UNSAFE_ACCESS, BenchConfig.HEAP})
public class TokenLogprobsBenchmark {
    @Param({"cpu", "torch", "reference"})
    public String backend;

    @Param({"4096"})
    public int n;

    @Param({"32000", "151936"})
    public int v;

    @Param({"f32", "bf16"})
    public String dtype;

    private Arena arena;
    private Tensor logits;
    private Tensor labels;
    private Tensor logprobs;
    private Tensor entropy;
    private Tensor saved;
    private Tensor gradLogprobs;
    private Tensor gradEntropy;
    private Tensor gradLogits;
    private final LogprobOptions options = LogprobOptions.DEFAULT;
    private PpoKernels kernels;
    private TorchTokenLogprobs torch;
    private org.bytedeco.pytorch.Tensor torchGradLogprobs;
    private org.bytedeco.pytorch.Tensor torchGradEntropy;

    @Setup(Level.Trial)
    public void setup(BenchmarkParams params) {
        arena = Arena.ofShared();
        DType dt = DType.parse(dtype);
        logits = BenchData.logits(arena, dt, n, v, BenchConfig.SEED);
        labels = BenchData.labels(arena, n, v, BenchConfig.SEED + 1);
        logprobs = BenchData.zeros(arena, n);
        entropy = BenchData.zeros(arena, n);
        saved = BenchData.zeros(arena, n, 3);
        gradLogprobs = BenchData.uniform(arena, -1, 1, BenchConfig.SEED + 2, n);
        gradEntropy = BenchData.uniform(arena, -0.1, 0.1, BenchConfig.SEED + 3, n);
        boolean backward = params.getBenchmark().endsWith("forwardBackward");
        if (BenchBackends.isTorch(backend)) {
            torch = new TorchTokenLogprobs(logits, labels);
            torchGradLogprobs = TorchRuntime.wrap(gradLogprobs);
            torchGradEntropy = TorchRuntime.wrap(gradEntropy);
        } else {
            kernels = BenchBackends.open(backend);
            if (backward) gradLogits = Tensor.allocate(arena, dt, n, v);   // only the backward needs [n, v] more
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (kernels != null) kernels.close();
        arena.close();
    }

    @Benchmark
    public void forward(Blackhole bh) {
        if (torch != null) {
            TorchRuntime.run(bh, torch::forward);
            return;
        }
        kernels.tokenLogprobs(logits, labels, options, logprobs, entropy, null);
        bh.consume(logprobs);
        bh.consume(entropy);
    }

    @Benchmark
    public void forwardBackward(Blackhole bh) {
        if (torch != null) {
            TorchRuntime.run(bh, () -> torch.forwardBackward(torchGradLogprobs, torchGradEntropy));
            return;
        }
        kernels.tokenLogprobs(logits, labels, options, logprobs, entropy, saved);
        kernels.tokenLogprobsBackward(logits, labels, saved, gradLogprobs, gradEntropy, options, gradLogits);
        bh.consume(gradLogits);
    }
}
