package dev.ppoengine.kernels;

/** One backend: its name, whether it can run on this machine (and why not), and a factory. */
public interface BackendProvider {
    /** reference, cpu, cuda or cuda-sim. */
    String name();

    /** Null when usable here; otherwise a one-line reason (missing library, no device, other OS...). */
    String unavailableReason();

    /** Creates the backend; only called when {@link #unavailableReason()} is null. */
    PpoKernels create();
}
