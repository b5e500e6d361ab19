package dev.ppoengine.reference;

import dev.ppoengine.kernels.*;
import dev.ppoengine.tensor.Tensor;

/** SCAFFOLD: replaced by the real implementation before this lands. */
final class ValueLossReference {
    private ValueLossReference() {}
    static ValueLossResult run(Tensor values, Tensor oldValues, Tensor returns, Tensor mask, ValueLossOptions o, Tensor gradValues) { throw new UnsupportedOperationException("value_loss"); }
}
