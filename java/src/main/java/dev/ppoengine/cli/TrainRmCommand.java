package dev.ppoengine.cli;

import dev.ppoengine.train.AdamW;
import dev.ppoengine.train.Jsonl;
import dev.ppoengine.train.LrSchedule;
import dev.ppoengine.train.ProgressBar;
import dev.ppoengine.train.RewardModelTrainer;
import dev.ppoengine.train.SupervisedData;
import dev.ppoengine.train.TextCodec;
import dev.ppoengine.train.TrainModels;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code ppo train-rm}: a reward model ({@link RewardModelTrainer}: pairwise Bradley–Terry loss on the scalar head at
 * the last token) from JSONL {@code {"prompt","chosen","rejected"}} or a task's synthetic pairs; reports loss and
 * pairwise accuracy (train, and held out), and saves a checkpoint {@code ppo train --reward-model} loads.
 */
@Command(name = "train-rm", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train a reward model on JSONL {\"prompt\",\"chosen\",\"rejected\"} (or --task pairs):",
                "Bradley-Terry loss -log sigmoid(r(chosen) - r(rejected)); reports pairwise accuracy;",
                "writes a checkpoint for ppo train --reward-model."})
public final class TrainRmCommand implements Callable<Integer>, Main.Debuggable {
    @Spec CommandSpec spec;

    @Mixin SupervisedOptions o;

    @Override
    public boolean debug() { return o.debug; }

    @Override
    public Integer call() throws IOException {
        o.validate();
        List<Jsonl.Preference> all = SupervisedData.preferences(o.data, o.task, o.examples, o.seed);
        int nEval = (int) Math.floor(all.size() * o.evalFraction);   // fraction < 1 of an int count: fits
        List<Jsonl.Preference> eval = all.subList(all.size() - nEval, all.size()), train = all.subList(0, all.size() - nEval);
        List<int[]> batches = SupervisedData.batches(train.size(), o.batchSize, o.epochs, o.seed);
        PrintWriter out = spec.commandLine().getOut();
        ProgressBar bar = new ProgressBar(System.err, !o.noProgress);
        try (TrainModels.Loaded m = TrainModels.open(o.checkpoint, o.nLayer, o.nHead, o.nEmbd, o.nPositions, o.seed);
             RewardModelTrainer rm = new RewardModelTrainer(m.model(), new TextCodec(m.tokenizer()),
                     new AdamW.Options(0.9, 0.999, 1e-8, o.weightDecay), LrSchedule.constant(o.lr), o.maxGradNorm)) {
            bar.start("rm", batches.size());
            double loss = Double.NaN, acc = Double.NaN;
            for (int i = 0; i < batches.size(); i++) {
                List<Jsonl.Preference> b = new ArrayList<>();
                for (int k : batches.get(i)) b.add(train.get(k));
                RewardModelTrainer.StepStats s = rm.step(b);
                loss = Double.isNaN(loss) ? s.loss() : 0.9 * loss + 0.1 * s.loss();
                acc = Double.isNaN(acc) ? s.accuracy() : 0.9 * acc + 0.1 * s.accuracy();
                bar.update(i + 1, String.format(Locale.ROOT, "loss %.4f  acc %.3f", loss, acc));
            }
            bar.finish();
            TrainModels.save(m, o.out);
            out.printf(Locale.ROOT, "train-rm: %d pairs x %d epochs, %d steps, train loss %.4f, pairwise accuracy %.3f (EMA)%n",
                    train.size(), o.epochs, batches.size(), loss, acc);
            if (!eval.isEmpty()) {
                double eLoss = 0, eAcc = 0;
                for (int i = 0; i < eval.size(); i += o.batchSize) {
                    List<Jsonl.Preference> part = eval.subList(i, Math.min(eval.size(), i + o.batchSize));
                    RewardModelTrainer.StepStats s = rm.evaluate(part);
                    eLoss += s.loss() * part.size();
                    eAcc += s.accuracy() * part.size();
                }
                out.printf(Locale.ROOT, "train-rm: held-out loss %.4f, pairwise accuracy %.3f on %d pairs%n", eLoss / eval.size(),
                        eAcc / eval.size(), eval.size());
            }
            out.println("train-rm: saved " + o.out);
            out.flush();
        }
        return 0;
    }
}
