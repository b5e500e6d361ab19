package dev.ppoengine.cli;

import dev.ppoengine.kernels.Backends;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.kernels.Preset;
import dev.ppoengine.kernels.Settings;
import dev.ppoengine.tensor.Safetensors;
import dev.ppoengine.tensor.SafetensorsFile;
import dev.ppoengine.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.StringJoiner;
import java.util.concurrent.Callable;

/**
 * {@code ppo compute OP --in IN --out OUT [--preset P] [--set key=value]... [--backend B] [--debug]}
 * (SPEC "The compute command"): runs one op on tensors read from a safetensors file and writes its outputs to
 * another. Order of work: the command line and settings are validated first (usage errors, exit 2), then the
 * output location, the input file and the op (input errors, exit 1). The output file is written atomically and only
 * after the op succeeded, so a failed call never leaves an output file behind.
 */
@Command(name = "compute", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Run one SPEC op on tensors from a safetensors file and write its outputs",
                "to another. Per-token inputs are [B, T] (or [T]) in f32, bf16, f16 or f64;",
                "masks bool, u8, i32, i64 or f32. Scalars are written as 0-d f32 tensors.",
                "Tensors the op does not read are ignored."})
final class ComputeCommand implements Callable<Integer>, Main.Debuggable {
    @Spec CommandSpec spec;

    @Parameters(index = "0", paramLabel = "OP", description = "The op: ${COMPLETION-CANDIDATES}.",
            completionCandidates = OpNames.class)
    String op;

    @Option(names = "--in", required = true, paramLabel = "IN", description = "Input safetensors file.")
    Path in;

    @Option(names = "--out", required = true, paramLabel = "OUT", description = "Output safetensors file (written atomically).")
    Path out;

    @Option(names = "--preset", paramLabel = "P", defaultValue = "trl",
            description = "Switch values of one trainer: trl, trl-ppov2, deepspeed-chat, verl, openrlhf (default: ${DEFAULT-VALUE}).")
    String preset;

    @Option(names = "--set", paramLabel = "KEY=VALUE",
            description = "Override one switch (repeatable), e.g. --set kl_estimator=k3 --set token_count=4096.")
    List<String> sets = new ArrayList<>();

    @Option(names = "--backend", paramLabel = "B", defaultValue = "${sys:ppo.backend:-auto}",
            description = "auto, reference, cpu, cuda or cuda-sim (default: ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--debug", description = "Print the stack trace of an error.")
    boolean debug;

    @Override
    public boolean debug() { return debug; }

    /** Completion candidates (and the list in --help) of the OP parameter. */
    static final class OpNames extends ArrayList<String> {
        OpNames() {
            for (ComputeOp o : ComputeOp.values()) add(o.key());
        }
    }

    /** The help footer: every op with the tensors it reads and writes, wrapped to fit 80 columns. */
    static String[] opTable() {
        List<String> lines = new ArrayList<>(List.of("", "Ops ([name] = optional input):"));
        for (ComputeOp o : ComputeOp.values()) {
            lines.add("  " + o.key());
            wrap(lines, "      in:  ", o.reads());
            wrap(lines, "      out: ", o.writes());
        }
        lines.add("");
        lines.add("Exit codes: 0 ok, 1 bad input (files, tensors, data), 2 bad usage (options,");
        lines.add("settings, op), 3 internal error.");
        return lines.toArray(String[]::new);
    }

    private static void wrap(List<String> lines, String lead, String list) {
        StringBuilder line = new StringBuilder(lead);
        for (String word : list.split(" ")) {
            if (line.length() + 1 + word.length() > 78 && line.length() > lead.length()) {
                lines.add(line.toString());
                line = new StringBuilder(" ".repeat(lead.length()));
            }
            if (line.length() > lead.length()) line.append(' ');
            line.append(word);
        }
        lines.add(line.toString());
    }

