// Plain types and the 32-element formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1.
// Layouts: ggml-common.h; quantiser rounding conventions: ggml-quants.c (`*_ref`), kept so
// that the same input gives the same bytes as llama.cpp.
#include <algorithm>
#include <cfloat>
#include <cmath>

#include "core/error.h"
#include "quant/quant.h"
#include "quant/quant_internal.h"

namespace ds {

using quant_detail::half;

namespace {
int64_t n_blocks(int64_t n, int64_t qk) {
  DS_CHECK(n % qk == 0, "row of ", n, " elements is not a multiple of the block size ", qk);
  return n / qk;
}

// Absolute maximum of a block, and the signed value that attains it (first on ties).
float block_signed_max(const float* x, int n) {
  float amax = 0, max = 0;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

void block_min_max(const float* x, int n, float* min, float* max) {
  *min = FLT_MAX;
  *max = -FLT_MAX;
  for (int j = 0; j < n; ++j) {
    *min = std::min(*min, x[j]);
    *max = std::max(*max, x[j]);
  }
}
}  // namespace

void dequantize_row_f32(const void* src, float* dst, int64_t n) {
  std::memcpy(dst, src, size_t(n) * 4);
}

void dequantize_row_f16(const void* src, float* dst, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(h[i]);
}

void dequantize_row_bf16(const void* src, float* dst, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(h[i]);
}

void quantize_row_f32_ref(const float* src, void* dst, int64_t n) {
  std::memcpy(dst, src, size_t(n) * 4);
}

void quantize_row_f16_ref(const float* src, void* dst, int64_t n) {
  auto* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = f32_to_f16(src[i]);
}

void quantize_row_bf16_ref(const float* src, void* dst, int64_t n) {
  auto* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(src[i]);
}

void dequantize_row_q4_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0, nb = n_blocks(n, kQK32); i < nb; ++i, dst += kQK32) {
    const float d = half(b[i].d);
    for (int j = 0; j < 16; ++j) {
      dst[j] = float((b[i].qs[j] & 0xf) - 8) * d;
      dst[j + 16] = float((b[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_row_q4_1(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_1*>(src);
  for (int64_t i = 0, nb = n_blocks(n, kQK32); i < nb; ++i, dst += kQK32) {
    const float d = half(b[i].d), m = half(b[i].m);
    for (int j = 0; j < 16; ++j) {
      dst[j] = float(b[i].qs[j] & 0xf) * d + m;
      dst[j + 16] = float(b[i].qs[j] >> 4) * d + m;
    }
  }
}

void dequantize_row_q5_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_0*>(src);
  for (int64_t i = 0, nb = n_blocks(n, kQK32); i < nb; ++i, dst += kQK32) {
    const float d = half(b[i].d);
    const uint32_t qh = quant_detail::load_u32(b[i].qh);
    for (int j = 0; j < 16; ++j) {
      const int q0 = (b[i].qs[j] & 0xf) | int(((qh >> j) & 1) << 4);
      const int q1 = (b[i].qs[j] >> 4) | int(((qh >> (j + 16)) & 1) << 4);
      dst[j] = float(q0 - 16) * d;
      dst[j + 16] = float(q1 - 16) * d;
    }
  }
}

void dequantize_row_q5_1(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_1*>(src);
  for (int64_t i = 0, nb = n_blocks(n, kQK32); i < nb; ++i, dst += kQK32) {
    const float d = half(b[i].d), m = half(b[i].m);
    const uint32_t qh = quant_detail::load_u32(b[i].qh);
    for (int j = 0; j < 16; ++j) {
      const int q0 = (b[i].qs[j] & 0xf) | int(((qh >> j) & 1) << 4);
      const int q1 = (b[i].qs[j] >> 4) | int(((qh >> (j + 16)) & 1) << 4);
      dst[j] = float(q0) * d + m;
      dst[j + 16] = float(q1) * d + m;
    }
  }
}

void dequantize_row_q8_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0, nb = n_blocks(n, kQK32); i < nb; ++i, dst += kQK32) {
    const float d = half(b[i].d);
    for (int j = 0; j < kQK32; ++j) dst[j] = float(b[i].qs[j]) * d;
  }
}

void dequantize_row_q8_1(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_1*>(src);
  for (int64_t i = 0, nb = n_blocks(n, kQK32); i < nb; ++i, dst += kQK32) {
    const float d = half(b[i].d);
    for (int j = 0; j < kQK32; ++j) dst[j] = float(b[i].qs[j]) * d;
  }
}

void quantize_row_q4_0_ref(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0, nb = n_blocks(n, kQK32); i < nb; ++i, src += kQK32) {
    // Dividing by -8 sends the extreme value to code 0 exactly, using the asymmetric end of
    // [-8, 7] for it; the opposite side then never needs more than +7.
    const float d = block_signed_max(src, kQK32) / -8;
    const float id = d ? 1.0f / d : 0.0f;
    b[i].d = f32_to_f16(d);
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(15, int(src[j] * id + 8.5f));
      const int q1 = std::min(15, int(src[j + 16] * id + 8.5f));
      b[i].qs[j] = uint8_t(q0 | (q1 << 4));
    }
  }
}

void quantize_row_q4_1_ref(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_1*>(dst);
  for (int64_t i = 0, nb = n_blocks(n, kQK32); i < nb; ++i, src += kQK32) {
    float min, max;
    block_min_max(src, kQK32, &min, &max);
    const float d = (max - min) / 15;
    const float id = d ? 1.0f / d : 0.0f;
    b[i].d = f32_to_f16(d);
    b[i].m = f32_to_f16(min);
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(15, int((src[j] - min) * id + 0.5f));
      const int q1 = std::min(15, int((src[j + 16] - min) * id + 0.5f));
      b[i].qs[j] = uint8_t(q0 | (q1 << 4));
    }
  }
}

