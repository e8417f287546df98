// Bit layouts: blocks assembled byte by byte from the format definitions (ggml-common.h and
// the comments in quant/blocks.h), checked value by value after dequantisation. These pin
// each field's position independently of our quantisers.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "quant/iq_grids.h"
#include "quant/quant.h"

namespace ds {
namespace {

uint16_t h(float f) {
  return f32_to_f16(f);
}

template <typename Block>
std::vector<float> dequant(const Block& b, DequantizeRowFn fn, int64_t n) {
  std::vector<float> y(n);
  fn(&b, y.data(), n);
  return y;
}

TEST(QuantLayout, Q4_0) {
  BlockQ4_0 b{};
  b.d = h(0.5f);
  for (int j = 0; j < 16; ++j) b.qs[j] = uint8_t(j | ((15 - j) << 4));
  const auto y = dequant(b, dequantize_row_q4_0, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], (j - 8) * 0.5f) << j;       // low nibbles: elements 0..15
    EXPECT_EQ(y[j + 16], (7 - j) * 0.5f) << j;  // high nibbles: elements 16..31
  }
}

TEST(QuantLayout, Q4_1) {
  BlockQ4_1 b{};
  b.d = h(0.25f);
  b.m = h(-1.0f);
  for (int j = 0; j < 16; ++j) b.qs[j] = uint8_t(j | (3 << 4));
  const auto y = dequant(b, dequantize_row_q4_1, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], j * 0.25f - 1.0f);
    EXPECT_EQ(y[j + 16], 3 * 0.25f - 1.0f);
  }
}

TEST(QuantLayout, Q5_0AndQ5_1HighBits) {
  // Bit j of the little-endian u32 qh is bit 4 of element j.
  const uint32_t qh = (1u << 0) | (1u << 5) | (1u << 16) | (1u << 31);
  BlockQ5_0 b{};
  b.d = h(1.0f);
  std::memcpy(b.qh, &qh, 4);
  for (int j = 0; j < 16; ++j) b.qs[j] = uint8_t(2 | (9 << 4));
  auto y = dequant(b, dequantize_row_q5_0, 32);
  for (int j = 0; j < 32; ++j) {
    const int q = (j < 16 ? 2 : 9) | (((qh >> j) & 1) << 4);
    EXPECT_EQ(y[j], float(q - 16)) << j;
  }
  BlockQ5_1 c{};
  c.d = h(2.0f);
  c.m = h(0.5f);
  std::memcpy(c.qh, &qh, 4);
  for (int j = 0; j < 16; ++j) c.qs[j] = uint8_t(15 | (0 << 4));
  y = dequant(c, dequantize_row_q5_1, 32);
  for (int j = 0; j < 32; ++j) {
    const int q = (j < 16 ? 15 : 0) | (((qh >> j) & 1) << 4);
    EXPECT_EQ(y[j], 2.0f * q + 0.5f) << j;
  }
}

TEST(QuantLayout, Q8_0AndQ8_1) {
  BlockQ8_0 b{};
  b.d = h(2.0f);
  for (int j = 0; j < 32; ++j) b.qs[j] = int8_t(j * 8 - 128);
  auto y = dequant(b, dequantize_row_q8_0, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 2.0f * (j * 8 - 128));
  // Q8_1 stores s = d * sum(q) after the scale.
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = float(j - 10);
  BlockQ8_1 q{};
  quantize_row_q8_1_ref(x.data(), &q, 32);
  int sum = 0;
  for (int j = 0; j < 32; ++j) sum += q.qs[j];
  // s is computed from the unrounded scale (absmax 21 / 127), then rounded to half.
  EXPECT_EQ(q.s, h(21.0f / 127.0f * float(sum)));
  EXPECT_EQ(q.qs[31], 127);  // absmax 21 -> 127
}

TEST(QuantLayout, Q2_K) {
  BlockQ2_K b{};
  b.d = h(1.0f);
  b.dmin = h(0.5f);
  for (int g = 0; g < 16; ++g) b.scales[g] = uint8_t((g & 15) | ((15 - g) << 4));
  // Element e = 128*half + 32*k + l lives in qs[32*half + l] at bits 2k.
  auto q_of = [](int e) { return (e * 7 + e / 3) & 3; };
  for (int e = 0; e < 256; ++e) {
    const int half = e / 128, k = (e % 128) / 32, l = e % 32;
    b.qs[32 * half + l] |= uint8_t(q_of(e) << (2 * k));
  }
  const auto y = dequant(b, dequantize_row_q2_K, 256);
  for (int e = 0; e < 256; ++e) {
    const int g = e / 16;
    EXPECT_EQ(y[e], float(g) * q_of(e) - 0.5f * float(15 - g)) << e;
  }
}

