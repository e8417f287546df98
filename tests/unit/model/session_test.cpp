// Engine invariants that need no reference: cache reuse, chunking and batching of several
// sequences must not change a single logit beyond float rounding.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/forward.h"
#include "quant/blocks.h"
#include "runtime/thread_pool.h"
#include "test_util.h"
#include "tiny_model.h"

namespace ds {
namespace {

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_tiny_model(dir_.path(), testing::tiny_v3_config());
    model_ = Model::load(dir_.path());
  }
  std::vector<int32_t> tokens(int64_t n, uint32_t seed) const {
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (auto& x : t) x = int32_t((seed = seed * 1664525u + 1013904223u) >> 8) % 256;
    return t;
  }
  static float max_diff(const float* a, const float* b, int64_t n) {
    float d = 0;
    for (int64_t i = 0; i < n; ++i) d = std::max(d, std::fabs(a[i] - b[i]));
    return d;
  }
  testing::TempDir dir_;
  std::unique_ptr<Model> model_;
  ThreadPool pool_{2};
};

TEST_F(SessionTest, DecodeThroughTheCacheEqualsOneBatch) {
  const auto t = tokens(40, 3);
  const int64_t V = 256;
  Session batch(*model_, pool_, 64);
  std::vector<float> all(t.size() * V);
  batch.forward(t.data(), int64_t(t.size()), all.data(), true);
  Session step(*model_, pool_, 64);
  std::vector<float> one(V);
  for (size_t i = 0; i < t.size(); ++i) {
    step.forward(&t[i], 1, one.data(), false);
    ASSERT_LT(max_diff(one.data(), all.data() + i * V, V), 1e-4f) << "position " << i;
  }
}

TEST_F(SessionTest, LongPromptsAreChunkedWithoutChangingLogits) {
  const auto t = tokens(Session::kMaxBatch + 37, 5);
  const int64_t V = 256, n = int64_t(t.size());
  const int64_t ctx = Session::kMaxBatch + 64;
  Session a(*model_, pool_, ctx);
  std::vector<float> la(V);
  a.forward(t.data(), n, la.data(), false);
  Session b(*model_, pool_, ctx);
  b.forward(t.data(), 100, nullptr, false);  // prefix first, then the rest
  std::vector<float> lb(V);
  b.forward(t.data() + 100, n - 100, lb.data(), false);
  EXPECT_LT(max_diff(la.data(), lb.data(), V), 1e-4f);
  EXPECT_EQ(a.tokens(), t);
}

TEST_F(SessionTest, SeveralSequencesInOnePassMatchSeparateRuns) {
  const int64_t V = 256;
  const auto p1 = tokens(9, 7), p2 = tokens(5, 11), p3 = tokens(13, 13);
  // Separately.
  std::vector<std::vector<float>> want;
  for (const auto* p : {&p1, &p2, &p3}) {
    Session s(*model_, pool_, 64);
    s.forward(p->data(), int64_t(p->size()), nullptr, false);
    const int32_t next = 42;
    want.emplace_back(V);
    s.forward(&next, 1, want.back().data(), false);
  }
  // Prefill all three in one batched step, then one decode step for all three together.
  Session s1(*model_, pool_, 64), s2(*model_, pool_, 64), s3(*model_, pool_, 64);
  Activations act;
  SeqBatch prefill[3] = {{&s1, p1.data(), 9, nullptr, false},
                         {&s2, p2.data(), 5, nullptr, false},
                         {&s3, p3.data(), 13, nullptr, false}};
  forward_multi(*model_, pool_, act, prefill, 3);
  const int32_t next = 42;
  std::vector<float> got(3 * V);
  SeqBatch step[3] = {{&s1, &next, 1, got.data(), false},
                      {&s2, &next, 1, got.data() + V, false},
                      {&s3, &next, 1, got.data() + 2 * V, false}};
  forward_multi(*model_, pool_, act, step, 3);
  for (int i = 0; i < 3; ++i)
    EXPECT_LT(max_diff(got.data() + i * V, want[size_t(i)].data(), V), 1e-4f) << i;
  EXPECT_EQ(s3.n_past(), 14);
}

