package dev.ppoengine.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.util.concurrent.Callable;

/** The root command {@code ppo}: only dispatches to its subcommands. */
@Command(name = "ppo",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = "ppo-engine: native kernels for PPO-based RLHF on the JVM.",
        subcommands = {TrainCommand.class, SftCommand.class, TrainRmCommand.class, GenerateCommand.class, ForwardCommand.class, ComputeCommand.class, InfoCommand.class},
        footer = {"", "Exit codes: 0 ok, 1 bad input (files, tensors, data), 2 bad usage (options, settings), 3 internal error."})
final class PpoCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Override
    public Integer call() {
        throw CliException.usage("missing command (one of: "
                + String.join(", ", spec.subcommands().keySet()) + "); see ppo --help");
    }
}
