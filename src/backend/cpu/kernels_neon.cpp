// AArch64 kernel table: the scalar table with NEON versions of the kernels that decode spends
// its time in: dot products and rows of F32/BF16 weights, the attention kernels over F32,
// BF16 and 8-bit caches, and the Q8_0 / Q4_K / Q6_K row kernels (baseline NEON: 8-bit products
// widened with vmull_s8 and summed pairwise, as exact as the scalar references' integer sums;
// the ARMv8.2 dot-product instructions would need a run-time check and are not used). Q5_0
// rows and the integer GEMM tiles keep the portable versions of kernels_scalar.cpp. Built only
// for AArch64, where NEON (Advanced SIMD) is part of the base architecture.
#if defined(__aarch64__)

#include <arm_neon.h>

#include "backend/cpu/attn_compose.h"
#include "backend/cpu/kernels.h"
#include "core/dtype.h"
#include "quant/blocks.h"
#include "quant/quant_internal.h"

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

// acc += pairwise sums of the 16 products a[i]·b[i] (each fits 16 bits: |a|, |b| ≤ 128).
inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
  acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
  return vpadalq_s16(acc, vmull_high_s8(a, b));
}

float dot_q8_0(const BlockQ8_0* a, const BlockQ8_0* b, int64_t nb) {
  float sum = 0;
  for (int64_t i = 0; i < nb; ++i) {
    int32x4_t acc = dot16(vdupq_n_s32(0), vld1q_s8(a[i].qs), vld1q_s8(b[i].qs));
    acc = dot16(acc, vld1q_s8(a[i].qs + 16), vld1q_s8(b[i].qs + 16));
    sum += float(vaddvq_s32(acc)) * (f16_to_f32(a[i].d) * f16_to_f32(b[i].d));
  }
  return sum;
}

float dot_q4_K(const BlockQ4_K* a, const BlockQ8_K* b, int64_t nb) {
  const uint8x16_t m4 = vdupq_n_u8(0x0f);
  float sum = 0;
  for (int64_t i = 0; i < nb; ++i) {
    int sumi = 0, sum_mins = 0;
    for (int j = 0; j < 4; ++j) {  // 32 bytes of nibbles: groups 2j (low) and 2j + 1 (high)
      const uint8x16_t q0 = vld1q_u8(a[i].qs + 32 * j), q1 = vld1q_u8(a[i].qs + 32 * j + 16);
      const int8_t* y = b[i].qs + 64 * j;
      int32x4_t lo = dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(vandq_u8(q0, m4)), vld1q_s8(y));
      lo = dot16(lo, vreinterpretq_s8_u8(vandq_u8(q1, m4)), vld1q_s8(y + 16));
      int32x4_t hi =
          dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), vld1q_s8(y + 32));
      hi = dot16(hi, vreinterpretq_s8_u8(vshrq_n_u8(q1, 4)), vld1q_s8(y + 48));
      for (int h = 0; h < 2; ++h) {
        const int g = 2 * j + h;
        uint8_t sc, m;
        quant_detail::unpack_k4_scale_min(a[i].scales, g, &sc, &m);
        sum_mins += m * (b[i].bsums[2 * g] + b[i].bsums[2 * g + 1]);
        sumi += sc * vaddvq_s32(h ? hi : lo);
      }
    }
    const float d = f16_to_f32(a[i].d) * b[i].d, dmin = f16_to_f32(a[i].dmin) * b[i].d;
    sum += d * float(sumi) - dmin * float(sum_mins);
  }
  return sum;
}

float dot_q6_K(const BlockQ6_K* a, const BlockQ8_K* b, int64_t nb) {
  const uint8x16_t m4 = vdupq_n_u8(0x0f), m2 = vdupq_n_u8(0x03);
  const int8x16_t off = vdupq_n_s8(32);
  float sum = 0;
  for (int64_t i = 0; i < nb; ++i) {
    int sumi = 0;
    // Element 128h + 32k + p: low 4 bits from ql[64h + 32(k % 2) + p] (shifted by 4 for
    // k ≥ 2), high 2 bits from qh[32h + p] >> 2k; groups of 16 share a scale.
    for (int h = 0; h < 2; ++h)
      for (int k = 0; k < 4; ++k)
        for (int half = 0; half < 2; ++half) {
          const int p = 16 * half;
          const uint8x16_t l = vld1q_u8(a[i].ql + 64 * h + 32 * (k % 2) + p);
          const uint8x16_t lo = k < 2 ? vandq_u8(l, m4) : vshrq_n_u8(l, 4);
          const uint8x16_t hb = vld1q_u8(a[i].qh + 32 * h + p);
          uint8x16_t hi;
          switch (k) {
            case 0:
              hi = vandq_u8(hb, m2);
              break;
            case 1:
              hi = vandq_u8(vshrq_n_u8(hb, 2), m2);
              break;
            case 2:
              hi = vandq_u8(vshrq_n_u8(hb, 4), m2);
              break;
            default:
              hi = vshrq_n_u8(hb, 6);
              break;
          }
          const int8x16_t q = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo, vshlq_n_u8(hi, 4))), off);
          const int e = 128 * h + 32 * k + p;
          sumi += a[i].scales[e / 16] * vaddvq_s32(dot16(vdupq_n_s32(0), q, vld1q_s8(b[i].qs + e)));
        }
    sum += f16_to_f32(a[i].d) * b[i].d * float(sumi);
  }
  return sum;
}

void vec_dot_q8_0_q8_0(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                       float* y) {
  for (int t = 0; t < nt; ++t)
    y[t] = dot_q8_0(
        static_cast<const BlockQ8_0*>(w),
        reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(a) + t * a_stride), n / 32);
}

void vec_dot_q4_K_q8_K(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                       float* y) {
  for (int t = 0; t < nt; ++t)
    y[t] = dot_q4_K(
        static_cast<const BlockQ4_K*>(w),
        reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a) + t * a_stride), n / 256);
}

void vec_dot_q6_K_q8_K(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                       float* y) {
  for (int t = 0; t < nt; ++t)
    y[t] = dot_q6_K(
        static_cast<const BlockQ6_K*>(w),
        reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a) + t * a_stride), n / 256);
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
    t.attn_scores = attn_scores_by<float, dot_f32>;
    t.attn_values = attn_values_by<float, axpy_f32>;
    t.attn_scores_bf16 = attn_scores_by<uint16_t, dot_bf16>;
    t.attn_values_bf16 = attn_values_by<uint16_t, axpy_bf16>;
    t.q8_0_to_f32 = q8_0_to_f32;
    t.vec_dot_q8_0_q8_0 = vec_dot_q8_0_q8_0;
    t.vec_dot_q4_K_q8_K = vec_dot_q4_K_q8_K;
    t.vec_dot_q6_K_q8_K = vec_dot_q6_K_q8_K;
    return t;
  }();
  return k;
}

}  // namespace ds

#endif  // __aarch64__
