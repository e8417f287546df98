// Attention over a BF16 latent cache on the AMX tiles (CpuKernels::attend_bf16 of the amx
// table): TDPBF16PS multiplies 16 × 32 bf16 by 32 × 16 bf16 into 16 × 16 f32 sums, so one
// instruction does the work of 512 vector FMAs.
//
// Both products contract over pairs of adjacent bf16 values (the tile's K pairs):
//   scores: S[s][h] = Σ_i kv[s][i] · q[h][i]  — A = 16 cache rows as they are in memory
//           (pairs along i), B = the queries, rearranged once per call into pairs along i;
//   values: U[h][j] = Σ_s P[h][s] · kv[s][j]  — A = the probabilities of 16 heads,
//           B = 32 cache rows re-interleaved into pairs along s (two unpacks per 2 rows),
//           done inside the score loop, chunk by chunk as its tile loads bring the rows in:
//           there the vector units are idle while the cache streams from memory, and the
//           value products then read ready tiles (BM_AttnPass cold, 16 heads, 4,096
//           positions from memory: 490–508 µs, against 621 µs with the interleave in the
//           value loop and 626 µs with it as a loop of its own before each block's scores).
// Between them the scores, one row per position with the 16 heads in the lanes, get the
// softmax without any horizontal step, and a 16 × 16 transpose turns them into A tiles.
//
// The f32 operands (the scaled queries, the probabilities) are each split into three bf16
// pieces, hi + mid + lo, which together hold all 24 bits of an f32 significand; every tile
// product is exact and accumulates in f32. So the results are those of attn_scores_bf16,
// exp_shifted_sum and attn_values_bf16 up to the order of summation (tested to the same
// bounds), for three times the tile work: two pieces measured 7–13 % faster and miss those
// bounds (docs/PERFORMANCE.md, "AMX attention over a BF16 cache").
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <new>

#include "backend/cpu/amx_bf16.h"
#include "backend/cpu/amx_tiles.h"
#include "backend/cpu/avx512_math.h"
#include "backend/cpu/kernels.h"

