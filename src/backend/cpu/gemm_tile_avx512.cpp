// AVX-512 VNNI kernel of the integer GEMM path (gemm_tile.h): one vpdpbusd per 4 bytes of a
// token's activations (broadcast) against 4 bytes of each of the tile's 16 rows, so the
// 32-bit lanes are the rows and the per-block scaling is one vector operation for 16 rows.
#include <immintrin.h>

#include <cstddef>
#include <cstring>
#include <type_traits>
#include <vector>

#include "backend/cpu/avx512_transpose.h"
#include "backend/cpu/gemm_tile.h"
#include "backend/cpu/kquant_sixteens_x86.h"
#include "backend/cpu/row_dot.h"
#include "quant/blocks.h"

namespace ds::avx512 {

namespace {

template <int NT>
void gemm_tile_nt(const uint8_t* tile, int64_t nb, const uint8_t* act, int64_t as, float* out) {
  const int64_t cols = nb * 32;
  __m512 acc[NT];
  DS_UNROLL for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t k = 0; k < nb; ++k) {
    const uint8_t* tb = tile + size_t(k) * kTileBlockBytes;
    __m512i isum[NT];
    DS_UNROLL for (int t = 0; t < NT; ++t) isum[t] = _mm512_setzero_si512();
    DS_UNROLL for (int g = 0; g < 8; ++g) {
      const __m512i wv = _mm512_load_si512(tb + 64 * g);
      DS_UNROLL for (int t = 0; t < NT; ++t) isum[t] = _mm512_dpbusd_epi32(
          isum[t], wv, _mm512_set1_epi32(tile_load_i32(act + t * as + 32 * k + 4 * g)));
    }
    const __m512 s = _mm512_load_ps(reinterpret_cast<const float*>(tb + 512));
    const __m512 o = _mm512_load_ps(reinterpret_cast<const float*>(tb + 512 + 4 * kTileRows));
    DS_UNROLL for (int t = 0; t < NT; ++t) {
      const float* dt = reinterpret_cast<const float*>(act + t * as + cols);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(s, _mm512_set1_ps(dt[k])),
                               acc[t]);
      acc[t] = _mm512_fnmadd_ps(o, _mm512_set1_ps(dt[nb + k]), acc[t]);
    }
  }
  DS_UNROLL for (int t = 0; t < NT; ++t) _mm512_storeu_ps(out + t * kTileRows, acc[t]);
}

// ---- Unpacking 16 weight rows into a tile with register transposes (no gathers) ----

// out[j] lane r = dword j of the 32 bytes at p + r·rb (r < 16, j < 8). Rows are addressed
// from one pointer and stride, so the 16 loads need no pointer arithmetic of their own.
[[gnu::always_inline]] inline void transpose16x8(const uint8_t* p, size_t rb, __m512i out[8]) {
  __m512i z[8], t[8], u[8];
  auto ld = [&](int r) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + r * rb)); };
  DS_UNROLL for (int a = 0; a < 8; ++a) z[a] =
      _mm512_inserti64x4(_mm512_castsi256_si512(ld(a)), ld(a + 8), 1);
  DS_UNROLL for (int a = 0; a < 8; a += 2) {
    t[a] = _mm512_unpacklo_epi32(z[a], z[a + 1]);
    t[a + 1] = _mm512_unpackhi_epi32(z[a], z[a + 1]);
  }
  DS_UNROLL for (int a = 0; a < 8; a += 4) {
    u[a] = _mm512_unpacklo_epi64(t[a], t[a + 2]);
    u[a + 1] = _mm512_unpackhi_epi64(t[a], t[a + 2]);
    u[a + 2] = _mm512_unpacklo_epi64(t[a + 1], t[a + 3]);
    u[a + 3] = _mm512_unpackhi_epi64(t[a + 1], t[a + 3]);
  }
  // u[j] (j < 4) holds dwords j and j + 4 of rows 0–3 (and 8–11); u[4 + j] those of rows 4–7
  // (and 12–15): pick 128-bit lanes so rows come in order.
  const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
  const __m512i hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
  DS_UNROLL for (int j = 0; j < 4; ++j) {
    out[j] = _mm512_permutex2var_epi64(u[j], lo, u[4 + j]);
    out[j + 4] = _mm512_permutex2var_epi64(u[j], hi, u[4 + j]);
  }
}

