/*
 * simt.h — ppo-engine's CUDA-on-CPU emulator: the same .cu sources compile with g++ (C++17) against this header.
 *
 * Model (DESIGN.md, "CUDA without a GPU"):
 *   - a launch runs the grid's blocks one at a time, in linear order (x fastest); each block's threads are real
 *     OS threads (a persistent pool; worker i is thread i of every block), so control flow is truly independent;
 *   - __syncthreads() is a barrier for the whole block; warp shuffles and votes go through a per-warp exchange
 *     (each lane deposits its value, the last lane to arrive releases the warp, every lane reads its source);
 *   - `__shared__` is `static`: one instance per function, valid while one block runs (launches are serialised
 *     process-wide, so two kernels never share it); dynamic shared memory via SIMT_DYNAMIC_SHARED;
 *   - atomics are host atomics; bf16/f16 are 16-bit host types with round-to-nearest-even conversions;
 *   - the runtime calls the launchers use (malloc/copies/memset/streams/errors/device info) run synchronously on
 *     host memory ("device" memory is host memory).
 *
 * The rules of DESIGN.md are enforced, not assumed: a warp collective needs the full mask and every lane of the
 * warp; __syncthreads must be reached by every thread of the block at the same call site. A violation (a thread
 * that exited while others wait, threads at different barriers, a deadlock between warps) is detected exactly when
 * it happens: the block's waiting threads unwind, the launch fails with cudaErrorLaunchFailure, and
 * cudaGetErrorString() carries a message naming the kernel, block, call sites and thread counts. A kernel that
 * spins forever is caught by a watchdog (SIMT_WATCHDOG_SECONDS, default 120): threads stuck waiting are unwound;
 * if a thread never reaches any synchronisation point the process is aborted with the diagnostics (no hang).
 *
 * Semantics left undefined by CUDA are made loud: reading a shuffle source lane that does not exist (a partial
 * warp when blockDim is not a multiple of 32) yields all-ones bits (NaN for float), dynamic shared memory starts
 * as all-ones bytes.
 *
 * Cost: ~1-2 µs per thread per barrier or warp collective (OS thread wake-ups); keep emulated sizes modest.
 */
#ifndef PPO_SIMT_H
#define PPO_SIMT_H

#define SIMT_EMULATION 1

#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

/* ---------------------------------------------------------------- qualifiers */
#define __global__
#define __device__
#define __host__
#define __shared__ static
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

/* ---------------------------------------------------------------- vector and index types */
struct uint3 { unsigned x, y, z; };
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct __align__(16) float4 { float x, y, z, w; };
struct __align__(8) float2 { float x, y; };
struct __align__(16) uint4 { unsigned x, y, z, w; };
struct __align__(8) uint2 { unsigned x, y; };
struct __align__(16) int4 { int x, y, z, w; };
struct __align__(8) int2 { int x, y; };
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline float2 make_float2(float x, float y) { return float2{x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return uint2{x, y}; }
inline int2 make_int2(int x, int y) { return int2{x, y}; }

/* ---------------------------------------------------------------- runtime types */
#define CUDART_VERSION 13000  /* the runtime API level the emulator follows */
typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInitializationError = 3,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInsufficientDriver = 35,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidDevice = 101,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorLaunchFailure = 719,
    cudaErrorUnknown = 999
} cudaError_t;

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0, cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3, cudaMemcpyDefault = 4
};
enum cudaDeviceAttr { cudaDevAttrMaxThreadsPerBlock = 1, cudaDevAttrWarpSize = 10, cudaDevAttrMultiProcessorCount = 16 };
#define cudaStreamDefault 0x0
#define cudaStreamNonBlocking 0x1

struct CUstream_st { unsigned flags; };
typedef CUstream_st *cudaStream_t;

struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    size_t sharedMemPerBlock;
    int warpSize;
    int maxThreadsPerBlock;
    int maxThreadsDim[3];
    int maxGridSize[3];
    int multiProcessorCount;
    int major, minor;
};

/* ---------------------------------------------------------------- 16-bit float host types */
struct __nv_bfloat16 { unsigned short __x; };
struct __half { unsigned short __x; };

