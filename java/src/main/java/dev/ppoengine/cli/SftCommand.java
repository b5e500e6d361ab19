package dev.ppoengine.cli;

import dev.ppoengine.kernels.Backends;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.train.AdamW;
import dev.ppoengine.train.Jsonl;
import dev.ppoengine.train.LrSchedule;
import dev.ppoengine.train.ProgressBar;
import dev.ppoengine.train.SftTrainer;
import dev.ppoengine.train.SupervisedData;
import dev.ppoengine.train.TextCodec;
import dev.ppoengine.train.TrainModels;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code ppo sft}: supervised fine-tuning ({@link SftTrainer}: token-mean cross-entropy of the response through
 * token_logprobs) on JSONL {@code {"prompt","response"}} or a task's demonstrations; saves the model to {@code --out}
 * and reports the train loss and the held-out loss.
 */
@Command(name = "sft", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Supervised fine-tuning on JSONL {\"prompt\",\"response\"} (or --task demonstrations):",
                "cross-entropy of the response tokens through token_logprobs; writes a checkpoint to --out."})
public final class SftCommand implements Callable<Integer>, Main.Debuggable {
    @Spec CommandSpec spec;

    @Mixin SupervisedOptions o;

    @Option(names = "--backend", paramLabel = "B", defaultValue = "${sys:ppo.backend:-auto}",
            description = "Kernel backend: auto, cpu, reference, cuda, cuda-sim (default ${DEFAULT-VALUE}).")
    String backend;

    @Override
    public boolean debug() { return o.debug; }

    @Override
    public Integer call() throws IOException {
        o.validate();
        List<Jsonl.SftExample> all = SupervisedData.sft(o.data, o.task, o.examples, o.seed);
        int nEval = (int) Math.floor(all.size() * o.evalFraction);   // fraction < 1 of an int count: fits
        List<Jsonl.SftExample> eval = all.subList(all.size() - nEval, all.size()), train = all.subList(0, all.size() - nEval);
        List<int[]> batches = SupervisedData.batches(train.size(), o.batchSize, o.epochs, o.seed);
        PrintWriter out = spec.commandLine().getOut();
        ProgressBar bar = new ProgressBar(System.err, !o.noProgress);
        try (TrainModels.Loaded m = TrainModels.open(o.checkpoint, o.nLayer, o.nHead, o.nEmbd, o.nPositions, o.seed);
             PpoKernels kernels = Backends.select(backend).kernels();
             SftTrainer sft = new SftTrainer(m.model(), new TextCodec(m.tokenizer()), kernels,
                     new AdamW.Options(0.9, 0.999, 1e-8, o.weightDecay), LrSchedule.constant(o.lr), o.maxGradNorm)) {
            bar.start("sft", batches.size());
            double ema = Double.NaN;
            for (int i = 0; i < batches.size(); i++) {
                List<String> p = new ArrayList<>(), r = new ArrayList<>();
                for (int k : batches.get(i)) {
                    p.add(train.get(k).prompt());
                    r.add(train.get(k).response());
                }
                double loss = sft.step(p, r).loss();
                ema = Double.isNaN(ema) ? loss : 0.9 * ema + 0.1 * loss;
                bar.update(i + 1, String.format(Locale.ROOT, "loss %.4f", ema));
            }
            bar.finish();
            TrainModels.save(m, o.out);
            out.printf(Locale.ROOT, "sft: %d examples x %d epochs, %d steps, train loss %.4f (EMA)%n", train.size(), o.epochs,
                    batches.size(), ema);
            if (!eval.isEmpty()) {
                double loss = 0;
                for (int i = 0; i < eval.size(); i += o.batchSize) {
                    List<Jsonl.SftExample> part = eval.subList(i, Math.min(eval.size(), i + o.batchSize));
                    loss += sft.evaluate(part.stream().map(Jsonl.SftExample::prompt).toList(),
                            part.stream().map(Jsonl.SftExample::response).toList()) * part.size();
                }
                out.printf(Locale.ROOT, "sft: held-out loss %.4f on %d examples%n", loss / eval.size(), eval.size());
            }
            out.println("sft: saved " + o.out);
            out.flush();
        }
        return 0;
    }
}
