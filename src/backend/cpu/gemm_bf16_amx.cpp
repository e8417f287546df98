// BF16 weights × f32 activations on the AMX-BF16 tiles, for prompts (CpuKernels::
// gemm_bf16_rows of the amx table on CPUs with AMX-BF16).
//
// TDPBF16PS multiplies an A tile of 16 rows × 32 bf16 by a B tile of 16 pairs × 16 columns
// into 16 × 16 f32 sums: A = 16 tokens' activations over 32 columns of the matrix, B = the same
// 32 columns of 16 weight rows, each adjacent pair of a row's values side by side (a 16 × 16
// transpose of the rows read as 32-bit pairs). The activations are split into three bf16
// pieces (hi + mid + lo, all 24 bits of an f32 significand, as attn_amx.cpp does with the
// queries), so every product is exact and accumulates in f32: the results are those of the
// f32 path on the same weights up to the order of summation (and the tiles' flushing of
// subnormal bf16 values, below 1e-38, to zero).
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "backend/cpu/amx_bf16.h"
#include "backend/cpu/amx_tiles.h"
#include "backend/cpu/kernels.h"

namespace ds::amx {

namespace {

constexpr int64_t kTileElems = 16 * 32;  // one 16 × 64-byte tile of bf16

// 64-byte aligned per-thread scratch for the packed weight tiles.
uint16_t* packed_scratch(size_t elems) {
  thread_local std::vector<uint16_t> buf;
  if (buf.size() < elems + 32) buf.resize(elems + 32);
  const auto p = reinterpret_cast<uintptr_t>(buf.data());
  return buf.data() + ((64 - p % 64) % 64) / 2;
}

// The B tiles of `nr` ≤ 16 weight rows (zero rows beyond), one per 32 columns:
// bp[b·kTileElems + k·32 + 2j + e] = w[j][32b + 2k + e].
void pack_rows(const uint16_t* w, int64_t ws, int nr, int64_t nblk, uint16_t* bp) {
  for (int64_t b = 0; b < nblk; ++b) {
    __m512 r[16];
    for (int j = 0; j < 16; ++j)
      r[j] = j < nr ? _mm512_loadu_ps(reinterpret_cast<const float*>(w + j * ws + 32 * b))
                    : _mm512_setzero_ps();
    transpose16(r);  // r[k]: pair k of every row, row j in lane j
    for (int k = 0; k < 16; ++k)
      _mm512_store_ps(reinterpret_cast<float*>(bp + b * kTileElems + k * 32), r[k]);
  }
}

// The B tiles of `nr` ≤ 16 rows of FP8 e4m3 bytes (row stride ws bytes), widened exactly to
// bf16 without their scales: an e4m3 value has at most 4 significant bits and an exponent
// within bf16's normal range, so the f32 of fp8_to_f32's bit trick converts without rounding.
void pack_fp8_rows(const uint8_t* w, int64_t ws, int nr, int64_t nblk, uint16_t* bp) {
  const __m512 two120 = _mm512_set1_ps(0x1p120f);
  auto widen16 = [&](__m128i bytes) {
    const __m512i v = _mm512_cvtepu8_epi32(bytes);
    const __m512i low = _mm512_and_si512(v, _mm512_set1_epi32(0x7f));
    const __m512 f = _mm512_mul_ps(_mm512_castsi512_ps(_mm512_slli_epi32(low, 20)), two120);
    const __m512i sign = _mm512_slli_epi32(_mm512_and_si512(v, _mm512_set1_epi32(0x80)), 24);
    const __m512 g = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(f), sign));
    return _mm512_mask_mov_ps(g, _mm512_cmpeq_epi32_mask(low, _mm512_set1_epi32(0x7f)),
                              _mm512_set1_ps(__builtin_nanf("")));
  };
  for (int64_t b = 0; b < nblk; ++b) {
    __m512 r[16];
    for (int j = 0; j < 16; ++j) {
      if (j >= nr) {
        r[j] = _mm512_setzero_ps();
        continue;
      }
      const uint8_t* p = w + j * ws + 32 * b;
      const __m512 lo = widen16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      const __m512 hi = widen16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)));
      r[j] = _mm512_castsi512_ps(reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo)));
    }
    transpose16(r);
    for (int k = 0; k < 16; ++k)
      _mm512_store_ps(reinterpret_cast<float*>(bp + b * kTileElems + k * 32), r[k]);
  }
}

}  // namespace

void split_act_bf16(const float* x, int64_t cols, int64_t t, uint16_t* act) {
  const int64_t nblk = cols / 32, g = t / 16, m = t % 16;
  for (int64_t b = 0; b < nblk; ++b) {
    __m512i pieces[kParts];
    split3(_mm512_loadu_ps(x + 32 * b), _mm512_loadu_ps(x + 32 * b + 16), pieces);
    for (int p = 0; p < kParts; ++p)
      _mm512_storeu_si512(act + ((g * nblk + b) * kParts + p) * kTileElems + m * 32, pieces[p]);
  }
}

void clear_act_bf16(int64_t cols, int64_t n, uint16_t* act) {
  const int64_t nblk = cols / 32, g = n / 16;
  for (int64_t m = n % 16; m > 0 && m < 16; ++m)
    for (int64_t b = 0; b < nblk; ++b)
      for (int p = 0; p < kParts; ++p)
        std::memset(act + ((g * nblk + b) * kParts + p) * kTileElems + m * 32, 0, 64);
}