// out[j] lane r = dword j of the 16 bytes at p + r·rb (r < 16, j < 4).
[[gnu::always_inline]] inline void transpose16x4(const uint8_t* p, size_t rb, __m512i out[4]) {
  __m512i z[4], t[4];
  auto ld = [&](int r) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + r * rb)); };
  DS_UNROLL for (int a = 0; a < 4; ++a) {
    __m512i v = _mm512_castsi128_si512(ld(a));
    v = _mm512_inserti32x4(v, ld(a + 4), 1);
    v = _mm512_inserti32x4(v, ld(a + 8), 2);
    z[a] = _mm512_inserti32x4(v, ld(a + 12), 3);
  }
  t[0] = _mm512_unpacklo_epi32(z[0], z[1]);
  t[1] = _mm512_unpackhi_epi32(z[0], z[1]);
  t[2] = _mm512_unpacklo_epi32(z[2], z[3]);
  t[3] = _mm512_unpackhi_epi32(z[2], z[3]);
  out[0] = _mm512_unpacklo_epi64(t[0], t[2]);
  out[1] = _mm512_unpackhi_epi64(t[0], t[2]);
  out[2] = _mm512_unpacklo_epi64(t[1], t[3]);
  out[3] = _mm512_unpackhi_epi64(t[1], t[3]);
}

inline uint8_t* tile_block(uint8_t* tile, int64_t k) {
  return tile + size_t(k) * kTileBlockBytes;
}

inline void store_scales(uint8_t* tb, __m512 s, __m512 o) {
  _mm512_store_ps(reinterpret_cast<float*>(tb + 512), s);
  _mm512_store_ps(reinterpret_cast<float*>(tb + 512 + 4 * kTileRows), o);
}

// Q4_0 / Q5_0 / Q8_0 blocks of 32 of 16 rows: row r's block k starts at rows + r·rb + k·kBytes.
template <int kKind>  // 0: Q4_0, 1: Q5_0, 2: Q8_0, 3: Q4_1, 4: Q5_1
void unpack32(const uint8_t* rows, size_t rb, int64_t nb, int nr, uint8_t* tile) {
  constexpr size_t kBytes = kKind == 0   ? sizeof(BlockQ4_0)
                            : kKind == 1 ? sizeof(BlockQ5_0)
                            : kKind == 2 ? sizeof(BlockQ8_0)
                            : kKind == 3 ? sizeof(BlockQ4_1)
                                         : sizeof(BlockQ5_1);
  // Offset of qs in the block; Q5_0 and Q5_1 carry a fifth bit per element in qh.
  constexpr size_t kQs = kKind == 1 ? 6 : kKind == 3 ? 4 : kKind == 4 ? 8 : 2;
  constexpr bool kFive = kKind == 1 || kKind == 4, kMin = kKind >= 3;
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  for (int64_t k = 0; k < nb; ++k) {
    uint8_t* tb = tile_block(tile, k);
    const uint8_t* src = rows + k * kBytes;
    // Bytes 0–15 of each block: d (and m for Q4_1 / Q5_1), then the 32 high bits (Q5_0:
    // across dwords 0 and 1; Q5_1: dword 1).
    __m512i hdr[4];
    transpose16x4(src, rb, hdr);
    const __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(hdr[0]));
    if constexpr (kKind == 2) {
      __m512i q[8];
      transpose16x8(src + kQs, rb, q);
      // u = q + 128 on the real rows; padding rows stay zero, as the portable unpacker has them.
      const __mmask16 real = __mmask16((1u << nr) - 1);
      DS_UNROLL for (int g = 0; g < 8; ++g) _mm512_store_si512(
          tb + 64 * g, _mm512_mask_xor_epi32(q[g], real, q[g], _mm512_set1_epi8(char(0x80))));
      store_scales(tb, d, _mm512_mul_ps(d, _mm512_set1_ps(128.0f)));
      continue;
    }
    __m512i qh = _mm512_setzero_si512();
    if constexpr (kKind == 1)
      qh = _mm512_or_si512(_mm512_srli_epi32(hdr[0], 16), _mm512_slli_epi32(hdr[1], 16));
    if constexpr (kKind == 4) qh = hdr[1];
    __m512i q[4];
    transpose16x4(src + kQs, rb, q);
    DS_UNROLL for (int j = 0; j < 4; ++j) {
      __m512i lo = _mm512_and_si512(q[j], m4),
              hi = _mm512_and_si512(_mm512_srli_epi16(q[j], 4), m4);
      if constexpr (kFive) {
        // Bit 4 of element e is bit e of qh: the 4 bits of group g spread to the bytes' bit 4
        // by a multiply (the shifted copies occupy disjoint bit ranges, so nothing carries).
        auto spread = [&](int g) {
          const __m512i x = _mm512_and_si512(_mm512_srli_epi32(qh, 4 * g), _mm512_set1_epi32(15));
          return _mm512_slli_epi32(
              _mm512_and_si512(_mm512_mullo_epi32(x, _mm512_set1_epi32(0x00204081)),
                               _mm512_set1_epi32(0x01010101)),
              4);
        };
        lo = _mm512_or_si512(lo, spread(j));
        hi = _mm512_or_si512(hi, spread(j + 4));
      }
      _mm512_store_si512(tb + 64 * j, lo);
      _mm512_store_si512(tb + 64 * (j + 4), hi);
    }
    if constexpr (kMin) {
      // o = −m on the real rows, negated by its sign bit (as the portable unpacker's −half(m):
      // −0 for 0); padding rows keep +0, as the portable unpacker has them.
      const __m512 m = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(hdr[0], 16)));
      const __mmask16 real = __mmask16((1u << nr) - 1);
      store_scales(tb, d, _mm512_mask_xor_ps(m, real, m, _mm512_set1_ps(-0.0f)));
    } else {
      store_scales(tb, d, _mm512_mul_ps(d, _mm512_set1_ps(kKind == 0 ? 8.0f : 16.0f)));
    }
  }
}

