// `dsinfer bench`: prefill and decode speed, judged against the machine's own limits.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "backend/cpu/kernels.h"
#include "cache_options.h"
#include "command.h"
#include "core/clock.h"
#include "core/error.h"
#include "load_options.h"
#include "model/forward.h"
#include "model_loading.h"
#include "runtime/generator.h"
#include "runtime/machine_limits.h"
#include "runtime/sampler.h"
#include "runtime/thread_pool.h"
#include "sampling_options.h"

namespace ds::cli {
namespace {

struct Opts {
  std::string model;
  int n_prompt = 512;
  int n_gen = 32;
  int threads = 0;
  int reps = 3;
  bool json = false;
  bool machine = false;
  std::string prompt;  // decode after this chat-rendered prompt instead of one random token
  int depth = 0;       // or after this many random tokens (decode at a long context)
  CacheType cache_type;
  bool cache_ab = false;  // f32 against bf16 cache, decode steps taken in turns
  bool attn_ab = false;   // attention split over heads against over positions, in turns
  int64_t attn_split_min = kDefaultAttnSplitMinPositions;
  SpecOptions spec;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Decode after `prompt` with an F32-cache and a BF16-cache session, one step of each in turn
// (which goes first alternates), so that a machine whose speed drifts slows both alike;
// reports the median step time of each. Prefill is timed once per session.
int cache_ab(const Opts& o, const Model& model, ThreadPool& pool,
             const std::vector<int32_t>& prompt, nlohmann::json& out) {
  const int64_t V = model.config.vocab_size, P = int64_t(prompt.size());
  const int n = std::max(o.n_gen, 1) * std::max(o.reps, 1);
  const int64_t ctx = std::min<int64_t>(model.config.max_position_embeddings, P + n + 1);
  const DType types[2] = {DType::F32, DType::BF16};
  std::vector<std::unique_ptr<Session>> s;
  std::vector<std::vector<float>> logits(2, std::vector<float>(static_cast<size_t>(V)));
  double prefill_s[2];
  for (int i = 0; i < 2; ++i) {
    s.push_back(std::make_unique<Session>(model, pool, ctx, types[i]));
    const double t0 = now_seconds();
    s[size_t(i)]->forward(prompt.data(), P, logits[size_t(i)].data(), false);
    prefill_s[i] = now_seconds() - t0;
  }
  std::vector<double> step[2];
  for (int k = 0; k < n && P + k < ctx; ++k)
    for (int j = 0; j < 2; ++j) {
      const size_t i = size_t((j + k) % 2);
      const int32_t next = argmax(logits[i].data(), V);
      const double t0 = now_seconds();
      s[i]->forward(&next, 1, logits[i].data(), false);
      step[i].push_back(now_seconds() - t0);
    }
  const double f32_ms = 1e3 * median(step[0]), bf16_ms = 1e3 * median(step[1]);
  out["cache_ab"] = {{"depth", P},
                     {"steps", step[0].size()},
                     {"f32_step_ms", f32_ms},
                     {"bf16_step_ms", bf16_ms},
                     {"f32_prefill_s", prefill_s[0]},
                     {"bf16_prefill_s", prefill_s[1]},
                     {"bf16_speedup", f32_ms / std::max(bf16_ms, 1e-9)}};
  if (o.json) {
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("model %s, %d threads, kernels %s\n", model.name.c_str(), pool.size(),
              cpu_kernels().name);
  std::printf(
      "decode after %lld tokens, %zu steps of each cache in turns (median step):\n"
      "  f32  cache %8.2f ms  (%.2f tokens/s; prefill %.1f s)\n"
      "  bf16 cache %8.2f ms  (%.2f tokens/s; prefill %.1f s)\n"
      "  bf16 / f32 decode speed %.3fx\n",
      (long long)P, step[0].size(), f32_ms, 1e3 / f32_ms, prefill_s[0], bf16_ms, 1e3 / bf16_ms,
      prefill_s[1], f32_ms / std::max(bf16_ms, 1e-9));
  return 0;
}

// Decode with mla_attention splitting the heads across threads and splitting the positions
// (from attn_split_min_positions() on), one step of each in turn (which goes first
// alternates) on one session, so that a machine whose speed drifts slows both alike; reports
// the median step time of each. The session starts from `depth` cache rows of random values
// (import_prefix) instead of a prefill: a step's cost does not depend on the values, and the
// prefill of 8K tokens takes minutes.
int attn_ab(const Opts& o, const Model& model, ThreadPool& pool, int64_t depth,
            nlohmann::json& out) {
  const int64_t V = model.config.vocab_size;
  const int n = std::max(o.n_gen, 1) * std::max(o.reps, 1);
  const int64_t ctx = std::min<int64_t>(model.config.max_position_embeddings, depth + 2 * n + 1);
  Session s(model, pool, ctx, o.cache_type);
  Rng rng(4321);
  std::vector<int32_t> tokens(static_cast<size_t>(depth));
  for (auto& t : tokens) t = int32_t(rng.next() % uint64_t(V));
  const int64_t W = model.config.kv_cache_width(), L = s.cache().n_layers();
  std::vector<uint8_t> kv(static_cast<size_t>(depth * s.kv_bytes_per_token()));
  std::vector<float> row(static_cast<size_t>(W));
  KvCache one(1, 1, W, s.cache_type());  // rounds each random row to the cache type
  for (int64_t r = 0; r < L * depth; ++r) {
    for (auto& x : row) x = float(int64_t(rng.next() % 2001) - 1000) / 1000.0f;
    one.store(0, 0, row.data());
    std::memcpy(kv.data() + size_t(r) * one.row_bytes(), one.data(0, 0), one.row_bytes());
  }
  s.import_prefix(tokens.data(), depth, kv.data(), depth);
  const int64_t split_min = attn_split_min_positions();
  const int64_t mins[2] = {std::numeric_limits<int64_t>::max(), split_min};
  std::vector<float> logits(static_cast<size_t>(V));
  int32_t next = depth > 0 ? tokens.back() : 0;
  std::vector<double> step[2];
  for (int k = 0; k < n && s.n_past() + 2 <= ctx; ++k)
    for (int j = 0; j < 2; ++j) {
      const size_t i = size_t((j + k) % 2);
      set_attn_split_min_positions(mins[i]);
      const double t0 = now_seconds();
      s.forward(&next, 1, logits.data(), false);
      step[i].push_back(now_seconds() - t0);
      next = argmax(logits.data(), V);
    }
  set_attn_split_min_positions(split_min);
  const double heads_ms = 1e3 * median(step[0]), pos_ms = 1e3 * median(step[1]);
  out["attn_ab"] = {{"depth", depth},
                    {"cache_type", cache_type_name(o.cache_type)},
                    {"split_min_positions", split_min},
                    {"steps", step[0].size()},
                    {"heads_step_ms", heads_ms},
                    {"positions_step_ms", pos_ms},
                    {"positions_speedup", heads_ms / std::max(pos_ms, 1e-9)}};
  if (o.json) {
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("model %s, %d threads, kernels %s, %s cache\n", model.name.c_str(), pool.size(),
              cpu_kernels().name, cache_type_name(o.cache_type));
  std::printf(
      "decode after %lld random cache rows, %zu steps of each split in turns (median step):\n"
      "  heads split      %8.2f ms  (%.2f tokens/s)\n"
      "  positions split  %8.2f ms  (%.2f tokens/s; from %lld positions on)\n"
      "  positions / heads decode speed %.3fx\n",
      (long long)depth, step[0].size(), heads_ms, 1e3 / heads_ms, pos_ms, 1e3 / pos_ms,
      (long long)split_min, heads_ms / std::max(pos_ms, 1e-9));
  return 0;
}

int run(Opts o) {
  ThreadPool pool(o.threads > 0 ? o.threads : ThreadPool::default_threads());
  nlohmann::json out;
  out["threads"] = pool.size();
  out["kernels"] = cpu_kernels().name;
  MachineLimits lim;
  lim = measure_machine(pool, o.machine ? int64_t(1) << 30 : int64_t(512) << 20);
  out["machine"] = {
      {"read_gbps", lim.read_gbps}, {"fma_gflops", lim.fma_gflops}, {"int8_gops", lim.int8_gops}};
  if (o.machine) {
    if (o.json) {
      std::printf("%s\n", out.dump(2).c_str());
    } else {
      std::printf("threads %d, kernels %s\n", pool.size(), cpu_kernels().name);
      std::printf(
          "read bandwidth: %.1f GB/s\nFMA peak:       %.1f GFLOP/s (fp32)\nint8 dot peak:  %.1f "
          "Gop/s (2 per 8-bit multiply-add)\n",
          lim.read_gbps, lim.fma_gflops, lim.int8_gops);
    }
    return 0;
  }
  set_attn_split_min_positions(o.attn_split_min);
  LoadedModel lm;
  if (o.prompt.empty())
    lm.model = o.model.empty() ? Model::load_embedded() : Model::load(o.model);
  else
    lm = load_model(o.model, false);
  const Model* model = lm.model.get();
  o.cache_type = resolve_cache_type(o.cache_type, *model);
  const ModelConfig& c = model->config;
  if (o.attn_ab) return attn_ab(o, *model, pool, o.depth, out);
  // Decode starts from one random token, or from the chat-rendered --prompt (then it stops
  // at the end of the answer, so speculative decoding is measured on text the model means).
  std::vector<int32_t> gen_prompt;
  if (!o.prompt.empty())
    gen_prompt =
        chat_prompt(lm, nlohmann::json::array({{{"role", "user"}, {"content", o.prompt}}}));
  const int64_t ctx = std::min<int64_t>(
      c.max_position_embeddings,
      std::max<int64_t>({o.n_prompt, int64_t(gen_prompt.size()), int64_t(o.depth)}) + o.n_gen + 1);
  Rng rng(1234);
  std::vector<int32_t> prompt(size_t(std::max(o.n_prompt, 1)));
  for (auto& t : prompt) t = int32_t(rng.next() % uint64_t(c.vocab_size));
  if (gen_prompt.empty() && o.depth > 0) {
    gen_prompt.resize(size_t(o.depth));
    for (auto& t : gen_prompt) t = int32_t(rng.next() % uint64_t(c.vocab_size));
  }
  if (gen_prompt.empty()) gen_prompt = {prompt[0]};
  if (o.cache_ab) return cache_ab(o, *model, pool, gen_prompt, out);
  std::vector<float> logits(size_t(c.vocab_size));
  std::vector<double> pp, tg, tg_plain;
  const int drafts = o.spec.drafts_for(*model);
  int64_t drafted = 0, accepted = 0;
  // Greedy decoding through the generator; `k` drafts per step (0: plain decoding).
  auto decode = [&](int k) {
    Session s(*model, pool, ctx, o.cache_type);
    if (k > 0) s.set_keep_hidden(true);
    GenerationParams gp;
    gp.max_tokens = o.n_gen;
    gp.spec_draft = k;
    gp.spec_min_accept = k > 0 ? o.spec.min_accept_for(*model, k) : 0.0;
    gp.ignore_eos = o.prompt.empty();
    // Prefill is timed apart: tokens/s of the decode steps only.
    const GenerationResult r = generate(s, nullptr, gen_prompt, gp, nullptr);
    if (k > 0) {
      drafted += r.n_drafted;
      accepted += r.n_accepted;
    }
    return double(r.tokens.size()) / std::max(r.decode_s, 1e-9);
  };
  for (int rep = 0; rep < std::max(o.reps, 1); ++rep) {
    if (o.n_prompt > 0) {
      Session s(*model, pool, ctx, o.cache_type);
      const double t0 = now_seconds();
      s.forward(prompt.data(), o.n_prompt, logits.data(), false);
      pp.push_back(o.n_prompt / (now_seconds() - t0));
    }
    if (o.n_gen > 0) {
      // With MTP on, plain decoding runs alternately on the same prompt for the speed-up.
      if (drafts > 0) tg_plain.push_back(decode(0));
      tg.push_back(decode(drafts));
    }
  }
  const double pp_tps = median(pp), tg_tps = median(tg);
  const double bytes = double(model->active_weight_bytes());
  const double flops_per_token = 2.0 * double(model->n_active_params());
  const double gbps = bytes * tg_tps / 1e9, gflops = flops_per_token * pp_tps / 1e9;
  out["model"] = model->name;
  out["n_prompt"] = o.n_prompt;
  out["n_gen"] = o.n_gen;
  out["depth"] = o.depth;
  out["cache_type"] = cache_type_name(o.cache_type);
  out["prefill_tokens_per_s"] = pp_tps;
  out["decode_tokens_per_s"] = tg_tps;
  out["weight_bytes_per_decoded_token"] = bytes;
  out["decode_gbps"] = gbps;
  out["decode_share_of_bandwidth"] = lim.read_gbps > 0 ? gbps / lim.read_gbps : 0;
  out["prefill_gflops"] = gflops;
  out["prefill_share_of_fma_peak"] = lim.fma_gflops > 0 ? gflops / lim.fma_gflops : 0;
  // Quantised weights run prefill on 8-bit integer dot products (docs/PERFORMANCE.md).
  out["prefill_share_of_int8_peak"] = lim.int8_gops > 0 ? gflops / lim.int8_gops : 0;
  out["spec_drafts_per_step"] = drafts;
  out["spec_acceptance"] = drafted > 0 ? double(accepted) / double(drafted) : 0.0;
  if (drafts > 0 && o.n_gen > 0) {
    out["plain_decode_tokens_per_s"] = median(tg_plain);
    out["spec_speedup"] = tg_tps / std::max(median(tg_plain), 1e-9);
  }
  if (o.json) {
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("model %s, %d threads, kernels %s, %s cache\n", model->name.c_str(), pool.size(),
              cpu_kernels().name, cache_type_name(o.cache_type));
  std::printf("machine: read %.1f GB/s, FMA peak %.1f GFLOP/s, int8 dot peak %.1f Gop/s\n",
              lim.read_gbps, lim.fma_gflops, lim.int8_gops);
  if (o.n_prompt > 0)
    std::printf(
        "pp%-5d %10.2f tokens/s  %8.2f GFLOP/s  (%.1f%% of FMA peak, %.1f%% of int8 peak)\n",
        o.n_prompt, pp_tps, gflops, 100 * gflops / std::max(lim.fma_gflops, 1e-9),
        100 * gflops / std::max(lim.int8_gops, 1e-9));
  if (o.n_gen > 0)
    std::printf(
        "tg%-5d %10.2f tokens/s  %8.2f GB/s     (%.1f%% of read bandwidth; %.1f MB of weights per "
        "token)\n",
        o.n_gen, tg_tps, gbps, 100 * gbps / std::max(lim.read_gbps, 1e-9), bytes / 1e6);
  if (drafts > 0 && o.n_gen > 0)
    std::printf(
        "MTP, %d draft%s per step: %.1f%% of drafts accepted; plain decoding %.2f tokens/s, so "
        "%.2fx\n",
        drafts, drafts == 1 ? "" : "s", 100.0 * (drafted > 0 ? double(accepted) / drafted : 0.0),
        median(tg_plain), tg_tps / std::max(median(tg_plain), 1e-9));
  return 0;
}

const Registrar reg{
    {"bench", "Measure prefill and decode speed against the machine's limits",
     [](CLI::App& app) -> std::function<int()> {
       auto o = std::make_shared<Opts>();
       app.add_option("-m,--model", o->model,
                      "Model directory or .gguf (default: the embedded model)");
       app.add_option("-p,--n-prompt", o->n_prompt, "Prompt tokens")->check(CLI::NonNegativeNumber);
       app.add_option("-n,--n-gen", o->n_gen, "Generated tokens")->check(CLI::NonNegativeNumber);
       app.add_option("-t,--threads", o->threads, "Threads (default: physical cores)")
           ->check(CLI::NonNegativeNumber);
       app.add_option("-r,--repetitions", o->reps, "Repetitions (the median is reported)")
           ->check(CLI::PositiveNumber);
       app.add_flag("--json", o->json, "Print one JSON object");
       app.add_option("-d,--depth,--n-depth", o->depth,
                      "Decode after this many random prompt tokens (speed at a long context; "
                      "llama-bench's -d)")
           ->check(CLI::NonNegativeNumber);
       add_cache_type_option(app, o->cache_type);
       add_file_loading_options(app);
       app.add_flag("--cache-ab", o->cache_ab,
                    "Decode with an f32 and a bf16 cache in turns, one step each, n-gen x "
                    "repetitions steps (after --depth or --prompt; no prefill figures)");
       app.add_option("--attn-split-min", o->attn_split_min,
                      "Split the attention's positions across threads (instead of its heads) "
                      "from this context length on")
           ->check(CLI::NonNegativeNumber);
       app.add_flag("--attn-ab", o->attn_ab,
                    "Decode with the attention split over heads and over positions in turns, "
                    "one step each, n-gen x repetitions steps, after --depth random cache rows "
                    "(no prefill)");
       app.add_option("--prompt", o->prompt,
                      "Decode after this prompt (chat template applied; stops at end of answer) "
                      "instead of one random token");
       add_spec_options(app, o->spec);
       app.add_flag("--machine", o->machine, "Measure only the machine's limits");
       return [o] { return run(*o); };
     },
     60}};

}  // namespace
}  // namespace ds::cli
