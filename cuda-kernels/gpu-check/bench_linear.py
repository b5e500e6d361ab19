#!/usr/bin/env python3
"""
bench_linear.py — linear_token_logprobs (ppo_linear_token_logprobs[_backward] of libppo_cuda.so) on one GPU against
the bare GEMMs of the same shapes and against PyTorch eager doing what trl does (logits = hidden @ weightᵀ in bf16,
then .float(), logsumexp, gather, softmax·logits for the entropy; autograd for the backward). Issue 7's GPU size:
N=8192, H=4096, V=151936 bf16. Prints a markdown table: time, TFLOP/s (2·N·H·V per logits GEMM), the ratio to the
bare GEMMs, peak extra memory, max abs difference against an f32 reference on a subset of rows.

  python3 bench_linear.py --lib PATH/libppo_cuda.so [--quick] [--sweep]
"""
import argparse
import ctypes as C
import math
import sys

from bench_vs_torch import PPO_BF16, PPO_I64, bind, check, time_ms

H100_BF16_DENSE_TFLOPS = 989.4   # spec sheet, H100 SXM, dense (no sparsity)


def bench(lib_path, quick, sweep):
    import torch
    lib = bind(lib_path)
    dev = torch.device("cuda")
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = False
    n, h, v = (2048, 4096, 151936) if quick else (8192, 4096, 151936)
    stream = lambda: C.c_void_p(torch.cuda.current_stream().cuda_stream)
    ptr = lambda t: C.c_void_p(t.data_ptr()) if t is not None else None
    hid = torch.randn(n, h, device=dev).to(torch.bfloat16)
    w = (torch.randn(v, h, device=dev) * (3.0 / math.sqrt(h))).to(torch.bfloat16)
    labels = torch.randint(0, v, (n,), device=dev, dtype=torch.int64)
    gl = torch.randn(n, device=dev)
    ge = torch.randn(n, device=dev) * 0.1
    lp, ent, saved = torch.empty(n, device=dev), torch.empty(n, device=dev), torch.empty(n, 3, device=dev)
    gh, gw = torch.empty(n, h, device=dev), torch.empty(v, h, device=dev)
    used = C.c_int64(0)

    def fwd(rows_chunk=0, vocab_chunk=0, ws=0):
        check(lib, lib.ppo_linear_token_logprobs(stream(), ptr(hid), PPO_BF16, n, h, h, ptr(w), PPO_BF16, v, None, 0,
                                                 ptr(labels), PPO_I64, 1.0, 0, ptr(lp), ptr(ent), ptr(saved), ws,
                                                 rows_chunk, vocab_chunk, C.byref(used)), "linear_token_logprobs")
        return used.value

    def bwd(mode, rows_chunk=0, vocab_chunk=0, ws=0):
        check(lib, lib.ppo_linear_token_logprobs_backward(
            stream(), ptr(hid), PPO_BF16, n, h, h, ptr(w), PPO_BF16, v, None, 0, ptr(labels), PPO_I64, ptr(saved),
            ptr(gl), ptr(ge), 1.0, 0, ptr(gh), ptr(gw), None, 0, mode, ws, rows_chunk, vocab_chunk, C.byref(used)),
            "linear_token_logprobs_backward")
        return used.value

    # ---- accuracy on the first rows against an f32 reference of the same rounded inputs
    ws_fwd = fwd()
    k = 256
    zr = hid[:k].float() @ w.float().t()
    lse = torch.logsumexp(zr, -1)
    want_lp = zr.gather(-1, labels[:k, None]).squeeze(-1) - lse
    p = torch.softmax(zr, -1)
    mean = (p * zr).sum(-1)
    want_ent = lse - mean
    err_fwd = max((lp[:k] - want_lp).abs().max().item(), (ent[:k] - want_ent).abs().max().item())
    dz = gl[:k, None] * (torch.nn.functional.one_hot(labels[:k], v).float() - p) - ge[:k, None] * p * (zr - mean[:, None])
    want_gh = dz @ w.float()
    errs_bwd = {}
    ws_bwd = {}
    for mode in (1, 0):
        ws_bwd[mode] = bwd(mode)
        errs_bwd[mode] = (gh[:k] - want_gh).abs().max().item() / want_gh.abs().max().item()
    del zr, p, dz

    # ---- times
    t_fwd = time_ms(torch, fwd, reps=10)
    t_bwd_fast = time_ms(torch, lambda: bwd(1), reps=5)
    t_bwd_exact = time_ms(torch, lambda: bwd(0), reps=3, warmup=1)
    z16 = torch.empty(n, v, device=dev, dtype=torch.bfloat16)
    dz16 = torch.randn(n, v, device=dev).to(torch.bfloat16) * 1e-3
    dh16, dw16 = torch.empty(n, h, device=dev, dtype=torch.bfloat16), torch.empty(v, h, device=dev, dtype=torch.bfloat16)
    t_gemm = time_ms(torch, lambda: torch.mm(hid, w.t(), out=z16), reps=10)
    t_gemm_dh = time_ms(torch, lambda: torch.mm(dz16, w, out=dh16), reps=10)
    t_gemm_dw = time_ms(torch, lambda: torch.mm(dz16.t(), hid, out=dw16), reps=10)
    del z16, dz16, dh16, dw16
    t_bare3 = t_gemm + t_gemm_dh + t_gemm_dw

    def torch_fwd(requires_grad=False):
        x = hid.detach().requires_grad_(requires_grad)
        ww = w.detach().requires_grad_(requires_grad)
        z = (x @ ww.t()).float()
        lse_ = torch.logsumexp(z, -1)
        logp = z.gather(-1, labels[:, None]).squeeze(-1) - lse_
        pp = torch.softmax(z, -1)
        e = lse_ - (pp * z).sum(-1)
        return x, ww, logp, e

    def torch_fwd_bwd():
        x, ww, logp, e = torch_fwd(True)
        ((logp * gl).sum() + (e * ge).sum()).backward()

    def peak_of(fn):
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base

    t_torch_fwd = time_ms(torch, lambda: torch_fwd(False), reps=3)
    mem_torch_fwd = peak_of(lambda: torch_fwd(False))
    t_torch_fb = time_ms(torch, torch_fwd_bwd, reps=3, warmup=1)
    mem_torch_fb = peak_of(torch_fwd_bwd)
    # bf16 logits alone and the f32 logits (what materialise-then-token_logprobs holds at least)
    logits_f32 = n * v * 4

    gpu = torch.cuda.get_device_name(0)
    tf = lambda gemms, ms: gemms * 2.0 * n * h * v / (ms * 1e-3) / 1e12
    print(f"\nlinear_token_logprobs on {gpu}; torch {torch.__version__}; N={n} H={h} V={v} bf16; "
          f"bf16 dense peak {H100_BF16_DENSE_TFLOPS} TFLOP/s (spec sheet)\n")
    print("| what | ppo-engine (ms) | TFLOP/s (% of peak) | bare GEMMs (ms) | ratio to bare | torch eager (ms) | "
          "speed-up | workspace / torch peak extra memory | max diff |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| forward | {t_fwd:.2f} | {tf(1, t_fwd):.0f} ({100 * tf(1, t_fwd) / H100_BF16_DENSE_TFLOPS:.0f}%) | "
          f"{t_gemm:.2f} (1 GEMM, {tf(1, t_gemm):.0f} TFLOP/s) | {t_fwd / t_gemm:.2f}x | {t_torch_fwd:.2f} | "
          f"{t_torch_fwd / t_fwd:.1f}x | {ws_fwd / 2**20:.0f} MiB ({100 * ws_fwd / logits_f32:.1f}% of the f32 logits) / "
          f"{mem_torch_fwd / 2**30:.1f} GiB | {err_fwd:.1e} abs |")
    for mode, t_b, name in ((1, t_bwd_fast, "bf16 dZ"), (0, t_bwd_exact, "exact dZ: 3 bf16 parts")):
        t_fb = t_fwd + t_b
        print(f"| forward + backward ({name}) | {t_fb:.2f} | {tf(4, t_fb):.0f} | {t_bare3:.2f} (3 GEMMs; 4 with the "
              f"recomputed logits: {t_bare3 + t_gemm:.2f}) | {t_fb / t_bare3:.2f}x ({t_fb / (t_bare3 + t_gemm):.2f}x of 4) | "
              f"{t_torch_fb:.2f} | {t_torch_fb / t_fb:.1f}x | {ws_bwd[mode] / 2**20:.0f} MiB / {mem_torch_fb / 2**30:.1f} GiB | "
              f"{errs_bwd[mode]:.1e} rel (grad_hidden) |")
    if sweep:
        print("\n| tile (rows x cols) | forward (ms) | backward bf16 dZ (ms) | workspace (MiB) |")
        print("|---|---:|---:|---:|")
        for rc, vc in ((n, 1024), (n, 2048), (n, 4096), (n, 8192), (n, 16384), (n // 2, 16384), (n // 4, 32768)):
            t1 = time_ms(torch, lambda: fwd(rc, vc), reps=5)
            t2 = time_ms(torch, lambda: bwd(1, rc, vc), reps=3)
            print(f"| {rc} x {vc} | {t1:.2f} | {t2:.2f} | {used.value / 2**20:.0f} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True, help="path to libppo_cuda.so")
    ap.add_argument("--quick", action="store_true", help="N=2048 instead of 8192")
    ap.add_argument("--sweep", action="store_true", help="also time fixed tile shapes")
    args = ap.parse_args()
    bench(args.lib, args.quick, args.sweep)


if __name__ == "__main__":
    sys.exit(main())
