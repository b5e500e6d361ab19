/*
 * ppo_cuda_host.h — host-side helpers of the launchers (cuda-kernels/<op>.cu): error reporting, a pool of device
 * scratch buffers, device properties. Implemented in runtime.cu; never used inside kernels.
 */
#ifndef PPO_CUDA_HOST_H
#define PPO_CUDA_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "ppo_cuda_common.cuh"
#include "ppo_kernels.h"

namespace ppo {

/* Records the calling thread's error message (printf format) and returns `status`. */
int32_t fail(int32_t status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records "<op>: <what>: <cudaErrorName>: <cudaGetErrorString>" and returns PPO_ERR_ALLOC or PPO_ERR_DEVICE. */
int32_t cuda_fail(const char *op, const char *what, cudaError_t e);

/* Returns from the enclosing launcher when a CUDA call fails. */
#define PPO_CUDA_CHECK(op, what, call)                      \
    do {                                                    \
        cudaError_t ppo_e_ = (call);                        \
        if (ppo_e_ != cudaSuccess) return ::ppo::cuda_fail(op, what, ppo_e_); \
    } while (0)

/* Multiprocessor count of the current device (cached per device; 1 if unknown). */
int sm_count();

/* Items each thread of a grid-stride sweep takes at least: small inputs get a few full blocks instead of many
 * nearly empty ones (and fewer emulated threads on the simt emulator, where every thread costs a context switch). */
constexpr int64_t MIN_ITEMS_PER_THREAD = 16;

/* Threads for a grid-stride sweep over n items: a multiple of 32 in [32, max_threads]. */
inline unsigned sweep_threads(int64_t n, unsigned max_threads) { return pick_threads(n, MIN_ITEMS_PER_THREAD, max_threads); }

/* Blocks for a grid-stride sweep over n items: enough to fill the device (8 blocks per multiprocessor), never more
 * than MIN_ITEMS_PER_THREAD per thread needs. Depends only on n and the device, so reductions over these blocks
 * repeat bit for bit. */
inline unsigned grid_for(int64_t n, unsigned threads) {
    const int64_t per_block = (int64_t)threads * MIN_ITEMS_PER_THREAD;
    int64_t want = (n + per_block - 1) / per_block;
    const int64_t cap = 8LL * sm_count();
    if (want > cap) want = cap;
    return (unsigned)(want < 1 ? 1 : want);
}

/*
 * Device scratch for one launcher call (reduction partials, counters, error flags). Buffers are taken from a
 * process-wide pool and returned when the Scratch goes out of scope; every launcher that uses scratch synchronises
 * its stream before returning, so a returned buffer is never still in use by a kernel.
 */
class Scratch {
  public:
    Scratch() = default;
    ~Scratch();
    Scratch(const Scratch &) = delete;
    Scratch &operator=(const Scratch &) = delete;
    /* Reserves at least `bytes` (256-byte aligned). Returns PPO_OK or a failure status (message recorded). */
    int32_t reserve(const char *op, size_t bytes);
    void *ptr() const { return ptr_; }
    template <class T> T *at(size_t byte_offset) const {
        return reinterpret_cast<T *>(static_cast<char *>(ptr_) + byte_offset);
    }

  private:
    void *ptr_ = nullptr;
    size_t bytes_ = 0;
};

/* Rounds a byte count up to the 256-byte alignment used to carve scratch buffers. */
inline size_t align256(size_t n) { return (n + 255) / 256 * 256; }

/* A page-locked host buffer of at least `bytes` (≤ 4096) owned by the calling thread, or nullptr if none could be
 * allocated (then copy through pageable memory). A device-to-host copy of a few results into it is a plain
 * asynchronous DMA that the following stream synchronisation waits for, instead of the staged copy of pageable
 * memory (which waits for the stream, then copies again). */
void *host_staging(size_t bytes);

/* cudaGetLastError after a launch, as a launcher status. */
int32_t check_launch(const char *op, const char *kernel);

/* Synchronises `stream`, turning a kernel failure into a status. */
int32_t sync(const char *op, cudaStream_t stream);

/*
 * Label check shared by the token_logprobs launchers: the kernels atomicMin the first bad row into `flag`
 * (initialised to ~0 by reset_label_flag). After a sync, report_label_flag names the row and its label value.
 */
int32_t reset_label_flag(const char *op, unsigned long long *flag, cudaStream_t stream);
/* A label flag owned by the calling thread on the current device instead of a scratch flag and its per-call memset:
 * ~0 whenever no call of this thread uses it (set on `stream` on first use, and again by report_label_flag after a
 * bad row, or here after a call that did not reach a clean report). A launcher's calls are synchronous, so one
 * thread never has two calls in flight. */
int32_t thread_label_flag(const char *op, cudaStream_t stream, unsigned long long **flag);
int32_t report_label_flag(const char *op, const unsigned long long *flag, const void *labels, int32_t label_dtype,
                          int64_t v, cudaStream_t stream);

}  // namespace ppo

#endif /* PPO_CUDA_HOST_H */
