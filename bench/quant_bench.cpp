// Scalar reference throughput of the quant kernels (the baseline SIMD kernels are measured
// against): dequantisation, reference quantisation and vec_dot, per GGML type. Reports
// weight bytes/s so the numbers compare with memory bandwidth.
#include <benchmark/benchmark.h>

#include <vector>

#include "quant/quant.h"

namespace ds {
namespace {

constexpr int64_t kN = 256 * 64;  // elements per row

std::vector<float> bench_data(int64_t n) {
  std::vector<float> x(n);
  uint32_t s = 1;
  for (auto& v : x) {
    s = s * 1664525u + 1013904223u;
    v = float(int32_t(s >> 8) - (1 << 23)) / float(1 << 23);
  }
  return x;
}

void BM_Dequantize(benchmark::State& state, GgmlType t) {
  const QuantTraits* tr = quant_traits(t);
  const auto x = bench_data(kN);
  std::vector<uint8_t> q(ggml_row_bytes(t, kN));
  tr->quantize(x.data(), q.data(), kN);
  std::vector<float> y(kN);
  for (auto _ : state) {
    tr->dequantize(q.data(), y.data(), kN);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(q.size()));
}

void BM_QuantizeRef(benchmark::State& state, GgmlType t) {
  const QuantTraits* tr = quant_traits(t);
  const auto x = bench_data(kN);
  std::vector<uint8_t> q(ggml_row_bytes(t, kN));
  for (auto _ : state) {
    tr->quantize(x.data(), q.data(), kN);
    benchmark::DoNotOptimize(q.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * kN);
}

void BM_VecDot(benchmark::State& state, GgmlType t) {
  const QuantTraits* tw = quant_traits(t);
  const QuantTraits* ta = quant_traits(tw->vec_dot_type);
  const auto x = bench_data(kN);
  std::vector<uint8_t> qw(ggml_row_bytes(t, kN)), qa(ggml_row_bytes(tw->vec_dot_type, kN));
  tw->quantize(x.data(), qw.data(), kN);
  ta->quantize(x.data(), qa.data(), kN);
  for (auto _ : state) benchmark::DoNotOptimize(tw->vec_dot(qw.data(), qa.data(), kN));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(qw.size()));
}

#define DS_QUANT_BENCH(T)                            \
  BENCHMARK_CAPTURE(BM_Dequantize, T, GgmlType::T);  \
  BENCHMARK_CAPTURE(BM_QuantizeRef, T, GgmlType::T); \
  BENCHMARK_CAPTURE(BM_VecDot, T, GgmlType::T)

DS_QUANT_BENCH(F16);
DS_QUANT_BENCH(BF16);
DS_QUANT_BENCH(Q8_0);
DS_QUANT_BENCH(Q4_0);
DS_QUANT_BENCH(Q4_1);
DS_QUANT_BENCH(Q5_0);
DS_QUANT_BENCH(Q5_1);
DS_QUANT_BENCH(Q2_K);
DS_QUANT_BENCH(Q3_K);
DS_QUANT_BENCH(Q4_K);
DS_QUANT_BENCH(Q5_K);
DS_QUANT_BENCH(Q6_K);
DS_QUANT_BENCH(IQ4_NL);
DS_QUANT_BENCH(IQ4_XS);

}  // namespace
}  // namespace ds
