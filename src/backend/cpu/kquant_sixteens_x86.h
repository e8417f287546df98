// The k-quants with a scale per 16 elements (Q2_K, Q3_K, Q6_K), one super-block of one row
// decoded to its 256 values and 16 (scale, offset) pairs of the integer tiles (ops/qtile.h:
// w = s·u − o per 16-element group): shared by the AVX2 and AVX-512 tile unpackers
// (gemm_tile_avx2.cpp, gemm_tile_avx512.cpp). 256-bit code; included only by files built with
// AVX2 and F16C or later. Internal linkage: each file keeps the copy built for its own ISA.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "backend/cpu/kquant_scales_x86.h"
#include "quant/blocks.h"

namespace ds::x86 {
namespace {

// q[c] = elements 32c … 32c + 31 as bytes; s[g], o[g] for the 16-element groups g.

// s[g] = d·sc[g] and o[g] = zero·s[g] for the 16 signed 8-bit group scales sc (Q3_K, Q6_K:
// zero is the value u takes for w = 0).
[[gnu::always_inline]] inline void signed_group_scales(__m128i sc, float d, float zero, float* s,
                                                       float* o) {
  const __m256 dv = _mm256_set1_ps(d), zv = _mm256_set1_ps(zero);
  for (int half = 0; half < 2; ++half) {
    const __m256 sv =
        _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(sc, 8 * half))));
    _mm256_storeu_ps(s + 8 * half, sv);
    _mm256_storeu_ps(o + 8 * half, _mm256_mul_ps(zv, sv));
  }
}

// Q6_K: u = the 6-bit value (a nibble of ql and two bits of qh), s = d·sc, o = 32·s.
[[gnu::always_inline]] inline void decode_q6_K(const BlockQ6_K* b, __m256i q[8], float* s,
                                               float* o) {
  const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(0x03);
  for (int h = 0; h < 2; ++h) {
    const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->ql + 64 * h));
    const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->ql + 64 * h + 32));
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->qh + 32 * h));
    const __m256i top[4] = {_mm256_slli_epi16(_mm256_and_si256(qh, m3), 4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4)};
    const __m256i low[4] = {_mm256_and_si256(ql0, m4), _mm256_and_si256(ql1, m4),
                            _mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                            _mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4)};
    for (int c = 0; c < 4; ++c) q[4 * h + c] = _mm256_or_si256(low[c], top[c]);
  }
  signed_group_scales(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b->scales)), _cvtsh_ss(b->d),
                      32.0f, s, o);
}

// Element 128h + 32c + l of a Q2_K / Q3_K super-block: bits 2c of qs[32h + l].
[[gnu::always_inline]] inline void decode_2bit(const uint8_t* qs, __m256i q[8]) {
  const __m256i m3 = _mm256_set1_epi8(0x03);
  for (int h = 0; h < 2; ++h) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * h));
    q[4 * h] = _mm256_and_si256(v, m3);
    q[4 * h + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 2), m3);
    q[4 * h + 2] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m3);
    q[4 * h + 3] = _mm256_and_si256(_mm256_srli_epi16(v, 6), m3);
  }
}

// Q3_K's 3-bit values q (0–7): the 2 bits of qs and the third from hmask (bit c of hmask[l]
// for element 32c + l).
[[gnu::always_inline]] inline void q3_K_values(const BlockQ3_K* b, __m256i q[8]) {
  decode_2bit(b->qs, q);
  const __m256i hm = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->hmask));
  const __m256i four = _mm256_set1_epi8(4);
  // Bit c of each byte to bit 2: shifted left or right by 16-bit lanes, then masked.
  q[0] = _mm256_or_si256(q[0], _mm256_and_si256(_mm256_slli_epi16(hm, 2), four));
  q[1] = _mm256_or_si256(q[1], _mm256_and_si256(_mm256_slli_epi16(hm, 1), four));
  q[2] = _mm256_or_si256(q[2], _mm256_and_si256(hm, four));
  q[3] = _mm256_or_si256(q[3], _mm256_and_si256(_mm256_srli_epi16(hm, 1), four));
  q[4] = _mm256_or_si256(q[4], _mm256_and_si256(_mm256_srli_epi16(hm, 2), four));
  q[5] = _mm256_or_si256(q[5], _mm256_and_si256(_mm256_srli_epi16(hm, 3), four));
  q[6] = _mm256_or_si256(q[6], _mm256_and_si256(_mm256_srli_epi16(hm, 4), four));
  q[7] = _mm256_or_si256(q[7], _mm256_and_si256(_mm256_srli_epi16(hm, 5), four));
}