// The IQ4 code values + 128 (u of the tiles, ops/qtile.cpp) in every 128-bit lane, for
// vpshufb lookups by nibble.
inline __m512i iq4_table() {
  alignas(16) uint8_t t[16];
  for (int i = 0; i < 16; ++i) t[i] = uint8_t(kIq4nlValues[i] + 128);
  return _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(t)));
}

// 16 bytes of IQ4 nibbles of 16 rows (row r at p + r·rb, Q4_0's order: low nibbles are elements
// 0–15, high ones 16–31) into one tile block's 8 groups; padding rows u = 0, as the portable
// unpacker has them.
[[gnu::always_inline]] inline void iq4_groups(const uint8_t* p, size_t rb, __m512i table,
                                              __mmask16 real, uint8_t* tb) {
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  __m512i q[4];
  transpose16x4(p, rb, q);
  DS_UNROLL for (int j = 0; j < 4; ++j) {
    const __m512i lo = _mm512_shuffle_epi8(table, _mm512_and_si512(q[j], m4));
    const __m512i hi = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(q[j], 4), m4));
    _mm512_store_si512(tb + 64 * j, _mm512_maskz_mov_epi32(real, lo));
    _mm512_store_si512(tb + 64 * (j + 4), _mm512_maskz_mov_epi32(real, hi));
  }
}

// IQ4_NL: u = the code value + 128, s = d, o = 128·d.
void unpack_iq4_nl(const uint8_t* rows, size_t rb, int64_t nb, int nr, uint8_t* tile) {
  const __m512i table = iq4_table();
  const __mmask16 real = __mmask16((1u << nr) - 1);
  for (int64_t k = 0; k < nb; ++k) {
    uint8_t* tb = tile_block(tile, k);
    const uint8_t* src = rows + k * sizeof(BlockIQ4_NL);
    __m512i hdr[4];
    transpose16x4(src, rb, hdr);
    const __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(hdr[0]));
    iq4_groups(src + offsetof(BlockIQ4_NL, qs), rb, table, real, tb);
    store_scales(tb, d, _mm512_mul_ps(d, _mm512_set1_ps(128.0f)));
  }
}

