// Bit-compatibility with llama.cpp: hashes of what ggml's own reference quantisers and
// dequantisers produce on deterministic inputs (recorded once from llama.cpp's ggml-quants.c;
// see docs/quant.md). Our reference code must reproduce every byte of the quantised blocks and
// every bit of the dequantised floats.
#include <gtest/gtest.h>

#include <vector>

#include "quant/quant.h"
#include "quant_test_util.h"

namespace ds {
namespace {

struct Golden {
  GgmlType type;
  uint64_t quantized;    // hash of ggml's quantize output on golden_input(); 0 = no quantiser
  uint64_t dequantized;  // hash of ggml's dequantize output on golden_blocks(); 0 = none
};

// Generated from llama.cpp v0.5-era ggml (commit de3ff815, 2026-09-28).
constexpr Golden kGolden[] = {
    {GgmlType::Q4_0, 0x24fd9d51c5fd4a0full, 0x96297f8e27563debull},
    {GgmlType::Q4_1, 0xcb3670e02b2a6ff3ull, 0x4268cbaeb17a5ddeull},
    {GgmlType::Q5_0, 0x807f12f8dbf4df99ull, 0x1f1d3fd65c9e60eaull},
    {GgmlType::Q5_1, 0x3b42a4fa890c7ac1ull, 0x303e7674774bc442ull},
    {GgmlType::Q8_0, 0x6b7b979b1eb968eeull, 0xa98dfec269979c4bull},
    {GgmlType::Q8_1, 0xa3001b9d7d1c24a3ull, 0x0000000000000000ull},
    {GgmlType::Q2_K, 0x465b83490b6f1ab4ull, 0x58da141914fc3187ull},
    {GgmlType::Q3_K, 0x75fa7c3354069eb0ull, 0xbe27c6da531f4b45ull},
    {GgmlType::Q4_K, 0x6f81eea62e6617edull, 0xe44641ca4386deeeull},
    {GgmlType::Q5_K, 0x8387569dd5e6d2bdull, 0x708608f258116062ull},
    {GgmlType::Q6_K, 0x4f6de1b1bf3ac2fbull, 0x894c4542e9630957ull},
    {GgmlType::Q8_K, 0x462b13c61b126c3cull, 0x894fe3503183e9a4ull},
    {GgmlType::IQ4_NL, 0x16e13181b5f2718dull, 0x9bd97471f60eecd3ull},
    {GgmlType::IQ4_XS, 0x0bccc2a7e669572eull, 0xd403f2b0bd7caeb4ull},
    {GgmlType::IQ2_XXS, 0x0000000000000000ull, 0x9deaaeaea54a3c1eull},
    {GgmlType::IQ2_XS, 0x0000000000000000ull, 0xae084bd7f1e06757ull},
    {GgmlType::IQ2_S, 0x0000000000000000ull, 0xdc9bf84556666658ull},
    {GgmlType::IQ3_XXS, 0x0000000000000000ull, 0x8eb9426656a08ce2ull},
    {GgmlType::IQ3_S, 0x0000000000000000ull, 0x9155a1bc70622c9dull},
    {GgmlType::IQ1_S, 0x0000000000000000ull, 0x7a3001bae8b10fa5ull},
    {GgmlType::IQ1_M, 0x0000000000000000ull, 0x19bb3d7a1c4ac580ull},
};

TEST(QuantGolden, MatchesLlamaCppBitForBit) {
  const std::vector<float> x = quant_test::golden_input();
  const int64_t n = int64_t(x.size());
  for (const Golden& g : kGolden) {
    const QuantTraits* tr = quant_traits(g.type);
    ASSERT_NE(tr, nullptr);
    SCOPED_TRACE(tr->name);
    if (g.quantized) {
      ASSERT_NE(tr->quantize, nullptr);
      std::vector<uint8_t> q(ggml_row_bytes(g.type, n));
      tr->quantize(x.data(), q.data(), n);
      EXPECT_EQ(quant_test::fnv1a(q.data(), q.size()), g.quantized) << "quantised bytes differ";
    }
    if (g.dequantized) {
      ASSERT_NE(tr->dequantize, nullptr);
      const std::vector<uint8_t> q = quant_test::golden_blocks(g.type, n);
      std::vector<float> y(n);
      tr->dequantize(q.data(), y.data(), n);
      EXPECT_EQ(quant_test::hash_floats(y), g.dequantized) << "dequantised values differ";
    }
  }
}

}  // namespace
}  // namespace ds
