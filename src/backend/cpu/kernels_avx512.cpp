// AVX-512 (F/BW/VL/DQ) kernels. Compiled with AVX-512 flags; reached only through dispatch.
#include <immintrin.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "backend/cpu/avx512_math.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/row_dot.h"
#include "core/dtype.h"
#include "quant/blocks.h"

namespace ds {

namespace {

using avx512_math::exp512;
using avx512_math::tail_mask;

float dot_f32(const float* a, const float* b, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  acc0 = _mm512_add_ps(acc0, acc1);
  if (i < n) {
    for (; i + 16 <= n; i += 16)
      acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    if (i < n) {
      const __mmask16 m = __mmask16((1u << (n - i)) - 1);
      acc0 =
          _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc0);
    }
  }
  return _mm512_reduce_add_ps(acc0);
}

void axpy_f32(float a, const float* x, float* y, int64_t n) {
  const __m512 va = _mm512_set1_ps(a);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
  if (i < n) {
    const __mmask16 m = __mmask16((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(
        y + i, m,
        _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
  }
}

void q8_0_to_f32(const void* src, float* dst, int64_t nblocks) {
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t k = 0; k < nblocks; ++k) {
    const __m512 d = _mm512_set1_ps(_cvtsh_ss(b[k].d));
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[k].qs));
    _mm512_storeu_ps(
        dst + 32 * k,
        _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q)))));
    _mm512_storeu_ps(
        dst + 32 * k + 16,
        _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1)))));
  }
}

void bf16_to_f32_row(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512i v =
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i)));
    _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
  }
  for (; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

void f16_to_f32_row(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(
        dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))));
  for (; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

void fp8_to_f32_row(const uint8_t* src, float* dst, int64_t n, const float* scales, int64_t block) {
  for (int64_t b0 = 0; b0 < n; b0 += block) {
    const int64_t b1 = b0 + block < n ? b0 + block : n;
    const __m512 s = _mm512_set1_ps(scales[b0 / block]);
    int64_t i = b0;
    for (; i + 16 <= b1; i += 16) {
      // Same bit trick as the AVX2 kernel: exact for normals and subnormals.
      __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
      __m512i sign = _mm512_slli_epi32(_mm512_and_si512(v, _mm512_set1_epi32(0x80)), 24);
      __m512i low = _mm512_and_si512(v, _mm512_set1_epi32(0x7f));
      __m512 f =
          _mm512_mul_ps(_mm512_castsi512_ps(_mm512_slli_epi32(low, 20)), _mm512_set1_ps(0x1p120f));
      f = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(f), sign));
      const __mmask16 nan = _mm512_cmpeq_epi32_mask(low, _mm512_set1_epi32(0x7f));
      f = _mm512_mask_mov_ps(f, nan, _mm512_set1_ps(__builtin_nanf("")));
      _mm512_storeu_ps(dst + i, _mm512_mul_ps(f, s));
    }
    for (; i < b1; ++i) dst[i] = fp8_e4m3_to_f32(src[i]) * scales[b0 / block];
  }
}

double fma_loop(int64_t iters) {
  // 12 independent accumulators cover FMA latency × two FMA ports.
  __m512 acc[12];
  DS_UNROLL for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(float(i) * 1e-3f);
  const __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-4f);
  for (int64_t it = 0; it < iters; ++it)
    DS_UNROLL for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, c);
  __m512 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
  volatile float sink = _mm512_reduce_add_ps(s);
  (void)sink;
  return double(iters) * 12 * 16 * 2;
}

double int8_loop(int64_t iters) {
  // vpdpbusd: 64 u8 × s8 multiply-adds per instruction; 12 chains cover its latency.
  __m512i acc[12];
  DS_UNROLL for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_epi32(i);
  const __m512i w = _mm512_set1_epi8(3), x = _mm512_set1_epi8(-2);
  for (int64_t it = 0; it < iters; ++it)
    DS_UNROLL for (int i = 0; i < 12; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], w, x);
  __m512i s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_epi32(s, acc[i]);
  volatile int sink = _mm512_reduce_add_epi32(s);
  (void)sink;
  return double(iters) * 12 * 64 * 2;
}

// ---- Scores: blocks of 16 (head, position) dot products --------------------------------
// G query rows against S cache rows (G·S = 16: 8 × 2, 4 × 4, 2 × 8 or 1 × 16) in 16
// accumulators; each cache load feeds G FMAs and each query load S. The 16 sums are then
// reduced together by one transpose-and-add tree (sum16: 45 operations where 16 horizontal
// reductions took about 130; with a 576-wide cache row the reductions were a fifth of the
// work). Every score is the same FMA sequence and the same tree of additions whatever G, S and
// its place in the block, so it does not depend on how heads and positions were grouped.

