package dev.ppoengine.reference;

import dev.ppoengine.kernels.*;
import dev.ppoengine.tensor.Tensor;

/** SCAFFOLD: replaced by the real implementation before this lands. */
final class PpoLossReference {
    private PpoLossReference() {}
    static PpoLossResult run(PpoLossInputs in, PpoLossOptions o, Tensor gradLogprobs, Tensor gradValues, Tensor gradEntropy) { throw new UnsupportedOperationException("ppo_loss"); }
}
