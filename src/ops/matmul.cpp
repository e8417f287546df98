#include <algorithm>
#include <vector>

#include "backend/cpu/kernels.h"
#include "core/error.h"
#include "ops/ops.h"
#include "quant/ggml_type.h"
#include "quant/quant.h"
#include "runtime/thread_pool.h"

namespace ds {

WeightView WeightView::row_slice(int64_t r0, int64_t n) const {
  DS_CHECK(r0 >= 0 && n >= 0 && r0 + n <= rows, "row slice out of range");
  WeightView v = *this;
  v.data = static_cast<const uint8_t*>(data) + size_t(r0) * row_bytes();
  v.rows = n;
  v.row0 = row0 + r0;
  return v;
}

size_t WeightView::n_bytes() const {
  size_t b = size_t(rows) * row_bytes();
  if (scale_inv) b += size_t((rows + block_rows - 1) / block_rows) * size_t(scale_cols) * 4;
  return b;
}

void dequantize_row(const WeightView& w, int64_t r, float* dst) {
  const CpuKernels& k = cpu_kernels();
  const uint8_t* row = static_cast<const uint8_t*>(w.data) + size_t(r) * w.row_bytes();
  switch (w.dtype) {
    case DType::F32:
      std::copy_n(reinterpret_cast<const float*>(row), w.cols, dst);
      return;
    case DType::BF16:
      k.bf16_to_f32(reinterpret_cast<const uint16_t*>(row), dst, w.cols);
      return;
    case DType::F16:
      k.f16_to_f32(reinterpret_cast<const uint16_t*>(row), dst, w.cols);
      return;
    case DType::F8_E4M3: {
      const float* scales = w.scale_inv + ((w.row0 + r) / w.block_rows) * w.scale_cols;
      k.fp8_to_f32(row, dst, w.cols, scales, w.block_cols);
      return;
    }
    default: {
      // GGML block types (GGUF weights): the reference dequantiser of the type.
      GgmlType gt;
      const QuantTraits* q = dtype_to_ggml_type(w.dtype, &gt) ? quant_traits(gt) : nullptr;
      if (q && q->dequantize) {
        q->dequantize(row, dst, w.cols);
        return;
      }
      break;
    }
  }
  DS_CHECK(false, "dequantize_row: unsupported dtype ", dtype_name(w.dtype));
}

namespace {

// Rows dequantised together: the tile (kTileRows × cols floats) stays in L1/L2 while every
// token of the batch is multiplied with it.
constexpr int64_t kTileRows = 8;

std::vector<float>& scratch(size_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf;
}

}  // namespace

void matmul_rows(const WeightView& w, const float* x, int64_t n, float* y, int64_t y_stride,
                 int64_t r0, int64_t r1) {
  const CpuKernels& k = cpu_kernels();
  const int64_t cols = w.cols;
  if (w.dtype == DType::F32) {
    const float* base = static_cast<const float*>(w.data);
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t t = 0; t < n; ++t)
        y[t * y_stride + r] = k.dot_f32(base + r * cols, x + t * cols, cols);
    return;
  }
  std::vector<float>& tile = scratch(size_t(kTileRows * cols));
  for (int64_t rt = r0; rt < r1; rt += kTileRows) {
    const int64_t nr = std::min(kTileRows, r1 - rt);
    for (int64_t i = 0; i < nr; ++i) dequantize_row(w, rt + i, tile.data() + i * cols);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t i = 0; i < nr; ++i)
        y[t * y_stride + rt + i] = k.dot_f32(tile.data() + i * cols, x + t * cols, cols);
  }
}

void matmul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
  // Small matrices are not worth waking the pool for.
  if (pool.size() == 1 || w.rows * w.cols * n < 32768) {
    matmul_rows(w, x, n, y, w.rows, 0, w.rows);
    return;
  }
  pool.run([&](int ti, int nt) {
    int64_t b, e;
    split_range(w.rows, ti, nt, &b, &e);
    matmul_rows(w, x, n, y, w.rows, b, e);
  });
}

void matmul_transposed(const WeightView& w, const float* x, int64_t n, float* y) {
  const CpuKernels& k = cpu_kernels();
  std::fill(y, y + n * w.cols, 0.0f);
  std::vector<float>& row = scratch(size_t(w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    const float* wr;
    if (w.dtype == DType::F32) {
      wr = static_cast<const float*>(w.data) + r * w.cols;
    } else {
      dequantize_row(w, r, row.data());
      wr = row.data();
    }
    for (int64_t t = 0; t < n; ++t) k.axpy_f32(x[t * w.rows + r], wr, y + t * w.cols, w.cols);
  }
}

}  // namespace ds
