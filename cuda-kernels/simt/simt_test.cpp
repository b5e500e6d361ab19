/*
 * simt_test.cpp — tests of the CUDA-on-CPU emulator's semantics (cuda-kernels/simt/simt.h).
 *
 * Each test launches small kernels and compares with values computed here from the CUDA programming guide's
 * definitions: shuffles with every width (up/down/xor/indexed, out-of-range sources), partial warps (blockDim not a
 * multiple of 32), votes, early exit, barriers (+count/and/or), static and dynamic shared memory across blocks,
 * atomics, 3-d indices, the runtime calls, bf16/f16 conversions, and the error paths (deadlock, a lane that exited
 * before a collective, threads at different barriers, non-full masks, bad launch configurations, the watchdog).
 * Exit status 0 = all passed; every failure prints one line.
 */
#include "simt.h"

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

static int g_failures = 0, g_checks = 0;
#define CHECK(cond, ...)                                              \
    do {                                                              \
        g_checks++;                                                   \
        if (!(cond)) {                                                \
            g_failures++;                                             \
            std::printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            std::printf(__VA_ARGS__);                                 \
            std::printf("\n");                                        \
        }                                                             \
    } while (0)

/* ------------------------------------------------------------------ shuffles */
__global__ void shuffle_kernel(int *out, int width, int delta) {
    int lane = threadIdx.x % 32;
    int v = 1000 + (int)threadIdx.x;
    int base = (int)threadIdx.x * 4;
    out[base + 0] = __shfl_sync(0xffffffffu, v, delta, width);
    out[base + 1] = __shfl_up_sync(0xffffffffu, v, (unsigned)delta, width);
    out[base + 2] = __shfl_down_sync(0xffffffffu, v, (unsigned)delta, width);
    out[base + 3] = __shfl_xor_sync(0xffffffffu, v, delta, width);
    (void)lane;
}

static void test_shuffle_widths() {
    const int n = 64;
    for (int width = 1; width <= 32; width *= 2) {
        for (int delta : {0, 1, 3, 5, 16, 31, 37}) {
            std::vector<int> out(n * 4, -1);
            SIMT_LAUNCH(shuffle_kernel, 1, n, 0, nullptr, out.data(), width, delta);
            CHECK(cudaGetLastError() == cudaSuccess, "launch width %d", width);
            for (int t = 0; t < n; t++) {
                int lane = t % 32, warp0 = t - lane, g = lane & ~(width - 1), in = lane & (width - 1);
                int idx = warp0 + g + (delta % width);             // srcLane modulo width, within the group
                int up = in < delta ? t : t - delta;               // below the group start: own value
                int down = in + delta >= width ? t : t + delta;    // past the group end: own value
                int x = lane ^ delta;
                int xr = (x >= g + width || x > 31) ? t : warp0 + x;  // later group: own value
                CHECK(out[t * 4 + 0] == 1000 + idx, "shfl w=%d d=%d t=%d got %d want %d", width, delta, t, out[t * 4], 1000 + idx);
                CHECK(out[t * 4 + 1] == 1000 + up, "shfl_up w=%d d=%d t=%d got %d want %d", width, delta, t, out[t * 4 + 1], 1000 + up);
                CHECK(out[t * 4 + 2] == 1000 + down, "shfl_down w=%d d=%d t=%d got %d want %d", width, delta, t, out[t * 4 + 2], 1000 + down);
                CHECK(out[t * 4 + 3] == 1000 + xr, "shfl_xor w=%d d=%d t=%d got %d want %d", width, delta, t, out[t * 4 + 3], 1000 + xr);
            }
        }
    }
}

/* a butterfly sum and a down-sweep sum of 64-bit and float values */
__global__ void warp_sum_kernel(float *fsum, double *dsum, long long *lsum) {
    float f = (float)threadIdx.x;
    double d = 0.5 * threadIdx.x;
    long long l = (long long)threadIdx.x << 33;
    for (int o = 16; o > 0; o >>= 1) {
        f += __shfl_xor_sync(0xffffffffu, f, o);
        d += __shfl_down_sync(0xffffffffu, d, (unsigned)o);
        l += __shfl_xor_sync(0xffffffffu, l, o);
    }
    fsum[threadIdx.x] = f;
    dsum[threadIdx.x] = d;
    lsum[threadIdx.x] = l;
}

