package dev.ppoengine.cli;

/**
 * A failure the CLI reports as one line {@code ppo: error: MESSAGE} with a chosen exit code:
 * {@link #USAGE} (2) for a malformed command line or setting, {@link #INPUT} (1) for bad data or files.
 * Anything else that escapes a command is an internal error ({@link #INTERNAL}, 3).
 */
final class CliException extends RuntimeException {
    static final int INPUT = 1;
    static final int USAGE = 2;
    static final int INTERNAL = 3;

    private final int exitCode;

    CliException(int exitCode, String message) {
        super(message);
        this.exitCode = exitCode;
    }

    CliException(int exitCode, String message, Throwable cause) {
        super(message, cause);
        this.exitCode = exitCode;
    }

    static CliException usage(String message) { return new CliException(USAGE, message); }

    static CliException input(String message, Throwable cause) { return new CliException(INPUT, message, cause); }

    int exitCode() { return exitCode; }
}