// Q3_K in two tile blocks per 32 elements: u = q, s = d·(sc − 32), o = 4·s.
[[gnu::always_inline]] inline void decode_q3_K(const BlockQ3_K* b, __m256i q[8], float* s,
                                               float* o) {
  q3_K_values(b, q);
  signed_group_scales(q3_k_scales(b->scales), _cvtsh_ss(b->d), 4.0f, s, o);
}

// Q3_K in one tile block per 32 elements (ops/qtile.cpp, unpack_q3_K_scaled): u[c] = elements
// 32c … 32c + 31 as (sc − 32)·(q − 4) + 124, looked up by q in an 8-entry table per
// 16-element group (the low 128-bit lane's for group 2c, the high lane's for 2c + 1); returns
// d (s = d, o = 124·d).
[[gnu::always_inline]] inline float decode_q3_K_scaled(const BlockQ3_K* b, __m256i u[8]) {
  __m256i q[8];
  q3_K_values(b, q);
  const __m256i sc = _mm256_broadcastsi128_si256(q3_k_scales(b->scales));
  const __m256i step = _mm256_setr_epi16(-4, -3, -2, -1, 0, 1, 2, 3, -4, -3, -2, -1, 0, 1, 2, 3);
  const __m256i offset = _mm256_set1_epi16(124);
  for (int c = 0; c < 8; ++c) {
    // Bytes of the low lane: scale 2c; of the high lane: scale 2c + 1; sign-extended to
    // 16 bits, times q − 4 for q = 0 … 7, + 124: at most 252, so packus keeps them.
    const __m256i idx = _mm256_setr_epi8(
        char(2 * c), char(2 * c), char(2 * c), char(2 * c), char(2 * c), char(2 * c), char(2 * c),
        char(2 * c), char(2 * c), char(2 * c), char(2 * c), char(2 * c), char(2 * c), char(2 * c),
        char(2 * c), char(2 * c), char(2 * c + 1), char(2 * c + 1), char(2 * c + 1),
        char(2 * c + 1), char(2 * c + 1), char(2 * c + 1), char(2 * c + 1), char(2 * c + 1),
        char(2 * c + 1), char(2 * c + 1), char(2 * c + 1), char(2 * c + 1), char(2 * c + 1),
        char(2 * c + 1), char(2 * c + 1), char(2 * c + 1));
    const __m256i s16 = _mm256_srai_epi16(_mm256_slli_epi16(_mm256_shuffle_epi8(sc, idx), 8), 8);
    const __m256i t16 = _mm256_add_epi16(_mm256_mullo_epi16(s16, step), offset);
    u[c] = _mm256_shuffle_epi8(_mm256_packus_epi16(t16, t16), q[c]);
  }
  return _cvtsh_ss(b->d);
}

// Q2_K: u = the 2-bit value, s = d·(sc & 15), o = dmin·(sc >> 4).
[[gnu::always_inline]] inline void decode_q2_K(const BlockQ2_K* b, __m256i q[8], float* s,
                                               float* o) {
  decode_2bit(b->qs, q);
  const __m256 d = _mm256_set1_ps(_cvtsh_ss(b->d)), dmin = _mm256_set1_ps(_cvtsh_ss(b->dmin));
  const __m128i sc = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b->scales));
  const __m128i m4 = _mm_set1_epi8(0x0f);
  const __m128i lo = _mm_and_si128(sc, m4), hi = _mm_and_si128(_mm_srli_epi16(sc, 4), m4);
  for (int half = 0; half < 2; ++half) {
    const __m256i l = _mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8 * half));
    const __m256i h = _mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8 * half));
    _mm256_storeu_ps(s + 8 * half, _mm256_mul_ps(d, _mm256_cvtepi32_ps(l)));
    _mm256_storeu_ps(o + 8 * half, _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(h)));
  }
}

}  // namespace
}  // namespace ds::x86
