/*
 * ppo_simd.h — width-generic SIMD helpers, compiled once per ISA variant (PPO_ISA = 0, 1, 2).
 *
 * Types are GCC vector extensions of VW lanes (4 = SSE2, 8 = AVX2, 16 = AVX-512), so kernels are written once
 * with ordinary operators (+, *, <, &, ...; a comparison gives -1/0 lanes); the few operations without an operator
 * (max/min, any-lane test, f16 conversion) use the ISA's intrinsics. vd holds the same VW lanes in f64 (two
 * registers): the per-row and per-chunk sums accumulate there.
 *
 * vf_exp: e^x in f32, Cody–Waite reduction x = n·ln2 + r (|r| <= ln2/2) and a degree-6 polynomial for e^r whose
 * coefficients were fitted to minimise the relative error on that interval (max 0.81 ulp including rounding,
 * measured over 2·10^5 points); 2^n enters through the exponent bits. Inputs below -87 give exactly 0 (true value
 * < 1.7e-38), inputs above 88 saturate at e^88 (no inf), NaN propagates.
 */
#ifndef PPO_SIMD_H
#define PPO_SIMD_H

#include "ppo_internal.h"

#include <float.h>
#include <immintrin.h>

#if PPO_ISA == 2
#define VW 16
#elif PPO_ISA == 1
#define VW 8
#else
#define VW 4
#endif

typedef float vf __attribute__((vector_size(VW * 4)));
typedef int32_t vi __attribute__((vector_size(VW * 4)));
typedef uint32_t vu __attribute__((vector_size(VW * 4)));
typedef double vd __attribute__((vector_size(VW * 8)));
typedef int64_t vl __attribute__((vector_size(VW * 8)));
typedef uint16_t vh __attribute__((vector_size(VW * 2)));
typedef uint8_t vb __attribute__((vector_size(VW)));

PPO_INLINE vf vf_set1(float x) { return (vf){0} + x; }
PPO_INLINE vd vd_set1(double x) { return (vd){0} + x; }
PPO_INLINE vi vi_set1(int32_t x) { return (vi){0} + x; }

