// `dsinfer quantize`: a HF checkpoint (BF16 / F32 / FP8) or a GGUF file to a llama.cpp GGUF
// file of a chosen quantisation mix (docs/gguf.md, docs/quant.md).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "command.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "io/gguf.h"
#include "model/gguf_export.h"
#include "model/gguf_loader.h"
#include "model/weights.h"
#include "runtime/thread_pool.h"
#include "tokenizer/gguf_vocab.h"

namespace ds::cli {
namespace {

struct Opts {
  std::string model, out, type, name, mla = "split";
  std::vector<std::string> overrides;
  int threads = 0;
  bool quiet = false, verbose = false;
};

int run(const Opts& o) {
  // Read once, in order: mapping is enough (and starts at once).
  set_file_loading(FileLoading::kMmap);
  namespace fs = std::filesystem;
  const auto t0 = std::chrono::steady_clock::now();
  GgufExportOptions eo;
  eo.ftype = parse_file_type(o.type);
  for (const auto& s : o.overrides) eo.overrides.push_back(TypeOverride::parse(s));
  if (o.mla != "split" && o.mla != "kv_b")
    throw Error(cat("--mla '", o.mla, "': expected split (attn_k_b/attn_v_b) or kv_b (attn_kv_b)"));
  eo.split_kv_b = o.mla == "split";
  std::error_code ec;
  if (fs::equivalent(o.out, o.model, ec))
    throw Error(cat(o.out, ": the output would overwrite the input"));

  auto model = Model::load(o.model);
  eo.name = o.name.empty() ? model->name : o.name;
  if (is_gguf_path(o.model)) {
    eo.tokenizer_kv = gguf_tokenizer_metadata(GgufFile::open(o.model));
  } else if (fs::exists(fs::path(o.model) / "tokenizer.json")) {
    eo.tokenizer_kv = gguf_tokenizer_metadata(o.model, model->config.vocab_size);
  } else {
    std::fprintf(stderr,
                 "warning: %s has no tokenizer.json; the GGUF gets no vocabulary (dsinfer runs it "
                 "from token ids, llama.cpp will not load it)\n",
                 o.model.c_str());
  }
  const bool tty = isatty(2) && !o.quiet;
  size_t n_fallback = 0;
  eo.on_note = [&](const std::string& note) {
    ++n_fallback;
    if (o.verbose) std::fprintf(stderr, "%snote: %s\n", tty ? "\r\033[K" : "", note.c_str());
  };
  eo.on_tensor = [&](size_t i, size_t n, const std::string& name, GgmlType t, uint64_t elems) {
    if (!tty) return;
    std::fprintf(stderr, "\r\033[K[%zu/%zu] %-40s %-7s %8.2f M values", i + 1, n, name.c_str(),
                 std::string(ggml_type_name(t)).c_str(), double(elems) / 1e6);
    std::fflush(stderr);
  };
  ThreadPool pool(o.threads > 0 ? o.threads : ThreadPool::default_threads());
  const std::string tmp = o.out + ".part";
  try {
    export_gguf(*model, tmp, eo, pool);
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  fs::rename(tmp, o.out);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!o.quiet && n_fallback > 0 && !o.verbose)
    std::fprintf(stderr,
                 "%s%zu tensors have rows that do not fit their type's block and use a fallback "
                 "type (-v lists them)\n",
                 tty ? "\r\033[K" : "", n_fallback);
  if (!o.quiet)
    std::fprintf(stderr, "%swrote %s: %s, %.1f MB in %.1f s\n", tty ? "\r\033[K" : "",
                 o.out.c_str(), std::string(file_type_name(eo.ftype)).c_str(),
                 double(fs::file_size(o.out)) / 1e6, s);
  return 0;
}

const Registrar reg{
    {"quantize", "Write a llama.cpp GGUF file (f32, f16, bf16, q8_0, q4_k_m, ...) from a model",
     [](CLI::App& app) -> std::function<int()> {
       auto o = std::make_shared<Opts>();
       app.add_option("-m,--model", o->model, "HF model directory or .gguf file")->required();
       app.add_option("--out", o->out, "Output .gguf file")->required();
       app.add_option("--type", o->type,
                      "f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k_s, q3_k_m, q3_k_l, "
                      "q4_k_s, q4_k_m, q5_k_s, q5_k_m, q6_k, iq4_nl, iq4_xs")
           ->required();
       app.add_option("--override", o->overrides,
                      "PATTERN=TYPE: tensors whose GGUF name matches PATTERN (regex searched, or "
                      "glob over the whole name) get TYPE, e.g. 'ffn_.*_shexp=q8_0'; repeatable, "
                      "first match wins");
       app.add_option("--mla", o->mla,
                      "MLA up-projection layout: split (attn_k_b + attn_v_b, default) or kv_b "
                      "(one attn_kv_b, older llama.cpp files)");
       app.add_option("--name", o->name, "general.name (default: the model's name)");
       app.add_option("-t,--threads", o->threads, "Threads (default: physical cores)")
           ->check(CLI::NonNegativeNumber);
       app.add_flag("-q,--quiet", o->quiet, "No progress or summary on stderr");
       app.add_flag("-v,--verbose", o->verbose, "List the tensors that use a fallback type");
       return [o] { return run(*o); };
     },
     60}};

}  // namespace
}  // namespace ds::cli
