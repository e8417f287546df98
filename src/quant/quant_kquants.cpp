// k-quants: 256-element super-blocks with quantised per-group scales (Q2_K ... Q6_K) and the
// Q8_K activation format. Layouts: ggml-common.h. The quantisers follow ggml-quants.c's
// reference (`quantize_row_*_K_ref`) search and rounding so the output bytes match llama.cpp.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "quant/quant.h"
#include "quant/quant_internal.h"

namespace ds {

using quant_detail::half;
using quant_detail::nearest_int;
using quant_detail::q2_at;

namespace {
int64_t n_super_blocks(int64_t n) {
  DS_CHECK(n % kQKK == 0, "row of ", n, " elements is not a multiple of ", kQKK);
  return n / kQKK;
}

// 2-bit fields of Q2_K / Q3_K: element 128h + 32k + l lives in byte 32h + l at bits 2k.
void pack_2bit(const uint8_t* L, uint8_t* qs) {
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      const uint8_t* e = L + 128 * h + l;
      qs[32 * h + l] = uint8_t(e[0] | (e[32] << 2) | (e[64] << 4) | (e[96] << 6));
    }
  }
}

}  // namespace

// ---------------------------------------------------------------- Q2_K

void dequantize_row_q2_K(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ2_K*>(src);
  for (int64_t i = 0, nb = n_super_blocks(n); i < nb; ++i, dst += kQKK) {
    const float d = half(b[i].d), dmin = half(b[i].dmin);
    for (int e = 0; e < kQKK; ++e) {
      const uint8_t sc = b[i].scales[e / 16];
      const float dl = d * float(sc & 0xf), ml = dmin * float(sc >> 4);
      dst[e] = dl * float(q2_at(b[i].qs, e)) - ml;
    }
  }
}

void quantize_row_q2_K_ref(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ2_K*>(dst);
  constexpr float kQ4Scale = 15.f;
  for (int64_t i = 0, nb = n_super_blocks(n); i < nb; ++i, src += kQKK) {
    uint8_t L[kQKK];
    float scales[16], mins[16], weights[16];
    float max_scale = 0, max_min = 0;
    for (int g = 0; g < 16; ++g) {
      // 2-bit groups are fitted in weighted absolute error, weight |x|.
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(src[16 * g + l]);
      scales[g] = quant_detail::search_affine_scale_min(16, 3, src + 16 * g, weights, L + 16 * g,
                                                        &mins[g], -0.5f, 0.1f, 15, true);
      max_scale = std::max(max_scale, scales[g]);
      max_min = std::max(max_min, mins[g]);
    }
    if (max_scale > 0) {
      const float iscale = kQ4Scale / max_scale;
      for (int g = 0; g < 16; ++g) b[i].scales[g] = uint8_t(nearest_int(iscale * scales[g]));
      b[i].d = f32_to_f16(max_scale / kQ4Scale);
    } else {
      std::fill(b[i].scales, b[i].scales + 16, uint8_t(0));
      b[i].d = f32_to_f16(0.f);
    }
    if (max_min > 0) {
      const float iscale = kQ4Scale / max_min;
      for (int g = 0; g < 16; ++g) b[i].scales[g] |= uint8_t(nearest_int(iscale * mins[g]) << 4);
      b[i].dmin = f32_to_f16(max_min / kQ4Scale);
    } else {
      b[i].dmin = f32_to_f16(0.f);
    }
    // Re-quantise against the scales as stored.
    for (int g = 0; g < 16; ++g) {
      const float d = half(b[i].d) * float(b[i].scales[g] & 0xf);
      if (!d) continue;
      const float dm = half(b[i].dmin) * float(b[i].scales[g] >> 4);
      for (int l = 0; l < 16; ++l)
        L[16 * g + l] = uint8_t(std::clamp(nearest_int((src[16 * g + l] + dm) / d), 0, 3));
    }
    pack_2bit(L, b[i].qs);
  }
}

// ---------------------------------------------------------------- Q3_K

