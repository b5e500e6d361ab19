package dev.ppoengine.reference;

import dev.ppoengine.kernels.*;
import dev.ppoengine.tensor.Tensor;

/** SCAFFOLD: replaced by the real implementation before this lands. */
final class TokenLogprobsReference {
    private TokenLogprobsReference() {}
    static void forward(Tensor logits, Tensor labels, LogprobOptions o, Tensor logprobs, Tensor entropy, Tensor saved) { throw new UnsupportedOperationException("token_logprobs"); }
    static void backward(Tensor logits, Tensor labels, Tensor saved, Tensor gradLogprobs, Tensor gradEntropy, LogprobOptions o, Tensor gradLogits) { throw new UnsupportedOperationException("token_logprobs_backward"); }
}
