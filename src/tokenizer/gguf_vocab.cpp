#include "tokenizer/gguf_vocab.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "io/gguf.h"

namespace ds {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// llama.cpp's token types (llama_token_type / gguf.TokenType).
constexpr int32_t kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5;

// Text whose ids tell the pre-tokenizers apart: digit runs, CJK and kana, punctuation runs
// glued to letters, contractions, whitespace and newlines (in the spirit of llama.cpp's
// convert_hf_to_gguf_update.py check text).
constexpr const char* kCheckText =
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶‍🌫️ (multiple "
    "emojis "
    "concatenated) "
    "✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 "
    "កាន់តែពិសេសអាច😁 "
    "?我想在apple工作1314151天～ ------======= нещо на Български "
    "''''''```````\"\"\"\"......!!!!!!?????? "
    "I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? "
    "We'Ve "
    "a'lL ひらがなカタカナ漢字 Hello,world! x=1+2;y=[a,b]{c} #include<stdio.h> ¡Hola! Ünïcödé "
    "e\u0301 résumé naïve";

json read_json(const fs::path& p) {
  std::ifstream in(p);
  if (!in) throw Error(cat(p.string(), ": cannot open"));
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw Error(cat(p.string(), ": malformed JSON: ", e.what()));
  }
}

std::string token_content(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  return "";
}

}  // namespace

std::string detect_pre_tokenizer(const Tokenizer& reference, TokenizerParts parts) {
  const std::vector<int32_t> want = reference.encode(kCheckText, false);
  for (const char* name : {"deepseek-v3", "deepseek-llm", "deepseek-coder", "llama-bpe", "qwen2"}) {
    parts.pre = name;
    if (Tokenizer::from_parts(parts).encode(kCheckText, false) == want) return name;
  }
  return "";
}

std::vector<GgufKv> gguf_tokenizer_metadata(const std::string& dir, int64_t vocab_size) {
  const fs::path tj = fs::path(dir) / "tokenizer.json";
  const json j = read_json(tj);
  const std::string origin = tj.string();
  if (!j.contains("model") || !j["model"].is_object())
    throw Error(cat(origin, ": no \"model\" object"));
  const json& m = j["model"];
  if (m.value("type", std::string("BPE")) != "BPE")
    throw Error(cat(origin, ": model type '", m.value("type", std::string()),
                    "' cannot be written as a GGUF gpt2 vocabulary (only BPE)"));
  if (!m.contains("vocab") || !m["vocab"].is_object())
    throw Error(cat(origin, ": model.vocab must be an object"));

  std::map<int64_t, std::pair<std::string, int32_t>> by_id;  // id -> (text, type)
  for (auto it = m["vocab"].begin(); it != m["vocab"].end(); ++it) {
    if (!it.value().is_number_integer())
      throw Error(cat(origin, ": model.vocab: bad id for '", it.key(), "'"));
    by_id[it.value().get<int64_t>()] = {it.key(), kNormal};
  }
  if (j.contains("added_tokens") && j["added_tokens"].is_array())
    for (const auto& a : j["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer()) continue;
      const bool special = a.value("special", false);
      by_id[a["id"].get<int64_t>()] = {a.value("content", std::string()),
                                       special ? kControl : kUserDefined};
    }
  const int64_t n = std::max<int64_t>(vocab_size, by_id.empty() ? 0 : by_id.rbegin()->first + 1);
  if (n > vocab_size)
    throw Error(
        cat(origin, ": token id ", n - 1, " does not fit the model's vocab_size ", vocab_size));
  std::vector<std::string> tokens(static_cast<size_t>(n));
  std::vector<int32_t> types(size_t(n), kUnused);
  for (int64_t id = 0; id < n; ++id) {
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      tokens[size_t(id)] = cat("[PAD", id, "]");  // as convert_hf_to_gguf.py pads
    } else {
      tokens[size_t(id)] = it->second.first;
      types[size_t(id)] = it->second.second;
    }
  }
  std::vector<std::string> merges;
  if (m.contains("merges") && m["merges"].is_array())
    for (const auto& e : m["merges"]) {
      if (e.is_string())
        merges.push_back(e.get<std::string>());
      else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string())
        merges.push_back(e[0].get<std::string>() + " " + e[1].get<std::string>());
      else
        throw Error(cat(origin, ": model.merges: bad entry ", e.dump()));
    }

  json cfg;
  const fs::path cp = fs::path(dir) / "tokenizer_config.json";
  if (fs::exists(cp)) cfg = read_json(cp);
  auto id_of = [&](const char* k) -> std::optional<int32_t> {
    if (!cfg.is_object() || !cfg.contains(k)) return std::nullopt;
    const std::string s = token_content(cfg[k]);
    for (int64_t id = 0; id < n; ++id)
      if (!s.empty() && tokens[size_t(id)] == s) return int32_t(id);
    return std::nullopt;
  };

  TokenizerParts parts;
  parts.tokens = tokens;
  parts.merges = merges;
  parts.token_types = types;
  const Tokenizer reference = Tokenizer::from_model_dir(dir);
  const std::string pre = detect_pre_tokenizer(reference, parts);
  if (pre.empty())
    throw Error(cat(origin,
                    ": its pre-tokenizer matches none llama.cpp knows by name "
                    "(deepseek-v3, deepseek-llm, deepseek-coder, llama-bpe, qwen2)"));

  const auto bos = id_of("bos_token"), eos = id_of("eos_token"), pad = id_of("pad_token");
  std::vector<GgufKv> kv;
  auto add = [&](std::string k, GgufValue v) { kv.push_back({std::move(k), std::move(v)}); };
  add("tokenizer.ggml.model", GgufValue::string("gpt2"));
  add("tokenizer.ggml.pre", GgufValue::string(pre));
  add("tokenizer.ggml.tokens", GgufValue::string_array(std::move(tokens)));
  add("tokenizer.ggml.token_type", GgufValue::array<int32_t>(types));
  add("tokenizer.ggml.merges", GgufValue::string_array(std::move(merges)));
  if (bos) add("tokenizer.ggml.bos_token_id", GgufValue::scalar<uint32_t>(uint32_t(*bos)));
  if (eos) add("tokenizer.ggml.eos_token_id", GgufValue::scalar<uint32_t>(uint32_t(*eos)));
  if (pad) add("tokenizer.ggml.padding_token_id", GgufValue::scalar<uint32_t>(uint32_t(*pad)));
  if (cfg.is_object() && cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean())
    add("tokenizer.ggml.add_bos_token", GgufValue::scalar<bool>(cfg["add_bos_token"].get<bool>()));
  if (cfg.is_object() && cfg.contains("add_eos_token") && cfg["add_eos_token"].is_boolean())
    add("tokenizer.ggml.add_eos_token", GgufValue::scalar<bool>(cfg["add_eos_token"].get<bool>()));
  if (cfg.is_object() && cfg.contains("chat_template")) {
    const json& t = cfg["chat_template"];
    std::string src;
    if (t.is_string()) src = t.get<std::string>();
    if (t.is_array())
      for (const auto& e : t)
        if (e.is_object() && e.value("name", "") == "default" && e.contains("template") &&
            e["template"].is_string())
          src = e["template"].get<std::string>();
    if (!src.empty()) add("tokenizer.chat_template", GgufValue::string(src));
  }
  return kv;
}

