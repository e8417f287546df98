// AVX-512 fused row kernels: BF16 weights widened in registers (shift into the f32 high half)
// and FMA'd against f32 activations; Q8_0 / Q4_K / Q6_K weights against Q8_0 / Q8_K
// activations with VNNI integer dot products (vpdpbusd / vpdpwssd), following the structure of
// ggml's x86 kernels (ggml-cpu/arch/x86/quants.c). Integer block sums are exact; only the float
// combination order differs from the scalar references in src/quant/vec_dot.cpp.
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "backend/cpu/avx512_math.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/kquant_scales_x86.h"
#include "backend/cpu/row_dot.h"
#include "core/dtype.h"
#include "quant/blocks.h"
#include "quant/quant.h"

namespace ds::avx512 {

namespace {

inline __m512 bf16x16(const uint16_t* p) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
}

inline __m512 bf16x16_masked(const uint16_t* p, __mmask16 m) {
  const __m256i v = _mm256_maskz_loadu_epi16(m, p);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
}

inline __m512 load16(const uint16_t* p) {
  return bf16x16(p);
}
inline __m512 load16(const float* p) {
  return _mm512_loadu_ps(p);
}
inline __m512 load16_masked(const uint16_t* p, __mmask16 m) {
  return bf16x16_masked(p, m);
}
inline __m512 load16_masked(const float* p, __mmask16 m) {
  return _mm512_maskz_loadu_ps(m, p);
}
// F16 weights: a distinct type for the templates (the bits are uint16_t, as BF16's are).
struct F16Bits {
  uint16_t bits;
};
inline __m512 load16(const F16Bits* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline __m512 load16_masked(const F16Bits* p, __mmask16 m) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

// Lane k = the sum of a[k]'s lanes, for 16 vectors at once: a transpose-and-add tree (47
// vector operations instead of 16 reductions of about 9). Each sum pairs the lanes exactly
// as _mm512_reduce_add_ps does — lanes i and i + 8, then i and i + 4, then i and i + 2, then
// the last two — so a sum has the same bits whichever way it is reduced. For short rows
// with several tokens (an LM head of hidden size 256) the reductions were most of the work.
[[gnu::always_inline]] inline __m512 reduce16(const __m512* a) {
  __m512 b[8], c[4], d[2];
  DS_UNROLL for (int m = 0; m < 8; ++m) {  // lanes i + 8: 256-bit halves
    const __m512d x = _mm512_castps_pd(a[2 * m]), y = _mm512_castps_pd(a[2 * m + 1]);
    b[m] = _mm512_add_ps(_mm512_castpd_ps(_mm512_shuffle_f64x2(x, y, 0x44)),
                         _mm512_castpd_ps(_mm512_shuffle_f64x2(x, y, 0xee)));
  }
  // b[m]: 128-bit lanes 0, 1 of a[2m]'s half-sums, then 2, 3 of a[2m + 1]'s.
  DS_UNROLL for (int p = 0; p < 4; ++p)  // lanes i + 4: 128-bit lanes
      c[p] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * p], b[2 * p + 1], 0x88),
                           _mm512_shuffle_f32x4(b[2 * p], b[2 * p + 1], 0xdd));
  // c[p] 128-bit lane l: the four partial sums of a[4p + l].
  DS_UNROLL for (int q = 0; q < 2; ++q)  // i + 2 within each 128-bit lane
      d[q] = _mm512_add_ps(_mm512_shuffle_ps(c[2 * q], c[2 * q + 1], 0x44),
                           _mm512_shuffle_ps(c[2 * q], c[2 * q + 1], 0xee));
  // d[q] lane l: the two partial sums of a[8q + l], then of a[8q + 4 + l].
  const __m512 r =
      _mm512_add_ps(_mm512_shuffle_ps(d[0], d[1], 0x88), _mm512_shuffle_ps(d[0], d[1], 0xdd));
  // r element 4l + i is the sum of a[4i + l].
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_ps(order, r);
}

// NR weight rows (BF16 widened in registers, or F32) × NT tokens of accumulators (at most 16
// of the 32 zmm registers). Each accumulator sees the same FMA sequence whatever NR and NT
// are, so a result does not depend on how matmul blocked the rows (or split them over
// threads).
template <typename W, int NR, int NT>
void dot_block(const W* w, int64_t ws, const float* x, int64_t xs, int64_t n, float* y) {
  __m512 acc[NR][NT];
  DS_UNROLL for (int r = 0; r < NR; ++r) DS_UNROLL for (int t = 0; t < NT; ++t) acc[r][t] =
      _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 wv[NR];
    DS_UNROLL for (int r = 0; r < NR; ++r) {
      // Weights stream from L3 / DRAM once per call: asking for them 8 KiB ahead keeps
      // enough misses in flight that a 4-token block costs what a 1-token one does (a
      // 132 MB F32 matrix, 2 threads: 8.1 → 3.0 ms at n = 4).
      _mm_prefetch(reinterpret_cast<const char*>(w + r * ws + i) + kPrefetchBytes, _MM_HINT_T0);
      wv[r] = load16(w + r * ws + i);
    }
    DS_UNROLL for (int t = 0; t < NT; ++t) {
      const __m512 xv = _mm512_loadu_ps(x + t * xs + i);
      DS_UNROLL for (int r = 0; r < NR; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
  if (i < n) {  // the tail, masked: the same FMA per lane as a full step
    const __mmask16 m = __mmask16((1u << (n - i)) - 1);
    __m512 wv[NR];
    DS_UNROLL for (int r = 0; r < NR; ++r) wv[r] = load16_masked(w + r * ws + i, m);
    DS_UNROLL for (int t = 0; t < NT; ++t) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, x + t * xs + i);
      DS_UNROLL for (int r = 0; r < NR; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
  if constexpr (NR == 4 && NT == 4 && kMaxRowTokens == 4) {
    _mm512_storeu_ps(y, reduce16(&acc[0][0]));
  } else {
    DS_UNROLL for (int r = 0; r < NR; ++r) DS_UNROLL for (int t = 0; t < NT; ++t)
        y[r * kMaxRowTokens + t] = _mm512_reduce_add_ps(acc[r][t]);
  }
}

template <typename W>
using BlockFn = void (*)(const W*, int64_t, const float*, int64_t, int64_t, float*);

template <typename W, int NR>
constexpr BlockFn<W> kRow[4] = {dot_block<W, NR, 1>, dot_block<W, NR, 2>, dot_block<W, NR, 3>,
                                dot_block<W, NR, 4>};
template <typename W>
constexpr const BlockFn<W>* kBlocks[4] = {kRow<W, 1>, kRow<W, 2>, kRow<W, 3>, kRow<W, 4>};

float dot_q8_0(const BlockQ8_0* a, const BlockQ8_0* b, int64_t nb) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  const __m256i zero = _mm256_setzero_si256();
  int64_t i = 0;
  // vpdpbusd multiplies unsigned by signed bytes: |w| times y carrying w's sign.
  auto block = [&](int64_t k) {
    const __m256i qa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[k].qs));
    const __m256i qb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[k].qs));
    const __m256i p = _mm256_dpbusd_epi32(zero, _mm256_abs_epi8(qa), _mm256_sign_epi8(qb, qa));
    return _mm256_cvtepi32_ps(p);
  };
  for (; i + 2 <= nb; i += 2) {
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(a[i].d) * _cvtsh_ss(b[i].d)), block(i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(a[i + 1].d) * _cvtsh_ss(b[i + 1].d)),
                           block(i + 1), acc1);
  }
  if (i < nb)
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(a[i].d) * _cvtsh_ss(b[i].d)), block(i), acc0);
  const __m256 s = _mm256_add_ps(acc0, acc1);
  __m128 r = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