/* lanes 0, 1, ..., VW-1 */
PPO_INLINE vi vi_iota(void) {
#if VW == 16
    return (vi){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
#elif VW == 8
    return (vi){0, 1, 2, 3, 4, 5, 6, 7};
#else
    return (vi){0, 1, 2, 3};
#endif
}

/* m ? a : b, lane by lane (m lanes are -1 or 0) */
PPO_INLINE vf vf_sel(vi m, vf a, vf b) { return (vf)(((vi)a & m) | ((vi)b & ~m)); }
/* m ? a : 0 */
PPO_INLINE vf vf_and(vi m, vf a) { return (vf)((vi)a & m); }

/* max/min with the x86 NaN rule: the second operand is returned when either is NaN */
PPO_INLINE vf vf_max(vf a, vf b) {
#if VW == 16
    return (vf)_mm512_max_ps((__m512)a, (__m512)b);
#elif VW == 8
    return (vf)_mm256_max_ps((__m256)a, (__m256)b);
#else
    return (vf)_mm_max_ps((__m128)a, (__m128)b);
#endif
}

PPO_INLINE vf vf_min(vf a, vf b) {
#if VW == 16
    return (vf)_mm512_min_ps((__m512)a, (__m512)b);
#elif VW == 8
    return (vf)_mm256_min_ps((__m256)a, (__m256)b);
#else
    return (vf)_mm_min_ps((__m128)a, (__m128)b);
#endif
}

PPO_INLINE vf vf_abs(vf a) { return (vf)((vi)a & vi_set1(0x7fffffff)); }

/* true when any lane of m is set */
PPO_INLINE int vi_any(vi m) {
#if VW == 16
    return _mm512_test_epi32_mask((__m512i)m, (__m512i)m) != 0;
#elif VW == 8
    return !_mm256_testz_si256((__m256i)m, (__m256i)m);
#else
    return _mm_movemask_epi8((__m128i)m) != 0;
#endif
}

PPO_INLINE vd vd_from(vf x) { return __builtin_convertvector(x, vd); }
PPO_INLINE vd vd_from_i(vi x) { return __builtin_convertvector(x, vd); }

/* Horizontal sums in a fixed pairwise order (lane count is fixed per build, so the order never varies). */
PPO_INLINE double vd_hsum(vd v) {
    double t[VW];
    memcpy(t, &v, sizeof t);
    for (int w = VW / 2; w >= 1; w /= 2) {
        for (int i = 0; i < w; i++) t[i] += t[i + w];
    }
    return t[0];
}

PPO_INLINE int64_t vi_hsum(vi v) {
    int32_t t[VW];
    memcpy(t, &v, sizeof t);
    int64_t s = 0;
    for (int i = 0; i < VW; i++) s += t[i];
    return s;
}

/* ---------------- e^x ---------------- */

PPO_INLINE vf vf_exp(vf x) {
    const vf magic = vf_set1(12582912.0f);         /* 1.5·2^23: adding it rounds to an integer in the low bits */
    vi under = x < vf_set1(-87.0f);
    x = vf_min(vf_set1(88.0f), vf_max(vf_set1(-87.0f), x));   /* x second: a NaN passes through both */
    vf t = x * vf_set1(1.44269504088896341f) + magic;
    vf n = t - magic;
    vf r = x - n * vf_set1(0.693359375f);          /* ln2 split: n·hi is exact for |n| <= 128 */
    r = r - n * vf_set1(-2.12194440e-4f);
    vf p = vf_set1(0.0013843653723597527f);
    p = p * r + vf_set1(0.00837415549904108f);
    p = p * r + vf_set1(0.04166800156235695f);
    p = p * r + vf_set1(0.16666431725025177f);
    p = p * r + vf_set1(0.4999999403953552f);
    p = p * r + vf_set1(1.0f);
    p = p * r + vf_set1(1.0f);
    vi e = ((vi)t - (vi)magic) << 23;              /* n in the exponent field: n in [-126, 127] here */
    return vf_and(~under, (vf)((vi)p + e));
}

/* ---------------- 16-bit floats ---------------- */

PPO_INLINE vf vf_from_bf16(vh h) { return (vf)(__builtin_convertvector(h, vu) << 16); }

/* f32 -> bf16 bits, round to nearest even; a NaN stays a quiet NaN */
PPO_INLINE vh vf_to_bf16(vf x) {
    vu b = (vu)x;
    vu rounded = (b + 0x7fffu + ((b >> 16) & 1u)) >> 16;
    vi nan = x != x;
    vu quiet = (b >> 16) | 0x40u;
    vu r = (vu)(((vi)rounded & ~nan) | ((vi)quiet & nan));
    return __builtin_convertvector(r, vh);   /* narrowing: every lane is < 2^16 here */
}

/* scalar IEEE half -> float (exact) for the generic variant */
PPO_INLINE float ppo_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else {   /* subnormal half: value = man · 2^-24, exact in f32 */
        float f = (float)man * 5.9604644775390625e-8f;
        memcpy(&bits, &f, 4);
        bits |= sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* scalar float -> IEEE half bits, round to nearest even (overflow -> inf, NaN stays NaN) */
PPO_INLINE uint16_t ppo_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);   /* rounds to >= 65520: inf */
    if (ax < 0x38800000u) {                                       /* below 2^-14: subnormal half or zero */
        float a;
        memcpy(&a, &ax, 4);
        /* a·2^24 rounded to nearest even by the FPU's default mode (exact product, one rounding) */
        return (uint16_t)(sign | (uint16_t)__builtin_rintf(a * 16777216.0f));
    }
    uint32_t r = ax + 0xfffu + ((ax >> 13) & 1u) - (112u << 23);
    return (uint16_t)(sign | (r >> 13));
}

PPO_INLINE vf vf_from_f16(vh h) {
#if VW == 16
    __m256i raw;
    memcpy(&raw, &h, sizeof raw);
    return (vf)_mm512_cvtph_ps(raw);
#elif VW == 8
    __m128i raw;
    memcpy(&raw, &h, sizeof raw);
    return (vf)_mm256_cvtph_ps(raw);
#else
    vf r;
    for (int i = 0; i < VW; i++) r[i] = ppo_f16_to_f32(h[i]);
    return r;
#endif
}

