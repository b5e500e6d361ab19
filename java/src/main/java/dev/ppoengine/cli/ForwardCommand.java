package dev.ppoengine.cli;

import dev.ppoengine.model.Checkpoint;
import dev.ppoengine.model.ModelOutput;
import dev.ppoengine.model.PolicyValueModel;
import dev.ppoengine.tensor.Safetensors;
import dev.ppoengine.tensor.SafetensorsFile;
import dev.ppoengine.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code ppo forward --checkpoint DIR --in IN.safetensors --out OUT.safetensors}: one forward of the policy/value
 * model, for cross-checking against PyTorch. Reads {@code input_ids} [B, T] (i32 or i64) and optional
 * {@code attention_mask} [B, T] (any mask dtype, nonzero = valid; left padding as HF: position ids = cumsum − 1);
 * writes {@code logits} [B, T, V] and {@code values} [B, T] as f32. Positions where the mask is 0 are written as 0
 * (their outputs carry no meaning, HF's included). Bad input is an error naming the tensor; no output file is written.
 */
@Command(name = "forward", mixinStandardHelpOptions = true,
        description = "Run the policy/value model on input_ids (+ attention_mask) and write logits and values.")
public final class ForwardCommand implements Callable<Integer> {

    @Option(names = "--checkpoint", required = true, paramLabel = "DIR", description = "checkpoint directory (config.json + model.safetensors)")
    Path checkpoint;

    @Option(names = "--in", required = true, paramLabel = "IN.safetensors", description = "input_ids [B, T] and optional attention_mask [B, T]")
    Path in;

    @Option(names = "--out", required = true, paramLabel = "OUT.safetensors", description = "gets logits [B, T, V] and values [B, T] (f32)")
    Path out;

    @Override
    public Integer call() throws Exception {
        try (PolicyValueModel model = Checkpoint.load(checkpoint); SafetensorsFile input = Safetensors.read(in)) {
            Map<String, Tensor> t = input.tensors();
            Tensor ids = t.get("input_ids");
            if (ids == null) throw new IllegalArgumentException(in + ": missing tensor input_ids [B, T] (i32 or i64)");
            Tensor mask = t.get("attention_mask");
            ModelOutput o = model.forward(ids, mask);
            if (mask != null) {
                long vocab = o.logits().dim(2);
                long n = o.values().numel();
                for (long i = 0; i < n; i++) {
                    if (mask.isSet(i)) continue;
                    o.values().setFloat(i, 0);
                    for (long j = 0; j < vocab; j++) o.logits().setFloat(i * vocab + j, 0);
                }
            }
            Map<String, Tensor> result = new LinkedHashMap<>();
            result.put("logits", o.logits());
            result.put("values", o.values());
            Safetensors.write(out, result, Map.of("format", "pt"));
        }
        return 0;
    }
}
