// matmul throughput per weight type and ISA: the fused kernels (src/backend/cpu/row_dot_*)
// against the previous path (dequantise rows to f32, then dot_f32), on a matrix larger than
// the caches. n = 1 reports weight bytes/s (decode is bound by memory bandwidth); n > 1
// reports GFLOP/s (prefill is bound by the FMA / integer-dot units).
//
//   ./build/dsinfer_bench --benchmark_filter=Matmul
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "backend/cpu/kernels.h"
#include "core/huge_buffer.h"
#include "ops/ops.h"
#include "quant/quant.h"
#include "runtime/thread_pool.h"

namespace ds {
namespace {

constexpr int64_t kCols = 4096;
constexpr size_t kTargetBytes = size_t(256) << 20;  // well past the last-level cache

std::vector<float> bench_data(int64_t n, uint32_t s) {
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) {
    s = s * 1664525u + 1013904223u;
    v = float(int32_t(s >> 8) - (1 << 23)) / float(1 << 23);
  }
  return x;
}

// A [rows, kCols] matrix of ~kTargetBytes in type `t`: 64 quantised rows, repeated.
struct BenchMatrix {
  std::vector<uint8_t> bytes;
  WeightView view;
};

// One matrix is kept at a time (benchmarks of one type run back to back).
const BenchMatrix& matrix(GgmlType t) {
  static std::unique_ptr<BenchMatrix> m;
  static GgmlType type = GgmlType::F32;
  if (m && type == t) return *m;
  m.reset();
  m = std::make_unique<BenchMatrix>();
  type = t;
  const QuantTraits* tr = quant_traits(t);
  const size_t rb = size_t(kCols / tr->block_size) * tr->block_bytes;
  const int64_t rows = int64_t(kTargetBytes / rb) / 64 * 64;
  m->bytes.resize(size_t(rows) * rb);
  const auto x = bench_data(64 * kCols, 1);
  for (int64_t r = 0; r < 64; ++r)
    tr->quantize(x.data() + r * kCols, m->bytes.data() + r * rb, kCols);
  for (int64_t r = 64; r < rows; r += 64)
    std::memcpy(m->bytes.data() + r * rb, m->bytes.data(), 64 * rb);
  DType dt;
  ggml_type_to_dtype(t, &dt);
  m->view.dtype = dt;
  m->view.data = m->bytes.data();
  m->view.rows = rows;
  m->view.cols = kCols;
  return *m;
}

// The path matmul took before the fused kernels: dequantise a tile of rows, then dot_f32.
void dequant_matmul(const WeightView& w, const float* x, int64_t n, float* y, ThreadPool& pool) {
  pool.run([&](int ti, int nt) {
    int64_t r0, r1;
    split_range(w.rows, ti, nt, &r0, &r1);
    const CpuKernels& k = cpu_kernels();
    thread_local std::vector<float> tile;
    tile.resize(size_t(8 * w.cols));
    for (int64_t rt = r0; rt < r1; rt += 8) {
      const int64_t nr = std::min<int64_t>(8, r1 - rt);
      for (int64_t i = 0; i < nr; ++i) dequantize_row(w, rt + i, tile.data() + i * w.cols);
      for (int64_t t = 0; t < n; ++t)
        for (int64_t i = 0; i < nr; ++i)
          y[t * w.rows + rt + i] = k.dot_f32(tile.data() + i * w.cols, x + t * w.cols, w.cols);
    }
  });
}

// Arguments: n (tokens), threads.
void BM_Matmul(benchmark::State& state, GgmlType t, Isa isa, bool fused) {
  if (!isa_supported(isa)) {
    state.SkipWithError("ISA not supported by this CPU");
    return;
  }
  const Isa previous = cpu_kernels().isa;
  set_cpu_isa(isa);
  const BenchMatrix& m = matrix(t);
  const int64_t n = state.range(0);
  ThreadPool pool(int(state.range(1)));
  const auto x = bench_data(n * kCols, 2);
  std::vector<float> y(size_t(n * m.view.rows));
  for (auto _ : state) {
    if (fused)
      matmul(m.view, x.data(), n, y.data(), pool);
    else
      dequant_matmul(m.view, x.data(), n, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(m.bytes.size()));
  state.counters["GFLOP/s"] = benchmark::Counter(
      2e-9 * double(m.view.rows) * double(kCols) * double(n) * double(state.iterations()),
      benchmark::Counter::kIsRate);
  set_cpu_isa(previous);
}

void matmul_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "threads"})->UseRealTime()->Unit(benchmark::kMillisecond);
  for (int threads : {1, 2})
    for (int n : {1, 64}) b->Args({n, threads});
}