static void test_warp_reductions() {
    std::vector<float> f(64);
    std::vector<double> d(64);
    std::vector<long long> l(64);
    SIMT_LAUNCH(warp_sum_kernel, 1, 64, 0, nullptr, f.data(), d.data(), l.data());
    for (int t = 0; t < 64; t++) {
        int w = t / 32;
        float fw = 0; long long lw = 0;
        for (int i = 0; i < 32; i++) { fw += (float)(32 * w + i); lw += (long long)(32 * w + i) << 33; }
        CHECK(f[t] == fw, "xor float sum t=%d got %g want %g", t, f[t], fw);
        CHECK(l[t] == lw, "xor 64-bit sum t=%d", t);
    }
    double d0 = 0, d1 = 0;
    for (int i = 0; i < 32; i++) { d0 += 0.5 * i; d1 += 0.5 * (32 + i); }
    CHECK(d[0] == d0 && d[32] == d1, "down-sweep double sum lane 0 got %g %g want %g %g", d[0], d[32], d0, d1);
}

/* ------------------------------------------------------------------ partial warps and votes */
__global__ void partial_warp_kernel(int *down1, float *poison, unsigned *ballot, int *any, int *all, int *all_true) {
    int t = (int)threadIdx.x;
    down1[t] = __shfl_down_sync(0xffffffffu, t, 1u);
    poison[t] = __shfl_sync(0xffffffffu, (float)t, 31);     // lane 31 does not exist in the partial warp
    ballot[t] = __ballot_sync(0xffffffffu, t % 3 == 0);
    any[t] = __any_sync(0xffffffffu, t == 37);
    all[t] = __all_sync(0xffffffffu, t < 38);
    all_true[t] = __all_sync(0xffffffffu, t >= 0);
}

static void test_partial_warps() {
    const int n = 40;  // warp 1 has lanes 0..7 only
    std::vector<int> down1(n), any(n), all(n), all_true(n);
    std::vector<float> poison(n);
    std::vector<unsigned> ballot(n);
    SIMT_LAUNCH(partial_warp_kernel, 1, n, 0, nullptr, down1.data(), poison.data(), ballot.data(), any.data(), all.data(),
                all_true.data());
    CHECK(cudaGetLastError() == cudaSuccess, "partial warp launch: %s", simt::last_failure().c_str());
    for (int t = 0; t < n; t++) {
        int lane = t % 32;
        if (t < 32) {
            CHECK(down1[t] == (lane == 31 ? t : t + 1), "full warp down t=%d got %d", t, down1[t]);
            CHECK(poison[t] == 31.0f, "full warp lane 31 read t=%d got %g", t, poison[t]);
        } else {
            // lane 7 reads lane 8, which does not exist: the emulator poisons it (undefined on hardware)
            CHECK(lane < 7 ? down1[t] == t + 1 : down1[t] == -1, "partial warp down t=%d got %d", t, down1[t]);
            CHECK(std::isnan(poison[t]), "nonexistent source lane must read as NaN, t=%d got %g", t, poison[t]);
        }
        unsigned want = 0;
        int lanes = t < 32 ? 32 : 8;
        for (int l = 0; l < lanes; l++) if (((t - lane) + l) % 3 == 0) want |= 1u << l;
        CHECK(ballot[t] == want, "ballot t=%d got %08x want %08x", t, ballot[t], want);
        CHECK(any[t] == (t >= 32 ? 1 : 0), "any t=%d", t);
        CHECK(all[t] == (t < 32 ? 1 : 0), "all t=%d", t);
        CHECK(all_true[t] == 1, "all_true t=%d", t);
    }
}

/* ------------------------------------------------------------------ early exit, barriers, shared memory */
__global__ void early_exit_kernel(int *out, int n) {
    int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    if (i >= n) return;  // no barrier or collective after this: legal
    out[i] = 2 * i;
}