float dot_q5_0(const BlockQ5_0* a, const BlockQ8_0* b, int64_t nb) {
  __m256 acc = _mm256_setzero_ps();
  const __m256i zero = _mm256_setzero_si256(), m4 = _mm256_set1_epi8(0x0f);
  for (int64_t i = 0; i < nb; ++i) {
    // Elements 0–15 are the low nibbles of qs, 16–31 the high ones; bit j of qh is bit 4 of
    // element j, so q − 16 is the nibble minus 16 wherever that bit is clear.
    const __m128i qs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a[i].qs));
    const __m256i nib = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(qs, 4), qs), m4);
    uint32_t qh;
    std::memcpy(&qh, a[i].qh, 4);
    const __m256i qa = _mm256_mask_sub_epi8(nib, __mmask32(~qh), nib, _mm256_set1_epi8(16));
    const __m256i qb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs));
    const __m256i p = _mm256_dpbusd_epi32(zero, _mm256_abs_epi8(qa), _mm256_sign_epi8(qb, qa));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(a[i].d) * _cvtsh_ss(b[i].d)),
                          _mm256_cvtepi32_ps(p), acc);
  }
  __m128 r = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

// The row kernels stream their weights from DRAM: each asks, as it goes, for the line
// kStreamPrefetchBytes ahead into L2, about one line per 64 bytes it consumes. A steady
// trickle of prefetches keeps more misses in flight than asking for a whole row at the start
// of the previous one (which stalls when the fill buffers run out): BM_Matmul n = 1, two
// threads, Q8_0 12.9 → 14.7–16.0 GB/s and Q5_0 8.0 → 11.8–12.9 GB/s; decode on the
// V2-Lite-shaped Q4_K_M slice +7–15% (docs/PERFORMANCE.md).
inline void stream_prefetch(const void* p) {
  _mm_prefetch(static_cast<const char*>(p) + kStreamPrefetchBytes, _MM_HINT_T1);
}

// Products of the weight and activation block scales of blocks i … i + nb8 − 1 (nb8 ≤ 8), for
// the pair kernels below: the f16 scales sit 22 or 34 bytes apart, so each set of eight is
// gathered as the first 4 bytes of each block (within the block) and narrowed to 16 bits.
// (Storing them to a small array with scalar moves and loading that as one vector stalled
// on store forwarding once per eight blocks.)
template <typename W>
inline __m128i block_d8(const W* a, int nb8) {
  static_assert(sizeof(W) >= 4 && offsetof(W, d) == 0);
  const __m256i off = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                         _mm256_set1_epi32(int(sizeof(W))));
  const __mmask8 m = __mmask8((1u << nb8) - 1);
  return _mm256_cvtepi32_epi16(_mm256_mmask_i32gather_epi32(_mm256_setzero_si256(), m, off, a, 1));
}
template <typename W>
inline __m256 block_scales8(const W* a, const BlockQ8_0* b, int nb8) {
  return _mm256_mul_ps(_mm256_cvtph_ps(block_d8(a, nb8)), _mm256_cvtph_ps(block_d8(b, nb8)));
}

// Lane indices spreading block-scale product 2p (lanes 0–7) and 2p + 1 (lanes 8–15).
inline __m512i pair_idx(int p) {
  return _mm512_inserti64x4(_mm512_set1_epi32(2 * p), _mm256_set1_epi32(2 * p + 1), 1);
}

inline __m512i load_pair(const int8_t* q0, const int8_t* q1) {
  return _mm512_inserti64x4(
      _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q0))),
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q1)), 1);
}

