// Decoders: from token strings back to text, as tokenizer.json's "decoder" declares.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace ds {

/// The per-token decoding chain. ByteLevel is handled by the model (raw bytes per token);
/// the other steps (Replace, ByteFallback, Fuse, Strip, Metaspace) rewrite each token, the
/// steps that act on the start of the text only on the first token.
class Decoder {
 public:
  /// The identity (byte-level or plain concatenation).
  Decoder() = default;
  /// Builds the chain a tokenizer.json "decoder" declares (null: identity).
  static Decoder from_json(const nlohmann::json& j);
  /// Decodes one token string; `first` when it starts the text.
  std::string apply(std::string_view token, bool first) const;
  /// True when the chain does nothing.
  bool empty() const { return steps_.empty(); }

 private:
  enum class Kind { kReplace, kByteFallback, kStrip, kMetaspace };
  struct Step {
    Kind kind = Kind::kReplace;
    std::string from, to;      // Replace / Metaspace
    int start = 0, stop = 0;   // Strip
    bool strip_first = false;  // Metaspace: drop the leading space of the text
  };
  void add_json(const nlohmann::json& j);
  Step& add_step(Kind kind, std::string from, std::string to);
  std::vector<Step> steps_;
};

/// The byte a byte-fallback token such as "<0x0A>" stands for, or -1.
int parse_byte_token(std::string_view token);

}  // namespace ds