namespace simt {

/* ================================================================ emulator core */

/* Thrown inside an emulated thread to unwind it when its block has failed (never escapes a launch). */
struct KernelAbort {};

enum class Where : unsigned char { Running, Barrier, Warp, Exited };

/* Where a thread is, for diagnostics. Written by the thread itself (relaxed atomics: messages only). */
struct ThreadInfo {
    std::atomic<Where> where{Where::Running};
    std::atomic<const char *> what{""};
    std::atomic<const char *> file{""};
    std::atomic<int> line{0};
    void set(Where w, const char *wh, const char *f, int l) {
        what.store(wh, std::memory_order_relaxed);
        file.store(f, std::memory_order_relaxed);
        line.store(l, std::memory_order_relaxed);
        where.store(w, std::memory_order_relaxed);
    }
};

/* Waiting: threads sleep on a 32-bit generation word (futex), so a release wakes them without a shared mutex. */
inline void futex_wait(std::atomic<uint32_t> *word, uint32_t expected, int timeout_ms) {
    struct timespec ts;
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
    syscall(SYS_futex, reinterpret_cast<uint32_t *>(word), FUTEX_WAIT_PRIVATE, expected, &ts, nullptr, 0);
}
inline void futex_wake_all(std::atomic<uint32_t> *word) {
    syscall(SYS_futex, reinterpret_cast<uint32_t *>(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

struct WarpState {
    int nlanes = 32;                 // lanes that exist (the last warp of a block may be partial)
    int arrived = 0;                 // lanes waiting at the current collective (guarded by Launch::mu)
    int exited = 0;                  // lanes that returned from the kernel in this block (guarded by Launch::mu)
    std::atomic<uint32_t> gen{0};    // completed collectives; parity selects the slot buffer
    const char *what = "";
    const char *file = "";
    int line = 0;
    uint64_t slot[2][32] = {};       // double-buffered so a fast lane's next deposit never overwrites an unread value
};

struct Launch {
    const char *kernel = "";
    dim3 grid, block;
    int nthreads = 0, nwarps = 0;
    uint64_t nblocks = 0;
    std::function<void()> body;

    std::mutex mu;                   // guards the bookkeeping below (not the waiting)
    std::atomic<uint32_t> bar_gen{0};
    std::atomic<uint32_t> block_gen{0};
    std::atomic<bool> failed{false};
    int bar_arrived = 0;
    const char *bar_file = "";
    int bar_line = 0;
    int bar_accum[2] = {0, 0};       // __syncthreads_count/and/or, double-buffered by generation parity
    int exited = 0;                  // threads of the current block that returned
    int blocked = 0;                 // threads waiting at a barrier or a warp collective
    uint64_t cur_block = 0;
    std::string message;
    std::unique_ptr<WarpState[]> warps;
    std::unique_ptr<ThreadInfo[]> threads;
    std::vector<unsigned char> dyn_smem;
};

struct ThreadState {
    uint3 thread_idx{0, 0, 0};
    uint3 block_idx{0, 0, 0};
    dim3 block_dim, grid_dim;
    int tid = 0, lane = 0, warp = 0;
    Launch *launch = nullptr;
};

inline thread_local ThreadState *tls_thread = nullptr;

inline ThreadState &cur() {
    if (tls_thread == nullptr) {
        std::fprintf(stderr, "simt: a device built-in was used outside a kernel launch\n");
        std::abort();
    }
    return *tls_thread;
}

/* Seconds a thread may wait at a synchronisation before the block fails (SIMT_WATCHDOG_SECONDS, default 120);
 * set_watchdog_seconds overrides it (tests). */
inline std::atomic<double> &watchdog_override() {
    static std::atomic<double> v{0.0};
    return v;
}
inline void set_watchdog_seconds(double s) { watchdog_override().store(s); }
inline double watchdog_seconds() {
    static const double from_env = [] {
        const char *e = std::getenv("SIMT_WATCHDOG_SECONDS");
        double v = e ? std::atof(e) : 0.0;
        return v > 0 ? v : 120.0;
    }();
    const double o = watchdog_override().load();
    return o > 0 ? o : from_env;
}

inline std::string fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
inline std::string fmt(const char *f, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, f);
    std::vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    return buf;
}

inline std::string block_name(const Launch &L) {
    uint64_t b = L.cur_block;
    unsigned bx = (unsigned)(b % L.grid.x), by = (unsigned)((b / L.grid.x) % L.grid.y),
             bz = (unsigned)(b / ((uint64_t)L.grid.x * L.grid.y));
    return fmt("kernel %s block (%u,%u,%u) of grid (%u,%u,%u), blockDim (%u,%u,%u)", L.kernel, bx, by, bz, L.grid.x,
               L.grid.y, L.grid.z, L.block.x, L.block.y, L.block.z);
}

/* Where every thread of the block is, grouped by site (for deadlock and watchdog messages). */
inline std::string thread_summary(const Launch &L) {
    struct Group { Where w; const char *what, *file; int line, count, first; };
    std::vector<Group> groups;
    for (int t = 0; t < L.nthreads; t++) {
        const ThreadInfo &ti = L.threads[t];
        Where w = ti.where.load(std::memory_order_relaxed);
        const char *what = ti.what.load(std::memory_order_relaxed), *file = ti.file.load(std::memory_order_relaxed);
        int line = ti.line.load(std::memory_order_relaxed);
        bool found = false;
        for (Group &g : groups) {
            if (g.w == w && g.line == line && std::strcmp(g.file, file) == 0 && std::strcmp(g.what, what) == 0) {
                g.count++;
                found = true;
                break;
            }
        }
        if (!found) groups.push_back({w, what, file, line, 1, t});
    }
    std::string s;
    for (const Group &g : groups) {
        if (!s.empty()) s += "; ";
        switch (g.w) {
            case Where::Running: s += fmt("%d running (first thread %d)", g.count, g.first); break;
            case Where::Exited: s += fmt("%d exited (first thread %d)", g.count, g.first); break;
            case Where::Barrier: s += fmt("%d at __syncthreads %s:%d (first thread %d)", g.count, g.file, g.line, g.first); break;
            case Where::Warp: s += fmt("%d at %s %s:%d (first thread %d)", g.count, g.what, g.file, g.line, g.first); break;
        }
    }
    return s;
}

/* Records the block's failure (first message wins) and wakes every waiting thread so it can unwind: each
 * generation word is bumped after `failed` is set, so a waiter that sees the bump also sees the failure. Needs mu. */
inline void fail_locked(Launch &L, const std::string &why) {
    if (!L.failed.load()) {
        L.message = "simt: " + block_name(L) + ": " + why;
        L.failed.store(true);
    }
    L.bar_gen.fetch_add(1);
    futex_wake_all(&L.bar_gen);
    for (int w = 0; w < L.nwarps; w++) {
        L.warps[w].gen.fetch_add(1);
        futex_wake_all(&L.warps[w].gen);
    }
}

/* Exact detection of a synchronisation that can never complete. Called after a thread arrives or exits. Needs mu. */
inline void check_stuck_locked(Launch &L) {
    if (L.failed.load()) return;
    if (L.bar_arrived > 0 && L.bar_arrived + L.exited == L.nthreads && L.exited > 0) {
        fail_locked(L, fmt("__syncthreads at %s:%d reached by %d of %d threads; the others exited (a barrier must be "
                           "reached by the whole block) [%s]",
                           L.bar_file, L.bar_line, L.bar_arrived, L.nthreads, thread_summary(L).c_str()));
        return;
    }
    for (int w = 0; w < L.nwarps; w++) {
        WarpState &ws = L.warps[w];
        if (ws.arrived > 0 && ws.exited > 0 && ws.arrived + ws.exited == ws.nlanes) {
            fail_locked(L, fmt("%s at %s:%d in warp %d reached by %d of %d lanes; the others exited (warp collectives "
                               "need every lane) [%s]",
                               ws.what, ws.file, ws.line, w, ws.arrived, ws.nlanes, thread_summary(L).c_str()));
            return;
        }
    }
    if (L.blocked > 0 && L.blocked + L.exited == L.nthreads) {
        fail_locked(L, "deadlock: every thread waits at a synchronisation that cannot complete [" + thread_summary(L) + "]");
    }
}

/* Sleeps until *word moves past g (a release, or a failure bump). The watchdog turns an endless wait into a failure. */
inline void wait_generation(Launch &L, std::atomic<uint32_t> *word, uint32_t g, int tid) {
    auto start = std::chrono::steady_clock::now();
    while (word->load(std::memory_order_acquire) == g) {
        futex_wait(word, g, 250);
        if (word->load(std::memory_order_acquire) != g) break;
        double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (waited > watchdog_seconds()) {
            std::lock_guard<std::mutex> lk(L.mu);
            const ThreadInfo &ti = L.threads[tid];
            fail_locked(L, fmt("watchdog: thread %d waited %.0f s at %s %s:%d [%s]", tid, waited, ti.what.load(),
                               ti.file.load(), ti.line.load(), thread_summary(L).c_str()));
        }
    }
}

/* ---------------------------------------------------------------- __syncthreads and its reductions */
enum class BarOp { None, Count, And, Or };

inline int barrier(const char *file, int line, BarOp op, int pred) {
    ThreadState &ts = cur();
    Launch &L = *ts.launch;
    std::unique_lock<std::mutex> lk(L.mu);
    if (L.failed.load()) throw KernelAbort();
    if (L.bar_arrived == 0) {
        L.bar_file = file;
        L.bar_line = line;
    } else if (L.bar_line != line || std::strcmp(L.bar_file, file) != 0) {
        fail_locked(L, fmt("threads reached different __syncthreads: %s:%d and %s:%d (a barrier must be reached by "
                           "the whole block at the same call) [%s]",
                           L.bar_file, L.bar_line, file, line, thread_summary(L).c_str()));
        throw KernelAbort();
    }
    uint32_t g = L.bar_gen.load();
    int buf = (int)(g & 1);
    if (L.bar_arrived == 0) L.bar_accum[buf] = 0;
    if (pred) L.bar_accum[buf]++;
    L.threads[ts.tid].set(Where::Barrier, "__syncthreads", file, line);
    if (++L.bar_arrived == L.nthreads) {
        // Last arrival releases the block. The releaser un-counts the waiters it wakes, so a deadlock check never
        // sees threads that are about to run as blocked.
        L.bar_arrived = 0;
        L.blocked -= L.nthreads - 1;
        L.bar_gen.store(g + 1, std::memory_order_release);
        lk.unlock();
        futex_wake_all(&L.bar_gen);
    } else {
        L.blocked++;
        check_stuck_locked(L);
        lk.unlock();
        wait_generation(L, &L.bar_gen, g, ts.tid);
        if (L.failed.load()) throw KernelAbort();
    }
    // bar_accum[buf] is rewritten only by the first arrival two barriers later, after this thread has arrived again.
    int count = L.bar_accum[buf];
    switch (op) {
        case BarOp::Count: return count;
        case BarOp::And: return count == L.nthreads;
        case BarOp::Or: return count > 0;
        default: return 0;
    }
}

/* ---------------------------------------------------------------- warp exchange */
constexpr unsigned FULL_MASK = 0xffffffffu;
constexpr uint64_t POISON = ~0ull;

/* Every lane deposits `bits`; when the whole warp has arrived each lane gets `pick(slots, nlanes, lane)`. */
template <class Pick>
inline uint64_t warp_exchange(const char *what, const char *file, int line, unsigned mask, uint64_t bits, Pick pick) {
    ThreadState &ts = cur();
    Launch &L = *ts.launch;
    std::unique_lock<std::mutex> lk(L.mu);
    if (L.failed.load()) throw KernelAbort();
    WarpState &w = L.warps[ts.warp];
    if (mask != FULL_MASK) {
        fail_locked(L, fmt("%s at %s:%d with mask 0x%08x: warp collectives must use the full mask 0xffffffff with "
                           "every lane present (DESIGN kernel rules)",
                           what, file, line, mask));
        throw KernelAbort();
    }
    if (w.arrived == 0) {
        w.what = what;
        w.file = file;
        w.line = line;
    } else if (w.line != line || std::strcmp(w.file, file) != 0 || std::strcmp(w.what, what) != 0) {
        fail_locked(L, fmt("lanes of warp %d reached different warp collectives: %s %s:%d and %s %s:%d [%s]", ts.warp,
                           w.what, w.file, w.line, what, file, line, thread_summary(L).c_str()));
        throw KernelAbort();
    }
    uint32_t g = w.gen.load();
    int buf = (int)(g & 1);
    w.slot[buf][ts.lane] = bits;
    L.threads[ts.tid].set(Where::Warp, what, file, line);
    if (++w.arrived == w.nlanes) {
        w.arrived = 0;
        L.blocked -= w.nlanes - 1;  // the releaser un-counts the lanes it wakes (see barrier())
        w.gen.store(g + 1, std::memory_order_release);
        lk.unlock();
        futex_wake_all(&w.gen);
    } else {
        L.blocked++;
        check_stuck_locked(L);
        lk.unlock();
        wait_generation(L, &w.gen, g, ts.tid);
        if (L.failed.load()) throw KernelAbort();
    }
    // slot[buf] is stable: it is rewritten only at the collective after next, which needs this lane to arrive again.
    return pick(w.slot[buf], w.nlanes, ts.lane);
}

template <class T>
inline uint64_t to_bits(T v) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a type larger than 8 bytes");
    uint64_t b = 0;
    std::memcpy(&b, &v, sizeof(T));
    return b;
}
template <class T>
inline T from_bits(uint64_t b) {
    T v;
    std::memcpy(&v, &b, sizeof(T));
    return v;
}

inline void check_width(const char *what, const char *file, int line, int width) {
    if (width < 1 || width > 32 || (width & (width - 1)) != 0) {
        Launch &L = *cur().launch;
        std::unique_lock<std::mutex> lk(L.mu);
        fail_locked(L, fmt("%s at %s:%d with width %d: width must be a power of 2 in [1, 32]", what, file, line, width));
        throw KernelAbort();
    }
}

/* Source lane -> value; a lane that does not exist in a partial warp reads as POISON (undefined on hardware). */
inline uint64_t lane_value(const uint64_t *slots, int nlanes, int src) { return src < nlanes ? slots[src] : POISON; }

template <class T>
inline T shfl(const char *file, int line, unsigned mask, T var, int src_lane, int width) {
    check_width("__shfl_sync", file, line, width);
    uint64_t r = warp_exchange("__shfl_sync", file, line, mask, to_bits(var), [&](const uint64_t *s, int n, int lane) {
        int src = (lane & ~(width - 1)) + (src_lane & (width - 1));  // CUDA: srcLane taken modulo width
        return lane_value(s, n, src);
    });
    return from_bits<T>(r);
}

template <class T>
inline T shfl_up(const char *file, int line, unsigned mask, T var, unsigned delta, int width) {
    check_width("__shfl_up_sync", file, line, width);
    uint64_t r = warp_exchange("__shfl_up_sync", file, line, mask, to_bits(var), [&](const uint64_t *s, int n, int lane) {
        int in_group = lane & (width - 1);
        if ((unsigned)in_group < delta) return s[lane];  // below the group start: own value
        return lane_value(s, n, lane - (int)delta);
    });
    return from_bits<T>(r);
}

template <class T>
inline T shfl_down(const char *file, int line, unsigned mask, T var, unsigned delta, int width) {
    check_width("__shfl_down_sync", file, line, width);
    uint64_t r = warp_exchange("__shfl_down_sync", file, line, mask, to_bits(var), [&](const uint64_t *s, int n, int lane) {
        int in_group = lane & (width - 1);
        if ((unsigned)in_group + delta >= (unsigned)width) return s[lane];  // past the group end: own value
        return lane_value(s, n, lane + (int)delta);
    });
    return from_bits<T>(r);
}

template <class T>
inline T shfl_xor(const char *file, int line, unsigned mask, T var, int lane_mask, int width) {
    check_width("__shfl_xor_sync", file, line, width);
    uint64_t r = warp_exchange("__shfl_xor_sync", file, line, mask, to_bits(var), [&](const uint64_t *s, int n, int lane) {
        int src = lane ^ lane_mask;
        int group_end = (lane & ~(width - 1)) + width;
        if (src >= group_end || src > 31) return s[lane];  // a later group: own value (CUDA semantics)
        return lane_value(s, n, src);
    });
    return from_bits<T>(r);
}

inline unsigned ballot(const char *what, const char *file, int line, unsigned mask, int pred) {
    uint64_t r = warp_exchange(what, file, line, mask, pred ? 1u : 0u, [](const uint64_t *s, int n, int) {
        uint64_t bits = 0;
        for (int l = 0; l < n; l++) if (s[l]) bits |= 1ull << l;
        return bits;
    });
    return (unsigned)r;
}

inline void syncwarp(const char *file, int line, unsigned mask = FULL_MASK) {
    warp_exchange("__syncwarp", file, line, mask, 0, [](const uint64_t *, int, int) { return uint64_t(0); });
}

/* ---------------------------------------------------------------- thread pool and launch */

inline void run_thread(Launch &L, int tid);

class Pool {
  public:
    /* Runs L with L.nthreads workers and returns when every block is done (or aborts on the watchdog). */
    void run(Launch &L) {
        std::unique_lock<std::mutex> lk(mu_);
        while (nworkers_ < L.nthreads) spawn(nworkers_++);
        job_ = &L;
        want_ = L.nthreads;
        remaining_ = L.nthreads;
        gen_.fetch_add(1, std::memory_order_release);
        futex_wake_all(&gen_);
        auto start = std::chrono::steady_clock::now();
        while (remaining_ > 0) {
            done_cv_.wait_for(lk, std::chrono::milliseconds(500));
            double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            // Threads stuck at a synchronisation are unwound by wait_generation; this fires only when a thread never
            // reaches one (an endless loop), which cannot be unwound: report and abort rather than hang.
            if (remaining_ > 0 && t > 2 * watchdog_seconds() + 5) {
                std::fprintf(stderr, "simt: watchdog: %s did not finish within %.0f s [%s]; aborting\n",
                             block_name(L).c_str(), t, thread_summary(L).c_str());
                std::abort();
            }
        }
        job_ = nullptr;
    }

  private:
    struct Arg { Pool *pool; int idx; uint32_t seen; };

    void spawn(int idx) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 1 << 20);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_t th;
        Arg *a = new Arg{this, idx, gen_.load()};  // before the increment of the job that triggered the spawn
        if (pthread_create(&th, &attr, &Pool::main, a) != 0) {
            std::fprintf(stderr, "simt: cannot create emulated thread %d; aborting\n", idx);
            std::abort();
        }
        pthread_attr_destroy(&attr);
    }

