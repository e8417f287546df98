// AVX2 fused row kernels: BF16 weights widened in registers and FMA'd against f32
// activations; Q8_0 / Q4_K / Q6_K weights against Q8_0 / Q8_K activations with vpmaddubsw +
// vpmaddwd integer dot products, following ggml's AVX2 kernels (ggml-cpu/arch/x86/quants.c).
// Integer block sums are exact; only the float combination order differs from the scalar
// references in src/quant/vec_dot.cpp.
#include <immintrin.h>

#include <cstring>

#include "backend/cpu/kernels.h"
#include "backend/cpu/kquant_scales_x86.h"
#include "backend/cpu/row_dot.h"
#include "core/dtype.h"
#include "quant/blocks.h"

namespace ds::avx2 {

namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256 bf16x8(const uint16_t* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16));
}

inline __m256 load8(const uint16_t* p) {
  return bf16x8(p);
}
inline __m256 load8(const float* p) {
  return _mm256_loadu_ps(p);
}
inline float to_f32(uint16_t v) {
  return bf16_to_f32(v);
}
inline float to_f32(float v) {
  return v;
}
// F16 weights: a distinct type for the templates (the bits are uint16_t, as BF16's are).
struct F16Bits {
  uint16_t bits;
};
inline __m256 load8(const F16Bits* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline float to_f32(F16Bits v) {
  return f16_to_f32(v.bits);
}

// NR weight rows (BF16 widened in registers, or F32) × NT tokens of accumulators. Each
// accumulator sees the same operations whatever NR and NT are, so a result does not depend
// on how matmul blocked the rows (or split them over threads).
template <typename W, int NR, int NT>
void dot_block(const W* w, int64_t ws, const float* x, int64_t xs, int64_t n, float* y) {
  __m256 acc[NR][NT];
  DS_UNROLL for (int r = 0; r < NR; ++r) DS_UNROLL for (int t = 0; t < NT; ++t) acc[r][t] =
      _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 wv[NR];
    DS_UNROLL for (int r = 0; r < NR; ++r) {
      _mm_prefetch(reinterpret_cast<const char*>(w + r * ws + i) + kPrefetchBytes, _MM_HINT_T0);
      wv[r] = load8(w + r * ws + i);
    }
    DS_UNROLL for (int t = 0; t < NT; ++t) {
      const __m256 xv = _mm256_loadu_ps(x + t * xs + i);
      DS_UNROLL for (int r = 0; r < NR; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
  DS_UNROLL for (int r = 0; r < NR; ++r) DS_UNROLL for (int t = 0; t < NT; ++t) {
    float s = hsum(acc[r][t]);
    for (int64_t j = i; j < n; ++j) s += to_f32(w[r * ws + j]) * x[t * xs + j];
    y[r * kMaxRowTokens + t] = s;
  }
}

template <typename W>
using BlockFn = void (*)(const W*, int64_t, const float*, int64_t, int64_t, float*);

template <typename W, int NR>
constexpr BlockFn<W> kRow[4] = {dot_block<W, NR, 1>, dot_block<W, NR, 2>, dot_block<W, NR, 3>,
                                dot_block<W, NR, 4>};

// The quantised row kernels prefetch their own weight stream into L2, kStreamPrefetchBytes
// ahead, about one line per 64 bytes consumed, spread over the loop. (matmul used to ask for
// a whole row two rows ahead in one burst; the burst ran out of fill buffers and stalled:
// 29 % of a decode step's samples sat on it.)
inline void stream_prefetch(const void* p) {
  _mm_prefetch(static_cast<const char*>(p) + kStreamPrefetchBytes, _MM_HINT_T1);
}

inline __m256i sum_i16_pairs(__m256i v) {
  return _mm256_madd_epi16(v, _mm256_set1_epi16(1));
}

float dot_q8_0(const BlockQ8_0* a, const BlockQ8_0* b, int64_t nb) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    if (i % 2 == 0) stream_prefetch(a + i);  // 68 bytes per two blocks
    const __m256i qa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].qs));
    const __m256i qb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs));
    // vpmaddubsw multiplies unsigned by signed bytes: |w| times y carrying w's sign.
    const __m256i p =
        sum_i16_pairs(_mm256_maddubs_epi16(_mm256_abs_epi8(qa), _mm256_sign_epi8(qb, qa)));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(a[i].d) * _cvtsh_ss(b[i].d)),
                          _mm256_cvtepi32_ps(p), acc);
  }
  return hsum(acc);
}

