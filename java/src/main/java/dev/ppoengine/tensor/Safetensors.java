package dev.ppoengine.tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * SCAFFOLD of the safetensors API (the io-cli work replaces the bodies):
 * read = memory-mapped, zero-copy; write = atomic (temp file + rename). Errors name the file and the tensor.
 */
public final class Safetensors {
    private Safetensors() {}

    /** Opens and validates {@code file}; tensors view the mapping and stay valid until the returned file is closed. */
    public static SafetensorsFile read(Path file) throws IOException {
        throw new UnsupportedOperationException("safetensors read");
    }

    /** Writes tensors (in the map's order) and string metadata atomically. */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        throw new UnsupportedOperationException("safetensors write");
    }
}
