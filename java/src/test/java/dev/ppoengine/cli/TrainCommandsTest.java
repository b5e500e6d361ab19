package dev.ppoengine.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The three RLHF commands end to end on a tiny model: {@code ppo sft} → {@code ppo train-rm} → {@code ppo train
 * --checkpoint SFT --reward-model RM}, and their one-line usage errors (exit 2).
 */
class TrainCommandsTest {
    @TempDir Path dir;

    private static final String[] TINY = {"--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--n-positions", "24", "--no-progress"};

    /** Main's command line, with the training commands added when Main does not register them (yet). */
    static CliRunner.Result run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int code;
        try (PrintWriter o = new PrintWriter(out); PrintWriter e = new PrintWriter(err)) {
            var cl = Main.commandLine(o, e);
            if (!cl.getSubcommands().containsKey("train")) cl.addSubcommand(new TrainCommand());
            if (!cl.getSubcommands().containsKey("sft")) cl.addSubcommand(new SftCommand());
            if (!cl.getSubcommands().containsKey("train-rm")) cl.addSubcommand(new TrainRmCommand());
            // setOut/setErr reach the subcommands present when called: call again for the ones just added.
            cl.setOut(o);
            cl.setErr(e);
            code = cl.execute(args);
        }
        return new CliRunner.Result(code, out.toString(), err.toString());
    }

    private static String[] args(String... a) {
        List<String> l = new ArrayList<>(List.of(a));
        l.addAll(List.of(TINY));
        return l.toArray(String[]::new);
    }

    @Test
    void sftThenRewardModelThenPpo() throws IOException {
        Path sft = dir.resolve("sft"), rm = dir.resolve("rm");
        CliRunner.Result r = run(args("sft", "--task", "sort-digits", "--examples", "160", "--batch-size", "16", "--lr", "3e-3",
                "--out", sft.toString(), "--backend", "reference"));
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.out().contains("held-out loss"), r.toString());
        assertTrue(Files.isRegularFile(sft.resolve("model.safetensors")) && Files.isRegularFile(sft.resolve("config.json")));

        Path pairs = dir.resolve("pairs.jsonl");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 40; i++) {
            String d = Integer.toString(100 + 7 * i);
            String sorted = d.chars().sorted().collect(StringBuilder::new, StringBuilder::appendCodePoint, StringBuilder::append).toString();
            sb.append("{\"prompt\": \"").append(d).append("=\", \"chosen\": \"").append(sorted)
                    .append("\", \"rejected\": \"").append(new StringBuilder(sorted).reverse()).append("\"}\n");
        }
        Files.writeString(pairs, sb.toString());
        r = run(args("train-rm", "--data", pairs.toString(), "--epochs", "3", "--batch-size", "8", "--out", rm.toString()));
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.out().contains("pairwise accuracy") && r.out().contains("held-out"), r.toString());
        assertTrue(Files.isRegularFile(rm.resolve("model.safetensors")));

        r = run("train", "--checkpoint", sft.toString(), "--reward-model", rm.toString(), "--steps", "2", "--batch-size", "8",
                "--mini-batch-size", "4", "--max-new-tokens", "7", "--output-dir", dir.resolve("runs").toString(), "--name", "p",
                "--backend", "reference", "--no-progress", "--set", "eval_prompts=8");
        assertEquals(0, r.code(), r.toString());
        Path run = dir.resolve("runs").resolve("p");
        assertEquals(run.toString(), r.out().strip());
        assertEquals(2, Files.readAllLines(run.resolve("metrics.jsonl")).size());
        assertTrue(Files.readString(run.resolve("checkpoints/step-000002/trainer_state.json")).contains(sft.toAbsolutePath().toString()),
                "the reference is the SFT checkpoint");
    }

    @Test
    void badCommandLinesAreOneLineUsageErrors() throws IOException {
        CliRunner.Result r = run("train", "--set", "mini_batch_size=5", "--no-progress");
        assertEquals(CliException.USAGE, r.code(), r.toString());
        assertEquals(List.of("ppo: error: invalid config: batch_size (64) must be divisible by mini_batch_size (5)"), r.errLines());

        r = run("train", "--set", "klcoef=1");
        assertEquals(CliException.USAGE, r.code(), r.toString());
        assertEquals(1, r.errLines().size(), r.toString());
        assertTrue(r.err().startsWith("ppo: error: invalid config: unknown key 'klcoef'"), r.toString());

        r = run("train", "--set", "steps");
        assertEquals(CliException.USAGE, r.code(), r.toString());

        Path cfg = dir.resolve("c.yaml");
        Files.writeString(cfg, "ppo_epochs: 0\n");
        r = run("train", "--config", cfg.toString());
        assertEquals(CliException.USAGE, r.code(), r.toString());
        assertTrue(r.err().contains("ppo_epochs must be > 0"), r.toString());

        r = run("train", "--resume", dir.toString(), "--config", cfg.toString());
        assertEquals(CliException.USAGE, r.code(), r.toString());

        r = run(args("sft", "--out", dir.resolve("x").toString()));
        assertEquals(CliException.USAGE, r.code(), r.toString());
        assertEquals(List.of("ppo: error: give exactly one of --data FILE.jsonl and --task NAME"), r.errLines());

        r = run(args("train-rm", "--task", "add", "--epochs", "0", "--out", dir.resolve("x").toString()));
        assertEquals(CliException.USAGE, r.code(), r.toString());

        r = run(args("train-rm", "--data", dir.resolve("missing.jsonl").toString(), "--out", dir.resolve("x").toString()));
        assertEquals(CliException.INPUT, r.code(), r.toString());
        assertTrue(r.err().contains("does not exist"), r.toString());
    }
}