void dequantize_row_q3_K(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ3_K*>(src);
  for (int64_t i = 0, nb = n_super_blocks(n); i < nb; ++i, dst += kQKK) {
    const float d = half(b[i].d);
    int8_t sc[16];
    quant_detail::unpack_q3_k_scales(b[i].scales, sc);
    for (int e = 0; e < kQKK; ++e) {
      // hmask bit set = high bit 1 = value as is; clear = subtract 4.
      const int q = quant_detail::q3_at(b[i].qs, b[i].hmask, e) - 4;
      dst[e] = d * float(sc[e / 16]) * float(q);
    }
  }
}

void quantize_row_q3_K_ref(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ3_K*>(dst);
  for (int64_t i = 0, nb = n_super_blocks(n); i < nb; ++i, src += kQKK) {
    int8_t L[kQKK];
    float scales[16];
    float max_scale = 0, amax = 0;
    for (int g = 0; g < 16; ++g) {
      scales[g] = quant_detail::refine_q3_scale(16, 4, src + 16 * g, L + 16 * g);
      if (std::fabs(scales[g]) > amax) {
        amax = std::fabs(scales[g]);
        max_scale = scales[g];
      }
    }
    std::memset(b[i].scales, 0, 12);
    if (max_scale) {
      const float iscale = -32.f / max_scale;
      for (int g = 0; g < 16; ++g) {
        const int l = std::clamp(int(int8_t(nearest_int(iscale * scales[g]))), -32, 31) + 32;
        if (g < 8) {
          b[i].scales[g] = uint8_t(l & 0xf);
        } else {
          b[i].scales[g - 8] |= uint8_t((l & 0xf) << 4);
        }
        b[i].scales[8 + g % 4] |= uint8_t((l >> 4) << (2 * (g / 4)));
      }
      b[i].d = f32_to_f16(1 / iscale);
    } else {
      b[i].d = f32_to_f16(0.f);
    }
    int8_t sc[16];
    quant_detail::unpack_q3_k_scales(b[i].scales, sc);
    for (int g = 0; g < 16; ++g) {
      const float d = half(b[i].d) * float(sc[g]);
      if (!d) continue;
      for (int l = 0; l < 16; ++l)
        L[16 * g + l] = int8_t(std::clamp(nearest_int(src[16 * g + l] / d), -4, 3) + 4);
    }
    std::memset(b[i].hmask, 0, sizeof(b[i].hmask));
    uint8_t low[kQKK];
    for (int e = 0; e < kQKK; ++e) {
      int q = L[e];
      if (q > 3) {
        b[i].hmask[e % 32] |= uint8_t(1 << (e / 32));
        q -= 4;
      }
      low[e] = uint8_t(q);
    }
    pack_2bit(low, b[i].qs);
  }
}

// ---------------------------------------------------------------- Q4_K / Q5_K

