// Every SIMD kernel against the scalar reference, on every ISA this CPU supports.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/kernels.h"
#include "core/dtype.h"

namespace ds {
namespace {

class KernelsTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!isa_supported(GetParam()))
      GTEST_SKIP() << isa_name(GetParam()) << " not supported by this CPU";
  }
  const CpuKernels& k() const { return cpu_kernels_for(GetParam()); }
  const CpuKernels& ref() const { return kernels_scalar(); }
};

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

TEST_P(KernelsTest, DotAndAxpyMatchScalar) {
  for (int64_t n : {1, 7, 8, 15, 16, 17, 31, 32, 33, 100, 1000}) {
    auto a = random_floats(size_t(n), 1), b = random_floats(size_t(n), 2);
    double exact = 0;
    for (int64_t i = 0; i < n; ++i) exact += double(a[size_t(i)]) * b[size_t(i)];
    // Tolerance: fp32 accumulation over n terms of unit variance.
    EXPECT_NEAR(k().dot_f32(a.data(), b.data(), n), exact, 1e-5 * std::sqrt(double(n)) * 4) << n;
    auto y1 = random_floats(size_t(n), 3), y2 = y1;
    k().axpy_f32(0.7f, a.data(), y1.data(), n);
    ref().axpy_f32(0.7f, a.data(), y2.data(), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(y1[size_t(i)], y2[size_t(i)], 1e-6f) << n;
  }
}

TEST_P(KernelsTest, ConversionsAreExact) {
  const int64_t n = 1000;
  std::vector<uint16_t> h(static_cast<size_t>(n));
  std::vector<uint8_t> q(static_cast<size_t>(n));
  std::mt19937 g(7);
  for (auto& x : h) x = uint16_t(g());
  for (auto& x : q) x = uint8_t(g());
  std::vector<float> out(static_cast<size_t>(n)), want(static_cast<size_t>(n));
  auto same = [&](const char* what) {
    for (int64_t i = 0; i < n; ++i) {
      if (std::isnan(want[size_t(i)])) {
        EXPECT_TRUE(std::isnan(out[size_t(i)])) << what << " " << i;
      } else {
        ASSERT_EQ(out[size_t(i)], want[size_t(i)]) << what << " " << i;
      }
    }
  };
  k().bf16_to_f32(h.data(), out.data(), n);
  ref().bf16_to_f32(h.data(), want.data(), n);
  same("bf16");
  k().f16_to_f32(h.data(), out.data(), n);
  ref().f16_to_f32(h.data(), want.data(), n);
  same("f16");
  std::vector<float> scales = {0.5f, 2.0f, 1e-3f, 3.0f, 1.0f, 0.25f, 7.0f, 9.0f};
  k().fp8_to_f32(q.data(), out.data(), n, scales.data(), 128);
  ref().fp8_to_f32(q.data(), want.data(), n, scales.data(), 128);
  same("fp8");
}

// The amx table shares these kernels with avx512.
std::vector<Isa> tables_without_amx() {
  std::vector<Isa> v;
  for (Isa i : built_isas())
    if (i != Isa::kAmx) v.push_back(i);
  return v;
}

INSTANTIATE_TEST_SUITE_P(AllIsas, KernelsTest, ::testing::ValuesIn(tables_without_amx()),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

}  // namespace
}  // namespace ds