namespace {

// The multiply shared by both weight formats, on weights packed into B tiles (bp, nblk
// blocks of 32 columns): up to four groups of 16 tokens per pass over them, tmm0–3 holding
// their sums, tmm4 the weight tile, tmm5–7 the three pieces of one group's activations.
// With `scales` (FP8), each run of `per_scale` blocks is summed on the tiles unscaled and
// then added to f32 sums times its scale, one per row (lane j: row j); without, the tile
// sums are the results. `next` (null: none): the next call's 16 rows (row stride `wsb`
// bytes, `bb` bytes per block of 32 columns), prefetched into L2 meanwhile.
void multiply_packed(const uint16_t* bp, int64_t nblk, int64_t per_scale,
                     const float* const* scales, int nr, const uint16_t* act, int64_t n, float* y,
                     int64_t ys, const uint8_t* next, int64_t wsb, int64_t bb) {
  const int64_t ngroups = (n + 15) / 16;
  alignas(64) float out[4][16 * 16];
  const __mmask16 keep = __mmask16((1u << nr) - 1);
#define DS_AMX_GROUP(C, h)                                                   \
  do {                                                                       \
    const uint16_t* a_ = act + ((g + (h)) * nblk + b) * kParts * kTileElems; \
    _tile_loadd(5, a_, 64);                                                  \
    _tile_loadd(6, a_ + kTileElems, 64);                                     \
    _tile_loadd(7, a_ + 2 * kTileElems, 64);                                 \
    _tile_dpbf16ps(C, 5, 4);                                                 \
    _tile_dpbf16ps(C, 6, 4);                                                 \
    _tile_dpbf16ps(C, 7, 4);                                                 \
  } while (0)
  for (int64_t g = 0; g < ngroups; g += 4) {
    const int64_t ng = std::min<int64_t>(4, ngroups - g);
    __m512 acc[4][16];
    if (scales)
      for (auto& a : acc)
        for (auto& v : a) v = _mm512_setzero_ps();
    for (int64_t sb = 0; sb * per_scale < nblk; ++sb) {
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (int64_t b = sb * per_scale; b < std::min(nblk, (sb + 1) * per_scale); ++b) {
        if (g == 0 && next)
          for (int j = 0; j < 16; ++j)
            _mm_prefetch(reinterpret_cast<const char*>(next + j * wsb + bb * b), _MM_HINT_T1);
        _tile_loadd(4, bp + b * kTileElems, 64);
        DS_AMX_GROUP(0, 0);
        if (ng > 1) DS_AMX_GROUP(1, 1);
        if (ng > 2) DS_AMX_GROUP(2, 2);
        if (ng > 3) DS_AMX_GROUP(3, 3);
      }
      _tile_stored(0, out[0], 64);
      if (ng > 1) _tile_stored(1, out[1], 64);
      if (ng > 2) _tile_stored(2, out[2], 64);
      if (ng > 3) _tile_stored(3, out[3], 64);
      if (!scales) break;  // one run of all the blocks
      alignas(64) float sv[16] = {};
      for (int j = 0; j < nr; ++j) sv[j] = scales[j][sb];
      const __m512 s = _mm512_load_ps(sv);
      for (int64_t h = 0; h < ng; ++h)
        for (int m = 0; m < 16; ++m)
          acc[h][m] = _mm512_fmadd_ps(_mm512_load_ps(out[h] + m * 16), s, acc[h][m]);
    }
    for (int64_t h = 0; h < ng; ++h) {
      const int64_t t0 = (g + h) * 16, mt = std::min<int64_t>(16, n - t0);
      for (int64_t m = 0; m < mt; ++m) {
        if (scales)
          _mm512_mask_storeu_ps(y + (t0 + m) * ys, keep, acc[h][m]);
        else
          std::copy_n(out[h] + m * 16, nr, y + (t0 + m) * ys);
      }
    }
  }
#undef DS_AMX_GROUP
}

}  // namespace

void gemm_fp8_rows(const uint8_t* w, int64_t ws, int nr, const float* const* scales, int64_t block,
                   const uint16_t* act, int64_t n, int64_t cols, float* y, int64_t ys,
                   const uint8_t* next) {
  use_full_tiles();
  const int64_t nblk = cols / 32;
  uint16_t* bp = packed_scratch(size_t(nblk * kTileElems));
  pack_fp8_rows(w, ws, nr, nblk, bp);
  multiply_packed(bp, nblk, block / 32, scales, nr, act, n, y, ys, next, ws, 32);
}

void gemm_bf16_rows(const uint16_t* w, int64_t ws, int nr, const uint16_t* act, int64_t n,
                    int64_t cols, float* y, int64_t ys, const uint16_t* next) {
  use_full_tiles();
  const int64_t nblk = cols / 32;
  uint16_t* bp = packed_scratch(size_t(nblk * kTileElems));
  pack_rows(w, ws, nr, nblk, bp);
  multiply_packed(bp, nblk, nblk, nullptr, nr, act, n, y, ys,
                  reinterpret_cast<const uint8_t*>(next), 2 * ws, 64);
}

}  // namespace ds::amx
