// AVX2 kernel of the integer GEMM path (gemm_tile.h): vpmaddubsw (u8 weights × s8
// activations into 16-bit pair sums) then vpmaddwd by ones into 32-bit lanes, one lane per
// row, 8 rows per vector. The pair sums cannot saturate for weights u ≤ 127 (the table says
// so through gemm_tile_max_u); Q8_0 and IQ4 weights keep the row-dot path on AVX2.
#include <immintrin.h>

#include <cstring>

#include "backend/cpu/gemm_tile.h"
#include "backend/cpu/row_dot.h"

namespace ds::avx2 {

namespace {

// Two tokens at a time: 2 rows-halves × 2 tokens of integer sums and of f32 accumulators.
template <int NT>
void gemm_tile_nt(const uint8_t* tile, int64_t nb, const uint8_t* act, int64_t as, float* out) {
  const int64_t cols = nb * 32;
  const __m256i ones = _mm256_set1_epi16(1);
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
        isum[t][0] =
            _mm256_add_epi32(isum[t][0], _mm256_madd_epi16(_mm256_maddubs_epi16(w0, a), ones));
        isum[t][1] =
            _mm256_add_epi32(isum[t][1], _mm256_madd_epi16(_mm256_maddubs_epi16(w1, a), ones));
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

void gemm_tile(const uint8_t* tile, int64_t nb, const uint8_t* act, int64_t act_stride, int nt,
               float* out) {
  int t = 0;
  for (; t + 2 <= nt; t += 2)
    gemm_tile_nt<2>(tile, nb, act + t * act_stride, act_stride, out + t * kTileRows);
  if (t < nt) gemm_tile_nt<1>(tile, nb, act + t * act_stride, act_stride, out + t * kTileRows);
}

}  // namespace ds::avx2