TEST_F(SessionTest, TruncateRewindsTheCache) {
  const auto t = tokens(20, 17);
  const int64_t V = 256;
  Session s(*model_, pool_, 64);
  std::vector<float> a(V), b(V);
  s.forward(t.data(), 20, a.data(), false);
  s.truncate(12);
  EXPECT_EQ(s.n_past(), 12);
  EXPECT_EQ(s.tokens(), std::vector<int32_t>(t.begin(), t.begin() + 12));
  s.forward(t.data() + 12, 8, b.data(), false);
  EXPECT_LT(max_diff(a.data(), b.data(), V), 1e-5f);
}

TEST_F(SessionTest, BadTokensAndOverflowAreErrorsThatChangeNothing) {
  Session s(*model_, pool_, 8);
  const auto t = tokens(8, 19);
  s.forward(t.data(), 4, nullptr, false);
  const int32_t bad[2] = {1, 256};
  testing::expect_error([&] { s.forward(bad, 2, nullptr, false); },
                        "token id 256 at position 1 is out of range");
  testing::expect_error([&] { s.forward(t.data(), 5, nullptr, false); }, "context overflow");
  EXPECT_EQ(s.n_past(), 4);
  testing::expect_error([&] { Session big(*model_, pool_, 4096); },
                        "exceeds the model's max_position_embeddings");
}

// An 8-bit cache row: blocks of 32 values with scale d = max|x| / 127 (f16), each value
// within d / 2 of what was stored; a width that is not a multiple of 32 ends in a zero-padded
// block. Other rows stay untouched.
TEST_F(SessionTest, Q8CacheRowsKeepEachValueWithinHalfAStep) {
  const int64_t W = 80;  // two whole blocks and half of a third (the shipped model's width)
  KvCache c(2, 3, W, DType::Q8_0);
  EXPECT_EQ(c.row_bytes(), 3 * sizeof(BlockQ8_0));
  std::vector<float> row(W);
  for (int64_t i = 0; i < W; ++i) row[size_t(i)] = std::sin(0.7f * float(i)) * float(1 + i % 7);
  row[5] = 0.0f;
  c.store(1, 2, row.data());
  std::vector<float> back(W, std::nanf(""));
  c.load(1, 2, back.data());
  for (int64_t b = 0; b < W; b += 32) {
    float amax = 0;
    for (int64_t i = b; i < std::min(W, b + 32); ++i)
      amax = std::max(amax, std::fabs(row[size_t(i)]));
    const float step = amax / 127.0f;
    for (int64_t i = b; i < std::min(W, b + 32); ++i)
      EXPECT_LE(std::fabs(back[size_t(i)] - row[size_t(i)]), 0.5f * step * 1.002f + 1e-7f) << i;
  }
  EXPECT_EQ(back[5], 0.0f);
  const BlockQ8_0* last = static_cast<const BlockQ8_0*>(c.data(1, 2)) + 2;
  for (int i = W - 64; i < 32; ++i) EXPECT_EQ(last->qs[i], 0) << "padding " << i;
  std::vector<float> other(W);
  c.load(0, 2, other.data());
  for (float v : other) EXPECT_EQ(v, 0.0f);
}

TEST_F(SessionTest, Bf16CacheRowsAreRoundedToNearestEven) {
  KvCache c(2, 3, 6, DType::BF16);
  EXPECT_EQ(c.row_bytes(), 12u);
  // 1 + 2^-8 is halfway between two bf16 values: ties go to the even one (1.0); 1 + 3·2^-8
  // goes up to 1 + 2^-6; just above a halfway point rounds up.
  const float row[6] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-8f + 0x1p-16f, -2.5f, 0.0f,
                        3.0e38f};
  c.store(1, 2, row);
  const uint16_t* bits = static_cast<const uint16_t*>(c.data(1, 2));
  EXPECT_EQ(bits[0], 0x3f80);
  EXPECT_EQ(bits[1], 0x3f82);
  EXPECT_EQ(bits[2], 0x3f81);
  EXPECT_EQ(bits[3], 0xc020);
  EXPECT_EQ(bits[4], 0x0000);
  float back[6];
  c.load(1, 2, back);
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_EQ(back[1], 1.0f + 0x1p-6f);
  EXPECT_EQ(back[3], -2.5f);
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(back[i], row[i], std::fabs(row[i]) * 0x1p-8f) << i;
  // The other rows are untouched (zero).
  float other[6];
  c.load(0, 2, other);
  for (float v : other) EXPECT_EQ(v, 0.0f);
}

