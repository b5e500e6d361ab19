/*
 * runtime.cu — the non-kernel part of the CUDA launcher library: ppo_abi_version / ppo_last_error of
 * native/include/ppo_kernels.h, the device memory / copy / stream / device-info API of ppo_cuda.h, and the host
 * helpers of ppo_cuda_host.h (errors, the device scratch pool, label-flag reporting).
 *
 * Errors: nothing here exits, prints or aborts; each failure records a message for the calling thread (thread_local)
 * and returns a PPO_ERR_* status that Java turns into an exception carrying the op, the shapes and this message.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <mutex>
#include <string>
#include <vector>

#include "ppo_cuda.h"
#include "ppo_cuda_host.h"

namespace ppo {

static thread_local std::string g_last_error;

int32_t fail(int32_t status, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    g_last_error = buf;
    return status;
}

int32_t cuda_fail(const char *op, const char *what, cudaError_t e) {
    return fail(e == cudaErrorMemoryAllocation ? PPO_ERR_ALLOC : PPO_ERR_DEVICE, "%s: %s failed: %s: %s", op, what,
                cudaGetErrorName(e), cudaGetErrorString(e));
}

int sm_count() {
    static std::mutex mu;
    static std::vector<int> cache;  // per device ordinal; 0 = not looked up yet
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) {
        cudaGetLastError();
        return 1;
    }
    std::lock_guard<std::mutex> lk(mu);
    if ((int)cache.size() <= dev) cache.resize(dev + 1, 0);
    if (cache[dev] == 0) {
        int n = 0;
        if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n < 1) {
            cudaGetLastError();
            n = 1;
        }
        cache[dev] = n;
    }
    return cache[dev];
}

/* ------------------------------------------------------------------ scratch pool */
namespace {
struct Buffer {
    void *ptr;
    size_t bytes;
    int device;
};
struct Pool {
    std::mutex mu;
    std::vector<Buffer> free_list;
};
Pool &pool() {
    static Pool *p = new Pool();  // never destroyed: buffers may be returned during process teardown
    return *p;
}
constexpr size_t MIN_SCRATCH = 64 * 1024;
constexpr size_t MAX_POOLED = 16;
}  // namespace

int32_t Scratch::reserve(const char *op, size_t bytes) {
    int dev = 0;
    PPO_CUDA_CHECK(op, "cudaGetDevice", cudaGetDevice(&dev));
    {
        Pool &p = pool();
        std::lock_guard<std::mutex> lk(p.mu);
        size_t best = (size_t)-1;
        for (size_t i = 0; i < p.free_list.size(); i++) {
            const Buffer &b = p.free_list[i];
            if (b.device == dev && b.bytes >= bytes && (best == (size_t)-1 || b.bytes < p.free_list[best].bytes)) best = i;
        }
        if (best != (size_t)-1) {
            ptr_ = p.free_list[best].ptr;
            bytes_ = p.free_list[best].bytes;
            p.free_list.erase(p.free_list.begin() + (long)best);
            return PPO_OK;
        }
    }
    size_t n = align256(bytes < MIN_SCRATCH ? MIN_SCRATCH : bytes);
    void *ptr = nullptr;
    PPO_CUDA_CHECK(op, "cudaMalloc of scratch", cudaMalloc(&ptr, n));
    ptr_ = ptr;
    bytes_ = n;
    return PPO_OK;
}

Scratch::~Scratch() {
    if (ptr_ == nullptr) return;
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) cudaGetLastError();
    Pool &p = pool();
    std::lock_guard<std::mutex> lk(p.mu);
    if (p.free_list.size() < MAX_POOLED) {
        p.free_list.push_back(Buffer{ptr_, bytes_, dev});
    } else {
        cudaFree(ptr_);
    }
}

namespace {
constexpr size_t STAGING_BYTES = 4096;
struct Staging {
    void *ptr = nullptr;
    bool tried = false;
    ~Staging() {
        if (ptr != nullptr) cudaFreeHost(ptr);
    }
};
}  // namespace

