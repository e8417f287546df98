// AVX2 kernels of the integer GEMM path (gemm_tile.h): vpmaddubsw (u8 weights × s8
// activations into 16-bit pair sums) then vpmaddwd by ones into 32-bit lanes, one lane per
// row, 8 rows per vector. The pair sums cannot saturate for weights u ≤ 127; the table picks
// a kernel by the format's largest u (gemm_tile_for_u): the pair sums of several groups added
// in 16 bits for small u (4- and 5-bit formats), and for u up to 255 (Q8_0, IQ4) a signed
// form of the product. On CPUs with AVX-VNNI (Alder Lake and later client cores) the table
// takes gemm_tile_vnni instead: one vpdpbusd for the three, with 32-bit sums that hold any
// u ≤ 255. The integer sums are exact either way, so every kernel gives gemm_tile_ref's
// results bit for bit.
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <type_traits>
#include <vector>

#include "backend/cpu/gemm_tile.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/kquant_sixteens_x86.h"
#include "backend/cpu/row_dot.h"
#include "quant/blocks.h"

namespace ds::avx2 {

namespace {

// NT tokens at a time: 2 rows-halves × NT tokens of integer sums and of f32 accumulators.
// vpmaddubsw's 16-bit pair sums (u·q + u·q, |q| ≤ 127) are added in 16 bits over G groups
// before vpmaddwd widens them, which is exact while G·2·127·u ≤ 32767 (gemm_tile_for_u picks
// G from the format's largest u): for 4-bit weights one vpmaddwd per block instead of eight.
// kSigned (G = 1) multiplies any u ≤ 255: with u = v + 128, v signed, it sums |v|·(±q) (pair
// sums up to 2·128·127) and adds 128·Σq, the same integer Σ u·q.
//
// Blocks [k0, k1) of the tile; the accumulators start from out unless k0 = 0.
template <int NT, int G, bool kSigned>
void gemm_tile_nt(const uint8_t* tile, int64_t nb, int64_t k0, int64_t k1, const uint8_t* act,
                  int64_t as, float* out) {
  static_assert(G == 1 || G == 2 || G == 4 || G == 8);
  static_assert(!kSigned || G == 1);
  const int64_t cols = nb * 32;
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i bias = _mm256_set1_epi8(char(0x80));
  __m256 acc[NT][2];
  DS_UNROLL for (int t = 0; t < NT; ++t) {
    acc[t][0] = k0 ? _mm256_loadu_ps(out + t * kTileRows) : _mm256_setzero_ps();
    acc[t][1] = k0 ? _mm256_loadu_ps(out + t * kTileRows + 8) : _mm256_setzero_ps();
  }
  for (int64_t k = k0; k < k1; ++k) {
    const uint8_t* tb = tile + size_t(k) * kTileBlockBytes;
    __m256i isum[NT][2];
    DS_UNROLL for (int t = 0; t < NT; ++t) {
      if constexpr (kSigned) {
        // 128·Σq of the block, in every lane: Σ(q + 128) by vpsadbw, then summed across.
        const __m256i av =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(act + t * as + 32 * k));
        __m256i sq = _mm256_sad_epu8(_mm256_xor_si256(av, bias), _mm256_setzero_si256());
        sq = _mm256_add_epi64(sq, _mm256_permute4x64_epi64(sq, 0x4E));
        sq = _mm256_add_epi64(sq, _mm256_shuffle_epi32(sq, 0x4E));
        sq = _mm256_sub_epi32(_mm256_slli_epi32(_mm256_shuffle_epi32(sq, 0), 7),
                              _mm256_set1_epi32(128 * 32 * 128));
        isum[t][0] = isum[t][1] = sq;
      } else {
        isum[t][0] = isum[t][1] = _mm256_setzero_si256();
      }
    }
    DS_UNROLL for (int c = 0; c < 8; c += G) {
      __m256i part[NT][2];
      DS_UNROLL for (int g = c; g < c + G; ++g) {
        __m256i w0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(tb + 64 * g));
        __m256i w1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(tb + 64 * g + 32));
        __m256i v0 = w0, v1 = w1;
        if constexpr (kSigned) {
          v0 = _mm256_xor_si256(w0, bias);
          v1 = _mm256_xor_si256(w1, bias);
          w0 = _mm256_abs_epi8(v0);  // |v| ≤ 128 as an unsigned byte
          w1 = _mm256_abs_epi8(v1);
        }
        DS_UNROLL for (int t = 0; t < NT; ++t) {
          __m256i a0 = _mm256_set1_epi32(tile_load_i32(act + t * as + 32 * k + 4 * g)), a1 = a0;
          if constexpr (kSigned) {
            a1 = _mm256_sign_epi8(a0, v1);
            a0 = _mm256_sign_epi8(a0, v0);
          }
          const __m256i p0 = _mm256_maddubs_epi16(w0, a0), p1 = _mm256_maddubs_epi16(w1, a1);
          part[t][0] = g == c ? p0 : _mm256_add_epi16(part[t][0], p0);
          part[t][1] = g == c ? p1 : _mm256_add_epi16(part[t][1], p1);
          // Pins the running sums in registers: left free, GCC reassociates the adds into a
          // tree after all the products, which needs twice the 16 registers and spills.
          asm("" : "+x"(part[t][0]), "+x"(part[t][1]));
        }
      }
      DS_UNROLL for (int t = 0; t < NT; ++t) {
        DS_UNROLL for (int h = 0; h < 2; ++h) isum[t][h] =
            _mm256_add_epi32(isum[t][h], _mm256_madd_epi16(part[t][h], ones));
        asm("" : "+x"(isum[t][0]), "+x"(isum[t][1]));
      }
    }
    const float* sp = reinterpret_cast<const float*>(tb + 512);
    const float* op = sp + kTileRows;
    DS_UNROLL for (int h = 0; h < 2; ++h) {
      const __m256 s = _mm256_load_ps(sp + 8 * h), o = _mm256_load_ps(op + 8 * h);
      DS_UNROLL for (int t = 0; t < NT; ++t) {
        const float* dt = reinterpret_cast<const float*>(act + t * as + cols);
        acc[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t][h]),
                                    _mm256_mul_ps(s, _mm256_set1_ps(dt[k])), acc[t][h]);
        acc[t][h] = _mm256_fnmadd_ps(o, _mm256_set1_ps(dt[nb + k]), acc[t][h]);
      }
    }
  }
  DS_UNROLL for (int t = 0; t < NT; ++t) {
    _mm256_storeu_ps(out + t * kTileRows, acc[t][0]);
    _mm256_storeu_ps(out + t * kTileRows + 8, acc[t][1]);
  }
}

