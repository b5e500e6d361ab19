#!/usr/bin/env python3
"""Turns the JMH JSON of one benchmarks/run into the results table benchmarks/results/DATE-MACHINE.md.

Usage: report.py META.json OUT.md RAW.json...
  META.json  written by benchmarks/run: machine, JDK, commit, threads, JMH settings, backend availability, logs
  RAW.json   JMH -rf json files (one per JMH invocation); merged into OUT.json beside OUT.md

Per benchmark: the median of the measurement iterations (JMH scorePercentiles 50.0) and JMH's error (half-width of
the 99.9% confidence interval of the mean; "-" with a single iteration). Ratios are median over median, within this
run: cpu vs torch per op, token_logprobs cpu bytes/s vs the read bandwidth (MemoryBandwidthBenchmark.read), gae cpu vs
the torch loop, policy_loss + value_loss cpu vs torch. The targets of issue 3 are marked met or missed; so are those
of issue 7 (linear_token_logprobs) and issue 5 (model forward+backward tokens/s vs the same GEMMs alone).
"""
import json
import math
import re
import sys

PKG = "dev.ppoengine.bench."
DTYPE_BYTES = {"f32": 4, "bf16": 2, "f16": 2}

# Targets of issue 3 (JMH on the project's 2-core machine, ratios within one run).
TARGET_TL_TORCH = 15.0
TARGET_TL_BW = 0.60
TARGET_GAE = 200.0
TARGET_LOSSES = 10.0


def load_results(paths):
    rows = []
    for p in paths:
        with open(p) as f:
            text = f.read().strip()
        if not text:
            continue
        for r in json.loads(text):
            name = r["benchmark"][len(PKG):] if r["benchmark"].startswith(PKG) else r["benchmark"]
            pm = r["primaryMetric"]
            median = pm.get("scorePercentiles", {}).get("50.0", pm["score"])
            err = pm.get("scoreError")
            if isinstance(err, str) or err is None or (isinstance(err, float) and math.isnan(err)):
                err = None
            raw = [x for fork in pm.get("rawData", []) for x in fork]
            rows.append({
                "name": name, "params": r.get("params", {}), "median": float(median), "error": err,
                "unit": pm["scoreUnit"], "n": len(raw), "forks": r.get("forks"), "threads": r.get("threads"),
                "json": r,
            })
    return rows


