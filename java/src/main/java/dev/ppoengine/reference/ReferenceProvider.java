package dev.ppoengine.reference;

import dev.ppoengine.kernels.BackendProvider;
import dev.ppoengine.kernels.PpoKernels;

/** The reference backend is plain Java and always available. */
public final class ReferenceProvider implements BackendProvider {
    @Override public String name() { return "reference"; }
    @Override public String unavailableReason() { return null; }
    @Override public PpoKernels create() { return new ReferenceKernels(); }
}