float dot_q5_0(const BlockQ5_0* a, const BlockQ8_0* b, int64_t nb) {
  __m256 acc = _mm256_setzero_ps();
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  // Byte j of the shuffled qh gets bit j forced into its own position check (ggml's
  // bytes_from_bits_32).
  const __m256i spread = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                           0x0101010101010101, 0x0000000000000000);
  const __m256i bit = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
  for (int64_t i = 0; i < nb; ++i) {
    if (i % 3 == 0) stream_prefetch(a + i);  // 66 bytes per three blocks
    const __m128i qs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a[i].qs));
    const __m256i nib = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(qs, 4), qs), m4);
    int32_t qh;
    std::memcpy(&qh, a[i].qh, 4);
    const __m256i set =
        _mm256_cmpeq_epi8(_mm256_or_si256(_mm256_shuffle_epi8(_mm256_set1_epi32(qh), spread), bit),
                          _mm256_set1_epi64x(-1));
    // q − 16: the nibble with 0xF0 or-ed in (i.e. minus 16) wherever bit 4 is clear.
    const __m256i qa = _mm256_or_si256(nib, _mm256_andnot_si256(set, _mm256_set1_epi8(char(0xf0))));
    const __m256i qb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs));
    const __m256i p =
        sum_i16_pairs(_mm256_maddubs_epi16(_mm256_abs_epi8(qa), _mm256_sign_epi8(qb, qa)));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(a[i].d) * _cvtsh_ss(b[i].d)),
                          _mm256_cvtepi32_ps(p), acc);
  }
  return hsum(acc);
}

float dot_q4_K(const BlockQ4_K* a, const BlockQ8_K* b, int64_t nb) {
  __m256 acc = _mm256_setzero_ps();
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  for (int64_t i = 0; i < nb; ++i) {
    // 2.25 lines per 144-byte block.
    stream_prefetch(a + i);
    stream_prefetch(reinterpret_cast<const char*>(a + i) + 64);
    if (i % 4 == 0) stream_prefetch(reinterpret_cast<const char*>(a + i) + 128);
    const __m128i sm = x86::k4_scales_mins(a[i].scales);
    const float d = _cvtsh_ss(a[i].d) * b[i].d, dmin = _cvtsh_ss(a[i].dmin) * b[i].d;
    const __m256i mins =
        _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm)),
                          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].bsums)));
    const __m128i sc8 = _mm_cvtepu8_epi16(sm);  // the 8 scales as int16
    const __m256i sc = _mm256_set_m128i(sc8, sc8);
    __m256i sumi = _mm256_setzero_si256();
    DS_UNROLL for (int j = 0; j < 4; ++j) {
      // Byte shuffles broadcasting int16 scale 2j (resp. 2j + 1) to every lane.
      const __m256i s0 =
          _mm256_shuffle_epi8(sc, _mm256_set1_epi16(int16_t(((4 * j + 1) << 8) | (4 * j))));
      const __m256i s1 =
          _mm256_shuffle_epi8(sc, _mm256_set1_epi16(int16_t(((4 * j + 3) << 8) | (4 * j + 2))));
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].qs + 32 * j));
      const __m256i ql = _mm256_and_si256(q, m4);
      const __m256i qh = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      const __m256i y0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs + 64 * j));
      const __m256i y1 =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs + 64 * j + 32));
      const __m256i p0 = _mm256_madd_epi16(s0, _mm256_maddubs_epi16(ql, y0));
      const __m256i p1 = _mm256_madd_epi16(s1, _mm256_maddubs_epi16(qh, y1));
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    acc = _mm256_fnmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(mins), acc);
  }
  return hsum(acc);
}

// vpshufb selectors: word 2k repeated over the low 128-bit lane, word 2k + 1 over the high.
inline __m256i q6_scale_sel(int k) {
  const __m128i lo = _mm_set1_epi16(int16_t((4 * k + 1) << 8 | 4 * k));
  const __m128i hi = _mm_set1_epi16(int16_t((4 * k + 3) << 8 | (4 * k + 2)));
  return _mm256_set_m128i(hi, lo);
}