// A tile of 2048 columns (40 KB) does not fit in L1, and two tokens per pass over it would
// stream it from L2 at about one byte per multiply-add: the tile is swept in chunks of
// kChunkBlocks blocks (10 KB), every token running over a chunk while it is in L1. Each
// (row, token) still adds its blocks in order, so the results are the same.
template <int G, bool kSigned>
void gemm_tile_g(const uint8_t* tile, int64_t nb, const uint8_t* act, int64_t act_stride, int nt,
                 float* out) {
  constexpr int64_t kChunkBlocks = 16;
  for (int64_t k0 = 0; k0 < nb; k0 += kChunkBlocks) {
    const int64_t k1 = std::min(nb, k0 + kChunkBlocks);
    int t = 0;
    // 4 tokens per pass: each weight load feeds 8 vpmaddubsw instead of 4, which is worth
    // the f32 accumulators living on the stack (BM_MatmulPath n = 256: Q4_K −17 %, Q5_0
    // −18 %, Q6_K −13 %, Q8_0 −5 % on a Zen 3 core).
    for (; t + 4 <= nt; t += 4)
      gemm_tile_nt<4, G, kSigned>(tile, nb, k0, k1, act + t * act_stride, act_stride,
                                  out + t * kTileRows);
    for (; t + 2 <= nt; t += 2)
      gemm_tile_nt<2, G, kSigned>(tile, nb, k0, k1, act + t * act_stride, act_stride,
                                  out + t * kTileRows);
    if (t < nt)
      gemm_tile_nt<1, G, kSigned>(tile, nb, k0, k1, act + t * act_stride, act_stride,
                                  out + t * kTileRows);
  }
}

// ---- Unpacking 16 weight rows into a tile with register transposes, 8 rows at a time ----
// (The AVX-512 unpackers' layout and arithmetic on 256-bit vectors: a tile group's 64 bytes are
// rows 0–7 then rows 8–15, so each half of the rows fills one 32-byte half of every group.)

