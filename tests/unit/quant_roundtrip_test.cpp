// Round-trip quality of every reference quantiser: relative RMS error
// ||x - dequant(quant(x))|| / ||x|| on three deterministic distributions, against the bounds
// documented in docs/quant.md (measured values plus ~15-25% headroom), and exact behaviour on
// structured inputs (zeros, constants, values the format represents exactly).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "quant/quant.h"
#include "quant_test_util.h"

namespace ds {
namespace {

enum class Dist { kBell, kUniform, kOutliers };

std::vector<float> make_data(Dist dist, int64_t n, uint64_t seed) {
  quant_test::Lcg r{seed};
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i) {
    switch (dist) {
      case Dist::kBell:
        x[i] = r.bell();
        break;
      case Dist::kUniform:
        x[i] = 2 * r.uniform() - 1;
        break;
      case Dist::kOutliers:
        x[i] = r.bell() * (i % 61 == 0 ? 20.f : 1.f);
        break;
    }
  }
  return x;
}

double relative_rmse(GgmlType t, const std::vector<float>& x) {
  const QuantTraits* tr = quant_traits(t);
  const int64_t n = int64_t(x.size());
  std::vector<uint8_t> q(ggml_row_bytes(t, n));
  std::vector<float> y(n);
  tr->quantize(x.data(), q.data(), n);
  tr->dequantize(q.data(), y.data(), n);
  double err = 0, ref = 0;
  for (int64_t i = 0; i < n; ++i) {
    err += double(x[i] - y[i]) * double(x[i] - y[i]);
    ref += double(x[i]) * double(x[i]);
  }
  return std::sqrt(err / ref);
}

struct Bound {
  GgmlType type;
  double bell, uniform, outliers;  // max relative RMSE
};

// Keep in step with the table in docs/quant.md.
constexpr Bound kBounds[] = {
    {GgmlType::F16, 0.0003, 0.0003, 0.0003}, {GgmlType::BF16, 0.0025, 0.0025, 0.0025},
    {GgmlType::Q8_0, 0.006, 0.0045, 0.013},  {GgmlType::Q8_1, 0.006, 0.0045, 0.013},
    {GgmlType::Q8_K, 0.007, 0.0045, 0.03},   {GgmlType::Q6_K, 0.019, 0.015, 0.038},
    {GgmlType::Q5_K, 0.038, 0.031, 0.058},   {GgmlType::Q5_1, 0.040, 0.033, 0.060},
    {GgmlType::Q5_0, 0.044, 0.035, 0.105},   {GgmlType::Q4_K, 0.075, 0.062, 0.115},
    {GgmlType::Q4_1, 0.082, 0.068, 0.127},   {GgmlType::IQ4_NL, 0.082, 0.072, 0.145},
    {GgmlType::IQ4_XS, 0.083, 0.073, 0.147}, {GgmlType::Q4_0, 0.090, 0.073, 0.178},
    {GgmlType::Q3_K, 0.160, 0.140, 0.175},   {GgmlType::Q2_K, 0.310, 0.265, 0.275},
};

TEST(QuantRoundTrip, RelativeRmseWithinDocumentedBounds) {
  const int64_t n = 256 * 256;
  for (const Bound& b : kBounds) {
    SCOPED_TRACE(ggml_type_name(b.type));
    const double bell = relative_rmse(b.type, make_data(Dist::kBell, n, 1));
    const double uni = relative_rmse(b.type, make_data(Dist::kUniform, n, 2));
    const double out = relative_rmse(b.type, make_data(Dist::kOutliers, n, 3));
    EXPECT_LT(bell, b.bell);
    EXPECT_LT(uni, b.uniform);
    EXPECT_LT(out, b.outliers);
    // Also guards against a bound gone stale: a bound far above what we measure hides a
    // regression of the same size.
    EXPECT_GT(bell, b.bell * 0.5) << "bound is loose; re-measure and update docs/quant.md";
  }
}

TEST(QuantRoundTrip, MoreBitsMeansLessError) {
  const std::vector<float> x = make_data(Dist::kBell, 256 * 64, 9);
  const GgmlType order[] = {GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K,
                            GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::Q8_0};
  double prev = 1e9;
  for (GgmlType t : order) {
    const double e = relative_rmse(t, x);
    EXPECT_LT(e, prev) << ggml_type_name(t);
    prev = e;
  }
}

TEST(QuantRoundTrip, ZerosStayZero) {
  const int64_t n = 512;
  const std::vector<float> x(n, 0.0f);
  for (const Bound& b : kBounds) {
    const QuantTraits* tr = quant_traits(b.type);
    std::vector<uint8_t> q(ggml_row_bytes(b.type, n));
    std::vector<float> y(n, 1.0f);
    tr->quantize(x.data(), q.data(), n);
    tr->dequantize(q.data(), y.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], 0.0f) << tr->name << " element " << i;
  }
}