// The blocks two at a time through pair(w, x, scales, acc) — scale products of 8 blocks at
// once, two accumulators — and an odd last block through single().
template <typename W, typename Pair>
float pair_blocks(const W* a, const BlockQ8_0* b, int64_t nb, Pair&& pair,
                  float (*single)(const W*, const BlockQ8_0*, int64_t)) {
  __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  int64_t i = 0;
  for (; i + 8 <= nb; i += 8) {
    const __m512 sc = _mm512_castps256_ps512(block_scales8(a + i, b + i, 8));
    DS_UNROLL for (int p = 0; p < 4; ++p)
        pair(a + i + 2 * p, b + i + 2 * p, _mm512_permutexvar_ps(pair_idx(p), sc), acc[p % 2]);
  }
  if (i + 2 <= nb) {
    const int n8 = int((nb - i) & ~int64_t(1));
    const __m512 sc = _mm512_castps256_ps512(block_scales8(a + i, b + i, n8));
    for (int p = 0; 2 * p < n8; ++p)
      pair(a + i + 2 * p, b + i + 2 * p, _mm512_permutexvar_ps(pair_idx(p), sc), acc[0]);
    i += n8;
  }
  float r = _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1]));
  if (i < nb) r += single(a + i, b + i, nb - i);
  return r;
}

// Two blocks per 512-bit step, 8 blocks per group of scales. vpdpbusd multiplies unsigned by
// signed bytes: |w| times x carrying w's sign (x negated where w < 0).
float dot_q8_0_pairs(const BlockQ8_0* a, const BlockQ8_0* b, int64_t nb) {
  auto pair = [&](const BlockQ8_0* wa, const BlockQ8_0* xb, __m512 s, __m512& acc_p) {
    stream_prefetch(wa);  // about one line per 64 bytes consumed
    const __m512i w = load_pair(wa[0].qs, wa[1].qs);
    const __m512i x = load_pair(xb[0].qs, xb[1].qs);
    const __m512i xs = _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(w), _mm512_setzero_si512(), x);
    const __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w), xs);
    acc_p = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(d), acc_p);
  };
  return pair_blocks(a, b, nb, pair, dot_q8_0);
}

// Q5_0 pairs: the two blocks' 16 nibble bytes side by side, low and high nibbles spread to
// [block i | block i + 1] element order, bit 4 added from qh (one 64-bit mask for both
// blocks); q ∈ [0, 31] times x by vpdpbusd, minus 16·Σx by a second one.
float dot_q5_0_pairs(const BlockQ5_0* a, const BlockQ8_0* b, int64_t nb) {
  const __m512i m4 = _mm512_set1_epi8(0x0f), c16 = _mm512_set1_epi8(16);
  auto pair = [&](const BlockQ5_0* wa, const BlockQ8_0* xb, __m512 s, __m512& acc_p) {
    stream_prefetch(wa);  // about one line per 64 bytes consumed
    // [qs0 | qs1 | qs0 >> 4 | qs1 >> 4] → [lo0 hi0 | lo1 hi1] by one 128-bit lane shuffle.
    const __m256i v = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(wa[1].qs),
                                          reinterpret_cast<const __m128i*>(wa[0].qs));
    const __m512i nib = _mm512_and_si512(
        _mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1), m4);
    const __m512i q4 = _mm512_shuffle_i64x2(nib, nib, _MM_SHUFFLE(3, 1, 2, 0));
    uint32_t h0, h1;
    std::memcpy(&h0, wa[0].qh, 4);
    std::memcpy(&h1, wa[1].qh, 4);
    const __m512i q = _mm512_mask_add_epi8(q4, __mmask64(h0 | (uint64_t(h1) << 32)), q4, c16);
    const __m512i x = load_pair(xb[0].qs, xb[1].qs);
    const __m512i d = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q, x),
                                       _mm512_dpbusd_epi32(_mm512_setzero_si512(), c16, x));
    acc_p = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(d), acc_p);
  };
  return pair_blocks(a, b, nb, pair, dot_q5_0);
}

// IQ4_NL pairs: the two blocks' nibbles in element order as for Q5_0, the code book by
// vpshufb, then |w| times x carrying w's sign by vpdpbusd (as Q8_0). An odd last block takes
// the reference.
float dot_iq4_nl_one(const BlockIQ4_NL* a, const BlockQ8_0* b, int64_t nb) {
  return vec_dot_iq4_nl_q8_0(a, b, nb * kQK32);
}
float dot_iq4_nl_pairs(const BlockIQ4_NL* a, const BlockQ8_0* b, int64_t nb) {
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  const __m512i book =
      _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
  auto pair = [&](const BlockIQ4_NL* wa, const BlockQ8_0* xb, __m512 s, __m512& acc_p) {
    stream_prefetch(wa);  // about one line per 64 bytes consumed
    const __m256i v = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(wa[1].qs),
                                          reinterpret_cast<const __m128i*>(wa[0].qs));
    const __m512i nib = _mm512_and_si512(
        _mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1), m4);
    const __m512i w =
        _mm512_shuffle_epi8(book, _mm512_shuffle_i64x2(nib, nib, _MM_SHUFFLE(3, 1, 2, 0)));
    const __m512i x = load_pair(xb[0].qs, xb[1].qs);
    const __m512i xs = _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(w), _mm512_setzero_si512(), x);
    const __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w), xs);
    acc_p = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(d), acc_p);
  };
  return pair_blocks(a, b, nb, pair, dot_iq4_nl_one);
}

// 16-bit scale selectors for vpshufb over [scales 0–7 | mins 0–7] (u8) broadcast to every
// 128-bit lane: the 16 low 16-bit lanes take scale `first`, the 16 high ones scale `second`
// (the high byte of each lane is zeroed by index 0x80).
inline __m512i scale_pair_sel(int first, int second) {
  alignas(64) uint8_t idx[64];
  for (int l = 0; l < 32; ++l) {
    idx[2 * l] = uint8_t(l < 16 ? first : second);
    idx[2 * l + 1] = 0x80;
  }
  return _mm512_load_si512(idx);
}

