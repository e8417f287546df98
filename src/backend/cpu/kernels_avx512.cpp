// AVX-512 (F/BW/VL/DQ) kernels. Compiled with AVX-512 flags; reached only through dispatch.
#include <immintrin.h>

#include "backend/cpu/kernels.h"
#include "backend/cpu/row_dot.h"
#include "core/dtype.h"

namespace ds {

namespace {

float dot_f32(const float* a, const float* b, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  acc0 = _mm512_add_ps(acc0, acc1);
  if (i < n) {
    for (; i + 16 <= n; i += 16)
      acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    if (i < n) {
      const __mmask16 m = __mmask16((1u << (n - i)) - 1);
      acc0 =
          _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc0);
    }
  }
  return _mm512_reduce_add_ps(acc0);
}

void axpy_f32(float a, const float* x, float* y, int64_t n) {
  const __m512 va = _mm512_set1_ps(a);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
  if (i < n) {
    const __mmask16 m = __mmask16((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(
        y + i, m,
        _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
  }
}

void bf16_to_f32_row(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512i v =
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i)));
    _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
  }
  for (; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

void f16_to_f32_row(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(
        dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))));
  for (; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

void fp8_to_f32_row(const uint8_t* src, float* dst, int64_t n, const float* scales, int64_t block) {
  for (int64_t b0 = 0; b0 < n; b0 += block) {
    const int64_t b1 = b0 + block < n ? b0 + block : n;
    const __m512 s = _mm512_set1_ps(scales[b0 / block]);
    int64_t i = b0;
    for (; i + 16 <= b1; i += 16) {
      // Same bit trick as the AVX2 kernel: exact for normals and subnormals.
      __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
      __m512i sign = _mm512_slli_epi32(_mm512_and_si512(v, _mm512_set1_epi32(0x80)), 24);
      __m512i low = _mm512_and_si512(v, _mm512_set1_epi32(0x7f));
      __m512 f =
          _mm512_mul_ps(_mm512_castsi512_ps(_mm512_slli_epi32(low, 20)), _mm512_set1_ps(0x1p120f));
      f = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(f), sign));
      const __mmask16 nan = _mm512_cmpeq_epi32_mask(low, _mm512_set1_epi32(0x7f));
      f = _mm512_mask_mov_ps(f, nan, _mm512_set1_ps(__builtin_nanf("")));
      _mm512_storeu_ps(dst + i, _mm512_mul_ps(f, s));
    }
    for (; i < b1; ++i) dst[i] = fp8_e4m3_to_f32(src[i]) * scales[b0 / block];
  }
}

double fma_loop(int64_t iters) {
  // 12 independent accumulators cover FMA latency × two FMA ports.
  __m512 acc[12];
  DS_UNROLL for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(float(i) * 1e-3f);
  const __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-4f);
  for (int64_t it = 0; it < iters; ++it)
    DS_UNROLL for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, c);
  __m512 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
  volatile float sink = _mm512_reduce_add_ps(s);
  (void)sink;
  return double(iters) * 12 * 16 * 2;
}

}  // namespace

const CpuKernels& kernels_avx512() {
  static const CpuKernels k{Isa::kAvx512,
                            "avx512",
                            dot_f32,
                            axpy_f32,
                            bf16_to_f32_row,
                            f16_to_f32_row,
                            fp8_to_f32_row,
                            fma_loop,
                            avx512::dot_bf16_f32,
                            avx512::vec_dot_q8_0_q8_0,
                            avx512::vec_dot_q5_0_q8_0,
                            avx512::vec_dot_q4_K_q8_K,
                            avx512::vec_dot_q6_K_q8_K};
  return k;
}

}  // namespace ds
