// Constrained decoding: the output is a sequence of segments (forced tokens, a choice among
// fixed strings, a JSON object). Tokens that cannot continue the current segment are masked
// out of the logits before sampling.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "server/json_constraint.h"

namespace ds {
class Tokenizer;
}

namespace ds::server {

/// The bytes of every token id, computed once per tokenizer, and which ids never appear
/// inside constrained text (control tokens such as <｜end▁of▁sentence｜> or the tool tags).
struct TokenTable {
  std::vector<std::string> bytes;  // [vocab]
  std::vector<uint8_t> control;    // [vocab] 1: never allowed by a choice or JSON segment
  static TokenTable build(const Tokenizer& tok, int64_t vocab);
};

struct Segment {
  enum class Kind { kForced, kChoice, kJson };
  Kind kind = Kind::kForced;
  std::vector<int32_t> forced;       // kForced: these ids, in order
  std::vector<std::string> choices;  // kChoice: the output is exactly one of these
};

class OutputConstraint {
 public:
  OutputConstraint() = default;
  OutputConstraint(const TokenTable* table, std::vector<Segment> segments);
  /// True while some segment is unfinished (false for an unconstrained output).
  bool active() const { return seg_ < segments_.size(); }
  /// The token the current segment forces, if it forces one.
  std::optional<int32_t> forced() const;
  /// Sets to −inf the logits [vocab] of tokens that cannot continue the output. `budget`:
  /// tokens that may still be generated, this one included; a JSON segment closes in time.
  /// Returns the number of tokens left allowed.
  int64_t mask(float* logits, int64_t vocab, int64_t budget) const;
  /// Advances past a generated token (which mask() allowed, or forced() gave).
  void accept(int32_t token);

 private:
  bool allowed(int32_t token, int64_t budget) const;
  void skip_finished();

  const TokenTable* table_ = nullptr;
  std::vector<Segment> segments_;
  size_t seg_ = 0;
  size_t pos_ = 0;     // kForced: tokens done
  std::string sofar_;  // kChoice: bytes so far
  JsonState json_;     // kJson
};

}  // namespace ds::server