// IQ4_XS: group g of a super-block as IQ4_NL with s = d·(ls_g − 32), o = 128·s; ls_g has its
// low 4 bits in scales_l[g / 2] (nibble g % 2) and its high 2 in bits 2g of scales_h.
void unpack_iq4_xs(const uint8_t* rows, size_t rb, int64_t nsb, int nr, uint8_t* tile) {
  const __m512i table = iq4_table();
  const __mmask16 real = __mmask16((1u << nr) - 1);
  const __m512i m4 = _mm512_set1_epi32(0x0f), m2 = _mm512_set1_epi32(0x03);
  for (int64_t i = 0; i < nsb; ++i) {
    const uint8_t* src = rows + i * sizeof(BlockIQ4_XS);
    // Dword 0: d | scales_h << 16; dword 1: scales_l.
    __m512i hdr[4];
    transpose16x4(src, rb, hdr);
    const __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(hdr[0]));
    for (int g = 0; g < 8; ++g) {
      const __m512i lo4 = _mm512_and_si512(_mm512_srli_epi32(hdr[1], 4 * g), m4);
      const __m512i hi2 = _mm512_and_si512(_mm512_srli_epi32(hdr[0], 16 + 2 * g), m2);
      const __m512i ls = _mm512_or_si512(lo4, _mm512_slli_epi32(hi2, 4));
      // Padding rows (d = 0) would give −0: +0, as the portable unpacker has them.
      const __m512 sv = _mm512_maskz_mul_ps(
          real, d, _mm512_cvtepi32_ps(_mm512_sub_epi32(ls, _mm512_set1_epi32(32))));
      uint8_t* tb = tile_block(tile, 8 * i + g);
      iq4_groups(src + offsetof(BlockIQ4_XS, qs) + 16 * g, rb, table, real, tb);
      store_scales(tb, sv, _mm512_mul_ps(sv, _mm512_set1_ps(128.0f)));
    }
  }
}

// Q4_K, or Q5_K (kFive: the fifth bit of group g's element l is bit g of qh[l]).
template <bool kFive>
void unpack_k4(const uint8_t* rows, size_t rb, int64_t nb, uint8_t* tile) {
  using Block = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;
  constexpr size_t kQs = offsetof(Block, qs);
  const __m512i m4 = _mm512_set1_epi8(0x0f), one = _mm512_set1_epi8(1);
  const __m512i k1 = _mm512_set1_epi32(0x3f3f3f3f), k2 = _mm512_set1_epi32(0x0f0f0f0f),
                k3 = _mm512_set1_epi32(0x03030303), byte = _mm512_set1_epi32(0xff);
  for (int64_t i = 0; i < nb / 8; ++i) {
    const uint8_t* src = rows + i * sizeof(Block);
    // Header: dword 0 = d | dmin << 16, dwords 1–3 the 12 packed scale bytes.
    __m512i h[4];
    transpose16x4(src, rb, h);
    const __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(h[0]));
    const __m512 dmin = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(h[0], 16)));
    // ggml's word-mask unpacking of the 6-bit scales and mins, 16 rows at once.
    const __m512i u0 = h[1], u1 = h[2], u2 = h[3];
    const __m512i sc03 = _mm512_and_si512(u0, k1);
    const __m512i sc47 =
        _mm512_or_si512(_mm512_and_si512(u2, k2),
                        _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u0, 6), k3), 4));
    const __m512i mn03 = _mm512_and_si512(u1, k1);
    const __m512i mn47 =
        _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(u2, 4), k2),
                        _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u1, 6), k3), 4));
    for (int g = 0; g < 8; ++g) {
      const int sh = 8 * (g % 4);
      const __m512 sc =
          _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(g < 4 ? sc03 : sc47, sh), byte));
      const __m512 mn =
          _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(g < 4 ? mn03 : mn47, sh), byte));
      store_scales(tile_block(tile, 8 * i + g), _mm512_mul_ps(d, sc), _mm512_mul_ps(dmin, mn));
    }
    __m512i qh[8];
    if constexpr (kFive) transpose16x8(src + offsetof(BlockQ5_K, qh), rb, qh);
    for (int c = 0; c < 4; ++c) {
      __m512i q[8];
      transpose16x8(src + kQs + 32 * c, rb, q);
      uint8_t* lo = tile_block(tile, 8 * i + 2 * c);
      uint8_t* hi = tile_block(tile, 8 * i + 2 * c + 1);
      DS_UNROLL for (int j = 0; j < 8; ++j) {
        __m512i ul = _mm512_and_si512(q[j], m4);
        __m512i uh = _mm512_and_si512(_mm512_srli_epi16(q[j], 4), m4);
        if constexpr (kFive) {
          // Bits 2c and 2c + 1 of each qh byte to bit 4 of the byte (masked before the shift
          // left, so nothing crosses into the next byte).
          ul = _mm512_or_si512(
              ul, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(qh[j], 2 * c), one), 4));
          uh = _mm512_or_si512(
              uh, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(qh[j], 2 * c + 1), one), 4));
        }
        _mm512_store_si512(lo + 64 * j, ul);
        _mm512_store_si512(hi + 64 * j, uh);
      }
    }
  }
}

