package dev.ppoengine.cli;

import dev.ppoengine.kernels.Backends;
import dev.ppoengine.kernels.PpoKernels;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * {@code ppo info}: what this machine offers the engine — Java runtime, OS, CPU model and the SIMD features the
 * native kernels care about (read from /proc/cpuinfo), and every backend with whether it can load here and why not,
 * plus the one {@code auto} picks.
 */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Show the Java runtime, CPU features and which backends are available (and why not).")
final class InfoCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    /** x86-64 flags the CPU kernels can use, in the order they are reported. */
    static final List<String> X86_FEATURES = List.of("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw",
            "avx512vl", "avx512dq", "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_bf16");
    /** aarch64 features ("Features" line) that matter to the kernels. */
    static final List<String> ARM_FEATURES = List.of("asimd", "fphp", "asimdhp", "bf16", "sve", "sve2");

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        out.println("ppo-engine " + VersionProvider.version());
        out.println("java:     " + System.getProperty("java.version") + " (" + System.getProperty("java.vendor") + ", "
                + System.getProperty("java.vm.name") + ")");
        out.println("os:       " + System.getProperty("os.name") + " " + System.getProperty("os.version") + " ("
                + System.getProperty("os.arch") + ")");
        String cpuinfo = readCpuinfo();
        out.println("cpu:      " + (cpuinfo == null ? "unknown (/proc/cpuinfo not readable)" : cpuModel(cpuinfo)));
        out.println("cores:    " + Runtime.getRuntime().availableProcessors() + " available to the JVM");
        if (cpuinfo != null) out.println("features: " + features(cpuinfo));
        out.println("backends:");
        for (Backends.Status s : Backends.statuses()) {
            out.printf(Locale.ROOT, "  %-10s %s%n", s.name(), s.available() ? "available" : "unavailable: " + s.unavailableReason());
        }
        out.println("auto:     " + autoChoice());
        out.println("linear_token_logprobs GEMMs: cpu OpenBLAS (JavaCPP); cuda " + cudaGemm());
        out.flush();
        return 0;
    }

    /** The cuda driver's GEMM library (cuBLAS, found at run time), or why there is none. */
    private static String cudaGemm() {
        String why = dev.ppoengine.cuda.CudaRuntime.cudaUnavailableReason();
        if (why != null) return "unavailable: " + why;
        try {
            return dev.ppoengine.cuda.LinearTokenLogprobsCuda.gemmLibrary(dev.ppoengine.cuda.CudaRuntime.cuda());
        } catch (RuntimeException e) {
            return "unavailable: " + e.getMessage();
        }
    }

    private static String readCpuinfo() {
        try {
            return Files.readString(Path.of("/proc/cpuinfo"));
        } catch (IOException | SecurityException e) {
            return null;
        }
    }

    /** The first "model name" line (x86) or a description built from the implementer/part lines (arm). */
    static String cpuModel(String cpuinfo) {
        String model = field(cpuinfo, "model name");
        if (model == null) model = field(cpuinfo, "Model");
        if (model == null) {
            String impl = field(cpuinfo, "CPU implementer"), part = field(cpuinfo, "CPU part");
            model = impl == null ? "unknown model" : "implementer " + impl + ", part " + part;
        }
        long processors = cpuinfo.lines().filter(l -> l.startsWith("processor")).count();
        return model + (processors > 0 ? ", " + processors + " logical processors" : "");
    }

    /** Present and missing features among those the kernels care about, from the "flags" (x86) or "Features" line. */
    static String features(String cpuinfo) {
        String flags = field(cpuinfo, "flags");
        List<String> wanted = X86_FEATURES;
        if (flags == null) {
            flags = field(cpuinfo, "Features");
            wanted = ARM_FEATURES;
        }
        if (flags == null) return "unknown (no flags line in /proc/cpuinfo)";
        Set<String> have = new LinkedHashSet<>(List.of(flags.trim().split("\\s+")));
        List<String> present = new ArrayList<>(), missing = new ArrayList<>();
        for (String f : wanted) (have.contains(f) ? present : missing).add(f);
        return (present.isEmpty() ? "none of the SIMD extensions used" : String.join(" ", present))
                + (missing.isEmpty() ? "" : " (missing: " + String.join(" ", missing) + ")");
    }

    /** Value of the first {@code key : value} line, or null. */
    private static String field(String cpuinfo, String key) {
        for (String line : cpuinfo.lines().toList()) {
            int colon = line.indexOf(':');
            if (colon > 0 && line.substring(0, colon).trim().equals(key)) return line.substring(colon + 1).trim();
        }
        return null;
    }

    private static String autoChoice() {
        try {
            Backends.Selection s = Backends.select("auto");
            try (PpoKernels k = s.kernels()) {
                return k.name() + " (" + s.reason() + ")";
            }
        } catch (RuntimeException e) {
            return "none: " + e.getMessage();
        }
    }
}