__global__ void reverse_kernel(const int *in, int *out) {
    __shared__ int s[256];
    int t = (int)threadIdx.x, n = (int)blockDim.x, off = (int)(blockIdx.x * blockDim.x);
    s[t] = in[off + t];
    __syncthreads();  // every write of s before any read
    out[off + t] = s[n - 1 - t];
    __syncthreads();  // every read before the next block's writes (the storage is shared between blocks)
}

__global__ void barrier_ops_kernel(int *counts) {
    int t = (int)threadIdx.x;
    int c = __syncthreads_count(t % 4 == 0);
    int a = __syncthreads_and(t < 1000);
    int o = __syncthreads_or(t == 5);
    int z = __syncthreads_or(0);
    counts[t * 4 + 0] = c;
    counts[t * 4 + 1] = a;
    counts[t * 4 + 2] = o;
    counts[t * 4 + 3] = z;
}

__global__ void block_sum_kernel(const float *in, float *out) {
    __shared__ float s[128];
    int t = (int)threadIdx.x;
    s[t] = in[blockIdx.x * blockDim.x + t];
    __syncthreads();  // all loads visible
    for (int stride = (int)blockDim.x / 2; stride > 0; stride /= 2) {
        if (t < stride) s[t] += s[t + stride];
        __syncthreads();  // one tree level complete before the next reads it
    }
    if (t == 0) out[blockIdx.x] = s[0];
    __syncthreads();  // s[0] read before the next block overwrites s
}

__global__ void dynamic_shared_kernel(float *out) {
    SIMT_DYNAMIC_SHARED(float, buf);
    int t = (int)threadIdx.x;
    float before = buf[t];
    __syncthreads();  // everyone read the initial contents first
    buf[t] = (float)(t * t);
    __syncthreads();  // writes before the neighbour read
    out[t] = buf[(t + 1) % blockDim.x] + (std::isnan(before) ? 0.5f : 0.0f);
}

static void test_early_exit_barriers_shared() {
    std::vector<int> out(100, -1);
    SIMT_LAUNCH(early_exit_kernel, 2, 64, 0, nullptr, out.data(), 100);
    CHECK(cudaGetLastError() == cudaSuccess, "early exit launch");
    for (int i = 0; i < 100; i++) CHECK(out[i] == 2 * i, "early exit i=%d got %d", i, out[i]);

    for (int n : {1, 33, 256}) {
        const int blocks = 3;
        std::vector<int> in(n * blocks), rev(n * blocks, -1);
        for (int i = 0; i < n * blocks; i++) in[i] = i * 7 + 1;
        SIMT_LAUNCH(reverse_kernel, blocks, n, 0, nullptr, in.data(), rev.data());
        for (int b = 0; b < blocks; b++)
            for (int t = 0; t < n; t++)
                CHECK(rev[b * n + t] == in[b * n + n - 1 - t], "reverse n=%d b=%d t=%d", n, b, t);
    }

    std::vector<int> counts(96 * 4);
    SIMT_LAUNCH(barrier_ops_kernel, 1, 96, 0, nullptr, counts.data());
    for (int t = 0; t < 96; t++) {
        CHECK(counts[t * 4] == 24, "syncthreads_count t=%d got %d", t, counts[t * 4]);
        CHECK(counts[t * 4 + 1] == 1 && counts[t * 4 + 2] == 1 && counts[t * 4 + 3] == 0, "and/or t=%d", t);
    }

    const int blocks = 5;
    std::vector<float> in(128 * blocks), sums(blocks);
    for (int i = 0; i < 128 * blocks; i++) in[i] = (float)(i % 13);
    SIMT_LAUNCH(block_sum_kernel, blocks, 128, 0, nullptr, in.data(), sums.data());
    for (int b = 0; b < blocks; b++) {
        float want = 0;
        for (int i = 0; i < 128; i++) want += in[b * 128 + i];
        CHECK(sums[b] == want, "block sum b=%d got %g want %g", b, sums[b], want);
    }

    std::vector<float> dyn(48);
    SIMT_LAUNCH(dynamic_shared_kernel, 1, 48, 48 * sizeof(float), nullptr, dyn.data());
    for (int t = 0; t < 48; t++) {
        int nb = (t + 1) % 48;
        CHECK(dyn[t] == (float)(nb * nb) + 0.5f, "dynamic shared t=%d got %g", t, dyn[t]);
    }
}

