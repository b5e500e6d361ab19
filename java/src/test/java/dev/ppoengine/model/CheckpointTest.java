package dev.ppoengine.model;

import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Safetensors;
import dev.ppoengine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Save/load round trip in HF layout; prefixed and bare names; bf16; shards; malformed and mismatched checkpoints. */
class CheckpointTest {
    private static final GptConfig CFG = GptConfig.of(2, 2, 8, 11, 16).withSpecialTokens(10, 10);

    private static PolicyValueModel model() { return ModelForwardTest.randomModel(CFG, 21); }

    /** The model's tensors under HF names: prefixed or bare, optionally without some, converted to {@code dtype}. */
    private static Map<String, Tensor> tensors(Arena arena, PolicyValueModel m, String prefix, DType dtype, String... drop) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        outer:
        for (Parameters.Param p : m.parameters().list()) {
            for (String d : drop) if (p.name().equals(d)) continue outer;
            String name = p.name().startsWith("v_head.") ? p.name() : prefix + p.name();
            Tensor src = m.parameters().tensor(p);
            Tensor t = Tensor.allocate(arena, dtype, p.shape());
            for (long i = 0; i < t.numel(); i++) t.setFloat(i, src.getFloat(i));
            out.put(name, t);
        }
        return out;
    }

    private static void write(Path dir, GptConfig cfg, Map<String, Tensor> tensors) throws IOException {
        Files.createDirectories(dir);
        cfg.write(dir.resolve("config.json"));
        Safetensors.write(dir.resolve("model.safetensors"), tensors, Map.of("format", "pt"));
    }

    private static String loadError(Path dir) {
        Exception e = assertThrows(Exception.class, () -> Checkpoint.load(dir).close());
        assertTrue(e instanceof IllegalArgumentException || e instanceof IOException, e.toString());
        return e.getMessage();
    }

    @Test
    void saveThenLoadIsBitwiseIdentical(@TempDir Path dir) throws Exception {
        try (PolicyValueModel m = model()) {
            Checkpoint.save(m, dir.resolve("ckpt"));
            try (PolicyValueModel back = Checkpoint.load(dir.resolve("ckpt"))) {
                assertEquals(CFG, back.config());
                for (Parameters.Param p : m.parameters().list()) {
                    assertArrayEquals(m.parameters().tensor(p).toFloatArray(), back.parameters().tensor(p).toFloatArray(), p.name());
                }
                int[] ids = {1, 2, 3, 4, 5, 6};
                double[] a = m.forward(ids, null, 2, 3).logits().toDoubleArray();
                assertArrayEquals(a, back.forward(ids, null, 2, 3).logits().toDoubleArray());
            }
            try (var f = Safetensors.read(dir.resolve("ckpt/model.safetensors"))) {
                assertTrue(f.tensors().containsKey("transformer.h.1.mlp.c_proj.weight"));
                assertTrue(f.tensors().containsKey("v_head.summary.weight"));
                assertArrayEquals(new long[] {8, 24}, f.tensors().get("transformer.h.0.attn.c_attn.weight").shape());  // Conv1D [in, out]
                assertArrayEquals(new long[] {1, 8}, f.tensors().get("v_head.summary.weight").shape());
                assertArrayEquals(new long[] {1}, f.tensors().get("v_head.summary.bias").shape());
            }
            String json = Files.readString(dir.resolve("ckpt/config.json"));
            assertTrue(json.contains("\"n_layer\" : 2") && json.contains("\"eos_token_id\" : 10"), json);
            try (var leftovers = Files.list(dir.resolve("ckpt"))) {
                assertEquals(2, leftovers.count(), "only config.json and model.safetensors (no temp files)");
            }
        }
    }

    @Test
    void bareNamesBf16AndHfExtrasLoad(@TempDir Path dir) throws Exception {
        try (Arena arena = Arena.ofConfined(); PolicyValueModel m = model()) {
            Map<String, Tensor> t = tensors(arena, m, "", DType.BF16);
            t.put("h.0.attn.bias", Tensor.allocate(arena, DType.F32, 1, 1, 16, 16));   // old causal-mask buffer
            t.put("lm_head.weight", t.get("wte.weight"));                               // tied head, stored anyway
            write(dir, CFG, t);
            try (PolicyValueModel back = Checkpoint.load(dir)) {
                Parameters.Param p = back.parameters().get("h.1.mlp.c_fc.weight");
                float[] orig = m.parameters().tensor(p).toFloatArray(), got = back.parameters().tensor(p).toFloatArray();
                for (int i = 0; i < orig.length; i++) assertEquals(DType.bf16ToFloat(DType.floatToBf16(orig[i])), got[i]);
            }
        }
    }

    @Test
    void plainGpt2WithoutValueHeadGetsAZeroValueHead(@TempDir Path dir) throws Exception {
        try (Arena arena = Arena.ofConfined(); PolicyValueModel m = model()) {
            write(dir, CFG, tensors(arena, m, "", DType.F32, "v_head.summary.weight", "v_head.summary.bias"));
            try (PolicyValueModel back = Checkpoint.load(dir)) {
                double[] v = back.forward(new int[] {1, 2, 3}, null, 1, 3).values().toDoubleArray();
                assertArrayEquals(new double[] {0, 0, 0}, v);
            }
        }
    }

    @Test
    void shardedCheckpointLoads(@TempDir Path dir) throws Exception {
        try (Arena arena = Arena.ofConfined(); PolicyValueModel m = model()) {
            Map<String, Tensor> all = tensors(arena, m, "transformer.", DType.F32);
            Map<String, Tensor> a = new LinkedHashMap<>(), b = new LinkedHashMap<>();
            StringBuilder index = new StringBuilder("{\"metadata\": {}, \"weight_map\": {");
            int i = 0;
            for (Map.Entry<String, Tensor> e : all.entrySet()) {
                String shard = i % 2 == 0 ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
                (i++ % 2 == 0 ? a : b).put(e.getKey(), e.getValue());
                index.append(i > 1 ? ", " : "").append('"').append(e.getKey()).append("\": \"").append(shard).append('"');
            }
            index.append("}}");
            CFG.write(dir.resolve("config.json"));
            Safetensors.write(dir.resolve("model-00001-of-00002.safetensors"), a, Map.of());
            Safetensors.write(dir.resolve("model-00002-of-00002.safetensors"), b, Map.of());
            Files.writeString(dir.resolve("model.safetensors.index.json"), index.toString());
            try (PolicyValueModel back = Checkpoint.load(dir)) {
                Parameters.Param p = back.parameters().get("ln_f.bias");
                assertArrayEquals(m.parameters().tensor(p).toFloatArray(), back.parameters().tensor(p).toFloatArray());
            }
        }
    }

    @Test
    void missingTensorIsNamed(@TempDir Path dir) throws Exception {
        try (Arena arena = Arena.ofConfined(); PolicyValueModel m = model()) {
            write(dir, CFG, tensors(arena, m, "transformer.", DType.F32, "h.1.mlp.c_fc.bias"));
            String msg = loadError(dir);
            assertTrue(msg.contains("missing tensor h.1.mlp.c_fc.bias"), msg);
        }
    }

    @Test
    void wrongShapeIsNamed(@TempDir Path dir) throws Exception {
        try (Arena arena = Arena.ofConfined(); PolicyValueModel m = model()) {
            Map<String, Tensor> t = tensors(arena, m, "transformer.", DType.F32);
            t.put("transformer.h.0.attn.c_attn.weight", Tensor.allocate(arena, DType.F32, 24, 8));   // [out, in]: transposed
            write(dir, CFG, t);
            String msg = loadError(dir);
            assertTrue(msg.contains("transformer.h.0.attn.c_attn.weight") && msg.contains("[8, 24]") && msg.contains("[24, 8]"), msg);
        }
    }

    @Test
    void configMismatchesAreNamed(@TempDir Path dir) throws Exception {
        try (Arena arena = Arena.ofConfined(); PolicyValueModel m = model()) {
            // config says one layer, the file holds two
            write(dir.resolve("a"), new GptConfig(1, 2, 8, 11, 16, 32, 1e-5, 10, 10), tensors(arena, m, "transformer.", DType.F32));
            String msg = loadError(dir.resolve("a"));
            assertTrue(msg.contains("unexpected tensor transformer.h.1.") && msg.contains("n_layer=1"), msg);
            // config says vocab 12
            write(dir.resolve("b"), new GptConfig(2, 2, 8, 12, 16, 32, 1e-5, 10, 10), tensors(arena, m, "transformer.", DType.F32));
            msg = loadError(dir.resolve("b"));
            assertTrue(msg.contains("transformer.wte.weight") && msg.contains("vocab_size=12"), msg);
        }
    }

    @Test
    void badDtypeAndUntiedHeadAreNamed(@TempDir Path dir) throws Exception {
        try (Arena arena = Arena.ofConfined(); PolicyValueModel m = model()) {
            Map<String, Tensor> t = tensors(arena, m, "transformer.", DType.F32);
            t.put("transformer.ln_f.bias", Tensor.allocate(arena, DType.I32, 8));
            write(dir.resolve("a"), CFG, t);
            String msg = loadError(dir.resolve("a"));
            assertTrue(msg.contains("transformer.ln_f.bias") && msg.contains("i32"), msg);

            t = tensors(arena, m, "transformer.", DType.F32);
            t.put("lm_head.weight", Tensor.allocate(arena, DType.F32, 11, 8));
            write(dir.resolve("b"), CFG, t);
            msg = loadError(dir.resolve("b"));
            assertTrue(msg.contains("lm_head.weight") && msg.contains("untied"), msg);
        }
    }

    @Test
    void missingFilesAndBadConfig(@TempDir Path dir) throws Exception {
        Files.createDirectories(dir.resolve("empty"));
        assertTrue(loadError(dir.resolve("empty")).contains("missing config.json"));
        CFG.write(dir.resolve("noweights/config.json"));
        assertTrue(loadError(dir.resolve("noweights")).contains("missing model.safetensors"));
        Files.createDirectories(dir.resolve("relu"));
        Files.writeString(dir.resolve("relu/config.json"),
                "{\"n_layer\": 1, \"n_head\": 1, \"n_embd\": 4, \"vocab_size\": 5, \"n_ctx\": 8, \"activation_function\": \"relu\"}");
        String msg = loadError(dir.resolve("relu"));
        assertTrue(msg.contains("activation_function") && msg.contains("relu"), msg);
        Files.createDirectories(dir.resolve("nolayers"));
        Files.writeString(dir.resolve("nolayers/config.json"), "{\"n_head\": 1, \"n_embd\": 4, \"vocab_size\": 5, \"n_positions\": 8}");
        msg = loadError(dir.resolve("nolayers"));
        assertTrue(msg.contains("n_layer"), msg);
        Files.createDirectories(dir.resolve("heads"));
        Files.writeString(dir.resolve("heads/config.json"), "{\"n_layer\": 1, \"n_head\": 3, \"n_embd\": 4, \"vocab_size\": 5, \"n_positions\": 8}");
        msg = loadError(dir.resolve("heads"));
        assertTrue(msg.contains("n_head=3"), msg);
    }

    @Test
    void hubStyleConfigIsRead(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("config.json");
        // The keys of openai-community/gpt2's config.json that matter here (n_ctx alias, n_inner null, token ids).
        Files.writeString(f, """
                {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "bos_token_id": 50256,
                 "eos_token_id": 50256, "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024,
                 "n_embd": 768, "n_head": 12, "n_inner": null, "n_layer": 12, "n_positions": 1024,
                 "scale_attn_weights": true, "vocab_size": 50257, "resid_pdrop": 0.1}
                """);
        GptConfig c = GptConfig.read(f);
        assertEquals(new GptConfig(12, 12, 768, 50257, 1024, 3072, 1e-5, 50256, 50256), c);
    }
}