PPO_INLINE vh vf_to_f16(vf x) {
    vh r;
#if VW == 16
    __m256i h = _mm512_cvtps_ph((__m512)x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    memcpy(&r, &h, sizeof r);
#elif VW == 8
    __m128i h = _mm256_cvtps_ph((__m256)x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    memcpy(&r, &h, sizeof r);
#else
    for (int i = 0; i < VW; i++) r[i] = ppo_f32_to_f16(x[i]);
#endif
    return r;
}

/* ---------------- loads and stores ---------------- */

/* VW floats from element i of a row of dtype dt (F32, BF16, F16); dt is a constant after inlining. */
PPO_INLINE vf vf_load_dt(const void *row, int dt, int64_t i) {
    if (dt == PPO_F32) {
        vf v;
        memcpy(&v, (const float *)row + i, sizeof v);
        return v;
    }
    vh h;
    memcpy(&h, (const uint16_t *)row + i, sizeof h);
    return dt == PPO_BF16 ? vf_from_bf16(h) : vf_from_f16(h);
}

/* The first n (< VW) elements at i, the other lanes 0; never reads past element i + n - 1. */
PPO_INLINE vf vf_load_dt_tail(const void *row, int dt, int64_t i, int n) {
    unsigned char buf[VW * 4] __attribute__((aligned(64))) = {0};
    size_t es = dt == PPO_F32 ? 4 : 2;
    memcpy(buf, (const unsigned char *)row + (size_t)i * es, (size_t)n * es);
    return vf_load_dt(buf, dt, 0);
}

PPO_INLINE void vf_store_dt(void *row, int dt, int64_t i, vf v) {
    if (dt == PPO_F32) {
        memcpy((float *)row + i, &v, sizeof v);
        return;
    }
    vh h = dt == PPO_BF16 ? vf_to_bf16(v) : vf_to_f16(v);
    memcpy((uint16_t *)row + i, &h, sizeof h);
}

/* Stores the first n (< VW) lanes only. */
PPO_INLINE void vf_store_dt_tail(void *row, int dt, int64_t i, int n, vf v) {
    unsigned char buf[VW * 4] __attribute__((aligned(64)));
    size_t es = dt == PPO_F32 ? 4 : 2;
    vf_store_dt(buf, dt, 0, v);
    memcpy((unsigned char *)row + (size_t)i * es, buf, (size_t)n * es);
}

PPO_INLINE vf vf_load(const float *p) { return vf_load_dt(p, PPO_F32, 0); }
PPO_INLINE void vf_store(float *p, vf v) { vf_store_dt(p, PPO_F32, 0, v); }

/* Loads n <= VW f32 at p (the rest 0) and stores n lanes: full vectors take the plain path. */
PPO_INLINE vf vf_load_n(const float *p, int n) { return n == VW ? vf_load(p) : vf_load_dt_tail(p, PPO_F32, 0, n); }
PPO_INLINE void vf_store_n(float *p, int n, vf v) {
    if (n == VW) vf_store(p, v);
    else vf_store_dt_tail(p, PPO_F32, 0, n, v);
}

/* Mask lanes (-1 = valid) of elements [i, i + n) of a dense mask of dtype dt, n <= VW; lanes >= n are 0. */
PPO_INLINE vi vi_mask_full(const void *mask, int dt, int64_t i) {
    switch (dt) {
    case PPO_F32: {
        vf v;
        memcpy(&v, (const float *)mask + i, sizeof v);
        return v != 0.0f;
    }
    case PPO_U8: {
        vb v;
        memcpy(&v, (const uint8_t *)mask + i, sizeof v);
        return __builtin_convertvector(v != 0, vi);   /* -1/0 bytes widen to -1/0 ints */
    }
    case PPO_I32: {
        vi v;
        memcpy(&v, (const int32_t *)mask + i, sizeof v);
        return v != 0;
    }
    default: {
        vl v;
        memcpy(&v, (const int64_t *)mask + i, sizeof v);
        return __builtin_convertvector(v != 0, vi);   /* -1/0 longs narrow to -1/0 ints */
    }
    }
}

PPO_INLINE vi vi_mask_n(const void *mask, int dt, int64_t i, int n) {
    if (mask == NULL) return vi_iota() < n;
    if (n == VW) return vi_mask_full(mask, dt, i);
    unsigned char buf[VW * 8] __attribute__((aligned(64))) = {0};
    size_t es = ppo_dtype_size(dt);
    memcpy(buf, (const unsigned char *)mask + (size_t)i * es, (size_t)n * es);
    return vi_mask_full(buf, dt, 0);
}

#endif /* PPO_SIMD_H */