/* ------------------------------------------------------------------ atomics, indices */
__global__ void atomics_kernel(int *count, unsigned long long *sum, float *fsum, int *mx, unsigned *cas_winner,
                               double *dsum) {
    int g = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    atomicAdd(count, 1);
    atomicAdd(sum, (unsigned long long)g);
    atomicAdd(fsum, 0.5f);
    atomicAdd(dsum, 0.25);
    atomicMax(mx, g * 3 % 1001);
    atomicCAS(cas_winner, 0xffffffffu, (unsigned)g);
}

__global__ void index_kernel(int *out) {
    int tx = (int)threadIdx.x, ty = (int)threadIdx.y, tz = (int)threadIdx.z;
    int bx = (int)blockIdx.x, by = (int)blockIdx.y, bz = (int)blockIdx.z;
    int t = tx + (int)blockDim.x * (ty + (int)blockDim.y * tz);
    int b = bx + (int)gridDim.x * (by + (int)gridDim.y * bz);
    int nt = (int)(blockDim.x * blockDim.y * blockDim.z);
    // lane id from the shuffle of the linear thread index: warps are formed from x-fastest linear ids
    int from_lane0 = __shfl_sync(0xffffffffu, t, 0);
    out[b * nt + t] = t * 1000 + from_lane0;
}

static void test_atomics_and_indices() {
    int count = 0, mx = -1;
    unsigned long long sum = 0;
    float fsum = 0;
    double dsum = 0;
    unsigned winner = 0xffffffffu;
    SIMT_LAUNCH(atomics_kernel, 7, 96, 0, nullptr, &count, &sum, &fsum, &mx, &winner, &dsum);
    int n = 7 * 96, wmax = 0;
    for (int g = 0; g < n; g++) wmax = std::max(wmax, g * 3 % 1001);
    CHECK(count == n, "atomicAdd int got %d", count);
    CHECK(sum == (unsigned long long)n * (n - 1) / 2, "atomicAdd u64");
    CHECK(fsum == 0.5f * n, "atomicAdd float got %g", fsum);
    CHECK(dsum == 0.25 * n, "atomicAdd double got %g", dsum);
    CHECK(mx == wmax, "atomicMax got %d want %d", mx, wmax);
    CHECK(winner < (unsigned)n, "atomicCAS winner %u", winner);

    dim3 grid(3, 2, 2), block(8, 4, 2);
    int nt = 64, nb = 12;
    std::vector<int> out(nt * nb, -1);
    SIMT_LAUNCH(index_kernel, grid, block, 0, nullptr, out.data());
    for (int b = 0; b < nb; b++)
        for (int t = 0; t < nt; t++)
            CHECK(out[b * nt + t] == t * 1000 + (t / 32) * 32, "3-d index b=%d t=%d got %d", b, t, out[b * nt + t]);
}

/* ------------------------------------------------------------------ error paths */
__global__ void exit_then_barrier_kernel(int *out) {
    if (threadIdx.x >= 40) return;  // threads 40.. leave, the rest wait at the barrier below: never completes
    out[threadIdx.x] = 1;
    __syncthreads();
    out[threadIdx.x] = 2;
}

__global__ void divergent_barrier_kernel(int *out) {
    if (threadIdx.x < 32) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    out[threadIdx.x] = 1;
}

__global__ void lane_exit_before_shuffle_kernel(int *out) {
    if (threadIdx.x == 3) return;
    out[threadIdx.x] = __shfl_down_sync(0xffffffffu, (int)threadIdx.x, 1u);
}

__global__ void partial_mask_kernel(int *out) {
    out[threadIdx.x] = __shfl_sync(0x0000ffffu, (int)threadIdx.x, 0);
}

__global__ void cross_warp_deadlock_kernel(int *out) {
    // threads 0..32 wait at the barrier; lanes 1..31 of warp 1 wait at a shuffle for lane 0 (thread 32), which is
    // at the barrier: nothing can complete
    if (threadIdx.x > 32) out[threadIdx.x] = __shfl_sync(0xffffffffu, 1, 0);
    __syncthreads();
}

__global__ void ok_after_error_kernel(int *out) { out[threadIdx.x] = (int)threadIdx.x; }

