#include "model/config.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace ds {

using nlohmann::json;

double yarn_get_mscale(double scale, double m) {
  return scale <= 1.0 ? 1.0 : 0.1 * m * std::log(scale) + 1.0;
}

double ModelConfig::softmax_scale() const {
  double s = 1.0 / std::sqrt(double(qk_head_dim()));
  if (yarn && mscale_all_dim != 0.0) {
    const double m = yarn_get_mscale(rope_factor, mscale_all_dim);
    s *= m * m;
  }
  return s;
}

double ModelConfig::rope_attn_factor() const {
  if (!yarn) return 1.0;
  return yarn_get_mscale(rope_factor, mscale) / yarn_get_mscale(rope_factor, mscale_all_dim);
}

namespace {

// Typed access with the source named in every error.
struct Reader {
  const json& j;
  const std::string& src;

  bool has(const char* k) const { return j.contains(k) && !j[k].is_null(); }
  int64_t i64(const char* k, int64_t def) const {
    if (!has(k)) return def;
    if (!j[k].is_number_integer())
      throw Error(cat(src, ": field '", k, "' must be an integer, got ", j[k].dump()));
    return j[k].get<int64_t>();
  }
  double f64(const char* k, double def) const {
    if (!has(k)) return def;
    if (!j[k].is_number())
      throw Error(cat(src, ": field '", k, "' must be a number, got ", j[k].dump()));
    return j[k].get<double>();
  }
  bool boolean(const char* k, bool def) const {
    if (!has(k)) return def;
    if (!j[k].is_boolean())
      throw Error(cat(src, ": field '", k, "' must be true or false, got ", j[k].dump()));
    return j[k].get<bool>();
  }
  std::string str(const char* k, const std::string& def) const {
    if (!has(k)) return def;
    if (!j[k].is_string())
      throw Error(cat(src, ": field '", k, "' must be a string, got ", j[k].dump()));
    return j[k].get<std::string>();
  }
};

}  // namespace

