package dev.ppoengine.cuda;

/**
 * A CUDA failure reported by a launcher library (PPO_ERR_DEVICE, PPO_ERR_ALLOC): the message carries the op, the
 * shapes and the library's message with the CUDA error name and string. Bad arguments are
 * {@link IllegalArgumentException}s instead.
 */
public final class CudaException extends RuntimeException {
    private final int status;

    public CudaException(int status, String message) {
        super(message);
        this.status = status;
    }

    /** The PPO_* status code of the failed call. */
    public int status() { return status; }
}
