#include "ops/qtile.h"

#include <cstring>
#include <type_traits>

#include "backend/cpu/gemm_tile.h"
#include "backend/cpu/kernels.h"
#include "core/dtype.h"
#include "quant/blocks.h"
#include "quant/ggml_type.h"
#include "quant/quant_internal.h"

namespace ds {

namespace {

using quant_detail::half;

// Element j of a 32-block in Q4_0's nibble order: low nibbles are 0–15, high ones 16–31.
inline void nibbles32(const uint8_t* qs, uint8_t* u) {
  for (int j = 0; j < 16; ++j) {
    u[j] = qs[j] & 0xf;
    u[j + 16] = qs[j] >> 4;
  }
}

void unpack_q4_0(const void* row, int64_t cols, uint8_t* u, float* s, float* o) {
  const auto* b = static_cast<const BlockQ4_0*>(row);
  for (int64_t k = 0; k < cols / 32; ++k) {
    nibbles32(b[k].qs, u + 32 * k);
    s[k] = half(b[k].d);
    o[k] = 8 * s[k];
  }
}

void unpack_q4_1(const void* row, int64_t cols, uint8_t* u, float* s, float* o) {
  const auto* b = static_cast<const BlockQ4_1*>(row);
  for (int64_t k = 0; k < cols / 32; ++k) {
    nibbles32(b[k].qs, u + 32 * k);
    s[k] = half(b[k].d);
    o[k] = -half(b[k].m);
  }
}

void unpack_q5_0(const void* row, int64_t cols, uint8_t* u, float* s, float* o) {
  const auto* b = static_cast<const BlockQ5_0*>(row);
  for (int64_t k = 0; k < cols / 32; ++k) {
    const uint32_t qh = quant_detail::load_u32(b[k].qh);
    nibbles32(b[k].qs, u + 32 * k);
    for (int j = 0; j < 32; ++j) u[32 * k + j] |= uint8_t(((qh >> j) & 1) << 4);
    s[k] = half(b[k].d);
    o[k] = 16 * s[k];
  }
}

void unpack_q5_1(const void* row, int64_t cols, uint8_t* u, float* s, float* o) {
  const auto* b = static_cast<const BlockQ5_1*>(row);
  for (int64_t k = 0; k < cols / 32; ++k) {
    const uint32_t qh = quant_detail::load_u32(b[k].qh);
    nibbles32(b[k].qs, u + 32 * k);
    for (int j = 0; j < 32; ++j) u[32 * k + j] |= uint8_t(((qh >> j) & 1) << 4);
    s[k] = half(b[k].d);
    o[k] = -half(b[k].m);
  }
}

void unpack_q8_0(const void* row, int64_t cols, uint8_t* u, float* s, float* o) {
  const auto* b = static_cast<const BlockQ8_0*>(row);
  for (int64_t k = 0; k < cols / 32; ++k) {
    for (int j = 0; j < 32; ++j) u[32 * k + j] = uint8_t(int(b[k].qs[j]) + 128);
    s[k] = half(b[k].d);
    o[k] = 128 * s[k];
  }
}

void unpack_iq4_nl(const void* row, int64_t cols, uint8_t* u, float* s, float* o) {
  const auto* b = static_cast<const BlockIQ4_NL*>(row);
  for (int64_t k = 0; k < cols / 32; ++k) {
    uint8_t q[32];
    nibbles32(b[k].qs, q);
    for (int j = 0; j < 32; ++j) u[32 * k + j] = uint8_t(kIq4nlValues[q[j]] + 128);
    s[k] = half(b[k].d);
    o[k] = 128 * s[k];
  }
}

// Q4_K / Q5_K: group g of a super-block is chunk g/2's low (g even) or high nibbles.
template <bool kFive>
void unpack_k4(const void* row, int64_t cols, uint8_t* u, float* s, float* o) {
  using Block = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;
  const auto* b = static_cast<const Block*>(row);
  for (int64_t i = 0; i < cols / kQKK; ++i) {
    const float d = half(b[i].d), dmin = half(b[i].dmin);
    for (int g = 0; g < 8; ++g) {
      uint8_t sc, m;
      quant_detail::unpack_k4_scale_min(b[i].scales, g, &sc, &m);
      s[8 * i + g] = d * float(sc);
      o[8 * i + g] = dmin * float(m);
      const uint8_t* q = b[i].qs + 32 * (g / 2);
      const int shift = 4 * (g % 2);
      uint8_t* ug = u + kQKK * i + 32 * g;
      for (int l = 0; l < 32; ++l) ug[l] = (q[l] >> shift) & 0xf;
      if constexpr (kFive)
        for (int l = 0; l < 32; ++l) ug[l] |= uint8_t(((b[i].qh[l] >> g) & 1) << 4);
    }
  }
}

void unpack_iq4_xs(const void* row, int64_t cols, uint8_t* u, float* s, float* o) {
  const auto* b = static_cast<const BlockIQ4_XS*>(row);
  for (int64_t i = 0; i < cols / kQKK; ++i) {
    const float d = half(b[i].d);
    for (int g = 0; g < 8; ++g) {
      const int ls =
          ((b[i].scales_l[g / 2] >> (4 * (g % 2))) & 0xf) | (((b[i].scales_h >> (2 * g)) & 3) << 4);
      s[8 * i + g] = d * float(ls - 32);
      o[8 * i + g] = 128 * s[8 * i + g];
      uint8_t q[32];
      nibbles32(b[i].qs + 16 * g, q);
      for (int j = 0; j < 32; ++j) u[kQKK * i + 32 * g + j] = uint8_t(kIq4nlValues[q[j]] + 128);
    }
  }
}

// Formats with a scale per 16 elements (Q2_K, Q3_K, Q6_K) take two tile blocks per 32
// elements (tile_col_factor): tile block 2k holds elements 32k … 32k + 15 of the super-block's
// values q (then 16 times `pad`), tile block 2k + 1 the 16 `pad` values first, then the
// others. ub: the super-block's 512 tile bytes.
void spread_halves(const uint8_t* q, uint8_t pad, uint8_t* ub) {
  for (int k = 0; k < kQKK / 32; ++k) {
    std::memcpy(ub + 64 * k, q + 32 * k, 16);
    std::memset(ub + 64 * k + 16, pad, 32);
    std::memcpy(ub + 64 * k + 48, q + 32 * k + 16, 16);
  }
}

// Q6_K: u = the 6-bit value q, so that s·u − o = d·sc·(q − 32) with s = d·sc and o = 32·s;
// the half a tile block does not cover holds u = 32, which is exactly 0.
void unpack_q6_K(const void* row, int64_t cols, uint8_t* u, float* s, float* o) {
  const auto* b = static_cast<const BlockQ6_K*>(row);
  for (int64_t i = 0; i < cols / kQKK; ++i) {
    // The 6-bit values in element order: in each 128-element half h, element 32k + l has its
    // low nibble in ql[64h + l + 32(k % 2)] (high nibble for k ≥ 2) and its top two bits in
    // qh[32h + l] at bit 2k.
    uint8_t q[kQKK];
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b[i].ql + 64 * h;
      const uint8_t* qh = b[i].qh + 32 * h;
      uint8_t* qo = q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        qo[l] = uint8_t((ql[l] & 0xf) | ((qh[l] & 3) << 4));
        qo[l + 32] = uint8_t((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4));
        qo[l + 64] = uint8_t((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
        qo[l + 96] = uint8_t((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
      }
    }
    spread_halves(q, 32, u + 2 * kQKK * i);
    const float d = half(b[i].d);
    for (int g = 0; g < kQKK / 16; ++g) {
      const int64_t tb = 2 * (kQKK / 32) * i + g;
      s[tb] = d * float(b[i].scales[g]);
      o[tb] = 32 * s[tb];
    }
  }
}

// Q3_K: u = the 3-bit value (2 bits of qs, the third from hmask), s = d·(sc − 32), o = 4·s,
// so that s·u − o = d·(sc − 32)·(u − 4); the other half holds u = 4, exactly 0.
void unpack_q3_K(const void* row, int64_t cols, uint8_t* u, float* s, float* o) {
  const auto* b = static_cast<const BlockQ3_K*>(row);
  for (int64_t i = 0; i < cols / kQKK; ++i) {
    uint8_t q[kQKK];
    for (int e = 0; e < kQKK; ++e) q[e] = uint8_t(quant_detail::q3_at(b[i].qs, b[i].hmask, e));
    spread_halves(q, 4, u + 2 * kQKK * i);
    int8_t sc[kQKK / 16];
    quant_detail::unpack_q3_k_scales(b[i].scales, sc);
    const float d = half(b[i].d);
    for (int g = 0; g < kQKK / 16; ++g) {
      const int64_t tb = 2 * (kQKK / 32) * i + g;
      s[tb] = d * float(sc[g]);
      o[tb] = 4 * s[tb];
    }
  }
}

// Q3_K in one tile block per 32 elements (kernels that multiply u up to 252): u = (sc − 32)·
// (q − 4) + 124 in [0, 252] — the signed scale of the element's 16-element group times its
// signed 3-bit value, offset — with s = d and o = 124·d.
void unpack_q3_K_scaled(const void* row, int64_t cols, uint8_t* u, float* s, float* o) {
  const auto* b = static_cast<const BlockQ3_K*>(row);
  for (int64_t i = 0; i < cols / kQKK; ++i) {
    int8_t sc[kQKK / 16];
    quant_detail::unpack_q3_k_scales(b[i].scales, sc);
    for (int e = 0; e < kQKK; ++e) {
      const int q = quant_detail::q3_at(b[i].qs, b[i].hmask, e);
      u[kQKK * i + e] = uint8_t(sc[e / 16] * (q - 4) + 124);
    }
    const float d = half(b[i].d);
    for (int k = 0; k < kQKK / 32; ++k) {
      s[8 * i + k] = d;
      o[8 * i + k] = 124 * d;
    }
  }
}

// Q2_K: u = the 2-bit value, s = d·(sc & 15), o = dmin·(sc >> 4). No u makes s·u − o zero,
// so the other half holds u = 0 and the activations' offset sums cover only the tile block's
// own half (tile_half_sums): that half then adds exactly nothing.
void unpack_q2_K(const void* row, int64_t cols, uint8_t* u, float* s, float* o) {
  const auto* b = static_cast<const BlockQ2_K*>(row);
  for (int64_t i = 0; i < cols / kQKK; ++i) {
    uint8_t q[kQKK];
    for (int e = 0; e < kQKK; ++e) q[e] = uint8_t(quant_detail::q2_at(b[i].qs, e));
    spread_halves(q, 0, u + 2 * kQKK * i);
    const float d = half(b[i].d), dmin = half(b[i].dmin);
    for (int g = 0; g < kQKK / 16; ++g) {
      const int64_t tb = 2 * (kQKK / 32) * i + g;
      s[tb] = d * float(b[i].scales[g] & 0xf);
      o[tb] = dmin * float(b[i].scales[g] >> 4);
    }
  }
}

}  // namespace

int tile_col_factor(DType dt, int kernel_max_u) {
  GgmlType gt;
  if (!dtype_to_ggml_type(dt, &gt)) return 1;
  if (gt == GgmlType::Q3_K) return kernel_max_u >= 252 ? 1 : 2;
  return tile_scale_per_16(gt) ? 2 : 1;
}

bool tile_half_sums(DType dt) {
  GgmlType gt;
  return dtype_to_ggml_type(dt, &gt) && gt == GgmlType::Q2_K;
}

void expand_act_tile(const uint8_t* src, int64_t cols, int factor, bool half_sums, uint8_t* dst) {
  const int64_t nb = cols / 32, nbx = nb * factor, colsx = cols * factor;
  const float* d = reinterpret_cast<const float*>(src + cols);
  const auto* q = reinterpret_cast<const int8_t*>(src);
  float* dx = reinterpret_cast<float*>(dst + colsx);
  const int part = 32 / factor;
  for (int64_t k = 0; k < nb; ++k)
    for (int f = 0; f < factor; ++f) {
      std::memcpy(dst + 32 * (factor * k + f), src + 32 * k, 32);
      dx[factor * k + f] = d[k];
      if (half_sums) {
        // d·Σq over this tile block's own part, as quantize_act_tile forms d·Σq.
        int sum = 0;
        for (int j = part * f; j < part * (f + 1); ++j) sum += q[32 * k + j];
        dx[nbx + factor * k + f] = d[k] * float(sum);
      } else {
        dx[nbx + factor * k + f] = d[nb + k];
      }
    }
}

TileRowUnpackFn tile_unpacker(DType dt, int factor, int* max_u) {
  GgmlType gt;
  if (!dtype_to_ggml_type(dt, &gt)) return nullptr;
  if (!tile_layout_exists(gt, factor)) return nullptr;
  if (gt == GgmlType::Q3_K && factor == 1) {
    *max_u = 252;
    return unpack_q3_K_scaled;
  }
  switch (gt) {
    case GgmlType::Q4_0:
      *max_u = 15;
      return unpack_q4_0;
    case GgmlType::Q4_1:
      *max_u = 15;
      return unpack_q4_1;
    case GgmlType::Q5_0:
      *max_u = 31;
      return unpack_q5_0;
    case GgmlType::Q5_1:
      *max_u = 31;
      return unpack_q5_1;
    case GgmlType::Q8_0:
      *max_u = 255;
      return unpack_q8_0;
    case GgmlType::IQ4_NL:
      *max_u = 241;
      return unpack_iq4_nl;
    case GgmlType::Q4_K:
      *max_u = 15;
      return unpack_k4<false>;
    case GgmlType::Q5_K:
      *max_u = 31;
      return unpack_k4<true>;
    case GgmlType::IQ4_XS:
      *max_u = 241;
      return unpack_iq4_xs;
    case GgmlType::Q6_K:
      *max_u = 63;
      return unpack_q6_K;
    case GgmlType::Q3_K:
      *max_u = 7;
      return unpack_q3_K;
    case GgmlType::Q2_K:
      *max_u = 3;
      return unpack_q2_K;
    default:
      return nullptr;
  }
}

void unpack_tile(TileRowUnpackFn f, int factor, const WeightView& w, int64_t r0, int nr,
                 uint8_t* tile, uint8_t* row_buf) {
  const int64_t cols = w.cols * factor, nb = cols / 32;  // tile columns
  const size_t rb = w.row_bytes();
  const auto* base = static_cast<const uint8_t*>(w.data);
  GgmlType gt;
  if (dtype_to_ggml_type(w.dtype, &gt) &&
      cpu_kernels().gemm_tile_unpack(gt, factor, base + size_t(r0) * rb, rb, nr, w.cols, tile))
    return;
  uint8_t* u = row_buf;
  float* s = reinterpret_cast<float*>(row_buf + cols);
  float* o = s + nb;
  for (int r = 0; r < kTileRows; ++r) {
    if (r < nr) {
      f(base + size_t(r0 + r) * rb, w.cols, u, s, o);
    } else {
      std::memset(u, 0, size_t(cols));
      std::memset(s, 0, 2 * sizeof(float) * size_t(nb));
    }
    for (int64_t k = 0; k < nb; ++k) {
      uint8_t* tb = tile + size_t(k) * kTileBlockBytes;
      for (int g = 0; g < 8; ++g) std::memcpy(tb + 64 * g + 4 * r, u + 32 * k + 4 * g, 4);
      std::memcpy(tb + 512 + 4 * r, s + k, 4);
      std::memcpy(tb + 512 + 4 * kTileRows + 4 * r, o + k, 4);
    }
  }
}

}  // namespace ds
