// Dequantisation of the low-bit i-quants: IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S,
// IQ1_M. Each group of 8 (or 4) weights is one code-book grid entry times a sign pattern and
// a group scale. Layouts: ggml-common.h; semantics: ggml-quants.c dequantize_row_iq*.
// Quantisation (a code-book nearest-neighbour search with importance weights) is not here.
#include <cstring>

#include "core/error.h"
#include "quant/iq_grids.h"
#include "quant/quant.h"
#include "quant/quant_internal.h"

namespace ds {

using quant_detail::half;
using quant_detail::load_u32;

namespace {
int64_t super_blocks(int64_t n) {
  DS_CHECK(n % kQKK == 0, "row of ", n, " elements is not a multiple of 256");
  return n / kQKK;
}

uint8_t grid_byte(uint64_t entry, int j) {
  return uint8_t(entry >> (8 * j));
}

// 8 outputs: scale * magnitude * (-1 where the sign bit is set).
void emit8(float scale, uint64_t grid, uint8_t signs, float* y) {
  for (int j = 0; j < 8; ++j)
    y[j] = scale * float(grid_byte(grid, j)) * ((signs >> j) & 1 ? -1.f : 1.f);
}

// 4 outputs from a 32-bit grid entry, using sign bits [first, first + 4).
void emit4(float scale, uint32_t grid, uint8_t signs, int first, float* y) {
  for (int j = 0; j < 4; ++j)
    y[j] = scale * float(uint8_t(grid >> (8 * j))) * ((signs >> (first + j)) & 1 ? -1.f : 1.f);
}

// 8 outputs of IQ1: scale * (grid value in {-1, 0, 1} + delta).
void emit8_iq1(float scale, uint64_t grid, float delta, float* y) {
  for (int j = 0; j < 8; ++j) y[j] = scale * (float(int8_t(grid_byte(grid, j))) + delta);
}
}  // namespace

void dequantize_row_iq2_xxs(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockIQ2_XXS*>(src);
  for (int64_t i = 0, nb = super_blocks(n); i < nb; ++i) {
    const float d = half(b[i].d);
    const auto* qs = reinterpret_cast<const uint8_t*>(b[i].qs);
    for (int g = 0; g < 8; ++g, dst += 32) {
      // Per 32: bytes 0-3 are grid indices, the next u32 holds 4 x 7 sign bits and a 4-bit scale.
      const uint8_t* idx = qs + 8 * g;
      const uint32_t aux = load_u32(qs + 8 * g + 4);
      const float db = d * (0.5f + float(aux >> 28)) * 0.25f;
      for (int l = 0; l < 4; ++l)
        emit8(db, kIq2xxsGrid[idx[l]], iq2_signs(aux >> (7 * l)), dst + 8 * l);
    }
  }
}

void dequantize_row_iq2_xs(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockIQ2_XS*>(src);
  for (int64_t i = 0, nb = super_blocks(n); i < nb; ++i) {
    const float d = half(b[i].d);
    for (int g = 0; g < 8; ++g, dst += 32) {
      const float db[2] = {d * (0.5f + float(b[i].scales[g] & 0xf)) * 0.25f,
                           d * (0.5f + float(b[i].scales[g] >> 4)) * 0.25f};
      for (int l = 0; l < 4; ++l) {
        uint16_t q;
        std::memcpy(&q, reinterpret_cast<const uint8_t*>(b[i].qs) + 2 * (4 * g + l), 2);
        emit8(db[l / 2], kIq2xsGrid[q & 511], iq2_signs(q >> 9), dst + 8 * l);
      }
    }
  }
}

void dequantize_row_iq2_s(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockIQ2_S*>(src);
  for (int64_t i = 0, nb = super_blocks(n); i < nb; ++i) {
    const float d = half(b[i].d);
    const uint8_t* qs = b[i].qs;                // grid index low bits, 4 per 32
    const uint8_t* signs = b[i].qs + kQKK / 8;  // one full sign byte per 8
    for (int g = 0; g < 8; ++g, dst += 32) {
      const float db[2] = {d * (0.5f + float(b[i].scales[g] & 0xf)) * 0.25f,
                           d * (0.5f + float(b[i].scales[g] >> 4)) * 0.25f};
      for (int l = 0; l < 4; ++l) {
        const int idx = qs[4 * g + l] | (((b[i].qh[g] >> (2 * l)) & 3) << 8);
        emit8(db[l / 2], kIq2sGrid[idx], signs[4 * g + l], dst + 8 * l);
      }
    }
  }
}

void dequantize_row_iq3_xxs(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockIQ3_XXS*>(src);
  for (int64_t i = 0, nb = super_blocks(n); i < nb; ++i) {
    const float d = half(b[i].d);
    const uint8_t* qs = b[i].qs;                       // 8 grid indices per 32
    const uint8_t* scales_signs = b[i].qs + kQKK / 4;  // one u32 per 32
    for (int g = 0; g < 8; ++g, dst += 32) {
      const uint32_t aux = load_u32(scales_signs + 4 * g);
      const float db = d * (0.5f + float(aux >> 28)) * 0.5f;
      for (int l = 0; l < 4; ++l) {
        const uint8_t signs = iq2_signs(aux >> (7 * l));
        emit4(db, kIq3xxsGrid[qs[8 * g + 2 * l]], signs, 0, dst + 8 * l);
        emit4(db, kIq3xxsGrid[qs[8 * g + 2 * l + 1]], signs, 4, dst + 8 * l + 4);
      }
    }
  }
}

void dequantize_row_iq3_s(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockIQ3_S*>(src);
  for (int64_t i = 0, nb = super_blocks(n); i < nb; ++i) {
    const float d = half(b[i].d);
    for (int g = 0; g < 8; ++g, dst += 32) {
      // 4-bit scales per 32 (two per byte), odd multiples of d.
      const int s = (b[i].scales[g / 2] >> (4 * (g % 2))) & 0xf;
      const float db = d * float(1 + 2 * s);
      const uint8_t* qs = b[i].qs + 8 * g;
      const uint8_t qh = b[i].qh[g];
      for (int l = 0; l < 4; ++l) {
        const int idx1 = qs[2 * l] | (((qh >> (2 * l)) & 1) << 8);
        const int idx2 = qs[2 * l + 1] | (((qh >> (2 * l + 1)) & 1) << 8);
        const uint8_t signs = b[i].signs[4 * g + l];
        emit4(db, kIq3sGrid[idx1], signs, 0, dst + 8 * l);
        emit4(db, kIq3sGrid[idx2], signs, 4, dst + 8 * l + 4);
      }
    }
  }
}

void dequantize_row_iq1_s(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockIQ1_S*>(src);
  for (int64_t i = 0, nb = super_blocks(n); i < nb; ++i) {
    const float d = half(b[i].d);
    for (int g = 0; g < 8; ++g, dst += 32) {
      const uint16_t qh = b[i].qh[g];
      const float dl = d * float(2 * ((qh >> 12) & 7) + 1);
      const float delta = qh & 0x8000 ? -kIq1Delta : kIq1Delta;
      for (int l = 0; l < 4; ++l) {
        const int idx = b[i].qs[4 * g + l] | (((qh >> (3 * l)) & 7) << 8);
        emit8_iq1(dl, kIq1sGrid[idx], delta, dst + 8 * l);
      }
    }
  }
}

void dequantize_row_iq1_m(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockIQ1_M*>(src);
  for (int64_t i = 0, nb = super_blocks(n); i < nb; ++i) {
    uint16_t sc[4];
    std::memcpy(sc, b[i].scales, 8);
    // The half super-scale is spread over the top nibble of each u16 scale word.
    const uint16_t d_bits = uint16_t((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) |
                                     ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
    const float d = half(d_bits);
    for (int g = 0; g < 8; ++g, dst += 32) {
      const float dl1 = d * float(2 * ((sc[g / 2] >> (6 * (g % 2))) & 7) + 1);
      const float dl2 = d * float(2 * ((sc[g / 2] >> (6 * (g % 2) + 3)) & 7) + 1);
      const uint8_t* qs = b[i].qs + 4 * g;
      const uint8_t* qh = b[i].qh + 2 * g;
      for (int l = 0; l < 4; ++l) {
        // qh byte l/2: low nibble serves the even 8, high nibble the odd 8: 3 index bits
        // and the shift's sign.
        const int nib = (qh[l / 2] >> (4 * (l % 2))) & 0xf;
        const int idx = qs[l] | ((nib & 7) << 8);
        const float delta = nib & 8 ? -kIq1Delta : kIq1Delta;
        emit8_iq1(l < 2 ? dl1 : dl2, kIq1sGrid[idx], delta, dst + 8 * l);
      }
    }
  }
}

}  // namespace ds
