// CPU kernel table: one entry per primitive, filled for each instruction set. The table in
// use is chosen once at start-up from cpuid (or forced with DSINFER_ISA=scalar|avx2|avx512|amx),
// so one binary runs on any x86-64. On AArch64 the build has the scalar and NEON tables (NEON is
// part of the base architecture there). Model code calls kernels only through this table.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/cpu/gemm_tile.h"

namespace ds {

// kAmx: the AVX-512 table with the AMX integer GEMM tile kernel (Sapphire Rapids and later).
// kNeon: AArch64 (kernels_neon.cpp); the x86 tables exist only in x86-64 builds and the NEON
// one only in AArch64 builds.
enum class Isa { kScalar, kAvx2, kAvx512, kAmx, kNeon };

struct CpuKernels {
  Isa isa;
  const char* name;
  /// Σ a[i]·b[i]
  float (*dot_f32)(const float* a, const float* b, int64_t n);
  /// y[i] += a·x[i]
  void (*axpy_f32)(float a, const float* x, float* y, int64_t n);
  /// Widening conversions of one row.
  void (*bf16_to_f32)(const uint16_t* src, float* dst, int64_t n);
  void (*f16_to_f32)(const uint16_t* src, float* dst, int64_t n);
  /// e4m3 values times a per-block scale: dst[i] = fp8(src[i]) · scales[i / block].
  void (*fp8_to_f32)(const uint8_t* src, float* dst, int64_t n, const float* scales, int64_t block);
  /// Runs a register-only FMA loop `iters` times; returns the floating-point operations done
  /// (the machine's FMA peak is measured with it).
  double (*fma_loop)(int64_t iters);

  // Fused matrix-vector kernels: one weight row against up to kMaxRowTokens activation rows,
  // reading the weights once and never materialising them as f32 (see docs/PERFORMANCE.md).

  /// y[r·kMaxRowTokens + t] = Σ_i bf16(w[r·w_stride + i])·x[t·x_stride + i] for r < nr,
  /// t < nt (1 ≤ nr, nt ≤ kMaxRowTokens): a register block of weight rows × tokens, so each
  /// activation load feeds nr FMAs and each weight load nt.
  void (*dot_bf16_f32)(const uint16_t* w, int64_t w_stride, int nr, const float* x,
                       int64_t x_stride, int nt, int64_t n, float* y);
  /// The same with F32 weights.
  void (*dot_f32_rows)(const float* w, int64_t w_stride, int nr, const float* x, int64_t x_stride,
                       int nt, int64_t n, float* y);
  /// y[t] = vec_dot(w, a + t·a_stride bytes) for t < nt, with ggml's pairing of formats: the
  /// weight row `w` in the named block type, activation rows in Q8_0 / Q8_K (src/quant).
  void (*vec_dot_q8_0_q8_0)(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                            float* y);
  void (*vec_dot_q5_0_q8_0)(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                            float* y);
  void (*vec_dot_q4_K_q8_K)(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                            float* y);
  void (*vec_dot_q6_K_q8_K)(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                            float* y);
  /// Quantises activation rows for vec_dot_q4_K_q8_K: Q8_K blocks holding the values of
  /// quantize_row_q8_K_ref, with the quants of each block in the order the ISA's kernel
  /// reads them (AVX-512: per 128 elements, the 32-element groups 0, 2, 1, 3, so that one
  /// 64-byte load of weight nibbles lines up with one 64-byte load of activations).
  void (*quantize_act_q4_K)(const float* x, void* dst, int64_t n);
  /// True when the quantised row kernels prefetch their own weight stream (matmul then does
  /// not prefetch rows ahead for them).
  bool row_dot_prefetches;
  /// The integer GEMM tile kernel (gemm_tile.h), and the largest unsigned weight value it
  /// multiplies exactly (formats that unpack to larger values keep the row-dot path), with
  /// gemm_tile_for_u where there are faster kernels for smaller u.
  GemmTileFn gemm_tile;
  int gemm_tile_max_u;
  /// Picks a faster tile kernel by the weights' largest u (gemm_tile.h); null where
  /// gemm_tile is the only one.
  GemmTileSelectFn gemm_tile_for_u;
  GemmTileUnpackFn gemm_tile_unpack;
  /// Tokens from which a format with two tile blocks per block (Q2_K, Q3_K, Q6_K,
  /// ops/qtile.h) takes the tiles at the default threshold: earlier where gemm_tile_unpack
  /// covers it with SIMD (BM_MatmulPath crossovers: 12–16 tokens on AVX-512, 8–12 on AVX2
  /// with AVX-VNNI, about 64 with the portable unpacker).
  int wide_tile_min_tokens;
  /// The tile kernel over any number of tokens, writing y directly (gemm_tile.h); null where
  /// matmul drives gemm_tile in groups of kTileTokens.
  GemmTileRowsFn gemm_tile_rows;
  /// quantize_act_tile (gemm_tile.h), bit-identical on every ISA.
  void (*quantize_act_tile)(const float* x, int64_t cols, uint8_t* dst);
  /// Runs a register-only loop of the integer tiles' multiply-add instruction `iters` times;
  /// returns the integer operations done (2 per multiply-add, comparable with FLOPs).
  double (*int8_loop)(int64_t iters);

