#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <vector>

namespace ds {
namespace {

TEST(Sampler, GreedyPicksTheLargestLowestIndexOnTies) {
  Sampler s({});
  std::vector<float> l = {1, 5, 5, 2};
  EXPECT_EQ(s.sample(l.data(), 4), 1);
}

// argmax against the one-by-one scan, on lengths around its 8-wide blocks, with ties, NaN,
// infinities and the maximum in the tail.
TEST(Sampler, ArgmaxIsTheFirstLargest) {
  auto scan = [](const std::vector<float>& v) {
    int64_t best = 0;
    for (size_t i = 1; i < v.size(); ++i)
      if (v[i] > v[size_t(best)]) best = int64_t(i);
    return int32_t(best);
  };
  std::mt19937 g(5);
  for (int n : {1, 2, 7, 8, 9, 15, 16, 17, 100, 129280}) {
    for (int trial = 0; trial < 6; ++trial) {
      std::vector<float> v(static_cast<size_t>(n));
      for (auto& x : v) x = float(int(g() % 50)) - 25.0f;  // many ties
      if (trial == 1) v[size_t(n - 1)] = 1e9f;             // in the tail
      if (trial == 2) v[0] = std::nanf("");                // NaN first: index 0
      if (trial == 3 && n > 3) v[size_t(n / 2)] = std::nanf("");
      if (trial == 4) v[size_t(g() % uint32_t(n))] = INFINITY;
      if (trial == 5) std::fill(v.begin(), v.end(), -INFINITY);
      ASSERT_EQ(argmax(v.data(), n), scan(v)) << "n=" << n << " trial=" << trial;
    }
  }
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
