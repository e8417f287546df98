// `dsinfer logits`: logits of every prompt position to a file, then optional greedy decoding.
// Interface used by outside checks — keep it stable.
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "cache_options.h"
#include "command.h"
#include "core/error.h"
#include "load_options.h"
#include "model/forward.h"
#include "runtime/sampler.h"
#include "runtime/thread_pool.h"

namespace ds::cli {
namespace {

std::vector<int32_t> parse_token_list(const std::string& s) {
  std::vector<int32_t> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t pos = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &pos);
    } catch (const std::exception&) {
      throw Error(cat("--tokens: '", item, "' is not an integer"));
    }
    if (pos != item.size() || v < INT32_MIN || v > INT32_MAX)
      throw Error(cat("--tokens: '", item, "' is not a valid token id"));
    out.push_back(int32_t(v));
  }
  if (out.empty()) throw Error("--tokens: no token ids given");
  return out;
}

struct Opts {
  std::string model, tokens, out, mtp_out;
  int gen = 0;
  int threads = 0;
  CacheType cache_type;
};

int run(const Opts& o) {
  const std::vector<int32_t> tokens = parse_token_list(o.tokens);
  auto model = Model::load(o.model);
  const int64_t V = model->config.vocab_size;
  const int64_t need = int64_t(tokens.size()) + o.gen;
  if (need > model->config.max_position_embeddings)
    throw Error(cat(tokens.size(), " prompt tokens + ", o.gen,
                    " generated exceed the model's context of ",
                    model->config.max_position_embeddings));
  ThreadPool pool(o.threads > 0 ? o.threads : ThreadPool::default_threads());
  Session s(*model, pool, need, o.cache_type);
  std::vector<float> logits(size_t(int64_t(tokens.size()) * V));
  s.forward(tokens.data(), int64_t(tokens.size()), logits.data(), true);
  {
    std::ofstream f(o.out, std::ios::binary);
    if (!f) throw Error(cat(o.out, ": cannot open for writing"));
    f.write(reinterpret_cast<const char*>(logits.data()),
            std::streamsize(logits.size() * sizeof(float)));
    if (!f) throw Error(cat(o.out, ": write failed"));
  }
  if (!o.mtp_out.empty()) {
    // MTP draft logits for positions 0 … n−2: position i takes h_i and token i+1.
    if (model->mtp.empty()) throw Error(cat(o.model, ": the model has no MTP module"));
    const int64_t n = int64_t(tokens.size()) - 1;
    if (n < 1) throw Error("--mtp-out needs at least two tokens");
    std::vector<int64_t> pos(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) pos[size_t(i)] = i;
    std::vector<float> draft(static_cast<size_t>(n * V));
    const std::vector<float> hidden = s.last_hidden();
    Activations act;
    mtp_forward(*model, 0, s, hidden.data(), tokens.data() + 1, pos.data(), n, nullptr,
                draft.data(), true, act, pool);
    std::ofstream f(o.mtp_out, std::ios::binary);
    f.write(reinterpret_cast<const char*>(draft.data()),
            std::streamsize(draft.size() * sizeof(float)));
    if (!f) throw Error(cat(o.mtp_out, ": write failed"));
  }
  if (o.gen > 0) {
    std::vector<int32_t> gen;
    int32_t next = argmax(logits.data() + (int64_t(tokens.size()) - 1) * V, V);
    std::vector<float> step(static_cast<size_t>(V));
    for (int i = 0; i < o.gen; ++i) {
      gen.push_back(next);
      if (i + 1 == o.gen) break;
      s.forward(&next, 1, step.data(), false);
      next = argmax(step.data(), V);
    }
    std::string line = "[";
    for (size_t i = 0; i < gen.size(); ++i) line += (i ? ", " : "") + std::to_string(gen[i]);
    std::printf("%s]\n", line.c_str());
  }
  return 0;
}

const Registrar reg{
    {"logits", "Write the logits of every prompt position (raw float32 [n, vocab])",
     [](CLI::App& app) -> std::function<int()> {
       auto o = std::make_shared<Opts>();
       app.add_option("-m,--model", o->model, "Model directory or .gguf file")->required();
       app.add_option("--tokens", o->tokens, "Comma-separated prompt token ids")->required();
       app.add_option("--out", o->out, "Output file for the logits")->required();
       app.add_option("--gen", o->gen, "Then decode N tokens greedily; prints them as JSON")
           ->check(CLI::NonNegativeNumber);
       app.add_option("--mtp-out", o->mtp_out,
                      "Also write the MTP draft logits [n-1, vocab] to this file");
       app.add_option("-t,--threads", o->threads, "Threads (default: physical cores)")
           ->check(CLI::NonNegativeNumber);
       add_cache_type_option(app, o->cache_type);
       add_file_loading_options(app);
       return [o] { return run(*o); };
     },
     50}};

}  // namespace
}  // namespace ds::cli
