// The packed scales of the k-quants, unpacked on the vector unit: shared by the AVX2 and
// AVX-512 row kernels (row_dot_avx2.cpp, row_dot_avx512.cpp). 128-bit code with AVX2's
// variable shift; included only by files built with AVX2 or later.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace ds::x86 {
// Internal linkage: each file keeps the copy built for its own ISA.
namespace {

// The 16 bytes [scale 0..7, min 0..7] of a Q4_K / Q5_K block, unpacked from their 12-byte
// 6-bit packing with ggml's word masks (equivalent to get_scale_min_k4 for every j): words
// u0, u1, u2 give
//   [u0 & m1, (u2 & m2) | ((u0 >> 2) & 0x30…), u1 & m1, ((u2 >> 4) & m2) | ((u1 >> 2) & 0x30…)].
// The 16-byte load stays inside the block (the quants follow the scales). Unpacking into a
// word array and loading that as a vector stalled on store forwarding once per block.
inline __m128i k4_scales_mins(const uint8_t* q) {
  constexpr int kMask1 = 0x3f3f3f3f, kMask2 = 0x0f0f0f0f, kHigh2 = 0x30303030;
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
  const __m128i a = _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 1, 2, 0));  // u0 u2 u1 u2
  const __m128i b = _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 1, 0, 0));  // u0 u0 u1 u1
  const __m128i low = _mm_and_si128(_mm_srlv_epi32(a, _mm_setr_epi32(0, 0, 0, 4)),
                                    _mm_setr_epi32(kMask1, kMask2, kMask1, kMask2));
  const __m128i high = _mm_and_si128(_mm_srli_epi32(b, 2), _mm_setr_epi32(0, kHigh2, 0, kHigh2));
  return _mm_or_si128(low, high);
}

// The 16 signed 6-bit scales of a Q3_K block (as unpack_q3_k_scales gives them) from its 12
// packed bytes: the low nibbles of bytes 0–7, then their high nibbles; the top two bits of
// group 4m + k are bits 2m, 2m + 1 of byte 8 + k. The loads stay inside the 12 bytes.
inline __m128i q3_k_scales(const uint8_t* packed) {
  const __m128i m4 = _mm_set1_epi8(0x0f);
  const __m128i lo8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(packed));
  const __m128i low =
      _mm_unpacklo_epi64(_mm_and_si128(lo8, m4), _mm_and_si128(_mm_srli_epi16(lo8, 4), m4));
  uint32_t h4;
  std::memcpy(&h4, packed + 8, 4);
  const __m128i top = _mm_and_si128(
      _mm_srlv_epi32(_mm_set1_epi32(int(h4)), _mm_setr_epi32(0, 2, 4, 6)), _mm_set1_epi8(0x03));
  return _mm_sub_epi8(_mm_or_si128(low, _mm_slli_epi32(top, 4)), _mm_set1_epi8(32));
}

// The 8 signed scales ls − 32 of an IQ4_XS block in 32-bit lanes: ls_g has its low 4 bits in
// nibble g of scales_l (read as one little-endian word: the low nibble of byte g / 2 for
// even g) and its high 2 at bits 2g of scales_h.
inline __m256i iq4_xs_scales(const uint8_t* scales_l, uint16_t scales_h) {
  uint32_t sl;
  std::memcpy(&sl, scales_l, 4);
  const __m256i lo = _mm256_and_si256(
      _mm256_srlv_epi32(_mm256_set1_epi32(int(sl)), _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
      _mm256_set1_epi32(0xf));
  const __m256i hi = _mm256_and_si256(
      _mm256_srlv_epi32(_mm256_set1_epi32(scales_h), _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)),
      _mm256_set1_epi32(3));
  return _mm256_sub_epi32(_mm256_or_si256(lo, _mm256_slli_epi32(hi, 4)), _mm256_set1_epi32(32));
}

}  // namespace
}  // namespace ds::x86
