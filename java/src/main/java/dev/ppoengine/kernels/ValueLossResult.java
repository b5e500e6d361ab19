package dev.ppoengine.kernels;

/** Scalars of value_loss: the aggregated loss and clipfrac = mean[(Vc − R)² &gt; (V − R)²] over valid tokens. */
public record ValueLossResult(double loss, double clipfrac) {}