std::vector<GgufKv> gguf_tokenizer_metadata(const GgufFile& f) {
  std::vector<GgufKv> kv;
  for (const auto& e : f.metadata())
    if (e.key.rfind("tokenizer.", 0) == 0) kv.push_back(e);
  return kv;
}

TokenizerParts tokenizer_parts_from_gguf(const GgufFile& f) {
  const std::string model = f.get_string("tokenizer.ggml.model", "");
  if (model.empty())
    throw Error(cat(f.path(), ": the file has no tokenizer (tokenizer.ggml.model)"));
  if (model != "gpt2")
    throw Error(cat(f.path(), ": tokenizer.ggml.model '", model,
                    "' is not supported (dsinfer reads byte-level BPE, 'gpt2')"));
  TokenizerParts p;
  p.tokens = f.get_string_array("tokenizer.ggml.tokens");
  if (f.has("tokenizer.ggml.merges")) p.merges = f.get_string_array("tokenizer.ggml.merges");
  if (f.has("tokenizer.ggml.token_type"))
    p.token_types = f.get_array<int32_t>("tokenizer.ggml.token_type");
  if (!p.token_types.empty() && p.token_types.size() != p.tokens.size())
    throw Error(cat(f.path(), ": tokenizer.ggml.token_type has ", p.token_types.size(),
                    " entries for ", p.tokens.size(), " tokens"));
  p.pre = f.get_string("tokenizer.ggml.pre", "default");
  auto id = [&](const char* k) -> std::optional<int32_t> {
    if (!f.has(k)) return std::nullopt;
    const uint32_t v = f.get_u32(k);
    if (v >= p.tokens.size())
      throw Error(
          cat(f.path(), ": ", k, " = ", v, " is outside the vocabulary of ", p.tokens.size()));
    return int32_t(v);
  };
  p.bos_id = id("tokenizer.ggml.bos_token_id");
  p.eos_id = id("tokenizer.ggml.eos_token_id");
  p.add_bos = f.get_bool("tokenizer.ggml.add_bos_token", false);
  return p;
}

}  // namespace ds