// Integer sums: one 64-byte load of weight nibbles holds the 32-element groups 4h, 4h + 2
// (low nibbles) and 4h + 1, 4h + 3 (high nibbles); the activations were quantised in that
// order (quantize_act_q4_K), so each half meets one plain 64-byte activation load. vpmaddubsw
// (unsigned quants × signed activations → 16-bit pairs), then vpdpwssd multiplies the pairs
// by their group's scale and accumulates in 32 bits. NT activation rows share each unpacked
// weight step; every token's accumulator sees the same operations whatever NT is.
template <int NT>
void dot_q4_K(const BlockQ4_K* a, const BlockQ8_K* const* b, int64_t nb, float* y) {
  __m512 acc[NT];
  DS_UNROLL for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  const __m512i sel[4] = {scale_pair_sel(0, 2), scale_pair_sel(1, 3), scale_pair_sel(4, 6),
                          scale_pair_sel(5, 7)};
  for (int64_t i = 0; i < nb; ++i) {
    // 2.5 lines per 144-byte block.
    stream_prefetch(a + i);
    stream_prefetch(reinterpret_cast<const char*>(a + i) + 64);
    if (i % 2 == 0) stream_prefetch(reinterpret_cast<const char*>(a + i) + 128);
    const __m128i sm = x86::k4_scales_mins(a[i].scales);
    const float dw = _cvtsh_ss(a[i].d), mw = _cvtsh_ss(a[i].dmin);
    // Min term: Σ_g mn[g]·(bsums[2g] + bsums[2g+1]), the 16-bit pairs in one vpmaddwd.
    const __m256i mn = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));
    const __m512i smz = _mm512_broadcast_i32x4(sm);
    // Two accumulators per token (low and high nibbles): half-length vpdpwssd chains.
    // Integer sums are exact, so the split changes no result.
    __m512i sum_lo[NT], sum_hi[NT];
    DS_UNROLL for (int t = 0; t < NT; ++t) sum_lo[t] = sum_hi[t] = _mm512_setzero_si512();
    DS_UNROLL for (int h = 0; h < 2; ++h) {
      const __m512i q = _mm512_loadu_si512(a[i].qs + 64 * h);
      const __m512i lo = _mm512_and_si512(q, m4);
      const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
      const __m512i s_lo = _mm512_shuffle_epi8(smz, sel[2 * h]);
      const __m512i s_hi = _mm512_shuffle_epi8(smz, sel[2 * h + 1]);
      DS_UNROLL for (int t = 0; t < NT; ++t) {
        const int8_t* act = b[t][i].qs + 128 * h;
        sum_lo[t] =
            _mm512_dpwssd_epi32(sum_lo[t], _mm512_maddubs_epi16(lo, _mm512_loadu_si512(act)), s_lo);
        sum_hi[t] = _mm512_dpwssd_epi32(
            sum_hi[t], _mm512_maddubs_epi16(hi, _mm512_loadu_si512(act + 64)), s_hi);
      }
    }
    DS_UNROLL for (int t = 0; t < NT; ++t) {
      const __m256i mins = _mm256_madd_epi16(
          mn, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[t][i].bsums)));
      const __m512i sumi = _mm512_add_epi32(sum_lo[t], sum_hi[t]);
      acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(dw * b[t][i].d), _mm512_cvtepi32_ps(sumi), acc[t]);
      acc[t] = _mm512_fnmadd_ps(_mm512_set1_ps(mw * b[t][i].d),
                                _mm512_cvtepi32_ps(_mm512_zextsi256_si512(mins)), acc[t]);
    }
  }
  DS_UNROLL for (int t = 0; t < NT; ++t) y[t] = _mm512_reduce_add_ps(acc[t]);
}

// Lane indices that spread 16-bit scales over the 16-bit pair sums of one 64-byte step:
// `per` consecutive lanes per scale, starting at scale `first`.
inline __m512i spread_idx(int first, int per) {
  alignas(64) int16_t idx[32];
  for (int l = 0; l < 32; ++l) idx[l] = int16_t(first + l / per);
  return _mm512_load_si512(idx);
}

// The step the 16-element-group k-quants (Q2_K, Q3_K, Q6_K) share: the unsigned values of
// elements 128h … 128h + 63 (q01) and 128h + 64 … 128h + 127 (q23) against each token's
// activations by vpmaddubsw, then vpdpwssd by their groups' scales (sc16: the block's 16
// scales as int16; idx: spread_idx for the groups 0, 4, 8, 12 on).
template <int NT>
[[gnu::always_inline]] inline void group16_step(__m512i q01, __m512i q23, const __m512i* idx,
                                                __m512i sc16, const BlockQ8_K* const* b, int64_t i,
                                                int h, __m512i (&sumi)[NT]) {
  const __m512i s01 = _mm512_permutexvar_epi16(idx[2 * h], sc16);
  const __m512i s23 = _mm512_permutexvar_epi16(idx[2 * h + 1], sc16);
  DS_UNROLL for (int t = 0; t < NT; ++t) {
    const __m512i p01 = _mm512_maddubs_epi16(q01, _mm512_loadu_si512(b[t][i].qs + 128 * h));
    const __m512i p23 = _mm512_maddubs_epi16(q23, _mm512_loadu_si512(b[t][i].qs + 128 * h + 64));
    sumi[t] = _mm512_dpwssd_epi32(sumi[t], p01, s01);
    sumi[t] = _mm512_dpwssd_epi32(sumi[t], p23, s23);
  }
}

