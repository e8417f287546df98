// A type-erased view of one weight matrix [rows, cols] (HF layout: rows = out features),
// turned into a typed kernel call once, at the op boundary.
#pragma once

#include <cstdint>
#include <string>

#include "core/dtype.h"

namespace ds {

struct WeightView {
  DType dtype = DType::F32;
  const void* data = nullptr;  // row-major; row r starts at data + r * row_bytes()
  int64_t rows = 0, cols = 0;
  // FP8 block scales (weight_scale_inv): scale of element (r, c) is
  // scale_inv[((row0 + r) / block_rows) * scale_cols + c / block_cols].
  const float* scale_inv = nullptr;
  int64_t scale_cols = 0;
  int64_t block_rows = 128, block_cols = 128;
  int64_t row0 = 0;  // offset of this view's first row inside the scaled matrix

  bool empty() const { return data == nullptr; }
  size_t row_bytes() const {
    return size_t(cols) / dtype_block_size(dtype) * dtype_block_bytes(dtype);
  }
  /// The sub-matrix of rows [r0, r0 + n).
  WeightView row_slice(int64_t r0, int64_t n) const;
  /// Bytes of weight data (scales included) the view covers.
  size_t n_bytes() const;
};

}  // namespace ds
