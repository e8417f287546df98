// Element types of weights and activations, and scalar conversions between them.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace ds {

/// Storage type of a tensor. Float types first; GGML block-quantised types follow.
enum class DType : uint8_t {
  F32,
  F16,
  BF16,
  F8_E4M3,  // e4m3fn, usually with 128x128 block scales (weight_scale_inv)
  I8,
  U8,
  I16,
  I32,
  I64,
  F64,
  BOOL,
  // GGML block-quantised types (src/quant/). Elements come in blocks of dtype_block_size();
  // one block takes dtype_block_bytes(). Q8_1 and Q8_K are activation-only formats.
  Q4_0,
  Q4_1,
  Q5_0,
  Q5_1,
  Q8_0,
  Q8_1,
  Q2_K,
  Q3_K,
  Q4_K,
  Q5_K,
  Q6_K,
  Q8_K,
  IQ2_XXS,
  IQ2_XS,
  IQ3_XXS,
  IQ1_S,
  IQ4_NL,
  IQ3_S,
  IQ2_S,
  IQ4_XS,
  IQ1_M,
  kCount
};

/// Name as written in safetensors headers ("F32", "BF16", "F8_E4M3", ...) or, for block
/// types, as llama.cpp writes it ("Q4_0", "Q4_K", "IQ4_XS", ...).
std::string_view dtype_name(DType t);
/// Parses a safetensors dtype name; returns false when unknown.
bool dtype_from_safetensors(std::string_view name, DType* out);
/// Bytes per element for plain (non-block) types; 0 for block-quantised types.
size_t dtype_size(DType t);
/// True for the GGML block-quantised types (Q4_0 ... IQ1_M).
bool dtype_is_quantized(DType t);
/// Elements per block: 1 for plain types, 32 or 256 for block types.
size_t dtype_block_size(DType t);
/// Bytes per block: dtype_size() for plain types, the block struct size for block types.
size_t dtype_block_bytes(DType t);

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/// Round-to-nearest-even, NaN kept quiet (as torch does).
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

/// e4m3fn: bias 7, no infinities, 0x7f/0xff are NaN. Table-driven.
float fp8_e4m3_to_f32(uint8_t v);

}  // namespace ds
