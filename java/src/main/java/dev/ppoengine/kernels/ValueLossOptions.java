package dev.ppoengine.kernels;

/** Options of value_loss: clip ε_v around the old values (0 = no clipping) and the aggregation. */
public record ValueLossOptions(double valueClip, Aggregation agg) {
    public ValueLossOptions {
        Params.nonNegative("value_clip", valueClip);
        Params.notNull("loss_agg", agg);
    }
}