// v[i]'s 16 lanes summed into lane i of the result, by the same additions for every i:
// (lanes 0 + 2, 1 + 3 of each 128-bit chunk), then their sum, then the chunks as (0 + 1) +
// (2 + 3).
[[gnu::always_inline]] inline __m512 sum16(const __m512 v[16]) {
  __m512 t1[8], t2[4];
  DS_UNROLL for (int i = 0; i < 8; ++i) t1[i] = _mm512_add_ps(
      _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  // Per 128-bit chunk: [a0+a2, b0+b2, a1+a3, b1+b3] of the pair (a, b).
  DS_UNROLL for (int j = 0; j < 4; ++j) t2[j] =
      _mm512_add_ps(_mm512_shuffle_ps(t1[2 * j], t1[2 * j + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                    _mm512_shuffle_ps(t1[2 * j], t1[2 * j + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  // t2[j], chunk c: the sums of chunk c of v[4j … 4j + 3]; now across the chunks.
  const __m512 s01 = _mm512_add_ps(_mm512_shuffle_f32x4(t2[0], t2[1], 0x88),
                                   _mm512_shuffle_f32x4(t2[0], t2[1], 0xdd));
  const __m512 s23 = _mm512_add_ps(_mm512_shuffle_f32x4(t2[2], t2[3], 0x88),
                                   _mm512_shuffle_f32x4(t2[2], t2[3], 0xdd));
  return _mm512_add_ps(_mm512_shuffle_f32x4(s01, s23, 0x88), _mm512_shuffle_f32x4(s01, s23, 0xdd));
}

// Lane g·S + s of r → out[g·os + s] for s < valid.
template <int G, int S>
[[gnu::always_inline]] inline void store_scores(__m512 r, int valid, float* out, int64_t os) {
  const unsigned first = (1u << valid) - 1;
  DS_UNROLL for (int g = 0; g < G; ++g)
      _mm512_mask_compressstoreu_ps(out + g * os, __mmask16(first << (g * S)), r);
}

// f32 cache: k[s] the S rows (positions past `valid` repeat a valid row; their scores are
// not stored).
template <int G, int S>
void scores16(const float* q, int64_t qs, const float* const k[S], int64_t w, float scale,
              int valid, float* out, int64_t os) {
  static_assert(G * S == 16);
  __m512 acc[16];
  DS_UNROLL for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_ps();
  for (int64_t i = 0; i < w; i += 16) {
    const __mmask16 m = tail_mask(w - i);
    __m512 kv_v[S];
    DS_UNROLL for (int s = 0; s < S; ++s) kv_v[s] = _mm512_maskz_loadu_ps(m, k[s] + i);
    DS_UNROLL for (int g = 0; g < G; ++g) {
      const __m512 qv = _mm512_maskz_loadu_ps(m, q + g * qs + i);
      DS_UNROLL for (int s = 0; s < S; ++s) acc[g * S + s] =
          _mm512_fmadd_ps(qv, kv_v[s], acc[g * S + s]);
    }
  }
  store_scores<G, S>(_mm512_mul_ps(sum16(acc), _mm512_set1_ps(scale)), valid, out, os);
}

// The head groups of a scores call: 16 heads at a time, then 8, 4, 2, 1 (f(h, G) for each).
template <typename F>
inline void for_score_groups(int64_t nh, F&& f) {
  int64_t h = 0;
  for (; h + 16 <= nh; h += 16) f(h, std::integral_constant<int, 16>{});
  if (h + 8 <= nh) f(h, std::integral_constant<int, 8>{}), h += 8;
  if (h + 4 <= nh) f(h, std::integral_constant<int, 4>{}), h += 4;
  if (h + 2 <= nh) f(h, std::integral_constant<int, 2>{}), h += 2;
  if (h < nh) f(h, std::integral_constant<int, 1>{});
}

// The positions of one head group, S at a time: Block(rows, valid, s0) for each block.
template <int S, typename Row, typename Block>
inline void for_position_blocks(int64_t len, Row row, Block&& block) {
  for (int64_t s0 = 0; s0 < len; s0 += S) {
    const int valid = int(std::min<int64_t>(S, len - s0));
    decltype(row(0)) rows[S];
    DS_UNROLL for (int s = 0; s < S; ++s) rows[s] = row(s0 + std::min(s, valid - 1));
    block(rows, valid, s0);
  }
}

void attn_scores(const float* q, int64_t qs, int64_t nh, const float* kv, int64_t ks, int64_t len,
                 int64_t w, float scale, float* out, int64_t os) {
  for_score_groups(nh, [&](int64_t h, auto g) {
    constexpr int G = decltype(g)::value, S = 16 / G;
    for_position_blocks<S>(
        len, [&](int64_t s) { return kv + s * ks; },
        [&](const float* const* rows, int valid, int64_t s0) {
          scores16<G, S>(q + h * qs, qs, rows, w, scale, valid, out + h * os + s0, os);
        });
  });
}

// G heads × C vectors of 16 columns (the last one masked) of u, accumulated over the positions.
template <int G, int C>
void values_block(const float* p, int64_t ps, const float* kv, int64_t ks, int64_t len,
                  __mmask16 last, float* u, int64_t us) {
  __m512 acc[G][C];
  DS_UNROLL for (int g = 0; g < G; ++g) DS_UNROLL for (int c = 0; c < C; ++c) acc[g][c] =
      _mm512_setzero_ps();
  for (int64_t s = 0; s < len; ++s) {
    __m512 kv_v[C];
    DS_UNROLL for (int c = 0; c < C; ++c) kv_v[c] =
        _mm512_maskz_loadu_ps(c == C - 1 ? last : __mmask16(0xffff), kv + s * ks + 16 * c);
    DS_UNROLL for (int g = 0; g < G; ++g) {
      const __m512 pb = _mm512_set1_ps(p[g * ps + s]);
      DS_UNROLL for (int c = 0; c < C; ++c) acc[g][c] = _mm512_fmadd_ps(pb, kv_v[c], acc[g][c]);
    }
  }
  DS_UNROLL for (int g = 0; g < G; ++g) DS_UNROLL for (int c = 0; c < C; ++c) {
    const __mmask16 m = c == C - 1 ? last : __mmask16(0xffff);
    float* dst = u + g * us + 16 * c;
    _mm512_mask_storeu_ps(dst, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, dst), acc[g][c]));
  }
}

template <int G>
void values_group(const float* p, int64_t ps, const float* kv, int64_t ks, int64_t len, int64_t r,
                  float* u, int64_t us) {
  for (int64_t j = 0; j < r; j += 64) {
    const int64_t left = r - j;
    const int c = left >= 64 ? 4 : int((left + 15) / 16);
    const __mmask16 last = tail_mask(left - 16 * (c - 1));
    switch (c) {
      case 4:
        values_block<G, 4>(p, ps, kv + j, ks, len, last, u + j, us);
        break;
      case 3:
        values_block<G, 3>(p, ps, kv + j, ks, len, last, u + j, us);
        break;
      case 2:
        values_block<G, 2>(p, ps, kv + j, ks, len, last, u + j, us);
        break;
      default:
        values_block<G, 1>(p, ps, kv + j, ks, len, last, u + j, us);
        break;
    }
  }
}

void attn_values(const float* p, int64_t ps, int64_t nh, const float* kv, int64_t ks, int64_t len,
                 int64_t r, float* u, int64_t us) {
  for_head_groups(nh, [&](int64_t h, auto g) {
    values_group<decltype(g)::value>(p + h * ps, ps, kv, ks, len, r, u + h * us, us);
  });
}

// ---- A BF16 cache ------------------------------------------------------------------------
// A 512-bit load of 32 bf16 values becomes two f32 vectors with one instruction each: the
// low halves of the 32-bit lanes shifted up (elements 0, 2, …, 30) and the high halves
// masked (elements 1, 3, …, 31). The kernels work in that even/odd order: the scores kernel
// de-interleaves the query once per call, the values kernel re-interleaves its sums when it
// stores them. (cvtepu16 + shift would cost two instructions per 16 values.)

inline __mmask32 tail_mask32(int64_t left) {
  return left >= 32 ? __mmask32(0xffffffffu) : __mmask32((1u << left) - 1);
}
inline __mmask16 tail_mask16(int64_t left) {
  return left <= 0 ? __mmask16(0) : tail_mask(left);
}
inline __m512 bf16_even(__m512i v) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}
inline __m512 bf16_odd(__m512i v) {
  return _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32(int(0xffff0000u))));
}

// G query rows (de-interleaved, [G, wp]) against S cache rows (bf16; see scores16).
template <int G, int S>
void scores16_bf16(const float* qp, int64_t wp, const uint16_t* const k[S], int64_t w, float scale,
                   int valid, float* out, int64_t os) {
  static_assert(G * S == 16);
  __m512 acc[16];
  DS_UNROLL for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_ps();
  for (int64_t i = 0; i < w; i += 32) {
    const __mmask32 m = tail_mask32(w - i);
    __m512 ke[S], ko[S];
    DS_UNROLL for (int s = 0; s < S; ++s) {
      const __m512i v = _mm512_maskz_loadu_epi16(m, k[s] + i);
      ke[s] = bf16_even(v);
      ko[s] = bf16_odd(v);
    }
    DS_UNROLL for (int g = 0; g < G; ++g) {
      const __m512 qe = _mm512_loadu_ps(qp + g * wp + i);
      const __m512 qo = _mm512_loadu_ps(qp + g * wp + i + 16);
      DS_UNROLL for (int s = 0; s < S; ++s) {
        acc[g * S + s] = _mm512_fmadd_ps(qe, ke[s], acc[g * S + s]);
        acc[g * S + s] = _mm512_fmadd_ps(qo, ko[s], acc[g * S + s]);
      }
    }
  }
  store_scores<G, S>(_mm512_mul_ps(sum16(acc), _mm512_set1_ps(scale)), valid, out, os);
}

void attn_scores_bf16(const float* q, int64_t qs, int64_t nh, const uint16_t* kv, int64_t ks,
                      int64_t len, int64_t w, float scale, float* out, int64_t os) {
  // The query rows in the even/odd order of each 32-value chunk, zero beyond w.
  const int64_t wp = (w + 31) / 32 * 32;
  thread_local std::vector<float> qp;
  if (qp.size() < size_t(nh * wp)) qp.resize(size_t(nh * wp));
  const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  for (int64_t h = 0; h < nh; ++h)
    for (int64_t i = 0; i < wp; i += 32) {
      const float* src = q + h * qs + i;
      const __m512 a = _mm512_maskz_loadu_ps(tail_mask16(w - i), src);
      const __m512 b = _mm512_maskz_loadu_ps(tail_mask16(w - i - 16), src + 16);
      _mm512_storeu_ps(qp.data() + h * wp + i, _mm512_permutex2var_ps(a, ie, b));
      _mm512_storeu_ps(qp.data() + h * wp + i + 16, _mm512_permutex2var_ps(a, io, b));
    }
  for_score_groups(nh, [&](int64_t h, auto g) {
    constexpr int G = decltype(g)::value, S = 16 / G;
    for_position_blocks<S>(
        len, [&](int64_t s) { return kv + s * ks; },
        [&](const uint16_t* const* rows, int valid, int64_t s0) {
          scores16_bf16<G, S>(qp.data() + h * wp, wp, rows, w, scale, valid, out + h * os + s0, os);
        });
  });
}

// G heads × C chunks of 32 columns of u (`left` columns remain from here), accumulated over
// the positions in even/odd order and re-interleaved once at the end.
template <int G, int C>
void values_block_bf16(const float* p, int64_t ps, const uint16_t* kv, int64_t ks, int64_t len,
                       int64_t left, float* u, int64_t us) {
  __m512 ae[G][C], ao[G][C];
  __mmask32 m[C];
  DS_UNROLL for (int c = 0; c < C; ++c) m[c] = tail_mask32(left - 32 * c);
  DS_UNROLL for (int g = 0; g < G; ++g) DS_UNROLL for (int c = 0; c < C; ++c) {
    ae[g][c] = _mm512_setzero_ps();
    ao[g][c] = _mm512_setzero_ps();
  }
  for (int64_t s = 0; s < len; ++s) {
    __m512 ke[C], ko[C];
    DS_UNROLL for (int c = 0; c < C; ++c) {
      const __m512i v = _mm512_maskz_loadu_epi16(m[c], kv + s * ks + 32 * c);
      ke[c] = bf16_even(v);
      ko[c] = bf16_odd(v);
    }
    DS_UNROLL for (int g = 0; g < G; ++g) {
      const __m512 pb = _mm512_set1_ps(p[g * ps + s]);
      DS_UNROLL for (int c = 0; c < C; ++c) {
        ae[g][c] = _mm512_fmadd_ps(pb, ke[c], ae[g][c]);
        ao[g][c] = _mm512_fmadd_ps(pb, ko[c], ao[g][c]);
      }
    }
  }
  const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i ih =
      _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  DS_UNROLL for (int g = 0; g < G; ++g) DS_UNROLL for (int c = 0; c < C; ++c) {
    float* dst = u + g * us + 32 * c;
    const __mmask16 m0 = tail_mask16(left - 32 * c), m1 = tail_mask16(left - 32 * c - 16);
    const __m512 lo = _mm512_permutex2var_ps(ae[g][c], il, ao[g][c]);
    const __m512 hi = _mm512_permutex2var_ps(ae[g][c], ih, ao[g][c]);
    _mm512_mask_storeu_ps(dst, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, dst), lo));
    _mm512_mask_storeu_ps(dst + 16, m1, _mm512_add_ps(_mm512_maskz_loadu_ps(m1, dst + 16), hi));
  }
}