// `--cache-type auto` (a Session without a cache type): the precision of the weights that
// write the cache. A float32 model keeps float32 end to end; BF16, FP8 and block-quantised
// weights get a BF16 cache (docs/numerics.md, section 7).
TEST_F(SessionTest, DefaultCacheTypeFollowsTheWeights) {
  EXPECT_EQ(model_->layers[0].attn.kv_a.dtype, DType::F32);
  EXPECT_EQ(default_cache_type(*model_), DType::F32);
  EXPECT_EQ(Session(*model_, pool_, 16).cache_type(), DType::F32);
  EXPECT_EQ(Session(*model_, pool_, 16, DType::BF16).cache_type(), DType::BF16);
  EXPECT_EQ(Session(*model_, pool_, 16, parse_cache_type("auto")).cache_type(), DType::F32);
  Model m;
  m.layers.resize(1);
  for (DType w : {DType::F32, DType::F16}) {
    m.layers[0].attn.kv_a.dtype = w;
    EXPECT_EQ(default_cache_type(m), DType::F32) << dtype_name(w);
  }
  for (DType w : {DType::BF16, DType::F8_E4M3, DType::Q8_0, DType::Q4_K, DType::Q6_K}) {
    m.layers[0].attn.kv_a.dtype = w;
    EXPECT_EQ(default_cache_type(m), DType::BF16) << dtype_name(w);
    EXPECT_EQ(resolve_cache_type(DType::F32, m), DType::F32) << dtype_name(w);
  }
  EXPECT_EQ(cache_type_name(std::nullopt), std::string("auto"));
  EXPECT_THROW(parse_cache_type("f16"), Error);
}

// The documented tolerance of a BF16 cache (docs/numerics.md, "KV cache in bf16"), against
// the F32 cache on the same model: per position the median and 90th percentile of |Δlogit|
// over the vocabulary, bounded as their medians over the positions; a few positions may
// route to other experts (the random model's routing has near-ties) and move more. Over a
// prompt that spans more than one attention tile, then decoded tokens.
// Per prompt: the typical (median over positions) median and p90 of |Δlogit| between an F32
// cache and a `type` cache, and how many positions had some logit move by more than `far`.
struct CacheDrift {
  float typ_med, typ_p90;
  int64_t moved;
};

CacheDrift cache_drift(const Model& model, ThreadPool& pool, const std::vector<int32_t>& t,
                       DType type, float far) {
  const int64_t V = 256, n = int64_t(t.size()), n_dec = 20;
  Session s32(model, pool, 512, DType::F32), sq(model, pool, 512, type);
  EXPECT_EQ(sq.cache_type(), type);
  std::vector<float> l32(size_t((n + n_dec) * V)), lq(size_t((n + n_dec) * V));
  s32.forward(t.data(), n, l32.data(), true);
  sq.forward(t.data(), n, lq.data(), true);
  int32_t next = 7;
  for (int64_t i = 0; i < n_dec; ++i) {
    s32.forward(&next, 1, l32.data() + (n + i) * V, false);
    sq.forward(&next, 1, lq.data() + (n + i) * V, false);
    next = int32_t((next * 31 + 5) % V);
  }
  std::vector<float> med, p90;
  int64_t moved = 0;
  for (int64_t i = 0; i < n + n_dec; ++i) {
    std::vector<float> d(static_cast<size_t>(V));
    for (int64_t j = 0; j < V; ++j)
      d[size_t(j)] = std::fabs(l32[size_t(i * V + j)] - lq[size_t(i * V + j)]);
    std::sort(d.begin(), d.end());
    med.push_back(d[size_t(V / 2)]);
    p90.push_back(d[size_t(V * 9 / 10)]);
    moved += d.back() > far;
  }
  std::sort(med.begin(), med.end());
  std::sort(p90.begin(), p90.end());
  return {med[med.size() / 2], p90[p90.size() / 2], moved};
}

