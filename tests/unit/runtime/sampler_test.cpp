#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

namespace ds {
namespace {

TEST(Sampler, GreedyPicksTheLargestLowestIndexOnTies) {
  Sampler s({});
  std::vector<float> l = {1, 5, 5, 2};
  EXPECT_EQ(s.sample(l.data(), 4), 1);
}

TEST(Sampler, SameSeedSameStream) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 42;
  Sampler a(p), b(p);
  for (int i = 0; i < 200; ++i) {
    std::vector<float> l1 = {0.1f, 0.5f, 0.3f, 0.2f, 0.0f}, l2 = l1;
    ASSERT_EQ(a.sample(l1.data(), 5), b.sample(l2.data(), 5));
  }
}

TEST(Sampler, FollowsTheSoftmaxDistribution) {
  SamplingParams p;
  p.temperature = 0.5f;
  p.seed = 1;
  Sampler s(p);
  std::vector<float> base = {0.0f, 0.5f, 1.0f};
  std::map<int, int> counts;
  const int n = 40000;
  for (int i = 0; i < n; ++i) {
    auto l = base;
    ++counts[s.sample(l.data(), 3)];
  }
  double z = 0;
  for (float x : base) z += std::exp(x / 0.5);
  for (int t = 0; t < 3; ++t) {
    const double p_t = std::exp(base[size_t(t)] / 0.5) / z;
    const double sd = std::sqrt(p_t * (1 - p_t) / n);
    EXPECT_NEAR(counts[t] / double(n), p_t, 5 * sd) << t;  // 5 sigma: fails only on a real bug
  }
}

TEST(Sampler, TopKTopPMinPFilter) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 2;
  Sampler s(p);
  for (int i = 0; i < 100; ++i) {
    std::vector<float> l = {3, 2, 1, 0};
    EXPECT_LT(s.sample(l.data(), 4), 2);
  }
  p.top_k = 0;
  p.top_p = 0.5f;  // p ≈ {0.64, 0.24, 0.09, 0.03}: only the first survives
  Sampler s2(p);
  for (int i = 0; i < 100; ++i) {
    std::vector<float> l = {3, 2, 1, 0};
    EXPECT_EQ(s2.sample(l.data(), 4), 0);
  }
  p.top_p = 1.0f;
  p.min_p = 0.3f;  // keeps tokens with p ≥ 0.3·0.64: the first two
  Sampler s3(p);
  for (int i = 0; i < 100; ++i) {
    std::vector<float> l = {3, 2, 1, 0};
    EXPECT_LT(s3.sample(l.data(), 4), 2);
  }
  EXPECT_EQ(s3.candidates().size(), 2u);
}

TEST(Sampler, Penalties) {
  SamplingParams p;
  p.repetition_penalty = 2.0f;
  Sampler s(p);
  s.accept(0);
  std::vector<float> l = {4, 3};
  EXPECT_EQ(s.sample(l.data(), 2), 1);  // 4/2 = 2 < 3
  SamplingParams q;
  q.frequency_penalty = 1.0f;
  q.presence_penalty = 0.5f;
  Sampler f(q);
  f.accept(0);
  f.accept(0);
  std::vector<float> l2 = {4, 1.6f};
  EXPECT_EQ(f.sample(l2.data(), 2), 1);  // 4 − 0.5 − 2 = 1.5 < 1.6
}

}  // namespace
}  // namespace ds
