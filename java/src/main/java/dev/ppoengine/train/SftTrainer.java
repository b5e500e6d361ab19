package dev.ppoengine.train;

import dev.ppoengine.kernels.LogprobOptions;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.model.ModelOutput;
import dev.ppoengine.model.PolicyValueModel;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

/**
 * Supervised fine-tuning (the first RLHF step): maximise the likelihood of the response given the prompt.
 * <pre>
 *   batch   prompt + response + EOS, laid out as {@link SequenceBatch} (loss only on response tokens and the EOS)
 *   lp      = token_logprobs(logits of the response window, response ids)          τ = 1
 *   loss    = −Σ m·lp / Σ m                                                       (token-mean cross-entropy)
 *   grad_lp = −m / Σ m  → token_logprobs_backward → grad_logits → backward → clip → AdamW
 * </pre>
 * The value head gets no gradient here (its weights stay as they are; PPO trains it).
 */
public final class SftTrainer implements AutoCloseable {

    /** One optimiser step: mean token cross-entropy, tokens trained on, gradient norm before clipping, LR used. */
    public record StepStats(double loss, long tokens, double gradNorm, double lr) {}

    private final PolicyValueModel model;
    private final TextCodec codec;
    private final PpoKernels kernels;
    private final AdamW optimizer;
    private final LrSchedule schedule;
    private final double maxGradNorm;

    public SftTrainer(PolicyValueModel model, TextCodec codec, PpoKernels kernels, AdamW.Options options,
                      LrSchedule schedule, double maxGradNorm) {
        this.model = model;
        this.codec = codec;
        this.kernels = kernels;
        this.optimizer = new AdamW(model.parameters(), options);
        this.schedule = schedule;
        this.maxGradNorm = maxGradNorm;
    }

    public AdamW optimizer() { return optimizer; }

    /** One optimiser step on these pairs. */
    public StepStats step(List<String> prompts, List<String> responses) {
        SequenceBatch sb = batch(prompts, responses);
        double loss = gradient(sb);
        double norm = maxGradNorm > 0 ? GradClip.clip(model.parameters(), maxGradNorm) : GradClip.norm(model.parameters());
        double lr = schedule.lr(optimizer.stepCount());
        optimizer.step(lr);
        return new StepStats(loss, sb.tokens(), norm, lr);
    }

    private SequenceBatch batch(List<String> prompts, List<String> responses) {
        List<int[]> p = new ArrayList<>(prompts.size()), r = new ArrayList<>(responses.size());
        for (int i = 0; i < prompts.size(); i++) {
            p.add(codec.prompt(prompts.get(i)));
            r.add(codec.response(responses.get(i)));
        }
        return SequenceBatch.of(p, r, codec.pad());
    }

    /** The loss of these pairs, with d loss/d θ left in the model's gradients (zeroed first); no update. */
    double gradient(List<String> prompts, List<String> responses) {
        return gradient(batch(prompts, responses));
    }

    private double gradient(SequenceBatch sb) {
        model.zeroGrad();
        try (Arena a = Arena.ofConfined()) {
            return lossAndBackward(sb, a);
        }
    }

    /** Mean token cross-entropy of these pairs without training (evaluation). */
    public double evaluate(List<String> prompts, List<String> responses) {
        SequenceBatch sb = batch(prompts, responses);
        try (Arena a = Arena.ofConfined()) {
            Tensor labels = sb.labelsTensor(a), mask = sb.maskTensor(a);
            ModelOutput out = model.forward(sb.ids, sb.attention, sb.batch, sb.seqLen, sb.windowFrom(), sb.windowTo());
            Tensor lp = Tensor.allocate(a, DType.F32, sb.batch, sb.responseLen);
            kernels.tokenLogprobs(out.logits(), labels, LogprobOptions.DEFAULT, lp, null, null);
            return -sumMasked(lp, mask) / sb.tokens();
        }
    }

    private double lossAndBackward(SequenceBatch sb, Arena a) {
        Tensor labels = sb.labelsTensor(a), mask = sb.maskTensor(a);
        ModelOutput out = model.forward(sb.ids, sb.attention, sb.batch, sb.seqLen, sb.windowFrom(), sb.windowTo());
        Tensor lp = Tensor.allocate(a, DType.F32, sb.batch, sb.responseLen);
        Tensor saved = Tensor.allocate(a, DType.F32, (long) sb.batch * sb.responseLen, 3);
        kernels.tokenLogprobs(out.logits(), labels, LogprobOptions.DEFAULT, lp, null, saved);
        double n = sb.tokens();
        Tensor g = Tensor.allocate(a, DType.F32, sb.batch, sb.responseLen);
        for (long i = 0; i < g.numel(); i++) g.setFloat(i, mask.isSet(i) ? -1.0 / n : 0.0);
        kernels.tokenLogprobsBackward(out.logits(), labels, saved, g, null, LogprobOptions.DEFAULT, out.logits());
        model.backward(out.logits(), null);
        return -sumMasked(lp, mask) / n;
    }

    private static double sumMasked(Tensor x, Tensor mask) {
        double s = 0;
        for (long i = 0; i < x.numel(); i++) if (mask.isSet(i)) s += x.getDouble(i);
        return s;
    }

    @Override
    public void close() { optimizer.close(); }
}
