// What the AMX-BF16 kernels (attn_amx.cpp, gemm_bf16_amx.cpp) share: f32 values split into
// three bf16 pieces that hold all 24 bits of their significands (and, through
// avx512_transpose.h, a 16 × 16 transpose).
// Included only by files compiled with the AMX (and AVX-512 BF16) flags.
#pragma once

#include <immintrin.h>

#include "backend/cpu/avx512_transpose.h"

namespace ds::amx {

using x86::transpose16;

inline constexpr int kParts = 3;  // bf16 pieces of one f32

inline __m512 widen_lo(__m512i b) {
  return _mm512_castsi512_ps(
      _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(b)), 16));
}
inline __m512 widen_hi(__m512i b) {
  return _mm512_castsi512_ps(
      _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(b, 1)), 16));
}

// 32 f32 values (x0: elements 0–15, x1: 16–31) as three vectors of 32 bf16 in the same
// order, hi + mid + lo = x: each piece is the rounding of what the earlier ones left.
inline void split3(__m512 x0, __m512 x1, __m512i out[kParts]) {
  for (int p = 0; p < kParts; ++p) {
    const __m512i b = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(x1, x0));
    out[p] = b;
    if (p + 1 < kParts) {
      x0 = _mm512_sub_ps(x0, widen_lo(b));
      x1 = _mm512_sub_ps(x1, widen_hi(b));
    }
  }
}

}  // namespace ds::amx
