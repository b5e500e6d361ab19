package dev.ppoengine.cli;

import dev.ppoengine.model.Checkpoint;
import dev.ppoengine.model.GenerationResult;
import dev.ppoengine.model.Generator;
import dev.ppoengine.model.GptConfig;
import dev.ppoengine.model.PolicyValueModel;
import dev.ppoengine.model.SamplingOptions;
import dev.ppoengine.model.Tokenizer;
import dev.ppoengine.model.Tokenizers;
import dev.ppoengine.train.TextCodec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code ppo generate --checkpoint DIR --prompt TEXT [--prompt TEXT]... [sampling flags]}: loads a checkpoint
 * (config.json + model.safetensors, tokenizer.json if present, else the byte tokenizer), generates a continuation for
 * each prompt (batched, left-padded, KV cache) and prints prompt + continuation, one block per prompt. The same seed
 * gives the same text. Bad input throws IllegalArgumentException/IOException, which the CLI prints as one line.
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate text from a checkpoint (GPT-2 layout) with greedy or top-k/top-p sampling.")
public final class GenerateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--checkpoint", required = true, paramLabel = "DIR", description = "checkpoint directory (config.json + model.safetensors)")
    Path checkpoint;

    @Option(names = "--prompt", required = true, paramLabel = "TEXT", description = "prompt text; repeat for a batch")
    List<String> prompts;

    @Option(names = "--max-new-tokens", defaultValue = "64", description = "tokens to generate at most (default ${DEFAULT-VALUE})")
    int maxNewTokens;

    @Option(names = "--temperature", defaultValue = "1.0", description = "sampling temperature > 0 (default ${DEFAULT-VALUE})")
    double temperature;

    @Option(names = "--top-k", defaultValue = "0", description = "keep the k most likely tokens, 0 = off (default ${DEFAULT-VALUE})")
    int topK;

    @Option(names = "--top-p", defaultValue = "1.0", description = "nucleus sampling mass in (0, 1], 1 = off (default ${DEFAULT-VALUE})")
    double topP;

    @Option(names = "--seed", defaultValue = "0", description = "random seed (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--greedy", description = "take the most likely token each step (ignores temperature/top-k/top-p)")
    boolean greedy;

    @Override
    public Integer call() throws Exception {
        try (PolicyValueModel model = Checkpoint.load(checkpoint)) {
            GptConfig cfg = model.config();
            try (Tokenizer tok = Tokenizers.forCheckpoint(checkpoint, cfg); Generator gen = new Generator(model)) {
                int eos = cfg.eosTokenId() >= 0 ? cfg.eosTokenId() : tok.eosTokenId();
                if (eos >= cfg.vocabSize()) eos = -1;
                int pad = tok.padTokenId() >= 0 && tok.padTokenId() < cfg.vocabSize() ? tok.padTokenId() : 0;
                SamplingOptions o = new SamplingOptions(maxNewTokens, greedy, temperature, topK, topP, seed, eos, pad);
                List<int[]> ids = new ArrayList<>();
                for (int i = 0; i < prompts.size(); i++) {
                    // The trainer's rule ([BOS] + bytes for the byte tokenizer), so a trained checkpoint sees its prompts
                    // as in training; an empty encoding is an error naming the prompt.
                    ids.add(TextCodec.encodePrompt(tok, prompts.get(i)));
                }
                GenerationResult r = gen.generate(ids, o);
                PrintWriter out = spec.commandLine().getOut();
                for (int i = 0; i < prompts.size(); i++) {
                    if (i > 0) out.println();
                    out.println(prompts.get(i) + tok.decode(r.tokens()[i], true));
                }
                out.flush();
            }
        }
        return 0;
    }
}
