// A compiled split regex: PCRE2 (JIT) with the semantics of Oniguruma, the engine that HF
// tokenizers uses for tokenizer.json patterns.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace ds {

/// A regular expression written for Oniguruma (as in tokenizer.json), compiled with PCRE2.
/// Translation keeps Oniguruma's meaning where the two differ: `\s` is exactly the Unicode
/// White_Space property (U+0085 in, U+FEFF and U+180E out), `\h` is a hex digit, and `$`/`^`
/// match at line ends. Invalid UTF-8 in a subject never matches anything and never fails.
class Regex {
 public:
  /// Compiles `pattern`; throws ds::Error naming the pattern and the offset of a syntax error.
  explicit Regex(std::string_view pattern);
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  /// Calls on_match(begin, end) for each non-empty, non-overlapping match in `subject`,
  /// left to right. Offsets are bytes into `subject`.
  void for_each_match(std::string_view subject,
                      const std::function<void(size_t, size_t)>& on_match) const;

  /// The Oniguruma source as given.
  const std::string& pattern() const { return pattern_; }

  /// The PCRE2 source that `pattern` was translated to.
  static std::string translate(std::string_view oniguruma_pattern);

  /// Escapes `literal` so that it matches itself.
  static std::string escape(std::string_view literal);

 private:
  struct Impl;
  std::string pattern_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ds