void *host_staging(size_t bytes) {
    static thread_local Staging st;
    if (bytes > STAGING_BYTES) return nullptr;
    if (!st.tried) {
        st.tried = true;
        if (cudaMallocHost(&st.ptr, STAGING_BYTES) != cudaSuccess) {
            cudaGetLastError();  // not a launcher failure: the callers fall back to pageable memory
            st.ptr = nullptr;
        }
    }
    return st.ptr;
}

int32_t check_launch(const char *op, const char *kernel) {
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) return PPO_OK;
    // Consume the failure so it is not reported again by a later, unrelated synchronisation.
    cudaDeviceSynchronize();
    cudaGetLastError();
    char what[160];
    snprintf(what, sizeof what, "launch of %s", kernel);
    return cuda_fail(op, what, e);
}

int32_t sync(const char *op, cudaStream_t stream) {
    PPO_CUDA_CHECK(op, "cudaStreamSynchronize", cudaStreamSynchronize(stream));
    return PPO_OK;
}

int32_t reset_label_flag(const char *op, unsigned long long *flag, cudaStream_t stream) {
    PPO_CUDA_CHECK(op, "cudaMemsetAsync of the label flag", cudaMemsetAsync(flag, 0xff, sizeof(*flag), stream));
    return PPO_OK;
}

namespace {
struct ThreadFlags {
    std::vector<unsigned long long *> flag;  // by device ordinal
    std::vector<char> clean;                 // the flag holds ~0 and no call is using it
    ~ThreadFlags() {
        for (unsigned long long *p : flag) {
            if (p != nullptr) cudaFree(p);
        }
    }
};
ThreadFlags &thread_flags() {
    static thread_local ThreadFlags f;
    return f;
}
/* Marks the calling thread's flag clean again when `flag` is it (report_label_flag also serves scratch flags). */
void flag_clean(const unsigned long long *flag) {
    ThreadFlags &f = thread_flags();
    for (size_t d = 0; d < f.flag.size(); d++) {
        if (f.flag[d] == flag) f.clean[d] = 1;
    }
}
}  // namespace

int32_t thread_label_flag(const char *op, cudaStream_t stream, unsigned long long **out) {
    int dev = 0;
    PPO_CUDA_CHECK(op, "cudaGetDevice", cudaGetDevice(&dev));
    ThreadFlags &f = thread_flags();
    if ((int)f.flag.size() <= dev) {
        f.flag.resize(dev + 1, nullptr);
        f.clean.resize(dev + 1, 0);
    }
    if (f.flag[dev] == nullptr) {
        void *p = nullptr;
        PPO_CUDA_CHECK(op, "cudaMalloc of the label flag", cudaMalloc(&p, sizeof(unsigned long long)));
        f.flag[dev] = static_cast<unsigned long long *>(p);
        f.clean[dev] = 0;
    }
    if (!f.clean[dev]) {
        // first use, or the last call of this thread stopped before its report: set ~0 ahead of the kernel
        int32_t rc = reset_label_flag(op, f.flag[dev], stream);
        if (rc != PPO_OK) return rc;
    }
    f.clean[dev] = 0;  // in use until report_label_flag finds it clean
    *out = f.flag[dev];
    return PPO_OK;
}

