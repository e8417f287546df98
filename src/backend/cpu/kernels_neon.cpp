// AArch64 kernel table: the scalar table with NEON versions of the float kernels that decode
// spends its time in (dot products and rows of F32/BF16 weights, the attention kernels over
// F32, BF16 and 8-bit caches). The quantised row kernels and the integer GEMM tiles keep the
// portable versions of kernels_scalar.cpp. Built only for AArch64, where NEON (Advanced SIMD)
// is part of the base architecture, so no run-time check is needed.
#if defined(__aarch64__)

#include <arm_neon.h>

#include "backend/cpu/kernels.h"
#include "core/dtype.h"
#include "quant/blocks.h"

namespace ds {

namespace {

inline float32x4_t bf16x4(const uint16_t* p) {
  return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

// Σ a[i]·b(i) over n values, with four 4-lane accumulators and the tail in scalar order: the
// same association for every caller, so a result does not depend on how rows were blocked.
template <class LoadB, class ScalarB>
inline float dot4(const float* a, int64_t n, LoadB load_b, ScalarB scalar_b) {
  float32x4_t acc0 = vdupq_n_f32(0), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), load_b(i));
    acc1 = vfmaq_f32(acc1, vld1q_f32(a + i + 4), load_b(i + 4));
    acc2 = vfmaq_f32(acc2, vld1q_f32(a + i + 8), load_b(i + 8));
    acc3 = vfmaq_f32(acc3, vld1q_f32(a + i + 12), load_b(i + 12));
  }
  for (; i + 4 <= n; i += 4) acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), load_b(i));
  float s = vaddvq_f32(vaddq_f32(vaddq_f32(acc0, acc1), vaddq_f32(acc2, acc3)));
  for (; i < n; ++i) s += a[i] * scalar_b(i);
  return s;
}

float dot_f32(const float* a, const float* b, int64_t n) {
  return dot4(
      a, n, [b](int64_t i) { return vld1q_f32(b + i); }, [b](int64_t i) { return b[i]; });
}

float dot_bf16(const float* a, const uint16_t* b, int64_t n) {
  return dot4(
      a, n, [b](int64_t i) { return bf16x4(b + i); }, [b](int64_t i) { return bf16_to_f32(b[i]); });
}

void axpy_f32(float a, const float* x, float* y, int64_t n) {
  const float32x4_t va = vdupq_n_f32(a);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_f32(vld1q_f32(y + i), va, vld1q_f32(x + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

void axpy_bf16(float a, const uint16_t* x, float* y, int64_t n) {
  const float32x4_t va = vdupq_n_f32(a);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_f32(vld1q_f32(y + i), va, bf16x4(x + i)));
  for (; i < n; ++i) y[i] += a * bf16_to_f32(x[i]);
}

void bf16_to_f32_row(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, bf16x4(src + i));
  for (; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

void dot_bf16_f32(const uint16_t* w, int64_t w_stride, int nr, const float* x, int64_t x_stride,
                  int nt, int64_t n, float* y) {
  for (int r = 0; r < nr; ++r)
    for (int t = 0; t < nt; ++t)
      y[r * kMaxRowTokens + t] = dot_bf16(x + t * x_stride, w + r * w_stride, n);
}

void dot_f32_rows(const float* w, int64_t w_stride, int nr, const float* x, int64_t x_stride,
                  int nt, int64_t n, float* y) {
  for (int r = 0; r < nr; ++r)
    for (int t = 0; t < nt; ++t)
      y[r * kMaxRowTokens + t] = dot_f32(w + r * w_stride, x + t * x_stride, n);
}

void attn_scores(const float* q, int64_t qs, int64_t nh, const float* kv, int64_t ks, int64_t len,
                 int64_t w, float scale, float* out, int64_t os) {
  for (int64_t h = 0; h < nh; ++h)
    for (int64_t s = 0; s < len; ++s) out[h * os + s] = scale * dot_f32(q + h * qs, kv + s * ks, w);
}

void attn_values(const float* p, int64_t ps, int64_t nh, const float* kv, int64_t ks, int64_t len,
                 int64_t r, float* u, int64_t us) {
  for (int64_t h = 0; h < nh; ++h)
    for (int64_t s = 0; s < len; ++s) axpy_f32(p[h * ps + s], kv + s * ks, u + h * us, r);
}

void attn_scores_bf16(const float* q, int64_t qs, int64_t nh, const uint16_t* kv, int64_t ks,
                      int64_t len, int64_t w, float scale, float* out, int64_t os) {
  for (int64_t h = 0; h < nh; ++h)
    for (int64_t s = 0; s < len; ++s)
      out[h * os + s] = scale * dot_bf16(q + h * qs, kv + s * ks, w);
}

void attn_values_bf16(const float* p, int64_t ps, int64_t nh, const uint16_t* kv, int64_t ks,
                      int64_t len, int64_t r, float* u, int64_t us) {
  for (int64_t h = 0; h < nh; ++h)
    for (int64_t s = 0; s < len; ++s) axpy_bf16(p[h * ps + s], kv + s * ks, u + h * us, r);
}

void q8_0_to_f32(const void* src, float* dst, int64_t nblocks) {
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t k = 0; k < nblocks; ++k) {
    const float32x4_t d = vdupq_n_f32(f16_to_f32(b[k].d));
    for (int i = 0; i < 32; i += 8) {
      const int16x8_t q = vmovl_s8(vld1_s8(b[k].qs + i));
      vst1q_f32(dst + 32 * k + i, vmulq_f32(d, vcvtq_f32_s32(vmovl_s16(vget_low_s16(q)))));
      vst1q_f32(dst + 32 * k + i + 4, vmulq_f32(d, vcvtq_f32_s32(vmovl_high_s16(q))));
    }
  }
}

}  // namespace

const CpuKernels& kernels_neon() {
  static const CpuKernels k = [] {
    CpuKernels t = kernels_scalar();
    t.isa = Isa::kNeon;
    t.name = "neon";
    t.dot_f32 = dot_f32;
    t.axpy_f32 = axpy_f32;
    t.bf16_to_f32 = bf16_to_f32_row;
    t.dot_bf16_f32 = dot_bf16_f32;
    t.dot_f32_rows = dot_f32_rows;
    t.attn_scores = attn_scores;
    t.attn_values = attn_values;
    t.attn_scores_bf16 = attn_scores_bf16;
    t.attn_values_bf16 = attn_values_bf16;
    t.q8_0_to_f32 = q8_0_to_f32;
    return t;
  }();
  return k;
}

}  // namespace ds

#endif  // __aarch64__