// Formats with a scale per 16 elements (Q2_K, Q3_K, Q6_K) in two tile blocks per 32 elements
// (ops/qtile.h, tile_col_factor): each 16-element half with its own scale, the other half
// u = kPad (the format's zero, or 0 for Q2_K). Per super-block, `kDecode` turns one row's
// block into its 256 values q (8 vectors of 32, in element order) and its 16 scales s and
// offsets o; the rows are laid out as one 512-byte row each (the tile blocks' bytes in
// order), then transposed.
template <uint8_t kPad, class Block, void (*kDecode)(const Block*, __m256i*, float*, float*)>
void unpack_sixteens(const uint8_t* rows, size_t rb, int64_t nsb, int nr, uint8_t* tile) {
  alignas(64) uint8_t buf[kTileRows][2 * kQKK];
  // Row r's 16 scales and offsets; transposed, one vector per tile block.
  alignas(64) float scale[kTileRows][kQKK / 16], offset[kTileRows][kQKK / 16];
  const __m512i pad = _mm512_set1_epi8(char(kPad));
  const __mmask16 real = __mmask16((1u << nr) - 1);
  for (int64_t i = 0; i < nsb; ++i) {
    for (int r = 0; r < kTileRows; ++r) {
      __m256i q[8];
      kDecode(reinterpret_cast<const Block*>(rows + r * rb) + i, q, scale[r], offset[r]);
      DS_UNROLL for (int c = 0; c < 8; ++c) {
        const __m512i v = _mm512_castsi256_si512(q[c]);
        // [elements 0–15, 32 × kPad, elements 16–31]: 128-bit lanes 0 and 1 to 0 and 3.
        _mm512_store_si512(buf[r] + 64 * c,
                           _mm512_mask_mov_epi32(_mm512_shuffle_i32x4(v, v, 0x40), 0x0ff0, pad));
      }
    }
    __m512 s[kTileRows], o[kTileRows];
    for (int r = 0; r < kTileRows; ++r) {
      s[r] = _mm512_load_ps(scale[r]);
      o[r] = _mm512_load_ps(offset[r]);
    }
    x86::transpose16(s);
    x86::transpose16(o);
    for (int tb = 0; tb < kQKK / 16; ++tb) {
      uint8_t* out = tile_block(tile, 16 * i + tb);
      __m512i q[8];
      transpose16x8(buf[0] + 32 * tb, 2 * kQKK, q);
      DS_UNROLL for (int g = 0; g < 8; ++g)
          _mm512_store_si512(out + 64 * g, _mm512_maskz_mov_epi32(real, q[g]));
      // Padding rows: +0 scales, as the portable unpacker has them.
      store_scales(out, _mm512_maskz_mov_ps(real, s[tb]), _mm512_maskz_mov_ps(real, o[tb]));
    }
  }
}

// Q3_K in one tile block per 32 elements (ops/qtile.h, tile_col_factor; u up to 252): each
// row's super-block decoded to its 256 values u, then transposed; s = d, o = 124·d.
void unpack_q3_K_scaled(const uint8_t* rows, size_t rb, int64_t nsb, int nr, uint8_t* tile) {
  alignas(64) uint8_t buf[kTileRows][kQKK];
  alignas(64) float d[kTileRows];
  const __mmask16 real = __mmask16((1u << nr) - 1);
  for (int64_t i = 0; i < nsb; ++i) {
    for (int r = 0; r < kTileRows; ++r) {
      __m256i u[8];
      d[r] = x86::decode_q3_K_scaled(reinterpret_cast<const BlockQ3_K*>(rows + r * rb) + i, u);
      DS_UNROLL for (int c = 0; c < 8; ++c)
          _mm256_store_si256(reinterpret_cast<__m256i*>(buf[r] + 32 * c), u[c]);
    }
    // Padding rows: u = 0 and +0 scales, as the portable unpacker has them.
    const __m512 s = _mm512_maskz_mov_ps(real, _mm512_load_ps(d));
    const __m512 o = _mm512_mul_ps(s, _mm512_set1_ps(124.0f));
    for (int k = 0; k < kQKK / 32; ++k) {
      uint8_t* out = tile_block(tile, 8 * i + k);
      __m512i q[8];
      transpose16x8(buf[0] + 32 * k, kQKK, q);
      DS_UNROLL for (int g = 0; g < 8; ++g)
          _mm512_store_si512(out + 64 * g, _mm512_maskz_mov_epi32(real, q[g]));
      store_scales(out, s, o);
    }
  }
}

