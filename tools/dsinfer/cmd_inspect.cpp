// `dsinfer inspect`: what a model is and what it costs to run.
#include <cstdio>
#include <memory>

#include "command.h"
#include "core/error.h"
#include "model/weights.h"

namespace ds::cli {
namespace {

struct Opts {
  std::string model;
  int64_t ctx = 4096;
};

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.2f %s" : "%.0f %s", b, units[u]);
  return buf;
}

std::string human_count(double n) {
  char buf[32];
  if (n >= 1e9)
    std::snprintf(buf, sizeof buf, "%.2fB", n / 1e9);
  else if (n >= 1e6)
    std::snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
  else if (n >= 1e3)
    std::snprintf(buf, sizeof buf, "%.2fK", n / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0f", n);
  return buf;
}

int run(const Opts& o) {
  auto m = Model::load(o.model);
  const ModelConfig& c = m->config;
  std::printf("model:               %s\n", m->name.c_str());
  std::printf("architecture:        %s\n", c.model_type.c_str());
  std::printf(
      "layers:              %lld (%lld dense, %lld MoE), MTP modules: %zu\n",
      (long long)c.num_hidden_layers,
      (long long)std::min(c.first_k_dense_replace, c.num_hidden_layers),
      (long long)(c.num_hidden_layers - std::min(c.first_k_dense_replace, c.num_hidden_layers)),
      m->mtp.size());
  std::printf("hidden size:         %lld, heads: %lld, vocab: %lld\n", (long long)c.hidden_size,
              (long long)c.num_attention_heads, (long long)c.vocab_size);
  std::printf(
      "MLA:                 q_lora_rank %lld, kv_lora_rank %lld, qk_nope %lld, qk_rope %lld, "
      "v_head %lld\n",
      (long long)c.q_lora_rank, (long long)c.kv_lora_rank, (long long)c.qk_nope_head_dim,
      (long long)c.qk_rope_head_dim, (long long)c.v_head_dim);
  if (c.n_routed_experts > 0)
    std::printf(
        "MoE:                 %lld routed experts, %lld active, %lld shared, %s scoring, %s "
        "routing\n",
        (long long)c.n_routed_experts, (long long)c.num_experts_per_tok,
        (long long)c.n_shared_experts,
        c.scoring_func == ScoringFunc::kSigmoid ? "sigmoid" : "softmax",
        c.topk_method == TopkMethod::kNoauxTc              ? "noaux_tc"
        : c.topk_method == TopkMethod::kGroupLimitedGreedy ? "group_limited_greedy"
                                                           : "greedy");
  std::printf("RoPE:                theta %g%s\n", c.rope_theta,
              c.yarn ? cat(", YaRN factor ", c.rope_factor, " (original context ",
                           c.original_max_position_embeddings, ")")
                           .c_str()
                     : "");
  std::printf("context:             %lld tokens\n", (long long)c.max_position_embeddings);
  std::printf("parameters:          %s total, %s active per token\n",
              human_count(double(m->n_params())).c_str(),
              human_count(double(m->n_active_params())).c_str());
  size_t total = 0;
  for (const auto& [dt, b] : m->bytes_by_dtype()) {
    std::printf("weights %-12s %s\n", (dt + ":").c_str(), human_bytes(double(b)).c_str());
    total += b;
  }
  std::printf("weights total:       %s\n", human_bytes(double(total)).c_str());
  std::printf("KV cache per token:  %s (%lld values per layer)\n",
              human_bytes(double(m->kv_bytes_per_token())).c_str(), (long long)c.kv_cache_width());
  std::printf("KV cache for %lld:    %s\n", (long long)o.ctx,
              human_bytes(double(m->kv_bytes_per_token() * o.ctx)).c_str());
  return 0;
}

const Registrar reg{
    {"inspect", "Show a model's architecture, parameters, weight bytes and KV-cache cost",
     [](CLI::App& app) -> std::function<int()> {
       auto o = std::make_shared<Opts>();
       app.add_option("-m,--model", o->model, "Model directory or .gguf file")->required();
       app.add_option("--ctx", o->ctx, "Context length for the KV-cache estimate")
           ->check(CLI::PositiveNumber);
       return [o] { return run(*o); };
     },
     40}};

}  // namespace
}  // namespace ds::cli