    static void *main(void *p) {
        Arg a = *static_cast<Arg *>(p);
        delete static_cast<Arg *>(p);
        Pool &pool = *a.pool;
        uint32_t seen = a.seen;
        for (;;) {
            uint32_t g = pool.gen_.load(std::memory_order_acquire);
            if (g == seen) {
                futex_wait(&pool.gen_, g, 1000);
                continue;
            }
            seen = g;
            // job_ and want_ were written before the generation bump (release) and stay until every worker is done
            if (a.idx >= pool.want_) continue;
            run_thread(*pool.job_, a.idx);
            std::lock_guard<std::mutex> lk(pool.mu_);
            if (--pool.remaining_ == 0) pool.done_cv_.notify_all();
        }
        return nullptr;
    }

    std::mutex mu_;
    std::condition_variable done_cv_;
    std::atomic<uint32_t> gen_{0};
    int nworkers_ = 0, want_ = 0, remaining_ = 0;
    Launch *job_ = nullptr;
};

/* The pool lives for the process (never destroyed: its workers sleep on it until exit). */
inline Pool &pool() {
    static Pool *p = new Pool();
    return *p;
}

/* One kernel runs at a time in the process: `__shared__` statics and the pool are shared. */
inline std::mutex &launch_mutex() {
    static std::mutex *m = new std::mutex();
    return *m;
}