TEST(QuantRoundTrip, ConstantBlocksAreNearlyExact) {
  const int64_t n = 512;
  // Magnitudes >= 0.25 keep every format's half super-scale normal; below that Q6_K's
  // d = absmax / 4096 turns subnormal and the whole super-block shares a few-% scale error
  // (a property of the format, same in llama.cpp; see docs/quant.md).
  for (float c : {1.0f, -0.375f, 0.3f}) {
    const std::vector<float> x(n, c);
    for (const Bound& b : kBounds) {
      const QuantTraits* tr = quant_traits(b.type);
      std::vector<uint8_t> q(ggml_row_bytes(b.type, n));
      std::vector<float> y(n);
      tr->quantize(x.data(), q.data(), n);
      tr->dequantize(q.data(), y.data(), n);
      // A constant is an extreme of its own block: every format maps it to a code end and
      // stores it with the accuracy of its half (or better) scale, at most 2^-8 relative
      // for bf16 and 1% for the 2-bit minimum fit.
      const float tol = b.type == GgmlType::Q2_K ? 0.01f : 0.004f;
      for (int64_t i = 0; i < n; ++i)
        ASSERT_NEAR(y[i], c, std::fabs(c) * tol) << tr->name << " c=" << c << " i=" << i;
    }
  }
}

TEST(QuantRoundTrip, RepresentableValuesAreExact) {
  // Integers in [-127, 127] with the block absmax at 127 are exact in Q8_0 (d = 1).
  std::vector<float> x(64);
  for (int i = 0; i < 64; ++i) x[i] = float((i * 37) % 255 - 127);
  x[0] = 127;
  x[32] = -127;
  std::vector<uint8_t> q(ggml_row_bytes(GgmlType::Q8_0, 64));
  std::vector<float> y(64);
  quantize_row_q8_0_ref(x.data(), q.data(), 64);
  dequantize_row_q8_0(q.data(), y.data(), 64);
  EXPECT_EQ(x, y);
  // Q4_0 with a block of -8..7 (absmax -8) is exact.
  std::vector<float> x4(32);
  for (int i = 0; i < 32; ++i) x4[i] = float(i % 16 - 8);
  std::vector<uint8_t> q4(ggml_row_bytes(GgmlType::Q4_0, 32));
  std::vector<float> y4(32);
  quantize_row_q4_0_ref(x4.data(), q4.data(), 32);
  dequantize_row_q4_0(q4.data(), y4.data(), 32);
  EXPECT_EQ(x4, y4);
}

TEST(QuantRoundTrip, SingleSpikeKeepsItsValue) {
  // One large value in a block of zeros: the scale is set by it, so it must survive closely
  // and the zeros must stay (near) zero.
  for (const Bound& b : kBounds) {
    const QuantTraits* tr = quant_traits(b.type);
    const int64_t n = 256;
    std::vector<float> x(n, 0.0f), y(n);
    x[77] = 5.0f;
    std::vector<uint8_t> q(ggml_row_bytes(b.type, n));
    tr->quantize(x.data(), q.data(), n);
    tr->dequantize(q.data(), y.data(), n);
    EXPECT_NEAR(y[77], 5.0f, 5.0f * 0.02f) << tr->name;
    for (int64_t i = 0; i < n; ++i) {
      if (i != 77) {
        ASSERT_NEAR(y[i], 0.0f, 0.5f) << tr->name << " " << i;
      }
    }
  }
}

}  // namespace
}  // namespace ds
