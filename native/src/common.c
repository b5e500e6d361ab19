/*
 * common.c — ABI version, per-thread error messages, and the CPU context (thread count, SIMD level).
 *
 * SIMD level (PPO_ISA of the compiled variants): 2 = AVX-512 F/BW/VL/DQ, 1 = AVX2 + FMA (+F16C, present on every
 * AVX2 CPU), 0 = the x86-64 baseline (SSE2). __builtin_cpu_supports also checks that the OS saves the wide
 * registers (XCR0), so a level is only chosen when it can run.
 */
#define _GNU_SOURCE
#include "ppo_internal.h"

#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static _Thread_local char last_error[512];

int32_t ppo_abi_version(void) { return PPO_ABI_VERSION; }

const char *ppo_last_error(void) { return last_error; }

void ppo_clear_error(void) { last_error[0] = '\0'; }

int32_t ppo_fail(int32_t status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

static int online_cores(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int ppo_ctx_threads(const void *ctx) {
    const ppo_cpu_ctx *c = (const ppo_cpu_ctx *)ctx;
    if (c != NULL && c->threads > 0) return c->threads;
    static int cores;   /* benign race: every thread computes the same value */
    if (cores == 0) cores = online_cores();
    return cores;
}

static int best_isa(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
        return 2;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

int ppo_ctx_isa(const void *ctx) {
    static int best = -1;   /* benign race: every thread computes the same value */
    if (best < 0) best = best_isa();
    const ppo_cpu_ctx *c = (const ppo_cpu_ctx *)ctx;
    if (c != NULL && c->isa > PPO_ISA_BEST) {
        int cap = c->isa - 1;   /* PPO_ISA_GENERIC = 1 -> level 0, ... */
        if (cap < best) return cap;
    }
    return best;
}

int32_t ppo_check_logprob_args(const char *op, int32_t label_dtype, double temperature, int32_t entropy_logits) {
    if (label_dtype != PPO_I32 && label_dtype != PPO_I64) {
        return ppo_fail(PPO_ERR_INVALID, "%s: labels: expected dtype I32 or I64, got code %d", op, label_dtype);
    }
    if (!(temperature > 0) || !isfinite(temperature)) {
        return ppo_fail(PPO_ERR_INVALID, "%s: temperature must be finite and > 0, got %g", op, temperature);
    }
    if (entropy_logits != PPO_ENTROPY_SCALED && entropy_logits != PPO_ENTROPY_RAW) {
        return ppo_fail(PPO_ERR_INVALID, "%s: entropy_logits: expected 0 (scaled) or 1 (raw), got %d", op,
                        entropy_logits);
    }
    return PPO_OK;
}
