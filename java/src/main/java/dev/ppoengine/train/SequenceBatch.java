package dev.ppoengine.train;

import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Tensor;

import java.lang.foreign.Arena;
import java.util.List;

/**
 * A batch of prompt + response sequences in the layout the trainer feeds the model (as trl's PPO trainer builds
 * {@code query_responses}):
 * <pre>
 *   row b:  [pad … pad | prompt_b (Tp wide, left-padded) | response_b | pad … pad ]      length T = Tp + R
 *   attention[b, t] = 1 on prompt and response tokens, 0 on padding (the model derives HF's position ids from it)
 *   response slot j ∈ [0, R):  token  ids[b, Tp + j]  = labels[b, j],  mask[b, j] = 1 iff j &lt; |response_b|
 *                              predicted by the logits at position Tp − 1 + j  → logits window [Tp − 1, Tp − 1 + R)
 * </pre>
 * The value of slot j is the value head at the same position Tp − 1 + j (trl's {@code values[:, context_length − 1 : −1]}).
 * Padded label slots hold the pad id (a valid id; the mask removes them).
 */
public final class SequenceBatch {
    public final int batch, promptLen, responseLen, seqLen;
    public final int[] ids, attention, labels, responseLengths;
    public final float[] mask;

    private SequenceBatch(int batch, int promptLen, int responseLen, int[] ids, int[] attention, int[] labels,
                          float[] mask, int[] responseLengths) {
        this.batch = batch;
        this.promptLen = promptLen;
        this.responseLen = responseLen;
        this.seqLen = promptLen + responseLen;
        this.ids = ids;
        this.attention = attention;
        this.labels = labels;
        this.mask = mask;
        this.responseLengths = responseLengths;
    }

    /** Packs prompts (≥ 1 id each) and responses (≥ 1 id each) with {@code pad} as the filler id. */
    public static SequenceBatch of(List<int[]> prompts, List<int[]> responses, int pad) {
        int b = prompts.size();
        if (b == 0 || responses.size() != b) {
            throw new IllegalArgumentException("expected as many responses as prompts (>= 1), got " + b + " prompts and "
                    + responses.size() + " responses");
        }
        int tp = 0, r = 0;
        for (int i = 0; i < b; i++) {
            if (prompts.get(i).length == 0) throw new IllegalArgumentException("prompt " + i + " has no tokens");
            if (responses.get(i).length == 0) throw new IllegalArgumentException("response " + i + " has no tokens");
            tp = Math.max(tp, prompts.get(i).length);
            r = Math.max(r, responses.get(i).length);
        }
        int t = tp + r;
        int[] ids = new int[b * t], att = new int[b * t], labels = new int[b * r], lens = new int[b];
        float[] mask = new float[b * r];
        java.util.Arrays.fill(ids, pad);
        java.util.Arrays.fill(labels, pad);
        for (int i = 0; i < b; i++) {
            int[] p = prompts.get(i), s = responses.get(i);
            int off = i * t + tp - p.length;
            for (int k = 0; k < p.length; k++) {
                ids[off + k] = p[k];
                att[off + k] = 1;
            }
            for (int j = 0; j < s.length; j++) {
                ids[i * t + tp + j] = s[j];
                att[i * t + tp + j] = 1;
                labels[i * r + j] = s[j];
                mask[i * r + j] = 1f;
            }
            lens[i] = s.length;
        }
        return new SequenceBatch(b, tp, r, ids, att, labels, mask, lens);
    }

    /** The rows {@code rows} (in that order) with the same Tp and R. */
    public SequenceBatch rows(int[] rows) {
        int t = seqLen, r = responseLen, n = rows.length;
        int[] ids2 = new int[n * t], att2 = new int[n * t], lab2 = new int[n * r], lens2 = new int[n];
        float[] mask2 = new float[n * r];
        for (int k = 0; k < n; k++) {
            int src = rows[k];
            System.arraycopy(ids, src * t, ids2, k * t, t);
            System.arraycopy(attention, src * t, att2, k * t, t);
            System.arraycopy(labels, src * r, lab2, k * r, r);
            System.arraycopy(mask, src * r, mask2, k * r, r);
            lens2[k] = responseLengths[src];
        }
        return new SequenceBatch(n, promptLen, responseLen, ids2, att2, lab2, mask2, lens2);
    }

    /** First position of the logits/values window (Tp − 1). */
    public int windowFrom() { return promptLen - 1; }

    /** One past its last position (Tp − 1 + R). */
    public int windowTo() { return promptLen - 1 + responseLen; }

    /** Position of the last token of row b (its last response token). */
    public int lastPosition(int b) { return promptLen - 1 + responseLengths[b]; }

    public Tensor labelsTensor(Arena arena) { return Tensor.ofInts(arena, labels, batch, responseLen); }

    public Tensor maskTensor(Arena arena) { return Tensor.ofFloats(arena, mask, batch, responseLen); }

    /** Number of valid response tokens. */
    public long tokens() {
        long n = 0;
        for (int len : responseLengths) n += len;
        return n;
    }

    /** The values of the response window, [B, R]: dst[b, j] = values[b, Tp − 1 + j] (values is the model's [B, T]). */
    public void windowValues(Tensor values, Tensor dst) {
        for (int b = 0; b < batch; b++) {
            for (int j = 0; j < responseLen; j++) {
                dst.setFloat((long) b * responseLen + j, values.getFloat((long) b * seqLen + windowFrom() + j));
            }
        }
    }

    /** Scatters a window gradient [B, R] into a full [B, T] f32 tensor (zeros elsewhere). */
    public Tensor scatterWindow(Tensor window, Arena arena) {
        Tensor full = Tensor.allocate(arena, DType.F32, batch, seqLen);
        for (int b = 0; b < batch; b++) {
            for (int j = 0; j < responseLen; j++) {
                full.setFloat((long) b * seqLen + windowFrom() + j, window.getFloat((long) b * responseLen + j));
            }
        }
        return full;
    }
}