int32_t report_label_flag(const char *op, const unsigned long long *flag, const void *labels, int32_t label_dtype,
                          int64_t v, cudaStream_t stream) {
    unsigned long long row = 0;
    void *pinned = host_staging(sizeof row);
    PPO_CUDA_CHECK(op, "copy of the label flag",
                   cudaMemcpyAsync(pinned != nullptr ? pinned : &row, flag, sizeof row, cudaMemcpyDeviceToHost, stream));
    PPO_CUDA_CHECK(op, "cudaStreamSynchronize", cudaStreamSynchronize(stream));
    if (pinned != nullptr) memcpy(&row, pinned, sizeof row);
    if (row == ~0ull) {
        flag_clean(flag);
        return PPO_OK;
    }
    long long y = 0;
    if (label_dtype == PPO_I64) {
        PPO_CUDA_CHECK(op, "copy of the bad label",
                       cudaMemcpyAsync(&y, static_cast<const long long *>(labels) + row, 8, cudaMemcpyDeviceToHost, stream));
    } else {
        int32_t y32 = 0;
        PPO_CUDA_CHECK(op, "copy of the bad label",
                       cudaMemcpyAsync(&y32, static_cast<const int32_t *>(labels) + row, 4, cudaMemcpyDeviceToHost, stream));
        PPO_CUDA_CHECK(op, "cudaStreamSynchronize", cudaStreamSynchronize(stream));
        y = y32;
    }
    if (label_dtype == PPO_I64) PPO_CUDA_CHECK(op, "cudaStreamSynchronize", cudaStreamSynchronize(stream));
    return fail(PPO_ERR_LABEL, "labels: row %llu has label %lld, outside [0, %lld)", row, y, (long long)v);
}

}  // namespace ppo

/* ------------------------------------------------------------------ C API */
extern "C" {

int32_t ppo_abi_version(void) { return PPO_ABI_VERSION; }

const char *ppo_last_error(void) { return ppo::g_last_error.c_str(); }

int32_t ppo_cuda_is_emulator(void) {
#ifdef SIMT_EMULATION
    return 1;
#else
    return 0;
#endif
}

int32_t ppo_cuda_device_count(int32_t *count) {
    if (count == nullptr) return ppo::fail(PPO_ERR_INVALID, "ppo_cuda_device_count: count is NULL");
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();
        *count = 0;
        if (e == cudaErrorInsufficientDriver) {
            // What the runtime reports both without any NVIDIA driver (no libcuda.so.1) and with an old one.
            ppo::fail(PPO_OK, "no usable CUDA device: no NVIDIA driver was found, or it is older than the CUDA %d.%d "
                      "runtime this library was built with (cudaErrorInsufficientDriver)", CUDART_VERSION / 1000,
                      (CUDART_VERSION % 1000) / 10);
        } else {
            ppo::fail(PPO_OK, "no usable CUDA device: %s: %s", cudaGetErrorName(e), cudaGetErrorString(e));
        }
        return PPO_OK;
    }
    *count = n;
    if (n == 0) ppo::fail(PPO_OK, "no CUDA device found by the driver");
    return PPO_OK;
}

int32_t ppo_cuda_device_name(int32_t device, char *buf, int64_t buf_len) {
    if (buf == nullptr || buf_len < 1) return ppo::fail(PPO_ERR_INVALID, "ppo_cuda_device_name: empty buffer");
    cudaDeviceProp prop;
    PPO_CUDA_CHECK("ppo_cuda_device_name", "cudaGetDeviceProperties", cudaGetDeviceProperties(&prop, device));
    snprintf(buf, (size_t)buf_len, "%s", prop.name);
    return PPO_OK;
}

int32_t ppo_cuda_device_info(int32_t device, int32_t *compute_capability, int32_t *multiprocessors) {
    if (compute_capability == nullptr || multiprocessors == nullptr) {
        return ppo::fail(PPO_ERR_INVALID, "ppo_cuda_device_info: NULL output");
    }
    cudaDeviceProp prop;
    PPO_CUDA_CHECK("ppo_cuda_device_info", "cudaGetDeviceProperties", cudaGetDeviceProperties(&prop, device));
    *compute_capability = prop.major * 10 + prop.minor;
    *multiprocessors = prop.multiProcessorCount;
    return PPO_OK;
}

int32_t ppo_cuda_set_device(int32_t device) {
    PPO_CUDA_CHECK("ppo_cuda_set_device", "cudaSetDevice", cudaSetDevice(device));
    return PPO_OK;
}