// out[j] lane r = dword j of the 32 bytes at p + r·rb (r < 8, j < 8).
[[gnu::always_inline]] inline void transpose8x8(const uint8_t* p, size_t rb, __m256i out[8]) {
  __m256i z[8], t[8], u[8];
  DS_UNROLL for (int r = 0; r < 8; ++r) z[r] =
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + r * rb));
  DS_UNROLL for (int a = 0; a < 8; a += 2) {
    t[a] = _mm256_unpacklo_epi32(z[a], z[a + 1]);
    t[a + 1] = _mm256_unpackhi_epi32(z[a], z[a + 1]);
  }
  DS_UNROLL for (int a = 0; a < 8; a += 4) {
    u[a] = _mm256_unpacklo_epi64(t[a], t[a + 2]);
    u[a + 1] = _mm256_unpackhi_epi64(t[a], t[a + 2]);
    u[a + 2] = _mm256_unpacklo_epi64(t[a + 1], t[a + 3]);
    u[a + 3] = _mm256_unpackhi_epi64(t[a + 1], t[a + 3]);
  }
  // u[j] (j < 4) holds dwords j (low lane) and j + 4 (high lane) of rows 0–3, u[4 + j] those
  // of rows 4–7.
  DS_UNROLL for (int j = 0; j < 4; ++j) {
    out[j] = _mm256_permute2x128_si256(u[j], u[4 + j], 0x20);
    out[j + 4] = _mm256_permute2x128_si256(u[j], u[4 + j], 0x31);
  }
}

// out[j] lane r = dword j of the 16 bytes at p + r·rb (r < 8, j < 4).
[[gnu::always_inline]] inline void transpose8x4(const uint8_t* p, size_t rb, __m256i out[4]) {
  __m256i z[4];
  DS_UNROLL for (int a = 0; a < 4; ++a) z[a] =
      _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(p + (a + 4) * rb),
                          reinterpret_cast<const __m128i*>(p + a * rb));
  const __m256i t0 = _mm256_unpacklo_epi32(z[0], z[1]), t1 = _mm256_unpackhi_epi32(z[0], z[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(z[2], z[3]), t3 = _mm256_unpackhi_epi32(z[2], z[3]);
  out[0] = _mm256_unpacklo_epi64(t0, t2);
  out[1] = _mm256_unpackhi_epi64(t0, t2);
  out[2] = _mm256_unpacklo_epi64(t1, t3);
  out[3] = _mm256_unpackhi_epi64(t1, t3);
}

// The f16 in the low 16 bits of each 32-bit lane, as f32.
inline __m256 low_f16(__m256i v) {
  const __m256i w = _mm256_and_si256(v, _mm256_set1_epi32(0xffff));
  const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(w, w), 0x08);
  return _mm256_cvtph_ps(_mm256_castsi256_si128(packed));
}

inline uint8_t* tile_block(uint8_t* tile, int64_t k) {
  return tile + size_t(k) * kTileBlockBytes;
}

// The scales s and offsets o of rows 8h … 8h + 7 of a tile block.
inline void store_scales(uint8_t* tb, int h, __m256 s, __m256 o) {
  _mm256_store_ps(reinterpret_cast<float*>(tb + 512) + 8 * h, s);
  _mm256_store_ps(reinterpret_cast<float*>(tb + 512 + 4 * kTileRows) + 8 * h, o);
}

