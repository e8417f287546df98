// Portable reference kernels: the ground truth every SIMD kernel is tested against.
#include <cmath>

#include "backend/cpu/attn_compose.h"
#include "backend/cpu/kernels.h"
#include "core/dtype.h"
#include "quant/quant.h"

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

void q8_0_to_f32(const void* src, float* dst, int64_t nblocks) {
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t k = 0; k < nblocks; ++k) {
    const float d = f16_to_f32(b[k].d);
    for (int i = 0; i < 32; ++i) dst[32 * k + i] = d * float(b[k].qs[i]);
  }
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

double int8_loop(int64_t iters) {
  int32_t a[16];
  for (int i = 0; i < 16; ++i) a[i] = i;
  const int8_t w = 3, x = -2;
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 16; ++i) a[i] += int32_t(w) * int32_t(x);
  volatile int32_t sink = a[0] + a[15];
  (void)sink;
  return double(iters) * 16 * 2;
}

inline float to_f32(uint16_t v) {
  return bf16_to_f32(v);
}
inline float to_f32(float v) {
  return v;
}

template <typename W>
void dot_rows(const W* w, int64_t w_stride, int nr, const float* x, int64_t x_stride, int nt,
              int64_t n, float* y) {
  // Eight partial sums per (row, token), as dot_f32.
  for (int r = 0; r < nr; ++r) {
    const W* wr = w + r * w_stride;
    for (int t = 0; t < nt; ++t) {
      const float* xt = x + t * x_stride;
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t i = 0;
      for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; ++k) acc[k] += to_f32(wr[i + k]) * xt[i + k];
      float s = 0;
      for (int k = 0; k < 8; ++k) s += acc[k];
      for (; i < n; ++i) s += to_f32(wr[i]) * xt[i];
      y[r * kMaxRowTokens + t] = s;
    }
  }
}

void dot_bf16_f32(const uint16_t* w, int64_t w_stride, int nr, const float* x, int64_t x_stride,
                  int nt, int64_t n, float* y) {
  dot_rows(w, w_stride, nr, x, x_stride, nt, n, y);
}

void dot_f32_rows(const float* w, int64_t w_stride, int nr, const float* x, int64_t x_stride,
                  int nt, int64_t n, float* y) {
  dot_rows(w, w_stride, nr, x, x_stride, nt, n, y);
}

// The quantised row kernels are the reference dot products of src/quant, once per token.
template <VecDotFn kDot>
void vec_dot_rows(const void* w, const void* a, int64_t a_stride, int nt, int64_t n, float* y) {
  for (int t = 0; t < nt; ++t) y[t] = kDot(w, static_cast<const uint8_t*>(a) + t * a_stride, n);
}

void attn_scores_bf16(const float* q, int64_t qs, int64_t nh, const uint16_t* kv, int64_t ks,
                      int64_t len, int64_t w, float scale, float* out, int64_t os) {
  for (int64_t h = 0; h < nh; ++h)
    for (int64_t s = 0; s < len; ++s) {
      const float* qh = q + h * qs;
      const uint16_t* k = kv + s * ks;
      // Eight partial sums, as dot_f32.
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t i = 0;
      for (; i + 8 <= w; i += 8)
        for (int j = 0; j < 8; ++j) acc[j] += qh[i + j] * bf16_to_f32(k[i + j]);
      float d = 0;
      for (int j = 0; j < 8; ++j) d += acc[j];
      for (; i < w; ++i) d += qh[i] * bf16_to_f32(k[i]);
      out[h * os + s] = scale * d;
    }
}

void attn_values_bf16(const float* p, int64_t ps, int64_t nh, const uint16_t* kv, int64_t ks,
                      int64_t len, int64_t r, float* u, int64_t us) {
  for (int64_t h = 0; h < nh; ++h)
    for (int64_t s = 0; s < len; ++s) {
      const float a = p[h * ps + s];
      const uint16_t* k = kv + s * ks;
      float* uh = u + h * us;
      for (int64_t j = 0; j < r; ++j) uh[j] += a * bf16_to_f32(k[j]);
    }
}

float exp_shifted_sum(float* x, int64_t n, float m) {
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float d = x[i] - m;
    x[i] = d < -87.0f ? 0.0f : std::exp(d);
    sum += x[i];
  }
  return sum;
}

void silu_mul(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

}  // namespace

const CpuKernels& kernels_scalar() {
  static const CpuKernels k{Isa::kScalar,
                            "scalar",
                            dot_f32,
                            axpy_f32,
                            bf16_to_f32_row,
                            f16_to_f32_row,
                            fp8_to_f32_row,
                            fma_loop,
                            dot_bf16_f32,
                            dot_f32_rows,
                            vec_dot_rows<vec_dot_q8_0_q8_0>,
                            vec_dot_rows<vec_dot_q5_0_q8_0>,
                            vec_dot_rows<vec_dot_q4_K_q8_K>,
                            vec_dot_rows<vec_dot_q6_K_q8_K>,
                            quantize_row_q8_K_ref,
                            false,
                            gemm_tile_ref,
                            255,
                            nullptr,
                            gemm_tile_unpack_none,
                            64,
                            nullptr,
                            quantize_act_tile,
                            int8_loop,
                            attn_scores_by<float, dot_f32>,
                            attn_values_by<float, axpy_f32>,
                            exp_shifted_sum,
                            silu_mul,
                            attn_scores_bf16,
                            attn_values_bf16,
                            nullptr,
                            nullptr,
                            nullptr,
                            q8_0_to_f32,
                            nullptr,
                            nullptr,
                            nullptr,
                            nullptr,
                            vec_dot_rows<vec_dot_q2_K_q8_K>,
                            vec_dot_rows<vec_dot_q3_K_q8_K>,
                            nullptr,
                            nullptr};
  return k;
}

}  // namespace ds
