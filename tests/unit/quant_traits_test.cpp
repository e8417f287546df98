// The GGML type table: ids, geometry, and consistency with DType.
#include <gtest/gtest.h>

#include "core/dtype.h"
#include "quant/quant.h"

namespace ds {
namespace {

TEST(QuantTraits, IdsMatchGgml) {
  EXPECT_EQ(uint32_t(GgmlType::Q4_0), 2u);
  EXPECT_EQ(uint32_t(GgmlType::Q8_0), 8u);
  EXPECT_EQ(uint32_t(GgmlType::Q4_K), 12u);
  EXPECT_EQ(uint32_t(GgmlType::IQ4_XS), 23u);
  EXPECT_EQ(uint32_t(GgmlType::IQ1_M), 29u);
  EXPECT_EQ(uint32_t(GgmlType::BF16), 30u);
  GgmlType t;
  EXPECT_FALSE(ggml_type_from_id(4, &t));  // retired Q4_2
  EXPECT_FALSE(ggml_type_from_id(31, &t));
  EXPECT_FALSE(ggml_type_from_id(1000, &t));
  ASSERT_TRUE(ggml_type_from_id(14, &t));
  EXPECT_EQ(t, GgmlType::Q6_K);
  EXPECT_EQ(ggml_type_name(GgmlType::Q4_K), "q4_K");
}

TEST(QuantTraits, GeometryAgreesWithDType) {
  for (uint32_t id = 0; id < 64; ++id) {
    GgmlType g;
    if (!ggml_type_from_id(id, &g)) continue;
    const QuantTraits* tr = quant_traits(g);
    ASSERT_NE(tr, nullptr);
    DType d;
    if (!ggml_type_to_dtype(g, &d)) continue;
    SCOPED_TRACE(tr->name);
    EXPECT_EQ(dtype_block_size(d), size_t(tr->block_size));
    EXPECT_EQ(dtype_block_bytes(d), tr->block_bytes);
    EXPECT_EQ(dtype_is_quantized(d), tr->is_quantized);
    GgmlType back;
    ASSERT_TRUE(dtype_to_ggml_type(d, &back));
    EXPECT_EQ(back, g);
  }
  EXPECT_EQ(dtype_name(DType::Q4_K), "Q4_K");
  EXPECT_EQ(dtype_size(DType::Q4_K), 0u);
  EXPECT_EQ(dtype_block_bytes(DType::BF16), 2u);
  DType d;
  EXPECT_FALSE(dtype_from_safetensors("Q4_K", &d));  // block types are not safetensors dtypes
}

TEST(QuantTraits, RowBytes) {
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q4_K, 7168), 28u * 144u);
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q8_0, 64), 68u);
  EXPECT_EQ(ggml_row_bytes(GgmlType::F16, 3), 6u);
}

TEST(QuantTraits, EveryWeightTypeDequantizes) {
  const GgmlType done[] = {GgmlType::F32,    GgmlType::F16,    GgmlType::BF16,    GgmlType::Q4_0,
                           GgmlType::Q4_1,   GgmlType::Q5_0,   GgmlType::Q5_1,    GgmlType::Q8_0,
                           GgmlType::Q2_K,   GgmlType::Q3_K,   GgmlType::Q4_K,    GgmlType::Q5_K,
                           GgmlType::Q6_K,   GgmlType::IQ4_NL, GgmlType::IQ4_XS,  GgmlType::IQ2_XXS,
                           GgmlType::IQ2_XS, GgmlType::IQ2_S,  GgmlType::IQ3_XXS, GgmlType::IQ3_S,
                           GgmlType::IQ1_S,  GgmlType::IQ1_M};
  for (GgmlType t : done) EXPECT_NE(quant_traits(t)->dequantize, nullptr) << ggml_type_name(t);
}

}  // namespace
}  // namespace ds
