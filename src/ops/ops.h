// Backend-neutral operations. They know nothing about DeepSeek; model code composes them.
// Activations are float32; weights are any WeightView dtype. Kernels come from the CPU table.
#pragma once

#include <cstdint>

#include "ops/weight_view.h"

namespace ds {

class ThreadPool;

/// y[t, :] = W · x[t, :] for t in [0, n): x is [n, W.cols], y is [n, W.rows] (row stride y_stride).
/// Threads split the rows of W, so each weight row is read once for the whole batch.
void matmul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool);
/// The same on the calling thread only, for rows [r0, r1) of W; y has row stride y_stride.
void matmul_rows(const WeightView& w, const float* x, int64_t n, float* y, int64_t y_stride,
                 int64_t r0, int64_t r1);
/// y[t, :] = x[t, :] · W (the transposed product): x is [n, W.rows], y is [n, W.cols]. Calling
/// thread only.
/// One matrix product of a matmul_batch: y[n, w.rows] = x[n, w.cols] · wᵀ.
struct MatmulJob {
  WeightView w;
  const float* x = nullptr;
  int64_t n = 0;
  float* y = nullptr;
};
/// Every job's matmul in one pass of the pool: the jobs' rows are concatenated and claimed
/// by the threads in chunks of 16-row blocks (as matmul does), so a batch of small matrices (the
/// experts of a few tokens, an MLP's gate and up) costs one hand-off instead of one per
/// matrix. Jobs with the same x, n and activation format share its quantisation. Each
/// result is bit-identical to matmul of that job alone.
void matmul_batch(const MatmulJob* jobs, int n_jobs, ThreadPool& pool);

/// From how many tokens on matmul takes the integer GEMM tiles for the formats they cover
/// (default kDefaultTileMinTokens); benchmarks and tests move it to compare the paths.
inline constexpr int64_t kDefaultTileMinTokens = 4;
void set_matmul_tile_min_tokens(int64_t n);
int64_t matmul_tile_min_tokens();
/// From how many tokens on matmul multiplies BF16 weights on the AMX-BF16 tiles where the
/// table has them (default kDefaultBf16TileMinTokens); benchmarks and tests move it.
inline constexpr int64_t kDefaultBf16TileMinTokens = 8;
void set_matmul_bf16_tile_min_tokens(int64_t n);
void matmul_transposed(const WeightView& w, const float* x, int64_t n, float* y);
/// Dequantises row r of W into dst[W.cols].
void dequantize_row(const WeightView& w, int64_t r, float* dst);

/// out = x / sqrt(mean(x²) + eps) · weight, for one vector of length n (weight may be any
/// float dtype; it is read through dequantize_row of a 1-row view).
void rms_norm(const float* x, const float* weight, int64_t n, double eps, float* out);
/// In-place softmax over n values (fp32, max-subtracted).
void softmax(float* x, int64_t n);
/// SiLU(gate) ⊙ up, written into gate.
void silu_mul(float* gate, const float* up, int64_t n);

}  // namespace ds