float dot_q6_K(const BlockQ6_K* a, const BlockQ8_K* b, int64_t nb) {
  __m256 acc = _mm256_setzero_ps();
  const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(0x03);
  const __m256i sel[4] = {q6_scale_sel(0), q6_scale_sel(1), q6_scale_sel(2), q6_scale_sel(3)};
  for (int64_t i = 0; i < nb; ++i) {
    // 3.3 lines per 210-byte block.
    DS_UNROLL for (int l = 0; l < 3; ++l)
        stream_prefetch(reinterpret_cast<const char*>(a + i) + 64 * l);
    if (i % 4 != 3) stream_prefetch(reinterpret_cast<const char*>(a + i) + 192);
    const __m128i sc = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a[i].scales));
    const __m256i sc16 = _mm256_cvtepi8_epi16(sc);
    // q - 32 is folded into the group sums: Σ_g sc[g]·32·bsums[g] is subtracted once.
    const __m256i offs =
        _mm256_madd_epi16(sc16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].bsums)));
    __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(offs, 5));
    DS_UNROLL for (int h = 0; h < 2; ++h) {
      // Scales 8h … 8h + 7 (16-bit) in both 128-bit lanes, for the word shuffles below.
      const __m256i sch =
          h ? _mm256_permute4x64_epi64(sc16, 0xee) : _mm256_permute4x64_epi64(sc16, 0x44);
      const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].ql + 64 * h));
      const __m256i ql1 =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].ql + 64 * h + 32));
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].qh + 32 * h));
      __m256i q[4];
      q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4),
                             _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
      q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
                             _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_slli_epi16(m2, 2)), 2));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                             _mm256_and_si256(qh, _mm256_slli_epi16(m2, 4)));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                             _mm256_srli_epi16(_mm256_and_si256(qh, _mm256_slli_epi16(m2, 6)), 2));
      DS_UNROLL for (int k = 0; k < 4; ++k) {
        const __m256i y =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs + 128 * h + 32 * k));
        // Scale g in the low lane, g + 1 in the high one (words 2k and 2k + 1 of sch).
        const __m256i s = _mm256_shuffle_epi8(sch, sel[k]);
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(s, _mm256_maddubs_epi16(q[k], y)));
      }
    }
    acc =
        _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(a[i].d) * b[i].d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum(acc);
}

// Q2_K (layout in row_dot_avx512.cpp's dot_q2_K): per 32-element chunk j of half h, the two
// bits (qs[32h + l] >> 2j) & 3, vpmaddubsw, then vpmaddwd by the chunk's two group scales
// (one per 128-bit lane, as dot_q6_K picks them); the min term from the group sums.
float dot_q2_K(const BlockQ2_K* a, const BlockQ8_K* b, int64_t nb) {
  __m256 acc = _mm256_setzero_ps();
  const __m256i m3 = _mm256_set1_epi8(3);
  const __m128i m4 = _mm_set1_epi8(0x0f);
  const __m256i sel[4] = {q6_scale_sel(0), q6_scale_sel(1), q6_scale_sel(2), q6_scale_sel(3)};
  for (int64_t i = 0; i < nb; ++i) {
    // 1.3 lines per 84-byte block.
    stream_prefetch(a + i);
    if (i % 3 == 0) stream_prefetch(reinterpret_cast<const char*>(a + i) + 64);
    const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a[i].scales));
    const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(sc8, m4));
    const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), m4));
    const __m256i mins =
        _mm256_madd_epi16(mn16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].bsums)));
    __m256i sumi = _mm256_setzero_si256();
    DS_UNROLL for (int h = 0; h < 2; ++h) {
      const __m256i sch =
          h ? _mm256_permute4x64_epi64(sc16, 0xee) : _mm256_permute4x64_epi64(sc16, 0x44);
      const __m256i qv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].qs + 32 * h));
      DS_UNROLL for (int j = 0; j < 4; ++j) {
        const __m256i q = _mm256_and_si256(_mm256_srl_epi16(qv, _mm_cvtsi32_si128(2 * j)), m3);
        const __m256i y =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs + 128 * h + 32 * j));
        sumi = _mm256_add_epi32(
            sumi, _mm256_madd_epi16(_mm256_shuffle_epi8(sch, sel[j]), _mm256_maddubs_epi16(q, y)));
      }
    }
    acc =
        _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(a[i].d) * b[i].d), _mm256_cvtepi32_ps(sumi), acc);
    acc = _mm256_fnmadd_ps(_mm256_set1_ps(_cvtsh_ss(a[i].dmin) * b[i].d), _mm256_cvtepi32_ps(mins),
                           acc);
  }
  return hsum(acc);
}

