// The GGML type table: ids, names, block geometry, and the reference kernels of each type.
#include "core/error.h"
#include "quant/ggml_type.h"
#include "quant/quant.h"

namespace ds {

namespace {
using T = GgmlType;

// Block geometry from ggml's type_traits (ggml.c); kernels from this directory. Types whose
// layout we know but have no kernels for (TQ1_0, TQ2_0, MXFP4, the integer types) can still
// be carried through GGUF files.
constexpr QuantTraits kTraits[] = {
    {T::F32, "f32", 1, 4, false, dequantize_row_f32, quantize_row_f32_ref, vec_dot_f32, T::F32},
    {T::F16, "f16", 1, 2, false, dequantize_row_f16, quantize_row_f16_ref, vec_dot_f16, T::F16},
    {T::BF16, "bf16", 1, 2, false, dequantize_row_bf16, quantize_row_bf16_ref, vec_dot_bf16,
     T::BF16},
    {T::Q4_0, "q4_0", 32, sizeof(BlockQ4_0), true, dequantize_row_q4_0, quantize_row_q4_0_ref,
     vec_dot_q4_0_q8_0, T::Q8_0},
    {T::Q4_1, "q4_1", 32, sizeof(BlockQ4_1), true, dequantize_row_q4_1, quantize_row_q4_1_ref,
     vec_dot_q4_1_q8_1, T::Q8_1},
    {T::Q5_0, "q5_0", 32, sizeof(BlockQ5_0), true, dequantize_row_q5_0, quantize_row_q5_0_ref,
     vec_dot_q5_0_q8_0, T::Q8_0},
    {T::Q5_1, "q5_1", 32, sizeof(BlockQ5_1), true, dequantize_row_q5_1, quantize_row_q5_1_ref,
     vec_dot_q5_1_q8_1, T::Q8_1},
    {T::Q8_0, "q8_0", 32, sizeof(BlockQ8_0), true, dequantize_row_q8_0, quantize_row_q8_0_ref,
     vec_dot_q8_0_q8_0, T::Q8_0},
    {T::Q8_1, "q8_1", 32, sizeof(BlockQ8_1), true, dequantize_row_q8_1, quantize_row_q8_1_ref,
     nullptr, T::Q8_1},
    {T::Q2_K, "q2_K", 256, sizeof(BlockQ2_K), true, dequantize_row_q2_K, quantize_row_q2_K_ref,
     vec_dot_q2_K_q8_K, T::Q8_K},
    {T::Q3_K, "q3_K", 256, sizeof(BlockQ3_K), true, dequantize_row_q3_K, quantize_row_q3_K_ref,
     vec_dot_q3_K_q8_K, T::Q8_K},
    {T::Q4_K, "q4_K", 256, sizeof(BlockQ4_K), true, dequantize_row_q4_K, quantize_row_q4_K_ref,
     vec_dot_q4_K_q8_K, T::Q8_K},
    {T::Q5_K, "q5_K", 256, sizeof(BlockQ5_K), true, dequantize_row_q5_K, quantize_row_q5_K_ref,
     vec_dot_q5_K_q8_K, T::Q8_K},
    {T::Q6_K, "q6_K", 256, sizeof(BlockQ6_K), true, dequantize_row_q6_K, quantize_row_q6_K_ref,
     vec_dot_q6_K_q8_K, T::Q8_K},
    {T::Q8_K, "q8_K", 256, sizeof(BlockQ8_K), true, dequantize_row_q8_K, quantize_row_q8_K_ref,
     nullptr, T::Q8_K},
    {T::IQ2_XXS, "iq2_xxs", 256, sizeof(BlockIQ2_XXS), true, dequantize_row_iq2_xxs, nullptr,
     nullptr, T::Q8_K},
    {T::IQ2_XS, "iq2_xs", 256, sizeof(BlockIQ2_XS), true, dequantize_row_iq2_xs, nullptr, nullptr,
     T::Q8_K},
    {T::IQ3_XXS, "iq3_xxs", 256, sizeof(BlockIQ3_XXS), true, dequantize_row_iq3_xxs, nullptr,
     nullptr, T::Q8_K},
    {T::IQ1_S, "iq1_s", 256, sizeof(BlockIQ1_S), true, dequantize_row_iq1_s, nullptr, nullptr,
     T::Q8_K},
    {T::IQ4_NL, "iq4_nl", 32, sizeof(BlockIQ4_NL), true, dequantize_row_iq4_nl,
     quantize_row_iq4_nl_ref, vec_dot_iq4_nl_q8_0, T::Q8_0},
    {T::IQ3_S, "iq3_s", 256, sizeof(BlockIQ3_S), true, dequantize_row_iq3_s, nullptr, nullptr,
     T::Q8_K},
    {T::IQ2_S, "iq2_s", 256, sizeof(BlockIQ2_S), true, dequantize_row_iq2_s, nullptr, nullptr,
     T::Q8_K},
    {T::IQ4_XS, "iq4_xs", 256, sizeof(BlockIQ4_XS), true, dequantize_row_iq4_xs,
     quantize_row_iq4_xs_ref, vec_dot_iq4_xs_q8_K, T::Q8_K},
    {T::I8, "i8", 1, 1, false, nullptr, nullptr, nullptr, T::I8},
    {T::I16, "i16", 1, 2, false, nullptr, nullptr, nullptr, T::I16},
    {T::I32, "i32", 1, 4, false, nullptr, nullptr, nullptr, T::I32},
    {T::I64, "i64", 1, 8, false, nullptr, nullptr, nullptr, T::I64},
    {T::F64, "f64", 1, 8, false, nullptr, nullptr, nullptr, T::F64},
    {T::IQ1_M, "iq1_m", 256, sizeof(BlockIQ1_M), true, dequantize_row_iq1_m, nullptr, nullptr,
     T::Q8_K},
    {T::TQ1_0, "tq1_0", 256, 54, true, nullptr, nullptr, nullptr, T::Q8_K},
    {T::TQ2_0, "tq2_0", 256, 66, true, nullptr, nullptr, nullptr, T::Q8_K},
    {T::MXFP4, "mxfp4", 32, 17, true, nullptr, nullptr, nullptr, T::Q8_0},
};

struct DTypePair {
  GgmlType g;
  DType d;
};
constexpr DTypePair kDTypes[] = {
    {T::F32, DType::F32},         {T::F16, DType::F16},       {T::BF16, DType::BF16},
    {T::Q4_0, DType::Q4_0},       {T::Q4_1, DType::Q4_1},     {T::Q5_0, DType::Q5_0},
    {T::Q5_1, DType::Q5_1},       {T::Q8_0, DType::Q8_0},     {T::Q8_1, DType::Q8_1},
    {T::Q2_K, DType::Q2_K},       {T::Q3_K, DType::Q3_K},     {T::Q4_K, DType::Q4_K},
    {T::Q5_K, DType::Q5_K},       {T::Q6_K, DType::Q6_K},     {T::Q8_K, DType::Q8_K},
    {T::IQ2_XXS, DType::IQ2_XXS}, {T::IQ2_XS, DType::IQ2_XS}, {T::IQ3_XXS, DType::IQ3_XXS},
    {T::IQ1_S, DType::IQ1_S},     {T::IQ4_NL, DType::IQ4_NL}, {T::IQ3_S, DType::IQ3_S},
    {T::IQ2_S, DType::IQ2_S},     {T::IQ4_XS, DType::IQ4_XS}, {T::I8, DType::I8},
    {T::I16, DType::I16},         {T::I32, DType::I32},       {T::I64, DType::I64},
    {T::F64, DType::F64},         {T::IQ1_M, DType::IQ1_M},
};
}  // namespace

const QuantTraits* quant_traits(GgmlType t) {
  for (const auto& e : kTraits)
    if (e.type == t) return &e;
  return nullptr;
}

bool ggml_type_from_id(uint32_t id, GgmlType* out) {
  for (const auto& e : kTraits) {
    if (uint32_t(e.type) == id) {
      *out = e.type;
      return true;
    }
  }
  return false;
}

std::string_view ggml_type_name(GgmlType t) {
  const QuantTraits* tr = quant_traits(t);
  return tr ? tr->name : "?";
}

int64_t ggml_block_size(GgmlType t) {
  const QuantTraits* tr = quant_traits(t);
  DS_CHECK(tr, "unknown ggml type ", uint32_t(t));
  return tr->block_size;
}

size_t ggml_block_bytes(GgmlType t) {
  const QuantTraits* tr = quant_traits(t);
  DS_CHECK(tr, "unknown ggml type ", uint32_t(t));
  return tr->block_bytes;
}

size_t ggml_row_bytes(GgmlType t, int64_t n) {
  const int64_t bs = ggml_block_size(t);
  DS_CHECK(n >= 0 && n % bs == 0, "row of ", n, " elements is not a multiple of ", bs);
  return size_t(n / bs) * ggml_block_bytes(t);
}

bool ggml_type_to_dtype(GgmlType t, DType* out) {
  for (const auto& e : kDTypes) {
    if (e.g == t) {
      *out = e.d;
      return true;
    }
  }
  return false;
}

bool dtype_to_ggml_type(DType t, GgmlType* out) {
  for (const auto& e : kDTypes) {
    if (e.d == t) {
      *out = e.g;
      return true;
    }
  }
  return false;
}

}  // namespace ds
