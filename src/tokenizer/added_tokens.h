// Added tokens (special and not): found anywhere in the text before pre-tokenization.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ds {

/// One entry of tokenizer.json's "added_tokens".
struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool normalized = false;   // matched on normalized text (else on the raw input)
  bool lstrip = false;       // swallows whitespace on its left
  bool rstrip = false;       // swallows whitespace on its right
  bool single_word = false;  // only matches when not inside a word
};

/// Finds added tokens in text: leftmost match first, longest among those starting there.
class AddedTokenMatcher {
 public:
  /// A match: the token, and the bytes it covers including stripped whitespace.
  struct Match {
    size_t begin, end;
    int32_t id;
  };

  AddedTokenMatcher() = default;
  /// Indexes `tokens` (which must outlive nothing: contents are copied).
  explicit AddedTokenMatcher(const std::vector<AddedToken>& tokens);

  /// The first match in `text` at or after byte `from`, not extending left of `floor`.
  std::optional<Match> find(std::string_view text, size_t from, size_t floor) const;

  /// True when no token is indexed.
  bool empty() const { return tokens_.empty(); }

 private:
  struct Node {
    int32_t token = -1;  // index into tokens_ of the token ending here
  };
  std::vector<AddedToken> tokens_;
  std::vector<Node> nodes_;                      // node 0 is the root
  std::unordered_map<uint64_t, int32_t> edges_;  // (node << 8 | byte) -> node
  bool first_byte_[256] = {};
};

/// True for a character of the Unicode White_Space property.
bool is_unicode_whitespace(uint32_t cp);

}  // namespace ds
