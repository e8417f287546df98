#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "tokenizer/json_scan.h"
#include "tokenizer/utf8.h"

namespace ds {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(cat("cannot open '", path, "'"));
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

nlohmann::json parse_json(std::string_view text, const std::string& origin) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(cat(origin, ": not valid JSON: ", e.what()));
  }
}

// A token named in tokenizer_config.json: a string, or an AddedToken object with "content".
std::optional<std::string> config_token(const nlohmann::json& config, const char* key) {
  if (!config.is_object()) return std::nullopt;
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content")) return it->at("content").get<std::string>();
  return std::nullopt;
}

}  // namespace

Tokenizer Tokenizer::from_json_file(const std::string& path) {
  return from_json_text(read_file(path), nullptr, path);
}

Tokenizer Tokenizer::from_model_dir(const std::string& dir_or_file) {
  namespace fs = std::filesystem;
  fs::path json_path = dir_or_file;
  if (fs::is_directory(json_path)) json_path /= "tokenizer.json";
  if (!fs::exists(json_path)) throw Error(cat("no tokenizer.json at '", dir_or_file, "'"));
  nlohmann::json config;
  const fs::path config_path = json_path.parent_path() / "tokenizer_config.json";
  if (fs::exists(config_path))
    config = parse_json(read_file(config_path.string()), config_path.string());
  return from_json_text(read_file(json_path.string()), config, json_path.string());
}

