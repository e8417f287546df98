// vec_dot_<type>_q8 against dequantise-then-dot in double: the two must agree to float
// rounding (the integer block sums are exact; only the per-block float combination rounds).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "quant/quant.h"
#include "quant_test_util.h"

namespace ds {
namespace {

TEST(QuantVecDot, MatchesDequantizedDotProduct) {
  const int64_t n = 256 * 8;
  quant_test::Lcg r{4242};
  std::vector<float> w(n), a(n);
  for (int64_t i = 0; i < n; ++i) {
    w[i] = r.bell() * 0.05f;
    a[i] = r.bell() * (i % 53 == 0 ? 8.f : 1.f);
  }
  const GgmlType types[] = {GgmlType::F32,    GgmlType::F16,  GgmlType::BF16,  GgmlType::Q4_0,
                            GgmlType::Q4_1,   GgmlType::Q5_0, GgmlType::Q5_1,  GgmlType::Q8_0,
                            GgmlType::IQ4_NL, GgmlType::Q2_K, GgmlType::Q3_K,  GgmlType::Q4_K,
                            GgmlType::Q5_K,   GgmlType::Q6_K, GgmlType::IQ4_XS};
  for (GgmlType t : types) {
    const QuantTraits* tw = quant_traits(t);
    const QuantTraits* ta = quant_traits(tw->vec_dot_type);
    SCOPED_TRACE(tw->name);
    ASSERT_NE(tw->vec_dot, nullptr);
    std::vector<uint8_t> qw(ggml_row_bytes(t, n)), qa(ggml_row_bytes(tw->vec_dot_type, n));
    tw->quantize(w.data(), qw.data(), n);
    ta->quantize(a.data(), qa.data(), n);
    std::vector<float> dw(n), da(n);
    tw->dequantize(qw.data(), dw.data(), n);
    ta->dequantize(qa.data(), da.data(), n);
    double ref = 0, mag = 0;
    for (int64_t i = 0; i < n; ++i) {
      ref += double(dw[i]) * double(da[i]);
      mag += std::fabs(double(dw[i]) * double(da[i]));
    }
    const float got = tw->vec_dot(qw.data(), qa.data(), n);
    // Q4_1/Q5_1 use Q8_1's s = half(d * sum q), rounded to half: allow for that rounding.
    const bool uses_s = tw->vec_dot_type == GgmlType::Q8_1;
    EXPECT_NEAR(got, ref, mag * (uses_s ? 2e-3 : 1e-5)) << "ref " << ref;
    // And the quantised dot product stays close to the exact float one.
    double exact = 0;
    for (int64_t i = 0; i < n; ++i) exact += double(w[i]) * double(a[i]);
    EXPECT_NEAR(got, exact, mag * 0.2) << "exact " << exact;
  }
}

TEST(QuantVecDot, ActivationTypesFollowGgml) {
  EXPECT_EQ(quant_traits(GgmlType::Q4_0)->vec_dot_type, GgmlType::Q8_0);
  EXPECT_EQ(quant_traits(GgmlType::Q4_1)->vec_dot_type, GgmlType::Q8_1);
  EXPECT_EQ(quant_traits(GgmlType::Q5_1)->vec_dot_type, GgmlType::Q8_1);
  EXPECT_EQ(quant_traits(GgmlType::IQ4_NL)->vec_dot_type, GgmlType::Q8_0);
  EXPECT_EQ(quant_traits(GgmlType::Q4_K)->vec_dot_type, GgmlType::Q8_K);
  EXPECT_EQ(quant_traits(GgmlType::IQ4_XS)->vec_dot_type, GgmlType::Q8_K);
  EXPECT_EQ(quant_traits(GgmlType::F16)->vec_dot_type, GgmlType::F16);
}

}  // namespace
}  // namespace ds
