package dev.ppoengine.bench;

import dev.ppoengine.bench.torch.TorchRuntime;
import dev.ppoengine.kernels.Backends;

/**
 * Used by benchmarks/run before a run: prints one line per benchmark backend, {@code NAME<TAB>ok<TAB>detail} or
 * {@code NAME<TAB>unavailable<TAB>reason}, so the script measures only what can load here and the results table
 * says why anything is missing. Args: backend names (default reference cpu torch).
 */
public final class BackendCheck {
    private BackendCheck() {}

    public static void main(String[] args) {
        String[] names = args.length == 0 ? new String[] {"reference", "cpu", "torch"} : args;
        for (String name : names) {
            String line;
            if (BenchBackends.isTorch(name)) {
                try {
                    int threads = TorchRuntime.init();
                    line = "ok\tPyTorch " + TorchRuntime.version() + " (bytedeco), CPU, " + threads + " threads";
                } catch (Throwable e) {   // a missing or broken libtorch surfaces as an Error (UnsatisfiedLinkError)
                    line = "unavailable\t" + e.getClass().getSimpleName() + ": " + e.getMessage();
                }
            } else {
                Backends.Status status = Backends.statuses().stream().filter(s -> s.name().equals(name))
                        .findFirst().orElse(new Backends.Status(name, "unknown backend"));
                line = status.available() ? "ok\t" + name : "unavailable\t" + status.unavailableReason();
            }
            System.out.println(name + "\t" + line.replace('\n', ' '));
        }
    }
}