Tokenizer Tokenizer::from_json_text(std::string_view json_text, const nlohmann::json& config,
                                    const std::string& origin) {
  // Fast path: a scanner reads the vocabulary and merges, nlohmann::json the small rest.
  // Anything unusual falls back to parsing the whole file, which reports errors well.
  ScannedModel scanned;
  const bool fast = scan_bpe_model(json_text, scanned);
  const nlohmann::json j = parse_json(fast ? std::string_view(scanned.rest) : json_text, origin);
  Tokenizer t;
  try {
    if (!j.is_object() || !j.contains("model"))
      throw Error("no \"model\" object (is this a tokenizer.json?)");
    const auto& m = j.at("model");
    const std::string type = m.value("type", std::string("BPE"));
    if (type != "BPE") throw Error(cat("model type '", type, "' is not supported (only BPE)"));
    if (m.value("continuing_subword_prefix", nlohmann::json()).is_string() ||
        m.value("end_of_word_suffix", nlohmann::json()).is_string())
      throw Error("BPE continuing_subword_prefix / end_of_word_suffix are not supported");

    t.normalizer_ = Normalizer::from_json(j.value("normalizer", nlohmann::json()));
    t.pre_tokenizer_ = PreTokenizer::from_json(j.value("pre_tokenizer", nlohmann::json()));
    t.decoder_ = Decoder::from_json(j.value("decoder", nlohmann::json()));
    const auto& dec = j.value("decoder", nlohmann::json());
    const bool byte_level = t.pre_tokenizer_.byte_level() ||
                            (dec.is_object() && dec.value("type", std::string()) == "ByteLevel");

    std::vector<std::string> tokens;
    std::vector<std::pair<std::string, std::string>> merges;
    if (fast) {
      tokens = std::move(scanned.vocab);
      merges = std::move(scanned.merges);
    } else {
      const auto& vocab = m.at("vocab");
      if (!vocab.is_object()) throw Error("model.vocab must be an object");
      for (auto it = vocab.begin(); it != vocab.end(); ++it) {
        if (!it.value().is_number_integer())
          throw Error(cat("model.vocab: id of '", it.key(), "' is not an integer"));
        const int64_t id = it.value().get<int64_t>();
        if (id < 0 || id > (1 << 24))
          throw Error(cat("model.vocab: bad id ", id, " for '", it.key(), "'"));
        if (static_cast<size_t>(id) >= tokens.size()) tokens.resize(id + 1);
        if (!tokens[id].empty())
          throw Error(cat("model.vocab: id ", id, " is given to both '", tokens[id], "' and '",
                          it.key(), "'"));
        tokens[id] = it.key();
      }
      const auto& jm = m.at("merges");
      if (!jm.is_array()) throw Error("model.merges must be an array");
      merges.reserve(jm.size());
      for (const auto& e : jm) {
        if (e.is_string()) {
          const std::string& str = e.get_ref<const std::string&>();
          const size_t sp = str.find(' ', 1);
          if (sp == std::string::npos) throw Error(cat("model.merges: bad entry '", str, "'"));
          merges.emplace_back(str.substr(0, sp), str.substr(sp + 1));
        } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
          merges.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
        } else {
          throw Error(cat("model.merges: bad entry ", e.dump()));
        }
      }
    }
    BpeOptions opt;
    opt.byte_level = byte_level;
    opt.byte_fallback = m.value("byte_fallback", false);
    opt.ignore_merges = m.value("ignore_merges", false);
    opt.fuse_unk = m.value("fuse_unk", false);
    if (m.contains("unk_token") && m.at("unk_token").is_string()) {
      const std::string unk = m.at("unk_token").get<std::string>();
      for (size_t id = 0; id < tokens.size(); ++id)
        if (tokens[id] == unk) opt.unk_id = static_cast<int32_t>(id);
      if (!opt.unk_id) throw Error(cat("model.unk_token '", unk, "' is not in the vocab"));
    }

    // Added tokens: they may sit inside or beyond the model's vocabulary.
    for (const auto& a : j.value("added_tokens", nlohmann::json::array())) {
      AddedToken tok;
      tok.id = a.at("id").get<int32_t>();
      tok.content = a.at("content").get<std::string>();
      tok.special = a.value("special", false);
      tok.normalized = a.value("normalized", !tok.special);
      tok.lstrip = a.value("lstrip", false);
      tok.rstrip = a.value("rstrip", false);
      tok.single_word = a.value("single_word", false);
      if (tok.id < 0 || tok.id > (1 << 24)) throw Error(cat("added_tokens: bad id ", tok.id));
      if (tok.content.empty()) throw Error(cat("added_tokens: token ", tok.id, " is empty"));
      if (static_cast<size_t>(tok.id) >= tokens.size()) tokens.resize(tok.id + 1);
      t.added_.push_back(std::move(tok));
    }
    t.bpe_ = std::make_shared<BpeModel>(std::move(tokens), merges, opt);

    // Post-processor: the single-sequence template's special tokens around "A".
    const auto& pp = j.value("post_processor", nlohmann::json());
    std::function<void(const nlohmann::json&)> read_pp = [&](const nlohmann::json& p) {
      if (!p.is_object()) return;
      const std::string pt = p.value("type", std::string());
      if (pt == "Sequence") {
        for (const auto& sub : p.at("processors")) read_pp(sub);
      } else if (pt == "TemplateProcessing") {
        bool seen_a = false;
        for (const auto& piece : p.at("single")) {
          if (piece.contains("Sequence")) {
            seen_a = true;
          } else if (piece.contains("SpecialToken")) {
            const std::string name = piece.at("SpecialToken").at("id").get<std::string>();
            const auto& st = p.at("special_tokens").at(name);
            for (const auto& id : st.at("ids"))
              (seen_a ? t.suffix_ids_ : t.prefix_ids_).push_back(id.get<int32_t>());
          }
        }
      } else if (pt == "BertProcessing" || pt == "RobertaProcessing") {
        t.prefix_ids_.push_back(p.at("cls").at(1).get<int32_t>());
        t.suffix_ids_.push_back(p.at("sep").at(1).get<int32_t>());
      }
    };
    read_pp(pp);
  } catch (const Error& e) {
    throw Error(cat(origin, ": ", e.what()));
  } catch (const nlohmann::json::exception& e) {
    throw Error(cat(origin, ": unexpected structure: ", e.what()));
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(cat(origin, ": ", e.what()));
  }

  if (auto b = config_token(config, "bos_token")) t.bos_id_ = t.token_id(*b);
  if (auto e = config_token(config, "eos_token")) t.eos_id_ = t.token_id(*e);
  if (!t.bos_id_ && !t.prefix_ids_.empty()) t.bos_id_ = t.prefix_ids_.front();
  if (config.is_object() && config.contains("add_bos_token") &&
      config["add_bos_token"].is_boolean())
    t.add_bos_ = config["add_bos_token"].get<bool>();
  else
    t.add_bos_ = !t.prefix_ids_.empty();
  t.finish();
  return t;
}

Tokenizer Tokenizer::from_parts(const TokenizerParts& parts) {
  Tokenizer t;
  t.pre_tokenizer_ = PreTokenizer::from_name(parts.pre.empty() ? "gpt-2" : parts.pre);
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(parts.merges.size());
  for (const auto& s : parts.merges) {
    const size_t sp = s.find(' ', 1);
    if (sp == std::string::npos) throw Error(cat("tokenizer merges: bad entry '", s, "'"));
    merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
  }
  std::vector<std::string> vocab = parts.tokens;
  // Control (3) and user-defined (4) tokens are matched in text like added tokens.
  for (size_t id = 0; id < parts.token_types.size() && id < parts.tokens.size(); ++id) {
    const int32_t type = parts.token_types[id];
    if (type != 3 && type != 4) continue;
    AddedToken a;
    a.id = static_cast<int32_t>(id);
    a.content = parts.tokens[id];
    a.special = type == 3;
    a.normalized = false;
    if (!a.content.empty()) t.added_.push_back(std::move(a));
  }
  BpeOptions opt;
  opt.byte_level = true;
  t.bpe_ = std::make_shared<BpeModel>(std::move(vocab), merges, opt);
  t.bos_id_ = parts.bos_id;
  t.eos_id_ = parts.eos_id;
  t.add_bos_ = parts.add_bos;
  t.finish();
  return t;
}

