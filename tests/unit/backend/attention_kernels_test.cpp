// The attention kernels (attn_scores, attn_values, exp_shifted_sum, and the variants over a
// BF16 cache) on every ISA this CPU supports against float64 sums and the scalar table, over
// head counts and widths that leave every kind of tail (groups of 4 heads, 16/8-float
// vectors, 32/16-value bf16 chunks, 64-column blocks).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/kernels.h"
#include "core/dtype.h"
#include "quant/quant.h"

namespace ds {
namespace {

class AttentionKernelTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!isa_supported(GetParam()))
      GTEST_SKIP() << isa_name(GetParam()) << " not supported by this CPU";
  }
  const CpuKernels& k() const { return cpu_kernels_for(GetParam()); }
};

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

TEST_P(AttentionKernelTest, ScoresMatchFloat64) {
  for (int64_t w : {1, 7, 13, 16, 80, 100, 576})
    for (int64_t nh : {1, 2, 3, 4, 5, 7, 9, 16, 27})
      for (int64_t len : {1, 5, 37}) {
        const int64_t qs = w + 3, ks = w + 2, os = len + 4;  // nothing needs to be packed
        const auto q = random_floats(size_t(nh * qs), 1), kv = random_floats(size_t(len * ks), 2);
        std::vector<float> out(size_t(nh * os), -7.0f);
        k().attn_scores(q.data(), qs, nh, kv.data(), ks, len, w, 0.125f, out.data(), os);
        for (int64_t h = 0; h < nh; ++h)
          for (int64_t s = 0; s < len; ++s) {
            double ref = 0, mag = 0;
            for (int64_t i = 0; i < w; ++i) {
              ref += double(q[size_t(h * qs + i)]) * kv[size_t(s * ks + i)];
              mag += std::fabs(double(q[size_t(h * qs + i)]) * kv[size_t(s * ks + i)]);
            }
            ASSERT_NEAR(out[size_t(h * os + s)], 0.125 * ref, 0.125 * mag * 1e-6 + 1e-7)
                << "w " << w << " nh " << nh << " len " << len << " h " << h << " s " << s;
          }
        for (int64_t h = 0; h < nh; ++h)  // the padding between rows is left alone
          for (int64_t s = len; s < os; ++s) ASSERT_EQ(out[size_t(h * os + s)], -7.0f);
      }
}

TEST_P(AttentionKernelTest, ValuesAccumulateLikeFloat64) {
  for (int64_t r : {1, 5, 8, 13, 16, 17, 64, 72, 100, 512})
    for (int64_t nh : {1, 2, 3, 4, 6, 8, 11, 16})
      for (int64_t len : {1, 3, 40}) {
        const int64_t ps = len + 1, ks = r + 16, us = r + 2;
        const auto p = random_floats(size_t(nh * ps), 3), kv = random_floats(size_t(len * ks), 4);
        const auto u0 = random_floats(size_t(nh * us), 5);
        auto u = u0;
        k().attn_values(p.data(), ps, nh, kv.data(), ks, len, r, u.data(), us);
        for (int64_t h = 0; h < nh; ++h) {
          for (int64_t j = 0; j < r; ++j) {
            double ref = u0[size_t(h * us + j)], mag = std::fabs(ref);
            for (int64_t s = 0; s < len; ++s) {
              ref += double(p[size_t(h * ps + s)]) * kv[size_t(s * ks + j)];
              mag += std::fabs(double(p[size_t(h * ps + s)]) * kv[size_t(s * ks + j)]);
            }
            ASSERT_NEAR(u[size_t(h * us + j)], ref, mag * 1e-6 + 1e-7)
                << "r " << r << " nh " << nh << " len " << len << " h " << h << " j " << j;
          }
          for (int64_t j = r; j < us; ++j)
            ASSERT_EQ(u[size_t(h * us + j)], u0[size_t(h * us + j)]) << "wrote past r";
        }
      }
}

// bf16 cache rows: random values rounded to bf16, with NaN in the padding after the first
// `w` of each row of `stride` (a kernel that reads past the row's width poisons its result).
std::vector<uint16_t> random_bf16_rows(int64_t rows, int64_t w, int64_t stride, uint32_t seed) {
  const auto f = random_floats(size_t(rows * stride), seed);
  std::vector<uint16_t> v(f.size());
  for (int64_t s = 0; s < rows; ++s)
    for (int64_t i = 0; i < stride; ++i)
      v[size_t(s * stride + i)] = i < w ? f32_to_bf16(f[size_t(s * stride + i)]) : uint16_t(0x7fc0);
  return v;
}

