// Hyper-parameters of a DeepSeek-V2/V3 model, read from config.json (or GGUF metadata).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace ds {

enum class ScoringFunc { kSigmoid, kSoftmax };
enum class TopkMethod { kGreedy, kGroupLimitedGreedy, kNoauxTc };

/// Every field of the architecture; names follow the HF config.
struct ModelConfig {
  std::string model_type;  // "deepseek_v3" or "deepseek_v2"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t moe_intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_nextn_predict_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t n_shared_experts = 0;
  int64_t n_routed_experts = 0;  // 0: every layer is dense
  double routed_scaling_factor = 1.0;
  int64_t kv_lora_rank = 0;
  int64_t q_lora_rank = 0;  // 0: no q-LoRA (q_proj)
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
  int64_t qk_nope_head_dim = 0;
  TopkMethod topk_method = TopkMethod::kGreedy;
  int64_t n_group = 1;
  int64_t topk_group = 1;
  int64_t num_experts_per_tok = 0;
  int64_t moe_layer_freq = 1;
  int64_t first_k_dense_replace = 0;
  bool norm_topk_prob = false;
  ScoringFunc scoring_func = ScoringFunc::kSoftmax;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  // YaRN (rope_scaling.type == "yarn"); factor 1 means no scaling.
  bool yarn = false;
  double rope_factor = 1.0;
  int64_t original_max_position_embeddings = 0;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double mscale = 1.0;
  double mscale_all_dim = 0.0;
  // FP8 block quantisation of the checkpoint (quantization_config).
  bool fp8 = false;
  int64_t fp8_block_rows = 128, fp8_block_cols = 128;
  std::optional<int64_t> bos_token_id, eos_token_id;

  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  /// True when layer `il` has a routed-expert MoE block (HF's rule).
  bool is_moe_layer(int64_t il) const {
    return n_routed_experts > 0 && il >= first_k_dense_replace && il % moe_layer_freq == 0;
  }
  /// Softmax scale including YaRN's m² correction.
  double softmax_scale() const;
  /// Multiplier of cos/sin under YaRN: mscale(factor, mscale) / mscale(factor, mscale_all_dim).
  double rope_attn_factor() const;
  /// KV-cache values per token per layer: the latent plus the shared RoPE key.
  int64_t kv_cache_width() const { return kv_lora_rank + qk_rope_head_dim; }

  /// Parses a HF config.json object (Kimi-style `text_config` nesting included); missing
  /// keys take HF's defaults; unknown model types or unsupported combinations throw ds::Error.
  static ModelConfig from_hf_json(const nlohmann::json& j, const std::string& source);
  /// Reads `dir/config.json`.
  static ModelConfig from_hf_dir(const std::string& dir);
  /// Throws ds::Error when fields contradict each other or are out of range.
  void validate(const std::string& source) const;
};

/// HF's yarn_get_mscale: 0.1·m·ln(scale) + 1 when scale > 1, else 1.
double yarn_get_mscale(double scale, double m);

}  // namespace ds