inline uint3 unflatten(uint64_t i, dim3 d) {
    return uint3{(unsigned)(i % d.x), (unsigned)((i / d.x) % d.y), (unsigned)(i / ((uint64_t)d.x * d.y))};
}

/* Thread `tid` of every block, one block after another; the last thread out of a block starts the next. */
inline void run_thread(Launch &L, int tid) {
    ThreadState ts;
    ts.tid = tid;
    ts.lane = tid % 32;
    ts.warp = tid / 32;
    ts.thread_idx = unflatten((uint64_t)tid, L.block);
    ts.block_dim = L.block;
    ts.grid_dim = L.grid;
    ts.launch = &L;
    tls_thread = &ts;
    for (uint64_t b = 0; b < L.nblocks; b++) {
        ts.block_idx = unflatten(b, L.grid);
        L.threads[tid].set(Where::Running, "", "", 0);
        if (!L.failed.load()) {
            try {
                L.body();
            } catch (const KernelAbort &) {
                // the block failed; the message is already recorded
            } catch (const std::exception &e) {
                std::lock_guard<std::mutex> g(L.mu);
                fail_locked(L, fmt("thread %d threw: %s", tid, e.what()));
            } catch (...) {
                std::lock_guard<std::mutex> g(L.mu);
                fail_locked(L, fmt("thread %d threw an unknown exception", tid));
            }
        }
        std::unique_lock<std::mutex> lk(L.mu);
        L.threads[tid].set(Where::Exited, "", "", 0);
        L.exited++;
        L.warps[ts.warp].exited++;
        uint32_t g = L.block_gen.load();
        if (L.exited == L.nthreads) {
            // Whole block done: reset the per-block state, then let every thread start the next block.
            L.exited = 0;
            L.bar_arrived = 0;
            L.blocked = 0;
            for (int w = 0; w < L.nwarps; w++) {
                L.warps[w].exited = 0;
                L.warps[w].arrived = 0;
            }
            L.cur_block = b + 1;
            L.block_gen.store(g + 1, std::memory_order_release);
            lk.unlock();
            futex_wake_all(&L.block_gen);
        } else {
            check_stuck_locked(L);
            lk.unlock();
            while (L.block_gen.load(std::memory_order_acquire) == g) futex_wait(&L.block_gen, g, 1000);
        }
    }
    tls_thread = nullptr;
}