#define DS_MATMUL_BENCH(T, ISA)                                                      \
  BENCHMARK_CAPTURE(BM_Matmul, T##_##ISA##_fused, GgmlType::T, Isa::k##ISA, true)    \
      ->Apply(matmul_args);                                                          \
  BENCHMARK_CAPTURE(BM_Matmul, T##_##ISA##_dequant, GgmlType::T, Isa::k##ISA, false) \
      ->Apply(matmul_args);

// A BF16 matrix small enough to stay in the caches ([rows, cols] as in the shipped model's
// MLP), one thread: what decode costs when the weights do not come from DRAM, and how the
// cost grows with the tokens of a pass (speculative verification, batched streams).
void BM_MatmulCached(benchmark::State& state, Isa isa) {
  if (!isa_supported(isa)) {
    state.SkipWithError("ISA not supported by this CPU");
    return;
  }
  const Isa previous = cpu_kernels().isa;
  set_cpu_isa(isa);
  const int64_t n = state.range(0), rows = state.range(1), cols = state.range(2);
  const auto w = bench_data(rows * cols, 3);
  std::vector<uint8_t> bytes(size_t(rows * cols) * 2);
  quant_traits(GgmlType::BF16)->quantize(w.data(), bytes.data(), rows * cols);
  WeightView view;
  ggml_type_to_dtype(GgmlType::BF16, &view.dtype);
  view.data = bytes.data();
  view.rows = rows;
  view.cols = cols;
  ThreadPool pool(1);
  const auto x = bench_data(n * cols, 2);
  std::vector<float> y(size_t(n * rows));
  for (auto _ : state) {
    matmul(view, x.data(), n, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(bytes.size()));
  state.counters["GFLOP/s"] = benchmark::Counter(
      2e-9 * double(rows * cols * n) * double(state.iterations()), benchmark::Counter::kIsRate);
  set_cpu_isa(previous);
}

void cached_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "rows", "cols"})->UseRealTime()->Unit(benchmark::kMicrosecond);
  for (int n : {1, 2, 4, 8}) {
    b->Args({n, 1024, 256});
    b->Args({n, 256, 128});
    b->Args({n, 8192, 512});
  }
}

// A [rows, cols] matrix of distinct random rows quantised to `t` (small enough to build per
// benchmark).
BenchMatrix quantised_matrix(GgmlType t, int64_t rows, int64_t cols) {
  BenchMatrix m;
  const QuantTraits* tr = quant_traits(t);
  const size_t rb = size_t(cols / tr->block_size) * tr->block_bytes;
  m.bytes.resize(rb * size_t(rows));
  const auto w = bench_data(rows * cols, 3);
  for (int64_t r = 0; r < rows; ++r)
    tr->quantize(w.data() + r * cols, m.bytes.data() + r * rb, cols);
  ggml_type_to_dtype(t, &m.view.dtype);
  m.view.data = m.bytes.data();
  m.view.rows = rows;
  m.view.cols = cols;
  return m;
}

