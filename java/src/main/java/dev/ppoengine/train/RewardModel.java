package dev.ppoengine.train;

import dev.ppoengine.model.ByteTokenizer;
import dev.ppoengine.model.Checkpoint;
import dev.ppoengine.model.ModelOutput;
import dev.ppoengine.model.PolicyValueModel;
import dev.ppoengine.model.Tokenizers;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A learned reward: the same GPT-2 backbone with a scalar head, scoring a whole sequence by the head's output at its
 * last token (as trl's reward models, AutoModelForSequenceClassification with one label, read the score at the last
 * non-pad token). The scalar head is the checkpoint's {@code v_head.summary} (weight [1, C], bias [1]); {@code ppo
 * train-rm} trains and saves it in that layout. Frozen: scoring never changes it.
 * <pre>
 *   score(prompt, response) = v_head(h_L[last token of prompt ⧺ response])
 * </pre>
 * With the built-in byte tokenizer the rollout's ids are scored as they are; with another tokenizer the sequence is
 * re-encoded from text with the reward model's own tokenizer, as the trainer encodes rollouts ({@link TextCodec}),
 * with an EOS after the response when the rollout emitted one (or when it is empty).
 */
public final class RewardModel implements RewardFunction {
    private final PolicyValueModel model;
    private final TextCodec codec;
    private final String name;
    private final int batch;

    public RewardModel(PolicyValueModel model, TextCodec codec, String name, int batch) {
        this.model = model.isFrozen() ? model : model.frozenCopy();
        this.codec = codec;
        this.name = name;
        this.batch = Math.max(batch, 1);
    }

    /** Loads a reward-model checkpoint directory (config.json + model.safetensors [+ tokenizer.json]). */
    public static RewardModel load(Path dir) throws IOException {
        PolicyValueModel m = Checkpoint.load(dir);
        PolicyValueModel frozen = m.frozenCopy();
        m.close();
        return new RewardModel(frozen, new TextCodec(Tokenizers.forCheckpoint(dir, frozen.config())), "rm:" + dir.getFileName(), 64);
    }

    public TextCodec codec() { return codec; }

    @Override
    public double[] score(List<Sample> samples) {
        double[] out = new double[samples.size()];
        for (int from = 0; from < samples.size(); from += batch) {
            int to = Math.min(samples.size(), from + batch);
            List<int[]> p = new ArrayList<>(), r = new ArrayList<>();
            for (Sample s : samples.subList(from, to)) {
                if (codec.tokenizer() instanceof ByteTokenizer && byteIds(s.promptIds()) && byteIds(s.responseIds())) {
                    // Byte-level ids are the text's exact bytes: score them as sampled (decoding would replace a
                    // broken UTF-8 sequence by U+FFFD, three bytes long).
                    p.add(s.promptIds());
                    r.add(s.responseIds().length > 0 ? s.responseIds() : new int[] {codec.eos()});
                    continue;
                }
                // Re-encoded with the reward model's own tokenizer (it need not be the policy's).
                p.add(codec.prompt(s.prompt()));
                int[] text = codec.tokenizer().encode(s.response());
                int[] ids = java.util.Arrays.copyOf(text, text.length + (s.endedWithEos() || text.length == 0 ? 1 : 0));
                if (ids.length > text.length) ids[text.length] = codec.eos();
                r.add(ids);
            }
            double[] sc = scoreIds(p, r);
            System.arraycopy(sc, 0, out, from, sc.length);
        }
        return out;
    }

    private static boolean byteIds(int[] ids) {
        for (int id : ids) if (id < 0 || id >= ByteTokenizer.VOCAB_SIZE) return false;
        return true;
    }

    /** Scores of prompt/response id pairs (the response as given, EOS included if wanted). */
    public double[] scoreIds(List<int[]> prompts, List<int[]> responses) {
        SequenceBatch sb = SequenceBatch.of(prompts, responses, codec.pad());
        ModelOutput out = model.forward(sb.ids, sb.attention, sb.batch, sb.seqLen, sb.seqLen, sb.seqLen);
        double[] s = new double[sb.batch];
        for (int b = 0; b < sb.batch; b++) s[b] = out.values().getDouble((long) b * sb.seqLen + sb.lastPosition(b));
        return s;
    }

    @Override public String name() { return name; }

    @Override
    public void close() {
        model.close();
        codec.tokenizer().close();
    }
}
