package dev.ppoengine.train;

import dev.ppoengine.kernels.Aggregation;
import dev.ppoengine.kernels.LinearTokenLogprobs;
import dev.ppoengine.kernels.LogprobOptions;
import dev.ppoengine.kernels.LossAgg;
import dev.ppoengine.kernels.PpoKernels;
import dev.ppoengine.kernels.PpoLossInputs;
import dev.ppoengine.kernels.PpoLossOptions;
import dev.ppoengine.kernels.PpoLossResult;
import dev.ppoengine.kernels.PolicyLossOptions;
import dev.ppoengine.kernels.RewardOptions;
import dev.ppoengine.kernels.Settings;
import dev.ppoengine.kernels.ValueLossOptions;
import dev.ppoengine.model.FusedLmHead;
import dev.ppoengine.model.GenerationResult;
import dev.ppoengine.model.Generator;
import dev.ppoengine.model.ModelOutput;
import dev.ppoengine.model.PolicyValueModel;
import dev.ppoengine.model.SamplingOptions;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * One PPO step of RLHF with a shared-backbone actor/critic, as trl's PPOTrainer (Ziegler et al. 2019; Ouyang et al.
 * 2022), every piece of PPO math on {@link PpoKernels}:
 * <pre>
 *   1. rollout   batch_size prompts of the task; the policy samples responses (KV cache, no grad)
 *   2. forward   policy on prompt+response → logits of the response window → token_logprobs = old logprobs,
 *                values of the window = old values; frozen reference → ref logprobs; reward → one score per row
 *   3. shaping   kl_shaped_rewards(old, ref, mask, scores; β) → rewards, kl, reward_mask
 *                gae(rewards, old values, reward_mask) → advantages, returns;  masked_whiten(advantages, mask)
 *   4. optimise  ppo_epochs × shuffled minibatches (× micro-batches, gradients accumulated):
 *                forward → token_logprobs (+ entropy) → ppo_loss → grad_logprobs, grad_values, grad_entropy
 *                → token_logprobs_backward (in place on the logits) → backward of the shared backbone
 *                → global grad-norm clip → AdamW (LR schedule)
 *   5. β update  fixed or adaptive (Ziegler/trl) on the mean per-sequence KL sum; statistics for the step
 * </pre>
 * With {@code fused_lm_head} the log-probs and entropy of steps 2 and 4 come from the hidden states through
 * linear_token_logprobs ({@link FusedLmHead}; the [B, W, V] logits are never formed) and the update's backward runs
 * FusedLmHead.backward → {@link PolicyValueModel#backwardFromHidden} instead of token_logprobs_backward → backward.
 * Everything random is seeded from (seed, step) ({@link Seeds}), so the same config gives the same run and a resume
 * reproduces the uninterrupted one bit for bit. The value loss and GAE use reward_mask (= mask when the score sits on
 * the last token; mask ∪ {t*} with score_position=after_last), the policy loss and whitening the plain mask (SPEC).
 */
public final class PpoTrainer implements AutoCloseable {

    /** What a step produced: its metrics (trl names, see {@link #step()}) and the rollouts it trained on. */
    public record StepResult(long step, Map<String, Double> metrics, List<RewardFunction.Sample> samples, double[] scores) {}

    /** Sees every ppo_loss call (tests compare the metrics against these). */
    public interface LossObserver {
        void onPpoLoss(int epoch, int minibatch, int micro, PpoLossResult result);
    }

    private final TrainConfig cfg;
    private final Settings settings;
    private final LogprobOptions logprobOptions;
    private final PpoKernels kernels;
    private final PolicyValueModel policy, reference;
    private final Generator generator;
    private final TextCodec codec;
    private final Task task;
    private final RewardFunction reward;
    private final KlController kl;
    private final AdamW optimizer;
    private final LrSchedule schedule;
    private final boolean whiten;
    // fused_lm_head: the op and one head per model (null when off)
    private final LinearTokenLogprobs linearOp;
    private final FusedLmHead policyHead, referenceHead;
    private long completedSteps;
    private LossObserver observer;
    private Rollout lastRollout;

    public PpoTrainer(TrainConfig cfg, PolicyValueModel policy, PolicyValueModel reference, TextCodec codec, Task task,
                      RewardFunction reward, PpoKernels kernels) {
        if (reference == null || !reference.isFrozen()) throw new IllegalArgumentException("reference: expected a frozen model");
        this.cfg = cfg;
        this.settings = cfg.kernelSettings();
        this.logprobOptions = settings.logprobOptions();
        this.kernels = kernels;
        this.policy = policy;
        this.reference = reference;
        this.generator = new Generator(policy);
        this.codec = codec;
        this.task = task;
        this.reward = reward;
        this.kl = KlController.from(settings);
        this.optimizer = new AdamW(policy.parameters(), cfg.adamOptions());
        this.schedule = cfg.lrScheduleValue(optimizerStepsTotal());
        this.whiten = settings.flag("whiten_advantages");
        if (cfg.fusedLmHeadFor(policy.config().vocabSize(), policy.config().nPositions())) {
            this.linearOp = LinearTokenLogprobs.create(linearBackend(kernels.name()));
            this.policyHead = new FusedLmHead(policy, linearOp);
            this.referenceHead = new FusedLmHead(reference, linearOp);
        } else {
            this.linearOp = null;
            this.policyHead = null;
            this.referenceHead = null;
        }
    }

    /** linear_token_logprobs on the trainer's backend when it has one, else auto (cpu, or reference). */
    static String linearBackend(String kernelsBackend) {
        return LinearTokenLogprobs.names().contains(kernelsBackend) ? kernelsBackend : "auto";
    }

    /** Optimiser steps over the whole run: steps × ppo_epochs × batch/mini. */
    public long optimizerStepsTotal() {
        return (long) cfg.steps() * cfg.ppoEpochs() * (cfg.batchSize() / cfg.miniBatchSize());
    }

    public void setObserver(LossObserver o) { this.observer = o; }
    public long completedSteps() { return completedSteps; }
    public KlController klController() { return kl; }
    public AdamW optimizer() { return optimizer; }
    public PolicyValueModel policy() { return policy; }
    public Settings settings() { return settings; }
    /** The rollout of the last step (tests read the kernels' inputs and outputs from it). */
    public Rollout lastRollout() { return lastRollout; }

    /** Restores the trainer state of a checkpoint (the weights and optimiser moments are restored by the caller). */
    public void restore(long completedSteps, double klCoef) {
        this.completedSteps = completedSteps;
        kl.restore(klCoef);
    }

    // ------------------------------------------------------------------------------------------------ the step

    /**
     * The tensors of one rollout, [B, R] f32 unless noted; owned by {@link #arena} and valid until the next step.
     * scores [B]; rewardMask is what kl_shaped_rewards returned.
     */
    public record Rollout(Arena arena, SequenceBatch batch, List<RewardFunction.Sample> samples, Tensor labels, Tensor mask,
                          Tensor oldLogprobs, Tensor refLogprobs, Tensor oldValues, Tensor scores, Tensor rewards, Tensor kl,
                          Tensor rewardMask, Tensor advantages, Tensor returns, double klCoef) {}

    /**
     * Runs the next step and returns its metrics, named as trl's PPOTrainer logs them:
     * objective/kl (batch mean of the per-sequence KL sum, the quantity the adaptive controller targets),
     * objective/kl_coef, objective/entropy (mean per-sequence Σ −logprob of the sampled tokens), objective/scores,
     * objective/non_score_reward (mean per-sequence Σ −β·kl), objective/rlhf_reward; ppo/loss/{policy,value,entropy,total},
     * ppo/policy/{entropy,approxkl,policykl,clipfrac,advantages_mean,ratio_mean}, ppo/val/{vpred,error,clipfrac,mean,
     * var_explained}, ppo/returns/{mean,var}, ppo/mean_scores, ppo/std_scores, ppo/learning_rate, ppo/grad_norm,
     * ppo/early_stopped, tokens/responses_len_mean, tokens/eos_frac, env/reward_mean, time/ppo/{rollout,forward_pass,
     * reward,compute_advantages,optimize_step,total} (seconds) and tokens_per_second (tokens through a model forward in
     * this step, generation included, per second). Minibatch statistics are averaged over the minibatches run.
     */
    public StepResult step() {
        if (lastRollout != null) {
            lastRollout.arena().close();
            lastRollout = null;
        }
        Arena arena = Arena.ofShared();
        try {
            return step(arena);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    private StepResult step(Arena arena) {
        long step = completedSteps;
        long t0 = System.nanoTime();
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("step", (double) (step + 1));

        // 1. rollout
        SplittableRandom promptRng = Seeds.rng(cfg.seed(), step, Seeds.PROMPTS, 0);
        List<String> prompts = new ArrayList<>(cfg.batchSize());
        List<int[]> promptIds = new ArrayList<>(cfg.batchSize());
        for (int i = 0; i < cfg.batchSize(); i++) {
            String p = task.prompt(promptRng);
            prompts.add(p);
            promptIds.add(codec.prompt(p));
        }
        SamplingOptions sampling = new SamplingOptions(cfg.maxNewTokens(), false, cfg.temperature(), cfg.topK(), cfg.topP(),
                Seeds.of(cfg.seed(), step, Seeds.GENERATE, 0), codec.eos(), codec.pad());
        GenerationResult gen = generator.generate(promptIds, sampling);
        long t1 = System.nanoTime();

        List<int[]> responses = new ArrayList<>(cfg.batchSize());
        List<RewardFunction.Sample> samples = new ArrayList<>(cfg.batchSize());
        int eosCount = 0;
        for (int b = 0; b < cfg.batchSize(); b++) {
            int[] r = gen.tokens()[b];
            responses.add(r);
            boolean eos = gen.stoppedAtEos()[b];
            if (eos) eosCount++;
            samples.add(new RewardFunction.Sample(prompts.get(b), codec.decode(r), promptIds.get(b), r, eos));
        }
        SequenceBatch batch = SequenceBatch.of(promptIds, responses, codec.pad());
        int bsz = batch.batch, resp = batch.responseLen;
        Tensor labels = batch.labelsTensor(arena), mask = batch.maskTensor(arena);

        // 2. forward of policy (old logprobs, values) and reference (ref logprobs)
        Tensor oldLp = Tensor.allocate(arena, DType.F32, bsz, resp);
        Tensor refLp = Tensor.allocate(arena, DType.F32, bsz, resp);
        Tensor oldValues = Tensor.allocate(arena, DType.F32, bsz, resp);
        if (policyHead != null) {
            FusedLmHead.Output out = policyHead.forward(batch.ids, batch.attention, bsz, batch.seqLen, batch.windowFrom(),
                    batch.windowTo(), labels, logprobOptions, false, false);
            copy(out.logprobs(), oldLp);
            batch.windowValues(out.values(), oldValues);
            FusedLmHead.Output refOut = referenceHead.forward(batch.ids, batch.attention, bsz, batch.seqLen,
                    batch.windowFrom(), batch.windowTo(), labels, logprobOptions, false, false);
            copy(refOut.logprobs(), refLp);
        } else {
            ModelOutput out = policy.forward(batch.ids, batch.attention, bsz, batch.seqLen, batch.windowFrom(), batch.windowTo());
            kernels.tokenLogprobs(out.logits(), labels, logprobOptions, oldLp, null, null);
            batch.windowValues(out.values(), oldValues);
            ModelOutput refOut = reference.forward(batch.ids, batch.attention, bsz, batch.seqLen, batch.windowFrom(), batch.windowTo());
            kernels.tokenLogprobs(refOut.logits(), labels, logprobOptions, refLp, null, null);
        }
        long t2 = System.nanoTime();

        double[] scoreValues = reward.score(samples);
        if (scoreValues.length != bsz) throw new IllegalStateException("reward " + reward.name() + " returned " + scoreValues.length + " scores for " + bsz + " samples");
        for (int b = 0; b < bsz; b++) {
            if (!Double.isFinite(scoreValues[b])) {
                throw new IllegalStateException("reward " + reward.name() + " gave a non-finite score " + scoreValues[b] + " for sample " + b);
            }
        }
        Tensor scores = Tensor.allocate(arena, DType.F32, bsz);
        for (int b = 0; b < bsz; b++) scores.setFloat(b, scoreValues[b]);
        long t3 = System.nanoTime();

        // 3. rewards, advantages
        double beta = kl.value();
        RewardOptions ro = settings.rewardOptions();
        ro = new RewardOptions(ro.kl(), beta, ro.scorePosition(), ro.scoreClip(), ro.klAtScoreSlot());
        Tensor rewards = Tensor.allocate(arena, DType.F32, bsz, resp);
        Tensor klT = Tensor.allocate(arena, DType.F32, bsz, resp);
        Tensor rewardMask = Tensor.allocate(arena, DType.F32, bsz, resp);
        kernels.klShapedRewards(oldLp, refLp, mask, scores, ro, rewards, klT, rewardMask);
        Tensor advantages = Tensor.allocate(arena, DType.F32, bsz, resp);
        Tensor returns = Tensor.allocate(arena, DType.F32, bsz, resp);
        kernels.gae(rewards, oldValues, rewardMask, settings.gaeOptions(), advantages, returns);
        Tensor rawAdvantages = advantages;
        if (whiten) {
            Tensor w = Tensor.allocate(arena, DType.F32, bsz, resp);
            kernels.maskedWhiten(advantages, mask, settings.whitenOptions(), w);
            advantages = w;
        }
        long t4 = System.nanoTime();
        Rollout rollout = new Rollout(arena, batch, samples, labels, mask, oldLp, refLp, oldValues, scores, rewards, klT,
                rewardMask, advantages, returns, beta);

        // 4. PPO epochs
        Optimise opt = optimise(rollout, step);
        long t5 = System.nanoTime();

        // 5. statistics and the β update
        double klSum = 0, nsr = 0, ent = 0;
        for (int b = 0; b < bsz; b++) {
            double rowKl = 0, rowLp = 0;
            for (int j = 0; j < resp; j++) {
                long i = (long) b * resp + j;
                rowKl += klT.getDouble(i);
                if (mask.isSet(i)) rowLp -= oldLp.getDouble(i);
            }
            klSum += rowKl;
            nsr += -beta * rowKl;
            ent += rowLp;
        }
        double meanKl = klSum / bsz, meanScore = mean(scoreValues);
        m.put("objective/kl", meanKl);
        m.put("objective/kl_coef", beta);
        m.put("objective/entropy", ent / bsz);
        m.put("objective/scores", meanScore);
        m.put("objective/non_score_reward", nsr / bsz);
        m.put("objective/rlhf_reward", meanScore + nsr / bsz);
        m.putAll(opt.metrics);
        m.put("ppo/policy/advantages_mean", maskedMean(advantages, mask));
        m.put("ppo/policy/advantages_raw_mean", maskedMean(rawAdvantages, mask));
        m.put("ppo/returns/mean", maskedMean(returns, rewardMask));
        m.put("ppo/returns/var", maskedVar(returns, rewardMask));
        m.put("ppo/val/mean", maskedMean(oldValues, rewardMask));
        m.put("ppo/mean_scores", meanScore);
        m.put("ppo/std_scores", std(scoreValues));
        m.put("ppo/mean_non_score_reward", nsr / bsz);
        m.put("tokens/responses_len_mean", (double) batch.tokens() / bsz);
        m.put("tokens/eos_frac", (double) eosCount / bsz);
        m.put("env/reward_mean", meanScore);
        kl.update(meanKl, bsz);
        long t6 = System.nanoTime();
        m.put("time/ppo/rollout", (t1 - t0) * 1e-9);
        m.put("time/ppo/forward_pass", (t2 - t1) * 1e-9);
        m.put("time/ppo/reward", (t3 - t2) * 1e-9);
        m.put("time/ppo/compute_advantages", (t4 - t3) * 1e-9);
        m.put("time/ppo/optimize_step", (t5 - t4) * 1e-9);
        m.put("time/ppo/total", (t6 - t0) * 1e-9);
        long forwardTokens = 3L * bsz * batch.seqLen + opt.tokens;
        m.put("tokens_per_second", forwardTokens / ((t6 - t0) * 1e-9));

        lastRollout = rollout;
        completedSteps = step + 1;
        return new StepResult(step + 1, m, samples, scoreValues);
    }

    /** Result of the PPO epochs: averaged minibatch statistics and the tokens forwarded. */
    private record Optimise(Map<String, Double> metrics, long tokens) {}

    private Optimise optimise(Rollout r, long step) {
        SequenceBatch all = r.batch();
        int bsz = all.batch, resp = all.responseLen, mini = cfg.miniBatchSize(), micro = cfg.effectiveMicroBatchSize();
        PpoLossOptions base = settings.ppoLossOptions();
        boolean entropyTerm = base.entropyCoef() != 0;
        Stats stats = new Stats();
        long tokens = 0;
        boolean stopped = false;
        double gradNormSum = 0, lrLast = 0;
        int optSteps = 0;
        for (int epoch = 0; epoch < cfg.ppoEpochs() && !stopped; epoch++) {
            int[] perm = Seeds.permutation(bsz, Seeds.rng(cfg.seed(), step, Seeds.SHUFFLE, epoch));
            for (int mb = 0; mb * mini < bsz && !stopped; mb++) {
                int[] rows = java.util.Arrays.copyOfRange(perm, mb * mini, (mb + 1) * mini);
                policy.zeroGrad();
                double miniTokens = 0, miniValueTokens = 0;
                for (int row : rows) {
                    for (int j = 0; j < resp; j++) {
                        miniTokens += r.mask().getDouble((long) row * resp + j);
                        miniValueTokens += r.rewardMask().getDouble((long) row * resp + j) != 0 ? 1 : 0;
                    }
                }
                PpoLossOptions opts = accumulationOptions(base, micro < mini, miniTokens, miniValueTokens);
                double scale = micro < mini && perRowAggregation(base.policy().agg().mode()) ? (double) micro / mini : 1.0;
                Stats.Minibatch ms = stats.begin();
                for (int mi = 0; mi * micro < mini; mi++) {
                    int[] sub = java.util.Arrays.copyOfRange(rows, mi * micro, (mi + 1) * micro);
                    tokens += microStep(r, sub, opts, entropyTerm, scale, ms, epoch, mb, mi);
                }
                double norm = cfg.maxGradNorm() > 0 ? GradClip.clip(policy.parameters(), cfg.maxGradNorm())
                        : GradClip.norm(policy.parameters());
                gradNormSum += norm;
                lrLast = schedule.lr(optimizer.stepCount());
                optimizer.step(lrLast);
                optSteps++;
                if (cfg.targetKl() > 0 && ms.approxKl() > 1.5 * cfg.targetKl()) stopped = true;
            }
        }
        Map<String, Double> m = stats.averages();
        m.put("ppo/learning_rate", lrLast);
        m.put("ppo/grad_norm", gradNormSum / Math.max(optSteps, 1));
        m.put("ppo/early_stopped", stopped ? 1.0 : 0.0);
        m.put("ppo/optimizer_steps", (double) optSteps);
        return new Optimise(m, tokens);
    }

    private static boolean perRowAggregation(LossAgg mode) {
        return mode == LossAgg.SEQ_MEAN_TOKEN_SUM || mode == LossAgg.SEQ_MEAN_TOKEN_MEAN;
    }

    /**
     * With gradient accumulation, token-mean must divide by the minibatch's token count (not each micro-batch's), so
     * the sum of the micro-batch gradients equals the minibatch gradient: token_count / vf_token_count are set to the
     * minibatch's counts unless the user set them explicitly (data-parallel). Per-row modes are rescaled by the caller.
     */
    private PpoLossOptions accumulationOptions(PpoLossOptions base, boolean accumulating, double miniTokens, double miniValueTokens) {
        if (!accumulating || base.policy().agg().mode() != LossAgg.TOKEN_MEAN) return base;
        PolicyLossOptions p = base.policy();
        Aggregation pa = settings.isExplicit("token_count") ? p.agg() : p.agg().withTokenCount(miniTokens);
        ValueLossOptions v = base.value();
        Aggregation va = settings.isExplicit("token_count") || settings.isExplicit("vf_token_count") ? v.agg()
                : v.agg().withTokenCount(miniValueTokens);
        return new PpoLossOptions(new PolicyLossOptions(p.clipLow(), p.clipHigh(), p.logRatioClamp(), p.dualClip(), pa, p.ratioThreshold()),
                new ValueLossOptions(v.valueClip(), va), base.vfCoef(), base.entropyCoef());
    }

    /** Forward, ppo_loss, backward of one micro-batch; gradients add into the parameters' grad. Returns tokens forwarded. */
    private long microStep(Rollout r, int[] rows, PpoLossOptions opts, boolean entropyTerm, double scale,
                           Stats.Minibatch ms, int epoch, int mb, int mi) {
        SequenceBatch sb = r.batch().rows(rows);
        int n = sb.batch, resp = sb.responseLen;
        try (Arena a = Arena.ofConfined()) {
            Tensor labels = sb.labelsTensor(a), mask = sb.maskTensor(a);
            Tensor oldLp = gather(r.oldLogprobs(), rows, resp, a), adv = gather(r.advantages(), rows, resp, a);
            Tensor oldV = gather(r.oldValues(), rows, resp, a), ret = gather(r.returns(), rows, resp, a);
            Tensor vmask = gather(r.rewardMask(), rows, resp, a);
            Tensor lp = Tensor.allocate(a, DType.F32, n, resp), ent = Tensor.allocate(a, DType.F32, n, resp);
            Tensor vpred = Tensor.allocate(a, DType.F32, n, resp);
            ModelOutput out = null;
            Tensor saved = null;
            if (policyHead != null) {
                FusedLmHead.Output f = policyHead.forward(sb.ids, sb.attention, n, sb.seqLen, sb.windowFrom(), sb.windowTo(),
                        labels, logprobOptions, true, true);
                copy(f.logprobs(), lp);
                copy(f.entropy(), ent);
                sb.windowValues(f.values(), vpred);
            } else {
                out = policy.forward(sb.ids, sb.attention, n, sb.seqLen, sb.windowFrom(), sb.windowTo());
                saved = Tensor.allocate(a, DType.F32, (long) n * resp, 3);
                kernels.tokenLogprobs(out.logits(), labels, logprobOptions, lp, ent, saved);
                sb.windowValues(out.values(), vpred);
            }
            Tensor gLp = Tensor.allocate(a, DType.F32, n, resp), gV = Tensor.allocate(a, DType.F32, n, resp);
            Tensor gEnt = entropyTerm ? Tensor.allocate(a, DType.F32, n, resp) : null;
            PpoLossInputs in = new PpoLossInputs(lp, oldLp, adv, vpred, oldV, ret, mask, vmask, entropyTerm ? ent : null);
            PpoLossResult res = kernels.ppoLoss(in, opts, gLp, gV, gEnt);
            if (observer != null) observer.onPpoLoss(epoch, mb, mi, res);
            if (scale != 1.0) {
                scaleInPlace(gLp, scale);
                scaleInPlace(gV, scale);
                if (gEnt != null) scaleInPlace(gEnt, scale);
            }
            ms.add(res, scale, mask, vmask, ent, vpred, ret);
            if (policyHead != null) {
                policy.backwardFromHidden(policyHead.backward(gLp, gEnt), sb.scatterWindow(gV, a));
            } else {
                kernels.tokenLogprobsBackward(out.logits(), labels, saved, gLp, gEnt, logprobOptions, out.logits());
                policy.backward(out.logits(), sb.scatterWindow(gV, a));
            }
            return (long) n * sb.seqLen;
        }
    }

    private static Tensor gather(Tensor src, int[] rows, int cols, Arena a) {
        Tensor dst = Tensor.allocate(a, DType.F32, rows.length, cols);
        for (int k = 0; k < rows.length; k++) {
            java.lang.foreign.MemorySegment.copy(src.segment(), (long) rows[k] * cols * 4, dst.segment(), (long) k * cols * 4, cols * 4L);
        }
        return dst;
    }

    /** Copies a dense f32 tensor into another of the same size (the fused head's outputs are views of its buffers). */
    private static void copy(Tensor src, Tensor dst) {
        java.lang.foreign.MemorySegment.copy(src.segment(), 0, dst.segment(), 0, src.numel() * 4);
    }

    private static void scaleInPlace(Tensor t, double s) {
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, t.getDouble(i) * s);
    }

    // ------------------------------------------------------------------------------------------------ statistics

    static double mean(double[] x) {
        double s = 0;
        for (double v : x) s += v;
        return s / x.length;
    }

    /** Unbiased standard deviation (torch.std). */
    static double std(double[] x) {
        if (x.length < 2) return 0;
        double mu = mean(x), s = 0;
        for (double v : x) s += (v - mu) * (v - mu);
        return Math.sqrt(s / (x.length - 1));
    }

    static double maskedMean(Tensor x, Tensor mask) {
        double s = 0, n = 0;
        for (long i = 0; i < x.numel(); i++) {
            if (mask.isSet(i)) {
                s += x.getDouble(i);
                n++;
            }
        }
        return n == 0 ? 0 : s / n;
    }

    /** trl's masked_var (unbiased, Bessel-corrected). */
    static double maskedVar(Tensor x, Tensor mask) {
        double mu = maskedMean(x, mask), s = 0, n = 0;
        for (long i = 0; i < x.numel(); i++) {
            if (mask.isSet(i)) {
                double d = x.getDouble(i) - mu;
                s += d * d;
                n++;
            }
        }
        return n < 2 ? 0 : s / (n - 1);
    }

    /**
     * Per-minibatch statistics averaged over the minibatches of a step (as trl stacks and averages them). Within a
     * minibatch: losses add over its micro-batches (each already divided by the minibatch's count), the per-token
     * statistics are token-weighted means of the micro-batches' (= the minibatch's own mean).
     */
    static final class Stats {
        private final List<Minibatch> list = new ArrayList<>();

        Minibatch begin() {
            Minibatch m = new Minibatch();
            list.add(m);
            return m;
        }

        Map<String, Double> averages() {
            String[] keys = Minibatch.KEYS;
            double[] sum = new double[keys.length];
            for (Minibatch m : list) {
                double[] v = m.values();
                for (int i = 0; i < keys.length; i++) sum[i] += v[i];
            }
            Map<String, Double> out = new LinkedHashMap<>();
            for (int i = 0; i < keys.length; i++) out.put(keys[i], list.isEmpty() ? 0 : sum[i] / list.size());
            return out;
        }

        static final class Minibatch {
            static final String[] KEYS = {"ppo/loss/policy", "ppo/loss/value", "ppo/loss/entropy", "ppo/loss/total",
                    "ppo/policy/entropy", "ppo/policy/approxkl", "ppo/policy/policykl", "ppo/policy/clipfrac",
                    "ppo/policy/ratio_mean", "ppo/policy/skipped", "ppo/val/clipfrac", "ppo/val/vpred", "ppo/val/error",
                    "ppo/val/var_explained"};
            double policy, value, entropyLoss, total;
            double tok, vtok, entropy, approxKl, policyKl, clipfrac, ratio, skipped, vclip, vpred, verr, calls;
            // var_explained = 1 − Var(returns − vpred)/Var(returns) over the minibatch's value tokens (trl)
            double sumR, sumR2, sumD, sumD2;

            void add(PpoLossResult r, double scale, Tensor mask, Tensor vmask, Tensor ent, Tensor vp, Tensor ret) {
                policy += r.policyLoss() * scale;
                value += r.valueLoss() * scale;
                entropyLoss += r.entropyLoss() * scale;
                total += r.loss() * scale;
                double n = 0, vn = 0, e = 0, vsum = 0, err = 0;
                for (long i = 0; i < mask.numel(); i++) {
                    if (mask.isSet(i)) {
                        n++;
                        e += ent.getDouble(i);
                    }
                    if (vmask.isSet(i)) {
                        vn++;
                        double v = vp.getDouble(i), rr = ret.getDouble(i), d = rr - v;
                        vsum += v;
                        err += d * d;
                        sumR += rr;
                        sumR2 += rr * rr;
                        sumD += d;
                        sumD2 += d * d;
                    }
                }
                tok += n;
                vtok += vn;
                entropy += e;
                approxKl += r.policy().approxKl() * n;
                policyKl += r.policy().ppoKl() * n;
                clipfrac += r.policy().clipfrac() * n;
                ratio += r.policy().meanRatio() * n;
                skipped += r.policy().skipped() ? 1 : 0;
                calls++;
                vclip += r.value().clipfrac() * vn;
                vpred += vsum;
                verr += err;
            }

            double approxKl() { return tok == 0 ? 0 : approxKl / tok; }

            double[] values() {
                double t = Math.max(tok, 1), vt = Math.max(vtok, 1);
                double varR = vtok < 2 ? 0 : (sumR2 - sumR * sumR / vtok) / (vtok - 1);
                double varD = vtok < 2 ? 0 : (sumD2 - sumD * sumD / vtok) / (vtok - 1);
                double ve = varR > 0 ? 1 - varD / varR : 0;
                return new double[] {policy, value, entropyLoss, total, entropy / t, approxKl / t, policyKl / t,
                        clipfrac / t, ratio / t, skipped / Math.max(calls, 1), vclip / vt, vpred / vt, verr / vt, ve};
            }
        }
    }

    @Override
    public void close() {
        if (lastRollout != null) lastRollout.arena().close();
        lastRollout = null;
        generator.close();
        optimizer.close();
        if (policyHead != null) {
            policyHead.close();
            referenceHead.close();
            linearOp.close();
        }
    }
}