// An expert-sized matrix (V2-Lite: gate/up 1408 × 2048, down 2048 × 1408), one thread,
// n tokens through the row-dot kernels (tile = 0) or the integer GEMM tiles (tile = 1): where
// the tiles start to pay (kDefaultTileMinTokens).
void BM_MatmulPath(benchmark::State& state, GgmlType t) {
  const int64_t n = state.range(0), rows = state.range(2), cols = state.range(3);
  const BenchMatrix m = quantised_matrix(t, rows, cols);
  const WeightView& view = m.view;
  ThreadPool pool(1);
  const auto x = bench_data(n * cols, 2);
  std::vector<float> y(size_t(n * rows));
  const int64_t previous = matmul_tile_min_tokens();
  set_matmul_tile_min_tokens(state.range(1) ? 1 : (int64_t(1) << 40));
  for (auto _ : state) {
    matmul(view, x.data(), n, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  set_matmul_tile_min_tokens(previous);
  state.counters["GFLOP/s"] = benchmark::Counter(
      2e-9 * double(rows * cols * n) * double(state.iterations()), benchmark::Counter::kIsRate);
}

void path_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n", "tile", "rows", "cols"})->UseRealTime()->Unit(benchmark::kMicrosecond);
  for (int n : {1, 2, 4, 6, 8, 12, 16, 32, 64, 256})
    for (int tile : {0, 1}) b->Args({n, tile, 1408, 2048});
}

// Decode's compute ceiling: one token through an expert-sized matrix that stays in L2, one
// thread. Weight bytes/s here must be well above the DRAM read bandwidth of one core, or a
// decode step cannot keep the memory busy while it computes (docs/PERFORMANCE.md).
void BM_MatvecCached(benchmark::State& state, GgmlType t) {
  const int64_t rows = state.range(0), cols = state.range(1);
  const BenchMatrix m = quantised_matrix(t, rows, cols);
  const WeightView& view = m.view;
  ThreadPool pool(1);
  const auto x = bench_data(cols, 2);
  std::vector<float> y(static_cast<size_t>(rows));
  for (auto _ : state) {
    matmul(view, x.data(), 1, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(m.bytes.size()));
}

void matvec_cached_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"rows", "cols"})
      ->Args({512, 2048})
      ->Args({128, 2048})
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

// 512 rows × 2048: 0.6–1.1 MB in these types, well inside a 2 MB L2 (Intel); 128 rows:
// 0.15–0.27 MB, inside the 512 KB L2 of AMD's Zen 2–4 cores.
BENCHMARK_CAPTURE(BM_MatvecCached, Q4_K, GgmlType::Q4_K)->Apply(matvec_cached_args);
BENCHMARK_CAPTURE(BM_MatvecCached, Q6_K, GgmlType::Q6_K)->Apply(matvec_cached_args);
BENCHMARK_CAPTURE(BM_MatvecCached, Q8_0, GgmlType::Q8_0)->Apply(matvec_cached_args);
BENCHMARK_CAPTURE(BM_MatvecCached, Q5_0, GgmlType::Q5_0)->Apply(matvec_cached_args);
BENCHMARK_CAPTURE(BM_MatvecCached, Q2_K, GgmlType::Q2_K)->Apply(matvec_cached_args);
BENCHMARK_CAPTURE(BM_MatvecCached, Q3_K, GgmlType::Q3_K)->Apply(matvec_cached_args);
BENCHMARK_CAPTURE(BM_MatvecCached, IQ4_XS, GgmlType::IQ4_XS)->Apply(matvec_cached_args);