ModelConfig ModelConfig::from_hf_json(const json& root, const std::string& source) {
  if (!root.is_object()) throw Error(cat(source, ": config is not a JSON object"));
  // Kimi-K2 / Kimi-VL style: the language model's config sits in `text_config`.
  const json* jp = &root;
  if (root.contains("text_config") && root["text_config"].is_object()) jp = &root["text_config"];
  const json& j = *jp;
  Reader r{j, source};
  ModelConfig c;
  c.model_type = r.str("model_type", "");
  if (c.model_type.empty() && jp != &root)
    c.model_type = Reader{root, source}.str("model_type", "");
  const bool v3 = c.model_type == "deepseek_v3" || c.model_type == "kimi_k2";
  const bool v2 = c.model_type == "deepseek_v2";
  if (!v3 && !v2)
    throw Error(cat(source, ": unsupported model_type '", c.model_type,
                    "' (expected deepseek_v3 or deepseek_v2)"));
  // Defaults are those of transformers' DeepseekV3Config / DeepseekV2Config.
  c.vocab_size = r.i64("vocab_size", v3 ? 129280 : 102400);
  c.hidden_size = r.i64("hidden_size", v3 ? 7168 : 4096);
  c.intermediate_size = r.i64("intermediate_size", v3 ? 18432 : 11008);
  c.moe_intermediate_size = r.i64("moe_intermediate_size", v3 ? 2048 : 1407);
  c.num_hidden_layers = r.i64("num_hidden_layers", v3 ? 61 : 30);
  c.num_nextn_predict_layers = r.i64("num_nextn_predict_layers", v3 ? 1 : 0);
  c.num_attention_heads = r.i64("num_attention_heads", v3 ? 128 : 32);
  c.n_shared_experts = r.i64("n_shared_experts", v3 ? 1 : 0);
  c.n_routed_experts = r.i64("n_routed_experts", v3 ? 256 : 0);
  c.routed_scaling_factor = r.f64("routed_scaling_factor", v3 ? 2.5 : 1.0);
  c.kv_lora_rank = r.i64("kv_lora_rank", 512);
  c.q_lora_rank =
      r.has("q_lora_rank") ? r.i64("q_lora_rank", 0) : (j.contains("q_lora_rank") ? 0 : 1536);
  c.qk_rope_head_dim = r.i64("qk_rope_head_dim", 64);
  c.v_head_dim = r.i64("v_head_dim", 128);
  c.qk_nope_head_dim = r.i64("qk_nope_head_dim", 128);
  const std::string topk = r.str("topk_method", v3 ? "noaux_tc" : "greedy");
  if (topk == "greedy" || topk == "gready")  // "gready" is the V2 reference code's default
    c.topk_method = TopkMethod::kGreedy;
  else if (topk == "group_limited_greedy")
    c.topk_method = TopkMethod::kGroupLimitedGreedy;
  else if (topk == "noaux_tc")
    c.topk_method = TopkMethod::kNoauxTc;
  else
    throw Error(cat(source, ": unsupported topk_method '", topk,
                    "' (expected greedy, group_limited_greedy or noaux_tc)"));
  c.n_group = r.i64("n_group", v3 ? 8 : 1);
  c.topk_group = r.i64("topk_group", v3 ? 4 : 1);
  c.num_experts_per_tok = r.i64("num_experts_per_tok", v3 ? 8 : 0);
  c.moe_layer_freq = r.i64("moe_layer_freq", 1);
  c.first_k_dense_replace = r.i64("first_k_dense_replace", v3 ? 3 : 0);
  c.norm_topk_prob = r.boolean("norm_topk_prob", v3);
  const std::string scoring = r.str("scoring_func", v3 ? "sigmoid" : "softmax");
  if (scoring == "sigmoid")
    c.scoring_func = ScoringFunc::kSigmoid;
  else if (scoring == "softmax")
    c.scoring_func = ScoringFunc::kSoftmax;
  else
    throw Error(
        cat(source, ": unsupported scoring_func '", scoring, "' (expected sigmoid or softmax)"));
  c.max_position_embeddings = r.i64("max_position_embeddings", v3 ? 4096 : 2048);
  c.rms_norm_eps = r.f64("rms_norm_eps", 1e-6);
  c.rope_theta = r.f64("rope_theta", 10000.0);
  const std::string act = r.str("hidden_act", "silu");
  if (act != "silu")
    throw Error(cat(source, ": unsupported hidden_act '", act, "' (expected silu)"));
  if (r.boolean("attention_bias", false))
    throw Error(cat(source, ": attention_bias = true is not a DeepSeek configuration"));
  if (r.has("rope_scaling")) {
    const json& rs = j["rope_scaling"];
    if (!rs.is_object())
      throw Error(cat(source, ": field 'rope_scaling' must be an object or null"));
    Reader s{rs, source};
    std::string type = s.str("type", s.str("rope_type", ""));
    if (type == "yarn") {
      c.yarn = true;
      c.rope_factor = s.f64("factor", 1.0);
      c.original_max_position_embeddings = s.i64("original_max_position_embeddings", 4096);
      c.beta_fast = s.f64("beta_fast", 32.0);
      c.beta_slow = s.f64("beta_slow", 1.0);
      c.mscale = s.f64("mscale", 1.0);
      c.mscale_all_dim = s.f64("mscale_all_dim", 0.0);
      if (c.rope_factor <= 1.0) c.yarn = false;  // factor 1: plain RoPE
    } else if (type != "default" && type != "none") {
      throw Error(cat(source, ": unsupported rope_scaling type '", type, "' (expected yarn)"));
    }
  }
  if (root.contains("quantization_config") || j.contains("quantization_config")) {
    const json& q =
        j.contains("quantization_config") ? j["quantization_config"] : root["quantization_config"];
    Reader qr{q, source};
    const std::string method = qr.str("quant_method", "");
    if (method != "fp8")
      throw Error(cat(source, ": unsupported quantization_config.quant_method '", method,
                      "' (expected fp8)"));
    const std::string fmt = qr.str("fmt", "e4m3");
    if (fmt != "e4m3")
      throw Error(cat(source, ": unsupported fp8 format '", fmt, "' (expected e4m3)"));
    c.fp8 = true;
    if (q.contains("weight_block_size")) {
      const json& b = q["weight_block_size"];
      if (!b.is_array() || b.size() != 2 || !b[0].is_number_integer() || !b[1].is_number_integer())
        throw Error(cat(source, ": quantization_config.weight_block_size must be [rows, cols]"));
      c.fp8_block_rows = b[0].get<int64_t>();
      c.fp8_block_cols = b[1].get<int64_t>();
    }
  }
  auto tok_id = [&](const char* k) -> std::optional<int64_t> {
    if (r.has(k) && j[k].is_number_integer()) return j[k].get<int64_t>();
    if (root.contains(k) && root[k].is_number_integer()) return root[k].get<int64_t>();
    return std::nullopt;
  };
  c.bos_token_id = tok_id("bos_token_id");
  c.eos_token_id = tok_id("eos_token_id");
  c.validate(source);
  return c;
}