template <int NT>
void dot_q6_K(const BlockQ6_K* a, const BlockQ8_K* const* b, int64_t nb, float* y) {
  __m512 acc[NT];
  DS_UNROLL for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  // qh bits 0–1 (low half) and 2–3 (high half) to bits 4–5; bits 4–5 and 6–7 likewise.
  const __m512i mq01 = _mm512_inserti64x4(_mm512_set1_epi8(0x03), _mm256_set1_epi8(0x0c), 1);
  const __m512i mq23 = _mm512_inserti64x4(_mm512_set1_epi8(0x30), _mm256_set1_epi8(char(0xc0)), 1);
  const __m512i sh01 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
  const __m512i sh23 = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1);
  // Step c (64 elements) covers the 16-element groups 4c … 4c+3, 8 pair lanes each.
  static const __m512i idx[4] = {spread_idx(0, 8), spread_idx(4, 8), spread_idx(8, 8),
                                 spread_idx(12, 8)};
  for (int64_t i = 0; i < nb; ++i) {
    // 3.75 lines per 210-byte block.
    for (int l = 0; l < 3; ++l) stream_prefetch(reinterpret_cast<const char*>(a + i) + 64 * l);
    if (i % 4 != 3) stream_prefetch(reinterpret_cast<const char*>(a + i) + 192);
    const __m256i sc =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a[i].scales)));
    const __m512i sc16 = _mm512_castsi256_si512(sc);
    __m512i sumi[NT];
    DS_UNROLL for (int t = 0; t < NT; ++t) {
      // q − 32 is folded into the group sums: Σ_g sc[g]·32·bsums[g] is subtracted once.
      const __m256i offs = _mm256_madd_epi16(
          sc, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[t][i].bsums)));
      sumi[t] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                 _mm512_slli_epi32(_mm512_zextsi256_si512(offs), 5));
    }
    for (int h = 0; h < 2; ++h) {
      const __m512i ql = _mm512_loadu_si512(a[i].ql + 64 * h);
      // Both halves of qh2 are qh[32h …]; broadcast by the load, not a shuffle.
      const __m512i qh2 = _mm512_broadcast_i64x4(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].qh + 32 * h)));
      // Elements 128h + 32k + p: low nibble (k < 2) or high nibble (k ≥ 2) of
      // ql[64h + 32(k%2) + p]; bits 4–5 are bits 2k, 2k+1 of qh[32h + p]. Each half masks
      // its two bits and moves them to bits 4–5 with one shift per 16-bit lane (the bits stay
      // within their byte).
      const __m512i hi01 = _mm512_sllv_epi16(_mm512_and_si512(qh2, mq01), sh01);
      const __m512i hi23 = _mm512_srlv_epi16(_mm512_and_si512(qh2, mq23), sh23);
      // (ql & 0x0f) | hi, ((ql >> 4) & 0x0f) | hi: one ternary-logic op each (0xf8: A | (B & C)).
      const __m512i q01 = _mm512_ternarylogic_epi32(hi01, ql, m4, 0xf8);
      const __m512i q23 = _mm512_ternarylogic_epi32(hi23, _mm512_srli_epi16(ql, 4), m4, 0xf8);
      group16_step<NT>(q01, q23, idx, sc16, b, i, h, sumi);
    }
    const float dw = _cvtsh_ss(a[i].d);
    DS_UNROLL for (int t = 0; t < NT; ++t) acc[t] =
        _mm512_fmadd_ps(_mm512_set1_ps(dw * b[t][i].d), _mm512_cvtepi32_ps(sumi[t]), acc[t]);
  }
  DS_UNROLL for (int t = 0; t < NT; ++t) y[t] = _mm512_reduce_add_ps(acc[t]);
}

// Q2_K: per 128-element half h, element 32j + l is bits 2j, 2j + 1 of qs[32h + l]; each
// 16-element group g has a 4-bit scale (low nibble of scales[g]) and a 4-bit min (high
// nibble): x = d·sc·q − dmin·m. Both j of a 64-element step come from one 32-byte load
// broadcast to both halves of a register and shifted per 16-bit lane (the two bits stay in
// their byte once masked); vpmaddubsw (q ∈ [0, 3] × the activations), then vpdpwssd by the
// group's scale, as dot_q6_K. The min term takes the Q8_K group sums (bsums).
template <int NT>
void dot_q2_K(const BlockQ2_K* a, const BlockQ8_K* const* b, int64_t nb, float* y) {
  __m512 acc[NT];
  DS_UNROLL for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i m3 = _mm512_set1_epi8(3);
  const __m128i m4 = _mm_set1_epi8(0x0f);
  const __m512i sh01 = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1);
  const __m512i sh23 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(6), 1);
  // Step c (64 elements) covers the 16-element groups 4c … 4c+3, 8 pair lanes each.
  static const __m512i idx[4] = {spread_idx(0, 8), spread_idx(4, 8), spread_idx(8, 8),
                                 spread_idx(12, 8)};
  for (int64_t i = 0; i < nb; ++i) {
    // 1.3 lines per 84-byte block.
    stream_prefetch(a + i);
    if (i % 3 == 0) stream_prefetch(reinterpret_cast<const char*>(a + i) + 64);
    const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a[i].scales));
    const __m512i sc16 = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_and_si128(sc8, m4)));
    const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), m4));
    __m512i sumi[NT];
    DS_UNROLL for (int t = 0; t < NT; ++t) sumi[t] = _mm512_setzero_si512();
    for (int h = 0; h < 2; ++h) {
      const __m512i qv = _mm512_broadcast_i64x4(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].qs + 32 * h)));
      const __m512i q01 = _mm512_and_si512(_mm512_srlv_epi16(qv, sh01), m3);
      const __m512i q23 = _mm512_and_si512(_mm512_srlv_epi16(qv, sh23), m3);
      group16_step<NT>(q01, q23, idx, sc16, b, i, h, sumi);
    }
    const float dw = _cvtsh_ss(a[i].d), mw = _cvtsh_ss(a[i].dmin);
    DS_UNROLL for (int t = 0; t < NT; ++t) {
      const __m256i mins = _mm256_madd_epi16(
          mn16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[t][i].bsums)));
      acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(dw * b[t][i].d), _mm512_cvtepi32_ps(sumi[t]), acc[t]);
      acc[t] = _mm512_fnmadd_ps(_mm512_set1_ps(mw * b[t][i].d),
                                _mm512_cvtepi32_ps(_mm512_zextsi256_si512(mins)), acc[t]);
    }
  }
  DS_UNROLL for (int t = 0; t < NT; ++t) y[t] = _mm512_reduce_add_ps(acc[t]);
}

