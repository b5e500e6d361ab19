package dev.ppoengine.bench;

/**
 * Settings shared by every benchmark in one JMH fork.
 *
 * <p>{@code -Dppo.threads=N} (passed to the forks by {@code benchmarks/run --threads N}) is the thread count of
 * the cpu backend's default, of PyTorch's intra-op pool and of the bandwidth roofline, so the three are measured
 * with the same parallelism; unset = every available core (the cpu backend's own default).
 */
public final class BenchConfig {
    private BenchConfig() {}

    /** JVM flags of every benchmark fork (in @Fork jvmArgsPrepend, so -jvmArgsAppend on the command line adds to them):
     *  FFM and JNI (the cpu backend, libtorch) need native access; JavaCPP still uses sun.misc.Unsafe. The big inputs
     *  live off-heap (Arena), so the heap only holds the reference backend's per-row scratch and JMH itself. */
    public static final String NATIVE_ACCESS = "--enable-native-access=ALL-UNNAMED";
    public static final String UNSAFE_ACCESS = "--sun-misc-unsafe-memory-access=allow";
    public static final String HEAP = "-Xmx4g";

    /** Seed of every generated input: the same data on every backend and in every run. */
    public static final long SEED = 0x5eed_0ff_ba5eL;

    /** Threads for torch and the bandwidth benchmark (the cpu backend uses all cores by default). */
    public static int threads() {
        String v = System.getProperty("ppo.threads");
        if (v == null || v.isBlank()) return Runtime.getRuntime().availableProcessors();
        int n;
        try {
            n = Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("ppo.threads must be a positive integer, got '" + v + "'");
        }
        if (n < 1) throw new IllegalArgumentException("ppo.threads must be a positive integer, got " + n);
        return n;
    }

    /** Parses a "BxT" size parameter, e.g. "512x1024" → {512, 1024}. */
    public static int[] parseSize(String size) {
        String[] p = size.trim().toLowerCase(java.util.Locale.ROOT).split("x");
        if (p.length != 2) throw new IllegalArgumentException("size must look like BxT (e.g. 512x1024), got '" + size + "'");
        try {
            int b = Integer.parseInt(p[0]);
            int t = Integer.parseInt(p[1]);
            if (b < 1 || t < 1) throw new NumberFormatException();
            return new int[] {b, t};
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("size must be two positive integers BxT, got '" + size + "'");
        }
    }
}