    @Override
    public Integer call() {
        ComputeOp operation = ComputeOp.find(op);
        Settings settings = settings();
        try {
            operation.checkSettings(settings);
        } catch (IllegalArgumentException e) {
            throw CliException.usage(e.getMessage());
        }
        String backendName = backend.trim().toLowerCase(Locale.ROOT);
        if (!Backends.names().contains(backendName)) {
            throw CliException.usage("unknown backend '" + backend + "' (expected one of " + String.join(", ", Backends.names()) + ")");
        }
        checkOutputLocation();

        // The summary is built inside the block: the output tensors live in the arena closed at its end.
        String summary;
        try (Arena arena = Arena.ofConfined();
             SafetensorsFile file = open(in);
             PpoKernels kernels = Backends.select(backendName).kernels()) {
            ComputeIo io = new ComputeIo(file, arena, settings.flag("check_finite"), operation.key(), operation.reads());
            operation.run(io, settings, kernels);
            write(io.outputs(), metadata(operation, kernels.name()));
            summary = summary(operation, io.outputs(), kernels.name(), settings);
        }
        PrintWriter o = spec.commandLine().getOut();
        o.println(summary);
        o.flush();
        return 0;
    }

    /** One stdout line: what was written where. Scalars show their value (handy when cross-checking by eye). */
    private String summary(ComputeOp operation, Map<String, Tensor> written, String usedBackend, Settings settings) {
        StringJoiner what = new StringJoiner(", ");
        for (var e : written.entrySet()) {
            Tensor t = e.getValue();
            what.add(t.rank() == 0 ? e.getKey() + "=" + t.getFloat(0) : e.getKey() + " " + t.shapeString());
        }
        return operation.key() + ": wrote " + what + " to " + out + " (backend " + usedBackend + ", preset "
                + settings.preset().key() + ")";
    }

    /** The preset with the --set overrides on top; any problem is a usage error naming the key. */
    private Settings settings() {
        Map<String, String> explicit = new LinkedHashMap<>();
        for (String kv : sets) {
            int eq = kv.indexOf('=');
            if (eq <= 0) throw CliException.usage("--set expects KEY=VALUE, got '" + kv + "'");
            explicit.put(kv.substring(0, eq).trim(), kv.substring(eq + 1).trim());
        }
        try {
            return Settings.of(Preset.parse(preset), explicit);
        } catch (IllegalArgumentException e) {
            throw CliException.usage(e.getMessage());
        }
    }

    /** Fails before any work when OUT cannot be created; the atomic write checks again at the end. */
    private void checkOutputLocation() {
        if (Files.isDirectory(out)) throw new CliException(CliException.INPUT, "cannot write " + out + ": it is a directory");
        Path dir = out.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new CliException(CliException.INPUT, "cannot write " + out + ": directory " + dir + " does not exist");
        }
        if (!Files.isWritable(dir)) {
            throw new CliException(CliException.INPUT, "cannot write " + out + ": directory " + dir + " is not writable");
        }
    }

    private static SafetensorsFile open(Path file) {
        try {
            return Safetensors.read(file);
        } catch (IOException e) {
            throw CliException.input("cannot read " + file + ": " + stripPrefix(e.getMessage(), file.toString()), e);
        }
    }

    private void write(Map<String, Tensor> tensors, Map<String, String> metadata) {
        try {
            Safetensors.write(out, tensors, metadata);
        } catch (IOException e) {
            throw CliException.input("cannot write " + out + ": " + stripPrefix(e.getMessage(), out.toString()), e);
        }
    }

    /** Safetensors messages start with the file name; the CLI's "cannot read FILE:" already says it. */
    private static String stripPrefix(String message, String file) {
        if (message == null) return "I/O error";
        return message.startsWith(file + ": ") ? message.substring(file.length() + 2) : message;
    }

    /** Recorded in the output file so a result says how it was made. */
    private Map<String, String> metadata(ComputeOp operation, String usedBackend) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("ppo_engine", VersionProvider.version());
        m.put("op", operation.key());
        m.put("preset", preset);
        m.put("backend", usedBackend);
        if (!sets.isEmpty()) m.put("settings", String.join(" ", sets));
        return m;
    }
}