namespace {
// Shared by Q4_K and Q5_K: fits 8 groups of 32 with quants in [0, nmax], stores d/dmin and the
// packed 6-bit scales, and returns the final quants in L.
void quantize_k4_groups(const float* x, int nmax, float rmin, int nstep, uint16_t* d_out,
                        uint16_t* dmin_out, uint8_t* packed_scales, uint8_t* L) {
  float scales[8], mins[8], weights[32];
  float max_scale = 0, max_min = 0;
  for (int g = 0; g < 8; ++g) {
    const float* xg = x + 32 * g;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xg[l] * xg[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xg[l]);
    scales[g] = quant_detail::search_affine_scale_min(32, nmax, xg, weights, L + 32 * g, &mins[g],
                                                      rmin, 0.1f, nstep, false);
    max_scale = std::max(max_scale, scales[g]);
    max_min = std::max(max_min, mins[g]);
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  uint8_t ls[8], lm[8];
  for (int g = 0; g < 8; ++g) {
    ls[g] = std::min<uint8_t>(63, uint8_t(nearest_int(inv_scale * scales[g])));
    lm[g] = std::min<uint8_t>(63, uint8_t(nearest_int(inv_min * mins[g])));
  }
  quant_detail::pack_k4_scales_mins(ls, lm, packed_scales);
  *d_out = f32_to_f16(max_scale / 63.f);
  *dmin_out = f32_to_f16(max_min / 63.f);
  for (int g = 0; g < 8; ++g) {
    uint8_t sc, m;
    quant_detail::unpack_k4_scale_min(packed_scales, g, &sc, &m);
    const float d = half(*d_out) * float(sc);
    if (!d) continue;
    const float dm = half(*dmin_out) * float(m);
    for (int l = 0; l < 32; ++l)
      L[32 * g + l] = uint8_t(std::clamp(nearest_int((x[32 * g + l] + dm) / d), 0, nmax));
  }
}
}  // namespace

void dequantize_row_q4_K(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_K*>(src);
  for (int64_t i = 0, nb = n_super_blocks(n); i < nb; ++i, dst += kQKK) {
    const float d = half(b[i].d), dmin = half(b[i].dmin);
    for (int g = 0; g < 8; ++g) {
      uint8_t sc, m;
      quant_detail::unpack_k4_scale_min(b[i].scales, g, &sc, &m);
      const float dl = d * float(sc), ml = dmin * float(m);
      const uint8_t* q = b[i].qs + 32 * (g / 2);
      const int shift = 4 * (g % 2);
      for (int l = 0; l < 32; ++l) dst[32 * g + l] = dl * float((q[l] >> shift) & 0xf) - ml;
    }
  }
}

void quantize_row_q4_K_ref(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_K*>(dst);
  for (int64_t i = 0, nb = n_super_blocks(n); i < nb; ++i, src += kQKK) {
    uint8_t L[kQKK];
    quantize_k4_groups(src, 15, -1.f, 20, &b[i].d, &b[i].dmin, b[i].scales, L);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l)
        b[i].qs[32 * c + l] = uint8_t(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
  }
}

void dequantize_row_q5_K(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_K*>(src);
  for (int64_t i = 0, nb = n_super_blocks(n); i < nb; ++i, dst += kQKK) {
    const float d = half(b[i].d), dmin = half(b[i].dmin);
    for (int g = 0; g < 8; ++g) {
      uint8_t sc, m;
      quant_detail::unpack_k4_scale_min(b[i].scales, g, &sc, &m);
      const float dl = d * float(sc), ml = dmin * float(m);
      const uint8_t* q = b[i].qs + 32 * (g / 2);
      const int shift = 4 * (g % 2);
      for (int l = 0; l < 32; ++l) {
        const int hi = (b[i].qh[l] >> g) & 1;
        dst[32 * g + l] = dl * float(((q[l] >> shift) & 0xf) + 16 * hi) - ml;
      }
    }
  }
}

void quantize_row_q5_K_ref(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ5_K*>(dst);
  for (int64_t i = 0, nb = n_super_blocks(n); i < nb; ++i, src += kQKK) {
    uint8_t L[kQKK];
    quantize_k4_groups(src, 31, -0.5f, 15, &b[i].d, &b[i].dmin, b[i].scales, L);
    std::memset(b[i].qh, 0, sizeof(b[i].qh));
    for (int g = 0; g < 8; ++g) {
      uint8_t* q = b[i].qs + 32 * (g / 2);
      const int shift = 4 * (g % 2);
      for (int l = 0; l < 32; ++l) {
        const int v = L[32 * g + l];
        if (v > 15) b[i].qh[l] |= uint8_t(1 << g);
        if (shift == 0) {
          q[l] = uint8_t(v & 0xf);
        } else {
          q[l] |= uint8_t((v & 0xf) << 4);
        }
      }
    }
  }
}

// ---------------------------------------------------------------- Q6_K

namespace {
// Element e of a Q6_K block: 128-element half h, position r = e % 128, l = r % 32, k = r / 32.
// Low nibble in ql[64h + l + 32 * (k % 2)] (high nibble when k >= 2); top 2 bits in
// qh[32h + l] at bits 2k.
int q6_at(const BlockQ6_K& b, int e) {
  const int h = e / 128, r = e % 128, l = r % 32, k = r / 32;
  const int lo = (b.ql[64 * h + l + 32 * (k % 2)] >> (4 * (k / 2))) & 0xf;
  const int hi = (b.qh[32 * h + l] >> (2 * k)) & 3;
  return lo | (hi << 4);
}
}  // namespace

void dequantize_row_q6_K(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ6_K*>(src);
  for (int64_t i = 0, nb = n_super_blocks(n); i < nb; ++i, dst += kQKK) {
    const float d = half(b[i].d);
    for (int e = 0; e < kQKK; ++e)
      dst[e] = d * float(b[i].scales[e / 16]) * float(q6_at(b[i], e) - 32);
  }
}

void quantize_row_q6_K_ref(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ6_K*>(dst);
  for (int64_t i = 0, nb = n_super_blocks(n); i < nb; ++i, src += kQKK) {
    int8_t L[kQKK];
    float scales[16];
    float max_scale = 0, max_abs_scale = 0;
    for (int g = 0; g < 16; ++g) {
      scales[g] = quant_detail::search_symmetric_scale(16, 32, src + 16 * g, L + 16 * g);
      if (std::fabs(scales[g]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[g]);
        max_scale = scales[g];
      }
    }
    if (max_abs_scale < quant_detail::kGroupMaxEps) {
      std::memset(&b[i], 0, sizeof(BlockQ6_K));
      continue;
    }
    const float iscale = -128.f / max_scale;
    b[i].d = f32_to_f16(1 / iscale);
    for (int g = 0; g < 16; ++g)
      b[i].scales[g] = int8_t(std::min(127, nearest_int(iscale * scales[g])));
    for (int g = 0; g < 16; ++g) {
      const float d = half(b[i].d) * float(b[i].scales[g]);
      if (!d) continue;
      for (int l = 0; l < 16; ++l)
        L[16 * g + l] = int8_t(std::clamp(nearest_int(src[16 * g + l] / d), -32, 31) + 32);
    }
    std::memset(b[i].ql, 0, sizeof(b[i].ql));
    std::memset(b[i].qh, 0, sizeof(b[i].qh));
    for (int e = 0; e < kQKK; ++e) {
      const int h = e / 128, r = e % 128, l = r % 32, k = r / 32;
      const int v = L[e];
      b[i].ql[64 * h + l + 32 * (k % 2)] |= uint8_t((v & 0xf) << (4 * (k / 2)));
      b[i].qh[32 * h + l] |= uint8_t((v >> 4) << (2 * k));
    }
  }
}

// ---------------------------------------------------------------- Q8_K

void dequantize_row_q8_K(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_K*>(src);
  for (int64_t i = 0, nb = n_super_blocks(n); i < nb; ++i, dst += kQKK)
    for (int e = 0; e < kQKK; ++e) dst[e] = b[i].d * float(b[i].qs[e]);
}

void quantize_row_q8_K_ref(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0, nb = n_super_blocks(n); i < nb; ++i, src += kQKK) {
    float amax = 0, max = 0;
    for (int e = 0; e < kQKK; ++e) {
      if (std::fabs(src[e]) > amax) {
        amax = std::fabs(src[e]);
        max = src[e];
      }
    }
    if (!amax) {
      std::memset(&b[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    // -127 rather than -128 keeps every quant in [-127, 127] (ggml made the same choice so
    // that sign tricks in the i-quant kernels cannot overflow).
    const float iscale = -127.f / max;
    for (int e = 0; e < kQKK; ++e) b[i].qs[e] = int8_t(std::min(127, nearest_int(iscale * src[e])));
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += b[i].qs[16 * g + l];
      b[i].bsums[g] = int16_t(sum);
    }
    b[i].d = 1 / iscale;
  }
}

}  // namespace ds
