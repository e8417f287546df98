// Weight formats of the integer GEMM path (backend/cpu/gemm_tile.h): each supported GGML
// block type unpacks a row to u8 values with one (scale, offset) pair per 32 elements.
#pragma once

#include <cstdint>

#include "ops/weight_view.h"

namespace ds {

/// One weight row (cols elements) -> u[cols], and s[cols/32], o[cols/32] such that element
/// i is s[i/32]·u[i] − o[i/32] (exactly the reference dequantiser's value up to f32 rounding).
using TileRowUnpackFn = void (*)(const void* row, int64_t cols, uint8_t* u, float* s, float* o);

/// The unpacker of `dt` into the layout of `factor` tile columns per matrix column
/// (tile_col_factor) and the largest u it produces (a kernel that multiplies u by q with
/// 16-bit pair sums needs u ≤ 128); null when the integer path does not cover `dt` in that
/// layout.
TileRowUnpackFn tile_unpacker(DType dt, int factor, int* max_u);

/// Tile columns per matrix column of `dt`: 1, or 2 for Q2_K, Q3_K and Q6_K, whose scales
/// cover 16 elements. Their 32-element blocks become two tile blocks, one per 16-element half
/// with that half's scale; the other half adds exactly nothing: for Q3_K and Q6_K its u is
/// the format's zero (w = s·u − o with o = 4·s, 32·s), for Q2_K (no such u) it is 0 and the
/// activations' d·Σq covers only the tile block's own half (tile_half_sums). The activations
/// of a block are repeated for both (expand_act_tile). The unpacker then writes cols·factor
/// values of u and cols·factor/32 of s and o.
///
/// Q3_K has both layouts: with a kernel that multiplies u up to 252 (`kernel_max_u`, the
/// table's gemm_tile_max_u) one tile block per 32 elements, u = (sc − 32)·(q − 4) + 124 with
/// both halves' scales inside u, s = d and o = 124·d (half the integer work); else two.
int tile_col_factor(DType dt, int kernel_max_u);

/// True when the expanded activations of `dt` carry d·Σq per tile block's own half (Q2_K).
bool tile_half_sums(DType dt);

/// A row in the tile activation layout of `cols` columns -> the layout of cols·factor columns
/// (each 32-element block and its d repeated `factor` times; its d·Σq too, or with
/// `half_sums` d times the sum of the q in the tile block's own 32/factor elements).
void expand_act_tile(const uint8_t* src, int64_t cols, int factor, bool half_sums, uint8_t* dst);

/// Rows [r0, r0 + nr) of `w` (nr ≤ kTileRows) into `tile` in the layout of `factor` (the
/// unpacker's: tile_unpacker), rows
/// past nr zero: with the ISA's SIMD unpacker where it has one, else row by row with `f`.
/// `row_buf` holds at least t bytes + t/16 floats, t = cols·tile_col_factor; `tile` holds
/// tile_bytes(t).
void unpack_tile(TileRowUnpackFn f, int factor, const WeightView& w, int64_t r0, int nr,
                 uint8_t* tile, uint8_t* row_buf);

}  // namespace ds