template <int G>
void values_group_bf16(const float* p, int64_t ps, const uint16_t* kv, int64_t ks, int64_t len,
                       int64_t r, float* u, int64_t us) {
  // 8 heads × 32 columns, or up to 4 heads × 64 columns: 16 accumulators, and each cache
  // load (two widenings) feeds 8 heads where there are 8.
  constexpr int C = G >= 8 ? 1 : 2;
  for (int64_t j = 0; j < r; j += 32 * C) {
    if (C == 2 && r - j > 32)
      values_block_bf16<G, C>(p, ps, kv + j, ks, len, r - j, u + j, us);
    else
      values_block_bf16<G, 1>(p, ps, kv + j, ks, len, r - j, u + j, us);
  }
}

void attn_values_bf16(const float* p, int64_t ps, int64_t nh, const uint16_t* kv, int64_t ks,
                      int64_t len, int64_t r, float* u, int64_t us) {
  int64_t h = 0;
  for (; h + 8 <= nh; h += 8) values_group_bf16<8>(p + h * ps, ps, kv, ks, len, r, u + h * us, us);
  for_head_groups(nh - h, [&](int64_t h4, auto g) {
    values_group_bf16<decltype(g)::value>(p + (h + h4) * ps, ps, kv, ks, len, r, u + (h + h4) * us,
                                          us);
  });
}

