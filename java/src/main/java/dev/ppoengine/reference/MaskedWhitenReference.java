package dev.ppoengine.reference;

import dev.ppoengine.kernels.*;
import dev.ppoengine.tensor.Tensor;

/** SCAFFOLD: replaced by the real implementation before this lands. */
final class MaskedWhitenReference {
    private MaskedWhitenReference() {}
    static void run(Tensor values, Tensor mask, WhitenOptions o, Tensor whitened) { throw new UnsupportedOperationException("masked_whiten"); }
}
