package dev.ppoengine.tensor;

import java.util.Map;

/** An opened safetensors file: its tensors (views of the mapping) and metadata. Close to unmap. */
public interface SafetensorsFile extends AutoCloseable {
    Map<String, Tensor> tensors();

    Map<String, String> metadata();

    /** The file name, for error messages. */
    String fileName();

    @Override
    void close();
}
