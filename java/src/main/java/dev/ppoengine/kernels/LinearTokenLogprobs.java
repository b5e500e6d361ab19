package dev.ppoengine.kernels;

import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;

/**
 * linear_token_logprobs: token_logprobs of the logits {@code z = hidden · weightᵀ + bias} without ever holding the
 * [N, V] logits, and its backward to the hidden states, the weight and the bias.
 *
 * <pre>
 * Shapes: hidden [.., H] (N = product of the leading dims; f32/bf16/f16; a row stride is allowed),
 *         weight [V, H] dense (f32/bf16/f16), bias [V] dense or null (f32/bf16/f16),
 *         labels hidden's shape without H (i32/i64, in [0, V), dense),
 *         logprobs, entropy, grad_logprobs, grad_entropy: labels' shape f32; saved [N, 3] f32;
 *         grad_hidden: hidden's shape f32 dense; grad_weight [V, H] f32; grad_bias [V] f32.
 *
 * Forward:  z_ij = Σ_k hidden_ik·weight_jk + bias_j, then exactly token_logprobs (SPEC) on z:
 *           x = z/τ, logprob_i = x_iy − lse_i, entropy_i = lse_e_i − Σ_j q_ij z_e_ij (z_e = x, or z for
 *           entropy_logits=raw), saved_i = (lse_i, lse_e_i, mean_i).
 * Backward: dz_ij = (g_i(1[j=y_i] − p_ij) − h_i p_ij (x_ij − mean_i)) / τ   (raw: the entropy term is
 *           −h_i q_ij (z_ij − mean_i), not divided by τ), as token_logprobs_backward, and then
 *           grad_hidden = dZ·weight,  grad_weight = dZᵀ·hidden,  grad_bias = Σ_i dZ_i.
 * </pre>
 * The op is the PPO form of the fused linear cross-entropy of Liger-Kernel and of Cut Cross-Entropy (Wijmans et al.
 * 2024): backends compute z in tiles and fold each into per-row running statistics (extra memory O(tile) + O(N)),
 * and the backward recomputes the tiles from {@code saved}. τ in {@link LogprobOptions} is already temperature +
 * temperature_eps.
 *
 * <p>This class validates every argument (SPEC "Bad input": {@link IllegalArgumentException} naming the argument, the
 * expected and the actual value) and then calls the backend's {@code *Impl}, which may assume consistent shapes,
 * accepted dtypes, in-range labels and valid options. Backends: {@code reference}
 * ({@code dev.ppoengine.reference.LinearTokenLogprobsReference}, f64, the oracle), {@code cpu}
 * ({@code dev.ppoengine.cpu.LinearTokenLogprobsCpu}: OpenBLAS tiles + the native fold), {@code cuda}
 * ({@code dev.ppoengine.cuda.LinearTokenLogprobsCuda}: cuBLAS tiles + the CUDA tile kernels, one library call per
 * direction; device tensors, or host tensors staged through device memory) and {@code cuda-sim}
 * ({@code dev.ppoengine.cuda.LinearTokenLogprobsCudaSim}: the same driver and kernels on the simt emulator, small
 * shapes); see {@link #create}.
 */
public abstract class LinearTokenLogprobs implements AutoCloseable {

    /** Accepted dtypes of hidden, weight and bias. */
    public static final EnumSet<DType> FLOAT_TYPES = EnumSet.of(DType.F32, DType.BF16, DType.F16);

    private static final List<String> NAMES = List.of("reference", "cpu", "cuda-sim", "cuda");

    /** Backend name: reference, cpu, cuda-sim or cuda. */
    public abstract String name();

    /**
     * Forward: logprobs (required), entropy and saved (nullable = not wanted).
     * {@code saved} holds what {@link #backward} needs; pass it back with the same options.
     */
    public final void forward(Tensor hidden, Tensor weight, Tensor bias, Tensor labels, LogprobOptions options,
                              Tensor logprobs, Tensor entropy, Tensor saved) {
        long[] nhv = checkInputs(hidden, weight, bias, labels);
        Params.notNull("options", options);
        Checks.output("logprobs", logprobs, labels.shape());
        if (entropy != null) Checks.output("entropy", entropy, labels.shape());
        if (saved != null) Checks.output("saved", saved, nhv[0], 3);
        Tensor[] all = {hidden, weight, bias, labels, logprobs, entropy, saved};
        String[] names = {"hidden", "weight", "bias", "labels", "logprobs", "entropy", "saved"};
        location(all, names);
        if (!hidden.isDevice()) Checks.labelRange(labels, nhv[2]);
        forwardImpl(hidden, weight, bias, labels, options, logprobs, entropy, saved);
    }

