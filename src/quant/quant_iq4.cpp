// IQ4_NL (32-element blocks) and IQ4_XS (256-element super-blocks): 4-bit indices into the
// non-uniform code book kIq4nlValues. Layouts: ggml-common.h; the scale search follows
// ggml-quants.c's quantize_row_iq4_nl_impl (without an importance matrix).
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "quant/quant.h"
#include "quant/quant_internal.h"

namespace ds {

using quant_detail::half;
using quant_detail::nearest_iq4nl_index;

namespace {
// Number of extra candidate scales tried on each side of the absmax one. llama.cpp's
// `quantize_iq4_nl` / `quantize_iq4_xs` (what llama-quantize runs) use 7; its bare
// quantize_row_iq4_nl_ref uses a cheaper no-search variant, which we do not replicate.
constexpr int kIq4Tries = 7;

// 16 bytes of nibbles for 32 code indices: element j low nibble, j + 16 high nibble.
void pack_nibbles_32(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = uint8_t(L[j] | (L[j + 16] << 4));
}

void unpack_iq4_32(const uint8_t* qs, float d, float* dst) {
  for (int j = 0; j < 16; ++j) {
    dst[j] = d * float(kIq4nlValues[qs[j] & 0xf]);
    dst[j + 16] = d * float(kIq4nlValues[qs[j] >> 4]);
  }
}
}  // namespace

void dequantize_row_iq4_nl(const void* src, float* dst, int64_t n) {
  DS_CHECK(n % kQK32 == 0, "row of ", n, " elements is not a multiple of 32");
  const auto* b = static_cast<const BlockIQ4_NL*>(src);
  for (int64_t i = 0; i < n / kQK32; ++i) unpack_iq4_32(b[i].qs, half(b[i].d), dst + kQK32 * i);
}

void dequantize_row_iq4_xs(const void* src, float* dst, int64_t n) {
  DS_CHECK(n % kQKK == 0, "row of ", n, " elements is not a multiple of 256");
  const auto* b = static_cast<const BlockIQ4_XS*>(src);
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const float d = half(b[i].d);
    for (int g = 0; g < 8; ++g) {
      const int ls =
          ((b[i].scales_l[g / 2] >> (4 * (g % 2))) & 0xf) | (((b[i].scales_h >> (2 * g)) & 3) << 4);
      unpack_iq4_32(b[i].qs + 16 * g, d * float(ls - 32), dst + kQKK * i + 32 * g);
    }
  }
}

void quantize_row_iq4_nl_ref(const float* src, void* dst, int64_t n) {
  DS_CHECK(n % kQK32 == 0, "row of ", n, " elements is not a multiple of 32");
  auto* b = static_cast<BlockIQ4_NL*>(dst);
  for (int64_t i = 0; i < n / kQK32; ++i, src += kQK32) {
    float w[kQK32];
    uint8_t L[kQK32];
    for (int j = 0; j < kQK32; ++j) w[j] = src[j] * src[j];
    const float d = quant_detail::search_iq4_scale(kQK32, src, w, L, kIq4Tries);
    b[i].d = f32_to_f16(d);
    // Re-pick indices for the chosen scale (before half rounding, as llama.cpp does).
    const float id = d ? 1 / d : 0;
    for (int j = 0; j < kQK32; ++j) L[j] = uint8_t(nearest_iq4nl_index(id * src[j]));
    pack_nibbles_32(L, b[i].qs);
  }
}

void quantize_row_iq4_xs_ref(const float* src, void* dst, int64_t n) {
  DS_CHECK(n % kQKK == 0, "row of ", n, " elements is not a multiple of 256");
  auto* b = static_cast<BlockIQ4_XS*>(dst);
  for (int64_t i = 0; i < n / kQKK; ++i, src += kQKK) {
    float scales[8], w[32];
    uint8_t L[kQKK];
    float max_scale = 0, amax_scale = 0;
    for (int g = 0; g < 8; ++g) {
      const float* xg = src + 32 * g;
      for (int j = 0; j < 32; ++j) w[j] = xg[j] * xg[j];
      scales[g] = quant_detail::search_iq4_scale(32, xg, w, L + 32 * g, kIq4Tries);
      if (std::fabs(scales[g]) > amax_scale) {
        amax_scale = std::fabs(scales[g]);
        max_scale = scales[g];
      }
    }
    // Group scales become signed 6-bit multiples of d; the largest maps to -32.
    const float d = -max_scale / 32;
    b[i].d = f32_to_f16(d);
    b[i].scales_h = 0;
    std::memset(b[i].scales_l, 0, sizeof(b[i].scales_l));
    const float id = d ? 1 / d : 0.f;
    for (int g = 0; g < 8; ++g) {
      const int l = std::clamp(quant_detail::nearest_int(id * scales[g]), -32, 31);
      const float dl = d * float(l);
      const float idl = dl ? 1 / dl : 0.f;
      for (int j = 0; j < 32; ++j)
        L[32 * g + j] = uint8_t(nearest_iq4nl_index(idl * src[32 * g + j]));
      const int biased = l + 32;
      b[i].scales_l[g / 2] |= uint8_t((biased & 0xf) << (4 * (g % 2)));
      b[i].scales_h = uint16_t(b[i].scales_h | ((biased >> 4) << (2 * g)));
      pack_nibbles_32(L + 32 * g, b[i].qs + 16 * g);
    }
  }
}

}  // namespace ds
