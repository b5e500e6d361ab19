package dev.ppoengine.train;

import dev.ppoengine.model.ModelOutput;
import dev.ppoengine.model.PolicyValueModel;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

/**
 * Reward-model training (the second RLHF step), pairwise Bradley–Terry as in Ouyang et al. 2022 (InstructGPT) and
 * trl's RewardTrainer:
 * <pre>
 *   s_c = r(prompt ⧺ chosen),  s_r = r(prompt ⧺ rejected)      r = scalar head at the last token ({@link RewardModel})
 *   loss = mean_b −log σ(s_c − s_r) = mean_b softplus(−(s_c − s_r))
 *   d loss/d s_c = −σ(−(s_c − s_r)) / B,   d loss/d s_r = +σ(−(s_c − s_r)) / B
 *   accuracy = mean_b [s_c &gt; s_r]
 * </pre>
 * Chosen and rejected sequences go through one forward of 2B rows; the gradient enters the backbone through the
 * scalar head at the two last-token positions only (no LM-head term). Then global grad-norm clip and AdamW.
 */
public final class RewardModelTrainer implements AutoCloseable {

    /** One batch: loss, pairwise accuracy, mean margin s_c − s_r, gradient norm before clipping, LR. */
    public record StepStats(double loss, double accuracy, double margin, double gradNorm, double lr) {}

    private final PolicyValueModel model;
    private final TextCodec codec;
    private final AdamW optimizer;
    private final LrSchedule schedule;
    private final double maxGradNorm;

    public RewardModelTrainer(PolicyValueModel model, TextCodec codec, AdamW.Options options, LrSchedule schedule, double maxGradNorm) {
        this.model = model;
        this.codec = codec;
        this.optimizer = new AdamW(model.parameters(), options);
        this.schedule = schedule;
        this.maxGradNorm = maxGradNorm;
    }

    public StepStats step(List<Jsonl.Preference> batch) {
        model.zeroGrad();
        StepStats s = run(batch, true);
        double norm = maxGradNorm > 0 ? GradClip.clip(model.parameters(), maxGradNorm) : GradClip.norm(model.parameters());
        double lr = schedule.lr(optimizer.stepCount());
        optimizer.step(lr);
        return new StepStats(s.loss(), s.accuracy(), s.margin(), norm, lr);
    }

    /** Loss and accuracy, with d loss/d θ left in the model's gradients (zeroed first); no update. */
    StepStats gradient(List<Jsonl.Preference> batch) {
        model.zeroGrad();
        return run(batch, true);
    }

    /** Loss and accuracy without training. */
    public StepStats evaluate(List<Jsonl.Preference> batch) {
        return run(batch, false);
    }

    private StepStats run(List<Jsonl.Preference> batch, boolean backward) {
        int n = batch.size();
        List<int[]> prompts = new ArrayList<>(2 * n), responses = new ArrayList<>(2 * n);
        for (Jsonl.Preference p : batch) {
            prompts.add(codec.prompt(p.prompt()));
            responses.add(codec.response(p.chosen()));
        }
        for (Jsonl.Preference p : batch) {
            prompts.add(codec.prompt(p.prompt()));
            responses.add(codec.response(p.rejected()));
        }
        SequenceBatch sb = SequenceBatch.of(prompts, responses, codec.pad());
        ModelOutput out = model.forward(sb.ids, sb.attention, sb.batch, sb.seqLen, sb.seqLen, sb.seqLen);
        double loss = 0, correct = 0, margin = 0;
        double[] grad = new double[n];
        for (int b = 0; b < n; b++) {
            double sc = out.values().getDouble((long) b * sb.seqLen + sb.lastPosition(b));
            double sr = out.values().getDouble((long) (n + b) * sb.seqLen + sb.lastPosition(n + b));
            double d = sc - sr;
            loss += softplus(-d);
            correct += d > 0 ? 1 : 0;
            margin += d;
            grad[b] = -sigmoid(-d) / n;
        }
        if (backward) {
            try (Arena a = Arena.ofConfined()) {
                Tensor g = Tensor.allocate(a, DType.F32, sb.batch, sb.seqLen);
                for (int b = 0; b < n; b++) {
                    g.setFloat((long) b * sb.seqLen + sb.lastPosition(b), grad[b]);
                    g.setFloat((long) (n + b) * sb.seqLen + sb.lastPosition(n + b), -grad[b]);
                }
                model.backward(null, g);
            }
        }
        return new StepStats(loss / n, correct / n, margin / n, Double.NaN, Double.NaN);
    }

    /** log(1 + e^x) without overflow. */
    static double softplus(double x) {
        return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
    }

    static double sigmoid(double x) {
        return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
    }

    @Override
    public void close() { optimizer.close(); }
}
