// UTF-8 helpers shared by the tokenizer: decoding with an explicit policy for bad bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ds::utf8 {

/// Length of the well-formed UTF-8 sequence starting at s[i], or 0 when the bytes there
/// are not one (stray continuation byte, overlong form, surrogate, truncated sequence).
size_t sequence_length(std::string_view s, size_t i);

/// Decodes the code point at s[i] and sets `len` to its length; a malformed byte decodes
/// to U+FFFD with len 1, so that a loop over any byte string always advances.
uint32_t decode(std::string_view s, size_t i, size_t& len);

/// Appends the UTF-8 encoding of `cp` (which must be a Unicode scalar value) to `out`.
void append(std::string& out, uint32_t cp);

/// Length of the longest prefix of `s` that does not end inside an incomplete (but so far
/// valid) multi-byte sequence: the part of a stream that is safe to emit now.
size_t complete_prefix_length(std::string_view s);

/// `s` with each maximal ill-formed subsequence replaced by U+FFFD (as Rust's
/// String::from_utf8_lossy and the Unicode standard recommend).
std::string sanitize(std::string_view s);

/// True when every byte of `s` belongs to a well-formed UTF-8 sequence.
bool is_valid(std::string_view s);

}  // namespace ds::utf8
