package dev.ppoengine.reference;

import dev.ppoengine.kernels.*;
import dev.ppoengine.tensor.Tensor;

/** SCAFFOLD: replaced by the real implementation before this lands. */
final class KlPenaltyReference {
    private KlPenaltyReference() {}
    static void run(Tensor logprobs, Tensor refLogprobs, Tensor mask, KlOptions o, Tensor kl) { throw new UnsupportedOperationException("kl_penalty"); }
}
