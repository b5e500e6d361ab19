package dev.ppoengine.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * Finds and opens one of the CUDA launcher libraries built from ../cuda-kernels:
 * {@code libppo_cuda.so} (nvcc, real GPU) or {@code libppo_cuda_sim.so} (the same kernels on the simt CPU emulator).
 *
 * <p>Where from: {@code -Dppo.cuda.lib=PATH} / {@code -Dppo.cuda.sim.lib=PATH} if set, else the jar resource
 * {@code native/linux-x86_64/NAME} (used in place when it is a file on the class path, copied to a temporary file
 * when it is inside a jar). Opening never throws: a failure (other OS/arch, library not built — then the build's
 * {@code NAME.unavailable.txt} says why — or a dlopen error) becomes a one-line reason.
 */
final class CudaLibrary {
    static final String DIR = "/native/linux-x86_64/";

    /** An opened library, or the reason it could not be opened. */
    record Opened(SymbolLookup lookup, Path path, String failure) {}

    private CudaLibrary() {}

    static Opened open(String fileName, String property) {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        if (!os.startsWith("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            return failed(fileName + " is built for linux x86-64 only (this is " + os + " " + arch + ")");
        }
        Path path;
        String explicit = System.getProperty(property);
        if (explicit != null && !explicit.isBlank()) {
            path = Path.of(explicit);
            if (!Files.isReadable(path)) return failed("-D" + property + "=" + explicit + " is not a readable file");
        } else {
            try {
                path = resourceFile(fileName);
            } catch (IOException e) {
                return failed("cannot extract " + fileName + " to a temporary file: " + e.getMessage());
            }
            if (path == null) return failed(missingReason(fileName));
        }
        try {
            return new Opened(SymbolLookup.libraryLookup(path, Arena.global()), path, null);
        } catch (IllegalArgumentException | IllegalCallerException e) {
            return failed("cannot load " + path + ": " + e.getMessage());
        }
    }

    private static Opened failed(String why) { return new Opened(null, null, why); }

    /** The resource as a file: in place when the class path is a directory, else a temporary copy. */
    private static Path resourceFile(String fileName) throws IOException {
        var url = CudaLibrary.class.getResource(DIR + fileName);
        if (url == null) return null;
        if ("file".equals(url.getProtocol())) {
            try {
                return Path.of(url.toURI());
            } catch (java.net.URISyntaxException | IllegalArgumentException e) {
                // fall through to a copy
            }
        }
        try (InputStream in = url.openStream()) {
            Path tmp = Files.createTempFile(fileName.replace(".so", ""), ".so");
            tmp.toFile().deleteOnExit();
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            return tmp;
        }
    }

    /** The build's own explanation (NAME.unavailable.txt) when it left the library out, else a generic one. */
    private static String missingReason(String fileName) {
        String note = fileName.replace(".so", ".unavailable.txt");
        try (InputStream in = CudaLibrary.class.getResourceAsStream(DIR + note)) {
            if (in != null) return new String(in.readAllBytes(), StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            // use the generic reason
        }
        return fileName + " is not in this build (" + DIR.substring(1) + fileName
                + "): build cuda-kernels with cmake (see cuda-kernels/README.md)";
    }
}
