package dev.ppoengine.cli;

import dev.ppoengine.train.Tasks;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;

/**
 * Options shared by {@code ppo sft} and {@code ppo train-rm} (a picocli mixin): the data (JSONL or a built-in task),
 * the starting model (a checkpoint, or the built-in byte-level GPT-2 of a given size), the output directory, and the
 * optimiser (AdamW, constant LR, global grad-norm clipping).
 */
final class SupervisedOptions {
    @Option(names = "--data", paramLabel = "FILE", description = "JSONL training data.")
    Path data;

    @Option(names = "--task", paramLabel = "NAME", description = "Instead of --data: synthetic examples of a built-in task (${COMPLETION-CANDIDATES}).",
            completionCandidates = TaskNames.class)
    String task;

    @Option(names = "--examples", paramLabel = "N", defaultValue = "2048", description = "Examples drawn with --task (default ${DEFAULT-VALUE}).")
    int examples;

    @Option(names = "--checkpoint", paramLabel = "DIR", description = "Start from this checkpoint (default: a fresh built-in model).")
    String checkpoint;

    @Option(names = "--n-layer", defaultValue = "2", description = "Built-in model: layers (default ${DEFAULT-VALUE}).")
    int nLayer;

    @Option(names = "--n-head", defaultValue = "4", description = "Built-in model: heads (default ${DEFAULT-VALUE}).")
    int nHead;

    @Option(names = "--n-embd", defaultValue = "64", description = "Built-in model: width (default ${DEFAULT-VALUE}).")
    int nEmbd;

    @Option(names = "--n-positions", defaultValue = "64", description = "Built-in model: longest sequence (default ${DEFAULT-VALUE}).")
    int nPositions;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output checkpoint directory.")
    Path out;

    @Option(names = "--epochs", defaultValue = "1", description = "Passes over the data (default ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--batch-size", defaultValue = "32", description = "Examples per optimiser step (default ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--lr", defaultValue = "1e-3", description = "Learning rate (default ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--weight-decay", defaultValue = "0", description = "AdamW weight decay (default ${DEFAULT-VALUE}).")
    double weightDecay;

    @Option(names = "--max-grad-norm", defaultValue = "1.0", description = "Global grad-norm clip, 0 = off (default ${DEFAULT-VALUE}).")
    double maxGradNorm;

    @Option(names = "--eval-fraction", defaultValue = "0.1", description = "Share of the data held out for evaluation (default ${DEFAULT-VALUE}).")
    double evalFraction;

    @Option(names = "--seed", defaultValue = "1234", description = "Seed of the model init, the data draw and the shuffles (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--no-progress", description = "No progress bar.")
    boolean noProgress;

    @Option(names = "--debug", description = "Print the stack trace of an error.")
    boolean debug;

    /** Completion candidates (and the list in --help) of --task. */
    static final class TaskNames extends ArrayList<String> {
        TaskNames() { addAll(Tasks.names()); }
    }

    /** Range checks of the numeric options, as usage errors naming the option. */
    void validate() {
        if (epochs < 1) throw CliException.usage("--epochs must be >= 1, got " + epochs);
        if (batchSize < 1) throw CliException.usage("--batch-size must be >= 1, got " + batchSize);
        if (!(lr >= 0) || !Double.isFinite(lr)) throw CliException.usage("--lr must be finite and >= 0, got " + lr);
        if (!(weightDecay >= 0) || !Double.isFinite(weightDecay)) throw CliException.usage("--weight-decay must be finite and >= 0, got " + weightDecay);
        if (!(maxGradNorm >= 0) || !Double.isFinite(maxGradNorm)) throw CliException.usage("--max-grad-norm must be finite and >= 0, got " + maxGradNorm);
        if (!(evalFraction >= 0 && evalFraction < 1)) throw CliException.usage("--eval-fraction must be in [0, 1), got " + evalFraction);
        if ((data == null) == (task == null)) throw CliException.usage("give exactly one of --data FILE.jsonl and --task NAME");
    }
}