// Q4_0 / Q5_0 / Q8_0 blocks of 32 of rows 8h … 8h + 7 (rows: the first of them; the first
// `real` of them are the matrix's, the others zero padding).
template <int kKind>  // 0: Q4_0, 1: Q5_0, 2: Q8_0, 3: Q4_1, 4: Q5_1
void unpack32(const uint8_t* rows, size_t rb, int64_t nb, int h, int real, uint8_t* tile) {
  constexpr size_t kBytes = kKind == 0   ? sizeof(BlockQ4_0)
                            : kKind == 1 ? sizeof(BlockQ5_0)
                            : kKind == 2 ? sizeof(BlockQ8_0)
                            : kKind == 3 ? sizeof(BlockQ4_1)
                                         : sizeof(BlockQ5_1);
  // Offset of qs in the block; Q5_0 and Q5_1 carry a fifth bit per element in qh.
  constexpr size_t kQs = kKind == 1 ? 6 : kKind == 3 ? 4 : kKind == 4 ? 8 : 2;
  constexpr bool kFive = kKind == 1 || kKind == 4, kMin = kKind >= 3;
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  // Q8_0: u = q + 128 (the sign bit flipped) on the real rows; padding rows stay zero, as the
  // portable unpacker has them. (Shifted to bit 31, it also negates Q4_1 / Q5_1's m.)
  const __m256i flip = _mm256_and_si256(
      _mm256_cmpgt_epi32(_mm256_set1_epi32(real), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)),
      _mm256_set1_epi8(char(0x80)));
  for (int64_t k = 0; k < nb; ++k) {
    uint8_t* tb = tile_block(tile, k);
    const uint8_t* src = rows + k * kBytes;
    // Bytes 0–15 of each block: d (and m for Q4_1 / Q5_1), then the 32 high bits (Q5_0:
    // across dwords 0 and 1; Q5_1: dword 1).
    __m256i hdr[4];
    transpose8x4(src, rb, hdr);
    const __m256 d = low_f16(hdr[0]);
    if constexpr (kKind == 2) {
      __m256i q[8];
      transpose8x8(src + kQs, rb, q);
      DS_UNROLL for (int g = 0; g < 8; ++g) _mm256_store_si256(
          reinterpret_cast<__m256i*>(tb + 64 * g + 32 * h), _mm256_xor_si256(q[g], flip));
      store_scales(tb, h, d, _mm256_mul_ps(d, _mm256_set1_ps(128.0f)));
      continue;
    }
    __m256i qh = _mm256_setzero_si256();
    if constexpr (kKind == 1)
      qh = _mm256_or_si256(_mm256_srli_epi32(hdr[0], 16), _mm256_slli_epi32(hdr[1], 16));
    if constexpr (kKind == 4) qh = hdr[1];
    __m256i q[4];
    transpose8x4(src + kQs, rb, q);
    DS_UNROLL for (int j = 0; j < 4; ++j) {
      __m256i lo = _mm256_and_si256(q[j], m4),
              hi = _mm256_and_si256(_mm256_srli_epi16(q[j], 4), m4);
      if constexpr (kFive) {
        // Bit 4 of element e is bit e of qh: the 4 bits of group g spread to the bytes' bit 4
        // by a multiply (the shifted copies occupy disjoint bit ranges, so nothing carries).
        auto spread = [&](int g) {
          const __m256i x = _mm256_and_si256(_mm256_srli_epi32(qh, 4 * g), _mm256_set1_epi32(15));
          return _mm256_slli_epi32(
              _mm256_and_si256(_mm256_mullo_epi32(x, _mm256_set1_epi32(0x00204081)),
                               _mm256_set1_epi32(0x01010101)),
              4);
        };
        lo = _mm256_or_si256(lo, spread(j));
        hi = _mm256_or_si256(hi, spread(j + 4));
      }
      _mm256_store_si256(reinterpret_cast<__m256i*>(tb + 64 * j + 32 * h), lo);
      _mm256_store_si256(reinterpret_cast<__m256i*>(tb + 64 * (j + 4) + 32 * h), hi);
    }
    if constexpr (kMin) {
      // o = −m on the real rows, negated by its sign bit (as the portable unpacker's −half(m):
      // −0 for 0); padding rows keep +0, as the portable unpacker has them.
      const __m256 m = low_f16(_mm256_srli_epi32(hdr[0], 16));
      store_scales(tb, h, d, _mm256_xor_ps(m, _mm256_castsi256_ps(_mm256_slli_epi32(flip, 24))));
    } else {
      store_scales(tb, h, d, _mm256_mul_ps(d, _mm256_set1_ps(kKind == 0 ? 8.0f : 16.0f)));
    }
  }
}

// The IQ4 code values + 128 (u of the tiles, ops/qtile.cpp) in both 128-bit lanes, for
// vpshufb lookups by nibble.
inline __m256i iq4_table() {
  alignas(16) uint8_t t[16];
  for (int i = 0; i < 16; ++i) t[i] = uint8_t(kIq4nlValues[i] + 128);
  return _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(t)));
}

// 16 bytes of IQ4 nibbles of rows 8h … 8h + 7 (row r at p + r·rb, Q4_0's order) into their
// half of one tile block's 8 groups; rows outside `keep` get u = 0, as the portable unpacker
// has them.
[[gnu::always_inline]] inline void iq4_groups(const uint8_t* p, size_t rb, __m256i table,
                                              __m256i keep, int h, uint8_t* tb) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  __m256i q[4];
  transpose8x4(p, rb, q);
  DS_UNROLL for (int j = 0; j < 4; ++j) {
    const __m256i lo = _mm256_shuffle_epi8(table, _mm256_and_si256(q[j], m4));
    const __m256i hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(q[j], 4), m4));
    _mm256_store_si256(reinterpret_cast<__m256i*>(tb + 64 * j + 32 * h),
                       _mm256_and_si256(keep, lo));
    _mm256_store_si256(reinterpret_cast<__m256i*>(tb + 64 * (j + 4) + 32 * h),
                       _mm256_and_si256(keep, hi));
  }
}