float exp_shifted_sum(float* x, int64_t n, float m) {
  const __m512 mv = _mm512_set1_ps(m), lo = _mm512_set1_ps(-87.0f);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 t = tail_mask(n - i);
    const __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(t, x + i), mv);
    const __mmask16 keep = _mm512_mask_cmp_ps_mask(t, d, lo, _CMP_GE_OQ);
    const __m512 e = _mm512_maskz_mov_ps(keep, exp512(_mm512_max_ps(d, lo)));
    _mm512_mask_storeu_ps(x + i, t, e);
    sum = _mm512_add_ps(sum, e);
  }
  return _mm512_reduce_add_ps(sum);
}

void silu_mul(float* gate, const float* up, int64_t n) {
  // exp(−g) clamped to exp(88) keeps 1 + e finite; g / 1.6e38 is then 0 to f32 precision.
  const __m512 one = _mm512_set1_ps(1.0f), hi = _mm512_set1_ps(88.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 t = tail_mask(n - i);
    const __m512 g = _mm512_maskz_loadu_ps(t, gate + i);
    const __m512 e = exp512(_mm512_min_ps(_mm512_sub_ps(_mm512_setzero_ps(), g), hi));
    const __m512 y =
        _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)), _mm512_maskz_loadu_ps(t, up + i));
    _mm512_mask_storeu_ps(gate + i, t, y);
  }
}

}  // namespace

