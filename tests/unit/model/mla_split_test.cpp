// MLA attention with the positions split across threads (decode at long contexts) against the
// heads split: the same result up to the order of the softmax merge's float sums; and with
// the tokens split (prompts) against the heads split: the same result.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "backend/cpu/kernels.h"
#include "model/forward.h"
#include "runtime/thread_pool.h"
#include "test_util.h"
#include "tiny_model.h"

namespace ds {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

// Sets the threshold for the scope of a test, then restores the default.
struct SplitMin {
  explicit SplitMin(int64_t n, bool tokens = true) {
    set_attn_split_min_positions(n);
    set_attn_split_tokens(tokens);
  }
  ~SplitMin() {
    set_attn_split_min_positions(kDefaultAttnSplitMinPositions);
    set_attn_split_tokens(true);
  }
};

// The attention shapes: heads, latent rank, RoPE key width.
struct Shape {
  int64_t heads, rank, rope;
};

class MlaSplitTest : public ::testing::TestWithParam<Shape> {
 protected:
  void SetUp() override {
    previous_ = cpu_kernels().isa;
    nlohmann::json cfg = testing::tiny_v3_config();
    cfg["num_attention_heads"] = GetParam().heads;
    cfg["kv_lora_rank"] = GetParam().rank;
    cfg["qk_rope_head_dim"] = GetParam().rope;
    cfg["max_position_embeddings"] = 4096;
    testing::write_tiny_model(dir_.path(), cfg);
    model_ = Model::load(dir_.path());
  }

  // mla_attention of layer 0 for n random tokens at positions len … len+n−1 of one cache
  // whose first len rows are random; returns a.out [n, D].
  std::vector<float> attend(DType type, int64_t len, int64_t n, int threads, int64_t split_min,
                            bool split_tokens = true) const {
    const ModelConfig& c = model_->config;
    const int64_t D = c.hidden_size, W = c.kv_cache_width();
    SplitMin guard(split_min, split_tokens);
    ThreadPool pool(threads);
    KvCache cache(c.num_hidden_layers, len + n, W, type);
    std::mt19937 g(uint32_t(len * 7 + n));
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> row(static_cast<size_t>(W));
    for (int64_t p = 0; p < len; ++p) {
      // A few rows far larger than the rest: the running max then jumps inside one thread's
      // share and differs between the shares, which the merge has to reconcile.
      const float amp = p % 97 == 13 ? 4.0f : 1.0f;
      for (auto& x : row) x = amp * nd(g);
      cache.store(0, p, row.data());
    }
    Activations a;
    a.reserve(c, n, threads);
    for (int64_t i = 0; i < n * D; ++i) a.xn[size_t(i)] = nd(g);
    for (int64_t t = 0; t < n; ++t) {
      a.tok_cache[size_t(t)] = &cache;
      a.tok_pos[size_t(t)] = len + t;
    }
    mla_attention(*model_, model_->layers[0].attn, 0, n, a, pool);
    return std::vector<float>(a.out.begin(), a.out.begin() + n * D);
  }

  static float max_abs(const std::vector<float>& v) {
    float m = 0;
    for (float x : v) m = std::max(m, std::fabs(x));
    return m;
  }
  static float max_diff(const std::vector<float>& a, const std::vector<float>& b) {
    float d = 0;
    for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
    return d;
  }

  void TearDown() override { set_cpu_isa(previous_); }

