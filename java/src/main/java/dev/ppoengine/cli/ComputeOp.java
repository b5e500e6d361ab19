package dev.ppoengine.cli;

import dev.ppoengine.kernels.LinearTokenLogprobs;
import dev.ppoengine.kernels.LogprobOptions;
import dev.ppoengine.kernels.PolicyLossResult;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.kernels.PpoLossInputs;
import dev.ppoengine.kernels.PpoLossResult;
import dev.ppoengine.kernels.Settings;
import dev.ppoengine.kernels.ValueLossResult;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The ops of {@code ppo compute}, named and wired exactly as SPEC.md lists them: which tensors each reads from the
 * input file, which options it takes from the resolved {@link Settings}, and which tensors it writes (scalars as 0-d
 * f32). Each constant is one op; the math itself is the backend's ({@link PpoKernels}).
 */
enum ComputeOp {
    TOKEN_LOGPROBS("logits, labels", "logprobs, entropy") {
        @Override
        void run(ComputeIo io, Settings s, PpoKernels k) {
            Tensor logits = io.logits();
            Tensor labels = io.require("labels");
            Tensor logprobs = allocateLike(io, labels);
            Tensor entropy = allocateLike(io, labels);
            k.tokenLogprobs(logits, labels, s.logprobOptions(), logprobs, entropy, null);
            io.output("logprobs", logprobs);
            io.output("entropy", entropy);
        }
    },
    TOKEN_LOGPROBS_BACKWARD("logits, labels, grad_logprobs, [grad_entropy]", "grad_logits (f32)") {
        @Override
        void run(ComputeIo io, Settings s, PpoKernels k) {
            Tensor logits = io.logits();
            Tensor labels = io.require("labels");
            Tensor gradLogprobs = io.floats("grad_logprobs");
            Tensor gradEntropy = io.optionalFloats("grad_entropy");
            sameShape("grad_logprobs", gradLogprobs, labels);
            if (gradEntropy != null) sameShape("grad_entropy", gradEntropy, labels);
            LogprobOptions o = s.logprobOptions();
            // The backward needs the forward's per-row statistics (lse, entropy lse, mean): run the forward first
            // (asking for the entropy too, so no backend can skip the statistics the entropy term needs).
            Tensor saved = Tensor.allocate(io.arena(), DType.F32, logits.rows(), 3);
            k.tokenLogprobs(logits, labels, o, allocateLike(io, labels), allocateLike(io, labels), saved);
            Tensor gradLogits = Tensor.allocate(io.arena(), DType.F32, logits.shape());
            k.tokenLogprobsBackward(logits, labels, saved, gradLogprobs, gradEntropy, o, gradLogits);
            io.output("grad_logits", gradLogits);
        }
    },
    LINEAR_TOKEN_LOGPROBS("hidden, weight, [bias], labels, [grad_logprobs], [grad_entropy]",
            "logprobs, entropy; with grad_logprobs also grad_hidden, grad_weight, [grad_bias] (with bias)") {
        @Override
        void run(ComputeIo io, Settings s, PpoKernels k) {
            // hidden/weight/bias in any float dtype, widened exactly to f32 (f64 rounded), as the per-token inputs
            Tensor hidden = io.floats("hidden");
            Tensor weight = io.floats("weight");
            Tensor bias = io.optionalFloats("bias");
            Tensor labels = io.require("labels");
            Tensor gradLogprobs = io.optionalFloats("grad_logprobs");
            Tensor gradEntropy = io.optionalFloats("grad_entropy");
            if (gradEntropy != null && gradLogprobs == null) {
                throw new CliException(CliException.INPUT, "grad_entropy: given without grad_logprobs (the backward "
                        + "runs when grad_logprobs is present)");
            }
            if (gradLogprobs != null) sameShape("grad_logprobs", gradLogprobs, labels);
            if (gradEntropy != null) sameShape("grad_entropy", gradEntropy, labels);
            LogprobOptions o = s.logprobOptions();
            // The op has its own backends (reference, cpu): the one of the same name as the selected kernels.
            try (LinearTokenLogprobs op = LinearTokenLogprobs.create(k.name())) {
                Tensor logprobs = allocateLike(io, labels), entropy = allocateLike(io, labels);
                Tensor saved = gradLogprobs == null ? null
                        : Tensor.allocate(io.arena(), DType.F32, labels.numel(), 3);
                op.forward(hidden, weight, bias, labels, o, logprobs, entropy, saved);
                io.output("logprobs", logprobs);
                io.output("entropy", entropy);
                if (gradLogprobs != null) {
                    Tensor gradHidden = Tensor.allocate(io.arena(), DType.F32, hidden.shape());
                    Tensor gradWeight = Tensor.allocate(io.arena(), DType.F32, weight.shape());
                    Tensor gradBias = bias == null ? null : Tensor.allocate(io.arena(), DType.F32, bias.shape());
                    op.backward(hidden, weight, bias, labels, saved, gradLogprobs, gradEntropy, o, gradHidden,
                            gradWeight, gradBias, false);
                    io.output("grad_hidden", gradHidden);
                    io.output("grad_weight", gradWeight);
                    if (gradBias != null) io.output("grad_bias", gradBias);
                }
            }
        }
    },
    KL_PENALTY("logprobs, ref_logprobs, [mask]", "kl") {
        @Override
        void run(ComputeIo io, Settings s, PpoKernels k) {
            Tensor logprobs = io.tokens("logprobs");
            Tensor ref = io.tokens("ref_logprobs");
            Tensor mask = io.optionalMask("mask");
            Tensor kl = io.newTokens();
            k.klPenalty(logprobs, ref, mask, s.klOptions(), kl);
            io.outputTokens("kl", kl);
        }
    },
    KL_SHAPED_REWARDS("logprobs, ref_logprobs, mask, scores", "rewards, kl, reward_mask") {
        @Override
        void run(ComputeIo io, Settings s, PpoKernels k) {
            Tensor logprobs = io.tokens("logprobs");
            Tensor ref = io.tokens("ref_logprobs");
            Tensor mask = io.mask("mask");
            Tensor scores = scoresVector(io);
            // One sequence may come with a single score as a 0-d tensor.
            if (scores.rank() == 0 && io.batch() == 1) scores = scores.reshape(1);
            Tensor rewards = io.newTokens(), kl = io.newTokens(), rewardMask = io.newTokens();
            k.klShapedRewards(logprobs, ref, mask, scores, s.rewardOptions(), rewards, kl, rewardMask);
            io.outputTokens("rewards", rewards);
            io.outputTokens("kl", kl);
            io.outputTokens("reward_mask", rewardMask);
        }
    },
    GAE("rewards, values, mask", "advantages, returns") {
        @Override
        void run(ComputeIo io, Settings s, PpoKernels k) {
            Tensor rewards = io.tokens("rewards");
            Tensor values = io.tokens("values");
            Tensor mask = io.mask("mask");
            Tensor adv = io.newTokens(), ret = io.newTokens();
            k.gae(rewards, values, mask, s.gaeOptions(), adv, ret);
            io.outputTokens("advantages", adv);
            io.outputTokens("returns", ret);
        }
    },
    MASKED_WHITEN("values, mask", "whitened") {
        @Override
        void run(ComputeIo io, Settings s, PpoKernels k) {
            Tensor values = io.tokens("values");
            Tensor mask = io.mask("mask");
            Tensor out = io.newTokens();
            k.maskedWhiten(values, mask, s.whitenOptions(), out);
            io.outputTokens("whitened", out);
        }
    },
    POLICY_LOSS("logprobs, old_logprobs, advantages, mask",
            "loss, grad_logprobs, clipfrac, clipfrac_lower, ppo_kl, approx_kl") {
        @Override
        void run(ComputeIo io, Settings s, PpoKernels k) {
            Tensor logprobs = io.tokens("logprobs");
            Tensor old = io.tokens("old_logprobs");
            Tensor adv = io.tokens("advantages");
            Tensor mask = io.mask("mask");
            Tensor grad = io.newTokens();
            PolicyLossResult r = k.policyLoss(logprobs, old, adv, mask, s.policyLossOptions(), grad);
            io.outputScalar("loss", r.loss());
            io.outputTokens("grad_logprobs", grad);
            policyStats(io, r);
        }
    },
    VALUE_LOSS("values, old_values, returns, mask", "loss, grad_values, clipfrac") {
        @Override
        void run(ComputeIo io, Settings s, PpoKernels k) {
            Tensor values = io.tokens("values");
            Tensor old = io.tokens("old_values");
            Tensor returns = io.tokens("returns");
            Tensor mask = io.mask("mask");
            Tensor grad = io.newTokens();
            ValueLossResult r = k.valueLoss(values, old, returns, mask, s.valueLossOptions(), grad);
            io.outputScalar("loss", r.loss());
            io.outputTokens("grad_values", grad);
            io.outputScalar("clipfrac", r.clipfrac());
        }
    },
    PPO_LOSS("logprobs, old_logprobs, advantages, values, old_values, returns, mask, [value_mask], [entropy]",
            "loss, policy_loss, value_loss, entropy_loss, grad_logprobs, grad_values, [grad_entropy] (with entropy), "
                    + "clipfrac, clipfrac_lower, ppo_kl, approx_kl, vf_clipfrac") {
        @Override
        void run(ComputeIo io, Settings s, PpoKernels k) {
            PpoLossInputs in = new PpoLossInputs(io.tokens("logprobs"), io.tokens("old_logprobs"),
                    io.tokens("advantages"), io.tokens("values"), io.tokens("old_values"), io.tokens("returns"),
                    io.mask("mask"), io.optionalMask("value_mask"), io.optionalTokens("entropy"));
            Tensor gradLogprobs = io.newTokens(), gradValues = io.newTokens();
            Tensor gradEntropy = in.entropy() != null ? io.newTokens() : null;
            PpoLossResult r = k.ppoLoss(in, s.ppoLossOptions(), gradLogprobs, gradValues, gradEntropy);
            io.outputScalar("loss", r.loss());
            io.outputScalar("policy_loss", r.policyLoss());
            io.outputScalar("value_loss", r.valueLoss());
            io.outputScalar("entropy_loss", r.entropyLoss());
            io.outputTokens("grad_logprobs", gradLogprobs);
            io.outputTokens("grad_values", gradValues);
            if (gradEntropy != null) io.outputTokens("grad_entropy", gradEntropy);
            policyStats(io, r.policy());
            io.outputScalar("vf_clipfrac", r.value().clipfrac());
        }
    },
    GROUP_ADVANTAGES("scores, [mask]", "advantages") {
        @Override
        void checkSettings(Settings s) {
            s.groupOptions(); // group_size has no default: fail as a usage error before any file is read
        }

        @Override
        void run(ComputeIo io, Settings s, PpoKernels k) {
            Tensor scores = scoresVector(io);
            if (scores.rank() != 1) {
                throw new CliException(CliException.INPUT, "scores: expected shape [B], got " + scores.shapeString());
            }
            Tensor mask = io.anyMask("mask");
            long b = scores.dim(0);
            // With a [B, T] mask the advantages are per token; a mask of another rank is rejected by the kernel.
            Tensor adv = mask != null && mask.rank() == 2
                    ? Tensor.allocate(io.arena(), DType.F32, b, mask.dim(1))
                    : Tensor.allocate(io.arena(), DType.F32, b);
            k.groupAdvantages(scores, mask, s.groupOptions(), adv);
            io.output("advantages", adv);
        }
    };