void Tokenizer::finish() {
  vocab_size_ = bpe_->size();
  added_index_.assign(vocab_size_, -1);
  std::vector<AddedToken> raw, normalized;
  for (size_t i = 0; i < added_.size(); ++i) {
    added_index_[added_[i].id] = static_cast<int32_t>(i);
    (added_[i].normalized && !normalizer_.empty() ? normalized : raw).push_back(added_[i]);
  }
  raw_matcher_ = AddedTokenMatcher(raw);
  normalized_matcher_ = AddedTokenMatcher(normalized);
}

std::string_view Tokenizer::token_text(int32_t id) const {
  if (id < 0 || id >= vocab_size_) throw Error(cat("token id ", id, " out of range"));
  if (added_index_[id] >= 0) return added_[added_index_[id]].content;
  return bpe_->token(id);
}

std::optional<int32_t> Tokenizer::token_id(std::string_view token) const {
  for (const auto& a : added_)
    if (a.content == token) return a.id;
  return bpe_->find(token);
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < vocab_size_ && added_index_[id] >= 0 && added_[added_index_[id]].special;
}

void Tokenizer::encode_normalized(std::string_view text, std::vector<int32_t>& out) const {
  std::string buf(text);
  thread_local std::vector<Span> pieces;
  pre_tokenizer_.split(buf, pieces);
  for (const Span& p : pieces)
    bpe_->encode_word(std::string_view(buf.data() + p.begin, p.end - p.begin), out);
}

void Tokenizer::encode_text(std::string_view text, std::vector<int32_t>& out) const {
  if (normalizer_.empty()) {
    encode_normalized(text, out);
    return;
  }
  const std::string norm = normalizer_.apply(text);
  std::string_view s = norm;
  size_t pos = 0;
  while (pos < s.size()) {
    auto m = normalized_matcher_.find(s, pos, pos);
    const size_t stop = m ? m->begin : s.size();
    if (stop > pos) encode_normalized(s.substr(pos, stop - pos), out);
    if (!m) break;
    out.push_back(m->id);
    pos = m->end;
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  size_t pos = 0;
  while (pos < text.size()) {
    auto m = raw_matcher_.find(text, pos, pos);
    const size_t stop = m ? m->begin : text.size();
    if (stop > pos) encode_text(text.substr(pos, stop - pos), out);
    if (!m) break;
    out.push_back(m->id);
    pos = m->end;
  }
  if (add_bos) {
    std::vector<int32_t> prefix = prefix_ids_;
    if (prefix.empty() && bos_id_) prefix.push_back(*bos_id_);
    const bool has_prefix =
        out.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), out.begin());
    if (!has_prefix) out.insert(out.begin(), prefix.begin(), prefix.end());
    out.insert(out.end(), suffix_ids_.begin(), suffix_ids_.end());
  }
  return out;
}

std::string Tokenizer::token_bytes(int32_t id, bool first) const {
  if (id < 0 || id >= vocab_size_) throw Error(cat("token id ", id, " out of range"));
  if (added_index_[id] >= 0) {
    // HF runs added tokens through the decoder too; for byte-level that is the byte map.
    const std::string& c = added_[added_index_[id]].content;
    if (bpe_->options().byte_level) {
      auto b = byte_level_decode(c);
      return b ? *b : c;
    }
    return c;
  }
  if (decoder_.empty()) return bpe_->token_bytes(id);
  return decoder_.apply(bpe_->token_bytes(id), first);
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string out;
  bool first = true;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size_) continue;  // padding ids past the vocabulary: no text
    if (skip_special && is_special(id)) continue;
    out += token_bytes(id, first);
    first = false;
  }
  return utf8::sanitize(out);
}

std::string StreamDecoder::feed(int32_t id) {
  // Ids past the vocabulary (models pad their embedding beyond it) have no text.
  if (id < 0 || id >= tok_.vocab_size()) return {};
  if (skip_special_ && tok_.is_special(id)) return {};
  pending_ += tok_.token_bytes(id, first_);
  first_ = false;
  const size_t n = utf8::complete_prefix_length(pending_);
  std::string out = utf8::sanitize(std::string_view(pending_).substr(0, n));
  pending_.erase(0, n);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = utf8::sanitize(pending_);
  pending_.clear();
  first_ = true;
  return out;
}

}  // namespace ds
