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

/* ---- linear_token_logprobs end to end on device memory (the op of dev.ppoengine.kernels.LinearTokenLogprobs; the
 * tile steps of ppo_kernels.h plus the GEMMs: cuBLAS, loaded at the first call (PPO_CUBLAS = path overrides the
 * search), on a GPU; a plain reference GEMM in the emulator). Stream-ordered on ctx (a cudaStream_t), one
 * synchronisation at the end (the label check). Dtypes are PPO_* codes.
 *   hidden [n, h] f32/bf16/f16, row stride hidden_stride elements; weight [v, h] dense; bias [v] or NULL (bias_dtype
 *   ignored then); labels [n] i32/i64; logprobs, entropy [n] f32 (entropy NULL = not wanted); saved [n, 3] f32 or NULL.
 *   workspace_bytes: the most device scratch the call may take (0 = 1 GiB); rows_chunk / vocab_chunk: a fixed tile
 *   shape instead (0 = chosen from the budget); workspace_used (nullable): the bytes the tile plan takes.
 * Backward: grad_entropy, grad_hidden ([n, h] dense f32), grad_weight ([v, h] f32), grad_bias ([v] f32) nullable;
 *   accumulate = 1 adds to them, 0 overwrites; grad_gemm = 0: the gradient GEMMs take d loss/d logits exactly (bf16
 *   inputs: as three bf16 parts on tensor cores; others: f32 GEMMs), 1: rounded to the input dtype when hidden and
 *   weight share a 16-bit dtype (one tensor-core GEMM per gradient; autograd's numerics). */
/* The GEMMs of the linear_token_logprobs driver: 1 = usable (buf: "cuBLAS <what was loaded>", or the emulator's reference
 * GEMM), 0 = not (buf: why, with what was tried). Loads cuBLAS if not done yet; needs no device. */
int32_t ppo_cuda_gemm_library(char *buf, int64_t buf_len);

int32_t ppo_linear_token_logprobs(void *ctx, const void *hidden, int32_t hidden_dtype, int64_t n, int64_t h,
                                  int64_t hidden_stride, const void *weight, int32_t weight_dtype, int64_t v,
                                  const void *bias, int32_t bias_dtype, const void *labels, int32_t label_dtype,
                                  double temperature, int32_t entropy_logits, float *logprobs, float *entropy,
                                  float *saved, int64_t workspace_bytes, int64_t rows_chunk, int64_t vocab_chunk,
                                  int64_t *workspace_used);
int32_t ppo_linear_token_logprobs_backward(void *ctx, const void *hidden, int32_t hidden_dtype, int64_t n, int64_t h,
                                           int64_t hidden_stride, const void *weight, int32_t weight_dtype, int64_t v,
                                           const void *bias, int32_t bias_dtype, const void *labels,
                                           int32_t label_dtype, const float *saved, const float *grad_logprobs,
                                           const float *grad_entropy, double temperature, int32_t entropy_logits,
                                           float *grad_hidden, float *grad_weight, float *grad_bias,
                                           int32_t accumulate, int32_t grad_gemm, int64_t workspace_bytes,
                                           int64_t rows_chunk, int64_t vocab_chunk, int64_t *workspace_used);

#ifdef __cplusplus
}
#endif
#endif /* PPO_CUDA_H */