  // Attention over a latent cache (src/model/mla_attention.cpp): several query rows (heads)
  // at once, so each cache row is read once per group of heads instead of once per head.

  /// out[h·os + s] = scale · Σ_{i<w} q[h·qs + i] · kv[s·ks + i], for h < nh, s < len.
  void (*attn_scores)(const float* q, int64_t qs, int64_t nh, const float* kv, int64_t ks,
                      int64_t len, int64_t w, float scale, float* out, int64_t os);
  /// u[h·us + j] += Σ_{s<len} p[h·ps + s] · kv[s·ks + j], for h < nh, j < r.
  void (*attn_values)(const float* p, int64_t ps, int64_t nh, const float* kv, int64_t ks,
                      int64_t len, int64_t r, float* u, int64_t us);
  /// x[i] = exp(x[i] − m) for i < n (0 where x[i] − m < −87); returns Σ x[i]. The SIMD
  /// versions use a degree-6 polynomial after range reduction (within 2 ulp of expf).
  float (*exp_shifted_sum)(float* x, int64_t n, float m);
  /// gate[i] = silu(gate[i])·up[i] = gate[i] / (1 + exp(−gate[i]))·up[i] (SwiGLU); the SIMD
  /// versions use the same exp as exp_shifted_sum.
  void (*silu_mul)(float* gate, const float* up, int64_t n);
  /// attn_scores and attn_values over a BF16 cache: kv holds bf16 bits (widened exactly to
  /// f32 in registers), q and p stay f32. The products are those of the f32 kernels on the
  /// widened cache; only the order of summation differs.
  void (*attn_scores_bf16)(const float* q, int64_t qs, int64_t nh, const uint16_t* kv, int64_t ks,
                           int64_t len, int64_t w, float scale, float* out, int64_t os);
  void (*attn_values_bf16)(const float* p, int64_t ps, int64_t nh, const uint16_t* kv, int64_t ks,
                           int64_t len, int64_t r, float* u, int64_t us);
  /// One whole attention pass over a BF16 cache, where a table has one (else null, and
  /// mla_attention.cpp composes the kernels above): nh query rows q [nh, w] against the
  /// positions kv [len, w] (row stride w), scores scale · q·kv, and per head h the maximum
  /// mx[h] of its scores, sum[h] = Σ_s exp(score − mx[h]) and
  /// u[h·r + j] = Σ_s exp(score − mx[h]) · kv[s·w + j] for j < r, as attn_scores_bf16,
  /// exp_shifted_sum and attn_values_bf16 give them (exp and the −87 cut-off included).
  /// Needs w and r multiples of 32, r ≤ w, len ≥ 1; overwrites u, mx and sum.
  void (*attend_bf16)(const float* q, int64_t nh, const uint16_t* kv, int64_t w, int64_t r,
                      int64_t len, float scale, float* u, float* mx, float* sum);
  /// As dot_bf16_f32 with F16 weights (widened exactly in registers); null where a table has
  /// none (matmul then widens rows to f32 first).
  void (*dot_f16_f32)(const uint16_t* w, int64_t w_stride, int nr, const float* x, int64_t x_stride,
                      int nt, int64_t n, float* y);
  /// y[r·kMaxRowTokens + t] = Σ_i w(r, i)·x[t·x_stride + i] for r < nr, t < nt (≤ kMaxRowTokens)
  /// with FP8 e4m3 weights w(r, i) = fp8(w[r·w_stride + i]) · scales[r][i / block] widened
  /// and scaled in registers to exactly the values fp8_to_f32 gives (`block` a multiple of
  /// 16); only the order of the sums differs. Null where a table has none (matmul then
  /// widens rows to f32 first).
  void (*dot_fp8_f32)(const uint8_t* w, int64_t w_stride, int nr, const float* const* scales,
                      int64_t block, const float* x, int64_t x_stride, int nt, int64_t n, float* y);
  /// Widens `nblocks` Q8_0 blocks (quant/blocks.h: an f16 scale d and 32 int8 quants) to
  /// dst[32·b + i] = f32(d_b) · q_b[i]: exact (at most 11 + 7 significant bits), so every
  /// table gives the same bits. Reads an 8-bit KV cache (`--cache-type q8_0`).
  void (*q8_0_to_f32)(const void* src, float* dst, int64_t nblocks);