TEST_F(SessionTest, Bf16CacheLogitsStayCloseToF32Cache) {
  const int64_t n = 300, n_dec = 20;
  for (uint32_t seed : {23u, 41u, 47u, 59u}) {
    Session s32(*model_, pool_, 512, DType::F32), s16(*model_, pool_, 512, DType::BF16);
    EXPECT_EQ(s16.kv_bytes_per_token() * 2, s32.kv_bytes_per_token());
    const CacheDrift d = cache_drift(*model_, pool_, tokens(n, seed), DType::BF16, 0.05f);
    // Measured over 8 prompts: typical median 1.4–1.7e-3, p90 3.5–4.1e-3, up to 3 of the 320
    // positions moved (logits of magnitude up to ~4).
    EXPECT_LT(d.typ_med, 5e-3f) << "seed " << seed;
    EXPECT_LT(d.typ_p90, 1.2e-2f) << "seed " << seed;
    EXPECT_GT(d.typ_med, 0.0f);  // the cache really is bf16
    EXPECT_LE(d.moved, (n + n_dec) / 20) << "seed " << seed;
  }
}

// The same for the 8-bit cache (docs/numerics.md, "KV cache in 8 bits"): blocks of 32 values
// with one f16 scale; this model's rows (48 values) end in a zero-padded half block.
TEST_F(SessionTest, Q8CacheLogitsStayCloseToF32Cache) {
  const int64_t n = 300, n_dec = 20;
  for (uint32_t seed : {23u, 41u, 47u, 59u}) {
    Session s32(*model_, pool_, 512, DType::F32), s8(*model_, pool_, 512, DType::Q8_0);
    const int64_t W = model_->config.kv_cache_width();
    const int64_t layers = s32.kv_bytes_per_token() / (4 * W);
    EXPECT_EQ(s8.kv_bytes_per_token(), layers * ((W + 31) / 32) * int64_t(sizeof(BlockQ8_0)));
    const CacheDrift d = cache_drift(*model_, pool_, tokens(n, seed), DType::Q8_0, 0.2f);
    // Measured over these 4 prompts: typical median 3.9–5.2e-3, p90 0.9–1.3e-2 (about three
    // times the bf16 cache's, as a value's error is up to 1/254 of its block's largest
    // instead of 1/512 of itself), 3–4 of the 320 positions moved by more than 0.2.
    EXPECT_LT(d.typ_med, 1.5e-2f) << "seed " << seed;
    EXPECT_LT(d.typ_p90, 3.5e-2f) << "seed " << seed;
    EXPECT_GT(d.typ_med, 0.0f);
    EXPECT_LE(d.moved, (n + n_dec) / 20) << "seed " << seed;
  }
}

// Decoding through a BF16 cache equals one batch over it (the rows are the same bf16 values
// either way), and truncation / re-decoding works on it as on F32.
TEST_F(SessionTest, Bf16CacheDecodeEqualsOneBatchAndTruncates) {
  const auto t = tokens(40, 29);
  const int64_t V = 256;
  Session batch(*model_, pool_, 64, DType::BF16);
  std::vector<float> all(t.size() * V);
  batch.forward(t.data(), int64_t(t.size()), all.data(), true);
  Session step(*model_, pool_, 64, DType::BF16);
  std::vector<float> one(V);
  for (size_t i = 0; i < t.size(); ++i) {
    step.forward(&t[i], 1, one.data(), false);
    ASSERT_LT(max_diff(one.data(), all.data() + i * V, V), 1e-4f) << "position " << i;
  }
  step.truncate(25);
  step.forward(t.data() + 25, 15, one.data(), false);
  EXPECT_LT(max_diff(one.data(), all.data() + 39 * V, V), 1e-4f);
}

TEST_F(SessionTest, Bf16PrefixExportImportRoundTrips) {
  const auto t = tokens(30, 31);
  const int64_t V = 256;
  Session a(*model_, pool_, 64, DType::BF16), b(*model_, pool_, 64, DType::BF16),
      c(*model_, pool_, 64, DType::BF16);
  a.forward(t.data(), 30, nullptr, false);
  std::vector<uint8_t> kv(size_t(30 * a.kv_bytes_per_token()));
  a.export_prefix(30, kv.data());
  b.import_prefix(t.data(), 20, kv.data(), 30);
  EXPECT_EQ(b.n_past(), 20);
  std::vector<float> lb(V), lc(V);
  b.forward(t.data() + 20, 10, lb.data(), false);
  c.forward(t.data(), 30, lc.data(), false);
  EXPECT_LT(max_diff(lb.data(), lc.data(), V), 1e-4f);
}

}  // namespace
}  // namespace ds
