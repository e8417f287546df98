// Engine invariants that need no reference: cache reuse, chunking and batching of several
// sequences must not change a single logit beyond float rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/forward.h"
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
  Session a(*model_, pool_, 512);
  std::vector<float> la(V);
  a.forward(t.data(), n, la.data(), false);
  Session b(*model_, pool_, 512);
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

}  // namespace
}  // namespace ds
