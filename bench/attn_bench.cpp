// The attention kernels over one layer's latent cache, as one decode step runs them on one
// thread: 8 heads (16 heads on 2 threads), kv_lora 512 + rope 64, tiles of 256 positions,
// scores → exp → values. F32 against BF16 cache, per ISA, at a context that fits the L2
// and one that does not. Reports cache positions per second.
//
//   ./build/dsinfer_bench --benchmark_filter=Attn
#include <benchmark/benchmark.h>

#include <algorithm>
#include <vector>

#include "backend/cpu/kernels.h"
#include "core/dtype.h"
#include "core/huge_buffer.h"

namespace ds {
namespace {

constexpr int64_t kHeads = 8, kRank = 512, kWidth = 576, kTile = 256;

// part: 0 the whole pass, 1 scores only, 2 values only.
void BM_Attn(benchmark::State& state, Isa isa, bool bf16, int part = 0) {
  if (!isa_supported(isa)) {
    state.SkipWithError("ISA not supported");
    return;
  }
  const CpuKernels& k = cpu_kernels_for(isa);
  const int64_t len = state.range(0);
  std::vector<float> cache(size_t(len * kWidth));
  uint32_t s = 7;
  for (auto& v : cache) {
    s = s * 1664525u + 1013904223u;
    v = float(int32_t(s >> 8) - (1 << 23)) / float(1 << 23);
  }
  std::vector<uint16_t> cache16(cache.size());
  for (size_t i = 0; i < cache.size(); ++i) cache16[i] = f32_to_bf16(cache[i]);
  std::vector<float> q(size_t(kHeads * kWidth), 0.01f), sc(size_t(kHeads * kTile));
  std::vector<float> u(size_t(kHeads * kRank));
  for (auto _ : state) {
    std::fill(u.begin(), u.end(), 0.0f);
    for (int64_t s0 = 0; s0 < len; s0 += kTile) {
      const int64_t tl = std::min(kTile, len - s0);
      const uint16_t* kv16 = cache16.data() + s0 * kWidth;
      const float* kv32 = cache.data() + s0 * kWidth;
      if (part != 2) {
        if (bf16)
          k.attn_scores_bf16(q.data(), kWidth, kHeads, kv16, kWidth, tl, kWidth, 0.1f, sc.data(),
                             kTile);
        else
          k.attn_scores(q.data(), kWidth, kHeads, kv32, kWidth, tl, kWidth, 0.1f, sc.data(), kTile);
      }
      if (part == 0)
        for (int64_t h = 0; h < kHeads; ++h) k.exp_shifted_sum(sc.data() + h * kTile, tl, 1.0f);
      if (part != 1) {
        if (bf16)
          k.attn_values_bf16(sc.data(), kTile, kHeads, kv16, kWidth, tl, kRank, u.data(), kRank);
        else
          k.attn_values(sc.data(), kTile, kHeads, kv32, kWidth, tl, kRank, u.data(), kRank);
      }
    }
    benchmark::DoNotOptimize(u.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * len);
  state.SetBytesProcessed(int64_t(state.iterations()) * len * kWidth * (bf16 ? 2 : 4));
}

// One whole pass over a BF16 cache for `heads` heads (what one thread does in a decode step
// with the positions split): the table's attend_bf16 where it has one (amx), else BM_Attn's
// composition of scores, exp and values. With `cold`, each iteration reads the next of
// enough copies of the cache (256 MiB in all) that it comes from memory, as in a decode step,
// where the other layers' weights pass through the caches between two visits of one layer.
void BM_AttnPass(benchmark::State& state, Isa isa, int64_t heads, bool cold = false) {
  if (!isa_supported(isa)) {
    state.SkipWithError("ISA not supported");
    return;
  }
  const CpuKernels& k = cpu_kernels_for(isa);
  const int64_t len = state.range(0);
  const int64_t one = len * kWidth;  // values per copy
  const int64_t copies = cold ? std::max<int64_t>(1, (int64_t(256) << 20) / (one * 2)) : 1;
  HugeBuffer buf(size_t(one * copies) * 2);  // page-aligned, as the model's cache
  uint16_t* all16 = reinterpret_cast<uint16_t*>(buf.data());
  uint32_t s = 7;
  for (int64_t i = 0; i < one; ++i) {
    s = s * 1664525u + 1013904223u;
    all16[i] = f32_to_bf16(float(int32_t(s >> 8) - (1 << 23)) / float(1 << 23));
  }
  for (int64_t c = 1; c < copies; ++c) std::copy_n(all16, one, all16 + c * one);
  int64_t next = 0;
  std::vector<float> q(size_t(heads * kWidth), 0.01f), sc(size_t(heads * kTile));
  std::vector<float> u(size_t(heads * kRank)), mx(static_cast<size_t>(heads)),
      sum(static_cast<size_t>(heads));
  for (auto _ : state) {
    const uint16_t* cache16 = all16 + next * one;
    next = (next + 1) % copies;
    if (k.attend_bf16) {
      k.attend_bf16(q.data(), heads, cache16, kWidth, kRank, len, 0.1f, u.data(), mx.data(),
                    sum.data());
    } else {
      std::fill(u.begin(), u.end(), 0.0f);
      for (int64_t s0 = 0; s0 < len; s0 += kTile) {
        const int64_t tl = std::min(kTile, len - s0);
        const uint16_t* kv16 = cache16 + s0 * kWidth;
        k.attn_scores_bf16(q.data(), kWidth, heads, kv16, kWidth, tl, kWidth, 0.1f, sc.data(),
                           kTile);
        for (int64_t h = 0; h < heads; ++h) k.exp_shifted_sum(sc.data() + h * kTile, tl, 1.0f);
        k.attn_values_bf16(sc.data(), kTile, heads, kv16, kWidth, tl, kRank, u.data(), kRank);
      }
    }
    benchmark::DoNotOptimize(u.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * len);
  state.SetBytesProcessed(int64_t(state.iterations()) * len * kWidth * 2);
}
BENCHMARK_CAPTURE(BM_AttnPass, bf16_16heads_Amx, Isa::kAmx, 16)->Arg(1024)->Arg(4096)->Arg(8192);
BENCHMARK_CAPTURE(BM_AttnPass, bf16_16heads_cold_Amx, Isa::kAmx, 16, true)->Arg(4096);
BENCHMARK_CAPTURE(BM_AttnPass, bf16_16heads_cold_Avx512, Isa::kAvx512, 16, true)->Arg(4096);
BENCHMARK_CAPTURE(BM_AttnPass, bf16_16heads_Avx512, Isa::kAvx512, 16)->Arg(1024)->Arg(4096);
// 8 heads: each thread's share with the heads split (prefill, short contexts); the tile
// kernel still multiplies 16 columns.
BENCHMARK_CAPTURE(BM_AttnPass, bf16_8heads_Amx, Isa::kAmx, 8)->Arg(256)->Arg(1024)->Arg(4096);
BENCHMARK_CAPTURE(BM_AttnPass, bf16_8heads_Avx512, Isa::kAvx512, 8)->Arg(256)->Arg(1024)->Arg(4096);

#define DS_ATTN_BENCH(ISA)                                                         \
  BENCHMARK_CAPTURE(BM_Attn, f32_##ISA, Isa::k##ISA, false)->Arg(1024)->Arg(8192); \
  BENCHMARK_CAPTURE(BM_Attn, bf16_##ISA, Isa::k##ISA, true)->Arg(1024)->Arg(8192);
DS_ATTN_BENCH(Avx512)
BENCHMARK_CAPTURE(BM_Attn, f32_scores_Avx512, Isa::kAvx512, false, 1)->Arg(8192);
BENCHMARK_CAPTURE(BM_Attn, bf16_scores_Avx512, Isa::kAvx512, true, 1)->Arg(8192);
BENCHMARK_CAPTURE(BM_Attn, f32_values_Avx512, Isa::kAvx512, false, 2)->Arg(8192);
BENCHMARK_CAPTURE(BM_Attn, bf16_values_Avx512, Isa::kAvx512, true, 2)->Arg(8192);
DS_ATTN_BENCH(Avx2)
DS_ATTN_BENCH(Scalar)

}  // namespace
}  // namespace ds
