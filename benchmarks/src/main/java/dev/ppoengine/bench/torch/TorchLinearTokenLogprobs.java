package dev.ppoengine.bench.torch;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * linear_token_logprobs as a PyTorch trainer computes it on the CPU: the LM head materialises the logits
 * {@code z = linear(hidden, weight)} [N, V] (HF's {@code lm_head}, what {@code model(...).logits} returns), then trl's
 * {@code logprobs_from_logits} ({@code log_softmax(z).gather(labels)}) and {@code entropy_from_logits}
 * ({@code logsumexp(z) − Σ softmax(z)·z}) run over it in chunks of {@value TorchTokenLogprobs#CHUNK_ROWS} rows, as in
 * {@link TorchTokenLogprobs}. τ = 1 (preset trl).
 *
 * <p>Backward: hidden and weight are autograd leaves; {@code (logprobs·g).sum() + (entropy·h).sum()} is
 * back-propagated, giving d/d hidden and d/d weight of Σ g·logprobs + Σ h·entropy — the quantities of the engine's
 * linear_token_logprobs backward with upstream gradients g and h. Peak memory is at least the [N, V] f32 logits
 * plus autograd's saved softmax / log_softmax chunks (another [N, V] in total).
 */
public final class TorchLinearTokenLogprobs {
    private final Tensor hidden;   // [N, H] f32, a view of the benchmark's memory
    private final Tensor weight;   // [V, H] f32
    private final Tensor labels;   // [N] i64
    private final long n;

    public TorchLinearTokenLogprobs(dev.ppoengine.tensor.Tensor hidden, dev.ppoengine.tensor.Tensor weight,
                                    dev.ppoengine.tensor.Tensor labels) {
        if (labels.dtype() != dev.ppoengine.tensor.DType.I64) {
            throw new IllegalArgumentException("torch gather needs i64 labels, got " + labels.dtype());
        }
        TorchRuntime.init();
        this.hidden = TorchRuntime.wrap(hidden);
        this.weight = TorchRuntime.wrap(weight);
        this.labels = TorchRuntime.wrap(labels);
        this.n = hidden.rows();
    }

    /** logprobs [N] and entropy [N] of z = hidden·weightᵀ in 128-row chunks. */
    private Tensor[] head(Tensor z) {
        TensorVector lps = new TensorVector();
        TensorVector ents = new TensorVector();
        for (long r0 = 0; r0 < n; r0 += TorchTokenLogprobs.CHUNK_ROWS) {
            // A scope per chunk frees its [128, V] temporaries when the chunk is done (the vectors and, in the
            // backward, autograd's graph keep their own references), as Python's reference counting does.
            try (PointerScope chunk = new PointerScope()) {
                long rows = Math.min(TorchTokenLogprobs.CHUNK_ROWS, n - r0);
                Tensor zc = z.narrow(0, r0, rows);
                lps.push_back(TorchTokenLogprobs.logprobsFromLogits(zc, labels.narrow(0, r0, rows)));
                ents.push_back(TorchTokenLogprobs.entropyFromLogits(zc));
            }
        }
        return new Tensor[] {torch.cat(lps), torch.cat(ents)};
    }

    /** Forward: {logprobs [N], entropy [N]}. Call inside a PointerScope (TorchRuntime.run). */
    public Tensor[] forward() {
        return head(torch.linear(hidden, weight));   // linear: the [N, V] f32 logits, materialised
    }

    /** Forward + autograd backward with upstream g = gradLogprobs [N], h = gradEntropy [N]: {d hidden, d weight}. */
    public Tensor[] forwardBackward(Tensor gradLogprobs, Tensor gradEntropy) {
        Tensor hid = hidden.detach().requires_grad_(true);
        Tensor w = weight.detach().requires_grad_(true);
        Tensor[] lpEnt = head(torch.linear(hid, w));
        Tensor loss = lpEnt[0].mul(gradLogprobs).sum().add(lpEnt[1].mul(gradEntropy).sum());
        loss.backward();
        return new Tensor[] {hid.grad(), w.grad()};
    }
}
