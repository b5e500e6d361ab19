package dev.ppoengine.cli;

import picocli.CommandLine;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;

/**
 * Entry point of the {@code ppo} command line (picocli). Every failure is reported as exactly one line
 * {@code ppo: error: ...} on stderr with a non-zero exit code (see {@link CliException}); a stack trace is
 * printed only with {@code --debug}.
 */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        PrintWriter out = new PrintWriter(System.out, true);
        PrintWriter err = new PrintWriter(System.err, true);
        int code = run(args, out, err);
        out.flush();
        err.flush();
        System.exit(code);
    }

    /** Runs the CLI in-process (tests call this) and returns the exit code. */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        return commandLine(out, err).execute(args);
    }

    static CommandLine commandLine(PrintWriter out, PrintWriter err) {
        CommandLine cl = new CommandLine(new PpoCommand());
        cl.setOut(out);
        cl.setErr(err);
        cl.setParameterExceptionHandler(Main::onParameterError);
        cl.setExecutionExceptionHandler(Main::onExecutionError);
        cl.getSubcommands().get("compute").getCommandSpec().usageMessage().footer(ComputeCommand.opTable());
        return cl;
    }

    /** A command line picocli could not parse: one line, and where to find the usage. */
    private static int onParameterError(ParameterException e, String[] args) {
        CommandLine cmd = e.getCommandLine();
        String help = cmd.getCommandSpec().qualifiedName() + " --help";
        cmd.getErr().println("ppo: error: " + oneLine(e.getMessage()) + " (see " + help + ")");
        return CliException.USAGE;
    }

    /** A failure while a command ran: its own exit code for CliException, 3 (internal) for anything unexpected. */
    private static int onExecutionError(Exception e, CommandLine cmd, ParseResult parsed) {
        PrintWriter err = cmd.getErr();
        boolean debug = cmd.getCommand() instanceof Debuggable d && d.debug();
        int code;
        String message;
        if (e instanceof CliException c) {
            code = c.exitCode();
            message = c.getMessage();
        } else if (e instanceof IllegalArgumentException || e instanceof IOException || e instanceof UncheckedIOException) {
            code = CliException.INPUT;
            message = e.getMessage();
        } else {
            code = CliException.INTERNAL;
            message = "internal error: " + e.getClass().getSimpleName() + ": " + e.getMessage()
                    + (debug ? "" : " (rerun with --debug for the stack trace)");
        }
        err.println("ppo: error: " + oneLine(message));
        if (debug) e.printStackTrace(err);
        err.flush();
        return code;
    }

    /** Messages are single lines: a multi-line message (e.g. from a parser) is joined with spaces. */
    static String oneLine(String s) {
        return s == null ? "(no message)" : s.strip().replaceAll("\\s*\\R\\s*", " ");
    }

    /** A command with a {@code --debug} flag that turns on stack traces. */
    interface Debuggable {
        boolean debug();
    }
}