namespace ds::amx {

namespace {

constexpr int64_t kPosTile = 256;  // positions per softmax tile (as kAttnTile in the model)
constexpr int64_t kBlocks = kPosTile / 32;
constexpr int kGroup = 16;  // heads per tile (B columns of the scores, A rows of the values)
constexpr int64_t kTileElems = 16 * 32;  // one 16 × 64-byte tile of bf16

// The B tiles of the scores for `g` heads (q rows of width w, zero rows beyond g):
// qt[(p·nk + k)·kTileElems + m·32 + 2h + e] = piece p of scale · q[h][32k + 2m + e].
void build_queries(const float* q, int g, int64_t w, float scale, uint16_t* qt) {
  const int64_t nk = w / 32;
  const __m512 sv = _mm512_set1_ps(scale);
  for (int64_t k = 0; k < nk; ++k) {
    __m512 rows[kParts][16];
    for (int h = 0; h < kGroup; ++h) {
      __m512 x0 = _mm512_setzero_ps(), x1 = _mm512_setzero_ps();
      if (h < g) {
        x0 = _mm512_mul_ps(_mm512_loadu_ps(q + h * w + 32 * k), sv);
        x1 = _mm512_mul_ps(_mm512_loadu_ps(q + h * w + 32 * k + 16), sv);
      }
      __m512i pieces[kParts];
      split3(x0, x1, pieces);
      for (int p = 0; p < kParts; ++p) rows[p][h] = _mm512_castsi512_ps(pieces[p]);
    }
    for (int p = 0; p < kParts; ++p) {
      transpose16(rows[p]);
      uint16_t* dst = qt + (p * nk + k) * kTileElems;
      for (int m = 0; m < 16; ++m) _mm512_storeu_ps(dst + 32 * m, rows[p][m]);
    }
  }
}

// The two B tiles of the values for 32-value chunk c of one block of 32 cache rows (row
// stride w; rows from `valid` on read as zero: the cache there is not written): pair row i
// holds rows 2i and 2i + 1 interleaved by value, the low four of each 8-value lane in
// dst[32i], the high four in dst[kTileElems + 32i].
inline void interleave_chunk(const uint16_t* rows, int64_t valid, int64_t w, int64_t c,
                             uint16_t* dst) {
  for (int i = 0; i < 16; ++i) {
    const uint16_t* ra = rows + 2 * i * w + 32 * c;
    const __m512i a = 2 * i < valid ? _mm512_loadu_si512(ra) : _mm512_setzero_si512();
    const __m512i b = 2 * i + 1 < valid ? _mm512_loadu_si512(ra + w) : _mm512_setzero_si512();
    _mm512_store_si512(dst + 32 * i, _mm512_unpacklo_epi16(a, b));
    _mm512_store_si512(dst + kTileElems + 32 * i, _mm512_unpackhi_epi16(a, b));
  }
}

// Scores of the positions [0, tl) of a tile into sc[s·16 + h] (rows up to the next multiple
// of 32 are written, those beyond tl with meaningless values). rows(b) gives the 32 cache
// rows of block b (row stride w); the blocks follow each other in memory (w cache lines
// each), so the one after next is prefetched as the steps go (32 lines per step). With vt,
// step k also lays out chunk k of the value tiles (r / 32 chunks) of each block: chunk c of
// block b at vt[(2c·kBlocks + 2b)·kTileElems] (values() reads them there).
template <typename Rows>
void scores(Rows rows, int64_t tl, int64_t w, int64_t r, const uint16_t* qt, float* sc,
            uint16_t* vt) {
  const int64_t nk = w / 32, stride = w * 2;
  for (int64_t b = 0; b * 32 < tl; ++b) {
    const uint16_t* a = rows(b);
    const int64_t valid = tl - 32 * b;
    // Two blocks ahead into L2, a share per step: at long contexts the cache streams from
    // memory, and a tile load that misses stalls the matrix unit (measured in the model:
    // 12% less time per call at 8K positions; block 2 ahead beat 1, 4 and 8).
    const char* pf = reinterpret_cast<const char*>(a) + 2 * 64 * w;
    _tile_zero(0);
    _tile_zero(1);
    for (int64_t k = 0; k < nk; ++k) {
      // Each operand is loaded just before its first use, so that the loads of step k + 1
      // wait only for the multiplies of step k that read the same registers.
      const uint16_t* qk = qt + k * kTileElems;
      for (int i = 0; i < 32; ++i) _mm_prefetch(pf + 64 * (32 * k + i), _MM_HINT_T1);
      _tile_loadd(2, a + 32 * k, stride);
      _tile_loadd(5, qk, 64);
      _tile_dpbf16ps(0, 2, 5);
      _tile_loadd(3, a + 16 * w + 32 * k, stride);
      _tile_dpbf16ps(1, 3, 5);
      _tile_loadd(6, qk + nk * kTileElems, 64);
      _tile_dpbf16ps(0, 2, 6);
      _tile_dpbf16ps(1, 3, 6);
      _tile_loadd(7, qk + 2 * nk * kTileElems, 64);
      _tile_dpbf16ps(0, 2, 7);
      _tile_dpbf16ps(1, 3, 7);
      // Chunk k of the value tiles, from the lines the tile loads above just brought in.
      if (vt && 32 * k < r)
        interleave_chunk(a, valid, w, k, vt + (2 * k * kBlocks + 2 * b) * kTileElems);
    }
    _tile_stored(0, sc + b * 32 * 16, 64);
    _tile_stored(1, sc + (b * 32 + 16) * 16, 64);
  }
}

// The online softmax over one tile's scores (rows s < tl of sc, 16 heads per row): the
// running maxima m and denominators sum of the 16 heads move to the tile, u (16 rows of r)
// is rescaled where a maximum grew, and sc becomes exp(score − max) (0 below −87, and in the
// rows from tl to the next multiple of 32).
void softmax(float* sc, int64_t tl, bool first, float* m, float* sum, float* u, int64_t r) {
  __m512 tmax = _mm512_set1_ps(-INFINITY);
  for (int64_t s = 0; s < tl; ++s) tmax = _mm512_max_ps(tmax, _mm512_loadu_ps(sc + 16 * s));
  __m512 mv = tmax, sv = _mm512_setzero_ps();
  if (!first) {
    mv = _mm512_loadu_ps(m);
    sv = _mm512_loadu_ps(sum);
    const __m512 m_new = _mm512_max_ps(mv, tmax);
    const __mmask16 grew = _mm512_cmp_ps_mask(m_new, mv, _CMP_GT_OQ);
    if (grew) {
      alignas(64) float old_m[16], new_m[16], corr[16];
      _mm512_store_ps(old_m, mv);
      _mm512_store_ps(new_m, m_new);
      for (int h = 0; h < 16; ++h) {
        corr[h] = 1.0f;
        if (!(grew >> h & 1)) continue;
        corr[h] = std::exp(old_m[h] - new_m[h]);
        const __m512 c = _mm512_set1_ps(corr[h]);
        for (int64_t j = 0; j < r; j += 16)
          _mm512_storeu_ps(u + h * r + j, _mm512_mul_ps(_mm512_loadu_ps(u + h * r + j), c));
      }
      sv = _mm512_mul_ps(sv, _mm512_load_ps(corr));
    }
    mv = m_new;
  }
  for (int64_t s = 0; s < tl; ++s) {
    const __m512 p = avx512_math::exp_or_zero(_mm512_sub_ps(_mm512_loadu_ps(sc + 16 * s), mv),
                                              __mmask16(0xffff));
    sv = _mm512_add_ps(sv, p);
    _mm512_storeu_ps(sc + 16 * s, p);
  }
  for (int64_t s = tl; s % 32; ++s) _mm512_storeu_ps(sc + 16 * s, _mm512_setzero_ps());
  _mm512_storeu_ps(m, mv);
  _mm512_storeu_ps(sum, sv);
}

// The A tiles of the values from the probabilities sc (rows up to a multiple of 32):
// ap[(p·kBlocks + b)·kTileElems + h·32 + i] = piece p of sc[(32b + i)·16 + h].
void prob_tiles(const float* sc, int64_t nblk, uint16_t* ap) {
  for (int64_t b = 0; b < nblk; ++b) {
    __m512 lo[16], hi[16];
    for (int i = 0; i < 16; ++i) {
      lo[i] = _mm512_loadu_ps(sc + (32 * b + i) * 16);
      hi[i] = _mm512_loadu_ps(sc + (32 * b + 16 + i) * 16);
    }
    transpose16(lo);
    transpose16(hi);
    for (int h = 0; h < 16; ++h) {
      __m512i pieces[kParts];
      split3(lo[h], hi[h], pieces);
      for (int p = 0; p < kParts; ++p)
        _mm512_storeu_si512(ap + (p * kBlocks + b) * kTileElems + h * 32, pieces[p]);
    }
  }
}

// u[h·r + …] += the probabilities ap of the blocks [0, nblk) times the B tiles vt that
// interleave() made of their cache rows, with the columns of each 32-value chunk c in the
// order the interleave leaves them: u[h·r + 32c + n] holds j = 32c + 8(n/4) + n%4 and
// u[h·r + 32c + 16 + n] holds j = 32c + 8(n/4) + 4 + n%4, for n < 16.
void values(const uint16_t* vt, int64_t nblk, int64_t r, const uint16_t* ap, float* u) {
  for (int64_t c = 0; c < r / 32; ++c) {
    const uint16_t* vc = vt + c * 2 * kBlocks * kTileElems;
    _tile_loadd(0, u + 32 * c, r * 4);
    _tile_loadd(1, u + 32 * c + 16, r * 4);
    for (int64_t b = 0; b < nblk; ++b) {
      _tile_loadd(5, vc + 2 * b * kTileElems, 64);
      _tile_loadd(6, vc + (2 * b + 1) * kTileElems, 64);
      _tile_loadd(2, ap + b * kTileElems, 64);
      _tile_loadd(3, ap + (kBlocks + b) * kTileElems, 64);
      _tile_loadd(4, ap + (2 * kBlocks + b) * kTileElems, 64);
      _tile_dpbf16ps(0, 2, 5);
      _tile_dpbf16ps(0, 3, 5);
      _tile_dpbf16ps(0, 4, 5);
      _tile_dpbf16ps(1, 2, 6);
      _tile_dpbf16ps(1, 3, 6);
      _tile_dpbf16ps(1, 4, 6);
    }
    _tile_stored(0, u + 32 * c, r * 4);
    _tile_stored(1, u + 32 * c + 16, r * 4);
  }
}

// One thread's scratch, every part 64-byte aligned: an unaligned tile row straddles two
// cache lines, which made tile loads about six times slower where measured.
class Scratch {
 public:
  uint16_t* qt;   // per head group: kParts × nk query tiles
  float* u;       // per head group: 16 × r, in values()' column order
  float* m;       // per head group: 16 running maxima
  float* sum;     // per head group: 16 denominators
  float* sc;      // kPosTile × 16 scores, then probabilities
  uint16_t* ap;   // kParts × kBlocks probability tiles
  uint16_t* pad;  // 32 rows of w: the rows of a partial block
  uint16_t* vt;   // the B tiles of the values: r / 32 chunks × kBlocks × 2

