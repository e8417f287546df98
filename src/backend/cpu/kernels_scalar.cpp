// Portable reference kernels: the ground truth every SIMD kernel is tested against.
#include "backend/cpu/kernels.h"
#include "core/dtype.h"

namespace ds {

namespace {

float dot_f32(const float* a, const float* b, int64_t n) {
  // Eight partial sums: the same association as the SIMD kernels use, and vectorisable.
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += a[i + k] * b[i + k];
  float s = 0;
  for (int k = 0; k < 8; ++k) s += acc[k];
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy_f32(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void bf16_to_f32_row(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

void f16_to_f32_row(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

void fp8_to_f32_row(const uint8_t* src, float* dst, int64_t n, const float* scales, int64_t block) {
  for (int64_t i = 0; i < n; ++i) dst[i] = fp8_e4m3_to_f32(src[i]) * scales[i / block];
}

double fma_loop(int64_t iters) {
  float a[16];
  for (int i = 0; i < 16; ++i) a[i] = float(i) * 1e-3f;
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 16; ++i) a[i] = a[i] * 0.999f + 1e-4f;
  volatile float sink = a[0] + a[15];
  (void)sink;
  return double(iters) * 16 * 2;
}

}  // namespace

const CpuKernels& kernels_scalar() {
  static const CpuKernels k{Isa::kScalar,    "scalar",       dot_f32,        axpy_f32,
                            bf16_to_f32_row, f16_to_f32_row, fp8_to_f32_row, fma_loop};
  return k;
}

}  // namespace ds
