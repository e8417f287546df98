// AVX2 + FMA + F16C kernels. Compiled with -mavx2 -mfma -mf16c; reached only through dispatch.
#include <immintrin.h>

#include <cmath>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/row_dot.h"
#include "core/dtype.h"
#include "quant/quant.h"

namespace ds {

namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

float dot_f32(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8)
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  float s = hsum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy_f32(float a, const float* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

void bf16_to_f32_row(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
    _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
  }
  for (; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

void q8_0_to_f32(const void* src, float* dst, int64_t nblocks) {
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t k = 0; k < nblocks; ++k) {
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(b[k].d));
    for (int i = 0; i < 32; i += 8) {
      const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b[k].qs + i));
      _mm256_storeu_ps(dst + 32 * k + i,
                       _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))));
    }
  }
}

void f16_to_f32_row(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i,
                     _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  for (; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

void fp8_to_f32_row(const uint8_t* src, float* dst, int64_t n, const float* scales, int64_t block) {
  for (int64_t b0 = 0; b0 < n; b0 += block) {
    const int64_t b1 = b0 + block < n ? b0 + block : n;
    const __m256 s = _mm256_set1_ps(scales[b0 / block]);
    int64_t i = b0;
    for (; i + 8 <= b1; i += 8) {
      // e4m3 → f32 by bit manipulation: place sign, shift exponent+mantissa into f32
      // position and rebias by 2^(127-7); subnormals come out exact the same way.
      __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(src + i)));
      __m256i sign = _mm256_slli_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0x80)), 24);
      __m256i mag = _mm256_slli_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0x7f)), 20);
      __m256 f = _mm256_mul_ps(_mm256_castsi256_ps(mag), _mm256_set1_ps(0x1p120f));
      f = _mm256_or_ps(f, _mm256_castsi256_ps(sign));
      // NaN (0x7f / 0xff): mag == 0x7f.
      __m256i is_nan =
          _mm256_cmpeq_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0x7f)), _mm256_set1_epi32(0x7f));
      f = _mm256_blendv_ps(f, _mm256_set1_ps(__builtin_nanf("")), _mm256_castsi256_ps(is_nan));
      _mm256_storeu_ps(dst + i, _mm256_mul_ps(f, s));
    }
    for (; i < b1; ++i) dst[i] = fp8_e4m3_to_f32(src[i]) * scales[b0 / block];
  }
}

double fma_loop(int64_t iters) {
  // 10 independent accumulators cover FMA latency × throughput on current cores.
  __m256 acc[10];
  DS_UNROLL for (int i = 0; i < 10; ++i) acc[i] = _mm256_set1_ps(float(i) * 1e-3f);
  const __m256 m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-4f);
  for (int64_t it = 0; it < iters; ++it)
    DS_UNROLL for (int i = 0; i < 10; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, c);
  __m256 s = acc[0];
  for (int i = 1; i < 10; ++i) s = _mm256_add_ps(s, acc[i]);
  volatile float sink = hsum(s);
  (void)sink;
  return double(iters) * 10 * 8 * 2;
}

double int8_loop(int64_t iters) {
  // The integer tiles' step on AVX2: vpmaddubsw, vpmaddwd by ones, vpaddd (32 MACs).
  __m256i acc[8];
  DS_UNROLL for (int i = 0; i < 8; ++i) acc[i] = _mm256_set1_epi32(i);
  const __m256i w = _mm256_set1_epi8(3), x = _mm256_set1_epi8(-2), ones = _mm256_set1_epi16(1);
  for (int64_t it = 0; it < iters; ++it)
    DS_UNROLL for (int i = 0; i < 8; ++i) acc[i] =
        _mm256_add_epi32(acc[i], _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), ones));
  __m256i s = acc[0];
  for (int i = 1; i < 8; ++i) s = _mm256_add_epi32(s, acc[i]);
  volatile int sink = _mm256_extract_epi32(s, 0);
  (void)sink;
  return double(iters) * 8 * 32 * 2;
}

