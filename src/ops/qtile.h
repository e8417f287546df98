// Weight formats of the integer GEMM path (backend/cpu/gemm_tile.h): each supported GGML
// block type unpacks a row to u8 values with one (scale, offset) pair per 32 elements.
#pragma once

#include <cstdint>

#include "ops/weight_view.h"

namespace ds {

/// One weight row (cols elements) -> u[cols], and s[cols/32], o[cols/32] such that element
/// i is s[i/32]·u[i] − o[i/32] (exactly the reference dequantiser's value up to f32 rounding).
using TileRowUnpackFn = void (*)(const void* row, int64_t cols, uint8_t* u, float* s, float* o);

/// The unpacker of `dt` and the largest u it produces (a kernel that multiplies u by q with
/// 16-bit pair sums needs u ≤ 128); null when the integer path does not cover `dt`.
TileRowUnpackFn tile_unpacker(DType dt, int* max_u);

/// Rows [r0, r0 + nr) of `w` (nr ≤ kTileRows) into `tile` (tile_bytes(w.cols) bytes), rows
/// past nr zero: with the ISA's SIMD unpacker where it has one, else row by row with `f`.
/// `row_buf` holds at least cols bytes + cols/16 floats.
void unpack_tile(TileRowUnpackFn f, const WeightView& w, int64_t r0, int nr, uint8_t* tile,
                 uint8_t* row_buf);

}  // namespace ds