int32_t ppo_cuda_malloc(int64_t bytes, void **out) {
    if (out == nullptr || bytes < 0) return ppo::fail(PPO_ERR_INVALID, "ppo_cuda_malloc: bad arguments (%lld bytes)", (long long)bytes);
    void *p = nullptr;
    cudaError_t e = cudaMalloc(&p, (size_t)(bytes > 0 ? bytes : 1));
    if (e != cudaSuccess) {
        cudaGetLastError();
        *out = nullptr;
        return ppo::fail(e == cudaErrorMemoryAllocation ? PPO_ERR_ALLOC : PPO_ERR_DEVICE,
                         "ppo_cuda_malloc: cudaMalloc of %lld bytes failed: %s: %s", (long long)bytes,
                         cudaGetErrorName(e), cudaGetErrorString(e));
    }
    *out = p;
    return PPO_OK;
}

int32_t ppo_cuda_free(void *ptr) {
    PPO_CUDA_CHECK("ppo_cuda_free", "cudaFree", cudaFree(ptr));
    return PPO_OK;
}

static int32_t copy(const char *op, void *stream, void *dst, const void *src, int64_t bytes, cudaMemcpyKind kind,
                    bool wait) {
    if (bytes < 0 || (bytes > 0 && (dst == nullptr || src == nullptr))) {
        return ppo::fail(PPO_ERR_INVALID, "%s: bad arguments (%lld bytes)", op, (long long)bytes);
    }
    if (bytes == 0) return PPO_OK;
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    PPO_CUDA_CHECK(op, "cudaMemcpyAsync", cudaMemcpyAsync(dst, src, (size_t)bytes, kind, s));
    if (wait) PPO_CUDA_CHECK(op, "cudaStreamSynchronize", cudaStreamSynchronize(s));
    return PPO_OK;
}

int32_t ppo_cuda_memcpy_h2d(void *stream, void *dst, const void *src, int64_t bytes) {
    return copy("ppo_cuda_memcpy_h2d", stream, dst, src, bytes, cudaMemcpyHostToDevice, true);
}

int32_t ppo_cuda_memcpy_d2h(void *stream, void *dst, const void *src, int64_t bytes) {
    return copy("ppo_cuda_memcpy_d2h", stream, dst, src, bytes, cudaMemcpyDeviceToHost, true);
}

int32_t ppo_cuda_memcpy_d2d(void *stream, void *dst, const void *src, int64_t bytes) {
    return copy("ppo_cuda_memcpy_d2d", stream, dst, src, bytes, cudaMemcpyDeviceToDevice, false);
}

int32_t ppo_cuda_memset(void *stream, void *dst, int32_t byte_value, int64_t bytes) {
    if (bytes < 0 || (bytes > 0 && dst == nullptr)) {
        return ppo::fail(PPO_ERR_INVALID, "ppo_cuda_memset: bad arguments (%lld bytes)", (long long)bytes);
    }
    if (bytes == 0) return PPO_OK;
    PPO_CUDA_CHECK("ppo_cuda_memset", "cudaMemsetAsync",
                   cudaMemsetAsync(dst, byte_value, (size_t)bytes, static_cast<cudaStream_t>(stream)));
    return PPO_OK;
}

int32_t ppo_cuda_stream_create(void **out) {
    if (out == nullptr) return ppo::fail(PPO_ERR_INVALID, "ppo_cuda_stream_create: out is NULL");
    cudaStream_t s = nullptr;
    PPO_CUDA_CHECK("ppo_cuda_stream_create", "cudaStreamCreateWithFlags",
                   cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    *out = s;
    return PPO_OK;
}

int32_t ppo_cuda_stream_destroy(void *stream) {
    PPO_CUDA_CHECK("ppo_cuda_stream_destroy", "cudaStreamDestroy", cudaStreamDestroy(static_cast<cudaStream_t>(stream)));
    return PPO_OK;
}

int32_t ppo_cuda_stream_synchronize(void *stream) {
    PPO_CUDA_CHECK("ppo_cuda_stream_synchronize", "cudaStreamSynchronize",
                   cudaStreamSynchronize(static_cast<cudaStream_t>(stream)));
    return PPO_OK;
}

}  // extern "C"
