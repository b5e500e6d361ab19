package dev.ppoengine.reference;

import dev.ppoengine.kernels.*;
import dev.ppoengine.tensor.Tensor;

/** SCAFFOLD: replaced by the real implementation before this lands. */
final class KlShapedRewardsReference {
    private KlShapedRewardsReference() {}
    static void run(Tensor logprobs, Tensor refLogprobs, Tensor mask, Tensor scores, RewardOptions o, Tensor rewards, Tensor kl, Tensor rewardMask) { throw new UnsupportedOperationException("kl_shaped_rewards"); }
}
