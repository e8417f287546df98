// `dsinfer inspect`: what a model is and what it costs to run.
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cache_options.h"
#include "command.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "model/forward.h"
#include "model/weights.h"

namespace ds::cli {
namespace {

struct Opts {
  std::string model;
  int64_t ctx = 4096;
  int64_t parallel = 1;
  CacheType cache_type;
  bool json = false;
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

// MemTotal from /proc/meminfo, in bytes (0 when unknown).
int64_t machine_ram() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemTotal:") return kb * 1024;
  return 0;
}

const char* topk_name(TopkMethod t) {
  switch (t) {
    case TopkMethod::kNoauxTc:
      return "noaux_tc";
    case TopkMethod::kGroupLimitedGreedy:
      return "group_limited_greedy";
    case TopkMethod::kGreedy:
      return "greedy";
  }
  return "?";
}

int run(const Opts& o) {
  // Read once, in order: mapping is enough (and starts at once).
  set_file_loading(FileLoading::kMmap);
  const std::unique_ptr<Model> m = o.model.empty() ? Model::load_embedded() : Model::load(o.model);
  const ModelConfig& c = m->config;
  const DType cache_type = resolve_cache_type(o.cache_type, *m);
  const int64_t dense = std::min(c.first_k_dense_replace, c.num_hidden_layers);
  size_t weights = 0;
  nlohmann::json by_dtype = nlohmann::json::object();
  for (const auto& [dt, b] : m->bytes_by_dtype()) {
    by_dtype[dt] = b;
    weights += b;
  }
  const int64_t kv_tok = m->kv_bytes_per_token(cache_type);
  const int64_t kv_total = kv_tok * o.ctx * o.parallel;
  // Activations of a full prefill batch (Session::kMaxBatch tokens) per slot: residual,
  // projections, attention scores and the logits, rounded up generously.
  const int64_t B = Session::kMaxBatch, D = c.hidden_size, H = c.num_attention_heads;
  const int64_t act =
      4 * B *
          (6 * D + H * (c.qk_head_dim() + c.v_head_dim) + 3 * c.kv_cache_width() +
           3 * std::max(c.intermediate_size,
                        c.moe_intermediate_size * std::max<int64_t>(1, c.n_shared_experts))) +
      4 * (c.vocab_size + o.ctx) * 2;
  // Drafting with the MTP modules (on by default where it is a win): each sequence keeps its
  // hidden states (hidden_size floats per token, Session::set_keep_hidden) and every module
  // keeps a one-layer latent cache of its own.
  const int64_t mtp_tok =
      m->mtp.empty()
          ? 0
          : 4 * D + int64_t(m->mtp.size()) * int64_t(kv_row_bytes(c.kv_cache_width(), cache_type));
  const int64_t mtp_total = mtp_tok * o.ctx * o.parallel;
  const int64_t peak = int64_t(weights) + kv_total + mtp_total + act * o.parallel;
  const int64_t ram = machine_ram();
  nlohmann::json j = {
      {"model", m->name},
      {"architecture", c.model_type},
      {"layers", c.num_hidden_layers},
      {"dense_layers", dense},
      {"moe_layers", c.num_hidden_layers - dense},
      {"mtp_modules", m->mtp.size()},
      {"hidden_size", c.hidden_size},
      {"heads", c.num_attention_heads},
      {"vocab_size", c.vocab_size},
      {"q_lora_rank", c.q_lora_rank},
      {"kv_lora_rank", c.kv_lora_rank},
      {"qk_nope_head_dim", c.qk_nope_head_dim},
      {"qk_rope_head_dim", c.qk_rope_head_dim},
      {"v_head_dim", c.v_head_dim},
      {"routed_experts", c.n_routed_experts},
      {"experts_per_token", c.num_experts_per_tok},
      {"shared_experts", c.n_shared_experts},
      {"scoring_func", c.scoring_func == ScoringFunc::kSigmoid ? "sigmoid" : "softmax"},
      {"topk_method", topk_name(c.topk_method)},
      {"rope_theta", c.rope_theta},
      {"yarn_factor", c.yarn ? c.rope_factor : 1.0},
      {"max_position_embeddings", c.max_position_embeddings},
      {"params_total", m->n_params()},
      {"params_active_per_token", m->n_active_params()},
      {"weight_bytes", weights},
      {"weight_bytes_by_dtype", by_dtype},
      {"weight_bytes_read_per_token", m->active_weight_bytes()},
      {"kv_bytes_per_token", kv_tok},
      {"kv_cache_type", cache_type_name(cache_type)},
      {"kv_values_per_token_per_layer", c.kv_cache_width()},
      {"ctx", o.ctx},
      {"parallel", o.parallel},
      {"kv_bytes_for_ctx", kv_total},
      {"mtp_bytes_per_token", mtp_tok},
      {"mtp_bytes_for_ctx", mtp_total},
      {"peak_ram_bytes_estimate", peak},
      {"machine_ram_bytes", ram},
      {"fits_in_ram", ram > 0 && peak < ram},
  };
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("model:                 %s\n", m->name.c_str());
  std::printf("architecture:          %s, %lld layers (%lld dense, %lld MoE), %zu MTP module(s)\n",
              c.model_type.c_str(), (long long)c.num_hidden_layers, (long long)dense,
              (long long)(c.num_hidden_layers - dense), m->mtp.size());
  std::printf("hidden size:           %lld, %lld heads, vocabulary %lld\n",
              (long long)c.hidden_size, (long long)c.num_attention_heads, (long long)c.vocab_size);
  std::printf(
      "MLA:                   q_lora_rank %lld, kv_lora_rank %lld, head dims %lld/%lld/%lld "
      "(nope/rope/v)\n",
      (long long)c.q_lora_rank, (long long)c.kv_lora_rank, (long long)c.qk_nope_head_dim,
      (long long)c.qk_rope_head_dim, (long long)c.v_head_dim);
  if (c.n_routed_experts > 0)
    std::printf(
        "MoE:                   %lld routed experts (%lld per token), %lld shared, %s scores, %s "
        "routing\n",
        (long long)c.n_routed_experts, (long long)c.num_experts_per_tok,
        (long long)c.n_shared_experts,
        c.scoring_func == ScoringFunc::kSigmoid ? "sigmoid" : "softmax", topk_name(c.topk_method));
  if (c.yarn)
    std::printf("RoPE:                  theta %g, YaRN factor %g over %lld original positions\n",
                c.rope_theta, c.rope_factor, (long long)c.original_max_position_embeddings);
  else
    std::printf("RoPE:                  theta %g\n", c.rope_theta);
  std::printf("context:               %lld tokens\n", (long long)c.max_position_embeddings);
  std::printf("parameters:            %s total, %s active per token\n",
              human_count(double(m->n_params())).c_str(),
              human_count(double(m->n_active_params())).c_str());
  for (const auto& [dt, b] : m->bytes_by_dtype())
    std::printf("weights %-14s %s\n", (dt + ":").c_str(), human_bytes(double(b)).c_str());
  std::printf("weights total:         %s (%s read per decoded token)\n",
              human_bytes(double(weights)).c_str(),
              human_bytes(double(m->active_weight_bytes())).c_str());
  std::printf(
      "KV cache:              %s per token (%lld %s values per layer); %s for %lld tokens x "
      "%lld slot(s)\n",
      human_bytes(double(kv_tok)).c_str(), (long long)c.kv_cache_width(),
      cache_type_name(cache_type), human_bytes(double(kv_total)).c_str(), (long long)o.ctx,
      (long long)o.parallel);
  if (mtp_tok > 0)
    std::printf(
        "MTP drafting:          %s per token (hidden state and %zu module cache(s)); %s for "
        "%lld tokens x %lld slot(s)\n",
        human_bytes(double(mtp_tok)).c_str(), m->mtp.size(), human_bytes(double(mtp_total)).c_str(),
        (long long)o.ctx, (long long)o.parallel);
  std::printf("peak RAM (estimate):   %s", human_bytes(double(peak)).c_str());
  if (ram > 0)
    std::printf(" of %s on this machine: %s\n", human_bytes(double(ram)).c_str(),
                peak < ram
                    ? "fits"
                    : "does NOT fit (weights stream from disk through the page cache; slow)");
  else
    std::printf("\n");
  return 0;
}

const Registrar reg{
    {"inspect", "Show a model's architecture, parameters, weight bytes and memory cost",
     [](CLI::App& app) -> std::function<int()> {
       auto o = std::make_shared<Opts>();
       app.add_option("-m,--model", o->model,
                      "Model directory or .gguf file (default: the embedded model)");
       app.add_option("--ctx", o->ctx, "Context length for the KV-cache and RAM estimate")
           ->check(CLI::PositiveNumber);
       app.add_option("--parallel", o->parallel,
                      "Parallel sequences (server slots) for the estimate")
           ->check(CLI::PositiveNumber);
       add_cache_type_option(app, o->cache_type);
       app.add_flag("--json", o->json, "Print one JSON object");
       return [o] { return run(*o); };
     },
     40}};

}  // namespace
}  // namespace ds::cli
