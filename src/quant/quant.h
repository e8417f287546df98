// Scalar reference (de)quantisers and dot products of the GGML block formats, plus a traits
// table to reach them by type. These are the correctness baseline the SIMD kernels in
// src/backend/cpu are tested against; they favour clarity over speed.
//
// Conventions: `n` counts elements and must be a multiple of the type's block size; `src` /
// `dst` / `x` / `y` point at packed rows of blocks (see quant/blocks.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/blocks.h"
#include "quant/ggml_type.h"

namespace ds {

using DequantizeRowFn = void (*)(const void* src, float* dst, int64_t n);
using QuantizeRowFn = void (*)(const float* src, void* dst, int64_t n);
/// Dot product of a weight row `x` with an activation row `y` already quantised to the
/// weight type's `vec_dot_type`.
using VecDotFn = float (*)(const void* x, const void* y, int64_t n);

/// Everything the engine needs to know about one GGML type.
struct QuantTraits {
  GgmlType type;
  const char* name;            // ggml's name ("q4_K")
  int64_t block_size;          // elements per block
  size_t block_bytes;          // bytes per block
  bool is_quantized;           // a block format (not a plain scalar type)
  DequantizeRowFn dequantize;  // null when not implemented
  QuantizeRowFn quantize;      // reference quantiser; null when not implemented
  VecDotFn vec_dot;            // null for activation-only or unimplemented types
  GgmlType vec_dot_type;       // the activation format vec_dot expects
};

/// Traits of `t`, or null when the type is unknown to this build.
const QuantTraits* quant_traits(GgmlType t);

// Plain types (the "row" is just an array).
void dequantize_row_f32(const void* src, float* dst, int64_t n);
void dequantize_row_f16(const void* src, float* dst, int64_t n);
void dequantize_row_bf16(const void* src, float* dst, int64_t n);
void quantize_row_f32_ref(const float* src, void* dst, int64_t n);
void quantize_row_f16_ref(const float* src, void* dst, int64_t n);
void quantize_row_bf16_ref(const float* src, void* dst, int64_t n);

// 32-element block formats.
void dequantize_row_q4_0(const void* src, float* dst, int64_t n);
void dequantize_row_q4_1(const void* src, float* dst, int64_t n);
void dequantize_row_q5_0(const void* src, float* dst, int64_t n);
void dequantize_row_q5_1(const void* src, float* dst, int64_t n);
void dequantize_row_q8_0(const void* src, float* dst, int64_t n);
void dequantize_row_q8_1(const void* src, float* dst, int64_t n);
void dequantize_row_iq4_nl(const void* src, float* dst, int64_t n);
/// Q4_0: scale from the signed absolute maximum so that it maps exactly to -8.
void quantize_row_q4_0_ref(const float* src, void* dst, int64_t n);
/// Q4_1: min/max affine mapping onto [0, 15].
void quantize_row_q4_1_ref(const float* src, void* dst, int64_t n);
/// Q5_0: as Q4_0 with 5 bits (signed max maps to -16).
void quantize_row_q5_0_ref(const float* src, void* dst, int64_t n);
/// Q5_1: min/max affine mapping onto [0, 31].
void quantize_row_q5_1_ref(const float* src, void* dst, int64_t n);
/// Q8_0: absmax / 127, round half away from zero.
void quantize_row_q8_0_ref(const float* src, void* dst, int64_t n);
/// Q8_1: as Q8_0, plus the scaled sum of the quants.
void quantize_row_q8_1_ref(const float* src, void* dst, int64_t n);
/// IQ4_NL: per-block scale searched over 15 candidates (weighted least squares).
void quantize_row_iq4_nl_ref(const float* src, void* dst, int64_t n);

// 256-element k-quant super-blocks.
void dequantize_row_q2_K(const void* src, float* dst, int64_t n);
void dequantize_row_q3_K(const void* src, float* dst, int64_t n);
void dequantize_row_q4_K(const void* src, float* dst, int64_t n);
void dequantize_row_q5_K(const void* src, float* dst, int64_t n);
void dequantize_row_q6_K(const void* src, float* dst, int64_t n);
void dequantize_row_q8_K(const void* src, float* dst, int64_t n);
void dequantize_row_iq4_xs(const void* src, float* dst, int64_t n);
/// Q2_K: per-group (scale, min) by weighted-MAD search, then 4-bit super-quantised.
void quantize_row_q2_K_ref(const float* src, void* dst, int64_t n);
/// Q3_K: per-group scale by iterative x^2-weighted refinement, 6-bit super-quantised.
void quantize_row_q3_K_ref(const float* src, void* dst, int64_t n);
/// Q4_K: per-group (scale, min) by weighted least-squares search, 6-bit super-quantised.
void quantize_row_q4_K_ref(const float* src, void* dst, int64_t n);
/// Q5_K: as Q4_K with 5-bit quants.
void quantize_row_q5_K_ref(const float* src, void* dst, int64_t n);
/// Q6_K: per-group scale by x^2-weighted search over 19 candidates, 8-bit super-quantised.
void quantize_row_q6_K_ref(const float* src, void* dst, int64_t n);
/// Q8_K: absmax / 127 per 256 (round half to even), with group sums.
void quantize_row_q8_K_ref(const float* src, void* dst, int64_t n);
/// IQ4_XS: IQ4_NL scale search per 32, then 6-bit super-quantised scales.
void quantize_row_iq4_xs_ref(const float* src, void* dst, int64_t n);

// Low-bit i-quants: dequantisation only (codebook grids in quant/iq_grids.h).
void dequantize_row_iq2_xxs(const void* src, float* dst, int64_t n);
void dequantize_row_iq2_xs(const void* src, float* dst, int64_t n);
void dequantize_row_iq2_s(const void* src, float* dst, int64_t n);
void dequantize_row_iq3_xxs(const void* src, float* dst, int64_t n);
void dequantize_row_iq3_s(const void* src, float* dst, int64_t n);
void dequantize_row_iq1_s(const void* src, float* dst, int64_t n);
void dequantize_row_iq1_m(const void* src, float* dst, int64_t n);

// Dot products, pairing weights and activations as ggml's CPU backend does.
float vec_dot_f32(const void* x, const void* y, int64_t n);
float vec_dot_f16(const void* x, const void* y, int64_t n);
float vec_dot_bf16(const void* x, const void* y, int64_t n);
float vec_dot_q4_0_q8_0(const void* x, const void* y, int64_t n);
float vec_dot_q4_1_q8_1(const void* x, const void* y, int64_t n);
float vec_dot_q5_0_q8_0(const void* x, const void* y, int64_t n);
float vec_dot_q5_1_q8_1(const void* x, const void* y, int64_t n);
float vec_dot_q8_0_q8_0(const void* x, const void* y, int64_t n);
float vec_dot_iq4_nl_q8_0(const void* x, const void* y, int64_t n);
float vec_dot_q2_K_q8_K(const void* x, const void* y, int64_t n);
float vec_dot_q3_K_q8_K(const void* x, const void* y, int64_t n);
float vec_dot_q4_K_q8_K(const void* x, const void* y, int64_t n);
float vec_dot_q5_K_q8_K(const void* x, const void* y, int64_t n);
float vec_dot_q6_K_q8_K(const void* x, const void* y, int64_t n);
float vec_dot_iq4_xs_q8_K(const void* x, const void* y, int64_t n);

}  // namespace ds
