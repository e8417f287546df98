// Fused row kernels (a weight row against a few activation rows) of each instruction set,
// defined in row_dot_<isa>.cpp and published through the CpuKernels tables.
#pragma once

#include <cstdint>

namespace ds {

#define DS_ROW_DOT_DECLS                                                                           \
  void dot_bf16_f32(const uint16_t* w, int64_t w_stride, int nr, const float* x, int64_t x_stride, \
                    int nt, int64_t n, float* y);                                                  \
  void vec_dot_q8_0_q8_0(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,        \
                         float* y);                                                                \
  void vec_dot_q5_0_q8_0(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,        \
                         float* y);                                                                \
  void vec_dot_q4_K_q8_K(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,        \
                         float* y);                                                                \
  void vec_dot_q6_K_q8_K(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,        \
                         float* y);

namespace avx2 {
DS_ROW_DOT_DECLS
}  // namespace avx2
namespace avx512 {
DS_ROW_DOT_DECLS
}  // namespace avx512

#undef DS_ROW_DOT_DECLS

}  // namespace ds