// All ones in the lanes of the first `real` of 8 rows.
inline __m256i real_rows(int real) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(real), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// IQ4_NL blocks of rows 8h … 8h + 7: u = the code value + 128, s = d, o = 128·d.
void unpack_iq4_nl(const uint8_t* rows, size_t rb, int64_t nb, int h, int real, uint8_t* tile) {
  const __m256i table = iq4_table(), keep = real_rows(real);
  for (int64_t k = 0; k < nb; ++k) {
    uint8_t* tb = tile_block(tile, k);
    const uint8_t* src = rows + k * sizeof(BlockIQ4_NL);
    __m256i hdr[4];
    transpose8x4(src, rb, hdr);
    const __m256 d = low_f16(hdr[0]);
    iq4_groups(src + offsetof(BlockIQ4_NL, qs), rb, table, keep, h, tb);
    store_scales(tb, h, d, _mm256_mul_ps(d, _mm256_set1_ps(128.0f)));
  }
}

// IQ4_XS super-blocks of rows 8h … 8h + 7: group g as IQ4_NL with s = d·(ls_g − 32),
// o = 128·s (ls_g: low 4 bits in scales_l[g / 2], nibble g % 2; high 2 at bits 2g of scales_h).
void unpack_iq4_xs(const uint8_t* rows, size_t rb, int64_t nsb, int h, int real, uint8_t* tile) {
  const __m256i table = iq4_table(), keep = real_rows(real);
  const __m256i m4 = _mm256_set1_epi32(0x0f), m2 = _mm256_set1_epi32(0x03);
  for (int64_t i = 0; i < nsb; ++i) {
    const uint8_t* src = rows + i * sizeof(BlockIQ4_XS);
    // Dword 0: d | scales_h << 16; dword 1: scales_l.
    __m256i hdr[4];
    transpose8x4(src, rb, hdr);
    const __m256 d = low_f16(hdr[0]);
    for (int g = 0; g < 8; ++g) {
      const __m256i lo4 = _mm256_and_si256(_mm256_srli_epi32(hdr[1], 4 * g), m4);
      const __m256i hi2 = _mm256_and_si256(_mm256_srli_epi32(hdr[0], 16 + 2 * g), m2);
      const __m256i ls = _mm256_or_si256(lo4, _mm256_slli_epi32(hi2, 4));
      // Padding rows (d = 0) would give −0: +0, as the portable unpacker has them.
      const __m256 sv = _mm256_and_ps(
          _mm256_castsi256_ps(keep),
          _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(ls, _mm256_set1_epi32(32)))));
      uint8_t* tb = tile_block(tile, 8 * i + g);
      iq4_groups(src + offsetof(BlockIQ4_XS, qs) + 16 * g, rb, table, keep, h, tb);
      store_scales(tb, h, sv, _mm256_mul_ps(sv, _mm256_set1_ps(128.0f)));
    }
  }
}