void quantize_row_q5_0_ref(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ5_0*>(dst);
  for (int64_t i = 0, nb = n_blocks(n, kQK32); i < nb; ++i, src += kQK32) {
    const float d = block_signed_max(src, kQK32) / -16;
    const float id = d ? 1.0f / d : 0.0f;
    b[i].d = f32_to_f16(d);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(31, int(src[j] * id + 16.5f));
      const int q1 = std::min(31, int(src[j + 16] * id + 16.5f));
      b[i].qs[j] = uint8_t((q0 & 0xf) | ((q1 & 0xf) << 4));
      qh |= uint32_t(q0 >> 4) << j;
      qh |= uint32_t(q1 >> 4) << (j + 16);
    }
    std::memcpy(b[i].qh, &qh, 4);
  }
}

void quantize_row_q5_1_ref(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ5_1*>(dst);
  for (int64_t i = 0, nb = n_blocks(n, kQK32); i < nb; ++i, src += kQK32) {
    float min, max;
    block_min_max(src, kQK32, &min, &max);
    const float d = (max - min) / 31;
    const float id = d ? 1.0f / d : 0.0f;
    b[i].d = f32_to_f16(d);
    b[i].m = f32_to_f16(min);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      // (x - min) * id <= 31 up to rounding; the clamp guards the last ulp.
      const int q0 = std::min(31, int((src[j] - min) * id + 0.5f));
      const int q1 = std::min(31, int((src[j + 16] - min) * id + 0.5f));
      b[i].qs[j] = uint8_t((q0 & 0xf) | ((q1 & 0xf) << 4));
      qh |= uint32_t(q0 >> 4) << j;
      qh |= uint32_t(q1 >> 4) << (j + 16);
    }
    std::memcpy(b[i].qh, &qh, 4);
  }
}

void quantize_row_q8_0_ref(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0, nb = n_blocks(n, kQK32); i < nb; ++i, src += kQK32) {
    float amax = 0;
    for (int j = 0; j < kQK32; ++j) amax = std::max(amax, std::fabs(src[j]));
    const float d = amax / 127;
    const float id = d ? 1.0f / d : 0.0f;
    b[i].d = f32_to_f16(d);
    for (int j = 0; j < kQK32; ++j) b[i].qs[j] = int8_t(std::round(src[j] * id));
  }
}

void quantize_row_q8_1_ref(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0, nb = n_blocks(n, kQK32); i < nb; ++i, src += kQK32) {
    float amax = 0;
    for (int j = 0; j < kQK32; ++j) amax = std::max(amax, std::fabs(src[j]));
    const float d = amax / 127;
    const float id = d ? 1.0f / d : 0.0f;
    b[i].d = f32_to_f16(d);
    int sum = 0;
    for (int j = 0; j < kQK32; ++j) {
      b[i].qs[j] = int8_t(std::round(src[j] * id));
      sum += b[i].qs[j];
    }
    b[i].s = f32_to_f16(float(sum) * d);
  }
}

}  // namespace ds
