#include "server/json_constraint.h"

namespace ds::server {

namespace {

constexpr const char* kLiterals[3] = {"true", "false", "null"};
constexpr uint8_t kLiteralLen[3] = {4, 5, 4};

bool is_ws(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}
bool is_hex(unsigned char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

}  // namespace

bool JsonState::feed(std::string_view bytes) {
  for (char ch : bytes)
    if (!feed_byte(static_cast<unsigned char>(ch))) return false;
  return true;
}

bool JsonState::whitespace(unsigned char c) {
  if (!is_ws(c) || ws_run_ >= kMaxWhitespaceRun) return false;
  ++ws_run_;
  return true;
}

bool JsonState::push(bool object) {
  if (depth_ >= kMaxDepth) return false;
  if (object)
    stack_ |= (1u << depth_);
  else
    stack_ &= ~(1u << depth_);
  ++depth_;
  lex_ = object ? Lex::kObjFirst : Lex::kArrFirst;
  return true;
}

bool JsonState::close(bool object) {
  if (depth_ == 0) return false;
  const bool top_is_object = (stack_ >> (depth_ - 1)) & 1u;
  if (top_is_object != object) return false;
  --depth_;
  lex_ = depth_ == 0 ? Lex::kDone : Lex::kAfterValue;
  return true;
}

bool JsonState::start_value(unsigned char c) {
  switch (c) {
    case '{':
      return push(true);
    case '[':
      return push(false);
    case '"':
      lex_ = Lex::kString;
      string_is_key_ = false;
      return true;
    case '-':
      lex_ = Lex::kNumMinus;
      return true;
    case '0':
      lex_ = Lex::kNumZero;
      return true;
    case 't':
    case 'f':
    case 'n':
      literal_ = c == 't' ? 0 : c == 'f' ? 1 : 2;
      literal_pos_ = 1;
      lex_ = Lex::kLiteral;
      return true;
    default:
      if (c >= '1' && c <= '9') {
        lex_ = Lex::kNumInt;
        return true;
      }
      return false;
  }
}

bool JsonState::feed_byte(unsigned char c) {
  if (!is_ws(c)) ws_run_ = 0;
  switch (lex_) {
    case Lex::kStart:
      if (c == '{') return push(true);
      return whitespace(c);
    case Lex::kObjFirst:
      if (c == '}') return close(true);
      [[fallthrough]];
    case Lex::kObjKey:
      if (c == '"') {
        lex_ = Lex::kString;
        string_is_key_ = true;
        return true;
      }
      return whitespace(c);
    case Lex::kColon:
      if (c == ':') {
        lex_ = Lex::kValue;
        return true;
      }
      return whitespace(c);
    case Lex::kArrFirst:
      if (c == ']') return close(false);
      [[fallthrough]];
    case Lex::kValue:
    case Lex::kArrValue:
      if (is_ws(c)) return whitespace(c);
      return start_value(c);
    case Lex::kAfterValue: {
      const bool in_object = (stack_ >> (depth_ - 1)) & 1u;
      if (c == ',') {
        lex_ = in_object ? Lex::kObjKey : Lex::kArrValue;
        return true;
      }
      if (c == '}' || c == ']') return close(c == '}');
      return whitespace(c);
    }
    case Lex::kString:
      if (utf8_left_ > 0) {
        if ((c & 0xC0) != 0x80) return false;
        --utf8_left_;
        return true;
      }
      if (c == '"') {
        lex_ = string_is_key_ ? Lex::kColon : Lex::kAfterValue;
        return true;
      }
      if (c == '\\') {
        lex_ = Lex::kEscape;
        return true;
      }
      if (c < 0x20) return false;  // control characters must be escaped
      if (c < 0x80) return true;
      if (c >= 0xC2 && c <= 0xDF)
        utf8_left_ = 1;
      else if (c >= 0xE0 && c <= 0xEF)
        utf8_left_ = 2;
      else if (c >= 0xF0 && c <= 0xF4)
        utf8_left_ = 3;
      else
        return false;
      return true;
    case Lex::kEscape:
      if (c == 'u') {
        lex_ = Lex::kUnicode;
        hex_left_ = 4;
        return true;
      }
      if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
          c == 't') {
        lex_ = Lex::kString;
        return true;
      }
      return false;
    case Lex::kUnicode:
      if (!is_hex(c)) return false;
      if (--hex_left_ == 0) lex_ = Lex::kString;
      return true;
    case Lex::kNumMinus:
      if (c == '0')
        lex_ = Lex::kNumZero;
      else if (is_digit(c))
        lex_ = Lex::kNumInt;
      else
        return false;
      return true;
    case Lex::kNumInt:
      if (is_digit(c)) return true;
      [[fallthrough]];
    case Lex::kNumZero:
      if (c == '.') {
        lex_ = Lex::kNumDot;
        return true;
      }
      if (c == 'e' || c == 'E') {
        lex_ = Lex::kNumExp;
        return true;
      }
      lex_ = Lex::kAfterValue;  // the number ended: this byte belongs to what follows
      return feed_byte(c);
    case Lex::kNumDot:
      if (!is_digit(c)) return false;
      lex_ = Lex::kNumFrac;
      return true;
    case Lex::kNumFrac:
      if (is_digit(c)) return true;
      if (c == 'e' || c == 'E') {
        lex_ = Lex::kNumExp;
        return true;
      }
      lex_ = Lex::kAfterValue;
      return feed_byte(c);
    case Lex::kNumExp:
      if (c == '+' || c == '-') {
        lex_ = Lex::kNumExpSign;
        return true;
      }
      [[fallthrough]];
    case Lex::kNumExpSign:
      if (!is_digit(c)) return false;
      lex_ = Lex::kNumExpDigits;
      return true;
    case Lex::kNumExpDigits:
      if (is_digit(c)) return true;
      lex_ = Lex::kAfterValue;
      return feed_byte(c);
    case Lex::kLiteral:
      if (c != static_cast<unsigned char>(kLiterals[literal_][literal_pos_])) return false;
      if (++literal_pos_ == kLiteralLen[literal_]) lex_ = Lex::kAfterValue;
      return true;
    case Lex::kDone:
      return false;
  }
  return false;
}

int JsonState::min_remaining() const {
  int extra = 0;
  switch (lex_) {
    case Lex::kStart:
      return 2;  // "{}"
    case Lex::kDone:
      return 0;
    case Lex::kObjFirst:
    case Lex::kArrFirst:
    case Lex::kAfterValue:
    case Lex::kNumZero:
    case Lex::kNumInt:
    case Lex::kNumFrac:
    case Lex::kNumExpDigits:
      extra = 0;
      break;
    case Lex::kObjKey:
      extra = 4;
      break;  // "":0
    case Lex::kColon:
      extra = 2;
      break;  // :0
    case Lex::kValue:
    case Lex::kArrValue:
    case Lex::kNumMinus:
    case Lex::kNumDot:
    case Lex::kNumExp:
    case Lex::kNumExpSign:
      extra = 1;
      break;
    case Lex::kString:
      extra = utf8_left_ + 1 + (string_is_key_ ? 2 : 0);
      break;
    case Lex::kEscape:
      extra = 2 + (string_is_key_ ? 2 : 0);
      break;
    case Lex::kUnicode:
      extra = hex_left_ + 1 + (string_is_key_ ? 2 : 0);
      break;
    case Lex::kLiteral:
      extra = kLiteralLen[literal_] - literal_pos_;
      break;
  }
  return extra + depth_;
}

}  // namespace ds::server
