package dev.ppoengine.cpu;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * Loads libppo_native.so (the C library of ../native, ABI {@code native/include/ppo_kernels.h}) once per JVM.
 *
 * <p>Where it comes from: {@code -Dppo.native.lib=PATH} if set, else the jar resource
 * {@value #RESOURCE}, copied once to a temporary file (deleted on exit) because the dynamic loader needs a file.
 * Loading never throws: a failure (other OS/arch, resource missing because the Maven build skipped the native build,
 * dlopen error, ABI version mismatch) is kept as a one-line {@link #unavailableReason()}.
 */
final class NativeLibrary {
    static final String RESOURCE = "/native/linux-x86_64/libppo_native.so";
    /** The ABI version this Java code was written against (PPO_ABI_VERSION). */
    static final int ABI_VERSION = 1;

    private record Loaded(SymbolLookup lookup, String failure) {}

    private static final Loaded LOADED = load();

    private NativeLibrary() {}

    /** Null when the library is loaded and usable; otherwise why not. */
    static String unavailableReason() {
        return LOADED.failure();
    }

    /** The address of an exported function; throws when the library is unavailable or lacks it. */
    static MemorySegment symbol(String name) {
        if (LOADED.lookup() == null) throw new IllegalStateException("native CPU library unavailable: " + LOADED.failure());
        return LOADED.lookup().find(name).orElseThrow(
                () -> new IllegalStateException("libppo_native.so has no symbol " + name));
    }

    private static Loaded load() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        if (!os.startsWith("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            return new Loaded(null, "the native CPU library is built for linux x86-64 only (this is " + os + " " + arch + ")");
        }
        Path path;
        String explicit = System.getProperty("ppo.native.lib");
        if (explicit != null && !explicit.isBlank()) {
            path = Path.of(explicit);
            if (!Files.isReadable(path)) return new Loaded(null, "-Dppo.native.lib=" + explicit + " is not a readable file");
        } else {
            try (InputStream in = NativeLibrary.class.getResourceAsStream(RESOURCE)) {
                if (in == null) {
                    return new Loaded(null, "libppo_native.so is missing from the jar (" + RESOURCE.substring(1)
                            + "): the Maven build skipped the native build (cmake or a C compiler missing?)");
                }
                path = Files.createTempFile("libppo_native", ".so");
                path.toFile().deleteOnExit();
                Files.copy(in, path, StandardCopyOption.REPLACE_EXISTING);
            } catch (IOException e) {
                return new Loaded(null, "cannot extract libppo_native.so to a temporary file: " + e.getMessage());
            }
        }
        try {
            SymbolLookup lookup = SymbolLookup.libraryLookup(path, Arena.global());
            MemorySegment fn = lookup.find("ppo_abi_version").orElse(null);
            if (fn == null) return new Loaded(null, path + " does not export ppo_abi_version (not libppo_native?)");
            MethodHandle version = Linker.nativeLinker().downcallHandle(fn, FunctionDescriptor.of(ValueLayout.JAVA_INT));
            int v = (int) version.invokeExact();
            if (v != ABI_VERSION) {
                return new Loaded(null, path + " has ABI version " + v + ", this jar expects " + ABI_VERSION);
            }
            return new Loaded(lookup, null);
        } catch (IllegalArgumentException | IllegalCallerException e) {
            return new Loaded(null, "cannot load " + path + ": " + e.getMessage());
        } catch (Throwable e) {
            return new Loaded(null, "cannot load " + path + ": " + e);
        }
    }
}
