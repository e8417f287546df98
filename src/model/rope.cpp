// RoPE with YaRN, interleaved pairs (architecture doc, "RoPE with YaRN").
#include <cmath>

#include "model/forward.h"

namespace ds {

void rope_table(const Model& m, const int64_t* pos, int64_t n, float* cos_sin) {
  const int64_t half = int64_t(m.rope_inv_freq.size());
  for (int64_t t = 0; t < n; ++t) {
    const float p = float(pos[t]);
    for (int64_t j = 0; j < half; ++j) {
      const float angle = p * m.rope_inv_freq[size_t(j)];  // fp32, as the reference computes it
      cos_sin[(t * half + j) * 2] = float(std::cos(double(angle))) * m.rope_attn_factor;
      cos_sin[(t * half + j) * 2 + 1] = float(std::sin(double(angle))) * m.rope_attn_factor;
    }
  }
}

void rope_apply(float* x, const float* cos_sin, int64_t dr) {
  for (int64_t j = 0; j < dr / 2; ++j) {
    const float c = cos_sin[2 * j], s = cos_sin[2 * j + 1];
    const float a = x[2 * j], b = x[2 * j + 1];
    x[2 * j] = a * c - b * s;
    x[2 * j + 1] = a * s + b * c;
  }
}

}  // namespace ds
