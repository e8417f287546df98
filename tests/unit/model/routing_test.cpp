// MoE routing against hand-worked cases of the architecture doc's rules.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/forward.h"

namespace ds {
namespace {

ModelConfig base() {
  ModelConfig c;
  c.model_type = "deepseek_v3";
  c.n_routed_experts = 8;
  c.num_experts_per_tok = 2;
  c.n_group = 4;
  c.topk_group = 2;
  c.scoring_func = ScoringFunc::kSigmoid;
  c.topk_method = TopkMethod::kNoauxTc;
  c.norm_topk_prob = true;
  c.routed_scaling_factor = 2.5;
  return c;
}

float sigm(float x) {
  return 1.0f / (1.0f + std::exp(-x));
}

TEST(Routing, NoauxTcPicksGroupsBySumOfTopTwoAndWeighsWithUnbiasedScores) {
  ModelConfig c = base();
  // Groups of 2: g0 {0,1}, g1 {2,3}, g2 {4,5}, g3 {6,7}.
  std::vector<float> logits = {3.0f, -3.0f, 1.0f, 1.0f, 0.5f, 0.4f, -1.0f, -1.0f};
  std::vector<float> bias(8, 0.0f);
  bias[7] = 2.0f;  // lifts g3 (sum ≈ 0.27+2.27) above g0 (≈ 0.95+0.05) and g1 (≈ 1.46)
  int32_t idx[2];
  float w[2];
  std::vector<float> work(16);
  route_token(c, logits.data(), bias.data(), idx, w, work.data());
  // Kept groups: g3 (2.54) and g1 (1.46). Best selection scores: e7 (2.27), then e2/e3 (0.73).
  EXPECT_EQ(idx[0], 7);
  EXPECT_EQ(idx[1], 2);  // tie with e3: lower index first
  const float s7 = sigm(-1.0f), s2 = sigm(1.0f);
  EXPECT_NEAR(w[0], 2.5f * s7 / (s7 + s2), 1e-6);  // the bias never enters the weights
  EXPECT_NEAR(w[1], 2.5f * s2 / (s7 + s2), 1e-6);
}

TEST(Routing, GreedyIgnoresGroupsAndV2ScalesOnlyWithoutNormalisation) {
  ModelConfig c = base();
  c.model_type = "deepseek_v2";
  c.topk_method = TopkMethod::kGreedy;
  c.scoring_func = ScoringFunc::kSoftmax;
  c.norm_topk_prob = false;
  c.routed_scaling_factor = 16.0;
  std::vector<float> logits = {0, 1, 2, 3, 4, 5, 6, 7};
  int32_t idx[2];
  float w[2];
  std::vector<float> work(16);
  route_token(c, logits.data(), nullptr, idx, w, work.data());
  EXPECT_EQ(idx[0], 7);
  EXPECT_EQ(idx[1], 6);
  double z = 0;
  for (float l : logits) z += std::exp(double(l));
  EXPECT_NEAR(w[0], 16.0 * std::exp(7.0) / z, 1e-5);
  c.norm_topk_prob = true;  // V2 normalises and then does not scale
  route_token(c, logits.data(), nullptr, idx, w, work.data());
  EXPECT_NEAR(w[0] + w[1], 1.0, 1e-6);
}

TEST(Routing, GroupLimitedGreedyUsesMaxScorePerGroup) {
  ModelConfig c = base();
  c.topk_method = TopkMethod::kGroupLimitedGreedy;
  c.scoring_func = ScoringFunc::kSoftmax;
  c.topk_group = 1;
  c.norm_topk_prob = false;
  c.model_type = "deepseek_v2";
  c.routed_scaling_factor = 1.0;
  // g0 has the single best expert (0); g2 has two good ones with a larger sum.
  std::vector<float> logits = {5.0f, -9.0f, 0, 0, 4.5f, 4.5f, 0, 0};
  int32_t idx[2];
  float w[2];
  std::vector<float> work(16);
  route_token(c, logits.data(), nullptr, idx, w, work.data());
  EXPECT_EQ(idx[0], 0);  // only g0 survives: max score wins, not the sum
  EXPECT_EQ(idx[1], 1);
}

}  // namespace
}  // namespace ds
