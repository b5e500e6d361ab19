#!/usr/bin/env python3
"""
bench_vs_torch.py — ppo-engine's CUDA kernels against PyTorch eager doing what trl does, on one GPU.

Calls libppo_cuda.so through ctypes on torch tensors (device pointers + the current stream) and times both sides
with CUDA events (median of several runs after warm-up). Prints a markdown table: time, effective bandwidth
(bytes the kernel must move / time), percent of the GPU's peak HBM bandwidth, and the speed-up over eager.

Sizes (issue 4): token_logprobs + entropy 8192 x 151936 bf16; gae b=512 t=8192; policy + value loss 4M tokens.
Eager baselines:
  token_logprobs  trl's selective_log_softmax + entropy_from_logits: logsumexp, gather, softmax·logits in f32
  gae             trl's PPOv2 loop over reversed(range(T)) (one step = a handful of kernels), then stack + flip
  losses          trl's pg_losses / pg_losses2 / vf_losses with masked_mean, loss.backward() (autograd)

  python3 bench_vs_torch.py --lib PATH/libppo_cuda.so [--quick]
  python3 bench_vs_torch.py --selftest-sim PATH/libppo_cuda_sim.so   (no GPU, no torch: numpy check of the ctypes
                                                                      signatures against the CPU emulator build)
"""
import argparse
import ctypes as C
import math
import sys

# ---------------------------------------------------------------- the C ABI (native/include/ppo_kernels.h)
PPO_F32, PPO_BF16, PPO_F16, PPO_I32, PPO_I64, PPO_U8 = 0, 1, 2, 3, 4, 5
P, I32, I64, F64 = C.c_void_p, C.c_int32, C.c_int64, C.c_double


class PolicyParams(C.Structure):
    _fields_ = [("clip_low", F64), ("clip_high", F64), ("log_ratio_clamp", F64), ("dual_clip", F64),
                ("agg", I64), ("token_count", F64), ("agg_norm", F64), ("ratio_threshold", F64)]


class ValueParams(C.Structure):
    _fields_ = [("value_clip", F64), ("agg", I64), ("token_count", F64), ("agg_norm", F64)]


def bind(path):
    lib = C.CDLL(path)
    sig = {
        "ppo_abi_version": (I32, []),
        "ppo_last_error": (C.c_char_p, []),
        "token_logprobs": (I32, [P, P, I32, I64, I64, I64, P, I32, F64, I32, P, P, P]),
        "token_logprobs_backward": (I32, [P, P, I32, I64, I64, I64, P, I32, P, P, P, F64, I32, P, I32, I64]),
        "kl_penalty": (I32, [P, P, P, P, I32, I64, I64, I32, F64, F64, P]),
        "gae": (I32, [P, P, P, P, I32, I64, I64, F64, F64, I32, P, P]),
        "masked_whiten": (I32, [P, P, P, I32, I64, I64, I32, I32, F64, I32, P]),
        "policy_loss": (I32, [P, P, P, P, P, I32, I64, I64, P, P, P]),
        "value_loss": (I32, [P, P, P, P, P, I32, I64, I64, P, P, P]),
        "ppo_loss": (I32, [P, P, P, P, P, P, P, P, P, I32, I32, P, I64, I64, P, P, F64, F64, P, P, P, P]),
        # ppo_cuda.h: the linear_token_logprobs driver
        "ppo_linear_token_logprobs": (I32, [P, P, I32, I64, I64, I64, P, I32, I64, P, I32, P, I32, F64, I32,
                                            P, P, P, I64, I64, I64, P]),
        "ppo_linear_token_logprobs_backward": (I32, [P, P, I32, I64, I64, I64, P, I32, I64, P, I32, P, I32, P, P, P,
                                                     F64, I32, P, P, P, I32, I32, I64, I64, I64, P]),
    }
    for name, (res, args) in sig.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    assert lib.ppo_abi_version() == 1, "ABI version mismatch"
    return lib


def check(lib, rc, what):
    if rc != 0:
        raise RuntimeError(f"{what}: status {rc}: {lib.ppo_last_error().decode()}")


# ---------------------------------------------------------------- GPU benchmark
PEAK_TBS = [("H200", 4.8), ("H100 SXM", 3.35), ("H100 80GB HBM3", 3.35), ("H100 PCIe", 2.0), ("H100 NVL", 3.9),
            ("H100", 3.35), ("A100-SXM4-80GB", 2.039), ("A100 80GB", 1.935), ("A100", 1.555), ("L40S", 0.864)]


