/*
 * linear_token_logprobs_test.cpp — the CUDA tile steps of linear_token_logprobs (linear_token_logprobs.cu) driven end
 * to end with the reference GEMM ppo_linear_sgemm, against an f64 evaluation of the op on the host:
 *   z = hidden·weightᵀ + bias,  logprob = z_y/τ − lse,  entropy = lse_e − Σ q z_e,  saved = (lse, lse_e, mean),
 *   dz = g(1[j=y] − p)/τ − h q (z_e − mean) s,  grad_hidden = dZ·W,  grad_weight = dZᵀ·H,  grad_bias = Σ_i dZ_i.
 * Chunks divide neither N nor V; f32 and bf16 inputs (widened by linear_to_f32), bias on/off, τ = 1 and ≠ 1,
 * scaled and raw entropy logits; two runs must agree bit for bit; an out-of-range label must be PPO_ERR_LABEL.
 *
 * Builds two ways, like the kernels: with g++ and simt/simt.h force-included (the emulator: no GPU needed) or with
 * nvcc (a GPU). Exit status 0 = every case passed; each failure prints one line.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <random>
#include <vector>

#ifndef SIMT_EMULATION
#include <cuda_runtime.h>
#endif

#include "ppo_kernels.h"

extern "C" const char *ppo_last_error(void);
extern "C" int32_t ppo_linear_sgemm(void *ctx, int32_t trans_a, int32_t trans_b, int64_t m, int64_t n, int64_t k,
                                    float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                                    float *c, int64_t ldc);

namespace {

int failures = 0;

void check(int32_t st, const char *what) {
    if (st != PPO_OK) {
        printf("FAIL %s: status %d: %s\n", what, st, ppo_last_error());
        failures++;
    }
}

template <class T> T *dev(const std::vector<T> &host) {
    T *p = nullptr;
    if (cudaMalloc(reinterpret_cast<void **>(&p), host.size() * sizeof(T) + 16) != cudaSuccess) {
        printf("FAIL cudaMalloc\n");
        failures++;
        return nullptr;
    }
    cudaMemcpy(p, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice);
    return p;
}

template <class T> std::vector<T> host(const T *p, size_t n) {
    std::vector<T> out(n);
    cudaMemcpy(out.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost);
    return out;
}

uint16_t to_bf16(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    return (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);   // round to nearest even (finite inputs)
}

float from_bf16(uint16_t h) {
    uint32_t b = (uint32_t)h << 16;
    float f;
    memcpy(&f, &b, 4);
    return f;
}

struct Case {
    int n, h, v, rows, cols;
    bool bf16, bias;
    double tau;
    int entropy_logits;
};

struct Result {
    std::vector<float> logprobs, entropy, saved, gh, gw, gb;
};

/* The tile driver of the op, as the Java driver does it on the CPU (row blocks × vocabulary chunks). */
Result run_device(const Case &c, const std::vector<float> &hid32, const std::vector<uint16_t> &hid16,
                  const std::vector<float> &w32, const std::vector<uint16_t> &w16, const std::vector<float> &bias,
                  const std::vector<int64_t> &labels, const std::vector<float> &g, const std::vector<float> &he) {
    const int n = c.n, h = c.h, v = c.v;
    float *d_h = nullptr, *d_w = nullptr;
    uint16_t *d_h16 = nullptr, *d_w16 = nullptr;
    if (c.bf16) {
        // bf16 inputs: widened into dense f32 operands by linear_to_f32 (whole tensors here: the test is small)
        d_h16 = dev(hid16);
        d_w16 = dev(w16);
        d_h = dev(std::vector<float>((size_t)n * h));
        d_w = dev(std::vector<float>((size_t)v * h));
        check(linear_to_f32(nullptr, d_h16, PPO_BF16, n, h, h, d_h, h), "linear_to_f32 hidden");
        check(linear_to_f32(nullptr, d_w16, PPO_BF16, v, h, h, d_w, h), "linear_to_f32 weight");
    } else {
        d_h = dev(hid32);
        d_w = dev(w32);
    }
    float *d_b = c.bias ? dev(bias) : nullptr;
    int64_t *d_y = dev(labels);
    float *d_g = dev(g), *d_he = dev(he);
    float *d_tile = dev(std::vector<float>((size_t)c.rows * c.cols));
    double *d_state = dev(std::vector<double>((size_t)c.rows * PPO_LINEAR_STATE));
    float *d_lp = dev(std::vector<float>(n)), *d_ent = dev(std::vector<float>(n));
    float *d_saved = dev(std::vector<float>((size_t)n * 3));
    float *d_gh = dev(std::vector<float>((size_t)n * h)), *d_gw = dev(std::vector<float>((size_t)v * h));
    float *d_gb = dev(std::vector<float>(v));
    const double tau = c.tau;
    const int el = c.entropy_logits;

    for (int r0 = 0; r0 < n; r0 += c.rows) {
        const int rows = n - r0 < c.rows ? n - r0 : c.rows;
        for (int v0 = 0; v0 < v; v0 += c.cols) {
            const int cols = v - v0 < c.cols ? v - v0 : c.cols;
            check(ppo_linear_sgemm(nullptr, 0, 1, rows, cols, h, 1.0f, d_h + (size_t)r0 * h, h, d_w + (size_t)v0 * h, h,
                                   0.0f, d_tile, cols), "sgemm logits");
            check(linear_lse_update(nullptr, d_tile, rows, cols, cols, d_b ? d_b + v0 : nullptr, v0, v, d_y + r0,
                                    PPO_I64, tau, el, d_state), "linear_lse_update");
        }
        check(linear_lse_finish(nullptr, d_state, rows, tau, el, d_lp + r0, d_ent + r0, d_saved + (size_t)3 * r0),
              "linear_lse_finish");
    }
    for (int r0 = 0; r0 < n; r0 += c.rows) {
        const int rows = n - r0 < c.rows ? n - r0 : c.rows;
        for (int v0 = 0; v0 < v; v0 += c.cols) {
            const int cols = v - v0 < c.cols ? v - v0 : c.cols;
            check(ppo_linear_sgemm(nullptr, 0, 1, rows, cols, h, 1.0f, d_h + (size_t)r0 * h, h, d_w + (size_t)v0 * h, h,
                                   0.0f, d_tile, cols), "sgemm logits (backward)");
            check(linear_chunk_backward(nullptr, d_tile, rows, cols, cols, d_b ? d_b + v0 : nullptr, v0, v, d_y + r0,
                                        PPO_I64, d_saved + (size_t)3 * r0, d_g + r0, d_he + r0, tau, el, d_gb + v0),
                  "linear_chunk_backward");
            check(ppo_linear_sgemm(nullptr, 0, 0, rows, h, cols, 1.0f, d_tile, cols, d_w + (size_t)v0 * h, h, 1.0f,
                                   d_gh + (size_t)r0 * h, h), "sgemm grad_hidden");
            check(ppo_linear_sgemm(nullptr, 1, 0, cols, h, rows, 1.0f, d_tile, cols, d_h + (size_t)r0 * h, h, 1.0f,
                                   d_gw + (size_t)v0 * h, h), "sgemm grad_weight");
        }
    }
    Result r;
    r.logprobs = host(d_lp, n);
    r.entropy = host(d_ent, n);
    r.saved = host(d_saved, (size_t)n * 3);
    r.gh = host(d_gh, (size_t)n * h);
    r.gw = host(d_gw, (size_t)v * h);
    r.gb = host(d_gb, v);
    for (void *p : {(void *)d_h, (void *)d_w, (void *)d_h16, (void *)d_w16, (void *)d_b, (void *)d_y, (void *)d_g,
                    (void *)d_he, (void *)d_tile, (void *)d_state, (void *)d_lp, (void *)d_ent, (void *)d_saved,
                    (void *)d_gh, (void *)d_gw, (void *)d_gb}) {
        if (p) cudaFree(p);
    }
    return r;
}