void ModelConfig::validate(const std::string& source) const {
  auto need = [&](bool ok, const char* what) {
    if (!ok) throw Error(cat(source, ": invalid config: ", what));
  };
  auto in_range = [](int64_t v, int64_t lo, int64_t hi) { return v >= lo && v <= hi; };
  need(in_range(vocab_size, 1, 1 << 24), "vocab_size must be in [1, 2^24]");
  need(in_range(hidden_size, 1, 1 << 20), "hidden_size must be in [1, 2^20]");
  need(in_range(num_hidden_layers, 1, 4096), "num_hidden_layers must be in [1, 4096]");
  need(in_range(num_nextn_predict_layers, 0, 16), "num_nextn_predict_layers must be in [0, 16]");
  need(in_range(num_attention_heads, 1, 4096), "num_attention_heads must be in [1, 4096]");
  need(in_range(kv_lora_rank, 1, 1 << 16), "kv_lora_rank must be positive");
  need(in_range(q_lora_rank, 0, 1 << 20), "q_lora_rank must be null or positive");
  need(in_range(qk_nope_head_dim, 1, 1 << 14), "qk_nope_head_dim must be positive");
  need(in_range(qk_rope_head_dim, 2, 1 << 14) && qk_rope_head_dim % 2 == 0,
       "qk_rope_head_dim must be a positive even number");
  need(in_range(v_head_dim, 1, 1 << 14), "v_head_dim must be positive");
  need(rms_norm_eps > 0, "rms_norm_eps must be positive");
  need(rope_theta > 1, "rope_theta must be > 1");
  need(in_range(max_position_embeddings, 1, int64_t(1) << 32),
       "max_position_embeddings must be positive");
  need(in_range(first_k_dense_replace, 0, num_hidden_layers), "first_k_dense_replace out of range");
  need(moe_layer_freq >= 1, "moe_layer_freq must be >= 1");
  bool any_dense = false;
  for (int64_t il = 0; il < num_hidden_layers; ++il) any_dense |= !is_moe_layer(il);
  if (any_dense)
    need(in_range(intermediate_size, 1, 1 << 22), "intermediate_size must be positive");
  if (n_routed_experts > 0 || num_nextn_predict_layers > 0) {
    need(in_range(n_routed_experts, 1, 1 << 16), "n_routed_experts must be positive");
    need(in_range(num_experts_per_tok, 1, n_routed_experts),
         "num_experts_per_tok must be in [1, n_routed_experts]");
    need(in_range(moe_intermediate_size, 1, 1 << 22), "moe_intermediate_size must be positive");
    need(in_range(n_shared_experts, 0, 1024), "n_shared_experts must be >= 0");
    need(n_group >= 1 && n_routed_experts % n_group == 0,
         "n_routed_experts must be divisible by n_group");
    need(in_range(topk_group, 1, n_group), "topk_group must be in [1, n_group]");
    if (topk_method != TopkMethod::kGreedy && n_group > 1) {
      need(topk_group * (n_routed_experts / n_group) >= num_experts_per_tok,
           "topk_group groups hold fewer experts than num_experts_per_tok");
      if (topk_method == TopkMethod::kNoauxTc)
        need(n_routed_experts / n_group >= 2, "noaux_tc needs at least 2 experts per group");
    }
  }
  if (yarn) {
    need(rope_factor > 1, "rope_scaling.factor must be > 1");
    need(original_max_position_embeddings > 0,
         "rope_scaling.original_max_position_embeddings must be positive");
    need(beta_fast > 0 && beta_slow > 0, "rope_scaling.beta_fast and beta_slow must be positive");
  }
  if (fp8) need(fp8_block_rows > 0 && fp8_block_cols > 0, "weight_block_size must be positive");
}

ModelConfig ModelConfig::from_hf_dir(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "config.json").string();
  std::ifstream in(path);
  if (!in) throw Error(cat(path, ": cannot open (is this a HF model directory?)"));
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw Error(cat(path, ": malformed JSON: ", e.what()));
  }
  return from_hf_json(j, path);
}

}  // namespace ds