def peak_bandwidth(torch):
    name = torch.cuda.get_device_name(0)
    for key, tbs in PEAK_TBS:
        if key in name:
            return name, tbs * 1e12, "spec sheet"
    # unknown part: a large device-to-device copy as the practical peak
    src = torch.empty(1 << 28, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    ms = time_ms(torch, lambda: dst.copy_(src), reps=20)
    return name, 2 * src.numel() / (ms * 1e-3), "measured copy"


def time_ms(torch, fn, reps=10, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def bench(lib_path, quick):
    import torch
    lib = bind(lib_path)
    dev = torch.device("cuda")
    torch.manual_seed(0)
    gpu, peak, peak_src = peak_bandwidth(torch)
    stream = lambda: C.c_void_p(torch.cuda.current_stream().cuda_stream)
    ptr = lambda t: C.c_void_p(t.data_ptr())
    rows = []

    # token_logprobs + entropy, bf16 logits
    n, v = (2048, 151936) if quick else (8192, 151936)
    logits = (torch.randn(n, v, device=dev) * 2).to(torch.bfloat16)
    labels = torch.randint(0, v, (n,), device=dev, dtype=torch.int64)
    lp, ent, saved = (torch.empty(n, device=dev), torch.empty(n, device=dev), torch.empty(n, 3, device=dev))

    def ours_tl():
        check(lib, lib.token_logprobs(stream(), ptr(logits), PPO_BF16, n, v, v, ptr(labels), PPO_I64, 1.0, 0,
                                      ptr(lp), ptr(ent), ptr(saved)), "token_logprobs")

    def eager_tl():
        z = logits.float()
        lse = torch.logsumexp(z, dim=-1)
        logp = torch.gather(z, -1, labels[:, None]).squeeze(-1) - lse
        p = torch.softmax(z, dim=-1)
        return logp, lse - (p * z).sum(-1)

    ours_tl()
    want_lp, want_ent = eager_tl()
    err = max((lp - want_lp).abs().max().item(), (ent - want_ent).abs().max().item())
    rows.append(("token_logprobs + entropy (bf16)", f"{n} x {v}", time_ms(torch, ours_tl), time_ms(torch, eager_tl, reps=3),
                 n * v * 2 + n * 28, err))
    del logits

    # gae
    b, t = (128, 8192) if quick else (512, 8192)
    r, val = torch.randn(b, t, device=dev), torch.randn(b, t, device=dev)
    mask = torch.ones(b, t, device=dev)
    adv, ret = torch.empty(b, t, device=dev), torch.empty(b, t, device=dev)
    gamma, lam = 1.0, 0.95

    def ours_gae():
        check(lib, lib.gae(stream(), ptr(r), ptr(val), ptr(mask), PPO_F32, b, t, gamma, lam, 0, ptr(adv), ptr(ret)), "gae")

    def eager_gae():
        lastgaelam = torch.zeros(b, device=dev)
        out = []
        for s in reversed(range(t)):
            nextvalues = val[:, s + 1] if s < t - 1 else 0.0
            delta = r[:, s] + gamma * nextvalues - val[:, s]
            lastgaelam = delta + gamma * lam * lastgaelam
            out.append(lastgaelam)
        a = torch.stack(out[::-1], dim=1)
        return a, a + val

    ours_gae()
    wa, wr = eager_gae()
    err = max((adv - wa).abs().max().item(), (ret - wr).abs().max().item())
    rows.append(("gae (one launch)", f"{b} x {t}", time_ms(torch, ours_gae), time_ms(torch, eager_gae, reps=1, warmup=1),
                 b * t * 20, err))

    # policy + value loss, forward + backward
    tokens = (1 << 20) if quick else (1 << 22)
    b, t = tokens // 1024, 1024
    lpr, old, a = (torch.randn(b, t, device=dev) * 0.1, torch.randn(b, t, device=dev) * 0.1, torch.randn(b, t, device=dev))
    v, oldv, rets = torch.randn(b, t, device=dev), torch.randn(b, t, device=dev), torch.randn(b, t, device=dev)
    m = (torch.rand(b, t, device=dev) < 0.9).float()
    g_lp, g_v = torch.empty(b, t, device=dev), torch.empty(b, t, device=dev)
    stats = (C.c_double * 13)()
    pp = PolicyParams(0.2, 0.2, 0.0, 0.0, 0, 0.0, 0.0, 0.0)
    vp = ValueParams(0.2, 0, 0.0, 0.0)

    def ours_loss():
        check(lib, lib.ppo_loss(stream(), ptr(lpr), ptr(old), ptr(a), ptr(v), ptr(oldv), ptr(rets), ptr(m), None,
                                PPO_F32, PPO_F32, None, b, t, C.byref(pp), C.byref(vp), 0.1, 0.0, ptr(g_lp), ptr(g_v),
                                None, stats), "ppo_loss")

    def eager_loss():
        x = lpr.detach().requires_grad_(True)
        vv = v.detach().requires_grad_(True)
        ratio = torch.exp(x - old)
        pg1, pg2 = -a * ratio, -a * torch.clamp(ratio, 0.8, 1.2)
        pg = (torch.max(pg1, pg2) * m).sum() / m.sum()
        vc = torch.clamp(vv, oldv - 0.2, oldv + 0.2)
        vf = 0.5 * (torch.max((vv - rets) ** 2, (vc - rets) ** 2) * m).sum() / m.sum()
        loss = pg + 0.1 * vf
        loss.backward()
        return loss, x.grad, vv.grad

    ours_loss()
    wl, wg, wv = eager_loss()
    err = max(abs(stats[0] - wl.item()), (g_lp - wg).abs().max().item(), (g_v - wv).abs().max().item())
    rows.append(("policy + value loss fwd+bwd (ppo_loss)", f"{tokens} tokens", time_ms(torch, ours_loss),
                 time_ms(torch, eager_loss, reps=5), tokens * 36, err))

    print(f"GPU: {gpu}; peak HBM {peak / 1e12:.2f} TB/s ({peak_src}); torch {torch.__version__}; "
          f"library {lib_path}\n")
    print("| kernel | size | ppo-engine (ms) | torch eager (ms) | speed-up | GB/s | % of HBM peak | max abs diff |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, size, ours, eager, nbytes, err in rows:
        gbs = nbytes / (ours * 1e-3) / 1e9
        print(f"| {name} | {size} | {ours:.3f} | {eager:.3f} | {eager / ours:.1f}x | {gbs:.0f} | "
              f"{100 * gbs * 1e9 / peak:.0f}% | {err:.2e} |")


# ---------------------------------------------------------------- emulator self-test (numpy, no GPU)
def selftest_sim(path):
    import numpy as np
    lib = bind(path)
    rng = np.random.default_rng(0)
    a = lambda x: C.c_void_p(x.ctypes.data)

    n, v = 3, 37
    z = rng.normal(size=(n, v)).astype(np.float32)
    y = rng.integers(0, v, n).astype(np.int64)
    lp, ent, saved = np.zeros(n, np.float32), np.zeros(n, np.float32), np.zeros((n, 3), np.float32)
    check(lib, lib.token_logprobs(None, a(z), PPO_F32, n, v, v, a(y), PPO_I64, 1.0, 0, a(lp), a(ent), a(saved)), "tl")
    zz = z.astype(np.float64)
    lse = np.log(np.exp(zz).sum(1))
    assert np.allclose(lp, zz[np.arange(n), y] - lse, atol=1e-5), "token_logprobs"
    p = np.exp(zz - lse[:, None])
    assert np.allclose(ent, lse - (p * zz).sum(1), atol=1e-5), "entropy"

    b, t = 2, 9
    r, val = rng.normal(size=(b, t)).astype(np.float32), rng.normal(size=(b, t)).astype(np.float32)
    mk = np.ones((b, t), np.float32)
    adv, ret = np.zeros((b, t), np.float32), np.zeros((b, t), np.float32)
    check(lib, lib.gae(None, a(r), a(val), a(mk), PPO_F32, b, t, 0.9, 0.8, 0, a(adv), a(ret)), "gae")
    want = np.zeros((b, t))
    last = np.zeros(b)
    for s in reversed(range(t)):
        nv = val[:, s + 1] if s < t - 1 else 0.0
        last = r[:, s] + 0.9 * nv - val[:, s] + 0.72 * last
        want[:, s] = last
    assert np.allclose(adv, want, atol=1e-5), "gae"

    stats = (C.c_double * 13)()
    pp, vp = PolicyParams(0.2, 0.2, 0, 0, 0, 0, 0, 0), ValueParams(0.2, 0, 0, 0)
    g1, g2 = np.zeros((b, t), np.float32), np.zeros((b, t), np.float32)
    check(lib, lib.ppo_loss(None, a(r), a(val), a(adv), a(r), a(val), a(ret), a(mk), None, PPO_F32, PPO_F32, None, b, t,
                            C.byref(pp), C.byref(vp), 0.1, 0.0, a(g1), a(g2), None, stats), "ppo_loss")
    ratio = np.exp(r.astype(np.float64) - val)
    pg = np.maximum(-adv * ratio, -adv * np.clip(ratio, 0.8, 1.2)).mean()
    vc = np.clip(r, val - 0.2, val + 0.2)
    vf = 0.5 * np.maximum((r - ret) ** 2, (vc - ret) ** 2).mean()
    assert math.isclose(stats[1], pg, rel_tol=1e-5, abs_tol=1e-5), ("policy loss", stats[1], pg)
    assert math.isclose(stats[2], vf, rel_tol=1e-5, abs_tol=1e-5), ("value loss", stats[2], vf)
    assert math.isclose(stats[0], pg + 0.1 * vf, rel_tol=1e-5, abs_tol=1e-5), "total"
    print("selftest-sim: ctypes bindings and results agree with numpy")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", help="path to libppo_cuda.so")
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--selftest-sim", metavar="LIB", help="check the bindings on libppo_cuda_sim.so with numpy")
    args = ap.parse_args()
    if args.selftest_sim:
        selftest_sim(args.selftest_sim)
    elif args.lib:
        bench(args.lib, args.quick)
    else:
        ap.error("--lib or --selftest-sim is required")


if __name__ == "__main__":
    sys.exit(main())
