package dev.ppoengine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Safetensors;
import dev.ppoengine.tensor.SafetensorsFile;
import dev.ppoengine.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Checkpoint directories in Hugging Face's layout: {@code config.json} (GPT-2 config) + {@code model.safetensors}
 * (or shards listed by {@code model.safetensors.index.json}) + optional tokenizer files.
 *
 * <p>Tensor names are HF GPT-2's, with or without the {@code transformer.} prefix (GPT2LMHeadModel vs GPT2Model /
 * the Hub's gpt2 files), plus trl's {@code v_head.summary.weight [1, C]} and {@code v_head.summary.bias [1]}.
 * Weights may be f32, bf16, f16 (or f64) and are converted to f32. Tolerated extras: {@code lm_head.weight} (must
 * equal wte: the head is tied) and the causal-mask buffers {@code h.i.attn.bias} / {@code h.i.attn.masked_bias} of
 * older checkpoints. A checkpoint without a value head (a plain GPT-2) loads with a zero value head (values start at
 * 0 and the head learns from the first step). Everything else that does not fit is an error naming the tensor:
 * a missing tensor, a wrong shape (with the config.json entry it contradicts), an unknown tensor (e.g. a layer past
 * n_layer), a non-float dtype.
 *
 * <p>{@link #save} writes config.json and model.safetensors (each atomically: temp file + rename) with the
 * GPT2LMHeadModel names ({@code transformer.} prefix, no lm_head.weight — tied, as save_pretrained does) and the
 * value head, so transformers and trl load it back.
 */
public final class Checkpoint {
    private Checkpoint() {}

    public static final String CONFIG = "config.json";
    public static final String WEIGHTS = "model.safetensors";
    public static final String WEIGHTS_INDEX = "model.safetensors.index.json";
    public static final String PREFIX = "transformer.";

    public static PolicyValueModel load(Path dir) throws IOException {
        Path cfgFile = dir.resolve(CONFIG);
        if (!Files.isRegularFile(cfgFile)) throw new IOException("checkpoint " + dir + ": missing " + CONFIG);
        GptConfig cfg = GptConfig.read(cfgFile);
        List<SafetensorsFile> files = new ArrayList<>();
        try {
            Map<String, Tensor> tensors = openWeights(dir, files);
            PolicyValueModel model = PolicyValueModel.create(cfg);
            try {
                fill(model.parameters(), tensors, dir);
            } catch (RuntimeException | IOException e) {
                model.close();
                throw e;
            }
            return model;
        } finally {
            for (SafetensorsFile f : files) f.close();
        }
    }

    /** Saves config.json + model.safetensors into {@code dir} (created if needed). */
    public static void save(PolicyValueModel model, Path dir) throws IOException {
        Files.createDirectories(dir);
        Parameters p = model.parameters();
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Parameters.Param prm : p.list()) {
            String name = prm.name().startsWith("v_head.") ? prm.name() : PREFIX + prm.name();
            out.put(name, p.tensor(prm));
        }
        Safetensors.write(dir.resolve(WEIGHTS), out, Map.of("format", "pt"));
        model.config().write(dir.resolve(CONFIG));
    }

    private static Map<String, Tensor> openWeights(Path dir, List<SafetensorsFile> files) throws IOException {
        Path single = dir.resolve(WEIGHTS);
        Map<String, Tensor> all = new LinkedHashMap<>();
        if (Files.isRegularFile(single)) {
            SafetensorsFile f = Safetensors.read(single);
            files.add(f);
            all.putAll(f.tensors());
            return all;
        }
        Path index = dir.resolve(WEIGHTS_INDEX);
        if (!Files.isRegularFile(index)) {
            throw new IOException("checkpoint " + dir + ": missing " + WEIGHTS + " (and no " + WEIGHTS_INDEX + ")");
        }
        JsonNode map = new ObjectMapper().readTree(index.toFile()).get("weight_map");
        if (map == null || !map.isObject()) throw new IOException(index + ": no weight_map object");
        Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
            String shard = it.next().getValue().asText();
            if (!shards.containsKey(shard)) {
                Path sp = dir.resolve(shard).normalize();
                if (!sp.startsWith(dir.normalize())) throw new IOException(index + ": shard " + shard + " lies outside the checkpoint");
                SafetensorsFile f = Safetensors.read(sp);
                files.add(f);
                shards.put(shard, f);
            }
        }
        for (SafetensorsFile f : shards.values()) {
            for (Map.Entry<String, Tensor> e : f.tensors().entrySet()) {
                if (all.put(e.getKey(), e.getValue()) != null) {
                    throw new IOException(dir + ": tensor " + e.getKey() + " appears in more than one shard");
                }
            }
        }
        return all;
    }

    private static void fill(Parameters p, Map<String, Tensor> tensors, Path dir) throws IOException {
        GptConfig cfg = p.config();
        Map<String, String> canonical = new LinkedHashMap<>();   // canonical name → name in the file
        TreeSet<String> unexpected = new TreeSet<>();
        Tensor lmHead = null;
        for (String name : tensors.keySet()) {
            String c = name.startsWith(PREFIX) ? name.substring(PREFIX.length()) : name;
            if (c.equals("lm_head.weight")) {
                lmHead = tensors.get(name);
                continue;
            }
            if (c.matches("h\\.\\d+\\.attn\\.(bias|masked_bias)")) continue;
            String prev = canonical.put(c, name);
            if (prev != null) throw new IllegalArgumentException(dir + ": tensor " + c + " is stored twice (" + prev + " and " + name + ")");
        }
        for (String c : canonical.keySet()) {
            boolean known = p.list().stream().anyMatch(prm -> prm.name().equals(c));
            if (!known) unexpected.add(canonical.get(c));
        }
        if (!unexpected.isEmpty()) {
            throw new IllegalArgumentException(dir + ": unexpected tensor " + unexpected.first() + " (not part of GPT-2 with "
                    + "n_layer=" + cfg.nLayer() + " from config.json" + (unexpected.size() > 1 ? "; " + (unexpected.size() - 1) + " more" : "") + ")");
        }
        MemorySegment data = p.data();
        for (Parameters.Param prm : p.list()) {
            String fileName = canonical.get(prm.name());
            if (fileName == null) {
                if (prm.name().startsWith("v_head.")) continue;   // plain GPT-2: zero value head (already zero)
                throw new IllegalArgumentException(dir + ": missing tensor " + prm.name()
                        + " (looked for " + PREFIX + prm.name() + " and " + prm.name() + ")");
            }
            Tensor t = tensors.get(fileName);
            checkShape(fileName, t, prm, cfg);
            copyInto(t, data, prm.offset());
        }
        if (lmHead != null) checkTied(lmHead, p, dir);
    }

    private static void checkShape(String fileName, Tensor t, Parameters.Param prm, GptConfig cfg) {
        if (!t.dtype().isFloating()) {
            throw new IllegalArgumentException("tensor " + fileName + ": expected a float dtype (f32, bf16, f16), got " + t.dtype());
        }
        if (!Arrays.equals(t.shape(), prm.shape())) {
            throw new IllegalArgumentException("tensor " + fileName + ": expected shape " + prm.shapeString() + " from config.json (n_embd="
                    + cfg.nEmbd() + ", vocab_size=" + cfg.vocabSize() + ", n_positions=" + cfg.nPositions() + ", n_inner="
                    + cfg.nInner() + "), got " + t.shapeString());
        }
    }

    private static void copyInto(Tensor t, MemorySegment data, long offset) {
        long n = t.numel();
        if (t.dtype() == DType.F32 && t.isDense()) {
            MemorySegment.copy(t.segment(), 0, data, offset * 4, n * 4);
            return;
        }
        for (long i = 0; i < n; i++) data.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, offset + i, t.getFloat(i));
    }

    private static void checkTied(Tensor lmHead, Parameters p, Path dir) {
        Parameters.Param wte = p.get("wte.weight");
        if (!Arrays.equals(lmHead.shape(), wte.shape())) {
            throw new IllegalArgumentException("tensor lm_head.weight: expected shape " + wte.shapeString() + " (tied to wte), got "
                    + lmHead.shapeString());
        }
        for (long i = 0; i < wte.numel(); i++) {
            if (lmHead.getFloat(i) != p.get(wte.offset() + i)) {
                throw new IllegalArgumentException(dir + ": tensor lm_head.weight differs from wte.weight at element " + i
                        + ": an untied LM head is not supported (GPT-2 ties it to the token embedding)");
            }
        }
    }
}
