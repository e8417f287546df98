#include "model/config.h"

#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"

namespace ds {
namespace {

using nlohmann::json;
using testing::expect_error;

json v3_like() {
  return json::parse(R"({
    "model_type": "deepseek_v3", "vocab_size": 512, "hidden_size": 64, "intermediate_size": 128,
    "moe_intermediate_size": 32, "num_hidden_layers": 3, "num_attention_heads": 4,
    "n_shared_experts": 1, "n_routed_experts": 16, "num_experts_per_tok": 4, "n_group": 4,
    "topk_group": 2, "kv_lora_rank": 32, "q_lora_rank": 48, "qk_nope_head_dim": 16,
    "qk_rope_head_dim": 8, "v_head_dim": 16, "first_k_dense_replace": 1,
    "max_position_embeddings": 4096,
    "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096,
                     "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0}
  })");
}

TEST(ModelConfig, ParsesV3AndAppliesDefaults) {
  ModelConfig c = ModelConfig::from_hf_json(v3_like(), "config.json");
  EXPECT_EQ(c.scoring_func, ScoringFunc::kSigmoid);  // V3 default
  EXPECT_EQ(c.topk_method, TopkMethod::kNoauxTc);
  EXPECT_TRUE(c.norm_topk_prob);
  EXPECT_DOUBLE_EQ(c.routed_scaling_factor, 2.5);
  EXPECT_TRUE(c.yarn);
  EXPECT_TRUE(c.is_moe_layer(1));
  EXPECT_FALSE(c.is_moe_layer(0));
}

TEST(ModelConfig, SoftmaxScaleOfV3) {
  // Architecture doc: V3's scale is 192^-0.5 · 1.368888² = 0.1352338.
  json j = v3_like();
  j["qk_nope_head_dim"] = 128;
  j["qk_rope_head_dim"] = 64;
  ModelConfig c = ModelConfig::from_hf_json(j, "config.json");
  EXPECT_NEAR(c.softmax_scale(), 0.1352338, 1e-6);
}

TEST(ModelConfig, NullQLoraAndNullRopeScaling) {
  json j = v3_like();
  j["q_lora_rank"] = nullptr;
  j["rope_scaling"] = nullptr;
  ModelConfig c = ModelConfig::from_hf_json(j, "config.json");
  EXPECT_EQ(c.q_lora_rank, 0);
  EXPECT_FALSE(c.yarn);
  EXPECT_DOUBLE_EQ(c.softmax_scale(), 1.0 / std::sqrt(24.0));
}

TEST(ModelConfig, KimiTextConfigNesting) {
  json outer = {{"model_type", "kimi_vl"}, {"text_config", v3_like()}};
  ModelConfig c = ModelConfig::from_hf_json(outer, "config.json");
  EXPECT_EQ(c.hidden_size, 64);
}

TEST(ModelConfig, V2DefaultsAndGreedyTypo) {
  json j = v3_like();
  j["model_type"] = "deepseek_v2";
  j.erase("n_group");
  j.erase("topk_group");
  ModelConfig c = ModelConfig::from_hf_json(j, "config.json");
  EXPECT_EQ(c.scoring_func, ScoringFunc::kSoftmax);
  EXPECT_EQ(c.topk_method, TopkMethod::kGreedy);  // the reference's default spelling "gready"
  EXPECT_FALSE(c.norm_topk_prob);
}

TEST(ModelConfig, ClearErrors) {
  json j = v3_like();
  j["model_type"] = "llama";
  expect_error([&] { ModelConfig::from_hf_json(j, "cfg.json"); },
               "cfg.json: unsupported model_type 'llama'");
  j = v3_like();
  j["topk_method"] = "magic";
  expect_error([&] { ModelConfig::from_hf_json(j, "cfg.json"); },
               "unsupported topk_method 'magic'");
  j = v3_like();
  j["scoring_func"] = "tanh";
  expect_error([&] { ModelConfig::from_hf_json(j, "cfg.json"); },
               "unsupported scoring_func 'tanh'");
  j = v3_like();
  j["hidden_size"] = "big";
  expect_error([&] { ModelConfig::from_hf_json(j, "cfg.json"); },
               "field 'hidden_size' must be an integer");
  j = v3_like();
  j["n_group"] = 3;
  expect_error([&] { ModelConfig::from_hf_json(j, "cfg.json"); }, "divisible by n_group");
  j = v3_like();
  j["qk_rope_head_dim"] = 7;
  expect_error([&] { ModelConfig::from_hf_json(j, "cfg.json"); },
               "qk_rope_head_dim must be a positive even");
  j = v3_like();
  j["rope_scaling"]["type"] = "longrope";
  expect_error([&] { ModelConfig::from_hf_json(j, "cfg.json"); },
               "unsupported rope_scaling type 'longrope'");
  j = v3_like();
  j["quantization_config"] = {{"quant_method", "gptq"}};
  expect_error([&] { ModelConfig::from_hf_json(j, "cfg.json"); }, "quant_method 'gptq'");
  j = v3_like();
  j["num_experts_per_tok"] = 17;
  expect_error([&] { ModelConfig::from_hf_json(j, "cfg.json"); }, "num_experts_per_tok must be in");
  expect_error([&] { ModelConfig::from_hf_json(json::array(), "cfg.json"); }, "not a JSON object");
}

}  // namespace
}  // namespace ds
