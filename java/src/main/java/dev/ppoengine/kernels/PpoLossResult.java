package dev.ppoengine.kernels;

/**
 * Scalars of ppo_loss: total = policy + vf_coef·value − entropy_coef·entropy_loss, where entropyLoss = agg(entropy)
 * (0 without an entropy input). When trl's ratio_threshold guard fires, every loss and gradient is zero
 * (as trl zeroes pg, vf and total) and the statistics are still reported.
 */
public record PpoLossResult(double loss, double policyLoss, double valueLoss, double entropyLoss,
                            PolicyLossResult policy, ValueLossResult value) {}