TEST_P(AttentionKernelTest, Bf16ScoresMatchFloat64AndScalar) {
  for (int64_t w : {1, 7, 13, 16, 17, 31, 32, 33, 80, 100, 576})
    for (int64_t nh : {1, 2, 3, 4, 5, 7, 9, 16, 27})
      for (int64_t len : {1, 2, 5, 37}) {
        const int64_t qs = w + 3, ks = w + 5, os = len + 4;
        const auto q = random_floats(size_t(nh * qs), 1);
        const auto kv = random_bf16_rows(len, w, ks, 2);
        std::vector<float> out(size_t(nh * os), -7.0f), ref_out(size_t(nh * os), -7.0f);
        k().attn_scores_bf16(q.data(), qs, nh, kv.data(), ks, len, w, 0.125f, out.data(), os);
        kernels_scalar().attn_scores_bf16(q.data(), qs, nh, kv.data(), ks, len, w, 0.125f,
                                          ref_out.data(), os);
        for (int64_t h = 0; h < nh; ++h)
          for (int64_t s = 0; s < len; ++s) {
            double ref = 0, mag = 0;
            for (int64_t i = 0; i < w; ++i) {
              const double x = double(q[size_t(h * qs + i)]) * bf16_to_f32(kv[size_t(s * ks + i)]);
              ref += x;
              mag += std::fabs(x);
            }
            const float got = out[size_t(h * os + s)];
            ASSERT_NEAR(got, 0.125 * ref, 0.125 * mag * 1e-6 + 1e-7)
                << "w " << w << " nh " << nh << " len " << len << " h " << h << " s " << s;
            ASSERT_NEAR(got, ref_out[size_t(h * os + s)], 0.125 * mag * 2e-6 + 1e-7)
                << "vs scalar: w " << w << " nh " << nh << " len " << len;
          }
        for (int64_t h = 0; h < nh; ++h)
          for (int64_t s = len; s < os; ++s) ASSERT_EQ(out[size_t(h * os + s)], -7.0f);
      }
}

TEST_P(AttentionKernelTest, Bf16ValuesMatchFloat64AndScalar) {
  for (int64_t r : {1, 5, 8, 13, 16, 17, 31, 32, 33, 48, 64, 72, 100, 512})
    for (int64_t nh : {1, 2, 3, 4, 6, 8, 11, 16})
      for (int64_t len : {1, 3, 40}) {
        const int64_t ps = len + 1, ks = r + 19, us = r + 2;
        const auto p = random_floats(size_t(nh * ps), 3);
        const auto kv = random_bf16_rows(len, r, ks, 4);
        const auto u0 = random_floats(size_t(nh * us), 5);
        auto u = u0, u_ref = u0;
        k().attn_values_bf16(p.data(), ps, nh, kv.data(), ks, len, r, u.data(), us);
        kernels_scalar().attn_values_bf16(p.data(), ps, nh, kv.data(), ks, len, r, u_ref.data(),
                                          us);
        for (int64_t h = 0; h < nh; ++h) {
          for (int64_t j = 0; j < r; ++j) {
            double ref = u0[size_t(h * us + j)], mag = std::fabs(ref);
            for (int64_t s = 0; s < len; ++s) {
              const double x = double(p[size_t(h * ps + s)]) * bf16_to_f32(kv[size_t(s * ks + j)]);
              ref += x;
              mag += std::fabs(x);
            }
            const float got = u[size_t(h * us + j)];
            ASSERT_NEAR(got, ref, mag * 1e-6 + 1e-7)
                << "r " << r << " nh " << nh << " len " << len << " h " << h << " j " << j;
            ASSERT_NEAR(got, u_ref[size_t(h * us + j)], mag * 2e-6 + 1e-7)
                << "vs scalar: r " << r << " nh " << nh << " len " << len << " j " << j;
          }
          for (int64_t j = r; j < us; ++j)
            ASSERT_EQ(u[size_t(h * us + j)], u0[size_t(h * us + j)]) << "wrote past r";
        }
      }
}