// Q3_K: the low two bits of element 128h + 32j + l as in Q2_K (bits 2j, 2j + 1 of
// qs[32h + l]), the third bit is bit 4h + j of hmask[l], q = u − 4 with u = low | third << 2
// ∈ [0, 7]; 16-element groups with signed 6-bit scales (packed as unpack_q3_k_scales reads
// them): x = d·sc·(u − 4). vpmaddubsw on u, vpdpwssd by the group's scale, and the −4 folded
// into the group sums: Σ_g sc[g]·4·bsums[g] subtracted once, as dot_q6_K does with 32.
template <int NT>
void dot_q3_K(const BlockQ3_K* a, const BlockQ8_K* const* b, int64_t nb, float* y) {
  __m512 acc[NT];
  DS_UNROLL for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i m3 = _mm512_set1_epi8(3), one = _mm512_set1_epi8(1);
  const __m512i sh01 = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1);
  const __m512i sh23 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(6), 1);
  // Per half h, the hmask bits of j = 0, 1 and j = 2, 3 (one j per 256-bit half).
  auto pair = [](int lo, int hi) {
    return _mm512_inserti64x4(_mm512_set1_epi16(int16_t(lo)), _mm256_set1_epi16(int16_t(hi)), 1);
  };
  const __m512i hsh[2][2] = {{pair(0, 1), pair(2, 3)}, {pair(4, 5), pair(6, 7)}};
  static const __m512i idx[4] = {spread_idx(0, 8), spread_idx(4, 8), spread_idx(8, 8),
                                 spread_idx(12, 8)};
  for (int64_t i = 0; i < nb; ++i) {
    // 1.7 lines per 110-byte block.
    stream_prefetch(a + i);
    if (i % 3 != 2) stream_prefetch(reinterpret_cast<const char*>(a + i) + 64);
    const __m256i sc = _mm256_cvtepi8_epi16(x86::q3_k_scales(a[i].scales));
    const __m512i sc16 = _mm512_castsi256_si512(sc);
    const __m512i hm =
        _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].hmask)));
    __m512i sumi[NT];
    DS_UNROLL for (int t = 0; t < NT; ++t) {
      const __m256i offs = _mm256_madd_epi16(
          sc, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[t][i].bsums)));
      sumi[t] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                 _mm512_slli_epi32(_mm512_zextsi256_si512(offs), 2));
    }
    for (int h = 0; h < 2; ++h) {
      const __m512i qv = _mm512_broadcast_i64x4(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].qs + 32 * h)));
      // Third bits: bit 4h + j of each hmask byte, to bit 2 (masked first, so it stays in
      // its byte).
      const __m512i t01 =
          _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(hm, hsh[h][0]), one), 2);
      const __m512i t23 =
          _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(hm, hsh[h][1]), one), 2);
      const __m512i u01 = _mm512_or_si512(_mm512_and_si512(_mm512_srlv_epi16(qv, sh01), m3), t01);
      const __m512i u23 = _mm512_or_si512(_mm512_and_si512(_mm512_srlv_epi16(qv, sh23), m3), t23);
      group16_step<NT>(u01, u23, idx, sc16, b, i, h, sumi);
    }
    const float dw = _cvtsh_ss(a[i].d);
    DS_UNROLL for (int t = 0; t < NT; ++t) acc[t] =
        _mm512_fmadd_ps(_mm512_set1_ps(dw * b[t][i].d), _mm512_cvtepi32_ps(sumi[t]), acc[t]);
  }
  DS_UNROLL for (int t = 0; t < NT; ++t) y[t] = _mm512_reduce_add_ps(acc[t]);
}

// IQ4_XS: 8 groups of 32 with a 6-bit scale ls (x = d·(ls − 32)·kIq4nlValues[q]); group g's
// elements are the low nibbles of qs[16g …] then their high nibbles. Two groups per step:
// their 32 bytes as [low g | high g | low g+1 | high g+1] by one lane shuffle, the code book
// by vpshufb, then |w| times x carrying w's sign (vpmaddubsw: |w| ≤ 127, so the pair sums do
// not saturate) and vpdpwssd by the two groups' scales.
template <int NT>
void dot_iq4_xs(const BlockIQ4_XS* a, const BlockQ8_K* const* b, int64_t nb, float* y) {
  __m512 acc[NT];
  DS_UNROLL for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  const __m512i book =
      _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
  // Group pair g, g + 1: scale g in the low 16 lanes of 16 bits, scale g + 1 in the high ones.
  static const __m512i idx[4] = {spread_idx(0, 16), spread_idx(2, 16), spread_idx(4, 16),
                                 spread_idx(6, 16)};
  for (int64_t i = 0; i < nb; ++i) {
    // 2.1 lines per 136-byte block.
    stream_prefetch(a + i);
    stream_prefetch(reinterpret_cast<const char*>(a + i) + 64);
    if (i % 8 == 0) stream_prefetch(reinterpret_cast<const char*>(a + i) + 128);
    const __m512i ls = _mm512_castsi128_si512(
        _mm256_cvtepi32_epi16(x86::iq4_xs_scales(a[i].scales_l, a[i].scales_h)));
    __m512i sumi[NT];
    DS_UNROLL for (int t = 0; t < NT; ++t) sumi[t] = _mm512_setzero_si512();
    DS_UNROLL for (int g = 0; g < 8; g += 2) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].qs + 16 * g));
      const __m512i nib = _mm512_and_si512(
          _mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1), m4);
      const __m512i w =
          _mm512_shuffle_epi8(book, _mm512_shuffle_i64x2(nib, nib, _MM_SHUFFLE(3, 1, 2, 0)));
      const __m512i aw = _mm512_abs_epi8(w);
      const __mmask64 neg = _mm512_movepi8_mask(w);
      const __m512i sc = _mm512_permutexvar_epi16(idx[g / 2], ls);
      DS_UNROLL for (int t = 0; t < NT; ++t) {
        const __m512i x = _mm512_loadu_si512(b[t][i].qs + 32 * g);
        const __m512i xs = _mm512_mask_sub_epi8(x, neg, _mm512_setzero_si512(), x);
        sumi[t] = _mm512_dpwssd_epi32(sumi[t], _mm512_maddubs_epi16(aw, xs), sc);
      }
    }
    const float dw = _cvtsh_ss(a[i].d);
    DS_UNROLL for (int t = 0; t < NT; ++t) acc[t] =
        _mm512_fmadd_ps(_mm512_set1_ps(dw * b[t][i].d), _mm512_cvtepi32_ps(sumi[t]), acc[t]);
  }
  DS_UNROLL for (int t = 0; t < NT; ++t) y[t] = _mm512_reduce_add_ps(acc[t]);
}