/* Thread 0 is busy (not at any synchronisation) for `spin_ms` while the others wait at the barrier. */
__global__ void slow_thread_kernel(int *out, int spin_ms) {
    if (threadIdx.x == 0) {
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(spin_ms);
        while (std::chrono::steady_clock::now() < until) {
        }
    }
    __syncthreads();
    out[threadIdx.x] = 1;
}

static void expect_failure(const char *name, const char *needle) {
    cudaError_t e = cudaGetLastError();
    std::string msg = cudaGetErrorString(e);
    CHECK(e == cudaErrorLaunchFailure, "%s: expected a launch failure, got %d", name, (int)e);
    CHECK(msg.find(needle) != std::string::npos, "%s: message lacks '%s': %s", name, needle, msg.c_str());
    CHECK(cudaDeviceSynchronize() == cudaErrorLaunchFailure, "%s: the failure must be reported by the next sync", name);
    CHECK(cudaDeviceSynchronize() == cudaSuccess, "%s: the failure is reported once", name);
    cudaGetLastError();  // as in CUDA, the failed synchronisation also set the thread's last error
}

static void test_errors() {
    std::vector<int> out(64, 0);
    SIMT_LAUNCH(exit_then_barrier_kernel, 2, 64, 0, nullptr, out.data());
    expect_failure("exit then barrier", "reached by 40 of 64 threads");
    CHECK(out[0] == 1, "threads before the failing barrier ran");

    SIMT_LAUNCH(divergent_barrier_kernel, 1, 64, 0, nullptr, out.data());
    expect_failure("divergent barriers", "different __syncthreads");

    SIMT_LAUNCH(lane_exit_before_shuffle_kernel, 1, 32, 0, nullptr, out.data());
    expect_failure("lane exit before shuffle", "reached by 31 of 32 lanes");

    SIMT_LAUNCH(partial_mask_kernel, 1, 32, 0, nullptr, out.data());
    expect_failure("partial mask", "full mask");

    SIMT_LAUNCH(cross_warp_deadlock_kernel, 1, 64, 0, nullptr, out.data());
    expect_failure("cross-warp deadlock", "kernel cross_warp_deadlock_kernel block (0,0,0)");
    CHECK(simt::last_failure().find("deadlock") != std::string::npos, "deadlock named: %s", simt::last_failure().c_str());

    SIMT_LAUNCH(ok_after_error_kernel, 1, 1025, 0, nullptr, out.data());
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration, "1025 threads per block must be rejected");
    SIMT_LAUNCH(ok_after_error_kernel, 0, 32, 0, nullptr, out.data());
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration, "an empty grid must be rejected");

    // The watchdog: waiting longer than the limit fails the block (with where everyone is) instead of hanging; a
    // wait shorter than the limit is fine.
    simt::set_watchdog_seconds(0.5);
    SIMT_LAUNCH(slow_thread_kernel, 1, 64, 0, nullptr, out.data(), 100);
    CHECK(cudaGetLastError() == cudaSuccess, "a short wait is not a watchdog failure: %s", simt::last_failure().c_str());
    SIMT_LAUNCH(slow_thread_kernel, 1, 64, 0, nullptr, out.data(), 1500);
    expect_failure("watchdog", "watchdog: thread");
    CHECK(simt::last_failure().find("1 running") != std::string::npos, "names the running thread: %s",
          simt::last_failure().c_str());
    simt::set_watchdog_seconds(0);

    SIMT_LAUNCH(ok_after_error_kernel, 1, 64, 0, nullptr, out.data());
    CHECK(cudaGetLastError() == cudaSuccess, "a good launch after failures: %s", simt::last_failure().c_str());
    for (int t = 0; t < 64; t++) CHECK(out[t] == t, "good launch t=%d", t);
}

