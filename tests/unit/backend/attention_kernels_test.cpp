// The attention kernels (attn_scores, attn_values, exp_shifted_sum) on every ISA this CPU
// supports against float64 sums, over head counts and widths that leave every kind of tail
// (groups of 4 heads, 16/8-float vectors, 64-column blocks).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/kernels.h"

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
    for (int64_t nh : {1, 2, 3, 4, 5, 7, 9})
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
    for (int64_t nh : {1, 2, 3, 4, 6})
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

INSTANTIATE_TEST_SUITE_P(Isas, AttentionKernelTest,
                         ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

}  // namespace
}  // namespace ds