  void reserve(int64_t ng, int64_t w, int64_t r) {
    const size_t sizes[] = {size_t(ng * kParts * (w / 32) * kTileElems) * 2,
                            size_t(ng * kGroup * r) * 4,
                            size_t(ng * kGroup) * 4,
                            size_t(ng * kGroup) * 4,
                            size_t(kPosTile * kGroup) * 4,
                            size_t(kParts * kBlocks * kTileElems) * 2,
                            size_t(32 * w) * 2,
                            size_t((r / 32) * kBlocks * 2 * kTileElems) * 2};
    size_t total = 0;
    for (size_t b : sizes) total += (b + 63) / 64 * 64;
    if (total > bytes_) {
      mem_.reset(static_cast<uint8_t*>(std::aligned_alloc(64, total)));
      if (!mem_) throw std::bad_alloc();
      bytes_ = total;
    }
    uint8_t* p = mem_.get();
    void** parts[] = {reinterpret_cast<void**>(&qt),  reinterpret_cast<void**>(&u),
                      reinterpret_cast<void**>(&m),   reinterpret_cast<void**>(&sum),
                      reinterpret_cast<void**>(&sc),  reinterpret_cast<void**>(&ap),
                      reinterpret_cast<void**>(&pad), reinterpret_cast<void**>(&vt)};
    for (size_t i = 0; i < 8; ++i) {
      *parts[i] = p;
      p += (sizes[i] + 63) / 64 * 64;
    }
  }

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> mem_;
  size_t bytes_ = 0;
};

}  // namespace

void attend_bf16(const float* q, int64_t nh, const uint16_t* kv, int64_t w, int64_t r, int64_t len,
                 float scale, float* u, float* mx, float* sum) {
  thread_local Scratch t;
  const int64_t ng = (nh + kGroup - 1) / kGroup, nk = w / 32;
  t.reserve(ng, w, r);
  std::fill_n(t.u, ng * kGroup * r, 0.0f);
  use_full_tiles();  // tmm0, tmm1: f32 sums; tmm2–tmm4: A operands; tmm5–tmm7: B operands
  for (int64_t g = 0; g < ng; ++g)
    build_queries(q + g * kGroup * w, int(std::min<int64_t>(kGroup, nh - g * kGroup)), w, scale,
                  t.qt + g * kParts * nk * kTileElems);
  for (int64_t s0 = 0; s0 < len; s0 += kPosTile) {
    const int64_t tl = std::min(kPosTile, len - s0);
    const uint16_t* tile = kv + s0 * w;
    // A last block of fewer than 32 rows is read from a copy, not past the cache's end.
    const int64_t full = tl / 32;
    if (tl % 32) std::copy_n(tile + full * 32 * w, (tl % 32) * w, t.pad);
    auto rows = [&](int64_t b) { return b < full ? tile + b * 32 * w : t.pad; };
    for (int64_t g = 0; g < ng; ++g) {
      float* ug = t.u + g * kGroup * r;
      // The first group's pass lays out the value tiles for all groups.
      scores(rows, tl, w, r, t.qt + g * kParts * nk * kTileElems, t.sc, g == 0 ? t.vt : nullptr);
      softmax(t.sc, tl, s0 == 0, t.m + g * kGroup, t.sum + g * kGroup, ug, r);
      prob_tiles(t.sc, (tl + 31) / 32, t.ap);
      values(t.vt, (tl + 31) / 32, r, t.ap, ug);
    }
  }
  // Back to the natural column order (values()), head by head.
  const __m512i i0 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
  const __m512i i1 =
      _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
  for (int64_t h = 0; h < nh; ++h) {
    const float* src = t.u + h * r;  // groups are consecutive rows of 16
    for (int64_t c = 0; c < r; c += 32) {
      const __m512 lo = _mm512_loadu_ps(src + c), hi = _mm512_loadu_ps(src + c + 16);
      _mm512_storeu_ps(u + h * r + c, _mm512_permutex2var_ps(lo, i0, hi));
      _mm512_storeu_ps(u + h * r + c + 16, _mm512_permutex2var_ps(lo, i1, hi));
    }
    mx[h] = t.m[h];
    sum[h] = t.sum[h];
  }
}

}  // namespace ds::amx