// Decode's MoE step: the gate and up projections of 8 of 64 expert-sized Q4_K matrices
// pairs (1408 x 2048 each, 370 MB in all, so every step reads from DRAM) in one matmul_batch
// pass, 2 threads, one token; a different set of experts each iteration. Compare its bytes/s
// with BM_Matmul/Q4_K n = 1 (one 256 MB matrix): the gap is the cost of many small matrices.
void BM_MoeDecodeBatch(benchmark::State& state) {
  constexpr int64_t kExperts = 64, kRows = 1408, kIn = 2048, kUsed = 8;
  const QuantTraits* tr = quant_traits(GgmlType::Q4_K);
  const size_t rb = size_t(kIn / tr->block_size) * tr->block_bytes;
  const size_t mat = rb * size_t(kRows);
  static std::vector<uint8_t> bytes;
  if (bytes.empty()) {
    bytes.resize(mat * 2 * kExperts);
    const auto w = bench_data(64 * kIn, 3);
    for (int64_t r = 0; r < 64; ++r) tr->quantize(w.data() + r * kIn, bytes.data() + r * rb, kIn);
    for (size_t off = 64 * rb; off < bytes.size(); off += 64 * rb)
      std::memcpy(bytes.data() + off, bytes.data(), std::min(64 * rb, bytes.size() - off));
  }
  ThreadPool pool(int(state.range(0)));
  const auto x = bench_data(kIn, 2);
  std::vector<float> y(static_cast<size_t>(2 * kUsed * kRows));
  std::vector<MatmulJob> jobs(size_t(2 * kUsed));
  uint32_t seed = 7;
  for (auto _ : state) {
    for (int64_t j = 0; j < kUsed; ++j) {
      seed = seed * 1664525u + 1013904223u;
      const int64_t e = int64_t(seed >> 8) % kExperts;
      for (int64_t h = 0; h < 2; ++h) {
        WeightView v;
        ggml_type_to_dtype(GgmlType::Q4_K, &v.dtype);
        v.data = bytes.data() + (size_t(e) * 2 + size_t(h)) * mat;
        v.rows = kRows;
        v.cols = kIn;
        jobs[size_t(2 * j + h)] = {v, x.data(), 1, y.data() + (2 * j + h) * kRows};
      }
    }
    matmul_batch(jobs.data(), int(jobs.size()), pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(2 * kUsed) * int64_t(mat));
}
BENCHMARK(BM_MoeDecodeBatch)
    ->ArgName("threads")
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_CAPTURE(BM_MatmulPath, Q4_K, GgmlType::Q4_K)->Apply(path_args);
BENCHMARK_CAPTURE(BM_MatmulPath, Q5_0, GgmlType::Q5_0)->Apply(path_args);
BENCHMARK_CAPTURE(BM_MatmulPath, Q8_0, GgmlType::Q8_0)->Apply(path_args);
BENCHMARK_CAPTURE(BM_MatmulPath, Q6_K, GgmlType::Q6_K)->Apply(path_args);
BENCHMARK_CAPTURE(BM_MatmulPath, Q3_K, GgmlType::Q3_K)->Apply(path_args);
BENCHMARK_CAPTURE(BM_MatmulPath, Q2_K, GgmlType::Q2_K)->Apply(path_args);

BENCHMARK_CAPTURE(BM_MatmulCached, BF16_Avx512, Isa::kAvx512)->Apply(cached_args);
BENCHMARK_CAPTURE(BM_MatmulCached, BF16_Avx2, Isa::kAvx2)->Apply(cached_args);

DS_MATMUL_BENCH(BF16, Avx512)
DS_MATMUL_BENCH(BF16, Avx2)
DS_MATMUL_BENCH(Q8_0, Avx512)
DS_MATMUL_BENCH(Q8_0, Avx2)
DS_MATMUL_BENCH(Q5_0, Avx512)
DS_MATMUL_BENCH(Q5_0, Avx2)
DS_MATMUL_BENCH(Q4_K, Avx512)
DS_MATMUL_BENCH(Q4_K, Avx2)
DS_MATMUL_BENCH(Q6_K, Avx512)
DS_MATMUL_BENCH(Q6_K, Avx2)

}  // namespace
}  // namespace ds

namespace ds {
namespace {

// The LM head of the server benchmark's model (bench/serve_bench.mjs): F32 [129,280 × 256],
// 132 MB, for 1 to 4 tokens on 2 threads — a decode step of 1 to 4 streams. The 4-token pass
// costs more than the 1-token one only where the FMAs do not hide under the weight stream.
void BM_HeadF32(benchmark::State& state) {
  const int64_t rows = 129280, cols = 256, n = state.range(0);
  static HugeBuffer buf(size_t(rows * cols) * 4);
  float* w = reinterpret_cast<float*>(buf.data());
  for (int64_t i = 0; i < rows * cols; ++i) w[i] = float((i * 7919) % 1000) * 1e-3f - 0.5f;
  WeightView v;
  v.dtype = DType::F32;
  v.data = w;
  v.rows = rows;
  v.cols = cols;
  ThreadPool pool(int(state.range(1)));
  const auto x = bench_data(n * cols, 3);
  std::vector<float> y(size_t(n * rows));
  for (auto _ : state) {
    matmul(v, x.data(), n, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * rows * cols * 4);
}
BENCHMARK(BM_HeadF32)
    ->ArgNames({"n", "threads"})
    ->Args({1, 2})
    ->Args({2, 2})
    ->Args({4, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace ds
