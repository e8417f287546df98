// A small random DeepSeek-V3 model written by the tests themselves (F32 safetensors), for
// engine tests that need a model but no reference logits.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace ds::testing {

inline nlohmann::json tiny_v3_config(int64_t vocab = 256) {
  nlohmann::json c = nlohmann::json::parse(R"({
    "model_type": "deepseek_v3", "hidden_size": 32, "intermediate_size": 64,
    "moe_intermediate_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
    "n_shared_experts": 1, "n_routed_experts": 8, "num_experts_per_tok": 2, "n_group": 2,
    "topk_group": 1, "kv_lora_rank": 16, "q_lora_rank": 24, "qk_nope_head_dim": 8,
    "qk_rope_head_dim": 4, "v_head_dim": 8, "first_k_dense_replace": 1,
    "max_position_embeddings": 1024, "num_nextn_predict_layers": 0,
    "rope_scaling": {"type": "yarn", "factor": 4, "original_max_position_embeddings": 64,
                     "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0}
  })");
  c["vocab_size"] = vocab;
  return c;
}

/// Changes a tensor's random values before they are written (name, values in row-major order).
using TensorTweak = std::function<void(const std::string& name, std::vector<float>& values)>;

/// Writes config.json and model.safetensors for `cfg` (a flat deepseek_v3 config) into `dir`.
/// `tweak`, when given, sees every tensor in file order (the main model's before the MTP
/// module's) and may change its values.
inline void write_tiny_model(const std::string& dir, const nlohmann::json& cfg, uint32_t seed = 1,
                             const TensorTweak& tweak = {}) {
  const int64_t D = cfg["hidden_size"], H = cfg["num_attention_heads"], V = cfg["vocab_size"];
  const int64_t rq = cfg["q_lora_rank"], rkv = cfg["kv_lora_rank"], dn = cfg["qk_nope_head_dim"];
  const int64_t dr = cfg["qk_rope_head_dim"], dv = cfg["v_head_dim"], E = cfg["n_routed_experts"];
  const int64_t I = cfg["intermediate_size"], Im = cfg["moe_intermediate_size"];
  const int64_t L = cfg["num_hidden_layers"], dense = cfg["first_k_dense_replace"];
  const int64_t shared = cfg["n_shared_experts"];
  std::vector<std::pair<std::string, std::vector<int64_t>>> plan = {
      {"model.embed_tokens.weight", {V, D}},
      {"model.norm.weight", {D}},
      {"lm_head.weight", {V, D}}};
  const int64_t n_mtp = cfg.value("num_nextn_predict_layers", 0);
  for (int64_t l = 0; l < L + n_mtp; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    auto add = [&](const std::string& n, std::vector<int64_t> s) {
      plan.push_back({p + n, std::move(s)});
    };
    add("input_layernorm.weight", {D});
    add("post_attention_layernorm.weight", {D});
    add("self_attn.q_a_proj.weight", {rq, D});
    add("self_attn.q_a_layernorm.weight", {rq});
    add("self_attn.q_b_proj.weight", {H * (dn + dr), rq});
    add("self_attn.kv_a_proj_with_mqa.weight", {rkv + dr, D});
    add("self_attn.kv_a_layernorm.weight", {rkv});
    add("self_attn.kv_b_proj.weight", {H * (dn + dv), rkv});
    add("self_attn.o_proj.weight", {D, H * dv});
    auto mlp = [&](const std::string& q, int64_t w) {
      add(q + "gate_proj.weight", {w, D});
      add(q + "up_proj.weight", {w, D});
      add(q + "down_proj.weight", {D, w});
    };
    if (l >= L) {  // MTP module: its own norms, projection and head around a MoE layer
      add("enorm.weight", {D});
      add("hnorm.weight", {D});
      add("eh_proj.weight", {D, 2 * D});
      add("shared_head.norm.weight", {D});
      add("shared_head.head.weight", {V, D});
      add("embed_tokens.weight", {V, D});
    }
    if (l < dense) {
      mlp("mlp.", I);
    } else {
      add("mlp.gate.weight", {E, D});
      add("mlp.gate.e_score_correction_bias", {E});
      for (int64_t e = 0; e < E; ++e) mlp("mlp.experts." + std::to_string(e) + ".", Im);
      mlp("mlp.shared_experts.", shared * Im);
    }
  }
  std::mt19937 g(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  nlohmann::json header;
  std::string data;
  for (const auto& [name, shape] : plan) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    const bool norm = name.find("norm") != std::string::npos;
    const bool bias = name.find("bias") != std::string::npos;
    const float std_dev = shape.size() == 2 ? 1.0f / std::sqrt(float(shape[1])) : 0.1f;
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = norm ? 1.0f + 0.1f * nd(g) : bias ? 0.01f * nd(g) : std_dev * nd(g);
    if (tweak) tweak(name, v);
    header[name] = {{"dtype", "F32"},
                    {"shape", shape},
                    {"data_offsets", {data.size(), data.size() + v.size() * 4}}};
    data.append(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  }
  std::string h = header.dump();
  while (h.size() % 8) h += ' ';
  std::ofstream f(dir + "/model.safetensors", std::ios::binary);
  const uint64_t len = h.size();
  char le[8];
  for (int i = 0; i < 8; ++i) le[i] = char((len >> (8 * i)) & 0xff);
  f.write(le, 8);
  f.write(h.data(), std::streamsize(h.size()));
  f.write(data.data(), std::streamsize(data.size()));
  std::ofstream(dir + "/config.json") << cfg.dump(2);
}

}  // namespace ds::testing
