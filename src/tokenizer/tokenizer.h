// The text <-> token id interface of the engine: HF tokenizer.json (BPE) and
// tokenizer_config.json, or parts taken from GGUF metadata.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/decoder.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"

namespace ds {

/// Parts of a tokenizer as GGUF metadata gives them (`tokenizer.ggml.*`).
struct TokenizerParts {
  std::vector<std::string> tokens;   // tokenizer.ggml.tokens, by id (byte-level spelling)
  std::vector<std::string> merges;   // tokenizer.ggml.merges, "a b", in rank order
  std::vector<int32_t> token_types;  // tokenizer.ggml.token_type: 1 normal, 3 control, 4 user
  std::string pre;                   // tokenizer.ggml.pre, e.g. "deepseek-v3"
  std::optional<int32_t> bos_id, eos_id;
  bool add_bos = false;
};

/// A loaded tokenizer. Immutable after loading and safe to share between threads.
class Tokenizer {
 public:
  /// Loads an HF tokenizer.json; throws ds::Error naming the file and the bad field.
  static Tokenizer from_json_file(const std::string& tokenizer_json_path);
  /// Loads a model directory (tokenizer.json, plus tokenizer_config.json when present for
  /// BOS/EOS and add_bos_token) or a tokenizer.json path (its sibling config is read too).
  static Tokenizer from_model_dir(const std::string& dir_or_file);
  /// Builds from tokenizer.json text; `config` is tokenizer_config.json's object or null.
  static Tokenizer from_json_text(std::string_view json_text, const nlohmann::json& config,
                                  const std::string& origin = "tokenizer.json");
  /// Builds from GGUF-style parts; the pre-tokenizer comes from its name.
  static Tokenizer from_parts(const TokenizerParts& parts);

  /// Token ids of `text`, with added and special tokens recognised anywhere. With `add_bos`
  /// the post-processor's prefix (or BOS) is added unless the ids already start with it.
  std::vector<int32_t> encode(std::string_view text, bool add_bos = false) const;
  /// Text of `ids`; malformed UTF-8 in the result is replaced by U+FFFD.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;
  /// The bytes one token stands for, as it would be decoded in position `first` or later.
  std::string token_bytes(int32_t id, bool first = false) const;

  /// The vocabulary string of `id` as the file spells it (added tokens: their content).
  std::string_view token_text(int32_t id) const;
  /// The id of a vocabulary string or added token.
  std::optional<int32_t> token_id(std::string_view token) const;
  /// One past the largest id.
  int32_t vocab_size() const { return vocab_size_; }
  /// True for added tokens marked special (control tokens).
  bool is_special(int32_t id) const;
  std::optional<int32_t> bos_id() const { return bos_id_; }
  std::optional<int32_t> eos_id() const { return eos_id_; }
  /// Whether a raw-text prompt should get BOS (tokenizer_config.json's add_bos_token, or a
  /// post-processor template that adds it).
  bool add_bos() const { return add_bos_; }
  /// The bos_token string, or "" if none (for chat templates).
  std::string bos_token() const { return bos_id_ ? std::string(token_text(*bos_id_)) : ""; }
  /// The eos_token string, or "" if none (for chat templates).
  std::string eos_token() const { return eos_id_ ? std::string(token_text(*eos_id_)) : ""; }

 private:
  Tokenizer() = default;
  void finish();
  void encode_text(std::string_view text, std::vector<int32_t>& out) const;
  void encode_normalized(std::string_view text, std::vector<int32_t>& out) const;

  Normalizer normalizer_;
  PreTokenizer pre_tokenizer_;
  std::shared_ptr<BpeModel> bpe_;
  Decoder decoder_;
  std::vector<AddedToken> added_;
  AddedTokenMatcher raw_matcher_;                 // added tokens with normalized = false
  AddedTokenMatcher normalized_matcher_;          // added tokens with normalized = true
  std::vector<int32_t> added_index_;              // id -> index into added_, or -1
  std::vector<int32_t> prefix_ids_, suffix_ids_;  // post-processor template, single sequence
  std::optional<int32_t> bos_id_, eos_id_;
  bool add_bos_ = false;
  int32_t vocab_size_ = 0;
};

/// Turns a stream of ids into text as it grows, holding back the bytes of a UTF-8
/// character until the token that completes it arrives.
class StreamDecoder {
 public:
  /// Decodes for `tok`, which must outlive this object.
  explicit StreamDecoder(const Tokenizer& tok, bool skip_special = false)
      : tok_(tok), skip_special_(skip_special) {}
  /// Adds one id; returns the text that is now complete (possibly empty).
  std::string feed(int32_t id);
  /// Returns what is held back (an incomplete character becomes U+FFFD) and resets.
  std::string flush();

 private:
  const Tokenizer& tok_;
  bool skip_special_;
  bool first_ = true;
  std::string pending_;
};

}  // namespace ds
