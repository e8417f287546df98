#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
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
  p.min_p = 1.5f;  // above 1: only the best token can stay
  for (float top_p : {1.0f, 0.5f}) {
    p.top_p = top_p;
    Sampler s4(p);
    std::vector<float> l = {3, 2, 1, 0};
    EXPECT_EQ(s4.sample(l.data(), 4), 0);
  }
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

// The filters on a DeepSeek-sized vocabulary against the definition (every token sorted by
// logit, probabilities in float64, then top-k, min-p, top-p, renormalised): the same tokens
// kept, with the same probabilities. The sampler sorts only as much as the filters need, and
// without a filter lists the tokens in id order.
TEST(Sampler, FiltersMatchTheFullSortOnALargeVocabulary) {
  const int64_t V = 129280;
  std::mt19937 g(5);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> peaked(static_cast<size_t>(V)), flat(peaked.size());
  for (auto& x : peaked) x = nd(g);
  for (size_t i = 0; i < flat.size(); ++i) flat[i] = 0.1f * peaked[i];  // a random model's
  peaked[17] = flat[17] = -std::numeric_limits<float>::infinity();      // a masked token
  for (const auto* logits : {&peaked, &flat}) {
    const std::vector<float>& base = *logits;
    struct Case {
      float temperature, top_p, min_p;
      int32_t top_k;
    };
    for (const Case c :
         {Case{1.0f, 1.0f, 0.0f, 0}, Case{0.7f, 0.9f, 0.0f, 0}, Case{1.0f, 0.95f, 0.0f, 0},
          Case{1.0f, 1.0f, 0.05f, 0}, Case{0.6f, 0.8f, 0.01f, 0}, Case{1.0f, 1.0f, 0.0f, 40},
          Case{0.8f, 0.9f, 0.0f, 1000}, Case{1.0f, 0.5f, 0.0f, 0}, Case{1.0f, 0.99f, 0.001f, 0}}) {
      SamplingParams p;
      p.temperature = c.temperature;
      p.top_p = c.top_p;
      p.min_p = c.min_p;
      p.top_k = c.top_k;
      auto l = base;
      Sampler s(p);
      s.prepare(l.data(), V);
      // The definition.
      std::vector<int32_t> ids(static_cast<size_t>(V));
      for (int32_t i = 0; i < int32_t(V); ++i) ids[size_t(i)] = i;
      std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
        return base[size_t(a)] > base[size_t(b)] || (base[size_t(a)] == base[size_t(b)] && a < b);
      });
      if (c.top_k > 0) ids.resize(size_t(c.top_k));
      std::vector<double> pr(ids.size());
      double sum = 0;
      for (size_t i = 0; i < ids.size(); ++i)
        sum += pr[i] =
            std::exp(double(base[size_t(ids[i])] - base[size_t(ids[0])]) / c.temperature);
      size_t keep = ids.size();
      if (c.min_p > 0) {
        keep = 1;
        while (keep < ids.size() && pr[keep] >= c.min_p * pr[0]) ++keep;
      }
      if (c.top_p < 1) {
        double cum = 0;
        size_t n = 0;
        while (n < keep) {
          cum += pr[n++] / sum;
          if (cum >= c.top_p) break;
        }
        keep = n;
      }
      double mass = 0;
      for (size_t i = 0; i < keep; ++i) mass += pr[i];
      std::map<int32_t, double> want;
      for (size_t i = 0; i < keep; ++i) want[ids[i]] = pr[i] / mass;
      // Tokens whose probability underflows (below e^-87 of the best) may be left out.
      std::map<int32_t, double> got;
      double got_mass = 0;
      for (const auto& [id, q] : s.candidates()) {
        ASSERT_TRUE(got.emplace(id, q).second) << "token " << id << " listed twice";
        got_mass += q;
      }
      EXPECT_NEAR(got_mass, 1.0, 1e-4);
      for (const auto& [id, q] : want) {
        const auto it = got.find(id);
        if (it == got.end()) {
          ASSERT_LT(q, 1e-30) << "token " << id << " missing (T " << c.temperature << ", top_p "
                              << c.top_p << ", min_p " << c.min_p << ", top_k " << c.top_k << ")";
          continue;
        }
        ASSERT_NEAR(it->second, q, 1e-5 * q + 1e-9) << "token " << id;
      }
      for (const auto& [id, q] : got) ASSERT_TRUE(want.count(id)) << "token " << id << " kept";
      // The most likely token comes first.
      const auto& cand = s.candidates();
      for (const auto& c : cand) ASSERT_LE(c.second, cand[0].second);
    }
  }
}

// Without filters the unlikely tail is listed in id order: the draws still follow the
// softmax. One favourite (the sorted head) and 300 tokens each below 2^-10 of its weight
// (the tail), which together hold about a fifth of the mass.
TEST(Sampler, UnsortedTailKeepsTheDistribution) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 3;
  Sampler s(p);
  std::vector<float> base(301);
  for (size_t i = 0; i < base.size(); ++i) base[i] = -7.0f + 0.02f * float(i % 3);
  base[150] = 0.0f;
  double z = 0;
  for (float x : base) z += std::exp(double(x));
  std::vector<int> counts(base.size());
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    auto l = base;
    ++counts[size_t(s.sample(l.data(), int64_t(base.size())))];
  }
  double tail = 0;
  int tail_count = 0;
  for (size_t t = 0; t < base.size(); ++t) {
    const double p_t = std::exp(double(base[t])) / z;
    const double sd = std::sqrt(p_t * (1 - p_t) / n);
    EXPECT_NEAR(counts[t] / double(n), p_t, 5 * sd) << t;
    if (t != 150) {
      tail += p_t;
      tail_count += counts[t];
    }
  }
  EXPECT_GT(tail, 0.15);
  EXPECT_NEAR(tail_count / double(n), tail, 5 * std::sqrt(tail * (1 - tail) / n));
}

}  // namespace
}  // namespace ds