/* ---------------------------------------------------------------- errors */
struct ErrorState {
    std::mutex mu;
    cudaError_t pending = cudaSuccess;   // reported by the next synchronising call (as an async CUDA error)
    std::string detail;                  // message of the most recent launch failure
};
inline ErrorState &errors() {
    static ErrorState *e = new ErrorState();
    return *e;
}
inline thread_local cudaError_t tls_last_error = cudaSuccess;

inline cudaError_t record(cudaError_t e) {
    if (e != cudaSuccess) tls_last_error = e;
    return e;
}

/* A synchronising call returns (and clears) a pending launch failure. */
inline cudaError_t take_pending() {
    ErrorState &es = errors();
    std::lock_guard<std::mutex> g(es.mu);
    cudaError_t e = es.pending;
    es.pending = cudaSuccess;
    return e;
}

/* Message of the most recent launch failure ("" if none). */
inline std::string last_failure() {
    ErrorState &es = errors();
    std::lock_guard<std::mutex> g(es.mu);
    return es.detail;
}

inline cudaError_t run_grid(const char *name, dim3 grid, dim3 block, size_t shmem, std::function<void()> body) {
    uint64_t nthreads = (uint64_t)block.x * block.y * block.z;
    if (block.x == 0 || block.y == 0 || block.z == 0 || nthreads > 1024 || block.x > 1024 || block.y > 1024 ||
        block.z > 64 || grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 ||
        grid.z > 65535 || shmem > 227 * 1024) {
        ErrorState &es = errors();
        std::lock_guard<std::mutex> g(es.mu);
        es.detail = fmt("simt: invalid launch configuration of kernel %s: grid (%u,%u,%u), block (%u,%u,%u), %zu bytes "
                        "of dynamic shared memory",
                        name, grid.x, grid.y, grid.z, block.x, block.y, block.z, shmem);
        return record(cudaErrorInvalidConfiguration);
    }
    std::lock_guard<std::mutex> serial(launch_mutex());
    Launch L;
    L.kernel = name;
    L.grid = grid;
    L.block = block;
    L.nthreads = (int)nthreads;
    L.nwarps = (L.nthreads + 31) / 32;
    L.nblocks = (uint64_t)grid.x * grid.y * grid.z;
    L.body = std::move(body);
    L.warps.reset(new WarpState[L.nwarps]);
    for (int w = 0; w < L.nwarps; w++) L.warps[w].nlanes = std::min(32, L.nthreads - 32 * w);
    L.threads.reset(new ThreadInfo[L.nthreads]);
    L.dyn_smem.assign(shmem + 16, 0xff);  // all-ones: uninitialised shared memory reads as NaN, not as zero
    pool().run(L);
    if (L.failed.load()) {
        ErrorState &es = errors();
        std::lock_guard<std::mutex> g(es.mu);
        es.detail = L.message;
        es.pending = cudaErrorLaunchFailure;
        return record(cudaErrorLaunchFailure);
    }
    return cudaSuccess;
}

