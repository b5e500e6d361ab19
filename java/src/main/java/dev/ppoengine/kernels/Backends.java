package dev.ppoengine.kernels;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Backend selection. {@code auto} picks cuda if a device is usable, else cpu, else reference, and says which and why.
 * {@code -Dppo.backend=NAME} or {@code --backend NAME} forces one; a forced backend that cannot load is an error
 * carrying its reason. Providers are found by class name, so a jar built without a backend still runs.
 */
public final class Backends {
    private Backends() {}

    /** Provider classes in auto-selection priority order (first usable wins). */
    private static final Map<String, String> PROVIDERS = new LinkedHashMap<>();
    static {
        PROVIDERS.put("cuda", "dev.ppoengine.cuda.CudaProvider");
        PROVIDERS.put("cpu", "dev.ppoengine.cpu.NativeCpuProvider");
        PROVIDERS.put("reference", "dev.ppoengine.reference.ReferenceProvider");
        PROVIDERS.put("cuda-sim", "dev.ppoengine.cuda.CudaSimProvider");
    }

    /** What selection chose, and the one-line reason. */
    public record Selection(PpoKernels kernels, String reason) {}

    /** Availability of one backend: null reason = usable. */
    public record Status(String name, String unavailableReason) {
        public boolean available() { return unavailableReason == null; }
    }

    public static List<String> names() {
        List<String> n = new ArrayList<>(PROVIDERS.keySet());
        n.add("auto");
        return n;
    }

    /** Every known backend and whether it can load here. */
    public static List<Status> statuses() {
        List<Status> out = new ArrayList<>();
        for (String name : PROVIDERS.keySet()) {
            BackendProvider p = provider(name);
            out.add(new Status(name, p == null ? "not built into this jar" : safeReason(p)));
        }
        return out;
    }

    private static String safeReason(BackendProvider p) {
        try {
            return p.unavailableReason();
        } catch (RuntimeException | LinkageError e) {
            return e.getClass().getSimpleName() + ": " + e.getMessage();
        }
    }

    private static BackendProvider provider(String name) {
        String cls = PROVIDERS.get(name);
        if (cls == null) return null;
        try {
            return (BackendProvider) Class.forName(cls).getDeclaredConstructor().newInstance();
        } catch (ClassNotFoundException e) {
            return null;
        } catch (ReflectiveOperationException | LinkageError e) {
            throw new IllegalStateException("backend " + name + " failed to initialise: " + e, e);
        }
    }

    /** The backend named by {@code -Dppo.backend}, or auto. */
    public static Selection fromSystemProperty() {
        return select(System.getProperty("ppo.backend", "auto"));
    }

    /** Selects {@code name} (or auto). Throws IllegalArgumentException for an unknown or unusable forced backend. */
    public static Selection select(String name) {
        String n = name == null ? "auto" : name.trim().toLowerCase(java.util.Locale.ROOT);
        if (n.equals("auto")) {
            StringBuilder why = new StringBuilder();
            for (String candidate : List.of("cuda", "cpu", "reference")) {
                BackendProvider p = provider(candidate);
                String reason = p == null ? "not built into this jar" : safeReason(p);
                if (reason == null) {
                    String msg = "auto selected " + candidate + (why.isEmpty() ? "" : " (" + why + ")");
                    return new Selection(p.create(), msg);
                }
                if (!why.isEmpty()) why.append("; ");
                why.append(candidate).append(" unavailable: ").append(reason);
            }
            throw new IllegalStateException("no backend is usable: " + why);
        }
        if (!PROVIDERS.containsKey(n)) {
            throw new IllegalArgumentException("unknown backend '" + name + "' (expected one of " + String.join(", ", names()) + ")");
        }
        BackendProvider p = provider(n);
        String reason = p == null ? "not built into this jar" : safeReason(p);
        if (reason != null) throw new IllegalArgumentException("backend " + n + " is unavailable: " + reason);
        return new Selection(p.create(), "forced " + n);
    }

    /** Creates a backend by name (no auto). */
    public static PpoKernels create(String name) {
        return select(name).kernels();
    }
}
