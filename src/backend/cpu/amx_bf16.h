// What the AMX-BF16 kernels (attn_amx.cpp, gemm_bf16_amx.cpp) share: f32 values split into
// three bf16 pieces that hold all 24 bits of their significands, and a 16 × 16 transpose.
// Included only by files compiled with the AMX (and AVX-512 BF16) flags.
#pragma once

#include <immintrin.h>

namespace ds::amx {

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

// Transposes a 16 × 16 matrix of 32-bit elements held in r[0..15] (rows).
inline void transpose16(__m512 r[16]) {
  __m512 a[16], b[16];
  for (int i = 0; i < 8; ++i) {
    a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    b[4 * i] = _mm512_shuffle_ps(a[4 * i], a[4 * i + 2], 0x44);
    b[4 * i + 1] = _mm512_shuffle_ps(a[4 * i], a[4 * i + 2], 0xee);
    b[4 * i + 2] = _mm512_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0x44);
    b[4 * i + 3] = _mm512_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0xee);
  }
  for (int q = 0; q < 4; ++q) {
    const __m512 c0 = _mm512_shuffle_f32x4(b[q], b[4 + q], 0x88);
    const __m512 c1 = _mm512_shuffle_f32x4(b[q], b[4 + q], 0xdd);
    const __m512 d0 = _mm512_shuffle_f32x4(b[8 + q], b[12 + q], 0x88);
    const __m512 d1 = _mm512_shuffle_f32x4(b[8 + q], b[12 + q], 0xdd);
    r[q] = _mm512_shuffle_f32x4(c0, d0, 0x88);
    r[4 + q] = _mm512_shuffle_f32x4(c1, d1, 0x88);
    r[8 + q] = _mm512_shuffle_f32x4(c0, d0, 0xdd);
    r[12 + q] = _mm512_shuffle_f32x4(c1, d1, 0xdd);
  }
}

}  // namespace ds::amx
