package dev.ppoengine.bench.torch;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * token_logprobs as trl computes it, in PyTorch on the CPU.
 *
 * <p>logprobs: trl's {@code logprobs_from_logits}: {@code log_softmax(logits, -1).gather(-1, labels[..., None])};
 * entropy: trl's {@code entropy_from_logits}: {@code logsumexp(logits, -1) − sum(softmax(logits, -1) · logits, -1)}.
 * The logits keep their dtype (f32 or bf16, as trl feeds the model's logits), so bf16 results are bf16-rounded
 * exactly as in trl. τ = 1 (the {@code trl} preset never divides by a temperature).
 *
 * <p>Rows are processed in chunks of {@value #CHUNK_ROWS}, as trl's current {@code entropy_from_logits} does: each op
 * still touches every element of [N, V] exactly as the unchunked graph does, but the softmax/log_softmax temporaries
 * are [128, V] instead of [N, V] (four full [4096, 151936] f32 copies would not fit a 24 GB machine).
 *
 * <p>Backward: per chunk, the chunk is an autograd leaf, {@code (logprobs·g).sum() + (entropy·h).sum()} is
 * back-propagated, and the leaf's gradient is d/dz of Σ g·logprobs + Σ h·entropy — the same quantity as the engine's
 * token_logprobs_backward with upstream gradients g and h. Autograd needs its own forward, so this baseline times
 * forward + backward (the engine side of that benchmark also runs forward, saving, then backward).
 */
public final class TorchTokenLogprobs {
    /** Rows per chunk: trl's entropy_from_logits default chunk_size. */
    public static final int CHUNK_ROWS = 128;

    private final Tensor logits;   // [N, V] f32/bf16, a view of the benchmark's memory
    private final Tensor labels;   // [N] i64
    private final long n;

    public TorchTokenLogprobs(dev.ppoengine.tensor.Tensor logits, dev.ppoengine.tensor.Tensor labels) {
        if (labels.dtype() != dev.ppoengine.tensor.DType.I64) {
            throw new IllegalArgumentException("torch gather needs i64 labels, got " + labels.dtype());
        }
        TorchRuntime.init();
        this.logits = TorchRuntime.wrap(logits);
        this.labels = TorchRuntime.wrap(labels);
        this.n = logits.rows();
    }

    /** trl logprobs_from_logits: log_softmax then gather of the label column. */
    static Tensor logprobsFromLogits(Tensor z, Tensor y) {
        Tensor logp = torch.log_softmax(z, -1);
        return torch.gather(logp, -1, y.unsqueeze(-1)).squeeze(-1);
    }

    /** trl entropy_from_logits: logsumexp(z) − Σ softmax(z)·z. */
    static Tensor entropyFromLogits(Tensor z) {
        Tensor pd = torch.softmax(z, -1);
        return torch.logsumexp(z, -1).sub(pd.mul(z).sum(-1));
    }

    /** Forward: {logprobs [N], entropy [N]} in the logits' dtype. Call inside a PointerScope (TorchRuntime.run). */
    public Tensor[] forward() {
        TensorVector lps = new TensorVector();    // the vectors hold their own references to the chunk results
        TensorVector ents = new TensorVector();
        for (long r0 = 0; r0 < n; r0 += CHUNK_ROWS) {
            // A scope per chunk frees its [128, V] temporaries when the chunk is done, as Python's refcounting does.
            try (PointerScope chunk = new PointerScope()) {
                long rows = Math.min(CHUNK_ROWS, n - r0);
                Tensor z = logits.narrow(0, r0, rows);
                Tensor y = labels.narrow(0, r0, rows);
                lps.push_back(logprobsFromLogits(z, y));
                ents.push_back(entropyFromLogits(z));
            }
        }
        return new Tensor[] {torch.cat(lps), torch.cat(ents)};
    }

    /**
     * Forward + autograd backward with upstream gradients g = gradLogprobs [N] and h = gradEntropy [N] (f32 views);
     * returns the per-chunk gradients of the logits (in order, in the logits' dtype).
     */
    public Tensor[] forwardBackward(Tensor gradLogprobs, Tensor gradEntropy) {
        TensorVector grads = new TensorVector();
        for (long r0 = 0; r0 < n; r0 += CHUNK_ROWS) {
            try (PointerScope chunk = new PointerScope()) {   // frees the chunk's graph and temporaries
                long rows = Math.min(CHUNK_ROWS, n - r0);
                Tensor z = logits.narrow(0, r0, rows).detach().requires_grad_(true);
                Tensor y = labels.narrow(0, r0, rows);
                Tensor lp = logprobsFromLogits(z, y);
                Tensor ent = entropyFromLogits(z);
                Tensor loss = lp.mul(gradLogprobs.narrow(0, r0, rows)).sum()
                        .add(ent.mul(gradEntropy.narrow(0, r0, rows)).sum());
                loss.backward();
                grads.push_back(z.grad());
            }
        }
        Tensor[] out = new Tensor[(int) grads.size()];
        for (int c = 0; c < out.length; c++) out[c] = grads.get(c);
        return out;
    }
}
