#include "tokenizer/added_tokens.h"

#include "tokenizer/regex.h"
#include "tokenizer/utf8.h"

namespace ds {

bool is_unicode_whitespace(uint32_t cp) {
  return (cp >= 0x9 && cp <= 0xD) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

namespace {

// Rust's char::is_alphanumeric (Alphabetic or Numeric), which single_word uses; \p{L}, \p{N}
// and marks approximate Alphabetic.
bool is_word_char_at(std::string_view s, size_t i) {
  static const Regex word("^[\\p{L}\\p{N}\\p{Mn}\\p{Mc}_]");
  bool found = false;
  size_t len = utf8::sequence_length(s, i);
  if (len == 0) return false;
  word.for_each_match(s.substr(i, len), [&](size_t, size_t) { found = true; });
  return found;
}

// Start of the character that ends at byte `end` (exclusive).
size_t char_start_before(std::string_view s, size_t end) {
  size_t b = end - 1;
  while (b > 0 && end - b < 4 && (static_cast<uint8_t>(s[b]) & 0xC0) == 0x80) --b;
  return b;
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedToken>& tokens) : tokens_(tokens) {
  nodes_.push_back({});
  for (size_t t = 0; t < tokens_.size(); ++t) {
    const std::string& s = tokens_[t].content;
    if (s.empty()) continue;
    first_byte_[static_cast<uint8_t>(s[0])] = true;
    int32_t node = 0;
    for (unsigned char c : s) {
      const uint64_t k = (static_cast<uint64_t>(node) << 8) | c;
      auto it = edges_.find(k);
      if (it == edges_.end()) {
        nodes_.push_back({});
        it = edges_.emplace(k, static_cast<int32_t>(nodes_.size() - 1)).first;
      }
      node = it->second;
    }
    if (nodes_[node].token < 0) nodes_[node].token = static_cast<int32_t>(t);
  }
}

std::optional<AddedTokenMatcher::Match> AddedTokenMatcher::find(std::string_view text, size_t from,
                                                                size_t floor) const {
  if (tokens_.empty()) return std::nullopt;
  for (size_t i = from; i < text.size(); ++i) {
    if (!first_byte_[static_cast<uint8_t>(text[i])]) continue;
    int32_t node = 0, best = -1;
    size_t best_end = 0;
    for (size_t j = i; j < text.size(); ++j) {
      auto it = edges_.find((static_cast<uint64_t>(node) << 8) | static_cast<uint8_t>(text[j]));
      if (it == edges_.end()) break;
      node = it->second;
      if (nodes_[node].token >= 0) {
        best = nodes_[node].token;
        best_end = j + 1;
      }
    }
    if (best < 0) continue;
    const AddedToken& tok = tokens_[best];
    if (tok.single_word) {
      const bool left_ok = i == 0 || !is_word_char_at(text, char_start_before(text, i));
      const bool right_ok = best_end >= text.size() || !is_word_char_at(text, best_end);
      if (!left_ok || !right_ok) continue;
    }
    Match m{i, best_end, tok.id};
    if (tok.lstrip) {
      while (m.begin > floor) {
        const size_t b = char_start_before(text, m.begin);
        size_t len;
        if (!is_unicode_whitespace(utf8::decode(text, b, len)) || b + len != m.begin) break;
        m.begin = b;
      }
    }
    if (tok.rstrip) {
      while (m.end < text.size()) {
        size_t len;
        if (!is_unicode_whitespace(utf8::decode(text, m.end, len))) break;
        m.end += len;
      }
    }
    return m;
  }
  return std::nullopt;
}

}  // namespace ds