  Isa previous_ = Isa::kScalar;
  testing::TempDir dir_;
  std::unique_ptr<Model> model_;
};

// Context lengths below one tile, at and off tile boundaries, shorter and longer than the
// default threshold; one and several tokens per pass; one and two threads.
TEST_P(MlaSplitTest, PositionsSplitEqualsHeadsSplit) {
  for (DType type : {DType::F32, DType::BF16, DType::Q8_0})
    for (int64_t len : {0, 1, 100, 255, 256, 300, 767, 1023, 1500, 2048, 2600})
      for (int64_t n : {1, 3})
        for (int threads : {1, 2}) {
          const auto heads = attend(type, len, n, threads, kNever);
          const auto positions = attend(type, len, n, threads, 0);
          ASSERT_EQ(heads.size(), positions.size());
          const float scale = max_abs(heads);
          ASSERT_GT(scale, 0.0f);
          const float d = max_diff(heads, positions);
          if (threads == 1)  // one share: nothing to merge, the same sums in the same order
            EXPECT_EQ(d, 0.0f) << cache_type_name(type) << " len " << len << " n " << n;
          else
            EXPECT_LE(d, 1e-5f * scale) << cache_type_name(type) << " len " << len << " n " << n;
        }
}

// The default threshold picks the heads split below it and the positions split from it on.
TEST_P(MlaSplitTest, DefaultThresholdChoosesThePath) {
  const int64_t k = kDefaultAttnSplitMinPositions;
  for (DType type : {DType::F32, DType::BF16, DType::Q8_0}) {
    const int64_t below = k - 2, at = k - 1;  // one token at position len: len + 1 positions
    EXPECT_EQ(attend(type, below, 1, 2, k), attend(type, below, 1, 2, kNever));
    EXPECT_EQ(attend(type, at, 1, 2, k), attend(type, at, 1, 2, 0));
    EXPECT_NE(attend(type, at, 1, 2, kNever), attend(type, at, 1, 2, 0));
  }
  // Passes of more than 16 tokens (prefill) always split the heads.
  EXPECT_EQ(attend(DType::F32, 1500, 17, 2, 0), attend(DType::F32, 1500, 17, 2, kNever));
}

// Prompts: the tokens split (chunks of 16 tokens with every head) against the heads split,
// for passes of 2 and more chunks per thread, a last chunk of fewer than 16 tokens, positions
// from 0 and after a cached prefix, and 2 and 3 threads. The kernels treat each head alone,
// so the results are equal wherever both splits reach the same kernels; with a bf16 cache on
// a table with the tile kernel, 8 heads over 2 or 3 threads leave fewer than 6 heads per
// thread (the vector kernels) when the heads are split and all 8 (the tiles) when the tokens
// are: then they agree to float rounding (TileAttentionMatchesVectorKernels).
TEST_P(MlaSplitTest, TokensSplitEqualsHeadsSplit) {
  const int64_t heads = GetParam().heads;
  for (DType type : {DType::F32, DType::BF16, DType::Q8_0})
    for (int64_t len : {0, 300, 1500})
      for (int threads : {2, 3})
        for (int64_t n : {int64_t(64) * threads, int64_t(64) * threads + 37}) {
          const auto tokens = attend(type, len, n, threads, kNever, true);
          const auto by_heads = attend(type, len, n, threads, kNever, false);
          ASSERT_EQ(tokens.size(), by_heads.size());
          const bool tiles_differ =
              type == DType::BF16 && cpu_kernels().attend_bf16 && heads >= 6 && heads / threads < 6;
          if (tiles_differ)
            EXPECT_LE(max_diff(tokens, by_heads), 1e-5f * max_abs(by_heads))
                << "len " << len << " n " << n << " threads " << threads;
          else
            EXPECT_EQ(tokens, by_heads)
                << cache_type_name(type) << " len " << len << " n " << n << " threads " << threads;
        }
}

// End to end: decoding token by token with the positions split equals one batch (which
// splits the heads), through both cache types.
TEST_P(MlaSplitTest, SplitDecodeEqualsOneBatch) {
  SplitMin guard(0);
  ThreadPool pool(2);
  const int64_t V = 256, n = 600;
  std::vector<int32_t> t(static_cast<size_t>(n));
  uint32_t seed = 17;
  for (auto& x : t) x = int32_t((seed = seed * 1664525u + 1013904223u) >> 8) % 256;
  for (DType type : {DType::F32, DType::BF16, DType::Q8_0}) {
    Session batch(*model_, pool, n, type);
    std::vector<float> all(static_cast<size_t>(n * V));
    batch.forward(t.data(), n, all.data(), true);
    Session step(*model_, pool, n, type);
    step.forward(t.data(), 550, nullptr, false);  // 550 > 16 tokens: heads split
    std::vector<float> one(static_cast<size_t>(V));
    for (int64_t i = 550; i < n; ++i) {
      step.forward(&t[size_t(i)], 1, one.data(), false);
      float d = 0;
      for (int64_t j = 0; j < V; ++j)
        d = std::max(d, std::fabs(one[size_t(j)] - all[size_t(i * V + j)]));
      ASSERT_LT(d, 1e-4f) << cache_type_name(type) << " position " << i;
    }
  }
}

// With a bf16 cache, the tile kernel (attend_bf16 of the amx table, from 6 heads per call)
// against the vector kernels of the avx512 table, through both splits.
TEST_P(MlaSplitTest, TileAttentionMatchesVectorKernels) {
  if (!isa_supported(Isa::kAmx) || !cpu_kernels_for(Isa::kAmx).attend_bf16)
    GTEST_SKIP() << "no AMX-BF16 on this CPU";
  for (int64_t len : {100, 600, 2600})
    for (int64_t n : {1, 3})
      for (int threads : {1, 2})
        for (int64_t split_min : {int64_t(0), kNever}) {
          set_cpu_isa(Isa::kAmx);
          const auto tiles = attend(DType::BF16, len, n, threads, split_min);
          set_cpu_isa(Isa::kAvx512);
          const auto vectors = attend(DType::BF16, len, n, threads, split_min);
          EXPECT_LE(max_diff(tiles, vectors), 1e-5f * max_abs(vectors))
              << "len " << len << " n " << n << " threads " << threads;
        }
}

// Three heads (an uneven split over two threads; too few for the tile kernel), a latent of 32
// plus a RoPE key of 4 (a row width that is no multiple of any vector width); and eight heads
// with a latent of 64 and a RoPE key of 32 (the tile kernel's case, with 4 heads per thread
// when the heads are split over two threads, which the vector kernels take).
INSTANTIATE_TEST_SUITE_P(Shapes, MlaSplitTest, ::testing::Values(Shape{3, 32, 4}, Shape{8, 64, 32}),
                         [](const auto& info) {
                           return "h" + std::to_string(info.param.heads) + "_r" +
                                  std::to_string(info.param.rank);
                         });

}  // namespace
}  // namespace ds
