/*
 * ppo_cuda.h — device memory, copies, streams and device information of the CUDA launcher library.
 *
 * libppo_cuda.so (nvcc) and libppo_cuda_sim.so (the same sources on the simt CPU emulator, where "device" memory is
 * host memory) export these next to the kernel ABI of native/include/ppo_kernels.h. A trainer that owns its device
 * memory and streams needs none of this: it passes its own device pointers and cudaStream_t as `ctx` to the kernels.
 *
 * Every function returns PPO_OK or an error status (PPO_ERR_INVALID, PPO_ERR_ALLOC, PPO_ERR_DEVICE) and never exits,
 * prints or aborts; ppo_last_error() holds the message (with the CUDA error name and string) for the calling thread.
 * `stream` = NULL is the default stream. Copies between host and device complete before the call returns (the stream
 * is synchronised), so the host buffer may be reused at once; device-to-device copies and memsets are stream-ordered.
 */
#ifndef PPO_CUDA_H
#define PPO_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable CUDA devices (0 when there is no driver or no device: then ppo_last_error() says why). */
int32_t ppo_cuda_device_count(int32_t *count);

/* Name of device `device` ("NVIDIA H100 80GB HBM3", or "simt CPU emulator"), NUL-terminated, truncated to buf_len. */
int32_t ppo_cuda_device_name(int32_t device, char *buf, int64_t buf_len);

/* Compute capability major*10 + minor and the number of multiprocessors of `device`. */
int32_t ppo_cuda_device_info(int32_t device, int32_t *compute_capability, int32_t *multiprocessors);

/* Makes `device` current for the calling thread. */
int32_t ppo_cuda_set_device(int32_t device);

int32_t ppo_cuda_malloc(int64_t bytes, void **out);
int32_t ppo_cuda_free(void *ptr);

int32_t ppo_cuda_memcpy_h2d(void *stream, void *dst_device, const void *src_host, int64_t bytes);
int32_t ppo_cuda_memcpy_d2h(void *stream, void *dst_host, const void *src_device, int64_t bytes);
int32_t ppo_cuda_memcpy_d2d(void *stream, void *dst_device, const void *src_device, int64_t bytes);
int32_t ppo_cuda_memset(void *stream, void *dst_device, int32_t byte_value, int64_t bytes);

/* A non-blocking stream (does not synchronise with the legacy default stream). */
int32_t ppo_cuda_stream_create(void **out);
int32_t ppo_cuda_stream_destroy(void *stream);
int32_t ppo_cuda_stream_synchronize(void *stream);

/* 1 for the emulator build (libppo_cuda_sim.so), 0 for the real CUDA build. */
int32_t ppo_cuda_is_emulator(void);

#ifdef __cplusplus
}
#endif
#endif /* PPO_CUDA_H */