// On a cache of bf16 values the bf16 kernels and the f32 kernels on the widened cache sum the
// same products: they agree to float rounding.
TEST_P(AttentionKernelTest, Bf16KernelsAgreeWithF32KernelsOnWidenedCache) {
  const int64_t nh = 8, len = 64, W = 576, rkv = 512;
  const auto q = random_floats(size_t(nh * W), 6);
  const auto kv = random_bf16_rows(len, W, W, 7);
  std::vector<float> wide(kv.size());
  for (size_t i = 0; i < kv.size(); ++i) wide[i] = bf16_to_f32(kv[i]);
  std::vector<float> s16(size_t(nh * len)), s32(size_t(nh * len));
  k().attn_scores_bf16(q.data(), W, nh, kv.data(), W, len, W, 0.1f, s16.data(), len);
  k().attn_scores(q.data(), W, nh, wide.data(), W, len, W, 0.1f, s32.data(), len);
  for (size_t i = 0; i < s16.size(); ++i) ASSERT_NEAR(s16[i], s32[i], 1e-4f) << i;
  std::vector<float> u16(size_t(nh * rkv), 0.0f), u32(size_t(nh * rkv), 0.0f);
  k().attn_values_bf16(q.data(), len, nh, kv.data(), W, len, rkv, u16.data(), rkv);
  k().attn_values(q.data(), len, nh, wide.data(), W, len, rkv, u32.data(), rkv);
  for (size_t i = 0; i < u16.size(); ++i) ASSERT_NEAR(u16[i], u32[i], 1e-4f) << i;
}

// attend_bf16 (a whole pass: scores, online softmax over tiles of 256, values) against
// float64, over head counts that leave partial groups of 16, widths and lengths that leave
// partial blocks of 32 and partial tiles, score ranges where the −87 cut-off applies, and a
// cache whose rows past len are NaN (they must not be read into the results).
void check_whole_bf16_pass(const CpuKernels& k) {
  struct Shape {
    int64_t w, r;
  };
  for (const Shape sh : {Shape{32, 32}, Shape{64, 32}, Shape{576, 512}})
    for (int64_t nh : {1, 5, 16, 17, 33})
      for (int64_t len : {1, 7, 31, 32, 33, 256, 300, 600})
        for (float scale : {0.05f, 1.0f}) {
          if (sh.w == 576 && nh > 17 && len > 300) continue;  // keeps the test fast
          const int64_t w = sh.w, r = sh.r;
          const auto q = random_floats(size_t(nh * w), uint32_t(len + nh));
          auto kv = random_bf16_rows(len + 40, w, w, uint32_t(w + len));
          std::fill(kv.begin() + len * w, kv.end(), uint16_t(0x7fc0));  // NaN past len
          std::vector<float> u(size_t(nh * r), -7.0f), mx(size_t(nh), -7.0f),
              sum(size_t(nh), -7.0f);
          k.attend_bf16(q.data(), nh, kv.data(), w, r, len, scale, u.data(), mx.data(), sum.data());
          for (int64_t h = 0; h < nh; ++h) {
            std::vector<double> sc(static_cast<size_t>(len)), mag(static_cast<size_t>(len));
            double m = -INFINITY;
            for (int64_t s = 0; s < len; ++s) {
              double acc = 0, a = 0;
              for (int64_t i = 0; i < w; ++i) {
                const double x = double(q[size_t(h * w + i)]) * bf16_to_f32(kv[size_t(s * w + i)]);
                acc += x;
                a += std::fabs(x);
              }
              sc[size_t(s)] = scale * acc;
              mag[size_t(s)] = scale * a;
              m = std::max(m, sc[size_t(s)]);
            }
            // A score is within 1e-6 of its magnitude, so exp(score − max) within about that
            // (relative) of the float64 value, for each position.
            double max_mag = 0;
            for (double x : mag) max_mag = std::max(max_mag, x);
            const double ds = 2e-6 * max_mag + 1e-6;
            ASSERT_NEAR(mx[size_t(h)], m, ds)
                << "w " << w << " nh " << nh << " len " << len << " h " << h;
            std::vector<double> p(static_cast<size_t>(len));
            double denom = 0;
            for (int64_t s = 0; s < len; ++s) {
              const double d = sc[size_t(s)] - mx[size_t(h)];
              p[size_t(s)] = d < -87 ? 0.0 : std::exp(d);
              denom += p[size_t(s)];
            }
            ASSERT_NEAR(sum[size_t(h)], denom, denom * (2 * ds + 1e-6))
                << "w " << w << " nh " << nh << " len " << len << " h " << h;
            for (int64_t j = 0; j < r; ++j) {
              double ref = 0, a = 0;
              for (int64_t s = 0; s < len; ++s) {
                const double x = p[size_t(s)] * bf16_to_f32(kv[size_t(s * w + j)]);
                ref += x;
                a += std::fabs(x);
              }
              ASSERT_NEAR(u[size_t(h * r + j)], ref, a * (2 * ds + 1e-6) + 1e-30)
                  << "w " << w << " nh " << nh << " len " << len << " scale " << scale << " h " << h
                  << " j " << j;
            }
          }
        }
}