// Q4_K, or Q5_K (kFive: the fifth bit of group g's element l is bit g of qh[l]),
// super-blocks of rows 8h … 8h + 7 (rows: the first of them).
template <bool kFive>
void unpack_k4(const uint8_t* rows, size_t rb, int64_t nb, int h, uint8_t* tile) {
  using Block = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;
  constexpr size_t kQs = offsetof(Block, qs);
  const __m256i m4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
  const __m256i k1 = _mm256_set1_epi32(0x3f3f3f3f), k2 = _mm256_set1_epi32(0x0f0f0f0f),
                k3 = _mm256_set1_epi32(0x03030303), byte = _mm256_set1_epi32(0xff);
  for (int64_t i = 0; i < nb / 8; ++i) {
    const uint8_t* src = rows + i * sizeof(Block);
    // Header: dword 0 = d | dmin << 16, dwords 1–3 the 12 packed scale bytes.
    __m256i hd[4];
    transpose8x4(src, rb, hd);
    const __m256 d = low_f16(hd[0]);
    const __m256 dmin = low_f16(_mm256_srli_epi32(hd[0], 16));
    // ggml's word-mask unpacking of the 6-bit scales and mins, 8 rows at once.
    const __m256i u0 = hd[1], u1 = hd[2], u2 = hd[3];
    const __m256i sc03 = _mm256_and_si256(u0, k1);
    const __m256i sc47 =
        _mm256_or_si256(_mm256_and_si256(u2, k2),
                        _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u0, 6), k3), 4));
    const __m256i mn03 = _mm256_and_si256(u1, k1);
    const __m256i mn47 =
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(u2, 4), k2),
                        _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u1, 6), k3), 4));
    for (int g = 0; g < 8; ++g) {
      const __m128i sh = _mm_cvtsi32_si128(8 * (g % 4));
      const __m256 sc =
          _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srl_epi32(g < 4 ? sc03 : sc47, sh), byte));
      const __m256 mn =
          _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srl_epi32(g < 4 ? mn03 : mn47, sh), byte));
      store_scales(tile_block(tile, 8 * i + g), h, _mm256_mul_ps(d, sc), _mm256_mul_ps(dmin, mn));
    }
    __m256i qh[8];
    if constexpr (kFive) transpose8x8(src + offsetof(BlockQ5_K, qh), rb, qh);
    for (int c = 0; c < 4; ++c) {
      __m256i q[8];
      transpose8x8(src + kQs + 32 * c, rb, q);
      uint8_t* lo = tile_block(tile, 8 * i + 2 * c);
      uint8_t* hi = tile_block(tile, 8 * i + 2 * c + 1);
      DS_UNROLL for (int j = 0; j < 8; ++j) {
        __m256i ul = _mm256_and_si256(q[j], m4);
        __m256i uh = _mm256_and_si256(_mm256_srli_epi16(q[j], 4), m4);
        if constexpr (kFive) {
          // Bits 2c and 2c + 1 of each qh byte to bit 4 of the byte (masked before the shift
          // left, so nothing crosses into the next byte).
          const __m128i s0 = _mm_cvtsi32_si128(2 * c), s1 = _mm_cvtsi32_si128(2 * c + 1);
          ul = _mm256_or_si256(
              ul, _mm256_slli_epi32(_mm256_and_si256(_mm256_srl_epi32(qh[j], s0), one), 4));
          uh = _mm256_or_si256(
              uh, _mm256_slli_epi32(_mm256_and_si256(_mm256_srl_epi32(qh[j], s1), one), 4));
        }
        _mm256_store_si256(reinterpret_cast<__m256i*>(lo + 64 * j + 32 * h), ul);
        _mm256_store_si256(reinterpret_cast<__m256i*>(hi + 64 * j + 32 * h), uh);
      }
    }
  }
}

// Q2_K, Q3_K and Q6_K in two tile blocks per 32 elements (ops/qtile.h, tile_col_factor),
// super-blocks of rows 8h … 8h + 7 (rows: the first of them; the first `real` of them are the
// matrix's): each row's super-block decoded to 512 bytes (tile block by tile block: its half
// of the 32 values and 16 × kPad), then transposed, as in the AVX-512 unpacker.
template <uint8_t kPad, class Block, void (*kDecode)(const Block*, __m256i*, float*, float*)>
void unpack_sixteens(const uint8_t* rows, size_t rb, int64_t nsb, int h, int real, uint8_t* tile) {
  alignas(32) uint8_t buf[8][2 * kQKK];
  alignas(32) float scale[kQKK / 16][8], offset[kQKK / 16][8];
  const __m256i pad = _mm256_set1_epi8(char(kPad));
  // Padding rows: u = 0 and +0 scales, as the portable unpacker has them.
  const __m256i keep = real_rows(real);
  for (int64_t i = 0; i < nsb; ++i) {
    for (int r = 0; r < 8; ++r) {
      __m256i q[8];
      float s[kQKK / 16], o[kQKK / 16];
      kDecode(reinterpret_cast<const Block*>(rows + r * rb) + i, q, s, o);
      DS_UNROLL for (int c = 0; c < 8; ++c) {
        _mm256_store_si256(reinterpret_cast<__m256i*>(buf[r] + 64 * c),
                           _mm256_blend_epi32(pad, q[c], 0x0f));
        _mm256_store_si256(reinterpret_cast<__m256i*>(buf[r] + 64 * c + 32),
                           _mm256_blend_epi32(pad, q[c], 0xf0));
      }
      for (int g = 0; g < kQKK / 16; ++g) {
        scale[g][r] = s[g];
        offset[g][r] = o[g];
      }
    }
    for (int tb = 0; tb < kQKK / 16; ++tb) {
      uint8_t* out = tile_block(tile, 16 * i + tb);
      __m256i q[8];
      transpose8x8(buf[0] + 32 * tb, 2 * kQKK, q);
      DS_UNROLL for (int g = 0; g < 8; ++g) _mm256_store_si256(
          reinterpret_cast<__m256i*>(out + 64 * g + 32 * h), _mm256_and_si256(keep, q[g]));
      store_scales(out, h, _mm256_and_ps(_mm256_castsi256_ps(keep), _mm256_load_ps(scale[tb])),
                   _mm256_and_ps(_mm256_castsi256_ps(keep), _mm256_load_ps(offset[tb])));
    }
  }
}

