package dev.ppoengine.reference;

import dev.ppoengine.kernels.*;
import dev.ppoengine.tensor.Tensor;

/** SCAFFOLD: replaced by the real implementation before this lands. */
final class PolicyLossReference {
    private PolicyLossReference() {}
    static PolicyLossResult run(Tensor logprobs, Tensor oldLogprobs, Tensor advantages, Tensor mask, PolicyLossOptions o, Tensor gradLogprobs) { throw new UnsupportedOperationException("policy_loss"); }
}
