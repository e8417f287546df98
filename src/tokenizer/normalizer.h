// Normalization of input text before pre-tokenization, as a tokenizer.json "normalizer"
// declares it (Sequence, NFC, Replace, Prepend, Strip, Lowercase).
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/regex.h"

namespace ds {

/// A chain of normalization steps.
class Normalizer {
 public:
  /// The identity.
  Normalizer() = default;

  /// Builds the chain a tokenizer.json "normalizer" declares (null: identity); throws
  /// ds::Error for an unsupported type.
  static Normalizer from_json(const nlohmann::json& j);

  /// Applies every step to `text`.
  std::string apply(std::string_view text) const;

  /// True when apply() is the identity.
  bool empty() const { return steps_.empty(); }

 private:
  enum class Kind { kNfc, kLowercase, kReplace, kPrepend, kStrip };
  struct Step {
    Kind kind = Kind::kNfc;
    std::shared_ptr<const Regex> regex;  // Replace
    std::string content;                 // Replace, Prepend
    bool left = false, right = false;    // Strip
  };
  void add_json(const nlohmann::json& j);
  void add_step(Kind kind, std::shared_ptr<const Regex> regex, std::string content);
  std::vector<Step> steps_;
};

/// Unicode Normalization Form C (canonical decomposition, then canonical composition).
/// Malformed UTF-8 bytes are passed through unchanged.
std::string nfc(std::string_view text);

}  // namespace ds
