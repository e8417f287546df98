// Vector helpers shared by the AVX-512 and AMX kernel files (both compiled with the AVX-512
// flags). `static`, so that each file keeps its own copy and no flags leak between them.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace ds::avx512_math {

/// The first min(left, 16) lanes.
static inline __mmask16 tail_mask(int64_t left) {
  return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
}

/// exp(x) = 2^k · e^r, k = round(x·log2 e), |r| ≤ ln2/2, e^r by its degree-6 Taylor
/// polynomial (truncation < 1.2e-7 relative), 2^k applied by vscalefps.
static inline __m512 exp512(__m512 x) {
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(1.428606765330187045e-06f), r);
  __m512 y = _mm512_set1_ps(1.0f / 720);
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f / 120));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f / 24));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f / 6));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(0.5f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(y, k);
}

/// exp(d) where d ≥ −87, else 0 (exp_shifted_sum's rule), in the lanes of `t`; 0 elsewhere.
static inline __m512 exp_or_zero(__m512 d, __mmask16 t) {
  const __m512 lo = _mm512_set1_ps(-87.0f);
  const __mmask16 keep = _mm512_mask_cmp_ps_mask(t, d, lo, _CMP_GE_OQ);
  return _mm512_maskz_mov_ps(keep, exp512(_mm512_max_ps(d, lo)));
}

}  // namespace ds::avx512_math
