// AVX2 + FMA + F16C kernels. Compiled with -mavx2 -mfma -mf16c; reached only through dispatch.
#include <immintrin.h>

#include "backend/cpu/kernels.h"
#include "backend/cpu/row_dot.h"
#include "core/dtype.h"

namespace ds {

namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

float dot_f32(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8)
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  float s = hsum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy_f32(float a, const float* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

void bf16_to_f32_row(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
    _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
  }
  for (; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

void f16_to_f32_row(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i,
                     _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  for (; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

void fp8_to_f32_row(const uint8_t* src, float* dst, int64_t n, const float* scales, int64_t block) {
  for (int64_t b0 = 0; b0 < n; b0 += block) {
    const int64_t b1 = b0 + block < n ? b0 + block : n;
    const __m256 s = _mm256_set1_ps(scales[b0 / block]);
    int64_t i = b0;
    for (; i + 8 <= b1; i += 8) {
      // e4m3 → f32 by bit manipulation: place sign, shift exponent+mantissa into f32
      // position and rebias by 2^(127-7); subnormals come out exact the same way.
      __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(src + i)));
      __m256i sign = _mm256_slli_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0x80)), 24);
      __m256i mag = _mm256_slli_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0x7f)), 20);
      __m256 f = _mm256_mul_ps(_mm256_castsi256_ps(mag), _mm256_set1_ps(0x1p120f));
      f = _mm256_or_ps(f, _mm256_castsi256_ps(sign));
      // NaN (0x7f / 0xff): mag == 0x7f.
      __m256i is_nan =
          _mm256_cmpeq_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0x7f)), _mm256_set1_epi32(0x7f));
      f = _mm256_blendv_ps(f, _mm256_set1_ps(__builtin_nanf("")), _mm256_castsi256_ps(is_nan));
      _mm256_storeu_ps(dst + i, _mm256_mul_ps(f, s));
    }
    for (; i < b1; ++i) dst[i] = fp8_e4m3_to_f32(src[i]) * scales[b0 / block];
  }
}

double fma_loop(int64_t iters) {
  // 10 independent accumulators cover FMA latency × throughput on current cores.
  __m256 acc[10];
  DS_UNROLL for (int i = 0; i < 10; ++i) acc[i] = _mm256_set1_ps(float(i) * 1e-3f);
  const __m256 m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-4f);
  for (int64_t it = 0; it < iters; ++it)
    DS_UNROLL for (int i = 0; i < 10; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, c);
  __m256 s = acc[0];
  for (int i = 1; i < 10; ++i) s = _mm256_add_ps(s, acc[i]);
  volatile float sink = hsum(s);
  (void)sink;
  return double(iters) * 10 * 8 * 2;
}

}  // namespace

const CpuKernels& kernels_avx2() {
  static const CpuKernels k{Isa::kAvx2,
                            "avx2",
                            dot_f32,
                            axpy_f32,
                            bf16_to_f32_row,
                            f16_to_f32_row,
                            fp8_to_f32_row,
                            fma_loop,
                            avx2::dot_bf16_f32,
                            avx2::vec_dot_q8_0_q8_0,
                            avx2::vec_dot_q5_0_q8_0,
                            avx2::vec_dot_q4_K_q8_K,
                            avx2::vec_dot_q6_K_q8_K};
  return k;
}

}  // namespace ds