// G query rows against S cache rows at a time (each query load feeds S FMAs, each cache
// load G); every score is the same operation sequence whatever S is. 4 × 2 keeps the 8
// accumulators and the loads within the 16 ymm registers.
template <int G, int S>
void scores_block(const float* q, int64_t qs, const float* k, int64_t ks, int64_t w, float scale,
                  float* out, int64_t os) {
  __m256 acc[G][S];
  DS_UNROLL for (int g = 0; g < G; ++g) DS_UNROLL for (int s = 0; s < S; ++s) acc[g][s] =
      _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= w; i += 8) {
    __m256 kv_v[S];
    DS_UNROLL for (int s = 0; s < S; ++s) kv_v[s] = _mm256_loadu_ps(k + s * ks + i);
    DS_UNROLL for (int g = 0; g < G; ++g) {
      const __m256 qv = _mm256_loadu_ps(q + g * qs + i);
      DS_UNROLL for (int s = 0; s < S; ++s) acc[g][s] = _mm256_fmadd_ps(qv, kv_v[s], acc[g][s]);
    }
  }
  DS_UNROLL for (int g = 0; g < G; ++g) DS_UNROLL for (int s = 0; s < S; ++s) {
    float d = hsum(acc[g][s]);
    for (int64_t t = i; t < w; ++t) d += q[g * qs + t] * k[s * ks + t];
    out[g * os + s] = scale * d;
  }
}

template <int G>
void scores_group(const float* q, int64_t qs, const float* kv, int64_t ks, int64_t len, int64_t w,
                  float scale, float* out, int64_t os) {
  int64_t s = 0;
  for (; s + 2 <= len; s += 2) scores_block<G, 2>(q, qs, kv + s * ks, ks, w, scale, out + s, os);
  for (; s < len; ++s) scores_block<G, 1>(q, qs, kv + s * ks, ks, w, scale, out + s, os);
}

void attn_scores(const float* q, int64_t qs, int64_t nh, const float* kv, int64_t ks, int64_t len,
                 int64_t w, float scale, float* out, int64_t os) {
  for_head_groups(nh, [&](int64_t h, auto g) {
    scores_group<decltype(g)::value>(q + h * qs, qs, kv, ks, len, w, scale, out + h * os, os);
  });
}

// G heads × C vectors of 8 columns of u, accumulated over the positions.
template <int G, int C>
void values_block(const float* p, int64_t ps, const float* kv, int64_t ks, int64_t len, float* u,
                  int64_t us) {
  __m256 acc[G][C];
  DS_UNROLL for (int g = 0; g < G; ++g) DS_UNROLL for (int c = 0; c < C; ++c) acc[g][c] =
      _mm256_setzero_ps();
  for (int64_t s = 0; s < len; ++s) {
    __m256 kv_v[C];
    DS_UNROLL for (int c = 0; c < C; ++c) kv_v[c] = _mm256_loadu_ps(kv + s * ks + 8 * c);
    DS_UNROLL for (int g = 0; g < G; ++g) {
      const __m256 pb = _mm256_set1_ps(p[g * ps + s]);
      DS_UNROLL for (int c = 0; c < C; ++c) acc[g][c] = _mm256_fmadd_ps(pb, kv_v[c], acc[g][c]);
    }
  }
  DS_UNROLL for (int g = 0; g < G; ++g) DS_UNROLL for (int c = 0; c < C; ++c) {
    float* dst = u + g * us + 8 * c;
    _mm256_storeu_ps(dst, _mm256_add_ps(_mm256_loadu_ps(dst), acc[g][c]));
  }
}

template <int G>
void values_group(const float* p, int64_t ps, const float* kv, int64_t ks, int64_t len, int64_t r,
                  float* u, int64_t us) {
  int64_t j = 0;
  for (; j + 16 <= r; j += 16) values_block<G, 2>(p, ps, kv + j, ks, len, u + j, us);
  if (j + 8 <= r) {
    values_block<G, 1>(p, ps, kv + j, ks, len, u + j, us);
    j += 8;
  }
  for (; j < r; ++j)
    for (int g = 0; g < G; ++g) {
      float acc = 0;
      for (int64_t s = 0; s < len; ++s) acc += p[g * ps + s] * kv[s * ks + j];
      u[g * us + j] += acc;
    }
}

void attn_values(const float* p, int64_t ps, int64_t nh, const float* kv, int64_t ks, int64_t len,
                 int64_t r, float* u, int64_t us) {
  for_head_groups(nh, [&](int64_t h, auto g) {
    values_group<decltype(g)::value>(p + h * ps, ps, kv, ks, len, r, u + h * us, us);
  });
}

// ---- A BF16 cache ------------------------------------------------------------------------
// As in the AVX-512 kernels: a 256-bit load of 16 bf16 values becomes two f32 vectors, the
// even elements (low halves shifted up) and the odd ones (high halves masked); the query is
// de-interleaved once per call and value sums are re-interleaved when stored. Tails shorter
// than 16 values are scalar.