    /**
     * Backward from grad_logprobs (required) and grad_entropy (nullable = 0) to grad_hidden, grad_weight and grad_bias
     * (each nullable = not wanted). With {@code accumulate} the gradients are added to the outputs' current values
     * (gradient accumulation, a weight shared with an embedding), otherwise the outputs are overwritten.
     */
    public final void backward(Tensor hidden, Tensor weight, Tensor bias, Tensor labels, Tensor saved,
                               Tensor gradLogprobs, Tensor gradEntropy, LogprobOptions options, Tensor gradHidden,
                               Tensor gradWeight, Tensor gradBias, boolean accumulate) {
        long[] nhv = checkInputs(hidden, weight, bias, labels);
        Params.notNull("options", options);
        Checks.output("saved", saved, nhv[0], 3);
        Checks.output("grad_logprobs", gradLogprobs, labels.shape());
        if (gradEntropy != null) Checks.output("grad_entropy", gradEntropy, labels.shape());
        if (gradHidden != null) Checks.output("grad_hidden", gradHidden, hidden.shape());
        if (gradWeight != null) Checks.output("grad_weight", gradWeight, nhv[2], nhv[1]);
        if (gradBias != null) Checks.output("grad_bias", gradBias, nhv[2]);
        Tensor[] all = {hidden, weight, bias, labels, saved, gradLogprobs, gradEntropy, gradHidden, gradWeight, gradBias};
        String[] names = {"hidden", "weight", "bias", "labels", "saved", "grad_logprobs", "grad_entropy", "grad_hidden",
                "grad_weight", "grad_bias"};
        location(all, names);
        if (!hidden.isDevice()) Checks.labelRange(labels, nhv[2]);
        backwardImpl(hidden, weight, bias, labels, saved, gradLogprobs, gradEntropy, options, gradHidden, gradWeight,
                gradBias, accumulate);
    }

    protected abstract void forwardImpl(Tensor hidden, Tensor weight, Tensor bias, Tensor labels, LogprobOptions o,
                                        Tensor logprobs, Tensor entropy, Tensor saved);

    protected abstract void backwardImpl(Tensor hidden, Tensor weight, Tensor bias, Tensor labels, Tensor saved,
                                         Tensor gradLogprobs, Tensor gradEntropy, LogprobOptions o, Tensor gradHidden,
                                         Tensor gradWeight, Tensor gradBias, boolean accumulate);

    /** Releases resources; idempotent. */
    @Override
    public void close() {}

    /** Checks hidden, weight, bias and labels; returns {N, H, V}. */
    private static long[] checkInputs(Tensor hidden, Tensor weight, Tensor bias, Tensor labels) {
        Checks.present("hidden", hidden);
        Checks.present("weight", weight);
        Checks.present("labels", labels);
        Checks.dtype("hidden", hidden, FLOAT_TYPES);
        Checks.dtype("weight", weight, FLOAT_TYPES);
        Checks.dtype("labels", labels, Checks.LABEL_TYPES);
        if (hidden.rank() < 2) {
            throw new IllegalArgumentException("hidden: expected rank >= 2 ([N, H] or [B, T, H]), got shape "
                    + hidden.shapeString());
        }
        long h = hidden.cols();
        if (h < 1) throw new IllegalArgumentException("hidden: expected a hidden size H >= 1, got shape " + hidden.shapeString());
        if (weight.rank() != 2 || weight.dim(1) != h) {
            throw new IllegalArgumentException("weight: expected shape [V, " + h + "] (H of hidden " + hidden.shapeString()
                    + "), got " + weight.shapeString());
        }
        long v = weight.dim(0);
        if (v < 1) throw new IllegalArgumentException("weight: expected a vocabulary size V >= 1, got shape " + weight.shapeString());
        Checks.dense("weight", weight);
        if (bias != null) {
            Checks.dtype("bias", bias, FLOAT_TYPES);
            Checks.shape("bias", bias, v);
        }
        long[] hs = hidden.shape();
        Checks.shape("labels", labels, Arrays.copyOf(hs, hs.length - 1));
        Checks.dense("labels", labels);
        return new long[] {hidden.rows(), h, v};
    }