    private final String reads;
    private final String writes;

    ComputeOp(String reads, String writes) {
        this.reads = reads;
        this.writes = writes;
    }

    /** The SPEC / CLI name: token_logprobs, kl_penalty, ... */
    String key() { return name().toLowerCase(Locale.ROOT); }

    String reads() { return reads; }

    String writes() { return writes; }

    /** Builds the option records this op needs so a missing or bad setting fails before any file is touched. */
    void checkSettings(Settings s) {}

    /** Reads the op's inputs from {@code io}, runs it on {@code k} and records the outputs in {@code io}. */
    abstract void run(ComputeIo io, Settings s, PpoKernels k);

    static ComputeOp find(String name) {
        for (ComputeOp op : values()) if (op.key().equals(name)) return op;
        throw CliException.usage("unknown op '" + name + "' (expected one of " + keys() + ")");
    }

    static String keys() {
        return Arrays.stream(values()).map(ComputeOp::key).collect(Collectors.joining(", "));
    }

    // ------------------------------------------------------------------ shared pieces

    /** An f32 output with the labels' shape (token_logprobs writes one value per label). */
    private static Tensor allocateLike(ComputeIo io, Tensor labels) {
        return Tensor.allocate(io.arena(), DType.F32, labels.shape());
    }

    /** scores [B]; a reward model's [B, 1] output is accepted as [B]. */
    private static Tensor scoresVector(ComputeIo io) {
        Tensor s = io.floats("scores");
        return s.rank() == 2 && s.dim(1) == 1 ? s.reshape(s.dim(0)) : s;
    }

    private static void sameShape(String name, Tensor t, Tensor labels) {
        if (!Arrays.equals(t.shape(), labels.shape())) {
            throw new CliException(CliException.INPUT, name + ": expected shape " + labels.shapeString()
                    + " (the shape of labels), got " + t.shapeString());
        }
    }

    private static void policyStats(ComputeIo io, PolicyLossResult r) {
        io.outputScalar("clipfrac", r.clipfrac());
        io.outputScalar("clipfrac_lower", r.clipfracLower());
        io.outputScalar("ppo_kl", r.ppoKl());
        io.outputScalar("approx_kl", r.approxKl());
    }
}