inline void *dynamic_shared() {
    Launch &L = *cur().launch;
    uintptr_t p = reinterpret_cast<uintptr_t>(L.dyn_smem.data());
    return reinterpret_cast<void *>((p + 15) & ~uintptr_t(15));
}

/* Launches `kernel(args...)` over grid x block. Arguments are converted to the kernel's parameter types once and
 * copied into each thread's call (as CUDA passes kernel parameters by value). */
template <class... P, class... A>
inline void launch(const char *name, void (*kernel)(P...), dim3 grid, dim3 block, size_t shmem, cudaStream_t stream,
                   A &&...args) {
    (void)stream;  // every emulated operation completes before the call returns, so streams only order trivially
    std::tuple<typename std::decay<P>::type...> params(std::forward<A>(args)...);
    run_grid(name, grid, block, shmem, [&params, kernel] { std::apply(kernel, params); });
}

/* ================================================================ 16-bit float conversions (RNE) */
inline float bits_to_float(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline uint32_t float_to_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }

inline unsigned short float_to_bf16_bits(float f) {
    uint32_t x = float_to_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((x >> 16) | 0x0040u);  // NaN stays quiet NaN
    return (unsigned short)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}
inline float bf16_bits_to_float(unsigned short h) { return bits_to_float((uint32_t)h << 16); }

inline unsigned short float_to_f16_bits(float f) {
    uint32_t x = float_to_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return (unsigned short)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));  // NaN: quiet
    if (ax >= 0x477ff000u) return (unsigned short)(sign | 0x7c00u);  // >= 65520 (incl. inf) rounds to inf
    if (ax >= 0x38800000u) {                                          // normal half: rebias 127 -> 15, round
        uint32_t r = ax - (112u << 23);
        return (unsigned short)(sign | ((r + 0x0fffu + ((r >> 13) & 1u)) >> 13));
    }
    if (ax < 0x33000000u) return (unsigned short)sign;  // below half the smallest subnormal: zero
    uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t s = 126u - e;                               // value / 2^-24 = m >> s
    uint32_t r = m >> s, rem = m & ((1u << s) - 1u), half = 1u << (s - 1u);
    if (rem > half || (rem == half && (r & 1u))) r++;
    return (unsigned short)(sign | r);
}
inline float f16_bits_to_float(unsigned short h) {
    uint32_t sign = ((uint32_t)h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0) {
        float v = (float)m * 5.9604644775390625e-8f;  // m * 2^-24, exact
        return sign ? -v : v;
    }
    if (e == 31) return bits_to_float(sign | 0x7f800000u | (m << 13));
    return bits_to_float(sign | ((e + 112u) << 23) | (m << 13));
}

}  // namespace simt

/* ================================================================ device built-ins */
#define threadIdx (::simt::cur().thread_idx)
#define blockIdx (::simt::cur().block_idx)
#define blockDim (::simt::cur().block_dim)
#define gridDim (::simt::cur().grid_dim)
constexpr int warpSize = 32;

#define __syncthreads() ((void)::simt::barrier(__FILE__, __LINE__, ::simt::BarOp::None, 0))
#define __syncthreads_count(p) ::simt::barrier(__FILE__, __LINE__, ::simt::BarOp::Count, (p))
#define __syncthreads_and(p) ::simt::barrier(__FILE__, __LINE__, ::simt::BarOp::And, (p))
#define __syncthreads_or(p) ::simt::barrier(__FILE__, __LINE__, ::simt::BarOp::Or, (p))
#define __syncwarp(...) ::simt::syncwarp(__FILE__, __LINE__, ##__VA_ARGS__)

#define __shfl_sync(mask, var, src, ...) ::simt::shfl(__FILE__, __LINE__, (mask), (var), (src), ##__VA_ARGS__)
#define __shfl_up_sync(mask, var, d, ...) ::simt::shfl_up(__FILE__, __LINE__, (mask), (var), (d), ##__VA_ARGS__)
#define __shfl_down_sync(mask, var, d, ...) ::simt::shfl_down(__FILE__, __LINE__, (mask), (var), (d), ##__VA_ARGS__)
#define __shfl_xor_sync(mask, var, m, ...) ::simt::shfl_xor(__FILE__, __LINE__, (mask), (var), (m), ##__VA_ARGS__)
#define __ballot_sync(mask, p) ::simt::ballot("__ballot_sync", __FILE__, __LINE__, (mask), (p))
#define __any_sync(mask, p) (::simt::ballot("__any_sync", __FILE__, __LINE__, (mask), (p)) != 0u)
#define __all_sync(mask, p) \
    (::simt::ballot("__all_sync", __FILE__, __LINE__, (mask), !(p)) == 0u)

