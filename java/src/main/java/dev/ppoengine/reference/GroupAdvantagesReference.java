package dev.ppoengine.reference;

import dev.ppoengine.kernels.*;
import dev.ppoengine.tensor.Tensor;

/** SCAFFOLD: replaced by the real implementation before this lands. */
final class GroupAdvantagesReference {
    private GroupAdvantagesReference() {}
    static void run(Tensor scores, Tensor mask, GroupOptions o, Tensor advantages) { throw new UnsupportedOperationException("group_advantages"); }
}