// Q3_K (layout in row_dot_avx512.cpp's dot_q3_K): u = the two bits of Q2_K's layout | bit
// 4h + j of hmask[l] << 2, x = d·sc·(u − 4); the −4 folded into the group sums.
float dot_q3_K(const BlockQ3_K* a, const BlockQ8_K* b, int64_t nb) {
  __m256 acc = _mm256_setzero_ps();
  const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
  const __m256i sel[4] = {q6_scale_sel(0), q6_scale_sel(1), q6_scale_sel(2), q6_scale_sel(3)};
  for (int64_t i = 0; i < nb; ++i) {
    // 1.7 lines per 110-byte block.
    stream_prefetch(a + i);
    if (i % 3 != 2) stream_prefetch(reinterpret_cast<const char*>(a + i) + 64);
    const __m256i sc16 = _mm256_cvtepi8_epi16(x86::q3_k_scales(a[i].scales));
    const __m256i offs =
        _mm256_madd_epi16(sc16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].bsums)));
    __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(offs, 2));
    const __m256i hm = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].hmask));
    DS_UNROLL for (int h = 0; h < 2; ++h) {
      const __m256i sch =
          h ? _mm256_permute4x64_epi64(sc16, 0xee) : _mm256_permute4x64_epi64(sc16, 0x44);
      const __m256i qv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].qs + 32 * h));
      DS_UNROLL for (int j = 0; j < 4; ++j) {
        const __m256i third = _mm256_slli_epi16(
            _mm256_and_si256(_mm256_srl_epi16(hm, _mm_cvtsi32_si128(4 * h + j)), one), 2);
        const __m256i u = _mm256_or_si256(
            _mm256_and_si256(_mm256_srl_epi16(qv, _mm_cvtsi32_si128(2 * j)), m3), third);
        const __m256i y =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs + 128 * h + 32 * j));
        sumi = _mm256_add_epi32(
            sumi, _mm256_madd_epi16(_mm256_shuffle_epi8(sch, sel[j]), _mm256_maddubs_epi16(u, y)));
      }
    }
    acc =
        _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(a[i].d) * b[i].d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum(acc);
}

// 32 IQ4 nibbles (qs: 16 bytes, low nibbles first) as code-book values (int8).
inline __m256i iq4_values(const uint8_t* qs, __m256i book) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i m4 = _mm_set1_epi8(0x0f);
  return _mm256_shuffle_epi8(
      book, _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4), _mm_and_si128(v, m4)));
}

inline __m256i iq4_book() {
  return _mm256_broadcastsi128_si256(
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
}

// IQ4_XS (layout in row_dot_avx512.cpp's dot_iq4_xs): per group, the code book by vpshufb,
// |w| times x carrying w's sign, then vpmaddwd by the group's scale.
float dot_iq4_xs(const BlockIQ4_XS* a, const BlockQ8_K* b, int64_t nb) {
  __m256 acc = _mm256_setzero_ps();
  const __m256i book = iq4_book();
  for (int64_t i = 0; i < nb; ++i) {
    // 2.1 lines per 136-byte block.
    stream_prefetch(a + i);
    stream_prefetch(reinterpret_cast<const char*>(a + i) + 64);
    if (i % 8 == 0) stream_prefetch(reinterpret_cast<const char*>(a + i) + 128);
    // The 8 scales computed on the vector unit once per block, as 16-bit values to broadcast.
    const __m256i ls32 = x86::iq4_xs_scales(a[i].scales_l, a[i].scales_h);
    alignas(16) int16_t ls[8];
    _mm_store_si128(
        reinterpret_cast<__m128i*>(ls),
        _mm_packs_epi32(_mm256_castsi256_si128(ls32), _mm256_extracti128_si256(ls32, 1)));
    __m256i sumi = _mm256_setzero_si256();
    DS_UNROLL for (int g = 0; g < 8; ++g) {
      const __m256i w = iq4_values(a[i].qs + 16 * g, book);
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs + 32 * g));
      sumi = _mm256_add_epi32(
          sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w)),
                                  _mm256_set1_epi16(ls[g])));
    }
    acc =
        _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(a[i].d) * b[i].d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum(acc);
}

