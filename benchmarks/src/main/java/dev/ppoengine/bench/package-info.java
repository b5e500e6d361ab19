/**
 * JMH benchmarks of the ppo-engine ops: one {@code <Op>Benchmark} class per SPEC op with {@code @Param backend}
 * (reference, cpu, torch), and {@link dev.ppoengine.bench.MemoryBandwidthBenchmark} as the roofline.
 */
package dev.ppoengine.bench;
