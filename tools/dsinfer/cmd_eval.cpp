// `dsinfer eval`: runs a held-out problem set through the engine and reports exact-answer
// accuracy per task family, the share of well-formed think blocks, agreement with reference
// completions, and the MTP draft acceptance.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>

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
  std::string model, heldout;
  int64_t n_predict = 384;
  int64_t limit = 0;
  int threads = 0;
  CacheType cache_type;
  bool json = false, show_failures = false;
  SpecOptions spec;
};

struct Tally {
  int64_t n = 0, correct = 0, well_formed = 0, same_as_reference = 0, with_reference = 0;
};

int run(Opts o) {
  std::ifstream in(o.heldout);
  if (!in) throw Error(cat(o.heldout, ": cannot open"));
  LoadedModel lm = load_model(o.model, false);
  o.cache_type = resolve_cache_type(o.cache_type, *lm.model);
  ThreadPool pool(o.threads > 0 ? o.threads : ThreadPool::default_threads());
  const int drafts = o.spec.drafts_for(*lm.model);
  // "The answer is X." ends the answer of the shipped model's task format.
  const std::regex answer_re(R"(The answer is (.+)\.$)");
  std::map<std::string, Tally> by_family;
  Tally all;
  int64_t drafted = 0, accepted = 0, generated = 0;
  double decode_s = 0;
  std::string line;
  int64_t line_no = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    if (o.limit > 0 && all.n >= o.limit) break;
    nlohmann::json p;
    try {
      p = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw Error(cat(o.heldout, ":", line_no, ": malformed JSON: ", e.what()));
    }
    if (!p.contains("question") || !p["question"].is_string() || !p.contains("answer"))
      throw Error(cat(o.heldout, ":", line_no, ": needs string fields 'question' and 'answer'"));
    const std::string family = p.value("family", "all");
    const std::string want =
        p["answer"].is_string() ? p["answer"].get<std::string>() : p["answer"].dump();
    std::string prompt_text;
    const std::vector<int32_t> prompt = chat_prompt(
        lm, nlohmann::json::array({{{"role", "user"}, {"content", p["question"]}}}), &prompt_text);
    Session s(*lm.model, pool,
              std::min<int64_t>(int64_t(prompt.size()) + o.n_predict + 1,
                                lm.model->config.max_position_embeddings),
              o.cache_type);
    if (drafts > 0) s.set_keep_hidden(true);
    GenerationParams gp;
    gp.max_tokens = o.n_predict;
    gp.spec_draft = drafts;
    gp.spec_min_accept = o.spec.min_accept_for(*lm.model, drafts);
    const GenerationResult r = generate(s, *lm.tokenizer, prompt, gp, nullptr);
    drafted += r.n_drafted;
    accepted += r.n_accepted;
    generated += int64_t(r.tokens.size());
    decode_s += r.decode_s;

    ReasoningSplitter split(prompt_opens_reasoning(prompt_text));
    ReasoningSplitter::Piece a = split.feed(r.text), b = split.flush();
    const std::string reasoning = a.reasoning + b.reasoning, content = a.content + b.content;
    // Well formed: one think block, closed, with reasoning in it, then an answer, then EOS.
    const size_t closes = [&] {
      size_t n = 0;
      for (size_t at = r.text.find("</think>"); at != std::string::npos;
           at = r.text.find("</think>", at + 1))
        ++n;
      return n;
    }();
    const bool well =
        r.finish_reason == "stop" && closes == 1 && !reasoning.empty() && !content.empty() &&
        (prompt_opens_reasoning(prompt_text) ? r.text.find("<think>") == std::string::npos : true);
    std::smatch m;
    const bool correct = std::regex_search(content, m, answer_re) && m[1].str() == want;
    Tally* ts[2] = {&by_family[family], &all};
    for (Tally* t : ts) {
      ++t->n;
      t->correct += correct;
      t->well_formed += well;
    }
    if (p.contains("completion") && p["completion"].is_string()) {
      // Reference completion (e.g. PyTorch's greedy output): compare token for token.
      const std::string ours =
          r.text + (r.finish_reason == "stop" ? lm.tokenizer->eos_token() : "");
      const bool same = ours == p["completion"].get<std::string>();
      for (Tally* t : ts) {
        ++t->with_reference;
        t->same_as_reference += same;
      }
    }
    if (o.show_failures && !correct)
      std::fprintf(stderr, "--- [%s] expected %s\n%s\n", family.c_str(), want.c_str(),
                   r.text.c_str());
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto pct = [](int64_t a, int64_t b) { return b > 0 ? 100.0 * double(a) / double(b) : 0.0; };
  nlohmann::json j;
  j["model"] = lm.model->name;
  j["problems"] = all.n;
  j["accuracy"] = pct(all.correct, all.n) / 100;
  j["well_formed_think"] = pct(all.well_formed, all.n) / 100;
  if (all.with_reference)
    j["identical_to_reference"] = pct(all.same_as_reference, all.with_reference) / 100;
  j["mtp_drafts_per_step"] = drafts;
  if (drafted) j["mtp_acceptance"] = double(accepted) / double(drafted);
  j["generated_tokens"] = generated;
  j["decode_tokens_per_s"] = decode_s > 0 ? double(generated) / decode_s : 0.0;
  j["wall_s"] = wall;
  for (const auto& [f, t] : by_family) {
    j["families"][f] = {{"n", t.n},
                        {"accuracy", pct(t.correct, t.n) / 100},
                        {"well_formed_think", pct(t.well_formed, t.n) / 100}};
    if (t.with_reference)
      j["families"][f]["identical_to_reference"] = pct(t.same_as_reference, t.with_reference) / 100;
  }
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("%-10s %6s %9s %11s %10s\n", "family", "n", "accuracy", "well-formed", "same-as-ref");
  for (const auto& [f, t] : by_family)
    std::printf("%-10s %6lld %8.1f%% %10.1f%% %9.1f%%\n", f.c_str(), (long long)t.n,
                pct(t.correct, t.n), pct(t.well_formed, t.n),
                pct(t.same_as_reference, t.with_reference));
  std::printf("%-10s %6lld %8.1f%% %10.1f%% %9.1f%%\n", "all", (long long)all.n,
              pct(all.correct, all.n), pct(all.well_formed, all.n),
              pct(all.same_as_reference, all.with_reference));
  if (drafted)
    std::printf("MTP: %d draft(s) per step, %.1f%% accepted (%lld of %lld)\n", drafts,
                pct(accepted, drafted), (long long)accepted, (long long)drafted);
  std::printf("%lld tokens generated at %.1f tokens/s; %.1f s in all\n", (long long)generated,
              decode_s > 0 ? double(generated) / decode_s : 0.0, wall);
  return 0;
}

const Registrar reg{
    {"eval", "Score a held-out problem set: accuracy per family, think blocks, MTP acceptance",
     [](CLI::App& app) -> std::function<int()> {
       auto o = std::make_shared<Opts>();
       app.add_option("-m,--model", o->model,
                      "Model directory or .gguf (default: the embedded model)");
       app.add_option("--heldout", o->heldout, "JSONL: {family, question, answer[, completion]}")
           ->required();
       app.add_option("-n,--n-predict", o->n_predict, "Maximum tokens per answer")
           ->check(CLI::PositiveNumber);
       app.add_option("--limit", o->limit, "Only the first N problems")
           ->check(CLI::NonNegativeNumber);
       app.add_option("-t,--threads", o->threads, "Threads (default: physical cores)")
           ->check(CLI::NonNegativeNumber);
       add_cache_type_option(app, o->cache_type);
       add_file_loading_options(app);
       app.add_flag("--json", o->json, "Print one JSON object");
       app.add_flag("--show-failures", o->show_failures, "Print wrong answers on stderr");
       add_spec_options(app, o->spec);
       return [o] { return run(*o); };
     },
     70}};

}  // namespace
}  // namespace ds::cli
