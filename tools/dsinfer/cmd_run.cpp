// `dsinfer run`: one prompt, the answer streamed; R1-style thinking shown dimmed.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>

#include "cache_options.h"
#include "command.h"
#include "core/error.h"
#include "load_options.h"
#include "model/forward.h"
#include "model_loading.h"
#include "runtime/generator.h"
#include "runtime/reasoning.h"
#include "runtime/thread_pool.h"
#include "sampling_options.h"

namespace ds::cli {
namespace {

struct Opts {
  std::string model, prompt, system;
  int64_t n_predict = 1024;
  int64_t ctx = 4096;
  CacheType cache_type;
  int threads = 0;
  bool raw = false, hide_thinking = false, json = false, verbose = false;
  SamplingParams sampling;
  SpecOptions spec;
};

constexpr const char* kDim = "\x1b[2m";
constexpr const char* kReset = "\x1b[0m";

int run(Opts o) {
  if (o.prompt == "-") {
    o.prompt.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  if (o.prompt.empty())
    throw Error("run: the prompt is empty (give -p TEXT, or -p - to read stdin)");
  LoadedModel lm = load_model(o.model, o.verbose);
  const Tokenizer& tok = *lm.tokenizer;
  std::vector<int32_t> prompt;
  std::string prompt_text;
  if (o.raw) {
    prompt_text = o.prompt;
    prompt = tok.encode(o.prompt, tok.add_bos());
  } else {
    nlohmann::json messages = nlohmann::json::array();
    if (!o.system.empty()) messages.push_back({{"role", "system"}, {"content", o.system}});
    messages.push_back({{"role", "user"}, {"content", o.prompt}});
    prompt = chat_prompt(lm, messages, &prompt_text);
  }
  const int64_t ctx = std::min<int64_t>(o.ctx, lm.model->config.max_position_embeddings);
  ThreadPool pool(o.threads > 0 ? o.threads : ThreadPool::default_threads());
  Session session(*lm.model, pool, ctx, o.cache_type);
  const int drafts = o.spec.drafts_for(*lm.model);
  if (drafts > 0) session.set_keep_hidden(true);

  const bool out_tty = isatty(1), err_tty = isatty(2);
  ReasoningSplitter split(!o.raw && prompt_opens_reasoning(prompt_text));
  std::string reasoning, content;
  int64_t reasoning_tokens = 0;
  bool in_dim = false, printed_reasoning = false;
  auto show = [&](const ReasoningSplitter::Piece& p) {
    reasoning += p.reasoning;
    content += p.content;
    if (o.json) return;
    if (!p.reasoning.empty() && !o.hide_thinking) {
      // Thinking: dimmed on a terminal; when stdout is piped it goes to stderr so that the
      // answer alone reaches the pipe.
      FILE* f = out_tty ? stdout : stderr;
      const bool dim = out_tty || err_tty;
      if (dim && !in_dim) std::fputs(kDim, f), in_dim = true;
      std::fputs(p.reasoning.c_str(), f);
      std::fflush(f);
      printed_reasoning = true;
    }
    if (!p.content.empty()) {
      if (in_dim) {
        std::fputs(kReset, out_tty ? stdout : stderr);
        in_dim = false;
      }
      if (printed_reasoning) {
        std::fputs("\n\n", out_tty ? stdout : stderr);
        printed_reasoning = false;
      }
      std::fputs(p.content.c_str(), stdout);
      std::fflush(stdout);
    }
  };
  GenerationParams gp;
  gp.max_tokens = o.n_predict;
  gp.sampling = o.sampling;
  gp.spec_draft = drafts;
  gp.spec_min_accept = o.spec.min_accept_for(*lm.model, drafts);
  GenerationResult res = generate(session, tok, prompt, gp, [&](int32_t, const std::string& piece) {
    if (split.in_reasoning()) ++reasoning_tokens;
    show(split.feed(piece));
    return true;
  });
  show(split.flush());
  if (in_dim) std::fputs(kReset, out_tty ? stdout : stderr);
  if (printed_reasoning && !out_tty) std::fputs("\n", stderr);  // thinking ended without an answer
  if (o.json) {
    nlohmann::json j;
    j["model"] = lm.model->name;
    j["reasoning_content"] = reasoning;
    j["content"] = content;
    j["finish_reason"] = res.finish_reason;
    j["usage"] = {{"prompt_tokens", res.n_prompt},
                  {"completion_tokens", int64_t(res.tokens.size())},
                  {"reasoning_tokens", reasoning_tokens},
                  {"total_tokens", res.n_prompt + int64_t(res.tokens.size())}};
    j["timings"] = {
        {"load_s", lm.load_s},
        {"prefill_s", res.prefill_s},
        {"decode_s", res.decode_s},
        {"prefill_tokens_per_s", res.prefill_s > 0 ? double(res.n_prompt) / res.prefill_s : 0.0},
        {"decode_tokens_per_s", res.decode_s > 0 ? double(res.tokens.size()) / res.decode_s : 0.0}};
    j["speculative"] = {
        {"drafts_per_step", drafts}, {"drafted", res.n_drafted}, {"accepted", res.n_accepted}};
    std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }
  std::fputs("\n", stdout);
  if (o.verbose)
    std::fprintf(stderr,
                 "prompt %lld tokens in %.3f s (%.1f tokens/s); generated %zu tokens in %.3f s "
                 "(%.1f tokens/s)\n",
                 (long long)res.n_prompt, res.prefill_s,
                 double(res.n_prompt) / std::max(res.prefill_s, 1e-9), res.tokens.size(),
                 res.decode_s, double(res.tokens.size()) / std::max(res.decode_s, 1e-9));
  return 0;
}

const Registrar reg{
    {"run", "Answer one prompt, streaming the reply (thinking shown dimmed)",
     [](CLI::App& app) -> std::function<int()> {
       auto o = std::make_shared<Opts>();
       app.add_option("-m,--model", o->model, "Model directory (default: the embedded model)");
       app.add_option("-p,--prompt", o->prompt, "The prompt; '-' reads it from stdin")->required();
       app.add_option("-s,--system", o->system, "System prompt");
       app.add_option("-n,--n-predict", o->n_predict, "Maximum tokens to generate")
           ->check(CLI::PositiveNumber);
       app.add_option("-c,--ctx-size", o->ctx, "Context size in tokens")
           ->check(CLI::PositiveNumber);
       add_cache_type_option(app, o->cache_type);
       add_file_loading_options(app);
       app.add_option("-t,--threads", o->threads, "Threads (default: physical cores)")
           ->check(CLI::NonNegativeNumber);
       app.add_flag("--raw", o->raw, "Send the prompt as is, without the chat template");
       app.add_flag("--hide-thinking", o->hide_thinking, "Do not show the reasoning");
       app.add_flag("--json", o->json, "Print one JSON object: reasoning, answer, counts, timings");
       app.add_flag("-v,--verbose", o->verbose, "Show load and speed figures");
       add_sampling_options(app, o->sampling);
       add_spec_options(app, o->spec);
       return [o] { return run(*o); };
     },
     10}};

}  // namespace
}  // namespace ds::cli