void close(const char *name, const Case &c, const std::vector<double> &want, const std::vector<float> &got) {
    for (size_t i = 0; i < want.size(); i++) {
        const double tol = 1e-5 + 1e-5 * fabs(want[i]);
        if (!(fabs(want[i] - (double)got[i]) <= tol)) {
            printf("FAIL n=%d h=%d v=%d chunks %dx%d bf16=%d bias=%d tau=%g el=%d: %s[%zu] want %.9g got %.9g\n", c.n, c.h,
                   c.v, c.rows, c.cols, c.bf16, c.bias, c.tau, c.entropy_logits, name, i, want[i], (double)got[i]);
            failures++;
            return;
        }
    }
}

void run_case(const Case &c, unsigned seed) {
    const int n = c.n, h = c.h, v = c.v;
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> hid((size_t)n * h), w((size_t)v * h), bias(v), g(n), he(n);
    std::vector<uint16_t> hid16(hid.size()), w16(w.size());
    const float ws = 3.0f / sqrtf((float)h);
    for (auto &x : hid) x = nd(rng);
    for (auto &x : w) x = ws * nd(rng);
    for (auto &x : bias) x = c.bias ? nd(rng) : 0.0f;
    for (auto &x : g) x = nd(rng);
    for (auto &x : he) x = 0.5f * nd(rng);
    std::vector<int64_t> labels(n);
    for (auto &y : labels) y = (int64_t)(rng() % (unsigned)v);
    if (c.bf16) {   // the op sees the bf16-rounded values: the host reference uses exactly those
        for (size_t i = 0; i < hid.size(); i++) hid[i] = from_bf16(hid16[i] = to_bf16(hid[i]));
        for (size_t i = 0; i < w.size(); i++) w[i] = from_bf16(w16[i] = to_bf16(w[i]));
    }

    // host reference in f64
    const double tau = c.tau;
    const bool raw = c.entropy_logits == PPO_ENTROPY_RAW;
    std::vector<double> lp(n), ent(n), saved((size_t)n * 3), gh((size_t)n * h, 0.0), gw((size_t)v * h, 0.0), gb(v, 0.0);
    std::vector<double> z(v);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < v; j++) {
            double acc = c.bias ? bias[j] : 0.0;
            for (int k = 0; k < h; k++) acc += (double)hid[(size_t)i * h + k] * w[(size_t)j * h + k];
            z[j] = acc;
        }
        double m = -INFINITY, mr = -INFINITY;
        for (int j = 0; j < v; j++) {
            m = fmax(m, z[j] / tau);
            mr = fmax(mr, z[j]);
        }
        double s = 0, sr = 0;
        for (int j = 0; j < v; j++) {
            s += exp(z[j] / tau - m);
            sr += exp(z[j] - mr);
        }
        const double lse = m + log(s), lse_e = raw ? mr + log(sr) : lse;
        double mean = 0;
        for (int j = 0; j < v; j++) {
            const double ze = raw ? z[j] : z[j] / tau;
            mean += exp(ze - lse_e) * ze;
        }
        lp[i] = z[labels[i]] / tau - lse;
        ent[i] = lse_e - mean;
        saved[3 * i] = lse;
        saved[3 * i + 1] = lse_e;
        saved[3 * i + 2] = mean;
        for (int j = 0; j < v; j++) {
            const double p = exp(z[j] / tau - lse);
            const double ze = raw ? z[j] : z[j] / tau;
            const double q = exp(ze - lse_e);
            const double d = g[i] * ((j == labels[i] ? 1.0 : 0.0) - p) / tau - he[i] * q * (ze - mean) * (raw ? 1.0 : 1.0 / tau);
            gb[j] += d;
            for (int k = 0; k < h; k++) {
                gh[(size_t)i * h + k] += d * w[(size_t)j * h + k];
                gw[(size_t)j * h + k] += d * hid[(size_t)i * h + k];
            }
        }
    }

    Result a = run_device(c, hid, hid16, w, w16, bias, labels, g, he);
    close("logprobs", c, lp, a.logprobs);
    close("entropy", c, ent, a.entropy);
    close("saved", c, saved, a.saved);
    close("grad_hidden", c, gh, a.gh);
    close("grad_weight", c, gw, a.gw);
    if (c.bias) close("grad_bias", c, gb, a.gb);

    Result b = run_device(c, hid, hid16, w, w16, bias, labels, g, he);
    const std::vector<float> *x[] = {&a.logprobs, &a.entropy, &a.saved, &a.gh, &a.gw, &a.gb};
    const std::vector<float> *y[] = {&b.logprobs, &b.entropy, &b.saved, &b.gh, &b.gw, &b.gb};
    for (int t = 0; t < 6; t++) {
        if (x[t]->size() != y[t]->size() || memcmp(x[t]->data(), y[t]->data(), x[t]->size() * sizeof(float)) != 0) {
            printf("FAIL n=%d v=%d: output %d differs between two runs\n", c.n, c.v, t);
            failures++;
        }
    }
}

