// Fused row kernels (a weight row against a few activation rows) of each instruction set,
// defined in row_dot_<isa>.cpp and published through the CpuKernels tables.
#pragma once

#include "quant/ggml_type.h"

#include <cstdint>

// Completely unrolls the loops over a register block (NR weight rows × NT tokens): the
// accumulators only stay in registers when every index is a constant. GCC at -O2 otherwise
// keeps them in a stack array and reloads them on every step.
#define DS_UNROLL _Pragma("GCC unroll 16")

#include <type_traits>

namespace ds {

/// Calls f(h, std::integral_constant<int, G>{}) for consecutive groups of G heads starting at
/// h, G = 4 while at least four are left, then one group of the 1–3 remaining: the register
/// blocking of the attention kernels over heads.
template <typename F>
inline void for_head_groups(int64_t nh, F&& f) {
  int64_t h = 0;
  for (; h + 4 <= nh; h += 4) f(h, std::integral_constant<int, 4>{});
  switch (nh - h) {
    case 3:
      f(h, std::integral_constant<int, 3>{});
      break;
    case 2:
      f(h, std::integral_constant<int, 2>{});
      break;
    case 1:
      f(h, std::integral_constant<int, 1>{});
      break;
    default:
      break;
  }
}

/// How far ahead of the current position the row kernels prefetch weights (bytes).
inline constexpr int kPrefetchBytes = 8192;
/// The same for the AVX-512 quantised row kernels (into L2; see stream_prefetch).
inline constexpr int kStreamPrefetchBytes = 4096;

#define DS_ROW_DOT_DECLS                                                                           \
  void dot_bf16_f32(const uint16_t* w, int64_t w_stride, int nr, const float* x, int64_t x_stride, \
                    int nt, int64_t n, float* y);                                                  \
  void dot_f32_rows(const float* w, int64_t w_stride, int nr, const float* x, int64_t x_stride,    \
                    int nt, int64_t n, float* y);                                                  \
  void dot_f16_f32(const uint16_t* w, int64_t w_stride, int nr, const float* x, int64_t x_stride,  \
                   int nt, int64_t n, float* y);                                                   \
  void dot_fp8_f32(const uint8_t* w, int64_t w_stride, int nr, const float* const* scales,         \
                   int64_t block, const float* x, int64_t x_stride, int nt, int64_t n, float* y);  \
  void vec_dot_q8_0_q8_0(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,        \
                         float* y);                                                                \
  void vec_dot_q5_0_q8_0(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,        \
                         float* y);                                                                \
  void vec_dot_q4_K_q8_K(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,        \
                         float* y);                                                                \
  void vec_dot_q6_K_q8_K(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,        \
                         float* y);                                                                \
  void vec_dot_q2_K_q8_K(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,        \
                         float* y);                                                                \
  void vec_dot_q3_K_q8_K(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,        \
                         float* y);                                                                \
  void vec_dot_iq4_xs_q8_K(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,      \
                           float* y);                                                              \
  void vec_dot_iq4_nl_q8_0(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,      \
                           float* y);                                                              \
  void gemm_tile(const uint8_t* tile, int64_t nb, const uint8_t* act, int64_t act_stride, int nt,  \
                 float* out);                                                                      \
  bool gemm_tile_unpack(GgmlType gt, int factor, const uint8_t* rows, size_t row_bytes, int nr,    \
                        int64_t cols, uint8_t* tile);                                              \
  void quantize_act_tile(const float* x, int64_t cols, uint8_t* dst);

namespace avx2 {
DS_ROW_DOT_DECLS
/// gemm_tile with vpdpbusd: needs AVX-VNNI (cpu_has_avx_vnni); any u ≤ 255.
void gemm_tile_vnni(const uint8_t* tile, int64_t nb, const uint8_t* act, int64_t act_stride, int nt,
                    float* out);
/// gemm_tile for any u ≤ 255 without VNNI: vpmaddubsw of |u − 128| by the activations with
/// u − 128's sign, plus 128·Σq.
void gemm_tile_signed(const uint8_t* tile, int64_t nb, const uint8_t* act, int64_t act_stride,
                      int nt, float* out);
/// The fastest vpmaddubsw kernel for tiles whose u are at most max_u (gemm_tile.h,
/// GemmTileSelectFn); gemm_tile is the one for u ≤ 127.
GemmTileFn gemm_tile_for_u(int max_u);
}  // namespace avx2
namespace avx512 {
DS_ROW_DOT_DECLS
void quantize_act_q4_K(const float* x, void* dst, int64_t n);
}  // namespace avx512

#undef DS_ROW_DOT_DECLS

}  // namespace ds
