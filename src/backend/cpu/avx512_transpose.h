// A 16 × 16 transpose of 32-bit elements in AVX-512 registers: shared by the AMX kernels
// (attn_amx.cpp, gemm_bf16_amx.cpp, through amx_bf16.h) and the AVX-512 tile unpackers
// (gemm_tile_avx512.cpp). Included only by files built with AVX-512F.
#pragma once

#include <immintrin.h>

namespace ds::x86 {
// Internal linkage: each file keeps the copy built for its own ISA.
namespace {

// Transposes a 16 × 16 matrix of 32-bit elements held in r[0..15] (rows).
[[gnu::always_inline]] inline void transpose16(__m512 r[16]) {
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

}  // namespace
}  // namespace ds::x86