def parse_failures(log_path):
    """Benchmarks that JMH reported as failed in a run log: name, parameters and the exception line."""
    found = []
    bench, params, expect_error = None, "", False
    try:
        with open(log_path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return found
    for line in lines:
        if line.startswith("# Benchmark: "):
            bench = line[len("# Benchmark: "):].strip()
            bench = bench[len(PKG):] if bench.startswith(PKG) else bench
            params = ""
        elif line.startswith("# Parameters: "):
            params = line[len("# Parameters: "):].strip().strip("()")
        elif line.strip().endswith("<failure>"):
            expect_error = True
        elif expect_error and line.strip():
            found.append({"benchmark": bench or "?", "params": params or "-", "error": line.strip()})
            expect_error = False
    return found


def to_seconds(value, unit):
    scale = {"s/op": 1.0, "ms/op": 1e-3, "us/op": 1e-6, "ns/op": 1e-9}
    if unit not in scale:
        raise SystemExit("report.py: unexpected JMH unit " + unit)
    return value * scale[unit]


def fmt_ms(sec):
    ms = sec * 1e3
    if ms >= 100:
        return "%.1f" % ms
    if ms >= 1:
        return "%.3f" % ms
    return "%.4f" % ms


def fmt_err(row):
    if row["error"] is None:
        return "-"
    return fmt_ms(to_seconds(row["error"], row["unit"]))


def params_text(params, drop=("backend",)):
    return ", ".join("%s=%s" % (k, v) for k, v in sorted(params.items()) if k not in drop) or "-"


def find(rows, name, backend=None, **params):
    for r in rows:
        if r["name"] != name:
            continue
        p = r["params"]
        if backend is not None and p.get("backend") != backend:
            continue
        if all(str(p.get(k)) == str(v) for k, v in params.items()):
            return r
    return None


def secs(row):
    return to_seconds(row["median"], row["unit"])


def status(value, target):
    if value is None:
        return "not measured"
    return "met" if value >= target else "**MISSED**"


LINEAR_MEMORY = re.compile(r"\[linear_token_logprobs memory\] impl=(\S+) n=(\d+) h=(\d+) v=(\d+) "
                           r"extra_bytes=(\S+) logits_f32_bytes=(\d+)")
TARGET_LINEAR_TIME = 1.2     # issue 7: fused ≤ 1.2 × the bare GEMMs of the same shapes
TARGET_LINEAR_MEMORY = 0.05  # issue 7: fused workspace ≤ 5% of the f32 logits


def linear_section(w, rows, logs):
    """linear_token_logprobs (issue 7): each impl's time and its ratio to the bare GEMMs, and the extra memory each
    impl allocates (printed by the benchmark's setup into the run log)."""
    lin = [r for r in rows if r["name"].startswith("LinearTokenLogprobsBenchmark.")]
    if not lin:
        return
    memory = {}
    for log in logs:
        try:
            with open(log, errors="replace") as f:
                for m in LINEAR_MEMORY.finditer(f.read()):
                    memory[(m.group(1), m.group(2), m.group(3), m.group(4))] = (m.group(5), int(m.group(6)))
        except OSError:
            pass
    w("## linear_token_logprobs (issue 7)")
    w("")
    w("`fused`: the engine's op (OpenBLAS tiles + native fold, no [n, v] logits); `materialised`: sgemm into [n, v] "
      "then the cpu token_logprobs (+ backward and the two gradient sgemms); `torch`: linear + log_softmax/gather + "
      "entropy, autograd backward; `gemm`: the bare sgemms of the same shapes (forward: 1, forwardBackward: 3).")
    w("")
    w("| method | n, h, v | impl | median ms | ÷ gemm | extra memory | of f32 logits |")
    w("|---|---|---|---|---|---|---|")
    for r in sorted(lin, key=lambda r: (r["name"], r["params"].get("n"), r["params"].get("impl"))):
        p = r["params"]
        gemm = find(rows, r["name"], impl="gemm", n=p.get("n"), h=p.get("h"), v=p.get("v"))
        ratio = "%.2f×" % (secs(r) / secs(gemm)) if gemm else "-"
        mem = memory.get((p.get("impl"), p.get("n"), p.get("h"), p.get("v")))
        if mem and mem[0] != "unmeasured":
            extra, share = "%.1f MiB" % (int(mem[0]) / 2 ** 20), "%.1f%%" % (100.0 * int(mem[0]) / mem[1])
        else:
            extra, share = ("not measured", "-") if mem else ("-", "-")
        w("| %s | %s, %s, %s | %s | %s | %s | %s | %s |" % (r["name"].split(".")[-1], p.get("n"), p.get("h"), p.get("v"),
                                                          p.get("impl"), fmt_ms(secs(r)), ratio, extra, share))
    w("")
    fused = find(rows, "LinearTokenLogprobsBenchmark.forward", impl="fused", n="4096", h="1024", v="32000")
    gemm = find(rows, "LinearTokenLogprobsBenchmark.forward", impl="gemm", n="4096", h="1024", v="32000")
    mem = memory.get(("fused", "4096", "1024", "32000"))
    rt = secs(fused) / secs(gemm) if fused and gemm else None
    rm = int(mem[0]) / mem[1] if mem and mem[0] != "unmeasured" else None
    w("| target (4096 × 1024 × 32000 f32) | measured | required | status |")
    w("|---|---|---|---|")
    w("| fused forward ÷ bare GEMM | %s | ≤ %g× | %s |" % ("%.2f×" % rt if rt else "-", TARGET_LINEAR_TIME,
                                                       status_at_most(rt, TARGET_LINEAR_TIME)))
    w("| fused workspace ÷ f32 logits | %s | ≤ %d%% | %s |" % ("%.1f%%" % (100 * rm) if rm is not None else "-",
                                                            round(100 * TARGET_LINEAR_MEMORY),
                                                            status_at_most(rm, TARGET_LINEAR_MEMORY)))
    w("")


MODEL_GEMMS = re.compile(r"\[model gemms\] impl=(\S+) batch=(\d+) seqLen=(\d+) layers=(\d+) width=(\d+) "
                         r"heads=(\d+) vocab=(\d+) calls=(\d+) flops=(\d+)")
TARGET_MODEL = 1.5           # issue 5: model forward+backward within 1.5 × the time of its GEMMs alone
MODEL_SHAPE = {"layers": "6", "width": "384", "heads": "6", "vocab": "8192", "seqLen": "256"}


def model_section(w, rows, logs):
    """Model forward+backward (issue 5): tokens/s of the model, of its GEMMs alone through the model's Blas path
    (the GEMM-bound limit) and through plain multi-threaded OpenBLAS, the ratios and the target."""
    model = [r for r in rows if r["name"] == "ModelBenchmark.forwardBackward"]
    if not model:
        return
    gemms = {}
    for log in logs:
        try:
            with open(log, errors="replace") as f:
                for m in MODEL_GEMMS.finditer(f.read()):
                    gemms[m.group(2, 3, 4, 5, 6, 7)] = (int(m.group(8)), float(m.group(9)))
        except OSError:
            pass
    w("## model (issue 5)")
    w("")
    w("One training step of PolicyValueModel: forward with logits at every position and values, then backward from "
      "fixed random d logits / d values (GPT-2 init, fixed seed). `gemm`: exactly the products that step makes (every "
      "layer's qkv, attention out-proj, MLP fc and proj, forward and both backward GEMMs each; the per-(sequence, head) "
      "attention score/value GEMMs, forward and backward with the recomputed scores; the tied LM head and its two "
      "backward GEMMs; the value head's weight gradient), same shapes, through the model's own Blas path (OpenBLAS "
      "single-threaded, large products split on the model's pool) and nothing else: the GEMM-bound limit. `openblas`: "
      "the same products as plain multi-threaded OpenBLAS calls, unsplit. tokens/s = batch·seqLen / median time.")
    w("")
    w("| batch × seqLen | layers, width, heads, vocab | model ms | model tokens/s | gemm ms | gemm tokens/s | "
      "model ÷ gemm | gemm GFLOP/s | openblas ms | openblas ÷ gemm |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    shape_keys = ("layers", "width", "heads", "vocab", "seqLen")
    seen = set()
    for r in sorted(model, key=lambda r: tuple(int(r["params"].get(k, 0)) for k in ("layers", "width", "vocab", "seqLen", "batch"))):
        p = r["params"]
        key = tuple(p.get(k) for k in ("batch",) + shape_keys)
        if key in seen:
            continue
        seen.add(key)
        same = {k: p.get(k) for k in ("batch",) + shape_keys}
        mo, ge, ob = (find(rows, r["name"], impl=i, **same) for i in ("model", "gemm", "openblas"))
        tokens = int(p["batch"]) * int(p["seqLen"])
        info = gemms.get((p["batch"], p["seqLen"], p["layers"], p["width"], p["heads"], p["vocab"]))
        w("| %s × %s | %s, %s, %s, %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            p["batch"], p["seqLen"], p["layers"], p["width"], p["heads"], p["vocab"],
            fmt_ms(secs(mo)) if mo else "-", "%.0f" % (tokens / secs(mo)) if mo else "-",
            fmt_ms(secs(ge)) if ge else "-", "%.0f" % (tokens / secs(ge)) if ge else "-",
            "%.2f×" % (secs(mo) / secs(ge)) if mo and ge else "-",
            "%.1f" % (info[1] / secs(ge) / 1e9) if info and ge else "-",
            fmt_ms(secs(ob)) if ob else "-", "%.2f×" % (secs(ob) / secs(ge)) if ob and ge else "-"))
    w("")
    w("| target (6 layers, 384 wide, vocab 8192, T = 256) | measured (model ÷ gemm time) | required | status |")
    w("|---|---|---|---|")
    for b in ("1", "4"):
        mo = find(rows, "ModelBenchmark.forwardBackward", impl="model", batch=b, **MODEL_SHAPE)
        ge = find(rows, "ModelBenchmark.forwardBackward", impl="gemm", batch=b, **MODEL_SHAPE)
        ratio = secs(mo) / secs(ge) if mo and ge else None
        w("| forward+backward tokens/s within %g× of the GEMM-bound limit, B = %s | %s | ≤ %g× | %s |"
          % (TARGET_MODEL, b, "%.2f×" % ratio if ratio else "-", TARGET_MODEL, status_at_most(ratio, TARGET_MODEL)))
    w("")


def status_at_most(value, target):
    if value is None:
        return "not measured"
    return "met" if value <= target else "**MISSED**"


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    meta_path, out_md = sys.argv[1], sys.argv[2]
    with open(meta_path) as f:
        meta = json.load(f)
    rows = load_results(sys.argv[3:])
    with open(re.sub(r"\.md$", "", out_md) + ".json", "w") as f:
        json.dump([r["json"] for r in rows], f, indent=1)

    out = []
    w = out.append
    w("# ppo-engine benchmarks: %s, %s" % (meta["date"], meta["machine"]))
    w("")
    if meta.get("smoke"):
        w("**Smoke run** (tiny sizes, 1 fork, 1 short iteration): proves the benchmarks run; the numbers mean nothing.")
        w("")
    w("| | |")
    w("|---|---|")
    w("| CPU | %s (%s cores; %s) |" % (meta["cpu"], meta["cores"], meta["isa"]))
    w("| memory | %s |" % meta["memory"])
    w("| OS kernel | %s |" % meta["kernel"])
    w("| JDK | %s |" % meta["jdk"])
    w("| commit | %s |" % meta["commit"])
    w("| PyTorch (torch baseline) | %s |" % meta.get("torch", "-"))
    w("| threads | %s (cpu backend default, torch intra-op pool, bandwidth benchmark) |" % meta["threads"])
    w("| load average (1/5/15 min) | at start %s, at end %s |" % (meta.get("load_start", "-"), meta.get("load_end", "-")))
    w("| JMH | %s |" % meta["jmh"])
    w("| command | `%s` |" % meta["command"])
    w("")
    busy = []
    for key in ("load_start", "load_end"):
        try:
            if float(meta.get(key, "0").split()[0]) > 0.5 * int(meta["cores"]):
                busy.append(key.replace("load_", ""))
        except (ValueError, IndexError):
            pass
    if busy:
        w("**Warning: the machine was busy (1-min load above half the core count at the %s of the run).** With more "
          "runnable threads than cores, spinning thread pools (PyTorch's OpenMP, the cpu backend's workers) slow down "
          "by up to an order of magnitude: rerun on an idle machine before trusting these figures." % " and ".join(busy))
        w("")
    w("Backends:")
    w("")
    for b in meta.get("backends", []):
        w("- `%s`: %s" % (b["name"], b["status"] + (" — " + b["detail"] if b.get("detail") else "")))
    w("")
    w("Time per call: the **median** of the measurement iterations (ms), with JMH's error (half-width of the 99.9% "
      "confidence interval of the mean; \"-\" where there was a single iteration). Ratios are median / median within "
      "this run. `reference` is the f64 oracle, measured once (no warm-up, one iteration) and only at v = 32000 for "
      "token_logprobs: its figures are indicative only.")
    w("")

    # ---- bandwidth ----
    bw_read = find(rows, "MemoryBandwidthBenchmark.read")
    bw_copy = find(rows, "MemoryBandwidthBenchmark.copy")
    read_bps = None
    if bw_read:
        nbytes = int(bw_read["params"]["bytes"])
        read_bps = nbytes / secs(bw_read)

    # ---- targets ----
    w("## Targets (issue 3)")
    w("")
    w("| target | measured | required | status |")
    w("|---|---|---|---|")
    tl_cpu = find(rows, "TokenLogprobsBenchmark.forward", "cpu", n=4096, v=32000, dtype="f32")
    tl_torch = find(rows, "TokenLogprobsBenchmark.forward", "torch", n=4096, v=32000, dtype="f32")
    r1 = secs(tl_torch) / secs(tl_cpu) if tl_cpu and tl_torch else None
    w("| token_logprobs + entropy forward, 4096 × 32000 f32: cpu vs torch | %s | ≥ %g× | %s |"
      % ("%.1f×" % r1 if r1 else "-", TARGET_TL_TORCH, status(r1, TARGET_TL_TORCH)))
    r2 = None
    if tl_cpu and read_bps:
        achieved = 4096 * 32000 * 4 / secs(tl_cpu)
        r2 = achieved / read_bps
        m2 = "%.0f%% (%.2f GB/s of %.2f GB/s)" % (100 * r2, achieved / 1e9, read_bps / 1e9)
    else:
        m2 = "-"
    w("| the same: logits bytes/s ÷ measured read bandwidth | %s | ≥ %d%% | %s |"
      % (m2, round(100 * TARGET_TL_BW), status(r2, TARGET_TL_BW)))
    g_cpu = find(rows, "GaeBenchmark.gae", "cpu", size="64x1024")
    g_torch = find(rows, "GaeBenchmark.gae", "torch", size="64x1024")
    r3 = secs(g_torch) / secs(g_cpu) if g_cpu and g_torch else None
    w("| gae, b=64 t=1024: cpu vs the torch per-timestep loop | %s | ≥ %g× | %s |"
      % ("%.0f×" % r3 if r3 else "-", TARGET_GAE, status(r3, TARGET_GAE)))
    pl = [find(rows, n, b, size="512x1024") for n in ("PolicyLossBenchmark.policyLoss", "ValueLossBenchmark.valueLoss")
          for b in ("cpu", "torch")]
    r4 = None
    if all(pl):
        r4 = (secs(pl[1]) + secs(pl[3])) / (secs(pl[0]) + secs(pl[2]))
    w("| policy_loss + value_loss fwd+bwd, b=512 t=1024: cpu vs torch | %s | ≥ %g× | %s |"
      % ("%.1f×" % r4 if r4 else "-", TARGET_LOSSES, status(r4, TARGET_LOSSES)))
    w("")
    if any(s == "**MISSED**" for s in (status(r1, TARGET_TL_TORCH), status(r2, TARGET_TL_BW), status(r3, TARGET_GAE),
                                       status(r4, TARGET_LOSSES))):
        w("A missed target is explained below (Notes) with a profile, rather than by tuning the benchmark.")
        w("")

    # ---- cpu vs torch per op ----
    w("## cpu vs torch, per op")
    w("")
    w("| benchmark | parameters | cpu ms | torch ms | torch / cpu | reference ms |")
    w("|---|---|---|---|---|---|")
    seen = set()
    for r in rows:
        if r["name"].startswith(("MemoryBandwidth", "LinearTokenLogprobs", "ModelBenchmark")):
            continue   # no backend parameter: its own section below
        key = (r["name"], params_text(r["params"]))
        if key in seen:
            continue
        seen.add(key)
        other = {k: v for k, v in r["params"].items() if k != "backend"}
        c = find(rows, r["name"], "cpu", **other)
        t = find(rows, r["name"], "torch", **other)
        ref = find(rows, r["name"], "reference", **other)
        ratio = "%.1f×" % (secs(t) / secs(c)) if c and t else "-"
        w("| %s | %s | %s | %s | %s | %s |" % (r["name"], key[1], fmt_ms(secs(c)) if c else "-",
                                              fmt_ms(secs(t)) if t else "-", ratio, fmt_ms(secs(ref)) if ref else "-"))
    w("")

    # ---- bandwidth ----
    w("## Memory bandwidth (the roofline)")
    w("")
    if bw_read:
        w("- read (sum as 64-bit integers): %s bytes in %s ms = **%.2f GB/s**"
          % (bw_read["params"]["bytes"], fmt_ms(secs(bw_read)), read_bps / 1e9))
    if bw_copy:
        nbytes = int(bw_copy["params"]["bytes"])
        w("- copy: %s bytes in %s ms = %.2f GB/s copied (%.2f GB/s read + written)"
          % (nbytes, fmt_ms(secs(bw_copy)), nbytes / secs(bw_copy) / 1e9, 2 * nbytes / secs(bw_copy) / 1e9))
    if not bw_read and not bw_copy:
        w("- not measured in this run")
    w("")
    tl_rows = [r for r in rows if r["name"] == "TokenLogprobsBenchmark.forward"]
    if tl_rows:
        w("token_logprobs forward, logits bytes per second (n·v·sizeof(dtype) / time)%s:"
          % (" and share of the read bandwidth" if read_bps else ""))
        w("")
        w("| backend | parameters | GB/s | of read bandwidth |")
        w("|---|---|---|---|")
        for r in tl_rows:
            p = r["params"]
            nbytes = int(p["n"]) * int(p["v"]) * DTYPE_BYTES.get(p["dtype"], 4)
            bps = nbytes / secs(r)
            share = "%.0f%%" % (100 * bps / read_bps) if read_bps else "-"
            w("| %s | %s | %.2f | %s |" % (p["backend"], params_text(p), bps / 1e9, share))
        w("")

    linear_section(w, rows, meta.get("logs", []))
    model_section(w, rows, meta.get("logs", []))

    # ---- everything ----
    w("## All results")
    w("")
    w("| benchmark | backend | parameters | median ms | error ms | iterations |")
    w("|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (r["name"], params_text(r["params"]), r["params"].get("backend", ""))):
        w("| %s | %s | %s | %s | %s | %d |" % (r["name"], r["params"].get("backend", "-"), params_text(r["params"]),
                                               fmt_ms(secs(r)), fmt_err(r), r["n"]))
    w("")

    failures = [f for log in meta.get("logs", []) for f in parse_failures(log)]
    if failures:
        w("## Benchmarks that failed")
        w("")
        for f in failures:
            w("- %s (%s): %s" % (f["benchmark"], f["params"], f["error"]))
        w("")
    skipped = meta.get("skipped", [])
    if skipped:
        w("## Not run")
        w("")
        for s in skipped:
            w("- " + s)
        w("")
    w("## Notes")
    w("")
    w("- Baselines: see benchmarks/README.md (what each torch baseline computes, and why its figures are if anything "
      "optimistic for PyTorch: Java→JNI op dispatch is cheaper than Python's).")
    w("")
    with open(out_md, "w") as f:
        f.write("\n".join(out))
    print("wrote " + out_md)


if __name__ == "__main__":
    main()