/* ------------------------------------------------------------------ runtime and conversions */
static void test_runtime() {
    int n = 0;
    CHECK(cudaGetDeviceCount(&n) == cudaSuccess && n == 1, "device count");
    cudaDeviceProp p;
    CHECK(cudaGetDeviceProperties(&p, 0) == cudaSuccess && p.warpSize == 32, "properties");
    int sms = 0;
    CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0) == cudaSuccess && sms > 0, "SM count");
    CHECK(cudaSetDevice(1) == cudaErrorInvalidDevice, "device 1 does not exist");
    cudaGetLastError();
    cudaStream_t s;
    CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess, "stream");
    void *d = nullptr;
    CHECK(cudaMalloc(&d, 1000) == cudaSuccess && ((uintptr_t)d % 256) == 0, "cudaMalloc alignment");
    std::vector<unsigned char> h(1000), back(1000);
    for (int i = 0; i < 1000; i++) h[i] = (unsigned char)(i * 31);
    CHECK(cudaMemcpyAsync(d, h.data(), 1000, cudaMemcpyHostToDevice, s) == cudaSuccess, "h2d");
    CHECK(cudaMemsetAsync(static_cast<char *>(d) + 10, 0, 5, s) == cudaSuccess, "memset");
    CHECK(cudaMemcpyAsync(back.data(), d, 1000, cudaMemcpyDeviceToHost, s) == cudaSuccess, "d2h");
    CHECK(cudaStreamSynchronize(s) == cudaSuccess, "sync");
    for (int i = 0; i < 1000; i++) CHECK(back[i] == ((i >= 10 && i < 15) ? 0 : h[i]), "round trip byte %d", i);
    CHECK(cudaFree(d) == cudaSuccess && cudaStreamDestroy(s) == cudaSuccess, "free");
}

static void test_conversions() {
    // bf16: every bit pattern round-trips through float, and RNE on the half-way cases
    for (uint32_t b = 0; b < 65536; b++) {
        float f = __bfloat162float(__ushort_as_bfloat16((unsigned short)b));
        if (std::isnan(f)) continue;
        CHECK(__bfloat16_as_ushort(__float2bfloat16(f)) == b, "bf16 round trip %04x", b);
    }
    CHECK(__bfloat16_as_ushort(__float2bfloat16(simt::bits_to_float(0x3f808000u))) == 0x3f80, "bf16 tie to even down");
    CHECK(__bfloat16_as_ushort(__float2bfloat16(simt::bits_to_float(0x3f818000u))) == 0x3f82, "bf16 tie to even up");
    CHECK(std::isnan(__bfloat162float(__float2bfloat16(NAN))), "bf16 NaN");
#if defined(__FLT16_MAX__)
    // f16 against the compiler's _Float16 (IEEE binary16, RNE): all halves, and a sweep of floats incl. ties
    for (uint32_t b = 0; b < 65536; b++) {
        _Float16 h;
        unsigned short bits = (unsigned short)b;
        std::memcpy(&h, &bits, 2);
        float want = (float)h, got = __half2float(__ushort_as_half(bits));
        CHECK((std::isnan(want) && std::isnan(got)) || simt::float_to_bits(want) == simt::float_to_bits(got),
              "f16->f32 %04x", b);
    }
    for (uint64_t u = 0; u < 0x100000000ull; u += 4099) {
        for (uint32_t k : {0u, 0xfffu, 0x1000u, 0x1001u, 0x2000u}) {
            uint32_t x = (uint32_t)u + k;
            float f = simt::bits_to_float(x);
            if (std::isnan(f)) continue;
            _Float16 h = (_Float16)f;
            unsigned short want;
            std::memcpy(&want, &h, 2);
            unsigned short got = __half_as_ushort(__float2half(f));
            CHECK(want == got, "f32->f16 %08x got %04x want %04x", x, got, want);
            if (want != got) return;
        }
    }
#endif
    CHECK(std::isnan(__half2float(__float2half(NAN))), "f16 NaN");
    CHECK(__half_as_ushort(__float2half(65520.0f)) == 0x7c00, "f16 overflow to inf");
    CHECK(__half_as_ushort(__float2half(65519.0f)) == 0x7bff, "f16 max");
}

int main() {
    test_shuffle_widths();
    test_warp_reductions();
    test_partial_warps();
    test_early_exit_barriers_shared();
    test_atomics_and_indices();
    test_errors();
    test_runtime();
    test_conversions();
    std::printf("simt_test: %d checks, %d failures\n", g_checks, g_failures);
    return g_failures == 0 ? 0 : 1;
}