// IQ4_NL against Q8_0 blocks: the code book by vpshufb, then as dot_q8_0.
float dot_iq4_nl(const BlockIQ4_NL* a, const BlockQ8_0* b, int64_t nb) {
  __m256 acc = _mm256_setzero_ps();
  const __m256i book = iq4_book();
  for (int64_t i = 0; i < nb; ++i) {
    if (i % 4 == 0) stream_prefetch(a + i);  // about one line per four 18-byte blocks
    const __m256i w = iq4_values(a[i].qs, book);
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs));
    const __m256i p =
        sum_i16_pairs(_mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w)));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(a[i].d) * _cvtsh_ss(b[i].d)),
                          _mm256_cvtepi32_ps(p), acc);
  }
  return hsum(acc);
}

template <typename W, typename A, float (*kDot)(const W*, const A*, int64_t), int64_t kQ>
void rows(const void* w, const void* a, int64_t a_stride, int nt, int64_t n, float* y) {
  // A quantised weight row is at most a few KiB: looping tokens re-reads it from L1.
  for (int t = 0; t < nt; ++t)
    y[t] = kDot(static_cast<const W*>(w),
                reinterpret_cast<const A*>(static_cast<const uint8_t*>(a) + t * a_stride), n / kQ);
}

}  // namespace

// At most 2 rows per register block (2 × 4 accumulators of the 16 ymm registers).
template <typename W>
void dot_rows(const W* w, int64_t w_stride, int nr, const float* x, int64_t x_stride, int nt,
              int64_t n, float* y) {
  for (int r = 0; r < nr; r += 2) {
    if (nr - r >= 2)
      kRow<W, 2>[nt - 1](w + r * w_stride, w_stride, x, x_stride, n, y + r * kMaxRowTokens);
    else
      kRow<W, 1>[nt - 1](w + r * w_stride, w_stride, x, x_stride, n, y + r * kMaxRowTokens);
  }
}

void dot_bf16_f32(const uint16_t* w, int64_t w_stride, int nr, const float* x, int64_t x_stride,
                  int nt, int64_t n, float* y) {
  dot_rows(w, w_stride, nr, x, x_stride, nt, n, y);
}

void dot_f32_rows(const float* w, int64_t w_stride, int nr, const float* x, int64_t x_stride,
                  int nt, int64_t n, float* y) {
  dot_rows(w, w_stride, nr, x, x_stride, nt, n, y);
}

void dot_f16_f32(const uint16_t* w, int64_t w_stride, int nr, const float* x, int64_t x_stride,
                 int nt, int64_t n, float* y) {
  dot_rows(reinterpret_cast<const F16Bits*>(w), w_stride, nr, x, x_stride, nt, n, y);
}

