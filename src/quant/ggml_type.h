// GGML tensor types with ggml's exact numeric ids (ggml.h `enum ggml_type`), as stored in
// GGUF tensor infos, and their mapping to ds::DType.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/dtype.h"

namespace ds {

/// ggml's type ids. The gaps (4, 5, 31-33, 36-38) are ids ggml retired; never reuse them.
enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

/// Elements per 32-element block (Q4_0, Q8_0, IQ4_NL, ...).
inline constexpr int64_t kQK32 = 32;
/// Elements per k-quant super-block (Q2_K ... Q8_K and the i-quants but IQ4_NL).
inline constexpr int64_t kQKK = 256;

/// Converts a raw id read from a file; false when ggml does not define it (or we do not know
/// its block layout).
bool ggml_type_from_id(uint32_t id, GgmlType* out);
/// ggml's own name for the type ("f32", "q4_0", "q4_K", "iq4_xs", ...).
std::string_view ggml_type_name(GgmlType t);
/// Elements per block (1 for plain types).
int64_t ggml_block_size(GgmlType t);
/// Bytes per block (the element size for plain types).
size_t ggml_block_bytes(GgmlType t);
/// Bytes of a row of `n` elements; `n` must be a multiple of the block size.
size_t ggml_row_bytes(GgmlType t, int64_t n);
/// The DType a weight view of this type carries; false for types DType lacks (TQ*, MXFP4).
bool ggml_type_to_dtype(GgmlType t, DType* out);
/// The GgmlType of a DType; false for DTypes GGUF cannot hold (F8_E4M3, U8, BOOL).
bool dtype_to_ggml_type(DType t, GgmlType* out);

}  // namespace ds