    /**
     * Whether this backend takes device tensors ({@link Tensor#device}) besides host tensors (cuda, cuda-sim); the
     * others take host memory only.
     */
    protected boolean takesDeviceTensors() {
        return false;
    }

    /** Every tensor of a call in the same memory as hidden (the first), and device memory only where it is taken. */
    private void location(Tensor[] all, String[] names) {
        boolean device = all[0].isDevice();
        if (device && !takesDeviceTensors()) {
            throw new IllegalArgumentException("hidden: the " + name() + " backend of linear_token_logprobs runs on host "
                    + "memory, got a device tensor");
        }
        for (int i = 1; i < all.length; i++) {
            if (all[i] != null && all[i].isDevice() != device) {
                throw new IllegalArgumentException(names[i] + ": expected " + (device ? "device" : "host")
                        + " memory like hidden, got a " + (all[i].isDevice() ? "device" : "host") + " tensor");
            }
        }
    }

    // ------------------------------------------------------------------ backends

    /** The backends of this op: reference, cpu, cuda-sim, cuda. */
    public static List<String> names() {
        return NAMES;
    }

    /**
     * The implementation for a backend name: {@code reference}, {@code cpu}, {@code cuda-sim}, {@code cuda}, or
     * {@code auto} (cpu when the native CPU library loads, else reference: auto serves host tensors, and never picks
     * the slow emulator or a GPU that would need every operand copied over). Any other name is an
     * IllegalArgumentException naming the ones that exist; a backend that cannot load here is one carrying the reason.
     */
    public static LinearTokenLogprobs create(String backend) {
        String n = backend == null ? "auto" : backend.trim().toLowerCase(Locale.ROOT);
        if (n.equals("auto")) n = cpuUnavailableReason() == null ? "cpu" : "reference";
        String cls = switch (n) {
            case "reference" -> "dev.ppoengine.reference.LinearTokenLogprobsReference";
            case "cpu" -> {
                String why = cpuUnavailableReason();
                if (why != null) throw new IllegalArgumentException("backend cpu unavailable for linear_token_logprobs: " + why);
                yield "dev.ppoengine.cpu.LinearTokenLogprobsCpu";
            }
            case "cuda-sim" -> {
                String why = unavailableReason("cuda-sim");
                if (why != null) throw new IllegalArgumentException("backend cuda-sim unavailable for linear_token_logprobs: " + why);
                yield "dev.ppoengine.cuda.LinearTokenLogprobsCudaSim";
            }
            case "cuda" -> {
                String why = unavailableReason("cuda");
                if (why != null) throw new IllegalArgumentException("backend cuda unavailable for linear_token_logprobs: " + why);
                yield "dev.ppoengine.cuda.LinearTokenLogprobsCuda";
            }
            default -> throw new IllegalArgumentException("linear_token_logprobs: backend '" + backend
                    + "' has no implementation of this op; expected one of " + NAMES + " or auto");
        };
        try {
            return (LinearTokenLogprobs) Class.forName(cls).getDeclaredConstructor().newInstance();
        } catch (java.lang.reflect.InvocationTargetException e) {
            if (e.getCause() instanceof IllegalArgumentException why) {   // e.g. cuda without cuBLAS: say why
                throw new IllegalArgumentException("backend " + n + " unavailable for linear_token_logprobs: "
                        + why.getMessage(), why);
            }
            throw new IllegalStateException("linear_token_logprobs backend " + n + " failed to initialise: " + e.getCause(), e);
        } catch (ReflectiveOperationException | LinkageError e) {
            throw new IllegalStateException("linear_token_logprobs backend " + n + " failed to initialise: " + e, e);
        }
    }

    private static String cpuUnavailableReason() {
        return unavailableReason("cpu");
    }

    /** Null when the backend loads here, else why not. */
    private static String unavailableReason(String backend) {
        for (Backends.Status s : Backends.statuses()) {
            if (s.name().equals(backend)) return s.unavailableReason();
        }
        return "not built into this jar";
    }
}
