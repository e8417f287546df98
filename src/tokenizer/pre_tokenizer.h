// Pre-tokenization: splitting normalized text into the pieces that BPE sees, as declared by
// a tokenizer.json "pre_tokenizer" (Sequence, Split, ByteLevel, Digits, Metaspace, ...).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/regex.h"

namespace ds {

/// A piece of a pre-tokenized string: bytes [begin, end) of its buffer.
struct Span {
  uint32_t begin;
  uint32_t end;
};

/// What a split does with the matches of its pattern (HF SplitDelimiterBehavior).
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

/// A chain of pre-tokenization steps applied one after another to every piece.
class PreTokenizer {
 public:
  /// The identity: one piece, the whole string.
  PreTokenizer() = default;

  /// Builds the chain a tokenizer.json "pre_tokenizer" object declares (null: identity).
  /// Throws ds::Error for an unknown type or a bad field.
  static PreTokenizer from_json(const nlohmann::json& j);

  /// The chain named by a GGUF `tokenizer.ggml.pre` value ("deepseek-v3", "deepseek-llm",
  /// "deepseek-coder", "qwen2", "llama-bpe", "gpt-2"), each split regex followed by ByteLevel.
  static PreTokenizer from_name(std::string_view name);

  /// Adds a regex split step.
  void add_split(std::string_view pattern, SplitBehavior behavior, bool invert);

  /// Adds a ByteLevel step: optional prefix space and optional GPT-2 regex split.
  void add_byte_level(bool add_prefix_space, bool use_regex);

  /// Splits `buf` into pieces, written to `pieces` as spans of `buf`. Steps that change the
  /// text (prefix space, Metaspace) rewrite `buf`.
  void split(std::string& buf, std::vector<Span>& pieces) const;

  /// True when a ByteLevel step is present: BPE then works on raw bytes.
  bool byte_level() const { return byte_level_; }

  /// True when there are no steps.
  bool empty() const { return steps_.empty(); }

 private:
  enum class Kind { kSplit, kPrefixSpace, kMetaspace };
  struct Step {
    Kind kind = Kind::kSplit;
    std::shared_ptr<const Regex> regex;
    SplitBehavior behavior = SplitBehavior::kIsolated;
    bool invert = false;
    std::string replacement;      // Metaspace
    std::string prepend_scheme;   // Metaspace: always / first / never
    bool metaspace_split = true;  // Metaspace
  };
  void add_json(const nlohmann::json& j);
  static void apply_split(const Step& s, const std::string& buf, const std::vector<Span>& in,
                          std::vector<Span>& out);

  std::vector<Step> steps_;
  bool byte_level_ = false;
};

/// GPT-2's pre-tokenizer regex, which ByteLevel(use_regex = true) uses.
extern const char* const kGpt2Pattern;

}  // namespace ds
