#include "model_loading.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/clock.h"
#include "core/error.h"
#include "io/embedded_model.h"
#include "io/gguf.h"
#include "model/gguf_loader.h"
#include "tokenizer/gguf_vocab.h"

namespace ds::cli {

namespace {

std::string special_token_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  return "";
}

// tokenizer_config.json's chat_template: a string, or a list of {name, template}.
std::unique_ptr<ChatTemplate> template_from_config(const nlohmann::json& cfg,
                                                   const std::string& origin) {
  if (!cfg.is_object() || !cfg.contains("chat_template")) return nullptr;
  const nlohmann::json& t = cfg["chat_template"];
  std::string src;
  if (t.is_string()) {
    src = t.get<std::string>();
  } else if (t.is_array()) {
    for (const auto& e : t)
      if (e.is_object() && e.value("name", "") == "default" && e.contains("template") &&
          e["template"].is_string())
        src = e["template"].get<std::string>();
  }
  if (src.empty())
    throw Error(
        cat(origin, ": chat_template is neither a string nor a list with a 'default' entry"));
  auto ct = std::make_unique<ChatTemplate>(src);
  for (const char* k : {"bos_token", "eos_token", "pad_token", "unk_token"})
    if (cfg.contains(k)) ct->set_special_token(k, special_token_text(cfg[k]));
  return ct;
}

}  // namespace

LoadedModel load_model(const std::string& path, bool verbose) {
  LoadedModel r;
  const double t0 = now_seconds();
  const bool tty = isatty(2);
  if (path.empty()) {
    const EmbeddedModel* e = embedded_model();
    if (!e) throw Error("no model given: pass -m MODEL (this build embeds no default model)");
    r.model = Model::load_embedded();
    nlohmann::json cfg;
    try {
      cfg = nlohmann::json::parse(e->tokenizer_config.str());
    } catch (const nlohmann::json::exception& ex) {
      throw Error(cat("builtin:", e->name, "/tokenizer_config.json: malformed JSON: ", ex.what()));
    }
    r.tokenizer = std::make_unique<Tokenizer>(Tokenizer::from_json_text(
        e->tokenizer.str(), cfg, "builtin:" + e->name + "/tokenizer.json"));
    r.chat_template = template_from_config(cfg, "builtin:" + e->name + "/tokenizer_config.json");
  } else {
    if (verbose && tty) std::fprintf(stderr, "loading %s ...\n", path.c_str());
    r.model = Model::load(path);
    if (is_gguf_path(path)) {
      // The tokenizer and chat template travel in the file's metadata.
      const GgufFile f = GgufFile::open(path);
      r.tokenizer =
          std::make_unique<Tokenizer>(Tokenizer::from_parts(tokenizer_parts_from_gguf(f)));
      if (f.has("tokenizer.chat_template")) {
        r.chat_template = std::make_unique<ChatTemplate>(f.get_string("tokenizer.chat_template"));
        r.chat_template->set_special_token("bos_token", r.tokenizer->bos_token());
        r.chat_template->set_special_token("eos_token", r.tokenizer->eos_token());
      }
    }
  }
  if (!path.empty() && !is_gguf_path(path)) {
    const std::filesystem::path dir(path);
    if (!std::filesystem::exists(dir / "tokenizer.json"))
      throw Error(cat(path, ": no tokenizer.json in the model directory"));
    r.tokenizer = std::make_unique<Tokenizer>(Tokenizer::from_model_dir(path));
    const auto cfg_path = dir / "tokenizer_config.json";
    if (std::filesystem::exists(cfg_path)) {
      std::ifstream in(cfg_path);
      nlohmann::json cfg;
      try {
        cfg = nlohmann::json::parse(in);
      } catch (const nlohmann::json::exception& ex) {
        throw Error(cat(cfg_path.string(), ": malformed JSON: ", ex.what()));
      }
      r.chat_template = template_from_config(cfg, cfg_path.string());
    }
  }
  r.load_s = now_seconds() - t0;
  if (verbose && tty) {
    size_t bytes = 0;
    for (const auto& [dt, b] : r.model->bytes_by_dtype()) bytes += b;
    std::fprintf(stderr, "loaded %s: %.1f MB of weights mapped, %zu layers checked, in %.3f s\n",
                 r.model->name.c_str(), double(bytes) / 1e6, r.model->layers.size(), r.load_s);
  }
  return r;
}

std::vector<int32_t> chat_prompt(const LoadedModel& m, const nlohmann::json& messages,
                                 std::string* text) {
  std::string rendered;
  if (m.chat_template) {
    rendered = m.chat_template->render(messages, true);
  } else {
    ChatTemplate builtin = ChatTemplate::builtin(m.model->config.model_type);
    builtin.set_special_token("bos_token", m.tokenizer->bos_token());
    builtin.set_special_token("eos_token", m.tokenizer->eos_token());
    rendered = builtin.render(messages, true);
  }
  if (text) *text = rendered;
  // The rendered text already holds BOS where the template puts it: no second one.
  return m.tokenizer->encode(rendered, false);
}

}  // namespace ds::cli
