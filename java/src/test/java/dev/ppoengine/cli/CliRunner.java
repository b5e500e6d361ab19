package dev.ppoengine.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;

/** Runs the picocli command line in-process and captures its exit code, stdout and stderr. */
final class CliRunner {
    private CliRunner() {}

    record Result(int code, String out, String err) {
        List<String> errLines() {
            return err.lines().toList();
        }

        @Override
        public String toString() {
            return "exit " + code + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    static Result run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int code;
        try (PrintWriter o = new PrintWriter(out); PrintWriter e = new PrintWriter(err)) {
            code = Main.run(args, o, e);
        }
        return new Result(code, out.toString(), err.toString());
    }
}