TEST(QuantLayout, Q3_K) {
  BlockQ3_K b{};
  b.d = h(0.5f);
  // 6-bit scales s[g] (stored +32): low nibbles in bytes 0-7 (g < 8) or their high nibbles
  // (g >= 8); top 2 bits in byte 8 + g%4 at bit 2*(g/4).
  int s[16];
  for (int g = 0; g < 16; ++g) s[g] = (g * 5) % 64;
  for (int g = 0; g < 16; ++g) {
    if (g < 8) {
      b.scales[g] |= uint8_t(s[g] & 0xf);
    } else {
      b.scales[g - 8] |= uint8_t((s[g] & 0xf) << 4);
    }
    b.scales[8 + g % 4] |= uint8_t((s[g] >> 4) << (2 * (g / 4)));
  }
  // q in [-4, 3]: low 2 bits as Q2_K, hmask bit (byte e%32, bit e/32) set means "no -4".
  auto q_of = [](int e) { return (e * 3 + e / 5) % 8 - 4; };
  for (int e = 0; e < 256; ++e) {
    const int u = q_of(e) + 4;
    b.qs[32 * (e / 128) + e % 32] |= uint8_t((u & 3) << (2 * ((e % 128) / 32)));
    if (u & 4) b.hmask[e % 32] |= uint8_t(1 << (e / 32));
  }
  const auto y = dequant(b, dequantize_row_q3_K, 256);
  for (int e = 0; e < 256; ++e) EXPECT_EQ(y[e], 0.5f * float(s[e / 16] - 32) * q_of(e)) << e;
}

// Packs 8 (scale, min) 6-bit pairs as Q4_K/Q5_K do.
void pack_k4(const int* sc, const int* mn, uint8_t* q) {
  std::memset(q, 0, 12);
  for (int j = 0; j < 4; ++j) {
    q[j] = uint8_t(sc[j] | ((sc[j + 4] >> 4) << 6));
    q[j + 4] = uint8_t(mn[j] | ((mn[j + 4] >> 4) << 6));
    q[j + 8] = uint8_t((sc[j + 4] & 0xf) | ((mn[j + 4] & 0xf) << 4));
  }
}

TEST(QuantLayout, Q4_KAndQ5_K) {
  int sc[8], mn[8];
  for (int g = 0; g < 8; ++g) {
    sc[g] = 63 - 7 * g;
    mn[g] = 9 * g;
  }
  auto q_of = [](int e) { return (e * 11 + e / 7) % 32; };
  BlockQ4_K b{};
  b.d = h(0.25f);
  b.dmin = h(0.125f);
  pack_k4(sc, mn, b.scales);
  // Chunk c (64 elements): byte 32c + l holds element 64c + l (low) and 64c + 32 + l (high).
  for (int e = 0; e < 256; ++e)
    b.qs[32 * (e / 64) + e % 32] |= uint8_t((q_of(e) & 15) << (4 * ((e % 64) / 32)));
  auto y = dequant(b, dequantize_row_q4_K, 256);
  for (int e = 0; e < 256; ++e) {
    const int g = e / 32;
    EXPECT_EQ(y[e], 0.25f * float(sc[g]) * float(q_of(e) & 15) - 0.125f * float(mn[g])) << e;
  }
  BlockQ5_K c{};
  c.d = h(0.25f);
  c.dmin = h(0.125f);
  pack_k4(sc, mn, c.scales);
  for (int e = 0; e < 256; ++e) {
    c.qs[32 * (e / 64) + e % 32] |= uint8_t((q_of(e) & 15) << (4 * ((e % 64) / 32)));
    if (q_of(e) & 16) c.qh[e % 32] |= uint8_t(1 << (e / 32));  // bit g of qh[l]
  }
  y = dequant(c, dequantize_row_q5_K, 256);
  for (int e = 0; e < 256; ++e) {
    const int g = e / 32;
    EXPECT_EQ(y[e], 0.25f * float(sc[g]) * float(q_of(e)) - 0.125f * float(mn[g])) << e;
  }
}

TEST(QuantLayout, Q6_K) {
  BlockQ6_K b{};
  b.d = h(0.5f);
  for (int g = 0; g < 16; ++g) b.scales[g] = int8_t(g * 16 - 128);
  auto q_of = [](int e) { return (e * 13 + e / 9) % 64; };
  for (int e = 0; e < 256; ++e) {
    const int half = e / 128, r = e % 128, l = r % 32, k = r / 32;
    // k = 0..3 -> ql[l], ql[l+32], ql[l] high, ql[l+32] high; qh[l] bits 2k.
    b.ql[64 * half + l + 32 * (k & 1)] |= uint8_t((q_of(e) & 15) << (4 * (k >> 1)));
    b.qh[32 * half + l] |= uint8_t((q_of(e) >> 4) << (2 * k));
  }
  const auto y = dequant(b, dequantize_row_q6_K, 256);
  for (int e = 0; e < 256; ++e)
    EXPECT_EQ(y[e], 0.5f * float(e / 16 * 16 - 128) * float(q_of(e) - 32)) << e;
}