// Calls Dot<nt>::run with the nt activation rows of one call.
template <typename W, template <int> class Dot>
void k_rows(const void* w, const void* a, int64_t a_stride, int nt, int64_t n, float* y) {
  const BlockQ8_K* rows[kMaxRowTokens];
  for (int t = 0; t < nt; ++t)
    rows[t] = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a) + t * a_stride);
  const W* wr = static_cast<const W*>(w);
  switch (nt) {
    case 4:
      return Dot<4>::run(wr, rows, n / kQKK, y);
    case 3:
      return Dot<3>::run(wr, rows, n / kQKK, y);
    case 2:
      return Dot<2>::run(wr, rows, n / kQKK, y);
    default:
      return Dot<1>::run(wr, rows, n / kQKK, y);
  }
}

template <int NT>
struct Q4K {
  static void run(const BlockQ4_K* a, const BlockQ8_K* const* b, int64_t nb, float* y) {
    dot_q4_K<NT>(a, b, nb, y);
  }
};
template <int NT>
struct Q2K {
  static void run(const BlockQ2_K* a, const BlockQ8_K* const* b, int64_t nb, float* y) {
    dot_q2_K<NT>(a, b, nb, y);
  }
};
template <int NT>
struct Q3K {
  static void run(const BlockQ3_K* a, const BlockQ8_K* const* b, int64_t nb, float* y) {
    dot_q3_K<NT>(a, b, nb, y);
  }
};
template <int NT>
struct IQ4XS {
  static void run(const BlockIQ4_XS* a, const BlockQ8_K* const* b, int64_t nb, float* y) {
    dot_iq4_xs<NT>(a, b, nb, y);
  }
};
template <int NT>
struct Q6K {
  static void run(const BlockQ6_K* a, const BlockQ8_K* const* b, int64_t nb, float* y) {
    dot_q6_K<NT>(a, b, nb, y);
  }
};

}  // namespace

void dot_bf16_f32(const uint16_t* w, int64_t w_stride, int nr, const float* x, int64_t x_stride,
                  int nt, int64_t n, float* y) {
  kBlocks<uint16_t>[nr - 1][nt - 1](w, w_stride, x, x_stride, n, y);
}

namespace {

// 32 FP8 e4m3 values as f16 bit patterns: each byte sign-extended to 16 bits and shifted
// left by 7 puts the 7 magnitude bits under the f16 exponent and mantissa (bits 13…7: an f16
// of 2^-8 times the e4m3 value, exact for normals and subnormals, since the exponent bias
// goes from 7 to 15) and copies of the sign in bits 14 and 15; the mask keeps bit 15. 0x7f
// and 0xff (e4m3fn's NaN) become an f16 NaN.
inline __m512i fp8x32_as_f16(__m256i b) {
  const __m512i v = _mm512_cvtepi8_epi16(b);
  const __m512i h = _mm512_and_si512(_mm512_slli_epi16(v, 7), _mm512_set1_epi16(int16_t(0xbf80)));
  const __mmask32 nan = _mm512_cmpeq_epi16_mask(_mm512_and_si512(v, _mm512_set1_epi16(0x7f)),
                                                _mm512_set1_epi16(0x7f));
  return _mm512_mask_mov_epi16(h, nan, _mm512_set1_epi16(0x7e00));
}

// Each 128-value block (`block`) of a row is summed unscaled, Σ f16(w)·x, then added times its
// scale · 2^8: one rounding of the products fewer than widening each weight to f32 and
// scaling it (fp8_to_f32), so results agree with that path to float rounding, not bit for bit.
template <int NR, int NT>
void dot_fp8_block(const uint8_t* w, int64_t ws, const float* const* scales, int64_t block,
                   const float* x, int64_t xs, int64_t n, float* y) {
  __m512 acc[NR][NT];
  DS_UNROLL for (int r = 0; r < NR; ++r) DS_UNROLL for (int t = 0; t < NT; ++t) acc[r][t] =
      _mm512_setzero_ps();
  for (int64_t b0 = 0; b0 < n; b0 += block) {
    __m512 part[NR][NT];
    DS_UNROLL for (int r = 0; r < NR; ++r) DS_UNROLL for (int t = 0; t < NT; ++t) part[r][t] =
        _mm512_setzero_ps();
    const int64_t b1 = std::min(n, b0 + block);
    for (int64_t i = b0; i < b1; i += 32) {
      const __mmask32 m = b1 - i >= 32 ? __mmask32(0xffffffffu) : __mmask32((1u << (b1 - i)) - 1);
      __m512i h[NR];
      DS_UNROLL for (int r = 0; r < NR; ++r) {
        _mm_prefetch(reinterpret_cast<const char*>(w + r * ws + i) + kPrefetchBytes, _MM_HINT_T0);
        h[r] = fp8x32_as_f16(_mm256_maskz_loadu_epi8(m, w + r * ws + i));
      }
      DS_UNROLL for (int half = 0; half < 2; ++half) {
        __m512 wv[NR];
        DS_UNROLL for (int r = 0; r < NR; ++r) wv[r] = _mm512_cvtph_ps(
            half ? _mm512_extracti64x4_epi64(h[r], 1) : _mm512_castsi512_si256(h[r]));
        const __mmask16 mh = __mmask16(m >> (16 * half));
        DS_UNROLL for (int t = 0; t < NT; ++t) {
          const __m512 xv = _mm512_maskz_loadu_ps(mh, x + t * xs + i + 16 * half);
          DS_UNROLL for (int r = 0; r < NR; ++r) part[r][t] =
              _mm512_fmadd_ps(wv[r], xv, part[r][t]);
        }
      }
    }
    DS_UNROLL for (int r = 0; r < NR; ++r) {
      const __m512 s = _mm512_set1_ps(scales[r][b0 / block] * 256.0f);
      DS_UNROLL for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_fmadd_ps(part[r][t], s, acc[r][t]);
    }
  }
  DS_UNROLL for (int r = 0; r < NR; ++r) DS_UNROLL for (int t = 0; t < NT; ++t)
      y[r * kMaxRowTokens + t] = _mm512_reduce_add_ps(acc[r][t]);
}

using Fp8BlockFn = void (*)(const uint8_t*, int64_t, const float* const*, int64_t, const float*,
                            int64_t, int64_t, float*);
template <int NR>
constexpr Fp8BlockFn kFp8Row[4] = {dot_fp8_block<NR, 1>, dot_fp8_block<NR, 2>, dot_fp8_block<NR, 3>,
                                   dot_fp8_block<NR, 4>};
constexpr const Fp8BlockFn* kFp8Blocks[4] = {kFp8Row<1>, kFp8Row<2>, kFp8Row<3>, kFp8Row<4>};

}  // namespace

