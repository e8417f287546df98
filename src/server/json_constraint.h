// JSON mode: a byte-level state machine for one JSON object, used to mask the tokens whose
// bytes would make the output invalid (response_format {"type": "json_object"}).
#pragma once

#include <cstdint>
#include <string_view>

namespace ds::server {

/// The parse state of a growing JSON text whose top-level value must be an object.
/// Plain data (no heap): copying it to try a token is cheap.
class JsonState {
 public:
  /// Consumes `bytes`; returns false (state unspecified) at the first byte that cannot
  /// continue a valid JSON object.
  bool feed(std::string_view bytes);
  /// True once the top-level object is closed.
  bool done() const { return lex_ == Lex::kDone; }
  /// The fewest bytes that complete the document from here (0 when done()).
  int min_remaining() const;
  /// Nesting depth of open objects and arrays.
  int depth() const { return depth_; }

  /// Deepest nesting accepted.
  static constexpr int kMaxDepth = 32;
  /// Longest run of whitespace accepted between tokens (keeps a model from padding forever).
  static constexpr int kMaxWhitespaceRun = 4;

 private:
  enum class Lex : uint8_t {
    kStart,         // before the top-level '{'
    kObjFirst,      // after '{': key or '}'
    kObjKey,        // after ',' in an object: key
    kColon,         // after a key
    kValue,         // after ':' : any value
    kArrFirst,      // after '[': value or ']'
    kArrValue,      // after ',' in an array: value
    kAfterValue,    // ',' or the closing bracket
    kString,        // inside a string
    kEscape,        // after '\'
    kUnicode,       // inside \uXXXX (hex_left_ digits to go)
    kNumMinus,      // after '-'
    kNumZero,       // "0"
    kNumInt,        // [1-9][0-9]*
    kNumDot,        // after '.'
    kNumFrac,       // digits after '.'
    kNumExp,        // after 'e'
    kNumExpSign,    // after 'e+' / 'e-'
    kNumExpDigits,  // digits of the exponent
    kLiteral,       // inside true / false / null
    kDone,
  };
  bool feed_byte(unsigned char c);
  bool start_value(unsigned char c);
  bool push(bool object);
  bool close(bool object);
  bool whitespace(unsigned char c);

  Lex lex_ = Lex::kStart;
  uint8_t depth_ = 0;
  uint8_t ws_run_ = 0;
  uint8_t hex_left_ = 0;
  uint8_t utf8_left_ = 0;    // continuation bytes still expected inside a string
  uint8_t literal_ = 0;      // 0 true, 1 false, 2 null
  uint8_t literal_pos_ = 0;  // bytes of the literal consumed
  bool string_is_key_ = false;
  uint32_t stack_ = 0;  // bit i set: level i is an object (else an array)
};

}  // namespace ds::server
