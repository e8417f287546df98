#include "core/dtype.h"

#include <cmath>
#include <limits>

namespace ds {

namespace {
struct NameEntry {
  DType t;
  const char* name;
  size_t size;
};
constexpr NameEntry kNames[] = {
    {DType::F32, "F32", 4},         {DType::F16, "F16", 2},   {DType::BF16, "BF16", 2},
    {DType::F8_E4M3, "F8_E4M3", 1}, {DType::I8, "I8", 1},     {DType::U8, "U8", 1},
    {DType::I16, "I16", 2},         {DType::I32, "I32", 4},   {DType::I64, "I64", 8},
    {DType::F64, "F64", 8},         {DType::BOOL, "BOOL", 1},
};

// Block types: elements per block and bytes per block, as ggml's type traits define them
// (ggml-common.h). They are never safetensors dtypes, so they live in their own table.
struct BlockEntry {
  DType t;
  const char* name;
  size_t block_size;
  size_t block_bytes;
};
constexpr BlockEntry kBlocks[] = {
    {DType::Q4_0, "Q4_0", 32, 18},        {DType::Q4_1, "Q4_1", 32, 20},
    {DType::Q5_0, "Q5_0", 32, 22},        {DType::Q5_1, "Q5_1", 32, 24},
    {DType::Q8_0, "Q8_0", 32, 34},        {DType::Q8_1, "Q8_1", 32, 36},
    {DType::Q2_K, "Q2_K", 256, 84},       {DType::Q3_K, "Q3_K", 256, 110},
    {DType::Q4_K, "Q4_K", 256, 144},      {DType::Q5_K, "Q5_K", 256, 176},
    {DType::Q6_K, "Q6_K", 256, 210},      {DType::Q8_K, "Q8_K", 256, 292},
    {DType::IQ2_XXS, "IQ2_XXS", 256, 66}, {DType::IQ2_XS, "IQ2_XS", 256, 74},
    {DType::IQ3_XXS, "IQ3_XXS", 256, 98}, {DType::IQ1_S, "IQ1_S", 256, 50},
    {DType::IQ4_NL, "IQ4_NL", 32, 18},    {DType::IQ3_S, "IQ3_S", 256, 110},
    {DType::IQ2_S, "IQ2_S", 256, 82},     {DType::IQ4_XS, "IQ4_XS", 256, 136},
    {DType::IQ1_M, "IQ1_M", 256, 56},
};

float fp8_decode(uint8_t v) {
  const int sign = v >> 7, exp = (v >> 3) & 0xf, man = v & 7;
  float r;
  if (exp == 0xf && man == 7) {
    r = std::numeric_limits<float>::quiet_NaN();
  } else if (exp == 0) {
    r = std::ldexp(float(man) / 8.0f, -6);
  } else {
    r = std::ldexp(1.0f + float(man) / 8.0f, exp - 7);
  }
  return sign ? -r : r;
}

struct Fp8Table {
  float v[256];
  Fp8Table() {
    for (int i = 0; i < 256; ++i) v[i] = fp8_decode(uint8_t(i));
  }
};
const Fp8Table kTable;
}  // namespace

float fp8_e4m3_to_f32(uint8_t v) {
  return kTable.v[v];
}

std::string_view dtype_name(DType t) {
  for (const auto& e : kNames)
    if (e.t == t) return e.name;
  for (const auto& e : kBlocks)
    if (e.t == t) return e.name;
  return "?";
}

bool dtype_from_safetensors(std::string_view name, DType* out) {
  for (const auto& e : kNames)
    if (name == e.name) {
      *out = e.t;
      return true;
    }
  return false;
}

size_t dtype_size(DType t) {
  for (const auto& e : kNames)
    if (e.t == t) return e.size;
  return 0;
}

bool dtype_is_quantized(DType t) {
  for (const auto& e : kBlocks)
    if (e.t == t) return true;
  return false;
}

size_t dtype_block_size(DType t) {
  for (const auto& e : kBlocks)
    if (e.t == t) return e.block_size;
  return 1;
}

size_t dtype_block_bytes(DType t) {
  for (const auto& e : kBlocks)
    if (e.t == t) return e.block_bytes;
  return dtype_size(t);
}

// IEEE half conversions written out so that the baseline build needs no F16C.
float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const int exp = (h >> 10) & 0x1f;
  uint32_t man = h & 0x3ff;
  uint32_t u;
  if (exp == 0) {
    if (man == 0) {
      u = sign;
    } else {  // subnormal: renormalise
      int e = -1;
      do {
        ++e;
        man <<= 1;
      } while (!(man & 0x400));
      u = sign | uint32_t(127 - 15 - e) << 23 | (man & 0x3ff) << 13;
    }
  } else if (exp == 0x1f) {
    u = sign | 0x7f800000u | man << 13;
  } else {
    u = sign | uint32_t(exp - 15 + 127) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7e00;   // NaN
  if (a >= 0x477ff000u) return sign | 0x7c00;  // overflow to inf (round included)
  if (a < 0x38800000u) {                       // subnormal or zero in half
    if (a < 0x33000000u) return sign;          // rounds to zero
    const int e = int(a >> 23);
    const uint32_t m = (a & 0x7fffff) | 0x800000;
    const int shift = 126 - e;  // half subnormal = m * 2^(e-126); shift in [14, 24]
    const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    uint32_t r = m >> shift;
    if (rem > half || (rem == half && (r & 1))) ++r;
    return sign | uint16_t(r);
  }
  uint32_t r = a + 0xfffu + ((a >> 13) & 1u);  // round to nearest even on bit 13
  r -= 0x38000000u;                            // rebias exponent 127 -> 15
  return sign | uint16_t(r >> 13);
}

}  // namespace ds