namespace simt {
/* width defaults (the macros above forward an optional width) */
template <class T> inline T shfl(const char *f, int l, unsigned m, T v, int s) { return shfl(f, l, m, v, s, 32); }
template <class T> inline T shfl_up(const char *f, int l, unsigned m, T v, unsigned d) { return shfl_up(f, l, m, v, d, 32); }
template <class T> inline T shfl_down(const char *f, int l, unsigned m, T v, unsigned d) { return shfl_down(f, l, m, v, d, 32); }
template <class T> inline T shfl_xor(const char *f, int l, unsigned m, T v, int x) { return shfl_xor(f, l, m, v, x, 32); }
}  // namespace simt

#define SIMT_LAUNCH(kernel, grid, block, shmem, stream, ...) \
    ::simt::launch(#kernel, (kernel), dim3(grid), dim3(block), (shmem), (stream), ##__VA_ARGS__)
#define SIMT_DYNAMIC_SHARED(type, name) type *name = static_cast<type *>(::simt::dynamic_shared())

inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }
template <class T> inline T __ldg(const T *p) { return *p; }

/* ---------------------------------------------------------------- atomics (return the old value) */
inline int atomicAdd(int *p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicAdd(unsigned *p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline unsigned long long atomicAdd(unsigned long long *p, unsigned long long v) {
    return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
template <class F, class B>
inline F atomic_float_op(F *p, F v, F (*op)(F, F)) {
    B *bp = reinterpret_cast<B *>(p);
    B old = __atomic_load_n(bp, __ATOMIC_SEQ_CST);
    for (;;) {
        F of;
        std::memcpy(&of, &old, sizeof(F));
        F nf = op(of, v);
        B nb;
        std::memcpy(&nb, &nf, sizeof(F));
        if (__atomic_compare_exchange_n(bp, &old, nb, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) return of;
    }
}
inline float atomicAdd(float *p, float v) {
    return atomic_float_op<float, uint32_t>(p, v, [](float a, float b) { return a + b; });
}
inline double atomicAdd(double *p, double v) {
    return atomic_float_op<double, uint64_t>(p, v, [](double a, double b) { return a + b; });
}
inline int atomicSub(int *p, int v) { return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicSub(unsigned *p, unsigned v) { return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST); }
template <class T>
inline T atomic_minmax(T *p, T v, bool want_max) {
    T old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    while ((want_max ? v > old : v < old) &&
           !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
    return old;
}
inline int atomicMax(int *p, int v) { return atomic_minmax(p, v, true); }
inline unsigned atomicMax(unsigned *p, unsigned v) { return atomic_minmax(p, v, true); }
inline long long atomicMax(long long *p, long long v) { return atomic_minmax(p, v, true); }
inline unsigned long long atomicMax(unsigned long long *p, unsigned long long v) { return atomic_minmax(p, v, true); }
inline int atomicMin(int *p, int v) { return atomic_minmax(p, v, false); }
inline unsigned atomicMin(unsigned *p, unsigned v) { return atomic_minmax(p, v, false); }
inline long long atomicMin(long long *p, long long v) { return atomic_minmax(p, v, false); }
inline unsigned long long atomicMin(unsigned long long *p, unsigned long long v) { return atomic_minmax(p, v, false); }
inline int atomicExch(int *p, int v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicExch(unsigned *p, unsigned v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
inline unsigned long long atomicExch(unsigned long long *p, unsigned long long v) {
    return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}
inline float atomicExch(float *p, float v) {
    return atomic_float_op<float, uint32_t>(p, v, [](float, float b) { return b; });
}
inline int atomicCAS(int *p, int cmp, int v) {
    __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return cmp;
}
inline unsigned atomicCAS(unsigned *p, unsigned cmp, unsigned v) {
    __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return cmp;
}
inline unsigned long long atomicCAS(unsigned long long *p, unsigned long long cmp, unsigned long long v) {
    __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return cmp;
}
inline int atomicOr(int *p, int v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicOr(unsigned *p, unsigned v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }
inline int atomicAnd(int *p, int v) { return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicAnd(unsigned *p, unsigned v) { return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST); }

/* ---------------------------------------------------------------- math intrinsics */
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __powf(float a, float b) { return powf(a, b); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
inline unsigned __float_as_uint(float f) { unsigned i; std::memcpy(&i, &f, 4); return i; }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline float __uint_as_float(unsigned i) { float f; std::memcpy(&f, &i, 4); return f; }
inline long long __double_as_longlong(double d) { long long i; std::memcpy(&i, &d, 8); return i; }
inline double __longlong_as_double(long long i) { double d; std::memcpy(&d, &i, 8); return d; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }

/* ---------------------------------------------------------------- bf16 / f16 */
inline float __bfloat162float(__nv_bfloat16 h) { return simt::bf16_bits_to_float(h.__x); }
inline __nv_bfloat16 __float2bfloat16(float f) { return __nv_bfloat16{simt::float_to_bf16_bits(f)}; }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __float2bfloat16(f); }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.__x; }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) { return __nv_bfloat16{u}; }
inline float __half2float(__half h) { return simt::f16_bits_to_float(h.__x); }
inline __half __float2half(float f) { return __half{simt::float_to_f16_bits(f)}; }
inline __half __float2half_rn(float f) { return __float2half(f); }
inline unsigned short __half_as_ushort(__half h) { return h.__x; }
inline __half __ushort_as_half(unsigned short u) { return __half{u}; }

/* ================================================================ runtime API (synchronous, host memory) */
inline cudaError_t cudaGetLastError() {
    cudaError_t e = simt::tls_last_error;
    simt::tls_last_error = cudaSuccess;
    return e;
}
inline cudaError_t cudaPeekAtLastError() { return simt::tls_last_error; }
inline const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
        case cudaSuccess: return "cudaSuccess";
        case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
        case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
        case cudaErrorInitializationError: return "cudaErrorInitializationError";
        case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
        case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
        case cudaErrorNoDevice: return "cudaErrorNoDevice";
        case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
        case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
        case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
        default: return "cudaErrorUnknown";
    }
}
/* For launch failures and bad configurations the string is the emulator's detailed message. */
inline const char *cudaGetErrorString(cudaError_t e) {
    static thread_local std::string s;
    switch (e) {
        case cudaSuccess: return "no error";
        case cudaErrorInvalidValue: return "invalid argument";
        case cudaErrorMemoryAllocation: return "out of memory";
        case cudaErrorNoDevice: return "no CUDA-capable device is detected";
        case cudaErrorInvalidDevice: return "invalid device ordinal";
        case cudaErrorInvalidResourceHandle: return "invalid resource handle";
        case cudaErrorLaunchFailure:
        case cudaErrorInvalidConfiguration:
            s = simt::last_failure();
            if (s.empty()) s = e == cudaErrorLaunchFailure ? "unspecified launch failure" : "invalid configuration argument";
            return s.c_str();
        default: return "unknown error";
    }
}

inline cudaError_t cudaGetDeviceCount(int *n) {
    if (!n) return simt::record(cudaErrorInvalidValue);
    *n = 1;
    return cudaSuccess;
}
inline cudaError_t cudaGetDevice(int *d) {
    if (!d) return simt::record(cudaErrorInvalidValue);
    *d = 0;
    return cudaSuccess;
}
inline cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : simt::record(cudaErrorInvalidDevice); }
/* The emulated device: 4 "SMs" so launchers' grid heuristics behave as on a small GPU. */
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d) {
    if (!p) return simt::record(cudaErrorInvalidValue);
    if (d != 0) return simt::record(cudaErrorInvalidDevice);
    std::memset(p, 0, sizeof *p);
    std::snprintf(p->name, sizeof p->name, "simt CPU emulator");
    p->totalGlobalMem = (size_t)1 << 34;
    p->sharedMemPerBlock = 48 * 1024;
    p->warpSize = 32;
    p->maxThreadsPerBlock = 1024;
    p->maxThreadsDim[0] = 1024; p->maxThreadsDim[1] = 1024; p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 2147483647; p->maxGridSize[1] = 65535; p->maxGridSize[2] = 65535;
    p->multiProcessorCount = 4;
    p->major = 9;
    p->minor = 0;
    return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int d) {
    if (!v) return simt::record(cudaErrorInvalidValue);
    if (d != 0) return simt::record(cudaErrorInvalidDevice);
    switch (a) {
        case cudaDevAttrMaxThreadsPerBlock: *v = 1024; return cudaSuccess;
        case cudaDevAttrWarpSize: *v = 32; return cudaSuccess;
        case cudaDevAttrMultiProcessorCount: *v = 4; return cudaSuccess;
    }
    return simt::record(cudaErrorInvalidValue);
}
inline cudaError_t cudaDeviceSynchronize() { return simt::record(simt::take_pending()); }

inline cudaError_t cudaMalloc(void **p, size_t bytes) {
    if (!p) return simt::record(cudaErrorInvalidValue);
    // 256-byte alignment like cudaMalloc; an all-ones fill so kernels reading unwritten memory see NaN, not zeros
    size_t n = (bytes + 255) / 256 * 256;
    void *m = std::aligned_alloc(256, n == 0 ? 256 : n);
    if (!m) { *p = nullptr; return simt::record(cudaErrorMemoryAllocation); }
    std::memset(m, 0xff, n == 0 ? 256 : n);
    *p = m;
    return cudaSuccess;
}
inline cudaError_t cudaFree(void *p) { std::free(p); return cudaSuccess; }
inline cudaError_t cudaMallocHost(void **p, size_t bytes) { return cudaMalloc(p, bytes); }
inline cudaError_t cudaFreeHost(void *p) { std::free(p); return cudaSuccess; }
inline cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind) {
    cudaError_t pending = simt::take_pending();  // cudaMemcpy synchronises: report an earlier launch failure
    if (pending != cudaSuccess) return simt::record(pending);
    if (n && (!dst || !src)) return simt::record(cudaErrorInvalidValue);
    if (n) std::memmove(dst, src, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind, cudaStream_t = nullptr) {
    if (n && (!dst || !src)) return simt::record(cudaErrorInvalidValue);
    if (n) std::memmove(dst, src, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemset(void *p, int v, size_t n) {
    if (n && !p) return simt::record(cudaErrorInvalidValue);
    if (n) std::memset(p, v, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t = nullptr) { return cudaMemset(p, v, n); }
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags) {
    if (!s) return simt::record(cudaErrorInvalidValue);
    *s = new CUstream_st{flags};
    return cudaSuccess;
}
inline cudaError_t cudaStreamCreate(cudaStream_t *s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }
inline cudaError_t cudaStreamDestroy(cudaStream_t s) {
    if (!s) return simt::record(cudaErrorInvalidResourceHandle);
    delete s;
    return cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return simt::record(simt::take_pending()); }

#endif /* PPO_SIMT_H */
