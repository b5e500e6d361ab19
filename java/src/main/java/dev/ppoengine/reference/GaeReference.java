package dev.ppoengine.reference;

import dev.ppoengine.kernels.*;
import dev.ppoengine.tensor.Tensor;

/** SCAFFOLD: replaced by the real implementation before this lands. */
final class GaeReference {
    private GaeReference() {}
    static void run(Tensor rewards, Tensor values, Tensor mask, GaeOptions o, Tensor advantages, Tensor returns) { throw new UnsupportedOperationException("gae"); }
}