using Fn = void (*)(const uint8_t*, int64_t, const uint8_t*, int64_t, float*);
constexpr Fn kByTokens[kTileTokens] = {gemm_tile_nt<1>, gemm_tile_nt<2>, gemm_tile_nt<3>,
                                       gemm_tile_nt<4>, gemm_tile_nt<5>, gemm_tile_nt<6>,
                                       gemm_tile_nt<7>, gemm_tile_nt<8>};

}  // namespace

void gemm_tile(const uint8_t* tile, int64_t nb, const uint8_t* act, int64_t act_stride, int nt,
               float* out) {
  kByTokens[nt - 1](tile, nb, act, act_stride, out);
}

void quantize_act_tile(const float* x, int64_t cols, uint8_t* dst) {
  // The portable quantiser's operations, 16 lanes at a time (vcvtps2dq rounds half to even,
  // as its 1.5·2^23 trick does for |x·id| ≤ 127): bit-identical output (tested).
  const int64_t nb = cols / 32;
  float* d = reinterpret_cast<float*>(dst + cols);
  float* ds = d + nb;
  const __m512 sign = _mm512_set1_ps(-0.0f);
  for (int64_t k = 0; k < nb; ++k) {
    const __m512 x0 = _mm512_loadu_ps(x + 32 * k), x1 = _mm512_loadu_ps(x + 32 * k + 16);
    const float amax =
        _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, x0), _mm512_andnot_ps(sign, x1)));
    const float dk = amax / 127.0f, id = dk > 0 ? 127.0f / amax : 0.0f;
    const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, _mm512_set1_ps(id)));
    const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, _mm512_set1_ps(id)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 32 * k), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 32 * k + 16), _mm512_cvtepi32_epi8(q1));
    d[k] = dk;
    ds[k] = dk * float(_mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1)));
  }
}

bool gemm_tile_unpack(GgmlType gt, int factor, const uint8_t* rows, size_t row_bytes, int nr,
                      int64_t cols, uint8_t* tile) {
  if (!tile_layout_exists(gt, factor)) return false;
  if (nr < kTileRows) {
    // A matrix's last, partial tile: its rows padded with zero rows (zero scales), as the
    // portable unpacker has them.
    thread_local std::vector<uint8_t> padded;
    padded.assign(kTileRows * row_bytes, 0);
    std::memcpy(padded.data(), rows, size_t(nr) * row_bytes);
    rows = padded.data();
  }
  const int64_t nb = cols / 32;
  switch (gt) {
    case GgmlType::Q4_0:
      unpack32<0>(rows, row_bytes, nb, nr, tile);
      break;
    case GgmlType::Q5_0:
      unpack32<1>(rows, row_bytes, nb, nr, tile);
      break;
    case GgmlType::Q8_0:
      unpack32<2>(rows, row_bytes, nb, nr, tile);
      break;
    case GgmlType::Q4_1:
      unpack32<3>(rows, row_bytes, nb, nr, tile);
      break;
    case GgmlType::Q5_1:
      unpack32<4>(rows, row_bytes, nb, nr, tile);
      break;
    case GgmlType::Q6_K:
      unpack_sixteens<32, BlockQ6_K, x86::decode_q6_K>(rows, row_bytes, cols / kQKK, nr, tile);
      break;
    case GgmlType::Q3_K:
      if (factor == 1) {
        unpack_q3_K_scaled(rows, row_bytes, cols / kQKK, nr, tile);
        break;
      }
      unpack_sixteens<4, BlockQ3_K, x86::decode_q3_K>(rows, row_bytes, cols / kQKK, nr, tile);
      break;
    case GgmlType::Q2_K:
      unpack_sixteens<0, BlockQ2_K, x86::decode_q2_K>(rows, row_bytes, cols / kQKK, nr, tile);
      break;
    case GgmlType::Q5_K:
      unpack_k4<true>(rows, row_bytes, nb, tile);
      break;
    case GgmlType::IQ4_NL:
      unpack_iq4_nl(rows, row_bytes, nb, nr, tile);
      break;
    case GgmlType::IQ4_XS:
      unpack_iq4_xs(rows, row_bytes, cols / kQKK, nr, tile);
      break;
    default:
      unpack_k4<false>(rows, row_bytes, nb, tile);
      break;
  }
  return true;
}

}  // namespace ds::avx512
