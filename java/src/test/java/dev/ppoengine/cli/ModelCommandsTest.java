package dev.ppoengine.cli;

import dev.ppoengine.model.ByteTokenizer;
import dev.ppoengine.model.Checkpoint;
import dev.ppoengine.model.GptConfig;
import dev.ppoengine.model.PolicyValueModel;
import dev.ppoengine.tensor.DType;
import dev.ppoengine.tensor.Safetensors;
import dev.ppoengine.tensor.SafetensorsFile;
import dev.ppoengine.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code ppo forward} and {@code ppo generate} on a tiny random checkpoint, run in-process through picocli. */
class ModelCommandsTest {

    private record Run(int code, String out, String err) {}

    private static Run run(Object command, String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = new CommandLine(command);
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    private static Path checkpoint(Path dir, int vocab) throws Exception {
        GptConfig cfg = GptConfig.of(2, 2, 8, vocab, 64);
        try (PolicyValueModel m = PolicyValueModel.create(cfg)) {
            m.parameters().initRandom(4, 0.3);
            Checkpoint.save(m, dir);
        }
        return dir;
    }

    @Test
    void forwardWritesLogitsAndValuesMatchingTheLibrary(@TempDir Path dir) throws Exception {
        Path ckpt = checkpoint(dir.resolve("ckpt"), 11);
        long[] ids = {1, 2, 3, 4, 0, 5, 6, 7};
        long[] mask = {1, 1, 1, 1, 0, 1, 1, 1};
        try (Arena a = Arena.ofConfined()) {
            Map<String, Tensor> in = new LinkedHashMap<>();
            in.put("input_ids", Tensor.ofLongs(a, ids, 2, 4));
            in.put("attention_mask", Tensor.ofLongs(a, mask, 2, 4));
            Safetensors.write(dir.resolve("in.safetensors"), in, Map.of());
        }
        Run r = run(new ForwardCommand(), "--checkpoint", ckpt.toString(), "--in", dir.resolve("in.safetensors").toString(),
                "--out", dir.resolve("out.safetensors").toString());
        assertEquals(0, r.code(), r.err());
        try (SafetensorsFile f = Safetensors.read(dir.resolve("out.safetensors"));
             PolicyValueModel m = Checkpoint.load(ckpt)) {
            Tensor logits = f.tensors().get("logits"), values = f.tensors().get("values");
            assertArrayEquals(new long[] {2, 4, 11}, logits.shape());
            assertArrayEquals(new long[] {2, 4}, values.shape());
            assertEquals(DType.F32, logits.dtype());
            // Row 1 is left-padded by one: its real tokens equal the unpadded sequence 5, 6, 7 run alone.
            var alone = m.forward(new int[] {5, 6, 7}, null, 1, 3);
            for (int t = 0; t < 3; t++) {
                for (int v = 0; v < 11; v++) {
                    assertEquals(alone.logits().getDouble(t * 11L + v), logits.getDouble((4 + 1 + t) * 11L + v), 1e-5);
                }
                assertEquals(alone.values().getDouble(t), values.getDouble(4 + 1 + t), 1e-5);
            }
            for (int v = 0; v < 11; v++) assertEquals(0.0, logits.getDouble(4 * 11L + v));   // masked position → 0
            assertEquals(0.0, values.getDouble(4));
        }
    }

    @Test
    void forwardRejectsBadInputWithoutWritingOutput(@TempDir Path dir) throws Exception {
        Path ckpt = checkpoint(dir.resolve("ckpt"), 11);
        try (Arena a = Arena.ofConfined()) {
            Safetensors.write(dir.resolve("noids.safetensors"), Map.of("tokens", Tensor.ofLongs(a, new long[] {1}, 1, 1)), Map.of());
            Safetensors.write(dir.resolve("range.safetensors"), Map.of("input_ids", Tensor.ofInts(a, new int[] {1, 11}, 1, 2)), Map.of());
        }
        CommandLine cl = new CommandLine(new ForwardCommand());
        Exception[] caught = new Exception[1];
        cl.setExecutionExceptionHandler((e, c, p) -> {
            caught[0] = e;
            return 2;
        });
        int code = cl.execute("--checkpoint", ckpt.toString(), "--in", dir.resolve("noids.safetensors").toString(),
                "--out", dir.resolve("out.safetensors").toString());
        assertEquals(2, code);
        assertTrue(caught[0].getMessage().contains("missing tensor input_ids"), caught[0].getMessage());
        code = cl.execute("--checkpoint", ckpt.toString(), "--in", dir.resolve("range.safetensors").toString(),
                "--out", dir.resolve("out.safetensors").toString());
        assertEquals(2, code);
        assertTrue(caught[0].getMessage().contains("input_ids[0, 1] = 11"), caught[0].getMessage());
        assertFalse(Files.exists(dir.resolve("out.safetensors")));
    }

    @Test
    void generateProducesReproducibleText(@TempDir Path dir) throws Exception {
        Path ckpt = checkpoint(dir.resolve("ckpt"), ByteTokenizer.VOCAB_SIZE);
        String[] args = {"--checkpoint", ckpt.toString(), "--prompt", "Hello", "--prompt", "Hi there",
                "--max-new-tokens", "8", "--seed", "5", "--top-k", "50", "--top-p", "0.95", "--temperature", "0.9"};
        Run a = run(new GenerateCommand(), args);
        Run b = run(new GenerateCommand(), args);
        assertEquals(0, a.code(), a.err());
        assertEquals(a.out(), b.out());
        assertTrue(a.out().startsWith("Hello"), a.out());
        assertTrue(a.out().contains("\nHi there"), a.out());
        assertTrue(a.out().length() > "Hello\n\nHi there\n".length(), a.out());
        args[9] = "6";   // the --seed value
        Run c = run(new GenerateCommand(), args);
        assertEquals(0, c.code(), c.err());
        assertNotEquals(a.out(), c.out());
        Run g = run(new GenerateCommand(), "--checkpoint", ckpt.toString(), "--prompt", "x", "--greedy", "--max-new-tokens", "4");
        assertEquals(0, g.code(), g.err());
    }
}