namespace {

// 8 FP8 e4m3 values (the low 8 bytes of b) times a block scale given as s120 = scale · 2^120,
// to the values fp8_to_f32 gives (see the AVX-512 kernel).
inline __m256 fp8x8(__m128i b, __m256 s120) {
  const __m256i v = _mm256_cvtepu8_epi32(b);
  const __m256i low = _mm256_and_si256(v, _mm256_set1_epi32(0x7f));
  const __m256 f = _mm256_mul_ps(_mm256_castsi256_ps(_mm256_slli_epi32(low, 20)), s120);
  const __m256i sign = _mm256_and_si256(_mm256_slli_epi32(v, 24), _mm256_set1_epi32(INT32_MIN));
  const __m256 g = _mm256_castsi256_ps(_mm256_xor_si256(_mm256_castps_si256(f), sign));
  const __m256 nan = _mm256_castsi256_ps(_mm256_cmpeq_epi32(low, _mm256_set1_epi32(0x7f)));
  return _mm256_blendv_ps(g, _mm256_set1_ps(__builtin_nanf("")), nan);
}

template <int NR, int NT>
void dot_fp8_block(const uint8_t* w, int64_t ws, const float* const* scales, int64_t block,
                   const float* x, int64_t xs, int64_t n, float* y) {
  __m256 acc[NR][NT];
  DS_UNROLL for (int r = 0; r < NR; ++r) DS_UNROLL for (int t = 0; t < NT; ++t) acc[r][t] =
      _mm256_setzero_ps();
  float tail[NR][NT] = {};
  for (int64_t b0 = 0; b0 < n; b0 += block) {
    __m256 s120[NR];
    DS_UNROLL for (int r = 0; r < NR; ++r) s120[r] =
        _mm256_set1_ps(scales[r][b0 / block] * 0x1p120f);
    const int64_t b1 = std::min(n, b0 + block);
    int64_t i = b0;
    for (; i + 8 <= b1; i += 8) {
      __m256 wv[NR];
      DS_UNROLL for (int r = 0; r < NR; ++r) {
        _mm_prefetch(reinterpret_cast<const char*>(w + r * ws + i) + kPrefetchBytes, _MM_HINT_T0);
        wv[r] = fp8x8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(w + r * ws + i)), s120[r]);
      }
      DS_UNROLL for (int t = 0; t < NT; ++t) {
        const __m256 xv = _mm256_loadu_ps(x + t * xs + i);
        DS_UNROLL for (int r = 0; r < NR; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
      }
    }
    for (; i < b1; ++i)  // block lengths that are not multiples of 8: the rest one by one
      DS_UNROLL for (int r = 0; r < NR; ++r) {
        const float wf = fp8_e4m3_to_f32(w[r * ws + i]) * scales[r][b0 / block];
        DS_UNROLL for (int t = 0; t < NT; ++t) tail[r][t] += wf * x[t * xs + i];
      }
  }
  DS_UNROLL for (int r = 0; r < NR; ++r) DS_UNROLL for (int t = 0; t < NT; ++t)
      y[r * kMaxRowTokens + t] = hsum(acc[r][t]) + tail[r][t];
}

using Fp8BlockFn = void (*)(const uint8_t*, int64_t, const float* const*, int64_t, const float*,
                            int64_t, int64_t, float*);
template <int NR>
constexpr Fp8BlockFn kFp8Row[4] = {dot_fp8_block<NR, 1>, dot_fp8_block<NR, 2>, dot_fp8_block<NR, 3>,
                                   dot_fp8_block<NR, 4>};

}  // namespace

// At most 2 rows per register block, as dot_rows.
void dot_fp8_f32(const uint8_t* w, int64_t w_stride, int nr, const float* const* scales,
                 int64_t block, const float* x, int64_t x_stride, int nt, int64_t n, float* y) {
  for (int r = 0; r < nr; r += 2)
    (nr - r >= 2 ? kFp8Row<2> : kFp8Row<1>)[nt - 1](w + r * w_stride, w_stride, scales + r, block,
                                                    x, x_stride, n, y + r * kMaxRowTokens);
}

void vec_dot_q8_0_q8_0(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                       float* y) {
  rows<BlockQ8_0, BlockQ8_0, dot_q8_0, kQK32>(w, a, a_stride, nt, n, y);
}
void vec_dot_q5_0_q8_0(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                       float* y) {
  rows<BlockQ5_0, BlockQ8_0, dot_q5_0, kQK32>(w, a, a_stride, nt, n, y);
}
void vec_dot_q4_K_q8_K(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                       float* y) {
  rows<BlockQ4_K, BlockQ8_K, dot_q4_K, kQKK>(w, a, a_stride, nt, n, y);
}
void vec_dot_q6_K_q8_K(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                       float* y) {
  rows<BlockQ6_K, BlockQ8_K, dot_q6_K, kQKK>(w, a, a_stride, nt, n, y);
}

void vec_dot_q2_K_q8_K(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                       float* y) {
  rows<BlockQ2_K, BlockQ8_K, dot_q2_K, kQKK>(w, a, a_stride, nt, n, y);
}

void vec_dot_q3_K_q8_K(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                       float* y) {
  rows<BlockQ3_K, BlockQ8_K, dot_q3_K, kQKK>(w, a, a_stride, nt, n, y);
}

void vec_dot_iq4_xs_q8_K(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                         float* y) {
  rows<BlockIQ4_XS, BlockQ8_K, dot_iq4_xs, kQKK>(w, a, a_stride, nt, n, y);
}

void vec_dot_iq4_nl_q8_0(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                         float* y) {
  rows<BlockIQ4_NL, BlockQ8_0, dot_iq4_nl, kQK32>(w, a, a_stride, nt, n, y);
}

}  // namespace ds::avx2