const CpuKernels& kernels_avx512() {
  static const CpuKernels k{Isa::kAvx512,
                            "avx512",
                            dot_f32,
                            axpy_f32,
                            bf16_to_f32_row,
                            f16_to_f32_row,
                            fp8_to_f32_row,
                            fma_loop,
                            avx512::dot_bf16_f32,
                            avx512::dot_f32_rows,
                            avx512::vec_dot_q8_0_q8_0,
                            avx512::vec_dot_q5_0_q8_0,
                            avx512::vec_dot_q4_K_q8_K,
                            avx512::vec_dot_q6_K_q8_K,
                            avx512::quantize_act_q4_K,
                            true,
                            avx512::gemm_tile,
                            255,
                            nullptr,
                            avx512::gemm_tile_unpack,
                            16,
                            nullptr,
                            avx512::quantize_act_tile,
                            int8_loop,
                            attn_scores,
                            attn_values,
                            exp_shifted_sum,
                            silu_mul,
                            attn_scores_bf16,
                            attn_values_bf16,
                            nullptr,
                            avx512::dot_f16_f32,
                            avx512::dot_fp8_f32,
                            q8_0_to_f32,
                            nullptr,
                            nullptr,
                            nullptr,
                            nullptr,
                            avx512::vec_dot_q2_K_q8_K,
                            avx512::vec_dot_q3_K_q8_K,
                            avx512::vec_dot_iq4_xs_q8_K,
                            avx512::vec_dot_iq4_nl_q8_0};
  return k;
}

}  // namespace ds