// Q3_K in one tile block per 32 elements (u up to 252: the AVX-VNNI kernel) of rows
// 8h … 8h + 7, as the AVX-512 unpacker: s = d, o = 124·d.
void unpack_q3_K_scaled(const uint8_t* rows, size_t rb, int64_t nsb, int h, int real,
                        uint8_t* tile) {
  alignas(32) uint8_t buf[8][kQKK];
  alignas(32) float d[8];
  const __m256i keep = real_rows(real);
  for (int64_t i = 0; i < nsb; ++i) {
    for (int r = 0; r < 8; ++r) {
      __m256i u[8];
      d[r] = x86::decode_q3_K_scaled(reinterpret_cast<const BlockQ3_K*>(rows + r * rb) + i, u);
      DS_UNROLL for (int c = 0; c < 8; ++c)
          _mm256_store_si256(reinterpret_cast<__m256i*>(buf[r] + 32 * c), u[c]);
    }
    // Padding rows: u = 0 and +0 scales, as the portable unpacker has them.
    const __m256 s = _mm256_and_ps(_mm256_castsi256_ps(keep), _mm256_load_ps(d));
    const __m256 o = _mm256_mul_ps(s, _mm256_set1_ps(124.0f));
    for (int k = 0; k < kQKK / 32; ++k) {
      uint8_t* out = tile_block(tile, 8 * i + k);
      __m256i q[8];
      transpose8x8(buf[0] + 32 * k, kQKK, q);
      DS_UNROLL for (int g = 0; g < 8; ++g) _mm256_store_si256(
          reinterpret_cast<__m256i*>(out + 64 * g + 32 * h), _mm256_and_si256(keep, q[g]));
      store_scales(out, h, s, o);
    }
  }
}

// gemm_tile_nt with vpdpbusd (AVX-VNNI, VEX-encoded).
template <int NT>
__attribute__((target("avx2,fma,avxvnni"))) void gemm_tile_vnni_nt(const uint8_t* tile, int64_t nb,
                                                                   const uint8_t* act, int64_t as,
                                                                   float* out) {
  const int64_t cols = nb * 32;
  __m256 acc[NT][2];
  DS_UNROLL for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < nb; ++k) {
    const uint8_t* tb = tile + size_t(k) * kTileBlockBytes;
    __m256i isum[NT][2];
    DS_UNROLL for (int t = 0; t < NT; ++t) isum[t][0] = isum[t][1] = _mm256_setzero_si256();
    DS_UNROLL for (int g = 0; g < 8; ++g) {
      const __m256i w0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(tb + 64 * g));
      const __m256i w1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(tb + 64 * g + 32));
      DS_UNROLL for (int t = 0; t < NT; ++t) {
        const __m256i a = _mm256_set1_epi32(tile_load_i32(act + t * as + 32 * k + 4 * g));
        isum[t][0] = _mm256_dpbusd_avx_epi32(isum[t][0], w0, a);
        isum[t][1] = _mm256_dpbusd_avx_epi32(isum[t][1], w1, a);
      }
    }
    const float* sp = reinterpret_cast<const float*>(tb + 512);
    const float* op = sp + kTileRows;
    DS_UNROLL for (int h = 0; h < 2; ++h) {
      const __m256 s = _mm256_load_ps(sp + 8 * h), o = _mm256_load_ps(op + 8 * h);
      DS_UNROLL for (int t = 0; t < NT; ++t) {
        const float* dt = reinterpret_cast<const float*>(act + t * as + cols);
        acc[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t][h]),
                                    _mm256_mul_ps(s, _mm256_set1_ps(dt[k])), acc[t][h]);
        acc[t][h] = _mm256_fnmadd_ps(o, _mm256_set1_ps(dt[nb + k]), acc[t][h]);
      }
    }
  }
  DS_UNROLL for (int t = 0; t < NT; ++t) {
    _mm256_storeu_ps(out + t * kTileRows, acc[t][0]);
    _mm256_storeu_ps(out + t * kTileRows + 8, acc[t][1]);
  }
}

}  // namespace