inline __m256 bf16_even(__m256i v) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}
inline __m256 bf16_odd(__m256i v) {
  return _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32(int(0xffff0000u))));
}

// G query rows: the de-interleaved full chunks qp ([G, wf]) and the plain rows q for the tail.
template <int G>
void scores_group_bf16(const float* qp, int64_t wf, const float* q, int64_t qs, const uint16_t* kv,
                       int64_t ks, int64_t len, int64_t w, float scale, float* out, int64_t os) {
  for (int64_t s = 0; s < len; ++s) {
    const uint16_t* k = kv + s * ks;
    __m256 ae[G], ao[G];
    DS_UNROLL for (int g = 0; g < G; ++g) {
      ae[g] = _mm256_setzero_ps();
      ao[g] = _mm256_setzero_ps();
    }
    for (int64_t i = 0; i < wf; i += 16) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(k + i));
      const __m256 ke = bf16_even(v), ko = bf16_odd(v);
      DS_UNROLL for (int g = 0; g < G; ++g) {
        ae[g] = _mm256_fmadd_ps(_mm256_loadu_ps(qp + g * wf + i), ke, ae[g]);
        ao[g] = _mm256_fmadd_ps(_mm256_loadu_ps(qp + g * wf + i + 8), ko, ao[g]);
      }
    }
    DS_UNROLL for (int g = 0; g < G; ++g) {
      float d = hsum(_mm256_add_ps(ae[g], ao[g]));
      for (int64_t t = wf; t < w; ++t) d += q[g * qs + t] * bf16_to_f32(k[t]);
      out[g * os + s] = scale * d;
    }
  }
}

void attn_scores_bf16(const float* q, int64_t qs, int64_t nh, const uint16_t* kv, int64_t ks,
                      int64_t len, int64_t w, float scale, float* out, int64_t os) {
  const int64_t wf = w / 16 * 16;  // values in full 16-value chunks
  thread_local std::vector<float> qp;
  if (qp.size() < size_t(nh * wf)) qp.resize(size_t(nh * wf));
  for (int64_t h = 0; h < nh; ++h)
    for (int64_t i = 0; i < wf; i += 16)
      for (int64_t k = 0; k < 8; ++k) {
        qp[size_t(h * wf + i + k)] = q[h * qs + i + 2 * k];
        qp[size_t(h * wf + i + 8 + k)] = q[h * qs + i + 2 * k + 1];
      }
  for_head_groups(nh, [&](int64_t h, auto g) {
    scores_group_bf16<decltype(g)::value>(qp.data() + h * wf, wf, q + h * qs, qs, kv, ks, len, w,
                                          scale, out + h * os, os);
  });
}

// G heads × 16 columns of u, accumulated over the positions in even/odd order.
template <int G>
void values_block_bf16(const float* p, int64_t ps, const uint16_t* kv, int64_t ks, int64_t len,
                       float* u, int64_t us) {
  __m256 ae[G], ao[G];
  DS_UNROLL for (int g = 0; g < G; ++g) {
    ae[g] = _mm256_setzero_ps();
    ao[g] = _mm256_setzero_ps();
  }
  for (int64_t s = 0; s < len; ++s) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kv + s * ks));
    const __m256 ke = bf16_even(v), ko = bf16_odd(v);
    DS_UNROLL for (int g = 0; g < G; ++g) {
      const __m256 pb = _mm256_set1_ps(p[g * ps + s]);
      ae[g] = _mm256_fmadd_ps(pb, ke, ae[g]);
      ao[g] = _mm256_fmadd_ps(pb, ko, ao[g]);
    }
  }
  DS_UNROLL for (int g = 0; g < G; ++g) {
    // unpacklo: columns 0–3 | 8–11, unpackhi: 4–7 | 12–15.
    const __m256 lo = _mm256_unpacklo_ps(ae[g], ao[g]), hi = _mm256_unpackhi_ps(ae[g], ao[g]);
    float* dst = u + g * us;
    _mm256_storeu_ps(dst,
                     _mm256_add_ps(_mm256_loadu_ps(dst), _mm256_permute2f128_ps(lo, hi, 0x20)));
    _mm256_storeu_ps(dst + 8,
                     _mm256_add_ps(_mm256_loadu_ps(dst + 8), _mm256_permute2f128_ps(lo, hi, 0x31)));
  }
}