// (The tables that have one: amx on CPUs with AMX-BF16.)
TEST(AttendBf16Test, WholePassMatchesFloat64) {
  int tables = 0;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAmx})
    if (isa_supported(isa) && cpu_kernels_for(isa).attend_bf16) {
      ++tables;
      check_whole_bf16_pass(cpu_kernels_for(isa));
    }
  if (tables == 0) GTEST_SKIP() << "no kernel table of this CPU has attend_bf16";
}

TEST_P(AttentionKernelTest, ExpShiftedSumMatchesExp) {
  for (int64_t n : {1, 7, 8, 15, 16, 17, 100, 257}) {
    std::vector<float> x(static_cast<size_t>(n));
    std::mt19937 g{static_cast<uint32_t>(n)};
    std::uniform_real_distribution<float> d(-100.0f, 0.0f);
    for (auto& v : x) v = d(g);
    x[0] = 0.0f;               // the max itself: exp(0) = 1
    if (n > 2) x[1] = -87.5f;  // below the cut: exactly 0
    const auto in = x;
    const float m = 0.0f;
    const float sum = k().exp_shifted_sum(x.data(), n, m);
    double ref_sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double d_i = double(in[size_t(i)]) - m;
      const double ref = d_i < -87.0 ? 0.0 : std::exp(d_i);
      ref_sum += ref;
      ASSERT_NEAR(x[size_t(i)], ref, ref * 3e-7 + 1e-38) << "n " << n << " x " << in[size_t(i)];
    }
    EXPECT_EQ(x[0], 1.0f);
    if (n > 2) {
      EXPECT_EQ(x[1], 0.0f);
    }
    EXPECT_NEAR(sum, ref_sum, ref_sum * 1e-6);
  }
  // Arguments spread around zero (m below the max is allowed too).
  std::vector<float> y = {-3.0f, -0.5f, 0.0f, 0.25f, 2.0f, 10.0f, -20.0f, 1e-3f, -1e-3f};
  const auto in = y;
  k().exp_shifted_sum(y.data(), int64_t(y.size()), 0.0f);
  for (size_t i = 0; i < y.size(); ++i)
    EXPECT_NEAR(y[i], std::exp(double(in[i])), std::exp(double(in[i])) * 3e-7);
}

TEST_P(AttentionKernelTest, SiluMulMatchesReference) {
  for (int64_t n : {1, 7, 8, 15, 16, 17, 100, 257}) {
    std::mt19937 g{static_cast<uint32_t>(n) + 9};
    std::uniform_real_distribution<float> d(-12.0f, 12.0f);
    std::vector<float> gate(static_cast<size_t>(n)), up(static_cast<size_t>(n));
    for (auto& v : gate) v = d(g);
    for (auto& v : up) v = d(g);
    gate[0] = -100.0f;            // far below: silu → −0
    if (n > 1) gate[1] = 100.0f;  // far above: silu → g
    const auto in = gate;
    k().silu_mul(gate.data(), up.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const double x = in[size_t(i)];
      const double ref = x / (1.0 + std::exp(-x)) * up[size_t(i)];
      ASSERT_NEAR(gate[size_t(i)], ref, std::fabs(ref) * 1e-6 + 1e-30) << "n " << n << " x " << x;
    }
  }
}

// Widening an 8-bit cache: every table gives dequantize_row_q8_0's values bit for bit
// (products of an f16 scale and an int8 are exact in f32), for block counts that leave every
// kind of tail, with extreme quants and scales.
TEST_P(AttentionKernelTest, Q8CacheWidensExactly) {
  for (int64_t nb : {1, 2, 3, 18, 37}) {
    const auto x = random_floats(size_t(nb * 32), uint32_t(nb) + 3);
    std::vector<BlockQ8_0> b(static_cast<size_t>(nb));
    quantize_row_q8_0_ref(x.data(), b.data(), nb * 32);
    b[0].qs[0] = -127;
    b[0].qs[31] = 127;
    b[nb - 1].d = f32_to_f16(65504.0f);  // the largest f16 scale
    std::vector<float> ref(size_t(nb * 32)), got(size_t(nb * 32), std::nanf(""));
    dequantize_row_q8_0(b.data(), ref.data(), nb * 32);
    k().q8_0_to_f32(b.data(), got.data(), nb);
    for (size_t i = 0; i < ref.size(); ++i) ASSERT_EQ(got[i], ref[i]) << "nb " << nb << " i " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, AttentionKernelTest, ::testing::ValuesIn(built_isas()),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

}  // namespace
}  // namespace ds
