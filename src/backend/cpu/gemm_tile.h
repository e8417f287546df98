// The integer GEMM path for quantised weights over many tokens (prompt processing, MoE
// experts with many tokens): a tile of kTileRows weight rows is unpacked once into 8-bit
// integers interleaved for VNNI-style 4-byte dot products, then every token of the batch is
// multiplied with it (docs/PERFORMANCE.md, "Integer GEMM tiles").
//
// Every supported weight format is an affine map of small unsigned integers over 32-element
// blocks: w[i] = s·u[i] − o with u in [0, 255] (Q4_K: s = d·sc, o = dmin·m, u = q; Q5_0:
// s = d, o = 16·d; Q8_0: u = q + 128, o = 128·d; …). Activations are quantised per 32-element
// block to a[i] = d·q[i], q in [−127, 127], keeping d and d·Σq. Then
//   Σ_i w[i]·a[i] = (s·d)·Σ_i u[i]·q[i] − o·(d·Σq),
// where the integer sum is exact (|Σ u·q| ≤ 32·255·127 < 2^24, so also exact as a float).
//
// Tile layout, per 32-element block k of the row (kTileBlockBytes bytes):
//   8 groups g of 64 bytes: bytes 4r … 4r+3 of group g are u[32k + 4g … 32k + 4g + 3] of row r
//   16 floats s[r], then 16 floats o[r]
// Rows past the end of the matrix are zero (s = o = 0).
// Activation row layout (tile_act_bytes(cols) bytes): cols int8 q, then cols/32 floats d, then
// cols/32 floats d·Σq.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "quant/ggml_type.h"

namespace ds {

/// Weight rows per tile: one 512-bit vector of 32-bit sums holds one lane per row.
inline constexpr int kTileRows = 16;
/// Most tokens one tile-kernel call handles.
inline constexpr int kTileTokens = 8;
/// Bytes of one 32-element block of a tile.
inline constexpr size_t kTileBlockBytes = 8 * 64 + 2 * kTileRows * sizeof(float);

inline size_t tile_bytes(int64_t cols) {
  return size_t(cols / 32) * kTileBlockBytes;
}
inline size_t tile_act_bytes(int64_t cols) {
  return size_t(cols) + 2 * sizeof(float) * size_t(cols / 32);
}

/// Four activation bytes as one 32-bit lane value (what the kernels broadcast).
inline int32_t tile_load_i32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

/// One activation row (cols a multiple of 32) into the tile activation layout: d = amax/127,
/// q = round-half-even(x/d).
void quantize_act_tile(const float* x, int64_t cols, uint8_t* dst);

/// out[t·kTileRows + r] = Σ_i w[r][i]·a[t][i] for t < nt ≤ kTileTokens: `tile` holds nb
/// blocks, token t's activations start at act + t·act_stride. Every (row, token) result is
/// the same sequence of f32 operations whatever nt is and whichever ISA runs it:
///   acc = fma(float(Σu·q), s·d, acc); acc = fma(−o, d·Σq, acc)   for each block in order.
using GemmTileFn = void (*)(const uint8_t* tile, int64_t nb, const uint8_t* act, int64_t act_stride,
                            int nt, float* out);

/// A table's tile kernel for tiles whose u are at most max_u (a format's bound, tile_unpacker):
/// kernels that can sum small products in narrower integers are faster for small u. Every
/// kernel it returns gives GemmTileFn's results bit for bit; null when none covers max_u.
using GemmTileSelectFn = GemmTileFn (*)(int max_u);

/// Tokens per group of the grouped activation layout, which the many-token kernel reads: per
/// group, per 32-element block k, kActGroupBlockBytes bytes: the 16 tokens' 32 int8 q (token t
/// at 32·t), then their 16 floats d, then their 16 floats d·Σq. Slots past the last token are
/// zero.
inline constexpr int kActGroup = 16;
inline constexpr size_t kActGroupBlockBytes = size_t(kActGroup) * (32 + 2 * sizeof(float));
inline size_t tile_act_group_bytes(int64_t cols) {
  return size_t(cols / 32) * kActGroupBlockBytes;
}
/// One token's activations in the row layout (`row`) into slot `slot` of `group`.
void group_act_tile(const uint8_t* row, int64_t cols, int slot, uint8_t* group);
/// Zeroes slots [first, kActGroup) of `group`.
void clear_act_group_slots(int64_t cols, int first, uint8_t* group);

/// y[t·y_stride + r] = Σ_i w[r][i]·a[t][i] for t < n, r < nr (nr ≤ kTileRows), the activations
/// in the grouped layout (groups of tile_act_group_bytes(nb·32) bytes, one after another):
/// the same f32 operations per (row, token) as GemmTileFn, for any number of tokens. The
/// kernel also fetches [prefetch, prefetch + prefetch_bytes) into L2, spread over its run (the
/// next tile's weight rows, so that unpacking them does not wait on memory).
using GemmTileRowsFn = void (*)(const uint8_t* tile, int64_t nb, const uint8_t* groups, int64_t n,
                                int nr, float* y, int64_t y_stride, const uint8_t* prefetch,
                                size_t prefetch_bytes);

/// True for the formats with a scale per 16 elements (Q2_K, Q3_K, Q6_K), which take two tile
/// blocks per 32 elements (ops/qtile.h, tile_col_factor).
inline bool tile_scale_per_16(GgmlType gt) {
  return gt == GgmlType::Q2_K || gt == GgmlType::Q3_K || gt == GgmlType::Q6_K;
}
/// True when `gt` has an integer tile layout (the formats listed) of `factor` tile columns per
/// matrix column: 2 for the formats with a scale per 16 elements, 1 for the others, and also 1
/// for Q3_K (its scaled layout, for kernels that multiply u up to 252).
inline bool tile_layout_exists(GgmlType gt, int factor) {
  switch (gt) {
    case GgmlType::Q4_0:
    case GgmlType::Q4_1:
    case GgmlType::Q5_0:
    case GgmlType::Q5_1:
    case GgmlType::Q8_0:
    case GgmlType::IQ4_NL:
    case GgmlType::IQ4_XS:
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
    case GgmlType::Q2_K:
    case GgmlType::Q3_K:
    case GgmlType::Q6_K:
      return factor == (tile_scale_per_16(gt) ? 2 : 1) || (gt == GgmlType::Q3_K && factor == 1);
    default:
      return false;  // formats without an integer tile layout
  }
}

/// Rows [0, nr) (nr ≤ kTileRows; row r at rows + r·row_bytes) of a `gt` matrix into `tile`
/// with SIMD transposes, in the layout of `factor` tile columns per matrix column (`cols`:
/// the matrix columns; ops/qtile.h, tile_col_factor); false when this ISA has no unpacker
/// for `gt` in that layout (the caller then uses the portable one, ops/qtile.h, which
/// produces the same tile).
using GemmTileUnpackFn = bool (*)(GgmlType gt, int factor, const uint8_t* rows, size_t row_bytes,
                                  int nr, int64_t cols, uint8_t* tile);

/// The portable reference of GemmTileFn (the scalar table's kernel).
void gemm_tile_ref(const uint8_t* tile, int64_t nb, const uint8_t* act, int64_t act_stride, int nt,
                   float* out);

/// The unpacker of ISAs without one: always false.
bool gemm_tile_unpack_none(GgmlType gt, int factor, const uint8_t* rows, size_t row_bytes, int nr,
                           int64_t cols, uint8_t* tile);

}  // namespace ds