void gemm_tile_vnni(const uint8_t* tile, int64_t nb, const uint8_t* act, int64_t act_stride, int nt,
                    float* out) {
  int t = 0;
  for (; t + 2 <= nt; t += 2)
    gemm_tile_vnni_nt<2>(tile, nb, act + t * act_stride, act_stride, out + t * kTileRows);
  if (t < nt) gemm_tile_vnni_nt<1>(tile, nb, act + t * act_stride, act_stride, out + t * kTileRows);
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
  for (int h = 0; h < 2; ++h) {
    const uint8_t* half = rows + size_t(8 * h) * row_bytes;
    const int real = std::clamp(nr - 8 * h, 0, 8);
    switch (gt) {
      case GgmlType::Q4_0:
        unpack32<0>(half, row_bytes, nb, h, real, tile);
        break;
      case GgmlType::Q5_0:
        unpack32<1>(half, row_bytes, nb, h, real, tile);
        break;
      case GgmlType::Q8_0:
        unpack32<2>(half, row_bytes, nb, h, real, tile);
        break;
      case GgmlType::Q4_1:
        unpack32<3>(half, row_bytes, nb, h, real, tile);
        break;
      case GgmlType::Q5_1:
        unpack32<4>(half, row_bytes, nb, h, real, tile);
        break;
      case GgmlType::Q5_K:
        unpack_k4<true>(half, row_bytes, nb, h, tile);
        break;
      case GgmlType::IQ4_NL:
        unpack_iq4_nl(half, row_bytes, nb, h, real, tile);
        break;
      case GgmlType::IQ4_XS:
        unpack_iq4_xs(half, row_bytes, cols / kQKK, h, real, tile);
        break;
      case GgmlType::Q6_K:
        unpack_sixteens<32, BlockQ6_K, x86::decode_q6_K>(half, row_bytes, cols / kQKK, h, real,
                                                         tile);
        break;
      case GgmlType::Q3_K:
        if (factor == 1) {
          unpack_q3_K_scaled(half, row_bytes, cols / kQKK, h, real, tile);
          break;
        }
        unpack_sixteens<4, BlockQ3_K, x86::decode_q3_K>(half, row_bytes, cols / kQKK, h, real,
                                                        tile);
        break;
      case GgmlType::Q2_K:
        unpack_sixteens<0, BlockQ2_K, x86::decode_q2_K>(half, row_bytes, cols / kQKK, h, real,
                                                        tile);
        break;
      default:
        unpack_k4<false>(half, row_bytes, nb, h, tile);
        break;
    }
  }
  return true;
}

void gemm_tile(const uint8_t* tile, int64_t nb, const uint8_t* act, int64_t act_stride, int nt,
               float* out) {
  gemm_tile_g<1, false>(tile, nb, act, act_stride, nt, out);
}

void gemm_tile_signed(const uint8_t* tile, int64_t nb, const uint8_t* act, int64_t act_stride,
                      int nt, float* out) {
  gemm_tile_g<1, true>(tile, nb, act, act_stride, nt, out);
}

void quantize_act_tile(const float* x, int64_t cols, uint8_t* dst) {
  // The portable quantiser's operations, 8 lanes at a time (vcvtps2dq rounds half to even, as
  // its 1.5·2^23 trick does for |x·id| ≤ 127): bit-identical output (tested).
  const int64_t nb = cols / 32;
  float* d = reinterpret_cast<float*>(dst + cols);
  float* ds = d + nb;
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t k = 0; k < nb; ++k) {
    __m256 v[4];
    DS_UNROLL for (int j = 0; j < 4; ++j) v[j] = _mm256_loadu_ps(x + 32 * k + 8 * j);
    __m256 m =
        _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
                      _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float dk = amax / 127.0f, id = dk > 0 ? 127.0f / amax : 0.0f;
    __m256i q[4];
    DS_UNROLL for (int j = 0; j < 4; ++j) q[j] =
        _mm256_cvtps_epi32(_mm256_mul_ps(v[j], _mm256_set1_ps(id)));
    // Packing works within 128-bit lanes: dwords of the result come out as 0 2 4 6 1 3 5 7.
    const __m256i b =
        _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 32 * k),
                        _mm256_permutevar8x32_epi32(b, order));
    const __m256i s8 = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
    d[k] = dk;
    ds[k] = dk * float(_mm_cvtsi128_si32(s4));
  }
}

GemmTileFn gemm_tile_for_u(int max_u) {
  // G groups of pair sums in 16 bits hold G·2·127·u ≤ 32767.
  if (max_u <= 16) return gemm_tile_g<8, false>;
  if (max_u <= 32) return gemm_tile_g<4, false>;
  if (max_u <= 64) return gemm_tile_g<2, false>;
  if (max_u <= 127) return gemm_tile;
  if (max_u <= 255) return gemm_tile_signed;
  return nullptr;
}

}  // namespace ds::avx2
