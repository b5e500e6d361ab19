package dev.ppoengine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Set;

/**
 * GPT-2 hyper-parameters, named and read as in Hugging Face's {@code config.json} for {@code GPT2LMHeadModel}
 * (transformers' GPT2Config): n_layer, n_head, n_embd, vocab_size, n_positions (alias n_ctx),
 * layer_norm_epsilon, n_inner (null = 4·n_embd), and the optional bos/eos token ids used by generation.
 *
 * <p>Only the GPT-2 variant the model implements is accepted: a tanh-approximated GELU
 * (activation_function gelu_new / gelu_pytorch_tanh / gelu_fast), attention scaled by 1/sqrt(head size)
 * (scale_attn_weights true, scale_attn_by_inverse_layer_idx false) and tied word embeddings; anything else is
 * an {@link IllegalArgumentException} naming the key, so a checkpoint never runs with silently wrong math.
 */
public record GptConfig(int nLayer, int nHead, int nEmbd, int vocabSize, int nPositions, int nInner,
                        double layerNormEpsilon, int bosTokenId, int eosTokenId) {

    private static final Set<String> TANH_GELUS = Set.of("gelu_new", "gelu_pytorch_tanh", "gelu_fast");

    public GptConfig {
        positive("n_layer", nLayer);
        positive("n_head", nHead);
        positive("n_embd", nEmbd);
        positive("vocab_size", vocabSize);
        positive("n_positions", nPositions);
        positive("n_inner", nInner);
        if (nEmbd % nHead != 0) {
            throw new IllegalArgumentException("n_embd must be a multiple of n_head: n_embd=" + nEmbd + ", n_head=" + nHead);
        }
        if (!(layerNormEpsilon > 0) || !Double.isFinite(layerNormEpsilon)) {
            throw new IllegalArgumentException("layer_norm_epsilon must be finite and > 0, got " + layerNormEpsilon);
        }
        if (bosTokenId >= vocabSize || bosTokenId < -1) {
            throw new IllegalArgumentException("bos_token_id must be in [0, vocab_size=" + vocabSize + ") or absent, got " + bosTokenId);
        }
        if (eosTokenId >= vocabSize || eosTokenId < -1) {
            throw new IllegalArgumentException("eos_token_id must be in [0, vocab_size=" + vocabSize + ") or absent, got " + eosTokenId);
        }
    }

    /** A config with n_inner = 4·n_embd, layer_norm_epsilon = 1e-5 and no special tokens. */
    public static GptConfig of(int nLayer, int nHead, int nEmbd, int vocabSize, int nPositions) {
        return new GptConfig(nLayer, nHead, nEmbd, vocabSize, nPositions, 4 * nEmbd, 1e-5, -1, -1);
    }

    public GptConfig withSpecialTokens(int bos, int eos) {
        return new GptConfig(nLayer, nHead, nEmbd, vocabSize, nPositions, nInner, layerNormEpsilon, bos, eos);
    }

    public int headSize() { return nEmbd / nHead; }

    private static void positive(String key, int v) {
        if (v <= 0) throw new IllegalArgumentException(key + " must be > 0, got " + v);
    }

    // ---- config.json ----

    private static final ObjectMapper JSON = new ObjectMapper();

    /** Reads and validates a Hugging Face GPT-2 {@code config.json}. */
    public static GptConfig read(Path file) throws IOException {
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new IOException(file + ": not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) throw new IllegalArgumentException(file + ": expected a JSON object");
        try {
            return fromJson(root);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    static GptConfig fromJson(JsonNode root) {
        String modelType = text(root, "model_type");
        if (modelType != null && !modelType.equals("gpt2")) {
            throw new IllegalArgumentException("model_type must be gpt2, got " + modelType);
        }
        String act = text(root, "activation_function");
        if (act != null && !TANH_GELUS.contains(act)) {
            throw new IllegalArgumentException("activation_function must be one of " + TANH_GELUS + " (tanh GELU), got " + act);
        }
        if (root.has("scale_attn_weights") && !root.get("scale_attn_weights").asBoolean(true)) {
            throw new IllegalArgumentException("scale_attn_weights=false is not supported (expected true)");
        }
        if (root.path("scale_attn_by_inverse_layer_idx").asBoolean(false)) {
            throw new IllegalArgumentException("scale_attn_by_inverse_layer_idx=true is not supported (expected false)");
        }
        if (root.has("tie_word_embeddings") && !root.get("tie_word_embeddings").asBoolean(true)) {
            throw new IllegalArgumentException("tie_word_embeddings=false is not supported: the LM head is tied to wte");
        }
        int nEmbd = requiredInt(root, "n_embd");
        int nPositions = root.has("n_positions") ? requiredInt(root, "n_positions") : requiredInt(root, "n_ctx");
        int nInner = root.hasNonNull("n_inner") ? requiredInt(root, "n_inner") : 4 * nEmbd;
        double eps = root.has("layer_norm_epsilon") ? requiredDouble(root, "layer_norm_epsilon") : 1e-5;
        return new GptConfig(requiredInt(root, "n_layer"), requiredInt(root, "n_head"), nEmbd,
                requiredInt(root, "vocab_size"), nPositions, nInner, eps,
                optionalTokenId(root, "bos_token_id"), optionalTokenId(root, "eos_token_id"));
    }

    /** Writes a config.json that transformers' GPT2LMHeadModel.from_pretrained accepts (atomically). */
    public void write(Path file) throws IOException {
        ObjectNode o = JSON.createObjectNode();
        o.put("model_type", "gpt2");
        o.putArray("architectures").add("GPT2LMHeadModel");
        o.put("activation_function", "gelu_new");
        o.put("n_layer", nLayer);
        o.put("n_head", nHead);
        o.put("n_embd", nEmbd);
        o.put("vocab_size", vocabSize);
        o.put("n_positions", nPositions);
        o.put("n_ctx", nPositions);
        if (nInner == 4 * nEmbd) o.putNull("n_inner"); else o.put("n_inner", nInner);
        o.put("layer_norm_epsilon", layerNormEpsilon);
        o.put("scale_attn_weights", true);
        o.put("scale_attn_by_inverse_layer_idx", false);
        o.put("tie_word_embeddings", true);
        o.put("resid_pdrop", 0.0);
        o.put("embd_pdrop", 0.0);
        o.put("attn_pdrop", 0.0);
        if (bosTokenId >= 0) o.put("bos_token_id", bosTokenId);
        if (eosTokenId >= 0) o.put("eos_token_id", eosTokenId);
        byte[] bytes = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(o);
        AtomicFiles.write(file, bytes);
    }

    private static String text(JsonNode root, String key) {
        JsonNode n = root.get(key);
        return n == null || n.isNull() ? null : n.asText();
    }

    private static int requiredInt(JsonNode root, String key) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) throw new IllegalArgumentException("missing required key " + key);
        if (!n.isIntegralNumber() || !n.canConvertToInt()) {
            throw new IllegalArgumentException(key + " must be an integer, got " + n);
        }
        return n.intValue();
    }

    private static double requiredDouble(JsonNode root, String key) {
        JsonNode n = root.get(key);
        if (n == null || !n.isNumber()) throw new IllegalArgumentException(key + " must be a number, got " + n);
        return n.doubleValue();
    }

    /** A token id, or -1 when absent/null (a list, as some configs hold, takes its first entry). */
    private static int optionalTokenId(JsonNode root, String key) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) return -1;
        if (n.isArray()) n = n.size() == 0 ? null : n.get(0);
        if (n == null) return -1;
        if (!n.isIntegralNumber() || !n.canConvertToInt()) {
            throw new IllegalArgumentException(key + " must be an integer, got " + n);
        }
        return n.intValue();
    }
}