TEST(QuantLayout, Q8_K) {
  std::vector<float> x(256);
  for (int e = 0; e < 256; ++e) x[e] = float(e % 50) - 20.0f;
  BlockQ8_K b{};
  quantize_row_q8_K_ref(x.data(), &b, 256);
  // d carries the sign of the signed absmax (29): it maps to -127, as in ggml.
  EXPECT_FLOAT_EQ(b.d, 29.0f / -127.0f);
  for (int g = 0; g < 16; ++g) {
    int sum = 0;
    for (int l = 0; l < 16; ++l) sum += b.qs[16 * g + l];
    EXPECT_EQ(b.bsums[g], sum);
  }
  EXPECT_EQ(b.qs[49], -127);
}

TEST(QuantLayout, IQ4_NLAndIQ4_XS) {
  BlockIQ4_NL b{};
  b.d = h(0.5f);
  for (int j = 0; j < 16; ++j) b.qs[j] = uint8_t(j | ((15 - j) << 4));
  auto y = dequant(b, dequantize_row_iq4_nl, 32);
  const int8_t kv[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * kv[j]);
    EXPECT_EQ(y[j + 16], 0.5f * kv[15 - j]);
  }
  BlockIQ4_XS c{};
  c.d = h(0.25f);
  int ls[8];
  for (int g = 0; g < 8; ++g) {
    ls[g] = (g * 9 + 3) % 64;  // stored with +32 offset
    c.scales_l[g / 2] |= uint8_t((ls[g] & 0xf) << (4 * (g % 2)));
    c.scales_h = uint16_t(c.scales_h | ((ls[g] >> 4) << (2 * g)));
    for (int j = 0; j < 16; ++j) c.qs[16 * g + j] = uint8_t(((j + g) & 15) | ((j ^ g) & 15) << 4);
  }
  y = dequant(c, dequantize_row_iq4_xs, 256);
  for (int g = 0; g < 8; ++g) {
    for (int j = 0; j < 16; ++j) {
      EXPECT_EQ(y[32 * g + j], 0.25f * float(ls[g] - 32) * kv[(j + g) & 15]);
      EXPECT_EQ(y[32 * g + 16 + j], 0.25f * float(ls[g] - 32) * kv[(j ^ g) & 15]);
    }
  }
}

TEST(QuantLayout, IQ2_XXSGridAndSigns) {
  // Grid entry 0 is eight 8s. Group 0: indices 0, scale nibble 3 -> db = d*(0.5+3)/4;
  // sign index 1 for the first 8 (element 0 negative; parity bit makes element 7 negative).
  BlockIQ2_XXS b{};
  b.d = h(1.0f);
  uint8_t* p = reinterpret_cast<uint8_t*>(b.qs);
  const uint32_t aux = (3u << 28) | 1u;
  std::memcpy(p + 4, &aux, 4);
  const auto y = dequant(b, dequantize_row_iq2_xxs, 256);
  const float db = 3.5f * 0.25f;
  EXPECT_EQ(y[0], -db * 8);
  for (int j = 1; j < 7; ++j) EXPECT_EQ(y[j], db * 8) << j;
  EXPECT_EQ(y[7], -db * 8);
  EXPECT_EQ(y[8], db * 8);       // sign index 0: all positive
  EXPECT_EQ(y[32], 0.125f * 8);  // group 1: scale nibble 0 -> d*0.5/4
  EXPECT_EQ(iq2_signs(1), 0x81);
  EXPECT_EQ(iq2_signs(3), 0x03);
  EXPECT_EQ(kIq2xxsGrid[0], 0x0808080808080808ull);
}

TEST(QuantLayout, IQ1_SShiftAndScale) {
  BlockIQ1_S b{};
  b.d = h(0.5f);
  // Group 0: scale 2 -> dl = d*(2*2+1); shift sign bit set -> delta = -1/8; index high bits 0.
  b.qh[0] = uint16_t((2u << 12) | 0x8000u);
  const auto y = dequant(b, dequantize_row_iq1_s, 256);
  const int8_t g0 = int8_t(kIq1sGrid[0] & 0xff);
  EXPECT_EQ(y[0], 2.5f * (float(g0) - 0.125f));
  EXPECT_EQ(y[32], 0.5f * (float(g0) + 0.125f));  // group 1: scale 0, positive shift
}

}  // namespace
}  // namespace ds