  // BF16 weights × f32 activations on the AMX-BF16 tiles (gemm_bf16_amx.cpp): null except in
  // the amx table of CPUs with AMX-BF16. The activations are first laid out as tiles of
  // three bf16 pieces (exact): groups of 16 tokens, per 32 columns, per piece, one 16 × 32
  // tile, (cols / 32) · 3 · 512 values per group.
  /// Token t's row x [cols] (cols a multiple of 32) into its slot of `act`.
  void (*split_act_bf16)(const float* x, int64_t cols, int64_t t, uint16_t* act);
  /// Zeroes the slots of tokens n … the end of n's group.
  void (*clear_act_bf16)(int64_t cols, int64_t n, uint16_t* act);
  /// y[t·ys + j] = Σ_i w[j·ws + i] · x_t[i] for j < nr ≤ 16 rows of BF16 weights, t < n;
  /// `next` (null: none) points at the next call's 16 rows, prefetched meanwhile.
  void (*gemm_bf16_rows)(const uint16_t* w, int64_t ws, int nr, const uint16_t* act, int64_t n,
                         int64_t cols, float* y, int64_t ys, const uint16_t* next);
  /// The same for ≤ 16 rows of FP8 e4m3 bytes (row stride ws bytes) with their block scales
  /// (scales[j][i / block] for row j; `block` a multiple of 32): each block is summed on the
  /// tiles, the weights widened exactly to bf16, and then added times its scale.
  void (*gemm_fp8_rows)(const uint8_t* w, int64_t ws, int nr, const float* const* scales,
                        int64_t block, const uint16_t* act, int64_t n, int64_t cols, float* y,
                        int64_t ys, const uint8_t* next);
  /// Q2_K rows against Q8_K activations (quantize_row_q8_K_ref's layout), as the other
  /// vec_dot_* row kernels; null where a table has none (matmul then widens rows to f32).
  /// (Kept at the end of the table with the next one, where they were added.)
  void (*vec_dot_q2_K_q8_K)(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                            float* y);
  /// The same for Q3_K rows.
  void (*vec_dot_q3_K_q8_K)(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                            float* y);
  /// The same for IQ4_XS rows (null where a table has none: matmul then takes the tiles).
  void (*vec_dot_iq4_xs_q8_K)(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                              float* y);
  /// IQ4_NL rows against Q8_0 activations (null where a table has none, as IQ4_XS).
  void (*vec_dot_iq4_nl_q8_0)(const void* w, const void* a, int64_t a_stride, int nt, int64_t n,
                              float* y);
};

/// Most activation rows (and BF16 weight rows) one fused kernel call handles.
inline constexpr int kMaxRowTokens = 4;

/// The kernels chosen for this machine (honours DSINFER_ISA; throws ds::Error when the
/// forced ISA is not supported by this CPU).
const CpuKernels& cpu_kernels();
/// True when this CPU (and this build) can run `isa`.
bool isa_supported(Isa isa);
/// The tables this build carries (x86-64: scalar, avx2, avx512, amx; AArch64: scalar, neon),
/// whether or not this CPU can run them: the kernel tests run each one the CPU supports.
std::vector<Isa> built_isas();
/// The table for one ISA; the caller must have checked isa_supported.
const CpuKernels& cpu_kernels_for(Isa isa);
/// Forces the table returned by cpu_kernels() (tests use it to cover every ISA path).
void set_cpu_isa(Isa isa);
const char* isa_name(Isa isa);

// Per-ISA tables, defined in kernels_<isa>.cpp.
const CpuKernels& kernels_scalar();
const CpuKernels& kernels_avx2();
const CpuKernels& kernels_avx512();
const CpuKernels& kernels_amx();
const CpuKernels& kernels_neon();
/// Asks the OS for the AMX tile state (Linux: arch_prctl); false when it is refused.
bool amx_enable();
/// True when the CPU has AMX-BF16 (the tile multiply of attn_amx.cpp).
bool cpu_has_amx_bf16();
/// Whether the CPU has AVX-VNNI (the VEX-encoded vpdpbusd of Alder Lake and later client
/// cores, and of Sapphire Rapids and later server cores): the avx2 table then takes its VNNI
/// tile kernel.
bool cpu_has_avx_vnni();

}  // namespace ds
