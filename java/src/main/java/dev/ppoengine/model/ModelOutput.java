package dev.ppoengine.model;

import dev.ppoengine.tensor.Tensor;

/**
 * What one forward returns (views of the model's buffers, valid until its next forward):
 * {@code logits} f32 [B, W, V] for positions t in [logitsFrom, logitsTo) of every row (W = logitsTo − logitsFrom;
 * logits[b, w] predicts the token at t + 1 = logitsFrom + w + 1), {@code values} f32 [B, T] (the value head on every
 * position), {@code hidden} f32 [B, T, C] (the last hidden states, after ln_f).
 */
public record ModelOutput(Tensor logits, Tensor values, Tensor hidden, int logitsFrom, int logitsTo) {}