void dot_fp8_f32(const uint8_t* w, int64_t w_stride, int nr, const float* const* scales,
                 int64_t block, const float* x, int64_t x_stride, int nt, int64_t n, float* y) {
  kFp8Blocks[nr - 1][nt - 1](w, w_stride, scales, block, x, x_stride, n, y);
}

void dot_f32_rows(const float* w, int64_t w_stride, int nr, const float* x, int64_t x_stride,
                  int nt, int64_t n, float* y) {
  kBlocks<float>[nr - 1][nt - 1](w, w_stride, x, x_stride, n, y);
}

void dot_f16_f32(const uint16_t* w, int64_t w_stride, int nr, const float* x, int64_t x_stride,
                 int nt, int64_t n, float* y) {
  kBlocks<F16Bits>[nr - 1][nt - 1](reinterpret_cast<const F16Bits*>(w), w_stride, x, x_stride, n,
                                   y);
}

// A quantised weight row is at most a few KiB: looping tokens re-reads it from L1.
void vec_dot_q8_0_q8_0(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                       float* y) {
  for (int t = 0; t < nt; ++t)
    y[t] = dot_q8_0_pairs(
        static_cast<const BlockQ8_0*>(w),
        reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(a) + t * a_stride),
        n / kQK32);
}

void vec_dot_q5_0_q8_0(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                       float* y) {
  for (int t = 0; t < nt; ++t)
    y[t] = dot_q5_0_pairs(
        static_cast<const BlockQ5_0*>(w),
        reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(a) + t * a_stride),
        n / kQK32);
}

void vec_dot_iq4_nl_q8_0(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                         float* y) {
  for (int t = 0; t < nt; ++t)
    y[t] = dot_iq4_nl_pairs(
        static_cast<const BlockIQ4_NL*>(w),
        reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(a) + t * a_stride),
        n / kQK32);
}

// quantize_row_q8_K_ref's arithmetic on 16 lanes (the same products, rounded to nearest
// even as nearest_int does), storing each 16-element group where dot_q4_K reads it.
void quantize_act_q4_K(const float* x, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQKK; ++i, x += kQKK) {
    __m512 vmax = _mm512_setzero_ps();
    for (int c = 0; c < 16; ++c)
      vmax = _mm512_max_ps(vmax, _mm512_abs_ps(_mm512_loadu_ps(x + 16 * c)));
    const float amax = _mm512_reduce_max_ps(vmax);
    if (!(amax > 0)) {
      std::memset(&b[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    // The reference keeps the first element of largest magnitude (its sign sets the scale's).
    float max = amax;
    for (int c = 0; c < 16; ++c) {
      const __mmask16 m = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + 16 * c)),
                                             _mm512_set1_ps(amax), _CMP_EQ_OQ);
      if (m) {
        max = x[16 * c + __builtin_ctz(m)];
        break;
      }
    }
    const float iscale = -127.f / max;
    const __m512 vs = _mm512_set1_ps(iscale);
    for (int c = 0; c < 16; ++c) {
      const __m512i q =
          _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(vs, _mm512_loadu_ps(x + 16 * c))),
                           _mm512_set1_epi32(127));
      b[i].bsums[c] = int16_t(_mm512_reduce_add_epi32(q));
      // Element 16c is in 128-chunk c / 8, 32-group (c / 2) % 4, stored at slot 0, 2, 1, 3.
      const int g = (c / 2) % 4, slot = g == 1 ? 2 : g == 2 ? 1 : g;
      _mm_storeu_si128(
          reinterpret_cast<__m128i*>(b[i].qs + 128 * (c / 8) + 32 * slot + 16 * (c % 2)),
          _mm512_cvtepi32_epi8(q));
    }
    b[i].d = 1 / iscale;
  }
}

void vec_dot_q4_K_q8_K(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                       float* y) {
  k_rows<BlockQ4_K, Q4K>(w, a, a_stride, nt, n, y);
}

void vec_dot_q6_K_q8_K(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                       float* y) {
  k_rows<BlockQ6_K, Q6K>(w, a, a_stride, nt, n, y);
}

void vec_dot_q2_K_q8_K(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                       float* y) {
  k_rows<BlockQ2_K, Q2K>(w, a, a_stride, nt, n, y);
}

void vec_dot_q3_K_q8_K(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                       float* y) {
  k_rows<BlockQ3_K, Q3K>(w, a, a_stride, nt, n, y);
}

void vec_dot_iq4_xs_q8_K(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                         float* y) {
  k_rows<BlockIQ4_XS, IQ4XS>(w, a, a_stride, nt, n, y);
}

}  // namespace ds::avx512
