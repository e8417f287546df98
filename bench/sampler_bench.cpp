// Sampling one token from a DeepSeek-sized vocabulary (129,280 logits), per filter setting:
// what each generated token costs on top of the forward pass.
//
//   ./build/dsinfer_bench --benchmark_filter=Sampler
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "runtime/sampler.h"

namespace ds {
namespace {

// sigma: the spread of the random logits (3: a few hundred likely tokens; 0.3: nearly flat,
// as from a random-weight model, the hardest case for top-p).
void BM_Sampler(benchmark::State& state, float temperature, float top_p, float min_p, int32_t top_k,
                float sigma = 3.0f) {
  const int64_t V = 129280;
  std::mt19937 g(1);
  std::normal_distribution<float> nd(0.0f, sigma);
  std::vector<float> base(static_cast<size_t>(V)), l(base.size());
  for (auto& x : base) x = nd(g);
  SamplingParams p;
  p.temperature = temperature;
  p.top_p = top_p;
  p.min_p = min_p;
  p.top_k = top_k;
  Sampler s(p);
  for (auto _ : state) {
    l = base;
    benchmark::DoNotOptimize(s.sample(l.data(), V));
  }
}
BENCHMARK_CAPTURE(BM_Sampler, greedy, 0.0f, 1.0f, 0.0f, 0)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Sampler, t1, 1.0f, 1.0f, 0.0f, 0)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Sampler, t07_top_p09, 0.7f, 0.9f, 0.0f, 0)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Sampler, t1_min_p005, 1.0f, 1.0f, 0.05f, 0)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Sampler, t1_top_k40, 1.0f, 1.0f, 0.0f, 40)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Sampler, flat_t1, 1.0f, 1.0f, 0.0f, 0, 0.3f)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Sampler, flat_t1_top_p095, 1.0f, 0.95f, 0.0f, 0, 0.3f)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace ds