void bad_label() {
    std::vector<float> tile(2 * 3, 0.5f);
    std::vector<int64_t> labels = {1, 3};   // 3 is outside [0, 3)
    std::vector<double> state(2 * PPO_LINEAR_STATE);
    float *d_tile = dev(tile);
    int64_t *d_y = dev(labels);
    double *d_state = dev(state);
    int32_t st = linear_lse_update(nullptr, d_tile, 2, 3, 3, nullptr, 0, 3, d_y, PPO_I64, 1.0, PPO_ENTROPY_SCALED, d_state);
    if (st != PPO_ERR_LABEL || strstr(ppo_last_error(), "row 1") == nullptr) {
        printf("FAIL bad label: status %d, message '%s'\n", st, ppo_last_error());
        failures++;
    }
    cudaFree(d_tile);
    cudaFree(d_y);
    cudaFree(d_state);
}

}  // namespace

int main() {
    const Case cases[] = {
        {1, 1, 1, 1, 1, false, false, 1.0, PPO_ENTROPY_SCALED},
        {13, 7, 45, 5, 16, false, true, 1.0, PPO_ENTROPY_SCALED},
        {13, 7, 45, 5, 16, false, true, 0.7, PPO_ENTROPY_RAW},
        {9, 6, 300, 4, 64, true, false, 0.8, PPO_ENTROPY_SCALED},
        {9, 6, 300, 4, 64, true, true, 1.3, PPO_ENTROPY_RAW},
        {3, 33, 257, 2, 300, false, true, 0.6, PPO_ENTROPY_RAW},
    };
    unsigned seed = 7;
    for (const Case &c : cases) run_case(c, seed++);
    bad_label();
    if (failures == 0) printf("linear_token_logprobs_test: %zu cases passed\n", sizeof cases / sizeof cases[0] + 1);
    return failures == 0 ? 0 : 1;
}
