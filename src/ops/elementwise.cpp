#include <algorithm>
#include <cmath>

#include "backend/cpu/kernels.h"
#include "ops/ops.h"

namespace ds {

void rms_norm(const float* x, const float* weight, int64_t n, double eps, float* out) {
  // Accumulate in double: the reference computes the mean of squares in fp32 over at most a
  // few thousand values, and double keeps us on the right side of it.
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * x[i];
  const float inv = float(1.0 / std::sqrt(ss / double(n) + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inv * weight[i];
}

void softmax(float* x, int64_t n) {
  const float mx = *std::max_element(x, x + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = float(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void silu_mul(float* gate, const float* up, int64_t n) {
  cpu_kernels().silu_mul(gate, up, n);
}

}  // namespace ds