template <int G>
void values_group_bf16(const float* p, int64_t ps, const uint16_t* kv, int64_t ks, int64_t len,
                       int64_t r, float* u, int64_t us) {
  int64_t j = 0;
  for (; j + 16 <= r; j += 16) values_block_bf16<G>(p, ps, kv + j, ks, len, u + j, us);
  for (; j < r; ++j)
    for (int g = 0; g < G; ++g) {
      float acc = 0;
      for (int64_t s = 0; s < len; ++s) acc += p[g * ps + s] * bf16_to_f32(kv[s * ks + j]);
      u[g * us + j] += acc;
    }
}

void attn_values_bf16(const float* p, int64_t ps, int64_t nh, const uint16_t* kv, int64_t ks,
                      int64_t len, int64_t r, float* u, int64_t us) {
  for_head_groups(nh, [&](int64_t h, auto g) {
    values_group_bf16<decltype(g)::value>(p + h * ps, ps, kv, ks, len, r, u + h * us, us);
  });
}

// As the AVX-512 exp: 2^k · e^r with a degree-6 polynomial; 2^k built in the exponent field
// (k ∈ [−126, 127] for the arguments the clamp [−87, 88] lets through).
inline __m256 exp256(__m256 x) {
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693145751953125f), x);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(1.428606765330187045e-06f), r);
  __m256 y = _mm256_set1_ps(1.0f / 720);
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f / 120));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f / 24));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f / 6));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(0.5f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f));
  const __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

float exp_shifted_sum(float* x, int64_t n, float m) {
  const __m256 mv = _mm256_set1_ps(m), lo = _mm256_set1_ps(-87.0f), hi = _mm256_set1_ps(88.0f);
  __m256 sum = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), mv);
    const __m256 keep = _mm256_cmp_ps(d, lo, _CMP_GE_OQ);
    const __m256 e = _mm256_and_ps(keep, exp256(_mm256_min_ps(_mm256_max_ps(d, lo), hi)));
    _mm256_storeu_ps(x + i, e);
    sum = _mm256_add_ps(sum, e);
  }
  float s = hsum(sum);
  for (; i < n; ++i) {
    const float d = x[i] - m;
    x[i] = d < -87.0f ? 0.0f : std::exp(d);
    s += x[i];
  }
  return s;
}

void silu_mul(float* gate, const float* up, int64_t n) {
  // exp(−g) with −g clamped to [−87, 88] (the range exp256 covers): the result is g·up/(1 + e)
  // to f32 precision over the whole line.
  const __m256 one = _mm256_set1_ps(1.0f), lo = _mm256_set1_ps(-87.0f), hi = _mm256_set1_ps(88.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e =
        exp256(_mm256_min_ps(_mm256_max_ps(_mm256_sub_ps(_mm256_setzero_ps(), g), lo), hi));
    _mm256_storeu_ps(
        gate + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

}  // namespace

const CpuKernels& kernels_avx2() {
  static const CpuKernels k{Isa::kAvx2,
                            "avx2",
                            dot_f32,
                            axpy_f32,
                            bf16_to_f32_row,
                            f16_to_f32_row,
                            fp8_to_f32_row,
                            fma_loop,
                            avx2::dot_bf16_f32,
                            avx2::dot_f32_rows,
                            avx2::vec_dot_q8_0_q8_0,
                            avx2::vec_dot_q5_0_q8_0,
                            avx2::vec_dot_q4_K_q8_K,
                            avx2::vec_dot_q6_K_q8_K,
                            quantize_row_q8_K_ref,
                            true,
                            cpu_has_avx_vnni() ? avx2::gemm_tile_vnni : avx2::gemm_tile_signed,
                            255,
                            cpu_has_avx_vnni() ? nullptr : avx2::gemm_tile_for_u,
                            avx2::gemm_tile_unpack,
                            16,
                            nullptr,
                            avx2::quantize_act_tile,
                            int8_loop,
                            attn_scores,
                            attn_values,
                            exp_shifted_sum,
                            silu_mul,
                            attn_scores_bf16,
                            attn_values_bf16,
                            nullptr,
                            avx2::dot_f16_f32,
                            avx2::dot_fp8_f32,
                            q8_0_to_f32,
                            nullptr,
                            nullptr,
                            nullptr,
                            nullptr,
                            avx2::vec_dot_q2_K_q8_K,
                            avx2::vec_dot_q3_K_q8_K,
                            avx2::vec_dot_iq4_xs_q8_K,
                            avx2::vec_dot_iq4_nl_q8_0};
  return k;
}

}  // namespace ds
